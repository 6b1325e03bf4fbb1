"""`simpulse build` means what `lake build` means (issue 17): same verdict, same messages, same
outputs under the default profile; no profile changes a verdict; warnings-as-errors builds run
only time-only strategies; a strategy's lean dying by a signal falls back to the baseline.

Run on the simulated toolchain, whose `lean` hides linter warnings under `linter.all=false`,
changes `.olean` bytes under `simprocs=false`, and whose `lake` honours `--wfail` and replays
stored logs (docs/cost-model.md)."""

import re

import pytest

from conftest import strip_times
from simpulse.strategy.catalogue import BUILTIN, PROFILES

ERAS = ("v4.0", "middle", "setup")
TIME_ONLY = {s.name for s in BUILTIN if not s.changes}


def verdict_lines(out: str) -> list[str]:
    """What a build says about each module and the build, in a stable order (parallel jobs finish
    in any order; times differ)."""
    keep = [strip_times(ln) for ln in out.splitlines()
            if ln.startswith(("⚠", "✖", "✔", "ℹ", "error", "warning", "info", "- ", "Some required", "Build completed"))]
    return sorted(re.sub(r"\[\d+/\d+\] ", "", ln) for ln in keep)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("profile", PROFILES)
def test_wfail_fails_exactly_as_lake_does(project, tmp_path, era, profile):
    env = {"SIMPULSE_SIM_LAKE_ERA": era}
    plain = project.copy(tmp_path / "plain")
    ref = plain.lake("build", "--wfail", "Meaning", env=env)
    got = project.simpulse("build", "--wfail", "Meaning", "--profile", profile, "--seed", "7", env=env)
    assert ref.returncode != 0 and got.returncode == ref.returncode
    assert verdict_lines(got.stdout) == verdict_lines(ref.stdout)
    assert {e["strategy"] for e in project.events()} <= TIME_ONLY
    assert project.outputs() == plain.outputs()
    # replayed: the stored warning fails the up-to-date build again, as under lake
    again = project.simpulse("build", "--wfail", "Meaning", "--profile", profile, env=env)
    ref2 = plain.lake("build", "--wfail", "Meaning", env=env)
    assert again.returncode == ref2.returncode != 0
    assert verdict_lines(again.stdout) == verdict_lines(ref2.stdout)


@pytest.mark.parametrize("era", ERAS)
def test_warning_as_error_in_the_lakefile_is_never_turned_green(project, tmp_path, era):
    """`leanOptions = { warningAsError = true }`: Linted fails under lake. Even forced to run
    `no-linters` (which would hide the warning and make it pass) simpulse compiles the baseline."""
    toml = project.root / "lakefile.toml"
    toml.write_text(toml.read_text().replace('name = "Meaning"', 'name = "Meaning"\nleanOptions = { warningAsError = true }'))
    env = {"SIMPULSE_SIM_LAKE_ERA": era}
    plain = project.copy(tmp_path / "plain")
    ref = plain.lake("build", "Meaning.Linted", env=env)
    got = project.simpulse("build", "Meaning.Linted", "--profile", "dev", "--strategy", "no-linters", env=env)
    assert ref.returncode != 0 and got.returncode == ref.returncode
    assert verdict_lines(got.stdout) == verdict_lines(ref.stdout)
    [ev] = project.events()
    assert ev["strategy"] == "baseline" and ev["outcome"] == "module_failed"


def test_the_default_profile_changes_nothing_but_time(project, tmp_path):
    """Three builds with edits between them under the default profile: only time-only strategies
    run, and the outputs and messages are byte for byte those of plain `lake build`."""
    plain = project.copy(tmp_path / "plain")
    for i in range(3):
        ref = plain.lake("build", "Fixtures", "Meaning")
        got = project.simpulse("build", "Fixtures", "Meaning", "--seed", str(i))
        assert got.returncode == ref.returncode == 0
        assert verdict_lines(got.stdout) == verdict_lines(ref.stdout)
        assert project.outputs() == plain.outputs()
        for p in (project, plain):
            for name in ("Fixtures/Basic.lean", "Meaning/Linted.lean"):
                with open(p.root / name, "a") as f:
                    f.write(f"\n-- edit {i}\n")
    events = project.events()
    assert len(events) > 40 and {e["strategy"] for e in events} <= TIME_ONLY
    assert {e["strategy"] for e in events} - {"baseline"}      # strategies did run


def test_aggressive_may_change_outputs_and_says_what_dev_hid(project, tmp_path):
    """The other profiles are the user's explicit choice: `aggressive` may change .olean bytes;
    `dev` may hide warnings, and its last line says how many modules ran so."""
    plain = project.copy(tmp_path / "plain")
    plain.lake("build", "Meaning", check=0)
    got = project.simpulse("build", "Meaning", "--profile", "dev", "--strategy", "no-linters", check=0)
    assert "warning" not in got.stdout                  # the warning was hidden, the user chose it
    kept = {e["module"] for e in project.events() if e["strategy"] == "no-linters" and e["outcome"] == "ok"}
    failed = {e["module"] for e in project.events() if e["outcome"] == "strategy_failed"}
    assert failed == {"Meaning.GuardMsgs"}              # its #guard_msgs expects the warning: baseline
    last = got.stderr.strip().splitlines()[-1]
    assert f"{len(kept)} modules ran with strategies that may hide warnings" in last
    assert "simpulse build --profile safe" in last
    # aggressive: simprocs off changes proof terms; CoreSimproc needs simprocs and falls back
    agg = project.copy(tmp_path / "agg")
    agg.simpulse("build", "Meaning", "--profile", "aggressive", "--strategy", "no-simprocs", check=0)
    by = {e["module"]: e for e in agg.events()}
    assert by["Meaning.CoreSimproc"]["outcome"] == "strategy_failed"
    mine, ref = agg.outputs(), plain.outputs()
    core = [k for k in ref if "CoreSimproc" in k]
    assert core and all(mine[k] == ref[k] for k in core)


def test_a_strategy_killed_by_a_signal_falls_back_and_the_build_passes(project, tmp_path):
    plain = project.copy(tmp_path / "plain")
    ref = plain.lake("build", "Fixtures")
    # a first build with a healthy lean: the toolchain checks of `simpulse build` (the doctor's
    # gate, cached per toolchain) see no-async's options accepted; then the lean starts dying
    # under Elab.async=false (a stack overflow, say) — for the modules of the next build only
    project.simpulse("build", "Meaning.Linted", check=0)
    n0 = len(project.events())
    env = {"SIMPULSE_SIM_LEAN_SIGNAL": "Elab.async=false"}
    got = project.simpulse("build", "Fixtures", "--strategy", "no-async", env=env)
    assert got.returncode == ref.returncode == 0
    assert verdict_lines(got.stdout) == verdict_lines(ref.stdout)
    assert {k: v for k, v in project.outputs().items() if "Meaning" not in k} == plain.outputs()
    events = project.events()[n0:]
    assert events and all(e["strategy"] == "no-async" and e["outcome"] == "strategy_failed" for e in events)
    assert all("signal 6" in e["error"] and e["fallback_wall"] > 0 for e in events)
    # Lean is deterministic: no-async is not tried again on a module whose source is unchanged
    # (an edit of Basic recompiles every module; only Basic's own source changed)
    n = n0 + len(events)
    with open(project.root / "Fixtures" / "Basic.lean", "a") as f:
        f.write("\n-- an edit\n")
    for seed in range(3):
        got = project.simpulse("build", "Fixtures", "--seed", str(seed), env=env)
        assert got.returncode == 0 and "Build completed successfully" in got.stdout
        with open(project.root / "Fixtures" / "Basic.lean", "a") as f:
            f.write(f"\n-- edit {seed}\n")
    later = project.events()[n:]
    assert len(later) == 3 * 16
    assert {e["module"] for e in later if e["strategy"] == "no-async"} <= {"Fixtures.Basic"}


def test_lakes_artifact_cache_keeps_strategies_that_change_outputs_out(project, tmp_path):
    """With Lake's artifact cache on, what a build compiles is stored in a cache every workspace
    of the toolchain restores from, plain `lake build`s included: under `aggressive`, the
    strategies that change outputs are left out (and said so), even when forced; the outputs are
    then plain lake's. Off (the default), they run."""
    plain = project.copy(tmp_path / "plain")
    plain.lake("build", "Meaning", check=0)
    on = project.copy(tmp_path / "on")
    got = on.simpulse("build", "Meaning", "--profile", "aggressive", "--strategy", "no-simprocs", check=0,
                      env={"LAKE_ARTIFACT_CACHE": "true"})
    assert "--strategy no-simprocs not run: it changes outputs, and Lake's artifact cache is on" in got.stderr
    assert "note: Lake's artifact cache is on (LAKE_ARTIFACT_CACHE=true): left out" in got.stderr
    changing = {s.name for s in BUILTIN if "outputs" in s.changes}
    assert on.events() and not {e["strategy"] for e in on.events()} & changing
    assert on.outputs() == plain.outputs()
    # the root package's own setting decides for it, before the environment
    toml = project.root / "lakefile.toml"
    toml.write_text("enableArtifactCache = true\n" + toml.read_text())
    got = project.simpulse("build", "Meaning", "--profile", "aggressive", check=0, env={"LAKE_ARTIFACT_CACHE": "0"})
    assert "artifact cache is on (enableArtifactCache = true in lakefile.toml)" in got.stderr
    assert not {e["strategy"] for e in project.events()} & changing
    # off: the user's explicit choice runs
    off = plain.copy(tmp_path / "off")
    got = off.simpulse("build", "Meaning", "--profile", "aggressive", "--strategy", "no-simprocs", check=0)
    assert "artifact cache" not in got.stderr
    assert "no-simprocs" in {e["strategy"] for e in off.events()}
    # and `safe` runs none of them anyway: nothing to say
    safe = plain.copy(tmp_path / "safe")
    got = safe.simpulse("build", "Meaning", check=0, env={"LAKE_ARTIFACT_CACHE": "yes"})
    assert "artifact cache" not in got.stderr
