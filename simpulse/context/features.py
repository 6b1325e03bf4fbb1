"""Numeric features of one Lean module, computed from its code (comments and strings removed).

``extract(source)`` returns a ``dict`` with exactly the keys of :data:`FEATURE_NAMES`, in that
order. ``source`` may be raw Lean source (it is lexed first) or, with ``lexed=True``, the output
of :func:`simpulse.context.lexer.strip`.

Counting rules (all keywords are matched as whole Lean tokens: ``simp_all`` is not ``simp``,
``simpLemma``, ``Nat.simp`` and ``Decidable`` count nothing, ``by_cases`` is not ``cases``):

feature            meaning
------------------ -----------------------------------------------------------------------------
lines              non-blank code lines
declarations       commands ``def theorem lemma example instance structure inductive abbrev
                   class opaque axiom`` at the start of a line (after attributes and modifiers
                   such as ``@[simp] private``); ``class inductive`` counts once
theorems           those of them that are ``theorem``, ``lemma`` or ``example``
definitions        declarations − theorems
simp               plain simp-family calls: ``simp``, ``simpa``, ``simp_arith`` (not any below)
simp_only          ``simp only`` / ``simpa only`` / ``simp_arith only`` / ``simp_all only``
simp_all           ``simp_all`` (with or without a lemma list, including ``simp_all [*]``)
simp_star          ``simp [*]`` / ``simpa [*]`` — a lemma list containing ``*`` (not ``only``,
                   not ``simp_all``: ``simp_all`` uses every hypothesis anyway)
simp_query         ``simp?``, ``simp_all?``, ``simpa?`` … (the ``?`` wins over everything)
simp_attr          ``simp`` entries of ``@[...]`` attributes (``@[simp]``, ``@[simp, inline]``,
                   ``@[local simp]``, ``@[simp ←]``) plus every name after ``attribute [simp]``;
                   ``attribute [-simp]`` does not count
dsimp              ``dsimp`` calls (any form)
omega, decide      ``omega``; ``decide`` (tactic or term; ``native_decide`` is not ``decide``)
norm_num           ``norm_num`` (Mathlib; recognized so Mathlib modules classify sensibly)
induction          ``induction``
cases              ``cases`` (the plain word: not ``cases'``, ``by_cases``, ``rcases``)
rcases             ``rcases`` and ``obtain`` (same pattern machinery)
match              ``match`` expressions and tactics
by_blocks          ``by`` (tactic blocks)
imports            ``import`` lines
max_decl_lines     code lines of the longest declaration (from its first line up to the next
                   declaration or top-level command such as ``end``/``namespace``/``open``)
arith_ops          binary ``+ - * / %`` operators per code line (``++``, ``->``, ``[*]``,
                   ``at *`` are not arithmetic)
numerals           numeric literals per code line
simp_per_theorem   all simp-family calls (simp … simp_query, not simp_attr/dsimp) / max(1, theorems)
arith_per_theorem  (omega + decide + norm_num) / max(1, theorems)
struct_per_theorem (induction + cases + rcases + match) / max(1, theorems)
theorem_ratio      theorems / max(1, declarations)
by_per_declaration by_blocks / max(1, declarations)
simp_share         simp-family calls / (simp-family + omega/decide/norm_num +
                   induction/cases/rcases/match calls); 0 when there are none

Standard library only.
"""

from __future__ import annotations

import re

from simpulse.context.lexer import strip

__all__ = ["FEATURE_NAMES", "COUNT_FEATURES", "DENSITY_FEATURES", "extract", "simp_calls"]

#: Raw counts (the classifier's vector uses log1p of these).
COUNT_FEATURES: tuple[str, ...] = (
    "lines",
    "declarations",
    "theorems",
    "definitions",
    "simp",
    "simp_only",
    "simp_all",
    "simp_star",
    "simp_query",
    "simp_attr",
    "dsimp",
    "omega",
    "decide",
    "norm_num",
    "induction",
    "cases",
    "rcases",
    "match",
    "by_blocks",
    "imports",
    "max_decl_lines",
)

#: Ratios and densities (used as they are in the vector).
DENSITY_FEATURES: tuple[str, ...] = (
    "arith_ops",
    "numerals",
    "simp_per_theorem",
    "arith_per_theorem",
    "struct_per_theorem",
    "theorem_ratio",
    "by_per_declaration",
    "simp_share",
)

#: Every feature, in the fixed order of the classifier's vector.
FEATURE_NAMES: tuple[str, ...] = COUNT_FEATURES + DENSITY_FEATURES

_SIMP_FAMILY = ("simp", "simp_only", "simp_all", "simp_star", "simp_query")

# Patterns start with a literal or a character class where possible (so `re` can scan fast) and
# check the character before a keyword with a lookbehind placed *after* the keyword.
# Declarations and top-level commands are recognised line by line (see `_scan_lines`).
_DECL_LINE = re.compile(
    r"(?:@\[[^\]]*\][ \t]*)*"
    r"(?:(?:private|protected|noncomputable|partial|unsafe|nonrec|scoped|local|public)[ \t]+)*"
    r"(def|theorem|lemma|example|instance|structure|inductive|abbrev|class|opaque|axiom)"
    r"(?![\w'!?.])(?:[ \t]+(inductive|abbrev)(?![\w'!?.]))?"
)
# First four characters of a line that may start a declaration (keywords, modifiers, `@[`):
# a cheap filter before the regular expression.
_DECL_PREFIXES = frozenset(
    w[:4]
    for w in (
        "def theorem lemma example instance structure inductive abbrev class opaque axiom "
        "private protected noncomputable partial unsafe nonrec scoped local public"
    ).split()
    if len(w) >= 4
) | {"def ", "def\t"}
_THEOREM_KW = frozenset(("theorem", "lemma", "example"))
# Top-level commands (at column 0) that end the previous declaration's span.
_TOPCMD_LINE = re.compile(
    r"(?:end|namespace|section|open|variable|universe|set_option|import|mutual|attribute|"
    r"#[a-z_]+|deriving|noncomputable[ \t]+section|export|initialize|macro|syntax|elab|"
    r"notation|infix[lr]?|prefix|postfix|declare_\w+|register_\w+)(?![\w'!?.])"
)
_TOPCMD_FIRST = frozenset("enosuvimad#xrpl")
_ATTR_AT = re.compile(r"@\[([^\]]*)\]")
_ATTR_CMD = re.compile(r"attribute(?<![\w'!?.]attribute)[ \t]*\[([^\]]*)\]([^\n]*)")
_SIMP_ENTRY = re.compile(r"^\s*(?:(?:local|scoped)\s+)?simp(?![\w'!?.])")

# One simp-family call and what follows it on the same line: `?`/`!` suffix, config and
# `+flag`/`-flag` options, `only`, and a `[...]` lemma list (which may span lines).
_SIMP_CALL = re.compile(
    r"simp(?<![\w'!?.]simp)(_all|_arith|a|)([?!]*)(?![\w'])"
    r"((?:[ \t]*(?:\((?:[^()\n]|\([^()\n]*\))*\)|[+\-][A-Za-z][\w.]*))*)"
    r"[ \t]*(only(?![\w']))?"
    r"(?:[ \t]*\[([^\]]*)\])?"
)
_STAR_ITEM = re.compile(r"(?:^|,)\s*\*\s*(?:,|$)")


# keyword -> the feature it counts. One alternation, compiled once: the classifier runs in
# every shim process, where each compiled pattern costs start-up time.
_KEYWORD_FEATURE = {
    "dsimp": "dsimp", "omega": "omega", "decide": "decide", "norm_num": "norm_num",
    "induction": "induction", "cases": "cases", "rcases": "rcases", "obtain": "rcases",
    "match": "match", "by": "by_blocks", "import": "imports",
}
_KEYWORD_FEATURES = tuple(dict.fromkeys(_KEYWORD_FEATURE.values()))
_KEYWORD = re.compile(
    r"(?<![\w'!?.])("
    + "|".join(sorted(map(re.escape, _KEYWORD_FEATURE), key=len, reverse=True))
    + r")(?![\w'!?])"
)
_ARITH = re.compile(
    r"[+\-*/%](?:(?<=[\w)\]}⟩'!?][+\-*/%])|(?<=[\w)\]}⟩'!?] [+\-*/%]))(?=[ \t]*[\w(↑⟨])"
)
# A numeral is counted at its first digit: a digit not preceded by an identifier character, a
# digit or `.` (so `x1`, `h.2`, the `5` of `2.5` and the `1F` of `0x1F` add nothing).
_NUMERAL = re.compile(r"[0-9](?<![\w.'][0-9])")


def simp_calls(f: dict[str, float]) -> float:
    """All simp-family calls of a feature dict (plain, only, all, star, query)."""
    return sum(f[k] for k in _SIMP_FAMILY)


def _count_simp_attrs(code: str) -> int:
    n = 0
    for m in _ATTR_AT.finditer(code):
        for entry in m.group(1).split(","):
            if _SIMP_ENTRY.match(entry):
                n += 1
    for m in _ATTR_CMD.finditer(code):
        if any(_SIMP_ENTRY.match(e) for e in m.group(1).split(",")):
            n += max(1, len(m.group(2).split()))
    return n


def _blank_attrs(code: str) -> str:
    """Attributes mention `simp` without calling it: blank them before counting calls."""
    if "@[" in code:
        code = _ATTR_AT.sub(lambda m: " " * len(m.group()), code)
    if "attribute" in code:
        code = _ATTR_CMD.sub(lambda m: " " * len(m.group()), code)
    return code


def _scan_lines(code: str) -> tuple[int, int, int, int]:
    """(non-blank lines, declarations, theorems, non-blank lines of the longest declaration).

    A declaration's span runs from its first line to the line before the next declaration or
    top-level command (``end``, ``namespace``, ``open``, ``section``, ``#eval``, ...).
    """
    nonblank = decls = theorems = best = 0
    cur = -1  # non-blank lines of the current declaration, -1 outside any declaration
    decl_match = _DECL_LINE.match
    top_match = _TOPCMD_LINE.match
    for line in code.split("\n"):
        t = line.lstrip()
        if not t:
            continue
        nonblank += 1
        c = t[0]
        if c == "@" or t[:4] in _DECL_PREFIXES:
            m = decl_match(t)
            if m is not None:
                decls += 1
                if m.group(1) in _THEOREM_KW:
                    theorems += 1
                if cur > best:
                    best = cur
                cur = 1
                continue
        if c in _TOPCMD_FIRST and len(t) == len(line) and top_match(t) is not None:
            if cur > best:
                best = cur
            cur = -1
            continue
        if cur >= 0:
            cur += 1
    if cur > best:
        best = cur
    return nonblank, decls, theorems, best


def extract(source: str, *, lexed: bool = False) -> dict[str, float]:
    """The features of one Lean module. Never raises on any ``str`` input."""
    code = source if lexed else strip(source)
    f: dict[str, float] = dict.fromkeys(FEATURE_NAMES, 0.0)

    lines, decls, theorems, longest = _scan_lines(code)
    f["lines"] = float(lines)
    f["declarations"] = float(decls)
    f["theorems"] = float(theorems)
    f["definitions"] = float(decls - theorems)
    f["max_decl_lines"] = float(longest)

    has_attr = "@[" in code or "attribute" in code
    f["simp_attr"] = float(_count_simp_attrs(code)) if has_attr else 0.0
    calls = _blank_attrs(code) if has_attr else code

    if "simp" in calls:
        for name, suffix, _opts, only, lemmas in _SIMP_CALL.findall(calls):
            if "?" in suffix:
                f["simp_query"] += 1
            elif only:
                f["simp_only"] += 1
            elif name == "_all":
                f["simp_all"] += 1
            elif "*" in lemmas and _STAR_ITEM.search(lemmas):
                f["simp_star"] += 1
            else:
                f["simp"] += 1

    for feature in _KEYWORD_FEATURES:
        f[feature] = 0.0
    for word in _KEYWORD.findall(calls):
        f[_KEYWORD_FEATURE[word]] += 1.0

    per_line = 1.0 / lines if lines else 0.0
    f["arith_ops"] = round(len(_ARITH.findall(calls)) * per_line, 4)
    f["numerals"] = round(len(_NUMERAL.findall(calls)) * per_line, 4)

    t = max(1, theorems)
    f["simp_per_theorem"] = round(simp_calls(f) / t, 4)
    f["arith_per_theorem"] = round((f["omega"] + f["decide"] + f["norm_num"]) / t, 4)
    f["struct_per_theorem"] = round(
        (f["induction"] + f["cases"] + f["rcases"] + f["match"]) / t, 4
    )
    f["theorem_ratio"] = round(theorems / max(1, decls), 4)
    f["by_per_declaration"] = round(f["by_blocks"] / max(1, decls), 4)
    sc = simp_calls(f)
    tactic_calls = sc + f["omega"] + f["decide"] + f["norm_num"] + f["induction"] + f["cases"]
    tactic_calls += f["rcases"] + f["match"]
    f["simp_share"] = round(sc / tactic_calls, 4) if tactic_calls else 0.0
    return f
