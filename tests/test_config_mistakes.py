"""A configuration mistake never stops a build (issue 19): `simpulse build` says what is wrong in
one line and runs plain `lake build`; a refused strategy is left out and the rest are used;
`simpulse config` and `simpulse strategies` show the problem (exit 2) and what would be used."""

import json

import pytest


BAD_FILES = {
    "invalid TOML": ("[simpulse\nmode = 'auto'\n", "not valid TOML"),
    "unknown mode": ('[simpulse]\nmode = "reckless"\n', "mode must be one of"),
    "unknown key": ('[simpulse]\nspeed = "max"\n', "unknown key 'speed'"),
    "wrong type": ("[simpulse]\nexplore_budget = \"lots\"\n", "explore_budget must be float"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_mistake_in_the_file_runs_plain_lake_build(project, case):
    text, problem = BAD_FILES[case]
    (project.root / "simpulse.toml").write_text(text)
    p = project.simpulse("build", "Fixtures.Tiny")
    assert p.returncode == 0 and "Build completed successfully" in p.stdout
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if "configuration problem" in ln]
    assert len(lines) == 1 and problem in lines[0] and "simpulse.toml" in lines[0]
    assert "plain `lake build`" in p.stderr
    assert project.events() == []                      # nothing went through simpulse
    for cmd in (("config",), ("strategies",), ("config", "--json"), ("strategies", "--json")):
        c = project.simpulse(*cmd)
        assert c.returncode == 2 and problem in c.stderr and "Traceback" not in c.stderr, cmd
        assert c.stdout.strip()                        # and still shows what would be used
    c = project.simpulse("config", "--json")
    assert problem in json.loads(c.stdout)["problems"][0]


def test_a_mistake_in_the_environment_runs_plain_lake_build(project):
    p = project.simpulse("build", "Fixtures.Tiny", env={"SIMPULSE_MODE": "reckless"})
    assert p.returncode == 0 and "SIMPULSE_MODE" in p.stderr and project.events() == []


def test_a_refused_strategy_is_left_out_and_the_rest_are_used(project):
    (project.root / "simpulse.toml").write_text(
        '[simpulse]\nprofile = "dev"\n\n'
        '[strategies.unsound]\noptions = { "debug.skipKernelTC" = true }\n\n'
        '[strategies.heavy]\noptions = { maxHeartbeats = 999999 }\n\n'
        '[strategies.quiet-unused]\noptions = { "linter.unusedVariables" = false }\n')
    p = project.simpulse("build", "Fixtures.Tiny", "--seed", "1")
    assert p.returncode == 0 and "Build completed successfully" in p.stdout
    warnings = [ln for ln in p.stderr.splitlines() if ln.startswith("simpulse: warning:")]
    assert len(warnings) == 2
    assert any("[strategies.unsound] left out" in w and "never allowed" in w for w in warnings)
    assert any("[strategies.heavy] left out" in w and "raises a limit" in w for w in warnings)
    assert len(project.events()) == 2                  # learning goes on
    c = project.simpulse("strategies", "--json")
    assert c.returncode == 2 and "unsound" in c.stderr
    rows = {r["name"]: r for r in json.loads(c.stdout)}
    assert "quiet-unused" in rows and rows["quiet-unused"]["active"] and "unsound" not in rows


def test_an_unknown_name_in_enabled_is_left_out(project):
    (project.root / "simpulse.toml").write_text('[simpulse]\nenabled = ["no-async", "warp"]\n')
    p = project.simpulse("build", "Fixtures.Tiny")
    assert p.returncode == 0 and "unknown strategy 'warp'" in p.stderr and len(project.events()) == 2


def test_relative_state_dirs_resolve_from_the_workspace_root_everywhere(project):
    sub = project.root / "Fixtures"
    p = project.simpulse("build", "Fixtures.Tiny", cwd=sub, env={"SIMPULSE_STATE_DIR": "custom-state"})
    assert p.returncode == 0
    assert (project.root / "custom-state").is_dir() and not (sub / "custom-state").exists()
    s = project.simpulse("stats", "--json", cwd=sub, env={"SIMPULSE_STATE_DIR": "custom-state"})
    assert s.returncode == 0, s.stderr
    (project.root / "simpulse.toml").write_text('[simpulse]\nstate_dir = "other"\n')
    project.simpulse("build", "Fixtures.Basic", cwd=sub, check=0)
    assert (project.root / "other").is_dir() and not (sub / "other").exists()


def test_a_state_directory_that_is_a_link_is_refused_and_the_build_is_plain_lakes(project, tmp_path):
    """A cloned repository can carry `.simpulse` as a symbolic link to somewhere else: simpulse
    build says so in one line, runs plain `lake build`, and writes nothing through the link."""
    import os
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    os.symlink(elsewhere, project.state)
    p = project.simpulse("build", "Fixtures.Tiny")
    assert p.returncode == 0 and "Build completed successfully" in p.stdout
    warnings = [ln for ln in p.stderr.splitlines() if "symbolic link" in ln]
    assert len(warnings) == 1 and "plain `lake build`" in warnings[0]
    assert list(elsewhere.iterdir()) == []
