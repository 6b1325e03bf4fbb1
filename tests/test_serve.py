"""Decisions served by `simpulse build` (config `serve`, on by default): `simpulse.lake.serve`
keeps the statistics in memory and decides for the shims (`simpulse.shim.served`); a shim that
gets no answer decides for itself; what is learned is recorded as the shim would record it."""

from __future__ import annotations

import json
import os

import pytest

from simpulse.lake import serve
from simpulse.lake.serve import DecisionServer
from simpulse.shim import served
from simpulse.shim.main import catalogue_for
from simpulse.store.store import Store

SOURCE = b"theorem t (xs : List Nat) : xs ++ [] = xs := by simp\n" * 8


def _cfg(sdir):
    return {"state_dir": str(sdir), "workspace": str(sdir.parent), "mode": "auto", "policy": "thompson",
            "toolchain": "tc-serve", "simulated": True, "fsync": False, "enabled": None, "profile": "safe",
            "build_id": "b1", "seed": 1}


def _request(tmp_path, i):
    src = tmp_path / f"M{i}.lean"
    src.write_bytes(SOURCE + b"-- %d\n" % i)
    return {"module": f"Proj.M{i}", "source_path": str(src), "path": f"M{i}.lean", "strict": False, "excluded": {}}


def test_a_served_decision_is_recorded_and_folded(tmp_path):
    sdir = tmp_path / "state"
    Store(sdir)                                            # what `simpulse build` made
    cfg = _cfg(sdir)
    server = DecisionServer(cfg)
    try:
        catalogue = catalogue_for(cfg, False, {})
        for i in range(6):
            obs, d = served.ask(server.path, _request(tmp_path, i), catalogue)
            assert d.module == f"Proj.M{i}" and d.context and d.strategy.name in catalogue.all and d.source_hash
            # the shim does not wait for its record (the last one here); with `wait` it is there
            obs.observe(d, wait=i < 5, seconds=1.0 + i / 10, cpu=0.9, ok=True, error=None, fallback_seconds=None,
                        fallback_ok=None, extra={"simulated": True, "build": "b1"})
            if i < 5:
                assert server.recorded == i + 1
        tc = server.shared.stats["toolchains"]["tc-serve"]
        assert sum(a[3] for arms in tc["arms"].values() for a in arms.values()) >= 5   # folded in memory ...
    finally:
        server.close()
    assert server.served == server.recorded == 6 and server.failed == 0       # `close` read the last one
    assert not os.path.exists(server.dir)
    from simpulse.learner import Learner
    lrn = Learner(sdir, toolchain="tc-serve")                # ... and on disk, as the shim appends
    assert lrn.counters()["compiles"] == 6
    got = list(Store(sdir, create=False).iter_events())
    assert [e["module"] for e in got] == [f"Proj.M{i}" for i in range(6)]
    assert all(e["build"] == "b1" and e["wall"] > 0 for e in got)


def test_a_compile_a_shim_decided_itself_is_folded_before_the_next_served_decision(tmp_path):
    """A shim its server did not answer decides and records for itself (appended to the log):
    the server folds that event before its next decision, once, in seq order, so that what it
    decides on is what a load of the state gives. (The served shims here wait for their records,
    so that the order is the test's.)"""
    from simpulse.learner import empty_stats, fold
    from simpulse.shim.main import decide
    sdir = tmp_path / "state"
    Store(sdir)
    cfg = _cfg(sdir)
    server = DecisionServer(cfg)
    outcome = dict(cpu=0.9, ok=True, error=None, fallback_seconds=None, fallback_ok=None,
                   extra={"simulated": True, "build": "b1"})
    try:
        catalogue = catalogue_for(cfg, False, {})
        for i in range(3):
            obs, d = served.ask(server.path, _request(tmp_path, i), catalogue)
            obs.observe(d, wait=True, seconds=1.0 + i / 10, **outcome)
        req = _request(tmp_path, 3)                          # the shim deciding for itself
        learner, d = decide(cfg, req["module"], req["source_path"], req["path"], catalogue)
        learner.observe(d, seconds=2.0, **outcome)
        assert server.caught_up == 0
        index = server.shared.index
        assert index is not None and "Proj.M3" not in index.by_ctx[d.context]
        obs, d = served.ask(server.path, _request(tmp_path, 4), catalogue)
        assert server.caught_up == 1
        # the similarity index kept, the folded compile's entry in it (not rebuilt from every record)
        assert server.shared.index is index and "Proj.M3" in index.by_ctx[d.context]
        obs.observe(d, wait=True, seconds=1.2, **outcome)
        obs, d = served.ask(server.path, _request(tmp_path, 5), catalogue)   # nothing new to fold
        obs.observe(d, wait=True, seconds=1.3, **outcome)
        assert server.caught_up == 1 and server.recorded == 5
        loaded, _ = Store(sdir, create=False).load(fold, empty_stats(), checkpoint_after=None)
        mine = server.shared.stats
        assert mine["counters"]["compiles"] == loaded["counters"]["compiles"] == 6
        assert mine["toolchains"]["tc-serve"]["arms"] == loaded["toolchains"]["tc-serve"]["arms"]
        from simpulse.model.records import module_record
        from simpulse.model.similar import Index
        fresh = Index().context(loaded["toolchains"]["tc-serve"], loaded, "tc-serve", d.context, module_record)
        assert dict(index.by_ctx[d.context]) == dict(fresh) and len(fresh) == 6
    finally:
        server.close()


def test_a_bad_request_or_a_gone_server_is_an_error_the_shim_can_catch(tmp_path):
    sdir = tmp_path / "state"
    Store(sdir)
    cfg = _cfg(sdir)
    server = DecisionServer(cfg)
    catalogue = catalogue_for(cfg, False, {})
    try:
        bad = dict(_request(tmp_path, 0), source_path=str(tmp_path / "missing.lean"))
        with pytest.raises(ValueError, match="could not decide"):
            served.ask(server.path, bad, catalogue)
        obs, d = served.ask(server.path, _request(tmp_path, 1), catalogue)
        with pytest.raises(ValueError, match="did not record"):            # an outcome it cannot record
            obs.observe(d, wait=True, seconds="not a number", cpu=None, ok=True, error=None, fallback_seconds=None,
                        fallback_ok=None, extra={}, unknown_field=1)
        # a shim that does not wait learns nothing of it: the server logs it
        obs, d = served.ask(server.path, _request(tmp_path, 2), catalogue)
        obs.observe(d, seconds="not a number", cpu=None, ok=True, error=None, fallback_seconds=None,
                    fallback_ok=None, extra={}, unknown_field=1)
    finally:
        server.close()
    assert server.failed == 2 and server.recorded == 0
    assert f"could not record the compile of {d.module}" in (sdir / "simpulse.log").read_text()
    with pytest.raises(OSError):
        served.ask(server.path, _request(tmp_path, 2), catalogue)        # no server: the shim decides


def test_a_build_with_served_decisions_is_the_same_build(project, tmp_path):
    """`serve` on: every compile of a clean build and of a rebuild is decided by the build's
    server (no shim decides for itself), one event per compiled module is recorded, and the
    outputs are plain `lake build`'s (the safe profile: strategies that change only time)."""
    plain = project.copy(tmp_path / "plain")
    plain.lake("build", check=0)
    env = {"SIMPULSE_SERVE": "1"}
    p = project.simpulse("build", "--seed", "1", env=env, check=0)
    assert "Build completed successfully" in p.stdout
    built = project.built(p.stdout)
    assert len(built) == 16
    events = project.events()
    assert sorted(e["module"] for e in events) == sorted(built)
    assert all(e["context"] and e["strategy"] and e["wall"] > 0 for e in events)
    assert project.outputs() == plain.outputs()
    log = project.state / "simpulse.log"
    assert not log.exists() or "decided in the shim" not in log.read_text()
    # the server kept each compile's invocation for `simpulse verify` (the shims wrote none)
    from simpulse.store import invocations
    kept = invocations.load_all(project.state)
    assert sorted(kept) == sorted(built)
    for mod, inv in kept.items():
        assert "-o" in inv["argv"] and inv["source_path"].endswith(mod.replace(".", "/") + ".lean")
        assert inv["source_hash"] == next(e["source_hash"] for e in events if e["module"] == mod)
    with open(project.root / "Fixtures" / "Lists.lean", "a") as f:
        f.write("\n-- an edit\n")
    p = project.simpulse("build", env=env, check=0)
    assert "Build completed successfully" in p.stdout
    new = project.events()[len(events):]
    assert sorted(e["module"] for e in new) == sorted(project.built(p.stdout)) and new
    # a shim whose server is gone decides for itself, and says so in the log
    shim_env = project.shim_env(LAKE_OVERRIDE_LEAN="1", LEAN_SYSROOT=str(project.state / "facade"))
    settings = json.loads(shim_env["SIMPULSE_SHIM"])
    settings["serve"] = str(tmp_path / "no-such.sock")
    with open(project.root / "Fixtures" / "Lists.lean", "a") as f:
        f.write("\n-- another edit\n")
    p = project.lake("build", env=dict(shim_env, SIMPULSE_SHIM=json.dumps(settings)), check=0)
    assert "Build completed successfully" in p.stdout
    assert "decided in the shim" in log.read_text()
    assert len(project.events()) > len(events) + len(new)


@pytest.mark.parametrize("raw, want", [("1", True), ("yes", True), ("On", True), ("0", False), ("false", False)])
def test_serve_is_a_boolean_in_the_environment(raw, want):
    from simpulse.config import load_config
    problems: list[str] = []
    cfg = load_config(None, env={"SIMPULSE_SERVE": raw}, problems=problems)
    assert cfg["serve"] is want and problems == []


def test_a_serve_that_is_not_a_boolean_is_a_configuration_problem():
    from simpulse.config import load_config
    problems: list[str] = []
    load_config(None, env={"SIMPULSE_SERVE": "maybe"}, problems=problems)
    assert problems == ["SIMPULSE_SERVE: not a boolean (1/0, true/false, yes/no, on/off): 'maybe'"]


def test_a_temporary_directory_too_long_for_a_socket_falls_back_to_tmp_and_leaves_nothing(tmp_path, monkeypatch):
    import tempfile
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    sdir = tmp_path / "state"
    Store(sdir)
    server = DecisionServer(_cfg(sdir))
    try:
        assert server.path.startswith("/tmp/") and len(server.path) <= 100
        assert os.stat(server.dir).st_mode & 0o777 == 0o700
    finally:
        server.close()
    assert list(deep.iterdir()) == [] and not os.path.exists(server.dir)


def test_a_socket_directory_left_by_a_killed_build_is_swept_by_the_next(tmp_path, monkeypatch):
    """A `simpulse build` killed outright (SIGKILL) never closes its server: its directory stays.
    The next server removes such directories whose build is gone, and only those: not a running
    build's, not a directory without the pid file, not another user's."""
    import subprocess
    import sys
    import tempfile

    from simpulse.lake import serve
    base = tmp_path / "tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, live, other = (base / f"{serve.PREFIX}{n}" for n in ("dead", "live", "other"))
    for d, pid in ((dead, gone.stdout.strip()), (live, str(os.getpid()))):
        d.mkdir()
        (d / serve.PID_NAME).write_text(pid)
        (d / serve.SOCKET_NAME).write_text("")
    other.mkdir()                                   # no pid file: not ours to judge
    sdir = tmp_path / "state"
    Store(sdir)
    server = DecisionServer(_cfg(sdir))
    try:
        # (pytest's temporary directory may be too long for a socket: then the server is in /tmp)
        assert open(os.path.join(server.dir, serve.PID_NAME)).read() == str(os.getpid())
        assert not dead.exists() and live.exists() and other.exists()
    finally:
        server.close()


def test_the_server_ranks_every_modules_neighbours_ahead_as_a_decision_would(tmp_path):
    """After WARM_AFTER decisions (not before: a small rebuild is better off without it) the
    server ranks every module's neighbours at once (numpy); the lists it caches are those a
    decision would compute for itself (`Index.nearest`)."""
    import time

    from test_simindex import TC, _state

    from simpulse.learner import Learner
    from simpulse.model.records import module_record
    from simpulse.model.similar import Index
    sdir, mods = _state(tmp_path, n_modules=120, n_events=40)
    cfg = dict(_cfg(sdir), toolchain=TC)
    server = DecisionServer(cfg)
    try:
        catalogue = catalogue_for(cfg, False, {})
        for i in range(serve.WARM_AFTER):
            assert server.warmed is None and not server.warming
            obs, _ = served.ask(server.path, _request(tmp_path, i), catalogue)
            obs.sock.close()                                # (no outcome: nothing recorded)
        deadline = time.monotonic() + 30
        while server.warmed is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.warmed is not None and server.warmed >= 100
        index = server.shared.index
        lrn = Learner(None, toolchain=TC)
        lrn._stats = server.shared.stats
        tc = lrn.stats["toolchains"][TC]
        fresh = Index()
        checked = 0
        for name, ctx, *_ in mods[:30]:
            hit = index.ranked.get(name)
            if hit is None:
                continue
            rec = module_record(tc, name)
            part = rec["k"]              # the part of `ctx` it compiled in (model/parts.py)
            assert part.split(".")[0] == ctx
            table = fresh.context(tc, lrn.stats, TC, part, module_record)
            assert hit[3] == fresh.nearest(part, table, rec["g"], name)
            checked += 1
        assert checked >= 25
    finally:
        server.close()


def test_catching_up_on_an_import_or_a_reset_rebuilds_the_similarity_index():
    """A compile changes its module's entry only; an import or a reset reaches beyond one
    module, so the index is dropped (rebuilt on the next decision) rather than patched."""
    from simpulse.lake.serve import _touched
    compile_ev = {"kind": "compile", "toolchain": "tc", "context": "simp_heavy", "module": "P.M"}
    assert _touched([], compile_ev) == [("tc", "simp_heavy", "P.M")]
    for kind in ("import", "reset", None):
        assert _touched(_touched([], compile_ev), {"kind": kind}) is None
        assert _touched(None, compile_ev) is None                 # once dropped, dropped


def test_the_statistics_are_loaded_as_the_build_starts_not_by_the_first_compile(tmp_path):
    """`prepare` (called by `simpulse build` as it starts the server) loads the statistics in a
    thread, so that the first compile's decision does not wait for the load."""
    import time
    sdir = tmp_path / "state"
    Store(sdir)
    cfg = _cfg(sdir)
    server = DecisionServer(cfg)
    try:
        assert server.shared is None
        server.prepare()
        deadline = time.monotonic() + 30
        while server.shared is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.shared is not None and server.served == 0
        shared = server.shared
        obs, d = served.ask(server.path, _request(tmp_path, 0), catalogue_for(cfg, False, {}))
        assert server.shared is shared and d.module == "Proj.M0"       # decided on what was loaded
        obs.sock.close()
    finally:
        server.close()


def test_close_waits_for_the_outcome_of_a_compile_still_connected_and_gives_up_after_drain(tmp_path):
    """The shim does not wait for its record, so the server must not end before it has read
    every outcome: `close` (after Lake, when every shim has ended) waits for each connection's
    outcome or end of stream — and for one that never ends, at most `drain` seconds."""
    import threading
    import time
    sdir = tmp_path / "state"
    Store(sdir)
    cfg = _cfg(sdir)
    server = DecisionServer(cfg)
    catalogue = catalogue_for(cfg, False, {})
    obs, d = served.ask(server.path, _request(tmp_path, 0), catalogue)

    def late():
        time.sleep(0.5)                     # lean still running when the build closes the server
        obs.observe(d, seconds=1.0, cpu=0.9, ok=True, error=None, fallback_seconds=None, fallback_ok=None,
                    extra={"simulated": True, "build": "b1"})
    t = threading.Thread(target=late)
    t.start()
    server.close()
    assert server.recorded == 1                       # read and recorded before `close` returned
    t.join()
    assert [e["module"] for e in Store(sdir, create=False).iter_events()] == ["Proj.M0"]
    # a connection that never gives its outcome nor ends: `close` gives up after `drain`
    server = DecisionServer(cfg)
    stuck, _ = served.ask(server.path, _request(tmp_path, 1), catalogue)
    t0 = time.monotonic()
    server.close(drain=0.3)
    assert time.monotonic() - t0 < 2.0 and server.recorded == 0
    stuck.sock.close()
