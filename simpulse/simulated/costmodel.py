"""The cost model of the simulated ``lean`` (documented in docs/cost-model.md).

Every time this module produces is *simulated*: it is a model of how long a real Lean
compile might take, used so that simpulse's learner has something to learn without a real
toolchain. It is deliberately simple, deterministic given a seed, and standard-library only.

Contents:
- a rough source reader (comments blanked, declarations split, ``set_option`` lines),
- a tiny safe evaluator for closed Nat literal arithmetic (``2 + 3 * 4 = 14``),
- module features, the base time, the per-option effects, the noise,
- ``spend``: really take the time (sleep plus a busy-looping fraction).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------------------------------------
# Known options (the subset of Lean's option declarations the simulated lean knows).
# type: "Bool" | "Nat" | "String"; default as Lean has it.
# ---------------------------------------------------------------------------------------------

KNOWN_OPTIONS: dict[str, tuple[str, Any]] = {
    "simprocs": ("Bool", True),
    "Elab.async": ("Bool", True),
    "linter.all": ("Bool", False),  # "unset" in Lean; only an explicit false has an effect here
    "linter.unusedVariables": ("Bool", True),
    "linter.unusedSimpArgs": ("Bool", True),
    "linter.missingDocs": ("Bool", False),
    "linter.deprecated": ("Bool", True),
    "maxHeartbeats": ("Nat", 200000),
    "maxRecDepth": ("Nat", 512),
    "synthInstance.maxHeartbeats": ("Nat", 20000),
    "synthInstance.maxSize": ("Nat", 128),
    "profiler": ("Bool", False),
    "profiler.threshold": ("Nat", 100),
    "diagnostics": ("Bool", False),
    "diagnostics.threshold": ("Nat", 20),
    "trace.profiler": ("Bool", False),
    "trace.profiler.output": ("String", ""),
    "exponentiation.threshold": ("Nat", 256),
    "pp.all": ("Bool", False),
    "autoImplicit": ("Bool", True),
    "relaxedAutoImplicit": ("Bool", True),
    "debug.skipKernelTC": ("Bool", False),
    "warningAsError": ("Bool", False),
    "tactic.simp.trace": ("Bool", False),
    "compiler.postponeCompile": ("Bool", False),
}

DEFAULT_HEARTBEATS = 200000
DEFAULT_REC_DEPTH = 512

# Model constants (see docs/cost-model.md).
SECONDS_PER_WEIGHT = 0.017
WEIGHT_EXPONENT = 0.8  # sublinear: big files share the per-file work
MODULE_OVERHEAD = 0.08
IMPORT_COST = 0.01
NOISE_SIGMA = 0.08
OUTLIER_PROB = 0.02
OUTLIER_RANGE = (1.5, 2.5)
DEFAULT_CPU_FRACTION = 0.2


def parse_option_value(name: str, raw: str) -> Any:
    """Convert a ``-D`` value for a known option; raise ValueError with Lean's text if invalid."""
    typ, _ = KNOWN_OPTIONS[name]
    if typ == "Bool":
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise ValueError(
            f"invalid -D parameter, invalid configuration option '{raw}' value, it must be true/false"
        )
    if typ == "Nat":
        if raw.isdigit():
            return int(raw)
        raise ValueError(
            f"invalid -D parameter, invalid configuration option '{raw}' value, it must be a natural number"
        )
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        raw = raw[1:-1]
    return raw


def coerce_json_value(name: str, value: Any) -> Any:
    """A value from the setup JSON ``options`` (bool / int / str) for a known option."""
    if name not in KNOWN_OPTIONS:
        return value
    typ, _ = KNOWN_OPTIONS[name]
    if isinstance(value, str):
        return parse_option_value(name, value)
    if typ == "Bool" and isinstance(value, bool):
        return value
    if typ == "Nat" and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if typ == "String":
        return str(value)
    raise ValueError(f"invalid value for option '{name}' in setup file: {value!r}")


# ---------------------------------------------------------------------------------------------
# Source reading
# ---------------------------------------------------------------------------------------------


_IDENT_CHAR = re.compile(r"[\w'.!?\u2080-\u209c\u1d62-\u1d6a]")
_CHAR_LIT = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)|[^\\'\n])'")
_RAW_STR = re.compile(r'r(#*)"')


def _blank(s: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in s)


def comment_end(text: str, i: int) -> int:
    """The index just past the block comment `/- ... -/` that starts at `i` (Lean's block comments
    nest), or len(text) when it is not closed."""
    n = len(text)
    depth, j = 1, i + 2
    while j < n and depth:
        if text.startswith("/-", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("-/", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return j


def blank_comments(text: str) -> str:
    """Blank comments, and the contents of string / char / raw-string literals, keeping layout.

    ``--`` line comments and (nested) ``/- -/`` block comments (doc comments included) become
    spaces; so do the characters inside ``"..."`` (escapes, spanning lines), ``'c'``,
    ``r"..."`` and ``r#"..."#`` (the delimiters stay). Newlines are kept, so line and column
    numbers of the result match the source. ``f'`` (an identifier with a prime) is not a
    character literal."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        prev = text[i - 1] if i else ""
        if text.startswith("/-", i):
            j = comment_end(text, i)
            out.append(_blank(text[i:j]))
            i = j
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j, n - 1)
            out.append('"' + _blank(text[i + 1:j]) + ('"' if j > i else ""))
            i = j + 1
        elif c == "r" and not (prev and _IDENT_CHAR.match(prev)) and _RAW_STR.match(text, i):
            m = _RAW_STR.match(text, i)
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            j = n if j < 0 else j
            out.append(text[i:m.end()] + _blank(text[m.end():j]) + text[j:j + len(close)])
            i = j + len(close)
        elif c == "'" and not (prev and _IDENT_CHAR.match(prev)) and _CHAR_LIT.match(text, i):
            m = _CHAR_LIT.match(text, i)
            out.append("'" + " " * (m.end() - i - 2) + "'")
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)




def parse_imports(text: str) -> list[str]:
    """Module names imported by the header (``module``, ``prelude``, comments, and the
    ``public``/``meta``/``all`` import forms of the module system: simulated/modsys.py)."""
    from simpulse.simulated.modsys import parse_header
    return parse_header(text).modules


_DECL_RE = re.compile(
    r"^(?P<indent>\s*)(?:@\[[^\]]*\]\s*)?"
    r"(?:(?:private|protected|noncomputable|partial|unsafe|nonrec|scoped|local)\s+)*"
    r"(?P<kw>theorem|lemma|def|example|instance|abbrev|structure|inductive|class|opaque|axiom)\b"
    r"(?P<rest>.*)$"
)
_SET_OPTION_RE = re.compile(r"^\s*set_option\s+(?P<name>[\w.]+)\s+(?P<val>\S+)(?P<in>\s+in\b)?")
_TOPLEVEL_RE = re.compile(
    r"(?:namespace|end|section|open|variable|universe|attribute|import|mutual|noncomputable\s+section)\b"
    r"|#|@\["
)
_WORD = r"(?<![\w.']){}(?![\w'])"


def _count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


@dataclass
class Decl:
    keyword: str
    name: str
    line: int  # 1-based line of the keyword
    column: int  # column of the name (or of the keyword when anonymous)
    end_line: int  # last line (inclusive)
    text: str  # comment-blanked text of the declaration
    local_options: dict[str, str] = field(default_factory=dict)  # `set_option ... in`
    weight: float = 0.0
    heartbeats: int = 0  # modelled need, in maxHeartbeats units (thousands of heartbeats)
    rec_depth: int = 0  # modelled need of maxRecDepth
    simp: int = 0
    omega: int = 0
    decide: int = 0
    induction: int = 0
    arith: int = 0


@dataclass
class SourceInfo:
    text: str
    clean: str
    lines: list[str]  # original lines
    clean_lines: list[str]
    imports: list[str]
    decls: list[Decl]
    global_options: dict[str, str]  # `set_option X v` (not `in`) lines, last wins
    features: dict[str, float]


_ARITH_RE = re.compile(r"(?<![\w.])\d+\s*[-+*/%^]\s*\(?\s*\d+")


def _decl_metrics(d: Decl) -> None:
    t = re.sub(r"«[^»]*»", lambda m: " " * len(m.group(0)), d.text)
    d.simp = _count(_WORD.format(r"(?:simp|simp_all|dsimp|simp_arith|simpa|norm_num)\??"), t)
    d.omega = _count(_WORD.format("omega"), t)
    d.decide = _count(_WORD.format(r"(?:decide|native_decide)"), t)
    d.induction = _count(_WORD.format(r"(?:induction|rcases|cases|match)"), t)
    d.arith = len(_ARITH_RE.findall(t))
    nlines = sum(1 for ln in t.splitlines() if ln.strip())
    depth = maxdepth = 0
    for ch in t:
        if ch in "([{":
            depth += 1
            maxdepth = max(maxdepth, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
    d.weight = (
        0.5 + 0.15 * nlines + 1.0 * d.simp + 1.5 * d.omega + 0.6 * d.decide
        + 2.0 * d.induction + 0.3 * d.arith
    )
    d.heartbeats = int(
        2000 * (1 + nlines) + 6000 * d.simp + 9000 * d.omega + 3000 * d.decide
        + 15000 * d.induction + 500 * d.arith
    )
    d.rec_depth = int(40 + 20 * maxdepth + 30 * d.induction + 10 * d.simp + 5 * nlines)


def analyze(text: str) -> SourceInfo:
    clean = blank_comments(text)
    lines = text.splitlines()
    clean_lines = clean.splitlines()
    decls: list[Decl] = []
    global_options: dict[str, str] = {}
    pending_local: dict[str, str] = {}
    current: Decl | None = None
    body: list[str] = []

    def close(end: int) -> None:
        nonlocal current, body
        if current is not None:
            current.end_line = end
            current.text = "\n".join(body)
            _decl_metrics(current)
            decls.append(current)
        current, body = None, []

    for idx, line in enumerate(clean_lines, start=1):
        so = _SET_OPTION_RE.match(line)
        if so:
            close(idx - 1)
            if so.group("in"):
                pending_local[so.group("name")] = so.group("val")
                rest = line[so.end():]
                m = _DECL_RE.match(rest)
                if m:
                    current = _new_decl(m, idx, so.end())
                    current.local_options = pending_local
                    pending_local = {}
                    body = [rest]
            else:
                global_options[so.group("name")] = so.group("val")
            continue
        m = _DECL_RE.match(line)
        if m and (current is None or len(m.group("indent")) <= _indent_of(current, clean_lines)):
            close(idx - 1)
            current = _new_decl(m, idx, 0)
            current.local_options = pending_local
            pending_local = {}
            body = [line]
            continue
        stripped = line.strip()
        if current is not None:
            if stripped and not line[:1].isspace() and _TOPLEVEL_RE.match(stripped):
                close(idx - 1)
            else:
                body.append(line)
    close(len(clean_lines))

    imports = parse_imports(text)
    code_lines = sum(1 for ln in clean_lines if ln.strip())
    theorems = sum(1 for d in decls if d.keyword in ("theorem", "lemma", "example"))
    simp = sum(d.simp for d in decls)
    feats: dict[str, float] = {
        "code_lines": code_lines,
        "decls": len(decls),
        "theorems": theorems,
        "simp": simp,
        "omega": sum(d.omega for d in decls),
        "decide": sum(d.decide for d in decls),
        "induction": sum(d.induction for d in decls),
        "arith": sum(d.arith for d in decls),
        "imports": len(imports),
        "simp_literal": len(simp_literal_claims(clean_lines)),
        "weight": sum(d.weight for d in decls),
        "max_heartbeats_need": max((d.heartbeats for d in decls), default=0),
        "max_rec_depth_need": max((d.rec_depth for d in decls), default=0),
    }
    feats["simp_share"] = min(1.0, simp / max(1, len(decls)))
    feats["arith_heavy"] = 1.0 if (feats["arith"] >= 6 or feats["decide"] >= 4) else 0.0
    return SourceInfo(text, clean, lines, clean_lines, imports, decls, global_options, feats)


def _indent_of(d: Decl, clean_lines: list[str]) -> int:
    line = clean_lines[d.line - 1]
    return len(line) - len(line.lstrip())


def _new_decl(m: re.Match, idx: int, offset: int) -> Decl:
    kw = m.group("kw")
    rest = m.group("rest")
    nm = re.match(r"\s*(«[^»]*»[^\s:({\[⦃]*|[^\s:({\[⦃]+)", rest)
    if nm and kw not in ("example",) and not nm.group(1).startswith(":"):
        name = nm.group(1)
        col = offset + m.start("rest") + nm.start(1)
    else:
        name = "_example" if kw == "example" else f"_{kw}"
        col = offset + m.start("kw")
    return Decl(keyword=kw, name=name, line=idx, column=col, end_line=idx, text="")


# ---------------------------------------------------------------------------------------------
# Closed Nat literal arithmetic: a tiny safe parser/evaluator (never `eval`).
# ---------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\s*(?:(\d+)|(≠|≤|≥|<=|>=|!=|[-+*/%^()=<>:])|(Nat|ℕ)(?![\w'])|(if|then|else)(?![\w']))")
_PREC = {"+": 65, "-": 65, "*": 70, "/": 70, "%": 70, "^": 75}
_REL = {"=": "=", "≠": "≠", "<": "<", ">": ">", "≤": "≤", "≥": "≥", "<=": "≤", ">=": "≥"}
MAX_EXPONENT = 4096


class _NotClosed(Exception):
    pass


def _tokenize(s: str) -> list[str]:
    toks: list[str] = []
    pos = 0
    s = s.rstrip()
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if not m or m.end() == pos:
            raise _NotClosed(s[pos:])
        toks.append(m.group(1) or m.group(2) or m.group(4) or "Nat")
        pos = m.end()
    return toks


class _Parser:
    def __init__(self, toks: list[str]):
        self.toks = toks
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, tok: str | None = None) -> str:
        t = self.peek()
        if t is None or (tok is not None and t != tok):
            raise _NotClosed(f"expected {tok}")
        self.i += 1
        return t

    def prop(self):
        rel = self.rel()
        if self.peek() is not None:
            raise _NotClosed("trailing tokens")
        return rel

    def rel(self):
        lhs = self.expr(0)
        op = self.peek()
        if op not in _REL:
            raise _NotClosed("no relation")
        self.take()
        rhs = self.expr(0)
        return ("rel", _REL[op], lhs, rhs)

    def expr(self, min_prec: int):
        lhs = self.atom()
        while True:
            op = self.peek()
            if op not in _PREC or _PREC[op] < min_prec:
                return lhs
            self.take()
            prec = _PREC[op]
            rhs = self.expr(prec if op == "^" else prec + 1)
            lhs = ("bin", op, lhs, rhs)

    def atom(self):
        t = self.peek()
        if t is None:
            raise _NotClosed("eof")
        if t.isdigit():
            self.take()
            return ("lit", int(t))
        if t == "(":
            self.take()
            if self.peek() == "if":  # `(if <rel> then <expr> else <expr>)`, parenthesised only
                self.take()
                cond = self.rel()
                self.take("then")
                a = self.expr(0)
                self.take("else")
                b = self.expr(0)
                self.take(")")
                return ("ite", cond, a, b)
            e = self.expr(0)
            if self.peek() == ":":
                self.take()
                self.take("Nat")
            self.take(")")
            return e
        raise _NotClosed(t)


def _truth(rel) -> bool:
    _, op, lhs, rhs = rel
    x, y = _eval(lhs), _eval(rhs)
    return {"=": x == y, "≠": x != y, "<": x < y, ">": x > y, "≤": x <= y, "≥": x >= y}[op]


def _eval(e) -> int:
    kind = e[0]
    if kind == "lit":
        return e[1]
    if kind == "ite":
        return _eval(e[2]) if _truth(e[1]) else _eval(e[3])
    _, op, a, b = e
    x, y = _eval(a), _eval(b)
    if op == "+":
        return x + y
    if op == "-":
        return max(0, x - y)
    if op == "*":
        return x * y
    if op == "/":
        return 0 if y == 0 else x // y
    if op == "%":
        return x if y == 0 else x % y
    if op == "^":
        if y > MAX_EXPONENT or (x > 1 and y * max(1, x.bit_length()) > 65536):
            raise _NotClosed("power too large")
        return x**y
    raise _NotClosed(op)


def _show_rel(rel) -> str:
    _, op, lhs, rhs = rel
    return f"{_show(lhs)} {op} {_show(rhs)}"


def _show(e, parent_prec: int = 0) -> str:
    if e[0] == "lit":
        return str(e[1])
    if e[0] == "ite":
        return f"(if {_show_rel(e[1])} then {_show(e[2])} else {_show(e[3])})"
    _, op, a, b = e
    p = _PREC[op]
    if op == "^":
        s = f"{_show(a, p + 1)} {op} {_show(b, p)}"
    else:
        s = f"{_show(a, p)} {op} {_show(b, p + 1)}"
    return f"({s})" if p < parent_prec else s


@dataclass
class Claim:
    prop: str  # pretty-printed as Lean would
    value: bool
    tactic: str
    line: int  # 1-based
    column: int  # column of the tactic token
    by_column: int


def evaluate_prop(src: str) -> tuple[str, bool] | None:
    """(pretty proposition, truth) for closed Nat literal arithmetic, else None."""
    try:
        toks = _tokenize(src)
        rel = _Parser(toks).prop()
        truth = _truth(rel)
    except (_NotClosed, RecursionError):
        return None
    return _show_rel(rel), truth


_CLAIM_RE = re.compile(
    r"^\s*(?:@\[[^\]]*\]\s*)?(?:(?:private|protected)\s+)?"
    r"(?:theorem|lemma)\s+[^\s:]+\s*:(?P<prop>.*?):=\s*(?P<by>by)\s+(?P<tac>\S+.*?)\s*$"
    r"|^\s*example\s*:(?P<prop2>.*?):=\s*(?P<by2>by)\s+(?P<tac2>\S+.*?)\s*$"
)


def literal_claims(clean_lines: list[str]) -> list[Claim]:
    """One-line claims `theorem N : <closed Nat arithmetic> := by <tactic>`."""
    out: list[Claim] = []
    for idx, line in enumerate(clean_lines, start=1):
        m = _CLAIM_RE.match(line)
        if not m:
            continue
        g = "2" if m.group("prop2") is not None else ""
        prop = m.group("prop" + g)
        tac = m.group("tac" + g)
        ev = evaluate_prop(prop)
        if ev is None:
            continue
        out.append(Claim(ev[0], ev[1], tac, idx, m.start("tac" + g), m.start("by" + g)))
    return out


def _is_simp_tactic(tac: str) -> bool:
    return re.fullmatch(r"simp(\s+only\s*\[[^\]]*\])?", tac.strip()) is not None


def simp_literal_claims(clean_lines: list[str]) -> list[Claim]:
    return [c for c in literal_claims(clean_lines) if _is_simp_tactic(c.tactic)]


def decide_claims(clean_lines: list[str]) -> list[Claim]:
    return [c for c in literal_claims(clean_lines) if c.tactic.strip() == "decide"]


def evaluate_expr(src: str) -> int | None:
    """The value of a closed Nat literal expression (``2 + 3 * 4``), else None."""
    try:
        p = _Parser(_tokenize(src))
        e = p.expr(0)
        if p.peek() is not None:
            return None
        return _eval(e)
    except (_NotClosed, RecursionError):
        return None


# ---------------------------------------------------------------------------------------------
# What the simulated linter, `#eval` and `#guard_msgs` see (documented in docs/cost-model.md)
# ---------------------------------------------------------------------------------------------


@dataclass
class UnusedLet:
    decl: Decl
    name: str
    line: int  # 1-based
    column: int  # of the name


_LET_RE = re.compile(r"(?<![\w.'])let\s+(?P<name>[^\W\d][\w']*)\s*(?=:=|:)")
_BY_RE = re.compile(r"(?<![\w.'])by(?![\w'])")


def unused_lets(info: SourceInfo) -> list[UnusedLet]:
    """Term-mode `let x := …` / `let x : T := …` bindings whose name is never used again in the
    declaration. Only a `let` before the declaration's first `by` counts (tactic proofs are not
    analysed, as Lean's default `linter.unusedVariables.analyzeTactics = false`); names starting
    with `_`, `let rec` and `let mut` are left alone."""
    out: list[UnusedLet] = []
    for d in info.decls:
        text = d.text
        by = _BY_RE.search(text)
        limit = by.start() if by else len(text)
        for m in _LET_RE.finditer(text):
            if m.start() >= limit:
                break
            name = m.group("name")
            if name.startswith("_") or name in ("rec", "mut"):
                continue
            rest = text[m.end("name"):]
            if re.search(r"(?<![\w.'])" + re.escape(name) + r"(?![\w'])", rest):
                continue
            before = text[:m.start("name")]
            # a use inside an interpolated string (`s!"{x}"`, `m!"{x}"`) is blanked in `text`:
            # look in the raw lines too, and call the variable used when it appears there
            raw = "\n".join(info.lines[d.line - 1:d.end_line])
            raw_rest = raw.split("\n", before.count("\n"))[-1]
            if len(re.findall(r"(?<![\w.'])" + re.escape(name) + r"(?![\w'])", raw_rest)) > 1:
                continue
            line = d.line + before.count("\n")
            col = len(before) - (before.rfind("\n") + 1)
            if line == d.line:
                col += _first_line_offset(d, info)
            out.append(UnusedLet(d, name, line, col))
    return out


def _first_line_offset(d: Decl, info: SourceInfo) -> int:
    """Where the declaration's text starts on its first line (after `set_option … in`)."""
    first = info.clean_lines[d.line - 1]
    body_first = d.text.split("\n", 1)[0]
    return max(0, len(first) - len(body_first))


@dataclass
class Eval:
    line: int
    column: int
    value: int


_EVAL_RE = re.compile(r"^(?P<indent>\s*)#eval\s+(?P<expr>\S.*?)\s*$")


def evals(info: SourceInfo) -> list[Eval]:
    """One-line `#eval <closed Nat literal expression>` commands (anything else is not modelled)."""
    out: list[Eval] = []
    for idx, line in enumerate(info.clean_lines, start=1):
        m = _EVAL_RE.match(line)
        if m:
            v = evaluate_expr(m.group("expr"))
            if v is not None:
                out.append(Eval(idx, len(m.group("indent")), v))
    return out


@dataclass
class GuardMsgs:
    line: int  # of the `#guard_msgs` token
    column: int
    expected: str  # the doc comment's text, trimmed ("" without a doc comment)
    first: int  # lines of the guarded command, inclusive
    last: int


_GUARD_RE = re.compile(r"^(?P<indent>\s*)#guard_msgs\s+in\s*$")


def guard_blocks(info: SourceInfo) -> list[GuardMsgs]:
    """`#guard_msgs in` alone on its line (no `(…)` specification), optionally right after a
    `/-- … -/` doc comment, guarding the command that starts on the next non-blank line."""
    out: list[GuardMsgs] = []
    starts = {d.line: d for d in info.decls}
    offsets = [0]
    for ln in info.text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(ln))
    for idx, line in enumerate(info.clean_lines, start=1):
        m = _GUARD_RE.match(line)
        if not m:
            continue
        col = len(m.group("indent"))
        pos = offsets[idx - 1] + col
        before = info.text[:pos]
        expected = ""
        stripped = before.rstrip()
        if stripped.endswith("-/"):
            open_at = stripped.rfind("/--")
            if open_at >= 0 and "-/" not in stripped[open_at + 3:-2]:
                expected = stripped[open_at + 3:-2].strip()
        nxt = idx + 1
        while nxt <= len(info.clean_lines) and not info.clean_lines[nxt - 1].strip():
            nxt += 1
        if nxt > len(info.clean_lines):
            continue
        d = starts.get(nxt)
        last = d.end_line if d is not None else nxt
        out.append(GuardMsgs(idx, col, expected, nxt, last))
    return out


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def base_seconds(features: dict[str, float]) -> float:
    """Modelled seconds of a compile with Lean's defaults, before scale and noise."""
    return (
        MODULE_OVERHEAD
        + IMPORT_COST * features.get("imports", 0)
        + SECONDS_PER_WEIGHT * max(0.0, features.get("weight", 0.0)) ** WEIGHT_EXPONENT
        + 0.001 * features.get("code_lines", 0)
    )


def _interp(x: float, points: list[tuple[float, float]]) -> float:
    """Piecewise-linear interpolation through sorted points, flat outside."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v == "true")


def _falsy(v: Any) -> bool:
    return v is False or (isinstance(v, str) and v == "false")


def size_of(features: dict[str, float]) -> float:
    """0 for a tiny module, 1 for a long file with many declarations."""
    return min(1.0, 0.5 * features.get("decls", 0) / 25.0 + 0.5 * features.get("code_lines", 0) / 200.0)


def effects(features: dict[str, float], options: dict[str, Any], threads: int | None) -> dict[str, float]:
    """Multiplicative factor per option that changes the modelled time (1.0 = no effect)."""
    f: dict[str, float] = {}
    theorems = features.get("theorems", 0)
    size = size_of(features)
    linter_all_off = _falsy(options.get("linter.all"))
    if linter_all_off:
        f["linter.all"] = 1.0 - (0.05 + 0.10 * size)
    else:
        if _falsy(options.get("linter.unusedVariables")):
            f["linter.unusedVariables"] = 1.0 - (0.01 + 0.04 * size)
        if _falsy(options.get("linter.unusedSimpArgs")):
            f["linter.unusedSimpArgs"] = 1.0 - 0.05 * features.get("simp_share", 0.0)
    if _falsy(options.get("simprocs")):
        share = features.get("simp_share", 0.0)
        eff = -0.25 * share
        if features.get("arith_heavy"):
            eff += 0.10
        f["simprocs"] = 1.0 + eff
    par = threads is None or threads == 0 or threads > 1
    if _falsy(options.get("Elab.async")):
        if theorems == 0:
            eff = -0.03  # no proofs to elaborate: only the thread start-up is saved
        else:
            eff = _interp(theorems, [(1, -0.12), (6, -0.05), (15, 0.10), (40, 0.30)])
        if not par:
            eff = min(eff, 0.0)  # a single thread cannot elaborate in parallel anyway
        f["Elab.async"] = 1.0 + eff
    if threads is not None and threads > 0:
        full = _interp(theorems, [(6, -0.05), (15, 0.15)])
        weight = {1: 1.0, 2: 0.5, 3: 0.25}.get(threads, 0.0)
        if weight:
            f["threads"] = 1.0 + full * weight
    if _truthy(options.get("profiler")):
        f["profiler"] = 1.03
    if _truthy(options.get("trace.profiler")):
        f["trace.profiler"] = 1.06
    if _truthy(options.get("diagnostics")):
        f["diagnostics"] = 1.08
    if _truthy(options.get("debug.skipKernelTC")):
        f["debug.skipKernelTC"] = 0.90
    return f


def options_key(options: dict[str, Any]) -> str:
    return json.dumps({k: options[k] for k in sorted(options)}, sort_keys=True, default=str)


def make_rng(
    *, module: str, source: bytes, options: dict[str, Any], threads: int | None,
    seed: str | None = None, round_: str | None = None,
) -> random.Random:
    """Seeded RNG (seed + module source + effective options + round), or fresh randomness."""
    if seed is None:
        seed = os.environ.get("SIMPULSE_SIM_SEED") or None
    if round_ is None:
        round_ = os.environ.get("SIMPULSE_SIM_ROUND", "")
    if seed is None:
        return random.Random()  # seeded from os.urandom
    h = hashlib.sha256()
    for part in (seed, module, options_key(options), str(threads), round_):
        h.update(part.encode())
        h.update(b"\0")
    h.update(source)
    return random.Random(int.from_bytes(h.digest()[:8], "big"))


def noise(rng: random.Random) -> float:
    n = math.exp(rng.gauss(0.0, NOISE_SIGMA))
    if rng.random() < OUTLIER_PROB:
        n *= rng.uniform(*OUTLIER_RANGE)
    return n


def env_scale() -> float:
    try:
        s = float(os.environ.get("SIMPULSE_SIM_SCALE", "1.0"))
    except ValueError:
        return 1.0
    return s if s >= 0 and math.isfinite(s) else 1.0


def env_cpu_fraction() -> float:
    try:
        f = float(os.environ.get("SIMPULSE_SIM_CPU_FRACTION", str(DEFAULT_CPU_FRACTION)))
    except ValueError:
        return DEFAULT_CPU_FRACTION
    return min(1.0, max(0.0, f)) if math.isfinite(f) else DEFAULT_CPU_FRACTION


@dataclass
class Estimate:
    seconds: float
    base: float
    factors: dict[str, float]
    noise: float
    scale: float


def model_time(
    info_or_features: SourceInfo | dict[str, float],
    options: dict[str, Any],
    *,
    threads: int | None = None,
    scale: float | None = None,
    rng: random.Random | None = None,
    module: str = "",
    source: bytes | None = None,
    seed: str | None = None,
    round_: str | None = None,
) -> Estimate:
    """Modelled compile time: scale × base(features) × Π effects × noise.

    ``rng`` wins; else an RNG from ``seed`` (or SIMPULSE_SIM_SEED) and the inputs."""
    if isinstance(info_or_features, SourceInfo):
        feats = info_or_features.features
        if source is None:
            source = info_or_features.text.encode()
    else:
        feats = info_or_features
    if scale is None:
        scale = env_scale()
    if rng is None:
        rng = make_rng(module=module, source=source or b"", options=options, threads=threads,
                       seed=seed, round_=round_)
    base = base_seconds(feats)
    facs = effects(feats, options, threads)
    prod = 1.0
    for v in facs.values():
        prod *= v
    nz = noise(rng)
    return Estimate(seconds=scale * base * prod * nz, base=base, factors=facs, noise=nz, scale=scale)


# ---------------------------------------------------------------------------------------------
# Really taking the time
# ---------------------------------------------------------------------------------------------


def spend(seconds: float, cpu_fraction: float | None = None) -> None:
    """Busy-loop for ``cpu_fraction`` of ``seconds`` of CPU time, then sleep the rest.

    The busy part is measured in process CPU time, so when jobs contend for cores it takes
    longer in wall time, as real compiles do."""
    if seconds <= 0:
        return
    if cpu_fraction is None:
        cpu_fraction = env_cpu_fraction()
    busy = seconds * cpu_fraction
    if busy > 0:
        c0 = time.process_time()
        guard = time.perf_counter() + 20 * busy + 1.0
        x = 0
        while time.process_time() - c0 < busy:
            for _ in range(3000):
                x += 1
            if time.perf_counter() > guard:
                break
    rest = seconds - busy
    if rest > 0:
        time.sleep(rest)


# ---------------------------------------------------------------------------------------------
# Physical mode (SIMPULSE_SIM_PHYSICAL=1): how a compile's work splits between lean's main
# thread and its task pool (docs/cost-model.md, "Physical mode"). Every number here is
# INVENTED: lean-effect-sizes.md has no measurement of Lean's serial/parallel split.
# ---------------------------------------------------------------------------------------------

PROOF_SHARE = 0.3          # of a theorem's work: its proof, elaborated as a task when Elab.async
ASYNC_START_CPU = 0.008    # s × scale, main thread: setting up asynchronous elaboration (≥ 1 theorem)
ASYNC_TASK_CPU = 0.002     # s × scale, in the task: extra CPU per async proof (snapshot, set-up)
LINT_TASKS = True          # linters run as pool tasks (lean4 PR #4460), with or without Elab.async
THEOREM_KEYWORDS = ("theorem", "lemma", "example")


def work_seconds(est: Estimate) -> float:
    """The compile's CPU work at one thread: the modelled time without the two parallelism
    effects (`-j` and `Elab.async`), which in physical mode come from really running it."""
    w = est.scale * est.base * est.noise
    for k, v in est.factors.items():
        if k not in ("threads", "Elab.async"):
            w *= v
    return w


def physical_plan(info: SourceInfo, options: dict[str, Any], est: Estimate):
    """The compile as a burn.Plan: the header and imports on the main thread, then per
    declaration its sequential part on the main thread, its proof (theorems, when
    `Elab.async` is on) and its linter pass released to the pool as tasks."""
    from simpulse.simulated.burn import Plan, Step
    feats = info.features
    work = work_seconds(est)
    base = max(1e-9, est.base)
    head_share = (MODULE_OVERHEAD + IMPORT_COST * feats.get("imports", 0)) / base
    head = work * min(1.0, head_share)
    linters_on = not _falsy(options.get("linter.all"))
    lint_total = work * (0.05 + 0.10 * size_of(feats)) if (linters_on and LINT_TASKS) else 0.0
    lint_total = min(lint_total, work - head)  # a module of imports and little else
    rest = max(0.0, work - head - lint_total)
    async_on = not _falsy(options.get("Elab.async"))
    total_w = sum(d.weight for d in info.decls)
    if not info.decls or total_w <= 0:
        return Plan(head + rest + lint_total, [])
    if async_on and any(d.keyword in THEOREM_KEYWORDS for d in info.decls):
        head += ASYNC_START_CPU * est.scale
    steps = []
    for d in info.decls:
        share = d.weight / total_w
        mine = rest * share
        tasks = []
        if async_on and d.keyword in THEOREM_KEYWORDS:
            proof = mine * PROOF_SHARE
            mine -= proof
            tasks.append(proof + ASYNC_TASK_CPU * est.scale)
        if lint_total:
            tasks.append(lint_total * share)
        steps.append(Step(mine, tasks))
    return Plan(head, steps)
