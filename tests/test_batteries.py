"""The simulated toolchain and `simpulse build` on a real Lean library: Batteries (issue 24).

The tree is read from ``<repo>/../shared/real-projects/batteries`` (Apache-2.0; read-only) and
copied to a temporary directory before anything is built; the tests skip, saying why, when it
is absent. Everything the tests expect — which modules the library has, which import
`Batteries/Tactic/Alias.lean` transitively, which files Lake expects — is computed here from the
tree's own files, independently of the simulated lake's code.

Always run (about 40 s on two busy cores, at SIMPULSE_SIM_SCALE=0): the plain simulated `lake
build Batteries` (all modules, every artifact, a no-op second build, the Alias edit), `simpulse
build` of a few Batteries targets compared byte for byte with it, and the classification of
every file of the tree. Marked `slow`: the full `simpulse build Batteries` with the same checks
(another ~30 s).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import sim_env
from simpulse.simulated.toolchain import install

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT.parent / "shared" / "real-projects" / "batteries"
ALIAS = "Batteries.Tactic.Alias"
SUBSET = ["Batteries.Data.HashMap", "Batteries.Data.Int", "Batteries.Data.AssocList",
          "Batteries.Data.Nat.Lemmas"]

pytestmark = pytest.mark.skipif(
    not (TREE / "lakefile.toml").is_file(),
    reason=f"the Batteries tree is not at {TREE} (it is copied beside the repository as "
           "shared/real-projects/batteries)")



# ------------------------------------------------------------------------------------------
# the tree's own import graph (a reader of its own: comments, then `module`, `prelude` and the
# `[public] [meta] import [all] X` lines, up to the first other line)
# ------------------------------------------------------------------------------------------

_IMPORT = re.compile(r"^(?:public\s+)?(?:meta\s+)?import\s+(?:all\s+)?([\w.]+)\s*$")


def header_imports(text: str) -> list[str]:
    text = re.sub(r"/-.*?-/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)  # no nesting in Batteries headers
    out = []
    for line in text.splitlines():
        line = line.split("--", 1)[0].strip()
        if not line or line in ("module", "prelude"):
            continue
        m = _IMPORT.match(line)
        if not m:
            break
        out.append(m.group(1))
    return out


def module_of(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def library_graph() -> dict[str, list[str]]:
    """Module → the Batteries modules it imports, for every file of the `Batteries` library."""
    files = [TREE / "Batteries.lean", *sorted((TREE / "Batteries").rglob("*.lean"))]
    return {module_of(p, TREE): [i for i in header_imports(p.read_text(encoding="utf-8"))
                                 if i == "Batteries" or i.startswith("Batteries.")] for p in files}


def closure(graph: dict[str, list[str]], start: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        m = stack.pop()
        if m not in seen:
            seen.add(m)
            stack.extend(graph[m])
    return seen


def importers_of(graph: dict[str, list[str]], target: str) -> set[str]:
    """`target` and every module that imports it, transitively."""
    return {m for m in graph if target in closure(graph, [m])}


def expected_outputs(mod: str) -> list[str]:
    """What newest Lake expects from compiling a module file (contract §9b)."""
    p = mod.replace(".", "/")
    lib = f".lake/build/lib/lean/{p}"
    return [f"{lib}.olean", f"{lib}.olean.server", f"{lib}.olean.private", f"{lib}.ilean",
            f"{lib}.ir", f"{lib}.ir.sig", f".lake/build/ir/{p}.c"]


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, list[str]]:
    return library_graph()


@pytest.fixture(scope="module")
def sysroot(tmp_path_factory) -> Path:
    return install(tmp_path_factory.mktemp("sim") / "toolchain")


def copy_tree(dest: Path) -> Path:
    shutil.copytree(TREE, dest, ignore=shutil.ignore_patterns(".lake", ".simpulse", ".git"))
    return dest


def lake(sysroot: Path, ws: Path, *args: str):
    return subprocess.run([str(sysroot / "bin" / "lake"), *args], cwd=ws, capture_output=True,
                          text=True, env=sim_env(sysroot, ws.parent), timeout=600)


def simpulse(sysroot: Path, ws: Path, *args: str):
    return subprocess.run([sys.executable, "-m", "simpulse", *args], cwd=ws, capture_output=True,
                          text=True, env=sim_env(sysroot, ws.parent), timeout=600)


def built(stdout: str) -> set[str]:
    return set(re.findall(r"\] Built (\S+)", stdout))


def oleans(ws: Path) -> dict[str, bytes]:
    return {str(p.relative_to(ws)): p.read_bytes() for p in (ws / ".lake/build/lib/lean").rglob("*.olean")}


def edit_alias(ws: Path) -> None:
    p = ws / "Batteries/Tactic/Alias.lean"
    p.write_text(p.read_text(encoding="utf-8") + "\n-- edited by tests/test_batteries.py\n", encoding="utf-8")


@pytest.fixture(scope="module")
def plain(tmp_path_factory, sysroot, graph):
    """One plain simulated `lake build Batteries` on a copy of the tree: (workspace, stdout,
    the .olean bytes right after it)."""
    ws = copy_tree(tmp_path_factory.mktemp("plain") / "batteries")
    t0 = time.perf_counter()
    r = lake(sysroot, ws, "build", "Batteries")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f"\nplain simulated lake build Batteries: {time.perf_counter() - t0:.1f}s wall (scale 0)")
    return ws, r, oleans(ws)


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------


def test_the_tree_and_its_graph(graph):
    files = 1 + len(list((TREE / "Batteries").rglob("*.lean")))
    # every file of the library is reachable from its root `Batteries` (192 when this was written)
    assert len(graph) == files and closure(graph, ["Batteries"]) == set(graph)
    assert len(importers_of(graph, ALIAS)) > 1
    # the simulated toolchain's header reader agrees with this one on every file of the tree
    from simpulse.simulated.modsys import parse_header
    for p in TREE.rglob("*.lean"):
        text = p.read_text(encoding="utf-8")
        assert parse_header(text).modules == list(dict.fromkeys(header_imports(text))), p


def test_plain_lake_builds_batteries(plain, sysroot, graph):
    ws, r, _ = plain
    assert built(r.stdout) == set(graph)
    assert f"Build completed successfully ({len(graph)} jobs)." in r.stdout
    assert "note: testDriver 'BatteriesTest' is ignored" in r.stderr
    for mod in graph:
        for rel in expected_outputs(mod):
            assert (ws / rel).is_file(), rel
    # the second build compiles nothing
    r2 = lake(sysroot, ws, "build", "Batteries")
    assert r2.returncode == 0 and built(r2.stdout) == set()
    assert r2.stdout.count("] Replayed ") == len(graph)
    # `lake build` builds the default targets: the library and the `runLinter` executable
    r3 = lake(sysroot, ws, "build")
    assert r3.returncode == 0, r3.stdout[-2000:] + r3.stderr[-2000:]
    assert built(r3.stdout) == {"runLinter"}
    assert "note: lean_exe 'runLinter': its root module is compiled; linking is not simulated" in r3.stderr
    # editing Alias recompiles exactly the modules that import it, transitively
    edit_alias(ws)
    r4 = lake(sysroot, ws, "build", "Batteries")
    assert r4.returncode == 0
    assert built(r4.stdout) == importers_of(graph, ALIAS)


def test_simpulse_build_of_batteries_targets(plain, sysroot, graph, tmp_path):
    """`simpulse build` of a few targets: their closure, every artifact, the bytes of the plain
    build, nothing to do the second time, the Alias edit recompiling exactly its importers."""
    _, _, plain_oleans = plain
    ws = copy_tree(tmp_path / "batteries")
    r = simpulse(sysroot, ws, "build", *SUBSET)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    want = closure(graph, SUBSET)
    assert ALIAS in want and built(r.stdout) == want
    for mod in want:
        for rel in expected_outputs(mod):
            assert (ws / rel).is_file(), rel
    mine = oleans(ws)
    assert mine and all(mine[k] == plain_oleans[k] for k in mine)
    assert len(mine) == len(want)
    r = simpulse(sysroot, ws, "build", *SUBSET)
    assert r.returncode == 0 and built(r.stdout) == set()
    edit_alias(ws)
    r = simpulse(sysroot, ws, "build", *SUBSET)
    assert r.returncode == 0
    assert built(r.stdout) == importers_of(graph, ALIAS) & want


@pytest.mark.slow
def test_simpulse_build_batteries(plain, sysroot, graph, tmp_path):
    _, _, plain_oleans = plain
    ws = copy_tree(tmp_path / "batteries")
    t0 = time.perf_counter()
    r = simpulse(sysroot, ws, "build", "Batteries")
    print(f"\nsimpulse build Batteries: {time.perf_counter() - t0:.1f}s wall (scale 0)")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert built(r.stdout) == set(graph)
    assert f"simpulse: {len(graph)} compiles recorded" in r.stderr
    for mod in graph:
        for rel in expected_outputs(mod):
            assert (ws / rel).is_file(), rel
    # under the default profile the .olean bytes are those of the plain build
    assert oleans(ws) == plain_oleans
    r = simpulse(sysroot, ws, "build", "Batteries")
    assert r.returncode == 0 and built(r.stdout) == set()
    edit_alias(ws)
    r = simpulse(sysroot, ws, "build", "Batteries")
    assert r.returncode == 0
    assert built(r.stdout) == importers_of(graph, ALIAS)


def test_classify_the_whole_tree(tmp_path):
    """Every `.lean` file of the tree gets a context (`simpulse classify`'s own code path)."""
    from simpulse.commands.classify import ModuleFile
    from simpulse.context.classify import CONTEXTS, clear_cache
    ws = copy_tree(tmp_path / "batteries")
    files = sorted(ws.rglob("*.lean"))
    clear_cache()
    t0 = time.perf_counter()
    mods = [ModuleFile(f) for f in files]
    dt = time.perf_counter() - t0
    print(f"\nclassified {len(files)} files in {dt:.2f}s")
    assert len(mods) == len(files) > 200
    assert all(m.context in CONTEXTS for m in mods)
    by_module = {m.module for m in mods}
    assert "Batteries.Tactic.Alias" in by_module and "Batteries" in by_module
    # the CLI agrees, as JSON, on a sample
    r = subprocess.run([sys.executable, "-m", "simpulse", "classify", "--json",
                        *[str(f) for f in files[:20]]], cwd=ws, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [d["context"] for d in json.loads(r.stdout)] == [m.context for m in mods[:20]]


def test_the_build_benchmark_runs_on_the_batteries_tree(tmp_path):
    """scripts/bench_build.py --project: the real tree as a workload beside the generated ones
    (both sides build all 192 library modules; an edit round rebuilds the edited modules'
    dependents only)."""
    out = tmp_path / "out.json"
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_build.py"), "--project", str(TREE), "--target", "Batteries",
         "--clean", "1", "--edits", "1", "--edit-modules", "1", "--repeats", "1", "--scale", "0", "--sleep",
         "--progress", "never", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads(out.read_text())
    s1, s2 = res["summary"]
    assert s1["rebuilt"] == 192 and 1 <= s2["rebuilt"] < 192
    assert res["builds"][0]["simpulse"]["compiles"] == 192
    assert "the tree" in r.stdout and "SIMULATED" in r.stdout
