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
  entry in the three shapes of contract §9b; :func:`check_imports` is what ``lean`` checks
  before it elaborates (every artifact an import needs exists); :func:`c_from_ir` is the C
  file, a function of the IR (``lean -c`` and ``leanir`` write the same bytes).

Standard library only.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from simpulse.simulated.costmodel import comment_end

# Eras of the simulated lake that have the module system (contract §9b), oldest first.
#   setup     lean4 PR #8447: importArts entry [olean, server?, private?]
#   setup-ir  lean4 PR #9478: [olean, ir, server, private?]
#   newest    [[olean, server, private?], [ir.sig, ir]]; Lake also expects X.ir.sig, and with
#             isModule and compiler.postponeCompile omits -c and runs `leanir` (PR #10291)
MODSYS_ERAS = ("setup", "setup-ir", "newest")
CORE_PREFIXES = ("Init", "Std", "Lean", "Lake")  # the toolchain's own modules: always found


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
            i = comment_end(text, i)
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


# ---------------------------------------------------------------------------------------------
# What lean reads
# ---------------------------------------------------------------------------------------------

def check_import(mod: str, search: list[str]) -> str | None:
    """Error text of a missing import, or None."""
    parts = mod.split(".")
    if parts[0] in CORE_PREFIXES:
        return None
    rel = Path(*parts).with_suffix(".olean") if len(parts) > 1 else Path(parts[0] + ".olean")
    pkg = parts[0]
    prefix_found = None
    for d in search:
        if (Path(d) / pkg).is_dir() or (Path(d) / f"{pkg}.olean").exists():
            prefix_found = d
            break
    if prefix_found is None:
        listing = "\n".join(search)
        return (
            f"unknown module prefix '{pkg}'\n\n"
            f"No directory '{pkg}' or file '{pkg}.olean' in the search path entries:\n{listing}"
        )
    olean = Path(prefix_found) / rel
    if not olean.exists():
        return f"object file '{olean}' of module {mod} does not exist"
    return None


def check_on_path(imp: Import, importer_is_module: bool, search: list[str]) -> str | None:
    """`check_import`, then the parts a module found on LEAN_PATH must have beside its
    `.olean` (a module file's `.olean.server` marks it as one)."""
    err = check_import(imp.module, search)
    if err or imp.module.split(".")[0] in CORE_PREFIXES:
        return err
    rel = Path(*imp.module.split(".")).with_suffix(".olean")
    olean = next(Path(d) / rel for d in search if (Path(d) / rel).exists())
    d = derived(str(olean))
    if not os.path.isfile(d["olean.server"]):
        return None
    for kind in needed_parts(imp, importer_is_module, True)[1:]:
        if not os.path.isfile(d[kind]):
            return f"object file '{d[kind]}' of module {imp.module} does not exist"
    return None


def c_from_ir(ir: bytes) -> bytes:
    """The C file, a function of the IR only: `lean -c` and a later `leanir` step write the
    same bytes."""
    doc = json.loads(ir)
    return (f"// Lean compiler output (simulated)\n// Module: {doc['module']}\n"
            f"// Imports: {' '.join(doc['imports'])}\n// Source: sha256 {doc['source_sha256']}\n"
            "#include <lean/lean.h>\n").encode()


def check_imports(imps: list[Import], is_module: bool, arts: dict, search: list[str]) -> str | None:
    """Error text of the first import whose needed artifact is missing, or None. A module named
    in `importArts` is read from the files listed there (contract §9b: `import all` needs the
    `.olean.private`, `meta import` the `.ir`, a non-module importer every olean part); any
    other module is looked up on LEAN_PATH."""
    for imp in imps:
        entry = arts.get(imp.module)
        if entry is None:
            err = check_on_path(imp, is_module, search)
            if err:
                return err
            continue
        parts = read_import_arts(entry)
        if parts is None:
            return f"invalid importArts entry for module {imp.module}"
        for kind in needed_parts(imp, is_module, "olean.server" in parts):
            path = parts.get(kind)
            if path is None:
                if kind == "ir":  # this era's importArts has no IR: nothing to check
                    continue
                return f"importArts of module {imp.module} lists no {kind} file"
            if not os.path.isfile(path):
                return f"object file '{path}' of module {imp.module} does not exist"
    direct = {i.module for i in imps}
    for name, entry in arts.items():  # the transitive closure: every .olean is read
        parts = read_import_arts(entry)
        if name not in direct and parts and not os.path.isfile(parts.get("olean", "")):
            return f"object file '{parts.get('olean')}' of module {name} does not exist"
    return None
