"""JSON for the shim's hot path without importing `json`.

`import json` costs the shim ~8 ms per compile: it imports `re`, which imports `enum`. The C
accelerator `_json` that `json` itself uses needs neither, so `loads`/`dumps` here drive it
directly (same parser, same output as `json.loads` / compact `json.dumps`). Anything it does
not cover (an indent, sorting keys, a platform without `_json`) goes to the real `json`.
"""

from __future__ import annotations

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any, Callable, IO

_make_scanner: Any
try:
    from _json import encode_basestring_ascii as _ascii
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner
except ImportError:  # pragma: no cover - a Python without the accelerator
    _make_scanner = None

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_WS = " \t\n\r"


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


_scan: Callable[[str, int], tuple[Any, int]] | None = _make_scanner(_Context()) if _make_scanner is not None else None


def _default(o: object) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def loads(s: str | bytes | bytearray) -> Any:
    if _scan is None:
        import json
        return json.loads(s)
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    if s.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM (decode using utf-8-sig)")
    n = len(s)
    i = 0
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    finally:
        _Context.memo.clear()
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        raise ValueError(f"Extra data: char {end}")
    return obj


def dumps(obj: Any, *, separators: tuple[str, str] = (", ", ": "), indent: int | str | None = None,
          sort_keys: bool = False, ensure_ascii: bool = True) -> str:
    if _scan is None or indent is not None or sort_keys or not ensure_ascii:
        import json
        return json.dumps(obj, separators=separators, indent=indent, sort_keys=sort_keys,
                          ensure_ascii=ensure_ascii)
    item_sep, key_sep = separators
    enc = _make_encoder({}, _default, _ascii, None, key_sep, item_sep, False, False, True)
    return "".join(enc(obj, 0))


def load(f: IO[str]) -> Any:
    return loads(f.read())


def dump(obj: Any, f: IO[str], **kw: Any) -> None:
    f.write(dumps(obj, **kw))
