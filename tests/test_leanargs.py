"""Lean's argument lists in the three Lake eras, and how a strategy is added to them."""

import json

from simpulse.lake.leanargs import apply_strategy, parse
from simpulse.lake.messages import error_kind, first_error
from simpulse.strategy.catalogue import Catalogue

CAT = Catalogue()

V40 = ["Foo/Bar.lean", "-R", "./.", "-o", "b/Foo/Bar.olean", "-i", "b/Foo/Bar.ilean", "-c", "ir/Foo/Bar.c"]
MIDDLE = ["-DmaxHeartbeats=400000", "Foo/Bar.lean", "-R", "./.", "-o", "b/Foo/Bar.olean", "-i",
          "b/Foo/Bar.ilean", "-c", "ir/Foo/Bar.c", "--load-dynlib", "x.so", "--json"]


def test_non_compiles_are_not_compiles():
    for argv in (["--githash"], ["--version"], ["--print-prefix"], ["--server"], ["--deps", "A.lean"],
                 ["A.lean"], ["--run", "A.lean"]):
        assert not parse(argv).is_compile, argv


def test_eras_are_recognised():
    assert parse(V40).era == "v4.0" and parse(V40).is_compile
    m = parse(MIDDLE)
    assert m.era == "middle" and m.source == "Foo/Bar.lean" and m.user_options == {"maxHeartbeats": "400000"}
    s = parse(["Foo.lean", "-o", "F.olean", "-i", "F.ilean", "-c", "F.c", "--setup", "F.setup.json", "--json"])
    assert s.era == "setup" and s.setup == "F.setup.json"


def test_strategy_options_go_first_as_weak_options():
    applied = apply_strategy(parse(MIDDLE), CAT.get("no-linters"))
    assert applied.argv[0] == "-Dweak.linter.all=false"
    assert applied.argv[1:] == MIDDLE


def test_user_options_win_and_are_reported_dropped():
    argv = ['-Dsimprocs="true"'] + V40      # Lake wraps string values in quotes
    call = parse(argv)
    assert call.user_options["simprocs"] == "true"
    applied = apply_strategy(call, CAT.get("simp-lean"))
    assert "-Dweak.simprocs=false" not in applied.argv
    assert "-Dweak.linter.all=false" in applied.argv
    assert applied.dropped == ["simprocs"]


def test_thread_args_not_doubled():
    applied = apply_strategy(parse(["-j", "4"] + V40), CAT.get("single-thread"))
    assert applied.argv.count("-j") == 1
    applied = apply_strategy(parse(V40), CAT.get("single-thread"))
    assert applied.argv[:2] == ["-j", "1"]


def test_setup_era_writes_a_private_copy(tmp_path):
    setup = tmp_path / "Foo.setup.json"
    setup.write_text(json.dumps({"name": "Foo", "imports": [], "options": {"maxHeartbeats": 1}}))
    argv = ["Foo.lean", "-o", "F.olean", "-i", "F.ilean", "-c", "F.c", "--setup", str(setup), "--json"]
    applied = apply_strategy(parse(argv), CAT.get("lean-fast"), str(tmp_path / "tmp"))
    (copy,) = applied.temp_files
    assert applied.argv[applied.argv.index("--setup") + 1] == copy
    data = json.loads(open(copy).read())
    assert data["options"] == {"maxHeartbeats": 1, "linter.all": False, "Elab.async": False}
    assert json.loads(setup.read_text())["options"] == {"maxHeartbeats": 1}   # original untouched
    assert not any(a.startswith("-D") for a in applied.argv)
    # the setup file is parsed once for the compile (options, closure, copy); the copy's
    # options never reach the kept parse, and a second strategy starts from the file's own
    from simpulse.lake.leanargs import options_in_effect, read_setup
    assert read_setup(str(setup))["options"] == {"maxHeartbeats": 1}
    again = apply_strategy(parse(argv), CAT.get("no-async"), str(tmp_path / "tmp2"))
    assert json.loads(open(again.temp_files[0]).read())["options"] == {"maxHeartbeats": 1, "Elab.async": False}
    assert options_in_effect(parse(argv)) == {"maxHeartbeats": "1"}


def test_first_error_from_json_and_plain():
    js = json.dumps({"fileName": "A.lean", "pos": {"line": 3, "column": 4}, "severity": "error",
                     "data": "unsolved goals\n⊢ False"})
    warn = json.dumps({"fileName": "A.lean", "pos": {"line": 1, "column": 0}, "severity": "warning", "data": "w"})
    assert first_error((warn + "\n" + js + "\n").encode()) == "A.lean:3:4: unsolved goals"
    assert first_error(b"A.lean:2:0: error: simp made no progress\n") == "A.lean:2:0: simp made no progress"
    assert first_error(b"", b"boom\n") == "boom"
    assert error_kind("A.lean:3:4: unsolved goals") == "unsolved goals"
    assert error_kind(None) == "unknown"


def test_the_import_closure_is_read_from_the_setup_file(tmp_path):
    """Lake writes the transitive closure into `importArts` (contract §9b): its size is a
    feature of the compile. No setup file, no `importArts`, or an unreadable file: None."""
    from simpulse.lake.leanargs import import_closure
    setup = tmp_path / "a.setup.json"
    setup.write_text(json.dumps({"name": "A", "importArts": {"B": ["b.olean"], "C": ["c.olean"], "D": ["d.olean"]}}))
    assert import_closure(parse(["A.lean", "-o", "A.olean", "--setup", str(setup), "--json"])) == 3
    assert import_closure(parse(["A.lean", "-R", ".", "-o", "A.olean", "--json"])) is None
    other = tmp_path / "b.setup.json"
    other.write_text(json.dumps({"name": "B"}))
    assert import_closure(parse(["B.lean", "-o", "B.olean", "--setup", str(other)])) is None
    broken = tmp_path / "c.setup.json"
    broken.write_text("{not json")
    assert import_closure(parse(["C.lean", "-o", "C.olean", "--setup", str(broken)])) is None
    assert import_closure(parse(["D.lean", "-o", "D.olean", "--setup", str(tmp_path / "missing.json")])) is None
