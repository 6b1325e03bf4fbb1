"""The module system for the simulated toolchain: headers, artifacts, ``importArts`` shapes.

Shared by the simulated ``lake`` and ``lean`` (docs/modules.md has the account of real Lake's
and Lean's behaviour this follows, with the paths in leanprover/lean4 it was read from).

- :func:`parse_header` reads a header as Lean's header parser does: optional ``module``, optional
  ``prelude``, then ``[public] [meta] import [all] Name`` commands, with comments anywhere; the
  header ends at the first other token (so an ``import`` inside a doc comment or after the
  first command is not an import).
- :func:`outputs` names every file Lake expects from one compile, per era; the files ``lean``
  derives from ``-o`` for a module file are :func:`derived`.
- :func:`import_arts` / :func:`read_import_arts` write and read one module's ``importArts``
  entry in the three shapes of contract §9b.

Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Eras of the simulated lake that have the module system (contract §9b), oldest first.
#   setup     lean4 PR #8447: importArts entry [olean, server?, private?]
#   setup-ir  lean4 PR #9478: [olean, ir, server, private?]
#   newest    [[olean, server, private?], [ir.sig, ir]]; Lake also expects X.ir.sig, and with
#             isModule and compiler.postponeCompile omits -c and runs `leanir` (PR #10291)
MODSYS_ERAS = ("setup", "setup-ir", "newest")


@dataclass
class Import:
    module: str
    all: bool = False       # `import all`: needs the imported module's .olean.private
    exported: bool = False  # `public import`
    meta: bool = False      # `meta import`: needs the imported module's .ir

    def to_json(self) -> dict:
        """Lean's `Import` (src/Lean/Setup.lean) as JSON."""
        return {"module": self.module, "importAll": self.all, "isExported": self.exported,
                "isMeta": self.meta}


@dataclass
class Header:
    is_module: bool = False
    prelude: bool = False
    imports: list[Import] = field(default_factory=list)

    @property
    def modules(self) -> list[str]:
        out: list[str] = []
        for i in self.imports:
            if i.module not in out:
                out.append(i.module)
        return out


_IDENT = re.compile(r"«[^»]*»|[A-Za-z_\u00c0-\u1fff\u2100-\u214f][\w'!?\u00c0-\u1fff\u2100-\u214f]*")


def _skip_ws(text: str, i: int) -> int:
    """Skip whitespace and comments (`-- …`, nested `/- … -/`, doc comments too)."""
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("/-", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/-", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("-/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        else:
            break
    return i


def _name(text: str, i: int) -> tuple[str | None, int]:
    """A dotted module name at `i` (components may be «quoted»)."""
    parts: list[str] = []
    while True:
        m = _IDENT.match(text, i)
        if not m:
            return None, i
        p = m.group(0)
        parts.append(p[1:-1] if p.startswith("«") else p)
        i = m.end()
        if i < len(text) and text[i] == "." and _IDENT.match(text, i + 1):
            i += 1
            continue
        return ".".join(parts), i


def _word(text: str, i: int) -> tuple[str | None, int]:
    m = re.compile(r"[A-Za-z_]+").match(text, i)
    if not m:
        return None, i
    end = m.end()
    if end < len(text) and (text[end].isalnum() or text[end] in "_.'!?"):
        return None, i  # part of a longer identifier
    return m.group(0), end


def parse_header(text: str) -> Header:
    h = Header()
    i = _skip_ws(text, 0)
    w, j = _word(text, i)
    if w == "module":
        h.is_module, i = True, _skip_ws(text, j)
        w, j = _word(text, i)
    if w == "prelude":
        h.prelude, i = True, _skip_ws(text, j)
    while True:
        start = i
        pub = meta = every = False
        w, j = _word(text, i)
        if w == "public":
            pub, i = True, _skip_ws(text, j)
            w, j = _word(text, i)
        if w == "meta":
            meta, i = True, _skip_ws(text, j)
            w, j = _word(text, i)
        if w != "import":
            break
        i = _skip_ws(text, j)
        w, j = _word(text, i)
        if w == "all":
            every, i = True, _skip_ws(text, j)
        name, k = _name(text, i)
        if name is None:
            i = start
            break
        h.imports.append(Import(name, all=every, exported=pub, meta=meta))
        i = _skip_ws(text, k)
    return h


# ---------------------------------------------------------------------------------------------
# Artifacts
# ---------------------------------------------------------------------------------------------

def _stem(olean: str) -> str:
    return olean[: -len(".olean")] if olean.endswith(".olean") else olean


def derived(olean: str) -> dict[str, str]:
    """What `lean` writes beside `-o X.olean` for a module file (Lean's `writeModule` and
    `OLeanLevel.adjustFileName`): the server and private oleans, the IR and its signature."""
    s = _stem(olean)
    return {"olean.server": olean + ".server", "olean.private": olean + ".private",
            "ir": s + ".ir", "ir.sig": s + ".ir.sig"}


def outputs(olean: str, ilean: str, cfile: str, *, era: str, is_module: bool) -> dict[str, str]:
    """Every file Lake hashes after compiling one module, kind → path (contract §9b)."""
    out = {"olean": olean, "ilean": ilean, "c": cfile}
    if is_module and era in MODSYS_ERAS:
        d = derived(olean)
        out["olean.server"] = d["olean.server"]
        out["olean.private"] = d["olean.private"]
        if era in ("setup-ir", "newest"):
            out["ir"] = d["ir"]
        if era == "newest":
            out["ir.sig"] = d["ir.sig"]
    return out


MISSING = {  # Lake's messages for an output `lean` did not write (Lake/Build/Module.lean)
    "olean": "No olean generated. This is likely an error in Lean or Lake.",
    "olean.server": "No server olean generated. Ensure the module system is enabled.",
    "olean.private": "No private olean generated. Ensure the module system is enabled.",
    "ir": "No `.ir` generated. Ensure the module system is enabled.",
    "ir.sig": "No `.ir.sig` generated. Ensure the module system is enabled.",
    "ilean": "No ilean generated. This is likely an error in Lean or Lake.",
    "c": "No C file generated. This is likely an error in Lean or Lake.",
}


def import_arts(outs: dict[str, str], *, era: str, is_module: bool) -> list:
    """One module's `importArts` entry in the shape of `era` (contract §9b)."""
    olean = outs["olean"]
    if not is_module:
        return [[olean], []] if era == "newest" else [olean]
    d = derived(olean)
    if era == "setup":
        return [olean, d["olean.server"], d["olean.private"]]
    if era == "setup-ir":
        return [olean, d["ir"], d["olean.server"], d["olean.private"]]
    return [[olean, d["olean.server"], d["olean.private"]], [d["ir.sig"], d["ir"]]]


def read_import_arts(entry) -> dict[str, str] | None:
    """kind → path from an `importArts` entry of any of the three shapes; None if malformed."""
    if not isinstance(entry, list):
        return None
    if len(entry) == 2 and all(isinstance(x, list) for x in entry):
        oparts, irparts = entry
        if not all(isinstance(x, str) for x in oparts + irparts) or not oparts:
            return None
        out = dict(zip(("olean", "olean.server", "olean.private"), oparts))
        out.update(dict(zip(("ir.sig", "ir"), irparts)))
        return out
    if not entry or not all(isinstance(x, str) for x in entry):
        return None
    if len(entry) == 4 or (len(entry) >= 2 and entry[1].endswith(".ir")):
        return dict(zip(("olean", "ir", "olean.server", "olean.private"), entry))
    return dict(zip(("olean", "olean.server", "olean.private"), entry))


def needed_parts(imp: Import, importer_is_module: bool, imported_is_module: bool) -> list[str]:
    """The parts of an imported module Lean must read (contract §9b): the `.olean` always; for
    a module imported by a non-module file, or by `import all`, every olean part; `meta
    import` also its `.ir`."""
    parts = ["olean"]
    if imported_is_module:
        if imp.all or not importer_is_module:
            parts += ["olean.server", "olean.private"]
        if imp.meta:
            parts.append("ir")
    return parts
