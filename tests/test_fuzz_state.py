"""Fuzzing the state directory (issue 19), fixed seed: ≥ 1,000 mutations of snapshots and of
event lines — bit flips, truncation, type swaps, huge numbers, deep nesting, control
characters —, some with their checksum recomputed (so the store must judge the meaning, not only
the checksum). For each mutation:

* no traceback: loading returns, or raises the store's own StoreError;
* no valid event lost: every event the mutation did not touch is handed to the fold exactly
  once — by the load that meets the mutation or through the snapshot it accepted —, and an
  event appended afterwards is folded by the next load (nothing switches learning off).

The fold is the learner's (`simpulse.learner.fold`), wrapped to note which events the store
handed it; whether the learner then makes sense of a mutated event is the learner's business
(issue 19's fold-level rows), not the store's.
"""

import json
import os
import random
import zlib

import pytest

from simpulse import learner as L
from simpulse.store.store import Store, StoreError

# over a thousand random mutations: `make test` runs them, the unit loop (`make test-fast`) does not
pytestmark = pytest.mark.slow

SEED = 19
N_EVENTS = 12
SNAP_AT = 6


def event(i):
    return {"kind": "compile", "context": ["arith", "simp", "tactic"][i % 3],
            "strategy": ["baseline", "no-linters"][i % 2], "module": f"Fix.M{i}", "path": f"Fix/M{i}.lean",
            "wall": 1.0 + i / 10, "cpu": 0.9 + i / 10, "ts": 1000.0 + i, "toolchain": "tc", "outcome": "ok",
            "explore": bool(i % 4 == 0), "features": {"lines": 10 + i, "simp": i}, "id": f"{i:08x}"}


class Recorder:
    """learner.fold, noting the seqs the store hands it (before the learner sees them)."""

    def __init__(self):
        self.offered = []

    def __call__(self, stats, ev):
        self.offered.append(ev["seq"])
        return L.fold(stats, ev)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("base") / "state"
    s = Store(d, fsync=False)
    for i in range(SNAP_AT):
        s.append(event(i))
    Store(d).load(L.fold, L.empty_stats())           # snapshot after SNAP_AT events
    snap = (d / "snapshot.json").read_bytes()
    for i in range(SNAP_AT, N_EVENTS):
        s.append(event(i))
    return {"state": (d / "state.json").read_bytes(), "log": (d / "events.log").read_bytes(), "snap": snap}


def reset(d, base, log=None, snap=None):
    if d.exists():
        for p in d.iterdir():
            p.unlink()
    else:
        d.mkdir(mode=0o700)
    (d / "state.json").write_bytes(base["state"])
    (d / "events.log").write_bytes(base["log"] if log is None else log)
    if snap is not None:
        (d / "snapshot.json").write_bytes(snap)


# --------------------------------------------------------------------------- mutations

HUGE = ["1e308", "-1e308", "1e999", "-1e999", "NaN", "Infinity", str(10 ** 30), str(2 ** 63), str(-(2 ** 63)),
        "1" * 400, "4.9e-324", "-0.0"]
CONTROL = ['"\\u0000"', '"\\u001f\\u007f"', '"\\u2028x\\u2029"', '"\\ud800"', '"line\\nfeed"', '"\\t\\r"']
SWAPS = ['"x"', '""', "[]", "{}", "null", "true", "false", "0", "-1", "1.5", '"12"', '[1,"a",null]', '{"a":{}}']


def deep(rng):
    n = rng.choice([64, 900, 5000, 100000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return opener * n + "0" + closer * n


def replacement(rng):
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(SWAPS)
    if kind == 1:
        return rng.choice(HUGE)
    if kind == 2:
        return rng.choice(CONTROL)
    return deep(rng)


def paths(obj, prefix=()):
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, prefix + (i,))
    return out


MARK = "\u0001MUTATION\u0001"


def swap_text(obj, rng, *, avoid=()):
    """The JSON text of `obj` with the value at one random path replaced by a raw JSON text
    (which may be deeper, bigger or stranger than json.dumps would ever write), or with a key
    renamed / removed / added."""
    obj = json.loads(json.dumps(obj))
    ps = [p for p in paths(obj) if p[:1] not in avoid and p not in avoid]
    p = rng.choice(ps)
    parent = obj
    for k in p[:-1]:
        parent = parent[k]
    op = rng.randrange(10)
    if op == 0 and isinstance(parent, dict):
        del parent[p[-1]]
        return json.dumps(obj, separators=(",", ":"))
    if op == 1 and isinstance(parent, dict):
        parent[p[-1] + rng.choice(["\u0000", "\n", "\u202e", "x"])] = parent.pop(p[-1])
        return json.dumps(obj, separators=(",", ":"))
    parent[p[-1]] = MARK
    return json.dumps(obj, separators=(",", ":")).replace(json.dumps(MARK), replacement(rng))


def bitflip(data, rng, lo=0, hi=None):
    data = bytearray(data)
    hi = len(data) if hi is None else hi
    for _ in range(rng.choice([1, 1, 2, 8])):
        i = rng.randrange(lo, hi)
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def encode_line(text):
    body = text.encode("utf-8", "surrogatepass")
    return b"%08x %s" % (zlib.crc32(body), body)


def snapshot_with(head, stats_text):
    body = stats_text.encode("utf-8", "surrogatepass")
    head = dict(head, stats_crc=f"{zlib.crc32(body):08x}")
    h = json.dumps(head, separators=(",", ":")).encode()
    return h[:-1] + b',"stats":' + body + b"}\n"


def mutate_snapshot(raw, rng):
    """(mutated bytes, whether its checksum still holds by construction)."""
    snap = json.loads(raw)
    head = {k: v for k, v in snap.items() if k != "stats"}
    kind = rng.randrange(6)
    if kind == 0:
        return bitflip(raw, rng), False
    if kind == 1:
        return raw[: rng.randrange(len(raw))], False
    if kind == 2:          # the envelope: cursor, schema, written (checksum valid)
        text = swap_text(head, rng)
        try:
            head2 = json.loads(text)
        except (ValueError, RecursionError):
            return text.encode("utf-8", "surrogatepass")[:-1] + b',"stats":' + json.dumps(snap["stats"]).encode() + b"}\n", False
        if not isinstance(head2, dict):
            return text.encode(), False
        body = json.dumps(snap["stats"], separators=(",", ":")).encode()
        head2["stats_crc"] = f"{zlib.crc32(body):08x}"
        h = json.dumps(head2, separators=(",", ":")).encode()
        return h[:-1] + b',"stats":' + body + b"}\n", True
    if kind == 3:          # the cursor, plausibly: another seq, offset or generation
        c = dict(snap["cursor"])
        field = rng.choice(["seq", "offset", "gen"])
        if field == "gen":
            c["gen"] = rng.choice([os.urandom(8).hex(), None, c["gen"][:8]])
        else:
            c[field] = rng.choice([c[field] + rng.randint(-200, 200), 0, 10 ** 15, c[field] * 2])
        return snapshot_with(dict(head, cursor=c), json.dumps(snap["stats"], separators=(",", ":"))), True
    # the statistics, anywhere (checksum valid): top level, counters, deep inside
    return snapshot_with(head, swap_text(snap["stats"], rng)), True


def mutate_log(raw, rng):
    """(mutated log, seq of the line the mutation touched or None for an inserted line)."""
    lines = raw.split(b"\n")[:-1]           # [header, event lines...]
    k = rng.randrange(1, len(lines))
    seq = k                                  # events were appended 1..N in order
    kind = rng.randrange(6)
    line = lines[k]
    if kind == 0:
        new = [bitflip(line, rng)]
    elif kind == 1:
        new = [line[: rng.randrange(len(line))]]
    elif kind == 2:        # a value swapped, checksum recomputed ("seq" only to non-integers)
        obj = json.loads(line[9:])
        text = swap_text(obj, rng, avoid=(("seq",),))
        new = [encode_line(text)]
    elif kind == 3:        # seq itself, to something that is not an integer, checksum valid
        obj = json.loads(line[9:])
        obj["seq"] = MARK
        new = [encode_line(json.dumps(obj, separators=(",", ":")).replace(json.dumps(MARK),
                                                                        rng.choice(SWAPS[:6] + HUGE[:6] + ["6.0"])))]
    elif kind == 4:        # junk lines inserted before the line (the line itself intact)
        junk = [bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))).replace(b"\n", b"")
                for _ in range(rng.randint(1, 5))]
        new = junk + [line]
        seq = None
    else:                  # a forged-looking line inserted, valid checksum, without seq or with a deep body
        new = [encode_line(rng.choice(['{"kind":"compile"}', "[]", '"x"', "1e999", deep(rng)])), line]
        seq = None
    lines[k:k + 1] = new
    return b"\n".join(lines) + b"\n", seq


def load(d):
    rec = Recorder()
    r = Store(d, fsync=False)
    stats, n = r.load(rec, L.empty_stats())
    return r, rec.offered, stats


def check_once(offered):
    assert len(offered) == len(set(offered)), f"an event was folded twice: {offered}"


def check_later_event_folded(d):
    """Liveness: an event appended now is folded by the next load."""
    w = Store(d, fsync=False)
    e = event(99)
    w.append(e)
    _, offered, stats = load(d)
    check_once(offered)
    assert e["seq"] in offered or stats is None, (e["seq"], offered)
    return e["seq"]


def test_fuzz_snapshots(tmp_path, base):
    rng = random.Random(SEED)
    d = tmp_path / "state"
    outcomes = {"rejected": 0, "accepted": 0, "error": 0, "accepted, fold raised": 0}
    for i in range(600):
        snap, crc_valid = mutate_snapshot(base["snap"], rng)
        reset(d, base, snap=snap)
        try:
            r, offered, _ = load(d)
        except StoreError as e:             # the store's own error is an allowed outcome
            outcomes["error"] += 1
            assert "Traceback" not in str(e)
            continue
        check_once(offered)
        rejected = any("snapshot.json" in p for p in r.problems)
        full = set(range(1, N_EVENTS + 1))
        if set(offered) == full:
            outcomes["rejected"] += 1
        else:
            # accepted: it covers the first events, every later one was handed to the fold
            outcomes["accepted"] += 1
            assert set(offered) >= set(range(SNAP_AT + 1, N_EVENTS + 1)), (i, offered, r.problems)
            assert set(offered) <= full
            assert crc_valid, (i, "a snapshot whose checksum does not hold was trusted", snap[:200])
            assert not rejected
            outcomes["accepted, fold raised"] += any("could not be folded" in p for p in r.problems)
        check_later_event_folded(d)
    assert outcomes["rejected"] + outcomes["accepted"] + outcomes["error"] == 600
    print("snapshot mutations:", outcomes)
    assert outcomes["rejected"] > 200 and outcomes["accepted"] > 20, outcomes


def test_fuzz_event_lines(tmp_path, base):
    rng = random.Random(SEED + 1)
    d = tmp_path / "state"
    raised = 0
    for i in range(500):
        log, touched = mutate_log(base["log"], rng)
        with_snap = i % 2 == 1
        reset(d, base, log=log, snap=base["snap"] if with_snap else None)
        try:
            r, offered, _ = load(d)
        except StoreError as e:
            pytest.fail(f"mutation {i}: a damaged line made the store fail: {e}")
        check_once(offered)
        expected = set(range(1, N_EVENTS + 1)) - {touched}
        if with_snap and touched is not None and touched <= SNAP_AT:
            expected -= set(range(1, SNAP_AT + 1))     # covered by the snapshot, if it stands
            # a damaged line before the cursor may expose the snapshot (then all is refolded)
        elif with_snap:
            expected -= set(range(1, SNAP_AT + 1))
        missing = expected - set(offered)
        assert not missing, (i, touched, sorted(offered), r.problems)
        raised += any("could not be folded" in p for p in r.problems)
        check_later_event_folded(d)
    print("event-line mutations: learner.fold raised (event skipped, later ones folded) in", raised, "of 500")


def test_fuzz_torn_and_truncated_logs(tmp_path, base):
    """The log cut anywhere (a torn tail), then appended to: only the cut event is lost."""
    rng = random.Random(SEED + 2)
    d = tmp_path / "state"
    raw = base["log"]
    header_end = raw.index(b"\n") + 1
    for _ in range(100):
        cut = rng.randrange(header_end, len(raw))
        reset(d, base, log=raw[:cut])
        _, offered, _ = load(d)
        check_once(offered)
        whole = raw[:cut].count(b"\n") - 1           # complete event lines kept
        assert set(offered) == set(range(1, whole + 1)), (cut, offered)
        check_later_event_folded(d)
