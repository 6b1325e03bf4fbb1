"""A minimal record type for the shim's hot path.

`dataclasses` costs the shim several milliseconds per process (it imports `inspect` and
generates code for every class); these records are plain classes with `__slots__`: fields
in order, defaults in `_defaults`, keyword or positional construction, equality and repr.
"""

from __future__ import annotations

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any


class Record:
    __slots__: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}
    _frozen = False

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"{type(self).__name__} is immutable")
        object.__setattr__(self, name, value)

    def __init__(self, *args: Any, **kw: Any) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} arguments")
        for name, value in zip(names, args):
            object.__setattr__(self, name, value)
        for name in names[len(args):]:
            if name in kw:
                object.__setattr__(self, name, kw.pop(name))
            elif name in self._defaults:
                d = self._defaults[name]
                object.__setattr__(self, name, d() if callable(d) else d)
            else:
                raise TypeError(f"{type(self).__name__} needs {name!r}")
        if kw:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(kw))!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Record) and other._values() == self._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + tuple(v if not isinstance(v, (dict, list)) else id(v) for v in self._values()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"
