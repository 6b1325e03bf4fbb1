"""The catalogue and the allowlist every strategy goes through."""

import pytest

from simpulse.errors import SimpulseError
from simpulse.strategy.allowlist import check_args, check_option
from simpulse.strategy.catalogue import BUILTIN, Catalogue, strategy_from_config


def test_builtins_pass_the_allowlist_and_declare_their_risks():
    names = {s.name for s in BUILTIN}
    assert {"baseline", "no-linters", "no-async", "no-simprocs", "single-thread"} <= names
    by = {s.name: s for s in BUILTIN}
    assert by["no-simprocs"].may_break and by["no-linters"].changes_diagnostics
    assert not by["no-async"].may_break and not by["baseline"].options


@pytest.mark.parametrize("name,value", [("debug.skipKernelTC", "true"), ("weak.debug.skipKernelTC", "true"),
                                        ("debug.byAsSorry", "true"), ("backward.synthInstance", "true"),
                                        ("maxHeartbeats", "0"), ("simprocs", "maybe"), ("bogus.option", "1"),
                                        ("a b", "1")])
def test_forbidden_options(name, value):
    with pytest.raises(SimpulseError):
        check_option(name, value)


@pytest.mark.parametrize("args", [["--plugin", "x.so"], ["--load-dynlib=x.so"], ["--run"], ["-o", "x"],
                                  ["-j", "0"], ["-j"], ["--setup", "s.json"], ["-Dfoo=1"], ["rm"]])
def test_forbidden_args(args):
    with pytest.raises(SimpulseError):
        check_args(args)


def test_allowed_args():
    check_args(["-j", "2"])
    check_args(["--threads=4"])
    check_args(["-j8"])


def test_user_strategy_validated():
    s = strategy_from_config("low-heartbeats", {"options": {"maxHeartbeats": 100000, "linter.unusedVariables": False}})
    assert s.options == (("maxHeartbeats", "100000"), ("linter.unusedVariables", "false"))
    assert s.changes == ("messages", "outputs")
    assert not s.builtin
    for bad in ({"options": {"debug.skipKernelTC": True}}, {"args": ["--plugin", "p"]}, {"unknown": 1},
                {"options": ["x"]}, {"prior_strength": -1}, {"prior_mean": float("nan")}):
        with pytest.raises(SimpulseError):
            strategy_from_config("x", bad)
    with pytest.raises(SimpulseError):
        strategy_from_config("../evil", {})


def test_catalogue_filters():
    cat = Catalogue(profile="safe")
    assert all(not s.changes_diagnostics and not s.changes for s in cat.active)
    assert cat.active[0].name == "baseline"
    with pytest.raises(SimpulseError, match="unknown strategy"):
        cat.get("nope")
    with pytest.raises(SimpulseError):
        Catalogue.with_user({"no-async": {}})
