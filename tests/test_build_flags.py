"""`simpulse build` is a drop-in for `lake build` (issue 22): Lake's flags mean what they mean in
Lake; simpulse's own options have names Lake does not use; the summary says what ran."""

import re

import pytest

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


def test_a_build_that_recorded_nothing_loads_the_state_once(tmp_path, monkeypatch, capsys):
    """A no-op build: the summary sees that no event came after the one before Lake ran and
    does not load the statistics a second time (a no-op pays one load, not two)."""
    from simpulse.commands import build
    from simpulse.store.store import Store
    store = Store(tmp_path, fsync=False)
    store.append({"kind": "compile", "module": "M", "context": "c", "strategy": "baseline", "wall": 1.0,
                  "outcome": "ok", "toolchain": "t"})
    before = build._counters(tmp_path, "t")
    assert before is not None and before["seq"] == store.last_seq() == 1

    def no_second_load(*args):
        raise AssertionError("loaded again")
    monkeypatch.setattr(build, "_counters", no_second_load)
    build._summary(tmp_path, before, "t", True, None, "b", 0)
    assert "nothing to compile" in capsys.readouterr().err
    store.append({"kind": "compile", "module": "N", "context": "c", "strategy": "baseline", "wall": 1.0,
                  "outcome": "ok", "toolchain": "t"})
    with pytest.raises(AssertionError, match="loaded again"):
        build._summary(tmp_path, before, "t", True, None, "b", 0)
