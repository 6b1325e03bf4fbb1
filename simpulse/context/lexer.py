"""A Lean 4 aware lexer that keeps only code.

``strip(source)`` returns the source with everything that is not code blanked out:

- line comments ``-- ...`` (to the end of the line),
- block comments ``/- ... -/``, which **nest** (``/- a /- b -/ c -/`` is one comment), including
  doc comments ``/-- ... -/`` and module docs ``/-! ... -/``,
- string literals ``"..."`` with backslash escapes (they may span lines; interpolated strings
  ``s!"..."`` are treated as strings as a whole),
- raw strings ``r"..."`` and ``r#"..."#`` (any number of ``#``),
- character literals ``'a'``, ``'\\n'``, ``'\\''``, ``'\\x41'``, ``'\\u{3bb}'``; a ``'`` that
  follows an identifier character (``h'``, ``List.map'``, ``f''``) is part of the identifier and
  is left alone,
- the contents of ``«...»`` quoted identifiers (replaced by ``_`` so they stay one identifier).

Removed text is replaced by spaces, newlines are kept, so the result has the same length and the
same line structure as the input. An unterminated comment or string swallows the rest of the file;
the lexer never raises.

Standard library only (``re``): it runs in the hot path of every module compilation.
"""

from __future__ import annotations

import re

__all__ = ["strip", "Lexed", "lex"]

# Characters where something that is not plain code may start: `--`, `/-`, `"` (also the end of
# the `r"`/`r#"` raw-string openers, recognised by looking back), `'` and `«`. A plain character
# class lets `re` scan fast; the few false starts (`-`, `/` alone) are skipped in Python.
_START = re.compile(r"""[-/"'«]""")
_ID_CHARS = frozenset("_'!?")
_BLOCK = re.compile(r"/-|-/")
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.S)
_CHAR = re.compile(
    r"""'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,8}\}|[^\n])|[^\\'\n])'"""
)
_NOT_NL = re.compile(r"[^\n]")


class Lexed:
    """The result of :func:`lex`: the stripped code and what was removed."""

    __slots__ = ("code", "comments", "strings", "chars", "unterminated")

    def __init__(self, code: str, comments: int, strings: int, chars: int, unterminated: str | None):
        self.code = code
        self.comments = comments
        self.strings = strings
        self.chars = chars
        #: ``"comment"`` or ``"string"`` when the input ended inside one, else ``None``.
        self.unterminated = unterminated


def _blank(s: str) -> str:
    """Spaces in place of every character but newlines (keeps length and line structure)."""
    if "\n" not in s:
        return " " * len(s)
    return _NOT_NL.sub(" ", s)


def lex(text: str) -> Lexed:
    """Blank out comments, strings and character literals of Lean source ``text``."""
    out: list[str] = []
    append = out.append
    n = len(text)
    pos = 0
    comments = strings = chars = 0
    unterminated: str | None = None
    search = _START.search
    i = 0  # where to look for the next candidate (may run ahead of `pos`)
    while pos < n:
        m = search(text, i)
        if m is None:
            append(text[pos:])
            pos = n
            break
        s = m.start()
        c = text[s]
        if c == "-" or c == "/":
            if text[s + 1 : s + 2] != "-":
                i = s + 1
                continue
        elif c == "'":
            p = text[s - 1] if s else " "
            if p.isalnum() or p in _ID_CHARS:
                i = s + 1  # `h'`, `f''`: part of an identifier
                continue
        if s > pos:
            append(text[pos:s])
        if c == "-":  # line comment
            e = text.find("\n", s)
            if e < 0:
                e = n
            append(" " * (e - s))
            comments += 1
            pos = e
        elif c == "/":  # block comment, nesting
            depth = 1
            j = s + 2
            bsearch = _BLOCK.search
            while depth:
                mm = bsearch(text, j)
                if mm is None:
                    j = n
                    unterminated = "comment"
                    break
                depth += 1 if mm.group() == "/-" else -1
                j = mm.end()
            append(_blank(text[s:j]))
            comments += 1
            pos = j
        elif c == '"':
            # A raw string `r"..."` / `r#"..."#`? Look back over `#`s for an `r` that does not end
            # an identifier. (The `r#` was appended as code already: `out` is patched below.)
            k = s
            while k > pos and text[k - 1] == "#":
                k -= 1
            raw = (
                k > pos
                and text[k - 1] == "r"
                and (k - 1 == 0 or not (text[k - 2].isalnum() or text[k - 2] in _ID_CHARS or text[k - 2] == "."))
            )
            if raw:
                hashes = s - k
                close = '"' + "#" * hashes
                start = k - 1
                e = text.find(close, s + 1)
                if e < 0:
                    e = n
                    unterminated = "string"
                else:
                    e += len(close)
                # take back the `r##` prefix that went out as code
                prefix = s - start
                last = out.pop()
                if len(last) > prefix:
                    out.append(last[:-prefix])
                append(_blank(text[start:e]))
            else:
                body = _STRING_BODY.match(text, s + 1)
                e = body.end() if body else s + 1
                if e < n and text[e] == '"':
                    e += 1
                else:
                    e = n
                    unterminated = "string"
                append(_blank(text[s:e]))
            strings += 1
            pos = e
        elif c == "'":
            cm = _CHAR.match(text, s)
            if cm is None:
                # A stray quote (e.g. inside a `` `(...) `` quotation): keep it as code.
                append("'")
                pos = s + 1
            else:
                e = cm.end()
                append(" " * (e - s))
                chars += 1
                pos = e
        else:  # «quoted identifier»
            e = text.find("»", s + 1)
            nl = text.find("\n", s + 1)
            if e < 0 or (0 <= nl < e):
                # Not a well-formed quoted name: keep the guillemet as code.
                append(c)
                pos = s + 1
            else:
                e += 1
                append("_" * (e - s))
                pos = e
        i = pos
    return Lexed("".join(out), comments, strings, chars, unterminated)


def strip(text: str) -> str:
    """The code of Lean source ``text``: comments, strings and char literals blanked out."""
    return lex(text).code
