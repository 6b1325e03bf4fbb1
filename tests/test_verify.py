"""`simpulse verify` (issue 17 item 2), its stores (`invocations`, `verdicts`) and how `stats` and
`recommend` show its evidence — end to end on the simulated toolchain.

How the invocations get there: the shim will call `invocations.remember` on every compile. The
tests here that must not depend on that change run a plain simulated `lake build` with the
simulated lean's argv log (``SIMPULSE_SIM_ARGV_LOG``) and call `remember` with exactly what the
shim sees: Lake's argument list without the program name, the working directory, ``LEAN_PATH``,
the source path as Lake passed it (`remembered_build`).

One test runs on the simulated toolchain's own model (``linter.all=false`` removes linter
warnings, ``simprocs=false`` changes ``.olean`` bytes, the ``Meaning`` fixtures). The others use
a *wrapped* simulated lean
(`wrapped_toolchain`) whose behaviour the test controls, so verify's comparisons are tested
whatever the simulated model does.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import sys
from pathlib import Path

import pytest

from conftest import Project, scratch_project

SAFE = ("no-async", "single-thread", "threads-2")


# --------------------------------------------------------------------------- helpers

def remembered_build(project: Project, *targets: str, era: str = "middle", check: int | None = 0) -> dict[str, dict]:
    """A plain simulated `lake build`, then one `invocations.remember` per compile, with what the
    shim would pass. Returns the invocations by module."""
    from simpulse.lake.leanargs import parse
    from simpulse.shim.main import module_name
    from simpulse.store import invocations

    log = project.root.parent / f"argv-{era}.log"
    if log.exists():
        log.unlink()
    project.lake("build", *targets, env={"SIMPULSE_SIM_ARGV_LOG": str(log), "SIMPULSE_SIM_LAKE_ERA": era},
                 check=check)
    githash = project.run(str(project.sysroot / "bin" / "lean"), "--githash", check=0).stdout.strip()
    project.state.mkdir(mode=0o700, exist_ok=True)
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] != "compile":
            continue
        call = parse(rec["argv"])
        source = (Path(rec["cwd"]) / call.source).read_bytes()
        invocations.remember(project.state, module_name(call, {}), argv=rec["argv"], cwd=rec["cwd"],
                             lean_path=rec["LEAN_PATH"], source_path=call.source,
                             source_hash=hashlib.sha1(source).hexdigest(), toolchain=githash)
    return invocations.load_all(project.state)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def verify_json(project: Project, *args, env=None, code=None):
    p = project.simpulse("verify", *args, "--json", env=env)
    if code is not None:
        assert p.returncode == code, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return json.loads(p.stdout), p


def one_line_error(p, code=2):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


# A simulated lean wrapped by a script whose behaviour the test sets through the environment:
# FAKE_WARN=1: a compile without linter.all=false prints a linter warning (--json);
# FAKE_SIMPROCS_BYTES=1: a compile with simprocs=false that passes gets different .olean bytes;
# FAKE_ASYNC_BYTES=1: a compile with Elab.async=false that passes gets different .olean bytes;
# FAKE_NOISE=1: every compile appends random bytes to the .olean (a non-reproducible baseline);
# FAKE_MODULE_SYSTEM=1: a compile also writes X.olean.server, X.olean.private, X.ir, X.ir.sig;
# FAKE_SLOW=<text>: a compile whose arguments contain <text> takes 30 s more.
WRAPPER = r'''#!{python}
import os, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
argv = sys.argv[1:]
p = subprocess.run([os.path.join(here, "lean-real"), *argv], capture_output=True)
out, err, rc = p.stdout, p.stderr, p.returncode
olean = argv[argv.index("-o") + 1] if "-o" in argv else None
src = next((a for a in argv if a.endswith(".lean")), None)
if olean and os.environ.get("FAKE_SLOW") and os.environ["FAKE_SLOW"] in " ".join(argv):
    import time
    time.sleep(30)
if olean and rc == 0:
    text = " ".join(argv)
    if os.environ.get("FAKE_WARN") and "linter.all=false" not in text:
        import json
        out += (json.dumps({{"fileName": src, "pos": {{"line": 1, "column": 0}}, "endPos": None,
                             "severity": "warning", "caption": "", "data": "unused variable `x`"}}) + "\n").encode()
    if os.environ.get("FAKE_SIMPROCS_BYTES") and "simprocs=false" in text:
        with open(olean, "ab") as f:
            f.write(b"proof terms without simprocs\n")
    if os.environ.get("FAKE_ASYNC_BYTES") and "Elab.async=false" in text:
        with open(olean, "ab") as f:
            f.write(b"elaborated on one thread\n")
    if os.environ.get("FAKE_NOISE"):
        with open(olean, "ab") as f:
            f.write(os.urandom(8))
    if os.environ.get("FAKE_MODULE_SYSTEM"):
        stem = olean[:-len(".olean")]
        for path in (olean + ".server", olean + ".private", stem + ".ir", stem + ".ir.sig"):
            with open(path, "wb") as f:
                f.write(b"derived\n")
sys.stdout.buffer.write(out)
sys.stderr.buffer.write(err)
sys.exit(rc)
'''


@pytest.fixture(scope="session")
def wrapped_toolchain(tmp_path_factory) -> Path:
    from simpulse.simulated.toolchain import install
    root = install(tmp_path_factory.mktemp("wrapped") / "sysroot")
    os.replace(root / "bin" / "lean", root / "bin" / "lean-real")
    wrapper = root / "bin" / "lean"
    wrapper.write_text(WRAPPER.format(python=sys.executable))
    wrapper.chmod(0o755)
    return root


@pytest.fixture
def wproject(tmp_path, wrapped_toolchain) -> Project:
    return scratch_project(tmp_path, wrapped_toolchain)


# --------------------------------------------------------------------------- invocations store

def test_invocations_roundtrip_permissions_and_odd_names(tmp_path):
    from simpulse.store import invocations
    sdir = tmp_path / "state"
    with pytest.raises(FileNotFoundError):      # a state directory that is gone is not resurrected
        invocations.remember(sdir, "M", argv=[], cwd="/ws", lean_path=None, source_path="X.lean",
                             source_hash=None, toolchain="g")
    sdir.mkdir()
    names = ["Fixtures.Basic", "«weird name».X/Y", ".hidden", "A" * 300]
    for i, m in enumerate(names):
        invocations.remember(sdir, m, argv=["X.lean", "-o", f"o{i}.olean"], cwd="/ws", lean_path="/a:/b",
                             source_path="X.lean", source_hash=f"h{i}", toolchain="g")
    d = sdir / "invocations"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = sorted(d.iterdir())
    assert len(files) == len(names)
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert all("/" not in f.name and not f.name.startswith(".") and len(f.name) < 255 for f in files)
    allr = invocations.load_all(sdir)
    assert sorted(allr) == sorted(names)
    r = invocations.load(sdir, "«weird name».X/Y")
    assert r["argv"] == ["X.lean", "-o", "o1.olean"] and r["cwd"] == "/ws" and r["lean_path"] == "/a:/b"
    assert r["source_path"] == "X.lean" and r["source_hash"] == "h1" and r["toolchain"] == "g"
    # a later compile replaces the record
    invocations.remember(sdir, "Fixtures.Basic", argv=["Y.lean", "-o", "y.olean"], cwd="/ws2", lean_path=None,
                         source_path="Y.lean", source_hash="h9", toolchain="g")
    assert invocations.load(sdir, "Fixtures.Basic")["cwd"] == "/ws2"
    assert len(list(d.iterdir())) == len(names)        # no temporary file left behind
    # the same invocation again (a rebuild a dependency set off) leaves the file untouched;
    # any field that differs rewrites it
    path = invocations.remember(sdir, "Fixtures.Basic", argv=["Y.lean", "-o", "y.olean"], cwd="/ws2", lean_path=None,
                                source_path="Y.lean", source_hash="h9", toolchain="g")
    ino, first = os.stat(path).st_ino, invocations.load(sdir, "Fixtures.Basic")["time"]
    invocations.remember(sdir, "Fixtures.Basic", argv=["Y.lean", "-o", "y.olean"], cwd="/ws2", lean_path=None,
                         source_path="Y.lean", source_hash="h9", toolchain="g")
    assert os.stat(path).st_ino == ino and invocations.load(sdir, "Fixtures.Basic")["time"] == first
    invocations.remember(sdir, "Fixtures.Basic", argv=["Y.lean", "-o", "y.olean"], cwd="/ws2", lean_path=None,
                         source_path="Y.lean", source_hash="h10", toolchain="g")
    assert os.stat(path).st_ino != ino and invocations.load(sdir, "Fixtures.Basic")["source_hash"] == "h10"


def test_invocations_read_never_raises(tmp_path):
    from simpulse.store import invocations
    assert invocations.load_all(tmp_path / "missing") == {}
    assert invocations.load(tmp_path / "missing", "M") is None
    invocations.remember(tmp_path, "Good", argv=["G.lean", "-o", "g.olean"], cwd="/w", lean_path=None,
                         source_path="G.lean", source_hash=None, toolchain=None)
    (tmp_path / "invocations" / "Bad.json").write_text("{not json")
    (tmp_path / "invocations" / "Old.json").write_text(json.dumps({"version": 99, "module": "Old"}))
    assert list(invocations.load_all(tmp_path)) == ["Good"]
    assert invocations.load(tmp_path, "Bad") is None


# --------------------------------------------------------------------------- verdicts store

def test_verdicts_record_read_observed(tmp_path):
    from simpulse.store import verdicts
    assert verdicts.read(tmp_path) == {"version": 1, "evidence": {}}
    assert verdicts.read(tmp_path / "nope" / "deeper") == {"version": 1, "evidence": {}}
    verdicts.record(tmp_path, "tiny", "no-async", "A", "A.lean", [], "identical", "h", "g")
    verdicts.record(tmp_path, "tiny", "no-async", "B", "B.lean", [], "identical", "h", "g")
    verdicts.record(tmp_path, "tiny", "no-linters", "A", "A.lean", ["messages"], "1 gone", "h", "g")
    verdicts.record(tmp_path, "tiny", "no-linters", "B", "B.lean", ["outputs", "messages"], "x", "h2", "g")
    ev = verdicts.read(tmp_path)
    assert ev["evidence"]["tiny"]["no-async"] == {"identical": 2, "differs": []}
    assert verdicts.observed(ev, "tiny", "no-linters") == {"messages", "outputs"}
    assert verdicts.observed(ev, "tiny", "no-async") == set()
    assert verdicts.observed(ev, "other", "no-linters") == set()
    d = ev["evidence"]["tiny"]["no-linters"]["differs"][1]
    assert d["module"] == "B" and d["path"] == "B.lean" and d["what"] == ["messages", "outputs"]
    assert d["source_hash"] == "h2" and d["toolchain"] == "g" and d["time"] > 0 and d["detail"] == "x"
    # the same observation again replaces its entry rather than piling up
    verdicts.record(tmp_path, "tiny", "no-linters", "A", "A.lean", ["messages"], "again", "h", "g")
    differs = verdicts.read(tmp_path)["evidence"]["tiny"]["no-linters"]["differs"]
    assert [x["module"] for x in differs] == ["B", "A"] and differs[-1]["detail"] == "again"
    assert stat.S_IMODE((tmp_path / "verify.json").stat().st_mode) == 0o600
    with pytest.raises(ValueError):
        verdicts.record(tmp_path, "tiny", "no-linters", "A", "A.lean", ["speed"], "", "h", "g")


def test_verdicts_read_never_raises_on_garbage(tmp_path):
    from simpulse.store import verdicts
    for junk in ("", "{", "[]", '{"version": 2, "evidence": {}}', '{"version": 1, "evidence": []}',
                 '{"version": 1, "evidence": {"c": {"s": {"identical": "x", "differs": [1, {"what": "m"}]}}}}'):
        (tmp_path / "verify.json").write_text(junk)
        ev = verdicts.read(tmp_path)
        assert ev["version"] == 1 and isinstance(ev["evidence"], dict)
        assert verdicts.observed(ev, "c", "s") == set()
    assert verdicts.read(None)["evidence"] == {}
    (tmp_path / "verify.json").write_text("{")
    verdicts.record(tmp_path, "c", "s", "M", "M.lean", ["verdict"], "breaks", "h", "g")   # recovers
    assert verdicts.observed(verdicts.read(tmp_path), "c", "s") == {"verdict"}


def _record_many(args):
    sdir, k = args
    from simpulse.store import verdicts
    for i in range(10):
        verdicts.record(sdir, "ctx", "s", f"M{k}-{i}", None, ["messages"] if i % 2 else [], "", f"h{i}", "g")


def test_verdicts_concurrent_records_lose_nothing(tmp_path):
    from simpulse.store import verdicts
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_record_many, [(str(tmp_path), k) for k in range(4)])
    ev = verdicts.read(tmp_path)["evidence"]["ctx"]["s"]
    assert ev["identical"] == 20 and len(ev["differs"]) == 20


# --------------------------------------------------------------------------- redirection and comparison

def test_redirect_moves_every_output_and_copies_the_setup(tmp_path):
    from simpulse.errors import SimpulseError
    from simpulse.verify.redirect import redirect
    ws = tmp_path / "ws"
    (ws / "ir").mkdir(parents=True)
    setup = ws / "ir" / "M.setup.json"
    setup.write_text('{"name": "M", "options": {}}')
    scratch = str(tmp_path / "scratch")
    argv = ["-DmaxHeartbeats=5", "-D", "x=-o", "M.lean", "-R", "-o", "-o", "lib/M.olean", "--ilean=lib/M.ilean",
            "-clib/M.c", "--bc", "lib/M.bc", "--setup", "ir/M.setup.json", "--json"]
    r = redirect(argv, scratch, cwd=str(ws))
    assert r.argv[:6] == ["-DmaxHeartbeats=5", "-D", "x=-o", "M.lean", "-R", "-o"]
    assert r.outputs == {k: os.path.join(scratch, "out", k, n)
                         for k, n in (("o", "M.olean"), ("i", "M.ilean"), ("c", "M.c"), ("b", "M.bc"))}
    assert r.argv[6:] == ["-o", r.outputs["o"], "--ilean=" + r.outputs["i"], "-c" + r.outputs["c"],
                          "--bc", r.outputs["b"], "--setup", r.setup, "--json"]
    assert r.setup.startswith(scratch) and Path(r.setup).read_text() == setup.read_text()
    with pytest.raises(SimpulseError, match="no -o"):
        redirect(["M.lean", "--json"], scratch, cwd=str(ws))
    with pytest.raises(SimpulseError, match="setup file"):
        redirect(["M.lean", "-o", "x.olean", "--setup", "missing.json"], scratch, cwd=str(ws))


def test_messages_plain_json_multiline_and_stderr():
    from simpulse.verify.compare import Run, compare, parse_messages
    plain = b"M.lean:3:4: error: unsolved goals\n\xe2\x8a\xa2 False\nM.lean:9:0: warning: declaration uses 'sorry'\n"
    assert parse_messages(plain) == [("error", 3, 4, None, None, "unsolved goals\n⊢ False"),
                                     ("warning", 9, 0, None, None, "declaration uses 'sorry'")]
    js = (json.dumps({"fileName": "M.lean", "pos": {"line": 1, "column": 2}, "endPos": {"line": 1, "column": 5},
                      "severity": "warning", "data": "unused variable `x`"}) + "\nprofiler line\n").encode()
    assert parse_messages(js, b"oops\n") == [("warning", 1, 2, 1, 5, "unused variable `x`"),
                                             ("stdout", None, None, None, None, "profiler line"),
                                             ("stderr", None, None, None, None, "oops")]
    a = Run(0, js, b"", {"o/M.olean": "1"})
    assert compare(a, Run(0, js, b"", {"o/M.olean": "1"}))["what"] == []
    c = compare(a, Run(0, b"", b"", {"o/M.olean": "1"}))
    assert c["what"] == ["messages"] and "2 gone" in c["detail"] and "unused variable" in c["detail"]
    c = compare(a, Run(0, js, b"", {"o/M.olean": "2", "o/M.ir": "3"}))
    assert c["what"] == ["outputs"] and "M.olean" in c["detail"] and "M.ir" in c["detail"]
    c = compare(a, Run(1, plain, b"", {}))
    assert c["what"] == ["verdict"] and c["breaks"] and "unsolved goals" in c["detail"]
    c = compare(Run(1, plain, b"", {}), a)
    assert c["what"] == ["verdict"] and c["fixes"] and not c["breaks"]


# --------------------------------------------------------------------------- the command, end to end

def test_verify_all_on_the_fixtures(project, tmp_path):
    invs = remembered_build(project)
    assert len(invs) >= 16 and "Fixtures.Literals" in invs
    n = len(invs)
    lake_before = tree_digest(project.root / ".lake")
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    data, p = verify_json(project, "--all", env={"TMPDIR": str(scratch)})
    assert p.returncode == 1                          # no-simprocs breaks Fixtures.Literals
    from simpulse.strategy.catalogue import BUILTIN
    threads = [s.name for s in BUILTIN if s.name.startswith("threads-")]     # the -j N strategies
    assert data["strategies"] == ["no-linters", "no-async", "no-simprocs", "single-thread", "lean-fast", "simp-lean",
                                  *threads]
    mods = {m["module"]: m for m in data["modules"]}
    assert set(mods) == set(invs) and all(m["status"] == "verified" for m in mods.values())
    assert all(m["aa"]["identical"] and m["baseline"]["ok"] for m in mods.values())
    lit = {e["strategy"]: e for e in mods["Fixtures.Literals"]["strategies"]}
    assert lit["no-simprocs"]["breaks"] and lit["no-simprocs"]["what"] == ["verdict"]
    assert "simp made no progress" in lit["no-simprocs"]["detail"] or "unsolved goals" in lit["no-simprocs"]["detail"]
    for name in SAFE:
        assert all({e["strategy"]: e for e in m["strategies"]}[name]["status"] == "identical" for m in mods.values())
    assert data["summary"]["breaks"] >= 2 and data["summary"]["verified"] == n
    # a line of progress per module on stderr (not a terminal)
    assert p.stderr.count("simpulse verify: [") == n and f"[{n}/{n}]" in p.stderr
    # Lake's outputs untouched, scratch directories removed
    assert tree_digest(project.root / ".lake") == lake_before
    assert list(scratch.iterdir()) == []
    # evidence: per (context, strategy), breaks recorded as a verdict change
    from simpulse.store import verdicts
    ev = verdicts.read(project.state)
    ctx = mods["Fixtures.Literals"]["context"]
    assert "verdict" in verdicts.observed(ev, ctx, "no-simprocs")
    assert verdicts.observed(ev, ctx, "no-async") == set()
    counted = sum(e["identical"] + len(e["differs"]) for per in ev["evidence"].values() for e in per.values())
    assert counted == n * (6 + len(threads))


def test_verify_files_and_strategy_choice_exit_zero(project):
    remembered_build(project)
    p = project.simpulse("verify", "Fixtures/Basic.lean", str(project.root / "Fixtures" / "Tiny.lean"),
                         "--strategy", "no-async", "-s", "single-thread")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "Fixtures.Basic" in p.stdout and "Fixtures.Tiny" in p.stdout and "identical" in p.stdout
    assert "Fixtures.Lists" not in p.stdout
    data, _ = verify_json(project, "Fixtures/Basic.lean", "-s", "no-async", code=0)
    assert [m["module"] for m in data["modules"]] == ["Fixtures.Basic"]
    assert [e["strategy"] for e in data["modules"][0]["strategies"]] == ["no-async"]
    assert data["exit_code"] == 0 and data["summary"]["differs"] == 0


def test_verify_bad_input_is_one_line_exit_2(project, tmp_path):
    p = project.simpulse("verify", "--all", "--state-dir", str(tmp_path / "none"))
    assert "run `simpulse build` first" in one_line_error(p)
    project.state.mkdir()
    assert "run `simpulse build` first" in one_line_error(project.simpulse("verify", "--all"))
    remembered_build(project)
    assert "FILE" in one_line_error(project.simpulse("verify"))
    assert "not both" in one_line_error(project.simpulse("verify", "--all", "Fixtures/Basic.lean"))
    assert "no such file" in one_line_error(project.simpulse("verify", "Nope.lean"))
    (project.root / "Fixtures" / "New.lean").write_text("def x := 1\n")
    line = one_line_error(project.simpulse("verify", "Fixtures/New.lean"))
    assert "no remembered compilation" in line and "run `simpulse build` first" in line
    assert "unknown strategy" in one_line_error(project.simpulse("verify", "--all", "-s", "warp-speed"))
    assert "baseline" in one_line_error(project.simpulse("verify", "--all", "-s", "baseline"))


def test_verify_setup_era_never_edits_the_setup_file(project, tmp_path):
    invs = remembered_build(project, era="setup")
    setup = project.root / ".lake" / "build" / "ir" / "Fixtures" / "Literals.setup.json"
    assert "--setup" in invs["Fixtures.Literals"]["argv"] and setup.is_file()
    before = (setup.read_bytes(), setup.stat().st_mtime_ns)
    lake_before = tree_digest(project.root / ".lake")
    log = tmp_path / "verify-argv.log"
    data, p = verify_json(project, "Fixtures/Literals.lean", "-s", "no-simprocs", "-s", "no-async",
                          env={"SIMPULSE_SIM_ARGV_LOG": str(log)}, code=1)
    res = {e["strategy"]: e for e in data["modules"][0]["strategies"]}
    # the option reached lean through the setup copy (the setup file overrides -D): it breaks
    assert res["no-simprocs"]["breaks"] and res["no-async"]["status"] == "identical"
    assert (setup.read_bytes(), setup.stat().st_mtime_ns) == before
    assert tree_digest(project.root / ".lake") == lake_before
    compiles = [json.loads(x) for x in log.read_text().splitlines() if json.loads(x)["kind"] == "compile"]
    assert len(compiles) == 4                          # baseline, A/A, two strategies
    for c in compiles:
        argv = c["argv"]
        for flag in ("-o", "-i", "-c", "--setup"):
            assert ".lake" not in argv[argv.index(flag) + 1], argv
    # every run uses the same scratch paths
    assert len({tuple(a for a in c["argv"] if not a.startswith("-D")) for c in compiles}) == 1
    assert {c["cwd"] for c in compiles} == {str(project.root)}
    assert {c["LEAN_PATH"] for c in compiles} == {invs["Fixtures.Literals"]["lean_path"]}


def test_verify_reports_message_and_output_changes_and_stats_show_them(wproject):
    env = {"FAKE_WARN": "1", "FAKE_SIMPROCS_BYTES": "1"}
    wproject.env.update(env)
    remembered_build(wproject)
    data, p = verify_json(wproject, "Fixtures/Basic.lean", "Fixtures/Tiny.lean", code=1)
    for m in data["modules"]:
        res = {e["strategy"]: e for e in m["strategies"]}
        assert res["no-linters"]["what"] == ["messages"] and "unused variable" in res["no-linters"]["detail"]
        assert res["no-simprocs"]["what"] == ["outputs"] and "olean" in res["no-simprocs"]["detail"]
        assert res["simp-lean"]["what"] == ["messages", "outputs"]
        assert res["no-async"]["what"] == [] and res["single-thread"]["what"] == []
    ctx = data["modules"][0]["context"]
    text = wproject.simpulse("verify", "Fixtures/Basic.lean", "-s", "no-linters").stdout
    assert "changes messages" in text
    # stats and recommend show the evidence, in text and JSON
    stats = wproject.simpulse("stats", check=0).stdout
    assert f"no-linters changes messages in {ctx} (seen on Fixtures.Basic" in " ".join(stats.split())
    assert f"no-simprocs changes outputs in {ctx}" in " ".join(stats.split())
    sj = json.loads(wproject.simpulse("stats", "--json", check=0).stdout)["verify"]
    assert f"no-linters changes messages in {ctx} (seen on Fixtures.Basic, Fixtures.Tiny)" in sj["findings"]
    row = next(r for r in sj["strategies"] if r["context"] == ctx and r["strategy"] == "simp-lean")
    assert row["changes"] == ["messages", "outputs"] and row["seen_on"]["outputs"] == ["Fixtures.Basic", "Fixtures.Tiny"]
    rj = json.loads(wproject.simpulse("recommend", "Fixtures/Basic.lean", "--json", check=0).stdout)
    assert rj["context"].split(".")[0] == ctx and any(f.startswith("no-linters changes messages") for f in rj["verify"]["findings"])
    assert "verify: no-linters changes messages" in wproject.simpulse("recommend", "Fixtures/Basic.lean", check=0).stdout


def test_baseline_not_reproducible_records_nothing(wproject):
    remembered_build(wproject)
    data, p = verify_json(wproject, "Fixtures/Basic.lean", env={"FAKE_NOISE": "1"}, code=1)
    m = data["modules"][0]
    assert m["status"] == "baseline not reproducible" and m["strategies"] == [] and not m["recorded"]
    assert m["aa"]["what"] == ["outputs"] and "Basic.olean" in m["detail"]
    assert not (wproject.state / "verify.json").exists()
    p = wproject.simpulse("verify", "Fixtures/Basic.lean", env={"FAKE_NOISE": "1"})
    assert p.returncode == 1 and "baseline not reproducible" in p.stdout


def test_module_system_outputs_land_in_scratch(wproject):
    remembered_build(wproject)
    lake_before = tree_digest(wproject.root / ".lake")
    # --keep-scratch keeps the scratch directory: in the test's own temporary directory (TMPDIR),
    # not in /tmp, where one was left by every run of the suite
    data, _ = verify_json(wproject, "Fixtures/Basic.lean", "-s", "no-async", "--keep-scratch",
                          env={"FAKE_MODULE_SYSTEM": "1", "TMPDIR": str(wproject.root.parent)}, code=0)
    m = data["modules"][0]
    assert set(m["baseline"]["outputs"]) == {"o/Basic.olean", "o/Basic.olean.server", "o/Basic.olean.private",
                                             "o/Basic.ir", "o/Basic.ir.sig", "i/Basic.ilean", "c/Basic.c"}
    assert tree_digest(wproject.root / ".lake") == lake_before
    runs = sorted(p.name for p in (Path(m["scratch"]) / "runs").iterdir())
    assert runs == ["01-baseline", "02-baseline-aa", "03-no-async"]
    assert (Path(m["scratch"]) / "runs" / "03-no-async" / "o" / "Basic.ir.sig").is_file()
    assert Path(m["scratch"]).parent == wproject.root.parent


def test_stale_invocations_are_skipped_with_all(project):
    from simpulse.store import invocations
    invs = remembered_build(project)
    rec = invs["Fixtures.Basic"]
    invocations.remember(project.state, "Fixtures.Basic", argv=rec["argv"], cwd=rec["cwd"],
                         lean_path=rec["lean_path"], source_path=rec["source_path"],
                         source_hash=rec["source_hash"], toolchain="0" * 40)
    (project.root / "Fixtures" / "Comments.lean").unlink()
    data, _ = verify_json(project, "--all", "-s", "no-async", code=0)
    assert {s["module"] for s in data["skipped"]} == {"Fixtures.Basic", "Fixtures.Comments"}
    assert len(data["modules"]) == len(invs) - 2
    assert "toolchain" in one_line_error(project.simpulse("verify", "Fixtures/Basic.lean"))


# --------------------------------------------------------------------------- on the simulated model

def test_no_simprocs_changes_outputs_and_no_linters_messages(project):
    """On the fixtures: verify finds no-linters message-changing on the linted module and
    no-simprocs output-changing on a module it does not break."""
    invs = remembered_build(project, "Fixtures", "Meaning")
    assert any(m.endswith(".Linted") for m in invs)
    data, p = verify_json(project, "--all", "-s", "no-linters", "-s", "no-simprocs", code=1)
    mods = {m["module"]: {e["strategy"]: e for e in m["strategies"]} for m in data["modules"]
            if m["status"] == "verified"}
    linted = next(k for k in mods if k.endswith(".Linted"))
    assert mods[linted]["no-linters"]["what"] == ["messages"]
    assert any(e["no-simprocs"]["what"] == ["outputs"] for e in mods.values())
    core = next(k for k in mods if k.endswith(".CoreSimproc"))
    assert mods[core]["no-simprocs"]["breaks"]
    guard = next(k for k in mods if k.endswith(".GuardMsgs"))
    assert mods[guard]["no-linters"]["breaks"]
    stats = " ".join(project.simpulse("stats", check=0).stdout.split())
    assert f"(seen on {linted}" in stats and "no-simprocs changes outputs" in stats


# --------------------------------------------------------------------------- after a real `simpulse build`

@pytest.mark.parametrize("era", ["middle", "setup"])
def test_verify_after_simpulse_build(project, era):
    """The shim remembers every compile it runs; verify replays them (Lake's own arguments, never
    the strategy's) and finds what the strategies change."""
    from simpulse.store import invocations
    p = project.simpulse("build", "--seed", "3", env={"SIMPULSE_SIM_LAKE_ERA": era}, check=0)
    built = set(project.built(p.stdout))
    invs = invocations.load_all(project.state)
    assert set(invs) == built and len(built) >= 16
    for rec in invs.values():
        assert os.path.isfile(os.path.join(rec["cwd"], rec["source_path"]))
        assert not any(a.startswith("-Dweak.") for a in rec["argv"]), rec["argv"]   # Lake's arguments
        assert ("--setup" in rec["argv"]) == (era == "setup")
    lake_before = tree_digest(project.root / ".lake")
    data, _ = verify_json(project, "--all", "-s", "no-async", "-s", "single-thread", "-s", "no-simprocs", code=1)
    assert data["summary"]["verified"] == len(built) and data["summary"]["not_reproducible"] == 0
    lit = {e["strategy"]: e for e in next(m for m in data["modules"] if m["module"] == "Fixtures.Literals")["strategies"]}
    assert lit["no-simprocs"]["breaks"] and lit["no-async"]["status"] == lit["single-thread"]["status"] == "identical"
    assert tree_digest(project.root / ".lake") == lake_before
    # the next build replays everything: verify changed nothing Lake looks at
    p = project.simpulse("build", env={"SIMPULSE_SIM_LAKE_ERA": era}, check=0)
    assert project.built(p.stdout) == []


def test_a_module_the_baseline_fails_on(project):
    """A module that does not compile is verified too: a strategy that fails the same way is
    identical; the baseline's failure is reported."""
    invs = remembered_build(project, "Fixtures", "Broken", check=None)
    assert "Broken" in invs
    data, _ = verify_json(project, "Broken.lean", "-s", "no-async", "-s", "no-linters", code=0)
    m = data["modules"][0]
    assert m["status"] == "verified" and not m["baseline"]["ok"] and m["baseline"]["outputs"] == []
    assert m["detail"].startswith("baseline fails") and "'decide' proved" in m["detail"]
    assert [e["status"] for e in m["strategies"]] == ["identical", "identical"]
    text = project.simpulse("verify", "Broken.lean", "-s", "no-async").stdout
    assert "baseline fails" in " ".join(text.split())


def test_timeout_makes_an_error_never_a_difference(wproject):
    remembered_build(wproject)
    data, p = verify_json(wproject, "Fixtures/Basic.lean", "-s", "no-async", "-s", "single-thread",
                          "--timeout", "3", env={"FAKE_SLOW": "Elab.async=false"}, code=1)
    res = {e["strategy"]: e for e in data["modules"][0]["strategies"]}
    assert res["no-async"]["status"] == "error" and "--timeout" in res["no-async"]["detail"]
    assert res["no-async"]["what"] == [] and res["single-thread"]["status"] == "identical"
    from simpulse.store import verdicts
    ev = verdicts.read(wproject.state)["evidence"]
    assert all("no-async" not in per for per in ev.values())        # nothing recorded for it
    assert "positive" in one_line_error(wproject.simpulse("verify", "--all", "--timeout", "0"))


def test_what_verify_saw_takes_a_strategy_out_of_later_builds(wproject, tmp_path):
    """A Lean on which `Elab.async=false` changes the .olean bytes: declared time-only, no-async
    runs under `safe` until `verify` sees the difference; from then on no build runs it in the
    contexts where it was seen (not even when forced), and the outputs are plain lake's."""
    env = {"FAKE_ASYNC_BYTES": "1"}
    plain = wproject.copy(tmp_path / "plain")
    wproject.simpulse("build", "--strategy", "single-thread", env=env, check=0)
    data, _ = verify_json(wproject, "--all", "--strategy", "no-async", env=env, code=1)
    seen = {m["context"] for m in data["modules"]
            if any(s["strategy"] == "no-async" and "outputs" in s["what"] for s in m["strategies"])}
    assert seen
    n = len(wproject.events())
    for i in range(3):
        for p in (wproject, plain):
            with open(p.root / "Fixtures" / "Basic.lean", "a") as f:
                f.write(f"\n-- edit {i}\n")
        args = ("--strategy", "no-async") if i == 0 else ("--seed", str(i))
        got = wproject.simpulse("build", *args, env=env)
        ref = plain.lake("build", env=env)
        assert got.returncode == ref.returncode == 0
        assert wproject.outputs() == plain.outputs()
    later = wproject.events()[n:]
    assert len(later) == 48
    # (a module's context, or the part of it it compiled in: model/parts.py)
    assert not [e for e in later if e["strategy"] == "no-async" and e["context"].split(".")[0] in seen]
    s = wproject.simpulse("stats", check=0)
    assert "no-async changes outputs" in s.stdout.replace("\n", " ")
    rows = {r["name"]: r for r in json.loads(wproject.simpulse("strategies", "--json", check=0).stdout)}
    assert {f["context"] for f in rows["no-async"]["verify"]} == seen
    assert all(f["changes"] == ["outputs"] and f["seen_on"]["outputs"] for f in rows["no-async"]["verify"])
    assert rows["single-thread"]["verify"] == []
    text = wproject.simpulse("strategies", check=0).stdout.replace("\n", " ")
    assert "verify: no-async changes outputs in" in text
