"""`simpulse build` is a drop-in for `lake build` (issue 22): Lake's flags mean what they mean in
Lake; simpulse's own options have names Lake does not use; the summary says what ran."""

import re

from simpulse.commands.build import OPTIONS, lake_view, parse_args

# Lake's long options (src/lake/Lake/CLI/Main.lean, lakeLongOption) and short ones.
LAKE_LONG = {"--quiet", "--verbose", "--update", "--keep-toolchain", "--reconfigure", "--old", "--text", "--json",
             "--allow-empty", "--no-build", "--no-cache", "--try-cache", "--rehash", "--offline", "--wfail",
             "--iofail", "--force-download", "--download-arts", "--mappings-only", "--service", "--scope", "--repo",
             "--platform", "--toolchain", "--rev", "--max-revs", "--log-level", "--fail-level", "--ansi",
             "--no-ansi", "--packages", "--dir", "--file", "--help", "--summary", "--builtin-lint", "--builtin-only",
             "--linters", "--lint-only", "--force", "--keep-implied", "--keep-prefix", "--keep-public",
             "--add-public", "--gh-style", "--explain", "--trace", "--fix", "--only"}


def test_simpulse_options_are_names_lake_does_not_use():
    ours = {f for flags, *_ in OPTIONS for f in flags}
    assert not ours & LAKE_LONG and all(f.startswith("--") for f in ours)
    opts, lake = parse_args(["--quiet", "-v", "--json", "-d", "sub", "--seed", "3", "--wfail", "T"])
    assert lake == ["--quiet", "-v", "--json", "-d", "sub", "--wfail", "T"] and opts["seed"] == 3
    assert lake_view(["-d", "x"])["dir"] == "x" and lake_view(["--dir=y"])["dir"] == "y"
    assert lake_view(["-dz"])["dir"] == "z" and lake_view(["--dir", "w", "--", "-d", "v"])["dir"] == "w"
    assert lake_view(["-q", "--verbose"])["verbosity"] == "verbose"


def test_quiet_goes_to_lake_and_silences_the_summary(project):
    p = project.simpulse("build", "Fixtures.Tiny", "--quiet", check=0)
    q = project.simpulse("build", "Fixtures.Basic", check=0)     # up to date now
    assert "nothing to compile" in q.stderr
    assert "recorded" not in p.stderr
    assert "Built" not in p.stdout            # Lake's --quiet: no progress lines
    assert len(project.events()) == 2


def test_dir_names_the_workspace(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    p = project.simpulse("build", "-d", str(project.root), "Fixtures.Tiny", cwd=outside, check=0)
    assert "Build completed successfully" in p.stdout and len(project.events()) == 2
    p = project.simpulse("build", f"--dir={project.root}", "Fixtures.Trees", cwd=outside, check=0)
    assert {e["module"] for e in project.events()} == {"Fixtures.Basic", "Fixtures.Tiny", "Fixtures.Trees"}


def test_verbose_lists_each_module_and_the_summary_counts_strategies(project):
    p = project.simpulse("build", "Fixtures.Trees", "-v", "--seed", "1", check=0)
    events = project.events()
    lines = [ln for ln in p.stderr.splitlines() if re.match(r"simpulse:   Fixtures\.\w+: ", ln)]
    assert len(lines) == len(events) == 2
    for e in events:
        assert any(f"{e['module']}: {e['strategy']} ({e['context']}," in ln for ln in lines)
    summary = next(ln for ln in p.stderr.splitlines() if "compiles recorded" in ln)
    for name in {e["strategy"] for e in events}:
        n = sum(e["strategy"] == name for e in events)
        assert f"{name} {n}" in summary
    assert "1 strategy failures" not in summary


def test_up_to_date_unknown_target_and_bad_flag_say_different_things(project):
    project.simpulse("build", "Fixtures.Tiny", check=0)
    up = project.simpulse("build", "Fixtures.Tiny")
    assert up.returncode == 0 and "nothing to compile: every module was up to date" in up.stderr
    unknown = project.simpulse("build", "Fixtures.Nope")
    assert unknown.returncode != 0 and "nothing to compile" not in unknown.stderr
    assert "no module compiled" not in unknown.stderr


def _compile(module, strategy, *, build="b", outcome="ok", explore=False, wall=1.0, fallback=None):
    return {"kind": "compile", "module": module, "context": "c", "strategy": strategy, "wall": wall,
            "outcome": outcome, "toolchain": "t", "build": build, "explore": explore, "fallback_wall": fallback}


def test_the_summary_reads_the_builds_own_events_and_loads_no_statistics(tmp_path, monkeypatch, capsys):
    """The summary counts the events this build appended after the log's end before Lake ran,
    tagged with its id (not a concurrent build's, not earlier ones), without loading the
    statistics (a load before Lake delays Lake's start; one after it, the build's end)."""
    from simpulse.commands import build
    from simpulse.store.store import Store
    from simpulse.strategy.catalogue import Catalogue
    store = Store(tmp_path, fsync=False)
    store.append(_compile("Old", "no-async"))              # before the build, even with its id
    since = build._log_end(tmp_path)
    assert since[0] == store.last_seq() == 1 and since[1] is not None

    def no_load(*args, **kwargs):
        raise AssertionError("the statistics were loaded")
    monkeypatch.setattr(Store, "load", no_load)
    cat = Catalogue(profile="safe")
    build._summary(tmp_path, since, True, cat, "b", 0)
    assert "nothing to compile: every module was up to date" in capsys.readouterr().err
    store.append_many([
        _compile("A", "baseline", explore=True, wall=1.25),
        _compile("B", "no-async", outcome="strategy_failed", wall=0.5, fallback=2.0),
        _compile("C", "baseline", outcome="module_failed", wall=0.25),
        _compile("D", "no-async", build="other", wall=9.0),            # a concurrent build's
    ])
    build._summary(tmp_path, since, True, cat, "b", 1)
    err = capsys.readouterr().err
    assert "3 compiles recorded (simulated 4.0s in lean): baseline 1, no-async 1; 1 exploring, " \
           "1 strategy failure caught by baseline fallback" in err


def test_the_summary_finds_the_builds_events_after_a_compaction(tmp_path, capsys):
    """A compaction while the build ran (another build's end) moves the log into a segment: the
    mark no longer applies, and the events are read from the segment."""
    from simpulse.commands import build
    from simpulse.learner import empty_stats, fold
    from simpulse.store.store import Store
    from simpulse.strategy.catalogue import Catalogue
    store = Store(tmp_path, fsync=False)
    store.append_many([_compile(f"Old{i}", "baseline", build="old") for i in range(5)])
    since = build._log_end(tmp_path)
    store.append_many([_compile("A", "no-async"), _compile("B", "no-async")])
    store.compact(fold, empty_stats(), retention_segments=20)
    store.append(_compile("C", "baseline"))
    now = build._log_end(tmp_path)
    assert now[1] is not None and since[1] is not None
    assert now[1]["gen"] != since[1]["gen"]                    # a new log: the mark does not apply
    build._summary(tmp_path, since, False, Catalogue(profile="safe"), "b", 0)
    assert "3 compiles recorded (3.0s in lean): no-async 2, baseline 1; 0 exploring" in capsys.readouterr().err


def test_the_summary_says_which_compiles_taught_nothing(tmp_path, capsys):
    """Compiles whose shim failed open (plain `lean` ran) or whose record failed leave lines in
    simpulse.log; the summary counts those this build appended and says so, rather than
    'nothing to compile' (the build is plain `lake build`'s either way; silence is not learning)."""
    from simpulse.commands import build
    from simpulse.store.store import Store
    from simpulse.strategy.catalogue import Catalogue
    store = Store(tmp_path, fsync=False)
    log = tmp_path / "simpulse.log"
    log.write_text("2026-12-06T10:00:00 shim[1] passthrough: an earlier build's\n")
    since = build._log_end(tmp_path)
    assert since[2] == log.stat().st_size
    with open(log, "a") as f:
        f.write("2026-12-07T10:00:00 shim[2] passthrough: simpulse failed before compiling: RuntimeError: x\n"
                "2026-12-07T10:00:00 shim[3] passthrough: could not start /x/lean: [Errno 2]\n"
                "2026-12-07T10:00:01 shim[4] decided in the shim: the build's decision server: timeout\n")
    cat = Catalogue(profile="safe")
    build._summary(tmp_path, since, True, cat, "b", 0)
    err = capsys.readouterr().err
    assert "nothing to compile" not in err
    assert "2 compiles ran plain `lean`, not through simpulse (it failed open; nothing learned from them)" in err
    assert "not recorded" not in err
    with open(log, "a") as f:
        f.write("2026-12-07T10:00:02 shim[5] could not record the compile of M: OSError: [Errno 28] full\n")
    store.append(_compile("A", "baseline"))
    build._summary(tmp_path, since, True, cat, "b", 0)
    err = capsys.readouterr().err
    assert "1 compile recorded" in err and "2 compiles ran plain `lean`" in err
    assert f"1 compile ran through simpulse but was not recorded: why in {log}" in err


def test_the_summary_reads_simpulse_log_across_its_rotation(tmp_path, capsys):
    """simpulse.log is rotated at its size limit (to simpulse.log.1): a rotation during the build
    leaves the rest of the old file to read, then the new one."""
    from simpulse.commands import build
    from simpulse.store.store import Store
    from simpulse.strategy.catalogue import Catalogue
    Store(tmp_path, fsync=False)
    log = tmp_path / "simpulse.log"
    log.write_text("x" * 500 + "\n")
    since = build._log_end(tmp_path)
    with open(log, "a") as f:
        f.write("t shim[2] passthrough: one\n")
    log.rename(tmp_path / "simpulse.log.1")
    log.write_text("t shim[3] passthrough: two\n")
    build._summary(tmp_path, since, True, Catalogue(profile="safe"), "b", 0)
    assert "2 compiles ran plain `lean`" in capsys.readouterr().err


def test_a_build_that_recorded_nothing_compacts_nothing_and_logs_no_failure(tmp_path):
    """No event log yet (every compile failed open): nothing to compact, and no "compaction
    failed" line in simpulse.log beside the lines that say why nothing was recorded."""
    from simpulse.commands import build
    assert build.maybe_compact(tmp_path, 20, threshold=0) is False
    assert not (tmp_path / "simpulse.log").exists()


def test_an_unreadable_event_log_still_lets_the_summary_say_what_was_lost(tmp_path, capsys):
    """An event log that cannot be read before Lake runs (here a directory in its place) leaves
    the summary without a mark, not without its lines about what failed open."""
    from simpulse.commands import build
    from simpulse.strategy.catalogue import Catalogue
    (tmp_path / "events.log").mkdir()
    since = build._log_end(tmp_path)
    assert since == (0, None, 0)
    (tmp_path / "simpulse.log").write_text("t shim[2] passthrough: simpulse failed before compiling: StoreError\n")
    build._summary(tmp_path, since, True, Catalogue(profile="safe"), "b", 0)
    err = capsys.readouterr().err
    assert "1 compile ran plain `lean`, not through simpulse (it failed open; nothing learned from it)" in err
    assert "nothing to compile" not in err


def test_a_build_ends_with_a_snapshot_past_its_events(project):
    """The build's end folds what it recorded and checkpoints, so the next build's server and
    any shim deciding for itself start past it (the summary itself loads nothing)."""
    from simpulse.store.store import Store
    from simpulse.store.views import snapshot_head
    project.simpulse("build", "Fixtures.Trees", "--quiet", check=0)
    store = Store(project.state, create=False)
    head = snapshot_head((project.state / "snapshot.json").read_bytes()[:1024])
    assert head is not None and head[1]["seq"] == store.last_seq() == len(project.events()) > 0


def test_lines_simpulse_build_writes_to_the_log_name_the_build_not_a_shim(tmp_path):
    """A checkpoint that fails after the build is logged under `build[pid]`, not `shim[pid]`:
    the log says which process met the problem."""
    import os
    from simpulse.commands import build
    (tmp_path / "events.log").mkdir()                 # unreadable: the checkpoint fails
    build._checkpoint(tmp_path, 0)
    line = (tmp_path / "simpulse.log").read_text()
    assert f" build[{os.getpid()}] checkpoint after the build failed: " in line and "shim[" not in line
