"""scripts/bench_build.py and the project generator behind it (simpulse/simulated/genproject.py):
projects shaped like real ones that the simulated toolchain builds, and a benchmark whose bare
run changes no tracked file."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script

from simpulse.simulated import costmodel as cm
from simpulse.simulated import genproject as gp

ROOT = Path(__file__).resolve().parent.parent


def _load_bench():
    return load_script("bench_build")


def _levels_ok(proj: gp.Project) -> None:
    for m in proj.modules.values():
        for i in m.imports:
            assert proj.modules[i].level < m.level       # a DAG, by levels


@pytest.mark.parametrize("n", [12, 60, 260])
def test_generated_graph_is_shaped_like_the_real_ones(n):
    proj = gp.make_graph(n, seed=3)
    assert len(proj.modules) == n
    _levels_ok(proj)
    d = gp.describe(proj)
    non_root = [m for m in proj.modules.values() if m.name != proj.root]
    roots = [m for m in non_root if not m.imports]
    assert abs(len(roots) - gp.ROOT_SHARE * (n - 1)) <= 1
    # every level below the aggregator is reached by a chain: the longest chain is the depth
    assert d["longest_chain"] == max(2, round(gp.DEPTH_PER_SQRT * math.sqrt(n - 1))) + 1
    # the aggregator imports exactly the modules nobody else imports, so it builds them all
    imported = {i for m in non_root for i in m.imports}
    assert set(proj.modules[proj.root].imports) == {m.name for m in non_root} - imported
    # most modules import one local module, a few many (imports ≤ 7 below the aggregator)
    one = sum(1 for m in non_root if len(m.imports) == 1)
    assert one >= 0.4 * (len(non_root) - len(roots))
    assert max(len(m.imports) for m in non_root) <= 7
    assert all(gp.MIN_LINES <= m.lines <= gp.MAX_LINES for m in non_root)
    assert gp.make_graph(n, seed=3).modules.keys() == proj.modules.keys()  # deterministic


def test_generated_sources_are_read_by_the_cost_model():
    proj = gp.make_graph(40, seed=1)
    flavours = set()
    for m in proj.modules.values():
        if m.name == proj.root:
            continue
        info = cm.analyze(gp.module_source(m, 1))
        assert info.imports == m.imports
        assert info.features["decls"] >= 1
        assert info.features["simp_literal"] == 0          # nothing simprocs=false would break
        flavours.add(m.flavour)
    assert len(flavours) >= 3
    m = next(m for m in proj.modules.values() if m.name != proj.root)
    before = cm.analyze(gp.module_source(m, 1)).features["decls"]
    assert cm.analyze(gp.module_source(m, 1, extra=2)).features["decls"] == before + 2


def test_ratio_interval():
    bench = _load_bench()
    g, lo, hi = bench.ratio_ci([0.9, 0.9, 0.9])
    assert g == pytest.approx(0.9) and lo == pytest.approx(0.9) and hi == pytest.approx(0.9)
    g, lo, hi = bench.ratio_ci([0.8, 1.0])
    assert lo < g < hi and g == pytest.approx(math.sqrt(0.8))
    assert bench.ratio_ci([1.1])[1] is None


def _tracked_state() -> str:
    r = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                       capture_output=True, text=True)
    h = hashlib.sha256()
    h.update(r.stdout.encode())
    for p in ("docs/benchmarks.md", "docs/screenshots.md"):
        f = ROOT / p
        h.update(f.read_bytes() if f.exists() else b"-")
    return h.hexdigest()


def test_a_bare_run_measures_both_sides_and_changes_no_tracked_file(tmp_path):
    before = _tracked_state()
    out = tmp_path / "out.json"
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_build.py"), "--modules", "8", "--clean", "1",
         "--edits", "1", "--edit-modules", "1", "--repeats", "1", "--scale", "0.02", "--sleep",
         "--progress", "always", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _tracked_state() == before
    assert "SIMULATED" in r.stdout and "| build |" in r.stdout and "8 modules (seed 0: " in r.stdout
    assert "builds" in r.stderr and "2/4" in r.stderr                 # the progress bar
    res = json.loads(out.read_text())
    assert res["simulated"] is True and res["physical"] is False
    s1, s2 = res["summary"]
    assert (s1["kind"], s2["kind"]) == ("clean", "edit")
    assert s1["rebuilt"] == 8 and 1 <= s2["rebuilt"] < 8             # an edit rebuilds its dependents only
    for s in (s1, s2):
        assert s["ratio"] > 0 and s["plain_cpu"] > 0 and s["simpulse_cpu"] > 0
        assert 0 <= s["shim_share"] < 1
    b = res["builds"][0]
    assert b["simpulse"]["compiles"] == 8 and sum(b["simpulse"]["strategies"].values()) == 8
    assert b["ratio"] == pytest.approx(b["simpulse"]["wall"] / b["plain"]["wall"])


def test_write_docs_writes_only_its_own_section(tmp_path, monkeypatch):
    bench = _load_bench()
    sys.path.insert(0, str(ROOT / "scripts"))
    import _benchdoc
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n")
    monkeypatch.setattr(_benchdoc, "DOC", doc)
    out = tmp_path / "run.json"
    assert bench.main(["--modules", "5", "--clean", "1", "--edits", "0", "--repeats", "1",
                       "--scale", "0.02", "--sleep", "--progress", "never", "--write-docs", "--json", str(out)]) == 0
    text = doc.read_text()
    # a first build alone: a section of its own, per project size and scale (not the 200-module one's)
    assert "keep me" in text and "<!-- bench_build_first_5_x0.02:start -->" in text
    assert "<!-- bench_build_first:start -->" not in text
    assert "Command: `python scripts/bench_build.py --modules 5" in text and "SIMULATED" in text
    # rendered again from its JSON, the section keeps when it was measured
    res = json.loads(out.read_text())
    res["measured"] = "2000-01-02 03:04 UTC"
    out.write_text(json.dumps(res))
    assert bench.main(["--render", str(out), "--write-docs"]) == 0
    text = doc.read_text()
    assert text.count("<!-- bench_build_first_5_x0.02:start -->") == 1 and "_Measured 2000-01-02 03:04 UTC._" in text


def test_genproject_writes_a_project_the_simulated_lake_builds(tmp_path):
    assert gp.main([str(tmp_path / "p"), "--modules", "6", "--seed", "2"]) == 0
    from simpulse.simulated.toolchain import install
    import os
    sysroot = install(tmp_path / "tc")
    env = dict(os.environ, SIMPULSE_SIM_SCALE="0.01")
    for k in ("LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "LEAN"):
        env.pop(k, None)
    r = subprocess.run([str(sysroot / "bin" / "lake"), "build"], cwd=tmp_path / "p", env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Build completed successfully (6 jobs)." in r.stdout
    assert "warning" not in r.stdout and "error" not in r.stdout


def test_objectives_run_a_simpulse_side_each_and_compare_them(tmp_path):
    """`--objectives build,module`: three sides interleaved, each simpulse side learning under its
    objective (its events say which, with the compiles running beside each and the cores), and
    the table of the two objectives' ratio; no live-compile marker is left behind."""
    import shutil
    out = tmp_path / "out.json"
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_build.py"), "--modules", "8", "--clean", "2",
         "--edits", "0", "--repeats", "2", "--scale", "0.02", "--sleep", "--progress", "never",
         "--objectives", "build,module", "--keep", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    kept = Path(r.stderr.split("kept ", 1)[1].split()[0])
    try:
        res = json.loads(out.read_text())
        assert res["objectives"] == {"simpulse": "build", "simpulse-module": "module"}
        between = res["between"]["simpulse-module"]
        assert [b["build"] for b in between] == [1, 2] and all(b["ci_low"] <= b["ratio"] <= b["ci_high"] for b in between)
        assert "objective build against simpulse with objective module" in r.stdout
        assert "8 modules (seeds 0–1, one project per repeat; the first, seed 0: " in r.stdout
        orders = {tuple(b["order"]) for b in res["builds"]}
        assert len(orders) > 1 and all(len(o) == 3 for o in orders)       # rotated
        from simpulse.store.store import Store
        for side, objective in res["objectives"].items():
            state = kept / "r0" / side / ".simpulse"
            evs = [e for e in Store(state, create=False).iter_events() if e.get("kind") == "compile"]
            assert len(evs) == 16 and {e["objective"] for e in evs} == {objective}
            assert all(e["conc"] >= 1 and e["cores"] >= 1 and e["cpu"] > 0 for e in evs)
            assert list((state / "running").iterdir()) == []
    finally:
        shutil.rmtree(kept, ignore_errors=True)


def test_objectives_are_checked():
    bench = _load_bench()
    for bad in ("wall", "build,build", ""):
        with pytest.raises(SystemExit):
            bench.main(["--objectives", bad, "--sleep"])


def test_fixed_sides_run_plain_lake_with_the_strategy_on_every_compile(tmp_path):
    """`--fixed no-async,baseline`: plain `lake build` through an sh wrapper that adds the
    strategy's arguments to every module compile (and to nothing else), no simpulse; the table
    puts each side's ratio to plain lake beside simpulse's."""
    import os
    argv_log = tmp_path / "argv.jsonl"
    out = tmp_path / "out.json"
    env = dict(os.environ, SIMPULSE_SIM_ARGV_LOG=str(argv_log))
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_build.py"), "--modules", "6", "--clean", "1",
         "--edits", "1", "--edit-modules", "1", "--repeats", "2", "--scale", "0.02", "--sleep",
         "--progress", "never", "--fixed", "no-async,baseline", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert [s["build"] for s in res["fixed"]] == [1, 2]
    for s in res["fixed"]:
        assert set(s["sides"]) == {"simpulse", "fixed-no-async", "fixed-baseline"}
        for v in s["sides"].values():
            assert v["ci_low"] <= v["ratio"] <= v["ci_high"] and v["wall"] > 0
    b = res["builds"][0]
    assert b["ratio_fixed-no-async"] == pytest.approx(b["fixed-no-async"]["wall"] / b["plain"]["wall"])
    assert b["fixed-no-async"]["rebuilt"] == b["plain"]["rebuilt"] == 6
    assert "fixed-no-async: ratio (95 % CI), CPU ratio" in r.stdout
    calls = [json.loads(line) for line in argv_log.read_text().splitlines()]
    compiles = [c for c in calls if c["kind"] == "compile"]
    by_side: dict[str, list[list[str]]] = {}
    for c in compiles:
        by_side.setdefault(Path(c["cwd"]).name, []).append(c["argv"])
    # 2 repeats × (6 + the edited module and its dependents) compiles a side; the option on every
    # compile of the no-async side, on none of plain's nor the wrapper-alone side's
    assert len(by_side["fixed-no-async"]) == len(by_side["plain"]) == len(by_side["fixed-baseline"]) >= 14
    assert all("-Dweak.Elab.async=false" in a for a in by_side["fixed-no-async"])
    assert not any("-Dweak.Elab.async=false" in a for a in by_side["plain"] + by_side["fixed-baseline"])
    assert not any("-Dweak.Elab.async=false" in c["argv"] for c in calls if c["kind"] != "compile")


def test_fixed_takes_only_strategies_a_safe_build_may_run():
    bench = _load_bench()
    for bad in ("no-linters", "no-simprocs", "nope", "no-async,no-async"):
        with pytest.raises(SystemExit):
            bench.main(["--fixed", bad, "--sleep"])


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_path_toolchain_runs_the_lake_on_path_on_a_copy_with_shared_dependencies(tmp_path):
    """`--toolchain path`: the `lake` first on PATH (here simpulse's simulated one, put there by
    hand, so the figures must still say SIMULATED), on a copy of the user's project whose
    dependencies are copied once and shared; an untimed warm-up build first; the user's tree
    untouched."""
    import shutil
    sys.path.insert(0, str(ROOT / "scripts"))
    from _simproject import simulated_env
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "lean_fixtures", proj, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    (proj / ".lake" / "packages" / "dep").mkdir(parents=True)
    (proj / ".lake" / "packages" / "dep" / "built.olean").write_text("a dependency's output")
    before = _tree_digest(proj)
    sysroot, env = simulated_env(tmp_path / "tc", SIMPULSE_SIM_SCALE="0.02")
    argv_log = tmp_path / "argv.jsonl"
    env["SIMPULSE_SIM_ARGV_LOG"] = str(argv_log)
    # a `lake` first on PATH that notes where and how it was run
    spy = tmp_path / "spy"
    spy.mkdir()
    lake_log = tmp_path / "lake.log"
    (spy / "lake").write_text(f'#!/bin/sh\necho "$PWD $*" >> {lake_log}\nexec {sysroot / "bin" / "lake"} "$@"\n')
    (spy / "lake").chmod(0o755)
    env["PATH"] = f"{spy}:{env['PATH']}"
    env["TMPDIR"] = str(tmp_path)          # the benchmark's scratch (kept, --keep) under the test's own
    out = tmp_path / "out.json"
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_build.py"), "--toolchain", "path", "--project", str(proj),
         "--target", "Fixtures", "--clean", "1", "--edits", "1", "--edit-modules", "1", "--repeats", "2",
         "--progress", "never", "--keep", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    kept = r.stderr.split("kept ")
    scratch = Path(kept[1].split()[0]) if len(kept) > 1 else None
    try:
        assert r.returncode == 0 and scratch is not None, r.stdout + r.stderr
        assert _tree_digest(proj) == before                          # the user's tree: never built in
        res = json.loads(out.read_text())
        assert res["simulated"] is True and res["toolchain"]["lean"] == str(sysroot / "bin" / "lean")
        assert res["toolchain"]["lake"] == str(spy / "lake")
        assert "found simpulse's simulated toolchain first on PATH" in r.stdout and "(SIMULATED)" in r.stdout
        s1, s2 = res["summary"]
        assert s1["rebuilt"] == 16 and 1 <= s2["rebuilt"] < 16
        # the dependencies: one copy for the run, linked from every side, still there after the
        # clean builds (only a side's own .lake/build is removed)
        assert (scratch / "packages" / "dep" / "built.olean").read_text() == "a dependency's output"
        for side in ("plain", "simpulse"):
            link = scratch / "r1" / side / ".lake" / "packages"
            assert link.is_symlink() and link.resolve() == (scratch / "packages").resolve()
        # the untimed warm-up: plain lake built every module once more, in the first repeat only
        calls = [json.loads(line) for line in argv_log.read_text().splitlines()]
        compiles: dict[str, int] = {}
        for c in calls:
            if c["kind"] == "compile" and Path(c["cwd"]).is_relative_to(scratch):   # (not doctor's checks)
                key = str(Path(c["cwd"]).relative_to(scratch).parts[:2])
                compiles[key] = compiles.get(key, 0) + 1
        # every copy loaded its workspace, untimed, before its first build
        runs = [line.split(" ", 1) for line in lake_log.read_text().splitlines()]
        for rep in ("r0", "r1"):
            for side in ("plain", "simpulse"):
                mine = [a for d, a in runs if d == str(scratch / rep / side)]
                assert mine and mine[0 if rep == "r1" or side == "simpulse" else 1] == "env true", mine
        plain0, simp0 = compiles[str(("r0", "plain"))], compiles[str(("r0", "simpulse"))]
        assert plain0 - simp0 == 16
        assert compiles[str(("r1", "plain"))] == compiles[str(("r1", "simpulse"))]
    finally:
        if scratch is not None:            # kept for the checks above (--keep): never left behind
            shutil.rmtree(scratch, ignore_errors=True)


def test_path_toolchain_environment_compiles_every_build_and_points_nowhere_else(tmp_path, monkeypatch):
    """A clean build must compile: Lake's artifact cache (newer Lake) is off and its directory
    in the scratch; nothing of the caller's points Lake or simpulse elsewhere."""
    bench = _load_bench()
    for var, value in (("SIMPULSE_STATE_DIR", "/elsewhere"), ("LEAN_SYSROOT", "/opt/x"), ("LAKE_OVERRIDE_LEAN", "1"),
                       ("SIMPULSE_PROFILE", "aggressive"), ("LAKE_ARTIFACT_CACHE", "true"), ("ELAN_HOME", "/e")):
        monkeypatch.setenv(var, value)
    env = bench.path_env(tmp_path, SIMPULSE_SIM_SEED="s")
    assert env["LAKE_ARTIFACT_CACHE"] == "false" and Path(env["LAKE_CACHE_DIR"]).parent == tmp_path
    assert Path(env["XDG_CACHE_HOME"]).parent == tmp_path and env["SIMPULSE_SIM_SEED"] == "s"
    assert not {"SIMPULSE_STATE_DIR", "LEAN_SYSROOT", "LAKE_OVERRIDE_LEAN", "SIMPULSE_PROFILE"} & set(env)
    assert env["ELAN_HOME"] == "/e"                   # elan picks the project's toolchain as usual


def test_path_toolchain_wants_the_dependencies_fetched_first(tmp_path):
    """A project whose manifest lists packages that are not in .lake/packages: each side would
    fetch them in its first, timed, build — refused with what to run."""
    bench = _load_bench()
    (tmp_path / "lake-manifest.json").write_text(json.dumps({"version": "1.1.0", "packages": [{"name": "batteries"}]}))
    with pytest.raises(SystemExit) as e:
        bench.prepare_packages(tmp_path, tmp_path / "scratch", "copy")
    assert "run `lake build`" in str(e.value)
    (tmp_path / "lake-manifest.json").write_text(json.dumps({"version": "1.1.0", "packages": []}))
    assert bench.prepare_packages(tmp_path, tmp_path / "scratch", "copy") is None
    (tmp_path / ".lake" / "packages" / "batteries").mkdir(parents=True)
    assert bench.prepare_packages(tmp_path, tmp_path / "scratch", "link") == (tmp_path / ".lake" / "packages").resolve()
    assert bench.prepare_packages(tmp_path, tmp_path / "scratch", "copy") == tmp_path / "scratch" / "packages"
    assert (tmp_path / "scratch" / "packages" / "batteries").is_dir()


def test_path_toolchain_needs_a_project_a_lake_and_a_target(tmp_path, monkeypatch, capsys):
    bench = _load_bench()
    with pytest.raises(SystemExit) as e:
        bench.main(["--toolchain", "path"])
    assert e.value.code == 2
    (tmp_path / "lakefile.toml").write_text('name = "p"\n')
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as e:
        bench.main(["--toolchain", "path", "--project", str(tmp_path), "--target", "P"])
    assert e.value.code == 2
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lake").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "lake").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(SystemExit) as e:            # the library to build and edit: never guessed
        bench.main(["--toolchain", "path", "--project", str(tmp_path)])
    assert e.value.code == 2 and "needs --target" in capsys.readouterr().err


def test_a_real_toolchains_figures_are_never_labelled_simulated_nor_written_over_the_models(tmp_path, monkeypatch, capsys):
    """The labels follow the toolchain: a run on a real one (rendered here from a simulated run's
    JSON with its toolchain marked real) says MEASURED, never SIMULATED, and --write-docs puts it
    in a section of its own."""
    bench = _load_bench()
    sys.path.insert(0, str(ROOT / "scripts"))
    import _benchdoc
    out = tmp_path / "run.json"
    assert bench.main(["--modules", "5", "--clean", "1", "--edits", "0", "--repeats", "2", "--scale", "0.02",
                       "--sleep", "--progress", "never", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    res.update(simulated=False, physical=False,
               toolchain={"lake": "/opt/lean/bin/lake", "lean": "/opt/lean/bin/lean", "githash": "abc",
                          "version": "Lean (version 4.20.0)", "simulated": False})
    res["verdict"] = bench.verdict(res["summary"], label=bench._label(False))
    out.write_text(json.dumps(res))
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n<!-- bench_build:start -->\nthe model's\n<!-- bench_build:end -->\n")
    monkeypatch.setattr(_benchdoc, "DOC", doc)
    capsys.readouterr()
    assert bench.main(["--render", str(out), "--write-docs"]) == 0
    printed = capsys.readouterr().out
    assert "MEASURED on a real toolchain — Lean (version 4.20.0)" in printed
    assert "SIMULATED" not in printed and "(measured on a real toolchain)" in printed
    text = doc.read_text()
    assert "the model's" in text and "<!-- bench_build_real:start -->" in text
    assert "SIMULATED" not in text.split("<!-- bench_build_real:start -->")[1]
