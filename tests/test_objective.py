"""The build objective (issue 20, item 3): what a compile costs the build
(simpulse/model/objective.py), the live-compile markers that count the compiles running beside
it (simpulse/shim/running.py), the config key, and what the learner learns under each."""

from __future__ import annotations

import math
import os
import signal
import time

import pytest

from simpulse.config import load_config
from simpulse.errors import SimpulseError
from simpulse.learner import Learner
from simpulse.model import objective as O
from simpulse.model.fold import fold
from simpulse.model.records import empty_stats
from simpulse.shim.running import DIR, Marker, count
from simpulse.strategy.catalogue import Catalogue


# --- the cost -------------------------------------------------------------------------------

def test_cost_is_wall_time_alone_and_fair_share_time_on_a_taken_machine():
    # alone (n = 1): the build waits for this compile: its wall time, exactly
    assert O.cost(1.0, cpu=3.0, conc=1, cores=4) == 1.0
    # a compile per core (n ≥ k): CPU · n / k, whatever the wall time
    assert O.cost(1.0, cpu=0.5, conc=2, cores=2) == pytest.approx(0.5)
    assert O.cost(0.2, cpu=0.5, conc=6, cores=4) == pytest.approx(0.75)
    # in between, the geometric blend: half the machine taken on 3 cores (n = 2, w = 1/2)
    assert O.cost(1.0, cpu=0.6, conc=2, cores=3) == pytest.approx(math.sqrt(1.0 * 0.4))
    # one core: any compile takes the machine
    assert O.cost(1.0, cpu=0.3, conc=1, cores=1) == pytest.approx(0.3)


def test_a_strategy_that_only_spreads_work_gains_nothing_once_the_cores_are_taken():
    # the same CPU on more threads: faster alone, the same cost on a taken machine
    spread, serial = dict(wall=0.5, cpu=1.0), dict(wall=1.0, cpu=1.0)
    assert O.cost(**spread, conc=1, cores=2) < O.cost(**serial, conc=1, cores=2)
    assert O.cost(**spread, conc=2, cores=2) == O.cost(**serial, conc=2, cores=2)
    # less CPU, slower alone: cheaper for a build that takes the machine
    lean = dict(wall=1.1, cpu=0.8)
    assert O.cost(**lean, conc=2, cores=2) < O.cost(**spread, conc=2, cores=2)


@pytest.mark.parametrize("cpu,conc,cores", [
    (None, 2, 2), (1.0, None, 2), (1.0, 2, None), (True, 2, 2), (float("nan"), 2, 2),
    (-1.0, 2, 2), (0.0, 2, 2), (1.0, 0, 2), (1.0, 2, 0), (1e300, 1e5, 1), ("1", 2, 2)])
def test_absent_or_implausible_measurements_cost_the_wall_time(cpu, conc, cores):
    assert O.cost(0.7, cpu=cpu, conc=conc, cores=cores) == 0.7


def test_the_module_objective_is_the_wall_time():
    assert O.cost(1.0, cpu=0.5, conc=2, cores=2, objective="module") == 1.0
    ev = {"kind": "compile", "cpu": 0.5, "conc": 2, "cores": 2, "objective": "module"}
    assert O.event_cost(ev, 1.0) == 1.0
    assert O.event_cost(dict(ev, objective="build"), 1.0) == pytest.approx(0.5)
    assert O.event_cost({k: v for k, v in ev.items() if k != "objective"}, 1.0) == pytest.approx(0.5)
    assert O.event_cost(dict(ev, kind="record"), 1.0) == 1.0


# --- the fold -------------------------------------------------------------------------------

def _events(n: int, fields: dict | None, seed: int = 4) -> list[dict]:
    lrn = Learner(None, seed=seed, toolchain="cafe")
    out = []
    lrn.record_event = lambda e: out.append(e)
    import random
    rng = random.Random(seed)
    for i in range(n):
        d = lrn.choose(module=f"M{i % 7}", context="general", features={"lines": 40 + i % 7})
        lrn.observe(d, seconds=0.5 + rng.random(), cpu=0.3 + rng.random(), extra=fields)
    return out


def test_without_concurrency_the_fold_is_unchanged_bit_for_bit():
    """Events without `conc` (the learning benchmark's, older ones) fold exactly as before the
    objective: the same statistics as the events with their CPU time removed."""
    evs = _events(60, None)
    a, b = empty_stats(), empty_stats()
    for e in evs:
        fold(a, e)
        fold(b, dict(e, cpu=None))
    assert a == b
    # and under the module objective the measurements change nothing the model learns
    c, d = empty_stats(), empty_stats()
    for e in evs:
        fold(c, e)
        fold(d, dict(e, conc=2.0, cores=2, objective="module"))
    assert c["toolchains"]["cafe"]["arms"] == d["toolchains"]["cafe"]["arms"]
    assert c["counters"] == d["counters"]


def test_the_counters_stay_in_wall_seconds_under_the_build_objective():
    evs = _events(40, {"conc": 2.0, "cores": 2, "objective": "build"})
    s = empty_stats()
    for e in evs:
        fold(s, e)
    assert s["counters"]["seconds"] == pytest.approx(sum(e["wall"] for e in evs))


def _learn(objective: str) -> dict[str, float]:
    """Two strategies on a taken machine (2 compiles, 2 cores): `threads-2` 20 % faster alone
    but 40 % more CPU, `single-thread` slower and leaner. The posterior effect of each."""
    cat = Catalogue(enabled=["threads-2", "single-thread"])
    lrn = Learner(None, seed=11, toolchain="cafe", catalogue=cat)
    import random
    rng = random.Random(5)
    for i in range(240):
        d = lrn.choose(module=f"M{i % 12}", context="general", features={"lines": 50 + 10 * (i % 12)})
        level = 0.3 + 0.05 * (i % 12)
        wall, cpu = {"baseline": (1.0, 1.5), "threads-2": (0.8, 2.1), "single-thread": (1.1, 1.1)}[d.strategy.name]
        noise = math.exp(rng.gauss(0, 0.05))
        lrn.observe(d, seconds=level * wall * noise, cpu=level * cpu * noise,
                    extra={"conc": 2.0, "cores": 2, "objective": objective})
    jp = lrn.joint_posterior("general")
    return {s: jp.marginal(s).mu for s in ("threads-2", "single-thread")}


def test_the_build_objective_learns_the_lean_strategy_and_the_module_objective_the_fast_one():
    build, module = _learn("build"), _learn("module")
    assert build["single-thread"] < build["threads-2"]
    assert build["single-thread"] == pytest.approx(math.log(1.1 / 1.5), abs=0.1)
    assert module["threads-2"] < module["single-thread"]
    assert module["threads-2"] == pytest.approx(math.log(0.8), abs=0.1)


# --- the markers ----------------------------------------------------------------------------

def _hold_marker(state: str):
    """A child process holding a marker until killed; returns its pid once the marker exists."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            m = Marker(state)
            m.enter()
            os.write(w, b"x")
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    return pid


def test_markers_count_live_compiles_and_a_killed_one_leaves_no_count(tmp_path):
    state = str(tmp_path)
    m = Marker(state)
    assert m.enter() == 1
    other = _hold_marker(state)
    try:
        assert count(os.path.join(state, DIR), m.name) == 2
        os.kill(other, signal.SIGKILL)             # no chance to remove its marker
        os.waitpid(other, 0)
        assert str(other) in os.listdir(os.path.join(state, DIR))
        assert m.leave() == 1                      # counted as gone, and removed there
        assert os.listdir(os.path.join(state, DIR)) == []
    finally:
        try:
            os.kill(other, signal.SIGKILL)
            os.waitpid(other, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
    assert m.leave() is None                       # idempotent


def test_marker_leftovers_and_strangers(tmp_path):
    d = tmp_path / DIR
    d.mkdir()
    (d / "12345.new").write_text("")               # a shim between create and rename: left alone...
    (d / "notes.txt").write_text("")               # ...and what is not a marker, ignored
    assert count(str(d)) == 0
    assert sorted(os.listdir(d)) == ["12345.new", "notes.txt"]
    old = time.time() - 3600
    os.utime(d / "12345.new", (old, old))           # an old one was left by a crash: removed
    assert count(str(d)) == 0 and sorted(os.listdir(d)) == ["notes.txt"]
    assert count(str(tmp_path / "missing")) is None


def test_a_marker_fails_open(tmp_path):
    (tmp_path / DIR).write_text("not a directory")
    assert Marker(str(tmp_path)).enter() is None


# --- the setting ----------------------------------------------------------------------------

def test_objective_is_a_checked_setting(tmp_path):
    assert load_config(tmp_path, env={})["objective"] == "build"
    assert load_config(tmp_path, env={"SIMPULSE_OBJECTIVE": "module"})["objective"] == "module"
    (tmp_path / "simpulse.toml").write_text('[simpulse]\nobjective = "wall"\n')
    with pytest.raises(SimpulseError, match="objective must be one of build, module"):
        load_config(tmp_path, env={})
    (tmp_path / "simpulse.toml").write_text('[simpulse]\nobjective = "module"\n')
    assert load_config(tmp_path, env={})["objective"] == "module"


def test_markers_are_never_made_or_removed_through_a_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "4242").write_text("someone's file")      # would look like a stale marker
    state = tmp_path / "state"
    state.mkdir()
    (state / DIR).symlink_to(elsewhere)
    assert Marker(str(state)).enter() is None
    assert count(str(state / DIR)) is None
    assert os.listdir(elsewhere) == ["4242"]
