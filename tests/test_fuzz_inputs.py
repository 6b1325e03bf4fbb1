"""Fuzzing the inputs a user hands simpulse besides its own state (issue 19): export files and
`simpulse.toml`. Fixed seeds. For each mutation: no traceback — the input is accepted or refused
with simpulse's own one-line error — and, for an import, nothing lost from the state it would
merge into. (Snapshots and event lines: tests/test_fuzz_state.py.)"""

import copy
import json
import random

import pytest

from simpulse import exchange
from simpulse.config import catalogue_for, load_config
from simpulse.errors import SimpulseError
from simpulse.learner import Learner, fold
from simpulse.strategy.catalogue import Catalogue

N_EXPORTS = 700
N_TOMLS = 700


def _export_doc() -> dict:
    lrn = Learner(None, seed=1, toolchain="a" * 40)
    rng = random.Random(3)
    for i in range(60):
        d = lrn.choose(module=f"M{i % 12}", source=f"theorem t{i} : {i} + 1 = {i + 1} := by simp\n".encode())
        lrn.observe(d, seconds=0.5 + rng.random(), ok=rng.random() > 0.05, fallback_seconds=0.6, fallback_ok=True)
    return exchange.build_export(lrn.stats, lrn.catalogue, origin="f" * 32)


def _mutate_value(rng: random.Random, v):
    choices = [None, True, "x", "\x00\n", -1, 0, 1e308, -1e308, float("nan"), float("inf"), [], {}, [[[]]],
               "linter.x\n", "²", 10 ** 30, {"a": {"b": {"c": {}}}}]
    if isinstance(v, (int, float)) and not isinstance(v, bool) and rng.random() < 0.5:
        return v * rng.choice([-1, 0, 1e9, 1e-9, 1e300])
    return rng.choice(choices)


def _paths(x, prefix=()):
    yield prefix
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, prefix + (i,))


def _set(doc, path, value):
    """Put `value` at `path` when the path still leads somewhere (an earlier mutation may have
    replaced a node on it)."""
    cur = doc
    try:
        for p in path[:-1]:
            cur = cur[p]
        cur[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass


def _text_mutation(rng: random.Random, text: str) -> str:
    b = bytearray(text.encode())
    kind = rng.randrange(4)
    if kind == 0 and b:                                   # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:                                       # truncation
        b = b[:rng.randrange(len(b) + 1)]
    elif kind == 2:                                       # control characters
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes([rng.choice([0, 1, 7, 10, 13, 27, 127])]) * rng.randint(1, 3)
    else:                                                 # deep nesting
        return text + "[" * 5000
    return b.decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def export_doc():
    return _export_doc()


def test_fuzz_export_files(export_doc, tmp_path):
    rng = random.Random(20261206)
    paths = [p for p in _paths(export_doc) if p]
    base_stats = Learner(None, seed=2, toolchain="b" * 40).stats
    accepted = refused = 0
    for n in range(N_EXPORTS):
        if n % 2:
            doc = copy.deepcopy(export_doc)
            for _ in range(rng.randint(1, 3)):
                _set(doc, rng.choice(paths), _mutate_value(rng, None))
            try:
                raw = json.dumps(doc, allow_nan=True).encode()
            except (TypeError, ValueError):
                continue
        else:
            raw = _text_mutation(rng, exchange.dumps(export_doc)).encode()
        try:
            doc = exchange.parse(raw)
            exchange.validate(doc)
            plan = exchange.plan_import(doc, Catalogue())
        except SimpulseError as e:
            assert "\n" not in str(e).strip(), str(e)
            refused += 1
            continue
        accepted += 1
        # what would be merged folds into a state without losing what it holds
        stats = copy.deepcopy(base_stats)
        before = stats["counters"]["compiles"]
        fold(stats, exchange.import_event(plan.payload, weight=0.5, source="fuzz"))
        assert stats["counters"]["compiles"] == before
    assert accepted and refused and accepted + refused >= N_EXPORTS * 0.9


def test_fuzz_simpulse_toml(tmp_path):
    rng = random.Random(61206)
    good = ('[simpulse]\nmode = "auto"\npolicy = "thompson"\nprofile = "dev"\nexplore_budget = 0.3\n'
            'enabled = ["no-async", "no-linters", "mine"]\n\n'
            '[strategies.mine]\noptions = { "linter.unusedVariables" = false }\nchanges = ["messages"]\n'
            'args = ["-j", "2"]\nmay_break = false\n')
    with_problems = 0
    for _ in range(N_TOMLS):
        (tmp_path / "simpulse.toml").write_text(_text_mutation(rng, good), encoding="utf-8", errors="replace")
        problems: list[str] = []
        cfg = load_config(tmp_path, env={}, problems=problems)      # never raises: a build goes on
        cat = catalogue_for(cfg, problems=problems)
        assert cat.get("baseline") in cat.active
        assert all(isinstance(p, str) and "\n" not in p.strip() for p in problems)
        with_problems += bool(problems)
        with pytest.raises(SimpulseError) if problems else _nothing():
            catalogue_for(load_config(tmp_path, env={}))              # the strict reading names the first one
    assert 0 < with_problems < N_TOMLS


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_build_under_fuzzed_configurations_is_plain_lakes(project, tmp_path):
    """A few of the fuzzed configurations, each under a real `simpulse build` (simulated
    toolchain): the build passes and writes what plain `lake build` writes."""
    rng = random.Random(7)
    good = ('[simpulse]\nprofile = "safe"\n\n[strategies.mine]\noptions = { "Elab.async" = false }\n'
            'args = ["-j", "2"]\n')
    plain = project.copy(tmp_path / "plain")
    plain.lake("build", "Fixtures.Trees", check=0)
    for i in range(3):
        (project.root / "simpulse.toml").write_text(_text_mutation(rng, good), encoding="utf-8", errors="replace")
        for p in (project, plain):
            with open(p.root / "Fixtures" / "Trees.lean", "a") as f:
                f.write(f"\n-- edit {i}\n")
        plain.lake("build", "Fixtures.Trees", check=0)
        got = project.simpulse("build", "Fixtures.Trees")
        assert got.returncode == 0 and "Traceback" not in got.stderr
        assert project.outputs() == plain.outputs()
