"""`simpulse export` / `simpulse import` and the format of `simpulse.exchange` (docs/export-format.md)."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from conftest import cli, Project, scratch_project
from simpulse import exchange
from simpulse.errors import SimpulseError
from simpulse.learner import Learner
from simpulse.store.store import Store
from simpulse.strategy.catalogue import Catalogue


@pytest.fixture(scope="module")
def built(tmp_path_factory, sim_toolchain) -> Project:
    """Two simulated builds (the second after an edit of Basic, so every module recompiles)."""
    proj = scratch_project(tmp_path_factory.mktemp("exchange"), sim_toolchain)
    root = proj.root
    # every strategy runs (the user's explicit choice of profile): the exchange carries them all
    proj.simpulse("build", "--seed", "1", "--profile", "aggressive", check=0)
    with open(root / "Fixtures" / "Basic.lean", "a") as f:
        f.write("\n-- an edit\n")
    proj.simpulse("build", "--seed", "2", "--profile", "aggressive", check=0)
    return proj


@pytest.fixture(scope="module")
def exported(built, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("export") / "team.json"
    built.simpulse("export", str(out), check=0)
    return json.loads(out.read_text())


def close(a, b, rel=1e-9) -> bool:
    """Equal structures, numbers equal to a relative `rel`."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a == pytest.approx(b, rel=rel, abs=1e-12)
    return a == b


def state_files(sdir):
    """Everything in a state directory, with contents (compared before/after a refused import)."""
    if not sdir.exists():
        return None
    return {str(p.relative_to(sdir)): p.read_bytes() for p in sorted(sdir.rglob("*")) if p.is_file()}


def test_export_shape(built, exported):
    doc = exported
    assert doc["format"] == "simpulse-export" and doc["version"] == 2
    assert set(doc) == {"format", "version", "created", "simpulse_version", "origin", "toolchains", "strategies",
                        "priors"}
    # the exporting state's id, kept in its directory and the same at every export
    assert doc["origin"] == (built.state / "origin").read_text().strip() and len(doc["origin"]) == 16
    (githash, tc), = doc["toolchains"].items()
    assert set(tc) == {"arms", "glob", "joint", "noise", "contexts", "modules", "simulated"}
    assert tc["simulated"] is True
    assert all(len(a) == 6 for by in tc["arms"].values() for a in by.values())
    # module names are hashed by default: 16 hex digits, nothing of the project's names
    assert len(tc["modules"]) == 16
    assert all(len(k) == 16 and all(c in "0123456789abcdef" for c in k) for k in tc["modules"])
    assert "Fixtures" not in json.dumps(tc["modules"])
    # the definitions of exactly the strategies its statistics mention
    mentioned = {s for by in tc["arms"].values() for s in by} | set(tc["glob"])
    assert {d["name"] for d in doc["strategies"]} == mentioned and len(mentioned) >= 2
    exchange.validate(doc)          # what export writes, import accepts


def test_export_include_paths(built, tmp_path):
    out = tmp_path / "named.json"
    p = built.simpulse("export", str(out), "--include-paths", "--json", check=0)
    info = json.loads(p.stdout)
    assert info["module_names"] == "included" and info["toolchains"][0]["simulated"] is True
    tc = next(iter(json.loads(out.read_text())["toolchains"].values()))
    assert "Fixtures.Arith" in tc["modules"]
    assert tc["modules"]["Fixtures.Arith"]["context"] == "arith"


def test_round_trip_is_exact_at_weight_1(built, exported, tmp_path):
    src = tmp_path / "team.json"
    src.write_text(exchange.dumps(exported))
    empty = tmp_path / "empty-state"
    p = built.simpulse("import", str(src), "--weight", "1", "--state-dir", str(empty), check=0)
    assert "merged" in p.stdout and "SIMULATED" in p.stdout
    a = Learner(built.state).stats
    b = Learner(empty).stats
    (githash,) = a["order"]
    assert b["order"] == [githash]
    assert b["toolchains"][githash]["arms"] == a["toolchains"][githash]["arms"]
    assert b["toolchains"][githash]["glob"] == a["toolchains"][githash]["glob"]
    sa = json.loads(built.simpulse("stats", "--json", check=0).stdout)
    sb = json.loads(built.simpulse("stats", "--json", "--state-dir", str(empty), check=0).stdout)
    # the same posteriors, to rounding: an export integrates the project's own regression of
    # level on features out of its joint blocks (exact in algebra, not in the last bits)
    # an import with no evidence of the project's own to weigh it against: even odds, and used
    assert all(r.pop("import_fit") is None for r in sa["leaderboard"])
    assert all(r.pop("import_fit") == pytest.approx(0.5) for r in sb["leaderboard"])
    assert sa["leaderboard"] and close(sb["leaderboard"], sa["leaderboard"])
    shown = built.simpulse("stats", "--state-dir", str(empty), check=0).stdout
    assert "imported evidence in" in shown and "P = 0.50 (used)" in shown
    # an export holds what the project measured: here nothing, the import is not passed on ...
    again = tmp_path / "again.json"
    p = built.simpulse("export", str(again), "--state-dir", str(empty), check=0)
    assert "imported evidence left out (pass --include-imported" in p.stdout
    assert json.loads(again.read_text())["toolchains"] == {}
    # ... unless asked to: then it gives the same statistics back
    built.simpulse("export", str(again), "--state-dir", str(empty), "--include-imported", check=0)
    tc2 = json.loads(again.read_text())["toolchains"][githash]
    assert tc2["arms"] == exported["toolchains"][githash]["arms"]
    assert tc2["glob"] == exported["toolchains"][githash]["glob"]
    # one import event, shaped as documented
    (ev,) = [e for e in Store(empty, create=False).iter_events() if e.get("kind") == "import"]
    assert ev["v"] == 1 and ev["weight"] == 1.0 and ev["source"] == "team.json" and ev["id"] and ev["ts"]
    assert set(ev["toolchains"][githash]) >= {"arms", "glob"}


def test_weight_discounts_evidence(built, exported, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    src = tmp_path / "team.json"
    src.write_text(exchange.dumps(exported))
    sdir = tmp_path / "half"
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["merged"] and res["weight"] == 0.5 and res["dropped_strategies"] == {}
    (githash,) = exported["toolchains"]
    got = Learner(sdir).stats["toolchains"][githash]["arms"]
    for ctx, by in exported["toolchains"][githash]["arms"].items():
        for name, arm in by.items():
            assert got[ctx][name] == pytest.approx([0.5 * x for x in arm])
    # the same bytes again: refused (double counting), unless --again
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir))
    assert code == 2 and "already imported" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir), "--again")
    assert code == 0


def test_import_then_stats_labels_and_prior(built, exported, tmp_path, capsys, monkeypatch):
    """Imported knowledge of an *earlier* toolchain is a discounted prior, never the current one."""
    monkeypatch.chdir(built.root)
    doc = copy.deepcopy(exported)
    (githash,) = doc["toolchains"]
    doc["toolchains"] = {"0ld" + githash[3:]: doc["toolchains"][githash]}
    doc["origin"] = "0123456789abcdef"         # another state's (this one's own would be refused)
    src = tmp_path / "old.json"
    src.write_text(exchange.dumps(doc))
    sdir = tmp_path / "state"
    shutil.copytree(built.state, sdir)
    before = Learner(sdir).stats["order"]
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir))
    assert code == 0, err
    order = Learner(sdir).stats["order"]
    assert order[-1] == before[-1] and order[0] == "0ld" + githash[3:]


# --------------------------------------------------------------------------- strategies in the file

def _with_user_strategy(doc: dict, name: str, options: dict) -> dict:
    doc = copy.deepcopy(doc)
    (githash,) = doc["toolchains"]
    tc = doc["toolchains"][githash]
    tc["arms"].setdefault("arith", {})[name] = [2.0, -0.4, 0.1, 2, 0, 2]
    tc["glob"][name] = [2.0, -0.4, 0.1, 2, 0, 2]
    doc["strategies"].append({"name": name, "description": "from a colleague", "options": options,
                              "args": [], "changes_diagnostics": True, "may_break": False})
    return doc


def test_unknown_strategy_dropped_unless_trusted(built, exported, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    doc = _with_user_strategy(exported, "no-unused", {"linter.unusedVariables": "false"})
    src = tmp_path / "team.json"
    src.write_text(exchange.dumps(doc))
    sdir = tmp_path / "s1"
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir))
    assert code == 0, err
    assert "dropped the statistics of strategy 'no-unused'" in out and "--trust-strategies" in out
    (githash,) = doc["toolchains"]
    assert "no-unused" not in Learner(sdir).stats["toolchains"][githash]["arms"]["arith"]
    assert not (sdir / "imported-strategies.json").exists()

    sdir = tmp_path / "s2"
    outside = sorted(p for p in tmp_path.rglob("*") if sdir not in p.parents and p != sdir)
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir), "--trust-strategies")
    assert code == 0, err
    assert sorted(p for p in tmp_path.rglob("*") if sdir not in p.parents and p != sdir) == outside
    defs = json.loads((sdir / "imported-strategies.json").read_text())
    assert [d["name"] for d in defs] == ["no-unused"]
    assert Learner(sdir).stats["toolchains"][githash]["arms"]["arith"]["no-unused"][3] == 1.0
    code, out, err = cli(capsys, "strategies", "--json", "--state-dir", str(sdir))
    row = next(r for r in json.loads(out) if r["name"] == "no-unused")
    # a linter switch may change messages: imported, and used only where the profile allows it
    assert row["source"] == "imported" and row["changes"] == ["messages"] and row["active"] is False
    monkeypatch.setenv("SIMPULSE_PROFILE", "dev")
    code, out, err = cli(capsys, "strategies", "--json", "--state-dir", str(sdir))
    row = next(r for r in json.loads(out) if r["name"] == "no-unused")
    assert row["source"] == "imported" and row["active"] is True


def test_strategy_defined_differently_is_dropped(built, exported, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    doc = copy.deepcopy(exported)
    for d in doc["strategies"]:
        if d["name"] == "no-linters":
            d["options"] = {"linter.unusedVariables": "false"}
    src = tmp_path / "team.json"
    src.write_text(exchange.dumps(doc))
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(tmp_path / "s"), "--json")
    assert code == 0, err
    assert "defined differently" in json.loads(out)["dropped_strategies"]["no-linters"]


# --------------------------------------------------------------------------- hostile files

def _mutations(doc: dict) -> dict:
    (g,) = doc["toolchains"]
    ctx = next(iter(doc["toolchains"][g]["arms"]))
    cases = {}

    def case(name, fn, raw=None):
        d = copy.deepcopy(doc)
        fn(d)
        cases[name] = raw if raw is not None else json.dumps(d)

    case("unknown top-level field", lambda d: d.update(extra=1))
    case("unknown toolchain field", lambda d: d["toolchains"][g].update(secret={}))
    case("unknown strategy field", lambda d: d["strategies"][0].update(run="rm -rf /"))
    case("too many toolchains", lambda d: d["toolchains"].update(
        {f"t{i}": {"arms": {}, "glob": {}} for i in range(70)}))
    case("too many contexts", lambda d: d["toolchains"][g]["arms"].update(
        {f"c{i}": {"baseline": [0, 0, 0, 1, 0, 0]} for i in range(300)}))
    case("too many strategy definitions", lambda d: d["strategies"].extend(
        {"name": f"s{i}", "options": {"linter.all": "false"}} for i in range(300)))
    case("skipKernelTC", lambda d: d["strategies"].append(
        {"name": "turbo", "options": {"debug.skipKernelTC": "true"}}))
    case("forbidden lean argument", lambda d: d["strategies"].append(
        {"name": "plugin", "args": ["--plugin", "/tmp/evil.so"]}))
    case("traversal in a context", lambda d: d["toolchains"][g]["arms"].update(
        {"../../etc": {"baseline": [0, 0, 0, 1, 0, 0]}}))
    case("traversal in a strategy", lambda d: d["toolchains"][g]["glob"].update(
        {"../x": [0, 0, 0, 1, 0, 0]}))
    case("slash in a toolchain", lambda d: d["toolchains"].update({"a/b": {"arms": {}, "glob": {}}}))
    case("traversal in a module key", lambda d: d["toolchains"][g]["modules"].update(
        {"../../x": {"context": ctx, "counts": {}}}))
    case("control character", lambda d: d["toolchains"][g]["arms"].update(
        {"ctx\n": {"baseline": [0, 0, 0, 1, 0, 0]}}))
    def first_arm(d):
        arms = d["toolchains"][g]["arms"][ctx]
        return arms[next(iter(arms))]

    case("NaN", lambda d: first_arm(d).__setitem__(0, float("nan")))        # json.dumps writes NaN
    sentinel = copy.deepcopy(doc)
    first_arm(sentinel)[0] = 123456.25
    case("overflowing number", lambda d: None, raw=json.dumps(sentinel).replace("123456.25", "1e400", 1))
    case("negative count", lambda d: d["toolchains"][g]["arms"][ctx].update(baseline=[0, 0, 0, -5, 0, 0]))
    case("short arm", lambda d: d["toolchains"][g]["arms"][ctx].update(baseline=[0, 0, 0, 1, 0]))
    case("boolean as number", lambda d: d["toolchains"][g]["arms"][ctx].update(baseline=[True, 0, 0, 1, 0, 0]))
    case("string as number", lambda d: d["toolchains"][g]["glob"].update(baseline=["1", 0, 0, 1, 0, 0]))
    case("truncated file", lambda d: None, raw=json.dumps(doc)[: len(json.dumps(doc)) // 2])
    case("newer version", lambda d: d.update(version=3, newfield={}))
    case("origin in a version 1 file", lambda d: d.update(version=1))
    case("origin not hex", lambda d: d.update(origin="../etc"))
    case("other format", lambda d: d.update(format="something-else"))
    case("duplicate key", lambda d: None, raw=json.dumps(doc)[:-1] + ', "version": 1}')
    case("not an object", lambda d: None, raw="[1, 2, 3]")
    case("deeply nested", lambda d: d["priors"].update(model={"x": json.loads("[" * 50 + "]" * 50)}))
    jctx = next(c for c, b in doc["toolchains"][g]["joint"].items() if len(b["names"]) >= 2)

    def indefinite(d):
        block = d["toolchains"][g]["joint"][jctx]
        n = len(block["names"])
        block["M"] = [[1.0 if i == j else 5.0 for j in range(n)] for i in range(n)]

    def asymmetric(d):
        block = d["toolchains"][g]["joint"][jctx]
        block["M"][0][1] = block["M"][0][1] + 3.0

    case("indefinite joint block", indefinite)
    case("asymmetric joint block", asymmetric)
    case("joint block of the wrong size", lambda d: d["toolchains"][g]["joint"][jctx]["b"].append(0.0))
    case("unknown joint field", lambda d: d["toolchains"][g]["joint"][jctx].update(code="x"))
    valid = json.dumps(doc)
    assert all(raw != valid for raw in cases.values())        # every mutation changed something
    return cases


def test_every_cut_of_a_file_is_reported_as_truncated():
    """A file cut anywhere — inside a string, a negative number, an exponent, a literal, between
    tokens — is "not valid JSON (truncated?)"; a file with garbage in the middle or after its end
    is not called truncated."""
    text = json.dumps({"format": "simpulse-export", "x": [-0.25, 1.5e-07, 3, True, False, None],
                       "name": "no-linters", "nested": {"a": [[1, -2.0], {"b": "c d"}]}})
    for n in range(len(text)):
        with pytest.raises(SimpulseError, match=r"not valid JSON \(truncated\?\)"):
            exchange.parse(text[:n].encode())
    for bad in (text[:40] + "@" + text[41:], text + "xyz", text.replace("[-0.25", "[- 0.25")):
        with pytest.raises(SimpulseError) as e:
            exchange.parse(bad.encode())
        assert "not valid JSON:" in str(e.value) and "truncated" not in str(e.value)


def test_hostile_imports_are_refused_and_merge_nothing(built, exported, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    sdir = tmp_path / "state"
    code, out, err = cli(capsys, "record", "Fixtures/Arith.lean", "arith", "no-linters", "2", "1", "--state-dir", str(sdir))
    assert code == 0, err
    before = state_files(sdir)
    messages = {}
    for name, raw in _mutations(exported).items():
        src = tmp_path / "hostile.json"
        src.write_text(raw)
        code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir), "--trust-strategies", "--weight", "1")
        assert code == 2, (name, out, err)
        assert err.startswith("simpulse: error:") and len(err.strip().splitlines()) == 1, (name, err)
        assert "Traceback" not in err
        assert state_files(sdir) == before, name          # nothing merged, nothing written
        messages[name] = err
    assert "newer simpulse" in messages["newer version"] and "upgrade" in messages["newer version"]
    assert "debug.skipKernelTC" in messages["skipKernelTC"]
    assert "truncated" in messages["truncated file"]
    assert "NaN" in messages["NaN"]
    assert "unknown field 'extra'" in messages["unknown top-level field"]
    assert "more than the limit" in messages["too many toolchains"]
    assert "not allowed" in messages["traversal in a context"]
    assert "duplicate key" in messages["duplicate key"]
    assert "positive semi-definite" in messages["indefinite joint block"]
    assert "not symmetric" in messages["asymmetric joint block"]


def test_oversized_file_refused(built, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(built.root)
    src = tmp_path / "big.json"
    with open(src, "wb") as f:
        f.write(b'{"format": "simpulse-export", "version": 1, "toolchains": {}, "pad": "')
        f.write(b"x" * (exchange.MAX_BYTES + 1))
        f.write(b'"}')
    sdir = tmp_path / "never-created"
    code, out, err = cli(capsys, "import", str(src), "--state-dir", str(sdir))
    assert code == 2 and "larger than 20 MB" in err
    assert not sdir.exists()


@pytest.mark.parametrize("w", ["0", "1.5", "-1", "nan"])
def test_bad_weight(built, exported, tmp_path, capsys, monkeypatch, w):
    monkeypatch.chdir(built.root)
    src = tmp_path / "team.json"
    src.write_text(exchange.dumps(exported))
    code, out, err = cli(capsys, "import", str(src), f"--weight={w}", "--state-dir", str(tmp_path / "s"))
    assert code == 2 and "--weight" in err
    assert not (tmp_path / "s").exists()


def test_validate_unit():
    doc = exchange.build_export({"schema": 1, "order": [], "toolchains": {}, "counters": {}})
    exchange.validate(doc)
    with pytest.raises(SimpulseError, match="newer"):
        exchange.validate(dict(doc, version=7))
    with pytest.raises(SimpulseError, match="NaN"):
        exchange.parse(b'{"x": NaN}')
    with pytest.raises(SimpulseError, match="Infinity"):
        exchange.parse(b'{"x": -Infinity}')
    plan = exchange.plan_import(doc, Catalogue())
    assert plan.payload == {} and plan.dropped == {}
    with pytest.raises(SimpulseError):
        exchange.import_event({}, weight=0.0, source="x")


def test_a_newer_export_of_the_same_state_replaces_the_earlier(built, exported, tmp_path):
    """(Last in this file: it builds `built` on.) A team's CI exports its growing state every
    night: each file holds the one before it.
    An import of a newer export of the same state (`origin`) replaces what the earlier import
    brought instead of counting it again; the state's own export is refused; the exact bytes
    again are refused as before."""
    (githash,) = exported["toolchains"]
    older = tmp_path / "monday.json"
    older.write_text(exchange.dumps(exported))
    # the state compiles on, and exports again
    with open(built.root / "Fixtures" / "Basic.lean", "a") as f:
        f.write("\n-- another edit\n")
    built.simpulse("build", "--seed", "3", check=0)
    newer = tmp_path / "tuesday.json"
    built.simpulse("export", str(newer), check=0)
    tuesday = json.loads(newer.read_text())
    assert tuesday["origin"] == exported["origin"]
    n_old = sum(a[3] for by in exported["toolchains"][githash]["arms"].values() for a in by.values())
    n_new = sum(a[3] for by in tuesday["toolchains"][githash]["arms"].values() for a in by.values())
    assert n_new > n_old
    # its own exports are refused by the state itself, and nothing is written
    before = state_files(built.state)
    p = built.simpulse("import", str(newer), check=2)
    assert "is an export of this state" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert state_files(built.state) == before
    # elsewhere: Monday's, then Tuesday's ...
    sdir = tmp_path / "dev"
    built.simpulse("import", str(older), "--weight", "0.5", "--state-dir", str(sdir), check=0)
    p = built.simpulse("import", str(newer), "--weight", "0.5", "--state-dir", str(sdir), check=0)
    assert "it replaces what that one brought" in p.stdout and "monday.json" in p.stdout
    # ... leave what Tuesday's alone would have
    only = tmp_path / "only-tuesday"
    built.simpulse("import", str(newer), "--weight", "0.5", "--state-dir", str(only), check=0)
    a, b = Learner(sdir).stats["toolchains"][githash], Learner(only).stats["toolchains"][githash]
    assert close(a["arms"], b["arms"]) and close(a["glob"], b["glob"]) and close(a["noise"], b["noise"])
    for ctx, block in b["J"].items():
        other = a["J"][ctx]
        order = [other["names"].index(n) for n in block["names"]]
        assert close([[other["M"][i][j] for j in order] for i in order], block["M"])
        assert close([other["b"][i] for i in order], block["b"])
    assert close(a["imp"]["arms"], b["imp"]["arms"])
    # `simpulse stats` lists the imports the statistics hold: Tuesday's, which replaced Monday's
    held = json.loads(built.simpulse("stats", "--json", "--state-dir", str(sdir), check=0).stdout)["imports"]
    assert [(e["source"], e["weight"], e["origin"], e["replaces"]) for e in held] == \
        [("tuesday.json", 0.5, exported["origin"], "monday.json")]
    shown = " ".join(built.simpulse("stats", "--state-dir", str(sdir), check=0).stdout.split())   # unwrapped
    assert "imported: tuesday.json at weight 0.5" in shown and "replaced monday.json" in shown
    # the same bytes again: refused, with the reason that holds for a file with an origin
    p = built.simpulse("import", str(newer), "--state-dir", str(sdir), check=2)
    assert "would change nothing" in p.stderr


def test_state_origin(tmp_path):
    """Made once, kept, private; an unreadable one is replaced; none is made when not asked."""
    assert exchange.state_origin(tmp_path, create=False) is None and not (tmp_path / "origin").exists()
    a = exchange.state_origin(tmp_path)
    assert exchange.state_origin(tmp_path) == a == exchange.state_origin(tmp_path, create=False)
    assert len(a) == 16 and (tmp_path / "origin").stat().st_mode & 0o777 == 0o600
    (tmp_path / "origin").write_text("not an id\n")
    b = exchange.state_origin(tmp_path)
    assert b != a and exchange.state_origin(tmp_path) == b
    assert sorted(p.name for p in tmp_path.iterdir()) == ["origin"]      # no temporary left behind
