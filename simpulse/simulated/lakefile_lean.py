"""Reading the common declarative forms of ``lakefile.lean`` for the simulated ``lake``.

A ``lakefile.lean`` is Lean code that real Lake elaborates; this reader does not evaluate
anything. It understands the declarations most packages use — ``import``, ``open``,
``package NAME [where fields | { fields }]``, ``require …`` (recorded, never fetched),
``[@[default_target]] lean_lib NAME [where fields]`` and ``lean_exe NAME [where fields]`` —
with field values written as literals: strings, `` `Names ``, ``#[…]`` arrays, globs
(``.one``/``.submodules``/``.andSubmodules`` `` `Name``), ``leanOptions := #[⟨`name, value⟩]``
(values ``true``/``false``/numbers/strings, optionally ``.ofBool``/``.ofNat``/``.ofString``).
Every other declaration (``script``, ``target``, ``extern_lib``, facets, ``def``, ``if``,
``run_io``, …) or a field value that is not a literal stops the build with an error naming it.

Standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from simpulse.simulated.costmodel import comment_end
from simpulse.simulated.lakefile import (EXE_FIELDS, IGNORED_PACKAGE, IGNORED_TARGET,
                                         LIB_FIELDS, PACKAGE_FIELDS, LakefileError, Package,
                                         driver_notes, lib_from, require_note)

_DECL = re.compile(r"^(?:@\[(?P<attrs>[^\]]*)\]\s*)?(?P<kw>[A-Za-z_][\w.]*)")
_FIELD = re.compile(r"\s*(?P<name>[A-Za-z_]\w*)\s*:=\s*")
_NAME = r"(?:«[^»]*»|[A-Za-z_][\w'!?]*)(?:\.(?:«[^»]*»|[A-Za-z_][\w'!?]*))*"


def _strip_comments(text: str) -> str:
    """Comments replaced by spaces (strings kept; newlines kept so line numbers hold)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/-", i):
            j = comment_end(text, i)
            out.append("".join(c if c == "\n" else " " for c in text[i:j]))
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _unquote(name: str) -> str:
    return ".".join(p[1:-1] if p.startswith("«") else p
                    for p in re.findall(r"«[^»]*»|[^.]+", name))


class _Value:
    """A literal field value parser (no evaluation)."""

    def __init__(self, text: str, where: str):
        self.s, self.i, self.where = text.strip(), 0, where

    def fail(self) -> LakefileError:
        return LakefileError(f"{self.where}: value '{self.s}' is not a literal the simulated lake "
                             "can read (it does not evaluate Lean code)")

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def parse(self) -> Any:
        v = self.value()
        self.ws()
        if self.i != len(self.s):
            raise self.fail()
        return v

    def items(self, close: str, *, empty_ok: bool) -> list[Any]:
        """The comma-separated values up to `close` (the opening bracket already read)."""
        items: list[Any] = []
        self.ws()
        if empty_ok and self.s.startswith(close, self.i):
            self.i += 1
            return items
        while True:
            items.append(self.value())
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
                continue
            if self.s.startswith(close, self.i):
                self.i += 1
                return items
            raise self.fail()

    def value(self) -> Any:
        self.ws()
        s, i = self.s, self.i
        if s.startswith('"', i):
            m = re.compile(r'"((?:[^"\\]|\\.)*)"').match(s, i)
            if not m:
                raise self.fail()
            self.i = m.end()
            return m.group(1).encode().decode("unicode_escape") if "\\" in m.group(1) else m.group(1)
        if s.startswith("`", i):
            m = re.compile("`(" + _NAME + ")").match(s, i)
            if not m:
                raise self.fail()
            self.i = m.end()
            return ("name", _unquote(m.group(1)))
        if s.startswith("#[", i):
            self.i += 2
            return self.items("]", empty_ok=True)
        if s.startswith("⟨", i):
            self.i += 1
            return ("tuple", self.items("⟩", empty_ok=False))
        if s.startswith("(", i):
            self.i += 1
            v = self.value()
            self.ws()
            if not s.startswith(")", self.i):
                raise self.fail()
            self.i += 1
            return v
        m = re.compile(r"\d+").match(s, i)
        if m:
            self.i = m.end()
            return int(m.group(0))
        m = re.compile(r"(?:Glob|Lean\.Glob|LeanOption|DataValue|Lean\.DataValue)?\.?(" + _NAME + ")").match(s, i)
        if m:
            word = m.group(0)
            self.i = m.end()
            base = word.rsplit(".", 1)[-1]
            if word in ("true", "false"):
                return word == "true"
            if base in ("one", "submodules", "andSubmodules") and word.startswith((".", "Glob.", "Lean.Glob.")):
                arg = self.value()
                if not (isinstance(arg, tuple) and arg[0] == "name"):
                    raise self.fail()
                return ("glob", base, arg[1])
            if base in ("ofBool", "ofNat", "ofString") and word.startswith((".", "DataValue.", "Lean.DataValue.")):
                return self.value()
            if word.startswith(".") and base.isidentifier():
                return ("ctor", base)  # an enum value such as `.release`
        raise self.fail()


def _as_str(v: Any, where: str) -> str:
    if isinstance(v, str):
        return v
    raise LakefileError(f"{where}: expected a string")


def _as_names(v: Any, where: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, tuple) and x[0] == "name" for x in v):
        raise LakefileError(f"{where}: expected an array of `Names")
    return [x[1] for x in v]


def _to_toml_like(fields: dict[str, Any], where: str) -> dict[str, Any]:
    """Field values as the TOML reader's shapes, so one code path builds the targets."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        w = f"{where}: {k}"
        if k in ("srcDir", "testDriver", "lintDriver"):
            out[k] = v if isinstance(v, str) else (v[1] if isinstance(v, tuple) and v[0] == "name" else _as_str(v, w))
        elif k == "roots":
            out[k] = _as_names(v, w)
        elif k == "root":
            if not (isinstance(v, tuple) and v[0] == "name"):
                raise LakefileError(f"{w}: expected a `Name")
            out[k] = v[1]
        elif k == "globs":
            if not isinstance(v, list):
                raise LakefileError(f"{w}: expected an array of globs")
            globs = []
            for g in v:
                if isinstance(g, tuple) and g[0] == "name":
                    globs.append(g[1])
                elif isinstance(g, tuple) and g[0] == "glob":
                    globs.append(g[2] + {"one": "", "submodules": ".*", "andSubmodules": ".+"}[g[1]])
                else:
                    raise LakefileError(f"{w}: expected an array of globs")
            out[k] = globs
        elif k == "leanOptions":
            opts: dict[str, Any] = {}
            for item in v if isinstance(v, list) else [None]:
                if not (isinstance(item, tuple) and item[0] == "tuple" and len(item[1]) == 2
                        and isinstance(item[1][0], tuple) and item[1][0][0] == "name"
                        and isinstance(item[1][1], (bool, int, str))):
                    raise LakefileError(f"{w}: expected #[⟨`name, value⟩, ...]")
                opts[item[1][0][1]] = item[1][1]
            out[k] = opts
        elif k in ("moreLeanArgs", "weakLeanArgs"):
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise LakefileError(f"{w}: expected an array of strings")
            out[k] = v
        elif k == "buildType":
            out[k] = v[1] if isinstance(v, tuple) and v[0] == "ctor" else v
        elif k in ("precompileModules",):
            out[k] = v
        else:
            out[k] = v
    return out


def _split_fields(body: str, where: str) -> dict[str, str]:
    """`name := value` assignments of a `where` block or `{ … }` structure, by bracket depth."""
    fields: dict[str, str] = {}
    cur: str | None = None
    buf: list[str] = []
    depth = 0
    pos = 0
    text = body
    while pos < len(text):
        if depth == 0:
            m = _FIELD.match(text, pos) if (pos == 0 or text[pos - 1] in "\n,") else None
            if m:
                if cur is not None:
                    fields[cur] = "".join(buf).strip().rstrip(",")
                cur, buf = m.group("name"), []
                pos = m.end()
                continue
        c = text[pos]
        if c == '"':
            j = pos + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            buf.append(text[pos:j + 1])
            pos = j + 1
            continue
        if c in "([{⟨":
            depth += 1
        elif c in ")]}⟩":
            depth -= 1
        if cur is None and not c.isspace() and c != ",":
            raise LakefileError(f"{where}: expected 'field := value', found '{text[pos:].strip().splitlines()[0]}'")
        buf.append(c)
        pos += 1
    if cur is not None:
        fields[cur] = "".join(buf).strip().rstrip(",")
    return fields


def _decl_fields(rest: str, where: str) -> tuple[str, dict[str, Any]]:
    """`NAME [where …]` or `NAME { … }` → (name, parsed fields)."""
    m = re.compile(r"\s*(" + _NAME + r"|\"[^\"]*\")").match(rest)
    if not m:
        raise LakefileError(f"{where}: missing name")
    name = m.group(1).strip('"')
    name = _unquote(name)
    tail = rest[m.end():].strip()
    if not tail:
        return name, {}
    if tail.startswith("where"):
        body = tail[len("where"):]
    elif tail.startswith("{") and tail.endswith("}"):
        body = tail[1:-1]
    elif tail.startswith(":="):
        raise LakefileError(f"{where} '{name}': a ':=' definition is not supported by the simulated lake")
    else:
        raise LakefileError(f"{where} '{name}': unexpected '{tail.splitlines()[0]}'")
    raw = _split_fields(body, f"{where} '{name}'")
    # metadata and link settings are ignored unread: their values may be any Lean term
    # (`version := v!"1.0.0"`, `moreLinkArgs := if … then … else …`)
    return name, {k: _Value(v, f"{where} '{name}': {k}").parse() for k, v in raw.items()
                  if k not in IGNORED_PACKAGE and k not in IGNORED_TARGET}


_REQUIRE = re.compile(r'^\s*(?:"[^"]*"\s*/\s*)?(?P<name>"[^"]*"|' + _NAME + r")")


def load_lean(path: Path) -> Package:
    try:
        text = _strip_comments(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LakefileError(f"{path}: {e}") from e
    # top-level declarations start at column 0; indented lines continue the previous one
    decls: list[tuple[int, str]] = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        attr_only = bool(decls) and re.fullmatch(r"@\[[^\]]*\]\s*", decls[-1][1]) is not None
        if line[0].isspace() or line.startswith(("}", ")", "]")) or attr_only:
            if not decls:
                raise LakefileError(f"{path}:{no}: unexpected indentation")
            decls[-1] = (decls[-1][0], decls[-1][1] + ("\n" if not attr_only else " ") + line)
        else:
            decls.append((no, line))
    pkg: Package | None = None
    pkg_fields: dict[str, Any] = {}
    targets: list[tuple[str, dict[str, Any], str]] = []  # (kind, fields incl. name, where)
    defaults: list[str] = []
    requires: list[str] = []
    for no, d in decls:
        where = f"{path}:{no}"
        m = _DECL.match(d)
        if not m:
            raise LakefileError(f"{where}: cannot read '{d.splitlines()[0].strip()}'")
        attrs = [a.strip() for a in (m.group("attrs") or "").split(",") if a.strip()]
        kw, rest = m.group("kw"), d[m.end():]
        for a in attrs:
            if a not in ("default_target", "test_driver", "lint_driver"):
                raise LakefileError(f"{where}: attribute '@[{a}]' is not supported by the simulated lake")
        if kw in ("import", "open"):
            if attrs:
                raise LakefileError(f"{where}: unexpected attribute")
            continue
        if kw == "package":
            name, pkg_fields = _decl_fields(rest, where + ": package")
            pkg = Package(name=name)
        elif kw == "require":
            r = _REQUIRE.match(rest)
            if not r:
                raise LakefileError(f"{where}: cannot read this 'require'")
            requires.append(_unquote(r.group("name").strip('"')))
        elif kw in ("lean_lib", "lean_exe"):
            name, fields = _decl_fields(rest, f"{where}: {kw}")
            targets.append((kw, {"name": name, **fields}, where))
            if "default_target" in attrs:
                defaults.append(name)
            for a in attrs:
                if a in ("test_driver", "lint_driver") and pkg is not None:
                    pkg.notes.append(f"@[{a}] on '{name}' is ignored (the simulated lake has no "
                                     f"'lake {a.split('_')[0]}')")
        else:
            raise LakefileError(f"{where}: '{kw}' declarations are not supported by the simulated "
                                "lake (refusing to build something else than the lakefile asks for)")
    if pkg is None:
        raise LakefileError(f"{path}: no 'package' declaration")
    fields = _to_toml_like(pkg_fields, f"{path}: package")
    if "defaultTargets" in fields:
        raise LakefileError(f"{path}: package: use @[default_target] in a lakefile.lean")
    from simpulse.simulated.lakefile import check_fields, _flatten_options
    check_fields(fields, PACKAGE_FIELDS, IGNORED_PACKAGE, f"{path}: package '{pkg.name}'")
    pkg.src_dir = fields.get("srcDir", ".")
    pkg.lean_options = _flatten_options(fields.get("leanOptions"), "package")
    pkg.more_lean_args = list(fields.get("moreLeanArgs", []))
    pkg.weak_lean_args = list(fields.get("weakLeanArgs", []))
    pkg.default_targets = defaults
    driver_notes(pkg, fields)
    for r in requires:
        require_note(pkg, r)
    for kw, t, where in targets:
        exe = kw == "lean_exe"
        tl = _to_toml_like(t, f"{where}: {kw}")
        check_fields(tl, EXE_FIELDS if exe else LIB_FIELDS, IGNORED_TARGET, f"{where}: {kw} '{t['name']}'")
        (pkg.exes if exe else pkg.libs).append(lib_from(tl, f"{where}: {kw}", exe=exe))
    return pkg
