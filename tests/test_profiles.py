"""Profiles and what each strategy declares it may change (issue 17): by default nothing but time."""

import pytest

from simpulse.config import load_config
from simpulse.errors import SimpulseError
from simpulse.lake.leanargs import options_in_effect, parse
from simpulse.strategy.allowlist import check_args, check_option, implied_changes, raises_limit
from simpulse.strategy.catalogue import BUILTIN, PROFILES, Catalogue, strategy_from_config, strategy_from_json


def names(cat):
    return {s.name for s in cat.active}


# the thread-budget strategies: `threads-2` everywhere, `threads-half` on machines of ≥ 6 cores
THREADS = {s.name for s in BUILTIN if s.name.startswith("threads-")}
TIME_ONLY = {"baseline", "no-async", "single-thread"} | THREADS


def test_builtins_declare_what_they_may_change():
    by = {s.name: s for s in BUILTIN}
    assert by["baseline"].changes == () and by["no-async"].changes == () and by["single-thread"].changes == ()
    assert by["no-linters"].changes == ("messages",) and by["lean-fast"].changes == ("messages",)
    assert by["no-simprocs"].changes == ("messages", "outputs") and by["simp-lean"].changes == ("messages", "outputs")
    assert "threads-2" in THREADS and all(by[t].changes == () and not by[t].options for t in THREADS)
    for s in BUILTIN:      # every declaration covers what its options imply
        assert set(implied_changes(s.options, s.args)) <= set(s.changes), s.name


def test_profiles_filter_on_the_declaration():
    assert names(Catalogue(profile="safe")) == TIME_ONLY
    assert names(Catalogue(profile="dev")) == TIME_ONLY | {"no-linters", "lean-fast"}
    assert names(Catalogue(profile="aggressive")) == {s.name for s in BUILTIN}
    assert all("verdict" not in accepted for accepted in PROFILES.values())
    with pytest.raises(SimpulseError, match="unknown profile"):
        Catalogue(profile="reckless")


def test_warnings_as_errors_leave_only_time_strategies_whatever_the_profile():
    for profile in PROFILES:
        cat = Catalogue(profile=profile, strict_messages=True)
        assert names(cat) == TIME_ONLY
        assert "warnings as errors" in cat.inactive_reason("no-linters")


def test_the_default_profile_is_safe_and_the_old_key_is_mapped_with_a_note(tmp_path):
    cfg = load_config(tmp_path, env={})
    assert cfg["profile"] == "safe"
    (tmp_path / "simpulse.toml").write_text("[simpulse]\nallow_diagnostic_changes = true\n")
    cfg = load_config(tmp_path, env={})
    assert cfg["profile"] == "dev" and "allow_diagnostic_changes" in cfg.sources["profile"]
    assert len(cfg.notes) == 1 and 'profile = "dev"' in cfg.notes[0]
    (tmp_path / "simpulse.toml").write_text("[simpulse]\nallow_diagnostic_changes = false\n")
    assert load_config(tmp_path, env={})["profile"] == "safe"
    (tmp_path / "simpulse.toml").write_text('[simpulse]\nallow_diagnostic_changes = true\nprofile = "safe"\n')
    cfg = load_config(tmp_path, env={})
    assert cfg["profile"] == "safe" and "ignored" in cfg.notes[0]
    assert load_config(tmp_path, env={"SIMPULSE_PROFILE": "aggressive"})["profile"] == "aggressive"
    with pytest.raises(SimpulseError, match="profile must be one of"):
        load_config(tmp_path, env={"SIMPULSE_PROFILE": "yolo"})


def test_a_declaration_must_cover_what_the_options_imply():
    with pytest.raises(SimpulseError, match="may change messages"):
        strategy_from_config("quiet", {"options": {"linter.all": False}, "changes": []})
    with pytest.raises(SimpulseError, match="may change outputs"):
        strategy_from_config("nosp", {"options": {"simprocs": False}, "changes": ["messages"]})
    with pytest.raises(SimpulseError, match="verdict"):
        strategy_from_config("v", {"options": {"Elab.async": False}, "changes": ["verdict"]})
    with pytest.raises(SimpulseError, match="not 'time'"):
        strategy_from_config("t", {"options": {"Elab.async": False}, "changes": ["time"]})
    # without a declaration: what the options imply (old `changes_diagnostics` adds messages)
    assert strategy_from_config("a", {"options": {"Elab.async": False}}).changes == ()
    assert strategy_from_config("b", {"options": {"linter.unusedVariables": False}}).changes == ("messages",)
    assert strategy_from_config("c", {"options": {"Elab.async": False}, "changes_diagnostics": True}).changes == ("messages",)
    # an imported definition goes through the same check
    with pytest.raises(SimpulseError, match="may change messages and outputs"):
        strategy_from_json({"name": "x", "options": {"simprocs": "false"}, "changes": []})
    s = strategy_from_json({"name": "x", "options": {"simprocs": "false"}, "changes": ["messages", "outputs"]})
    assert strategy_from_json(s.to_json()) == s


@pytest.mark.parametrize("name,value", [("maxHeartbeats", "400000"), ("maxRecDepth", "513"),
                                        ("synthInstance.maxHeartbeats", "20001"),
                                        ("exponentiation.threshold", "1000")])
def test_no_strategy_may_raise_a_limit_above_leans_default(name, value):
    with pytest.raises(SimpulseError, match="raises a limit"):
        check_option(name, value)
    check_option(name, "100")          # lowering is allowed (a failure falls back to baseline)


def test_a_limit_the_user_lowered_is_not_raised_for_that_compile(tmp_path):
    low = strategy_from_config("low", {"options": {"maxHeartbeats": 100000}, "may_break": True})
    assert raises_limit(low.options, {}) is None
    assert raises_limit(low.options, {"maxHeartbeats": "50000"}) == "maxHeartbeats=100000 > 50000"
    assert raises_limit(low.options, {"maxHeartbeats": "0"}) is None      # 0: the user removed the limit
    # the value in effect comes from every form the user can write it in
    setup = tmp_path / "M.setup.json"
    setup.write_text('{"name": "M", "options": {"weak.maxHeartbeats": 50000, "warningAsError": true}}')
    call = parse(["M.lean", "-o", "M.olean", "-i", "M.ilean", "--setup", str(setup), "--json"])
    eff = options_in_effect(call)
    assert eff["maxHeartbeats"] == "50000" and eff["warningAsError"] == "true"
    call = parse(["-Dweak.maxRecDepth=100", "M.lean", "-R", ".", "-o", "M.olean", "-DwarningAsError=true"])
    assert options_in_effect(call) == {"maxRecDepth": "100", "warningAsError": "true"}


@pytest.mark.parametrize("name", ["linter.x\n", "linter.\u0445", "linter.x y", "", "linter.all\x00"])
def test_option_names_are_whole_ascii_strings(name):
    with pytest.raises(SimpulseError):
        check_option(name, "false")


@pytest.mark.parametrize("args", [["-j", "4\n"], ["-j", "\u0661\u0662"], ["-j", "\u00b2"], ["-j0"], ["-j", "1025"],
                                  ["--threads=\u0662"], ["-j", ""]])
def test_thread_counts_are_ascii_digits_from_1_to_1024(args):
    with pytest.raises(SimpulseError):
        check_args(args)


def test_thread_counts_in_range_pass():
    check_args(["-j", "1"])
    check_args(["-j1024"])
    check_args(["--threads=2"])
