"""Classify one Lean module into a named *context*.

``classify(source)`` lexes the module (comments and strings never count), extracts the features
of :mod:`simpulse.context.features`, and applies the rules of :data:`CONTEXTS` **in order**: the
first rule that holds names the context. Everything is deterministic and depends on the bytes of
the module only (``path`` is accepted for the caller's convenience and ignored by the rules, so
equal bytes always get an equal :class:`Classification`).

Any input gives a result and nothing raises: ``bytes`` are decoded as UTF-8 with
``errors="replace"``; inputs larger than :data:`MAX_BYTES` are classified on their first
:data:`MAX_BYTES` bytes and a reason says so. Results are cached by the SHA-1 of the bytes in a
small in-process LRU (:data:`CACHE_SIZE` entries).

This module is imported by the shim on every module compilation: standard library only, and only
cheap modules (``re``, the builtin ``_sha1``, ``math``).
"""

from __future__ import annotations

try:                              # the builtin module: no OpenSSL to load on the shim's path
    from _sha1 import sha1 as _sha1
except ImportError:  # pragma: no cover
    from hashlib import sha1 as _sha1
import math

from simpulse._record import Record

from simpulse.context.features import (
    COUNT_FEATURES,
    FEATURE_NAMES,
    extract,
    simp_calls,
)
from simpulse.context.lexer import lex

__all__ = [
    "CONTEXTS",
    "Classification",
    "MAX_BYTES",
    "CACHE_SIZE",
    "classify",
    "clear_cache",
    "cache_info",
    "vectorize",
]

#: Only this many leading bytes (or characters, for ``str`` input) are classified.
MAX_BYTES = 1024 * 1024
#: Entries of the in-process LRU cache.
CACHE_SIZE = 256

# Thresholds of the rules (documented in docs/contexts.md; change both together).
TINY_MAX_DECLARATIONS = 3
TINY_MAX_LINES = 20
SIMP_MIN_CALLS = 4
SIMP_MIN_PER_THEOREM = 1.0
SIMP_MIN_SHARE = 0.6
SIMP_MIN_ATTRS = 8
SIMP_MIN_ATTR_RATIO = 0.3
ARITH_MIN_CALLS = 4
ARITH_MIN_PER_THEOREM = 0.6
ARITH_MIN_OPS_DENSITY = 1.0
ARITH_MIN_NUMERAL_DENSITY = 1.0
STRUCT_MIN_CALLS = 3
STRUCT_MIN_PER_THEOREM = 0.4
DEFS_MAX_THEOREM_RATIO = 0.25
DEFS_MAX_BY_PER_DECLARATION = 0.2

#: The contexts, in priority order: name -> the rule that selects it.
CONTEXTS: dict[str, str] = {
    "tiny": (
        f"declarations ≤ {TINY_MAX_DECLARATIONS} or code lines ≤ {TINY_MAX_LINES} "
        "(also: no code at all, or binary input)"
    ),
    "simp_heavy": (
        f"simp-family calls ≥ {SIMP_MIN_CALLS} and (simp calls per theorem ≥ {SIMP_MIN_PER_THEOREM} "
        f"or simp share of tactic calls ≥ {SIMP_MIN_SHARE}), or @[simp] attributes "
        f"≥ {SIMP_MIN_ATTRS} and ≥ {SIMP_MIN_ATTR_RATIO} per declaration"
    ),
    "arith": (
        f"omega+decide+norm_num ≥ {ARITH_MIN_CALLS} and per theorem ≥ {ARITH_MIN_PER_THEOREM}, "
        f"or arithmetic operators per line ≥ {ARITH_MIN_OPS_DENSITY} and numerals per line "
        f"≥ {ARITH_MIN_NUMERAL_DENSITY}"
    ),
    "structural": (
        f"induction+cases+rcases+match ≥ {STRUCT_MIN_CALLS} and per theorem "
        f"≥ {STRUCT_MIN_PER_THEOREM}"
    ),
    "definitions": (
        f"theorems / declarations ≤ {DEFS_MAX_THEOREM_RATIO} or `by` blocks / declarations "
        f"≤ {DEFS_MAX_BY_PER_DECLARATION} (mostly defs, structures, instances; few tactic proofs)"
    ),
    "general": "everything else",
}

_COUNT_SET = frozenset(COUNT_FEATURES)


class Classification(Record):
    """The context of one module and why: context, features (dict), vector (tuple of floats),
    reasons (tuple of sentences), source_hash (sha1 hex of the bytes)."""

    __slots__ = ("context", "features", "vector", "reasons", "source_hash")
    _frozen = True

    def _copy(self) -> "Classification":
        return Classification(self.context, dict(self.features), self.vector, self.reasons, self.source_hash)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if x == int(x):
        return str(int(x))
    return f"{x:.2f}".rstrip("0").rstrip(".")


def vectorize(features: dict[str, float]) -> tuple[float, ...]:
    """The numeric vector of a feature dict, in :data:`FEATURE_NAMES` order.

    Counts become ``log1p(count)``; densities and ratios are used as they are. No constant term.
    """
    out = []
    for name in FEATURE_NAMES:
        v = float(features.get(name, 0.0))
        if not math.isfinite(v) or v < 0:
            v = 0.0
        out.append(round(math.log1p(v), 6) if name in _COUNT_SET else round(v, 6))
    return tuple(out)


def _decide(f: dict[str, float]) -> tuple[str, list[str]]:
    """Apply the rules in priority order. Returns the context and the reasons."""
    reasons: list[str] = []
    decls, lines, thms = f["declarations"], f["lines"], f["theorems"]

    # 1. tiny
    if decls <= TINY_MAX_DECLARATIONS:
        return "tiny", [f"declarations {_fmt(decls)} ≤ {TINY_MAX_DECLARATIONS}"]
    if lines <= TINY_MAX_LINES:
        return "tiny", [f"code lines {_fmt(lines)} ≤ {TINY_MAX_LINES}"]
    reasons.append(
        f"not tiny: declarations {_fmt(decls)} > {TINY_MAX_DECLARATIONS}, "
        f"code lines {_fmt(lines)} > {TINY_MAX_LINES}"
    )

    # 2. simp_heavy
    sc = simp_calls(f)
    spt = f["simp_per_theorem"]
    attrs = f["simp_attr"]
    attr_ratio = attrs / max(1.0, decls)
    share = f["simp_share"]
    if sc >= SIMP_MIN_CALLS and spt >= SIMP_MIN_PER_THEOREM:
        return "simp_heavy", reasons + [
            f"simp calls {_fmt(sc)} ≥ {SIMP_MIN_CALLS} and simp calls per theorem "
            f"{_fmt(spt)} ≥ {_fmt(SIMP_MIN_PER_THEOREM)}"
        ]
    if sc >= SIMP_MIN_CALLS and share >= SIMP_MIN_SHARE:
        return "simp_heavy", reasons + [
            f"simp calls {_fmt(sc)} ≥ {SIMP_MIN_CALLS} and simp share of tactic calls "
            f"{_fmt(share)} ≥ {_fmt(SIMP_MIN_SHARE)}"
        ]
    if attrs >= SIMP_MIN_ATTRS and attr_ratio >= SIMP_MIN_ATTR_RATIO:
        return "simp_heavy", reasons + [
            f"@[simp] attributes {_fmt(attrs)} ≥ {SIMP_MIN_ATTRS} and per declaration "
            f"{_fmt(attr_ratio)} ≥ {_fmt(SIMP_MIN_ATTR_RATIO)}"
        ]
    reasons.append(
        f"not simp_heavy: simp calls {_fmt(sc)}, per theorem {_fmt(spt)}, share {_fmt(share)}, "
        f"@[simp] {_fmt(attrs)}"
    )

    # 3. arith
    ac = f["omega"] + f["decide"] + f["norm_num"]
    apt = f["arith_per_theorem"]
    ops, nums = f["arith_ops"], f["numerals"]
    if ac >= ARITH_MIN_CALLS and apt >= ARITH_MIN_PER_THEOREM:
        return "arith", reasons + [
            f"omega+decide+norm_num {_fmt(ac)} ≥ {ARITH_MIN_CALLS} and per theorem "
            f"{_fmt(apt)} ≥ {_fmt(ARITH_MIN_PER_THEOREM)}"
        ]
    if ops >= ARITH_MIN_OPS_DENSITY and nums >= ARITH_MIN_NUMERAL_DENSITY:
        return "arith", reasons + [
            f"arithmetic operators per line {_fmt(ops)} ≥ {_fmt(ARITH_MIN_OPS_DENSITY)} and "
            f"numerals per line {_fmt(nums)} ≥ {_fmt(ARITH_MIN_NUMERAL_DENSITY)}"
        ]
    reasons.append(
        f"not arith: omega+decide+norm_num {_fmt(ac)}, per theorem {_fmt(apt)}, "
        f"operators per line {_fmt(ops)}"
    )

    # 4. structural
    stc = f["induction"] + f["cases"] + f["rcases"] + f["match"]
    stpt = f["struct_per_theorem"]
    if stc >= STRUCT_MIN_CALLS and stpt >= STRUCT_MIN_PER_THEOREM:
        return "structural", reasons + [
            f"induction+cases+rcases+match {_fmt(stc)} ≥ {STRUCT_MIN_CALLS} and per theorem "
            f"{_fmt(stpt)} ≥ {_fmt(STRUCT_MIN_PER_THEOREM)}"
        ]
    reasons.append(f"not structural: induction+cases+rcases+match {_fmt(stc)}, per theorem {_fmt(stpt)}")

    # 5. definitions
    ratio = f["theorem_ratio"]
    bpd = f["by_per_declaration"]
    if ratio <= DEFS_MAX_THEOREM_RATIO:
        return "definitions", reasons + [
            f"theorems per declaration {_fmt(ratio)} ≤ {_fmt(DEFS_MAX_THEOREM_RATIO)} "
            f"({_fmt(thms)} of {_fmt(decls)})"
        ]
    if bpd <= DEFS_MAX_BY_PER_DECLARATION:
        return "definitions", reasons + [
            f"`by` blocks per declaration {_fmt(bpd)} ≤ {_fmt(DEFS_MAX_BY_PER_DECLARATION)} "
            f"({_fmt(f['by_blocks'])} for {_fmt(decls)} declarations)"
        ]
    reasons.append(
        f"not definitions: theorems per declaration {_fmt(ratio)}, `by` blocks per declaration "
        f"{_fmt(bpd)}"
    )

    # 6. general
    return "general", reasons + ["no specific rule matched"]


def _empty_result(context: str, reasons: list[str], digest: str) -> Classification:
    empty = dict.fromkeys(FEATURE_NAMES, 0.0)
    return Classification(
        context=context,
        features=empty,
        vector=vectorize(empty),
        reasons=tuple(reasons),
        source_hash=digest,
    )


def _classify_uncached(data: bytes | str, digest: str) -> Classification:
    notes: list[str] = []
    if isinstance(data, bytes):
        size = len(data)
        if size > MAX_BYTES:
            notes.append(f"input of {size} bytes: classified its first {MAX_BYTES} bytes only")
            data = data[:MAX_BYTES]
        if b"\x00" in data[:8192]:
            # Not Lean source: skip the lexer (random bytes are its slowest input).
            return _empty_result("tiny", ["binary input (NUL bytes): not lexed, no features"] + notes, digest)
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        if bad:
            notes.append(f"{bad} undecodable UTF-8 sequence(s) replaced")
    else:
        text = data
        if len(text) > MAX_BYTES:
            notes.append(
                f"input of {len(text)} characters: classified its first {MAX_BYTES} characters only"
            )
            text = text[:MAX_BYTES]
        if "\x00" in text[:8192]:
            return _empty_result("tiny", ["binary input (NUL characters): not lexed, no features"] + notes, digest)

    lexed = lex(text)
    if lexed.unterminated:
        notes.append(f"unterminated {lexed.unterminated}: the rest of the file counted as one")
    features = extract(lexed.code, lexed=True)
    if not lexed.code.strip():
        context, reasons = "tiny", ["no code (empty, blank or only comments and strings)"]
    else:
        context, reasons = _decide(features)
    return Classification(
        context=context,
        features=features,
        vector=vectorize(features),
        reasons=tuple(reasons + notes),
        source_hash=digest,
    )


_cache: dict[str, Classification] = {}
_stats = {"hits": 0, "misses": 0}


def _digest(source: bytes | str) -> tuple[bytes | str, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return data, _sha1(data).hexdigest()
    if not isinstance(source, str):
        source = str(source)
    return source, _sha1(source.encode("utf-8", "surrogatepass")).hexdigest()


def classify(source: bytes | str, *, path: str | None = None) -> Classification:
    """Classify one Lean module. ``path`` is informational only; never raises."""
    del path  # the decision depends on the content only
    try:
        data, digest = _digest(source)
    except Exception:  # noqa: BLE001 - defensive: exotic input objects
        data, digest = b"", _sha1(b"").hexdigest()
    hit = _cache.pop(digest, None)
    if hit is not None:
        _cache[digest] = hit  # most recently used goes last
        _stats["hits"] += 1
        return hit._copy()
    _stats["misses"] += 1
    try:
        result = _classify_uncached(data, digest)
    except Exception as exc:  # noqa: BLE001 - a bug must not break a build
        result = _empty_result("general", [f"classifier error {type(exc).__name__}: {exc}"], digest)
    _cache[digest] = result
    while len(_cache) > CACHE_SIZE:  # evict the least recently used
        try:
            _cache.pop(next(iter(_cache)), None)
        except (StopIteration, RuntimeError):  # pragma: no cover - concurrent mutation
            break
    return result._copy()


def clear_cache() -> None:
    """Forget every cached classification (and reset the hit/miss counters)."""
    _cache.clear()
    _stats["hits"] = 0
    _stats["misses"] = 0


def cache_info() -> dict[str, int]:
    """``{"hits", "misses", "size", "maxsize"}`` of the in-process cache."""
    return {"hits": _stats["hits"], "misses": _stats["misses"], "size": len(_cache), "maxsize": CACHE_SIZE}
