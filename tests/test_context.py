"""Behaviour of the module classifier (simpulse/context/) and of the Lean fixtures it reads."""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import load_script

from simpulse.context import classify as C
from simpulse.context.classify import CONTEXTS, MAX_BYTES, Classification, classify
from simpulse.context.features import FEATURE_NAMES, extract
from simpulse.context.lexer import lex, strip

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "lean_fixtures"
FIXTURE_MODULES = sorted((FIXTURES / "Fixtures").glob("*.lean"))
ALL_LEAN = sorted(p for p in FIXTURES.rglob("*.lean") if ".lake" not in p.parts)


@pytest.fixture(autouse=True)
def _fresh_cache():
    C.clear_cache()
    yield
    C.clear_cache()


def feats(src: str) -> dict[str, float]:
    return extract(src)


# --------------------------------------------------------------------------------------------
# lexer


def test_strip_keeps_length_and_lines():
    src = 'def a := 1 -- c\n/- x\n y -/ def b := "s\ntr" \'c\' r#"raw\n"# «q n»\n'
    out = strip(src)
    assert len(out) == len(src)
    assert [i for i, c in enumerate(out) if c == "\n"] == [i for i, c in enumerate(src) if c == "\n"]


@pytest.mark.parametrize(
    "src",
    [
        "-- simp omega decide\n",
        "/- /- simp -/ omega -/\n",
        "/-- simp -/\n",
        "/-! omega decide -/\n",
        'def s := "simp omega"\n',
        "def c := 's'\n",
        'def s := "a \\" simp \\\\"\n',
        'def r := r"simp omega"\n',
        'def r := r#"a "simp" omega"#\n',
        'def «simp omega» := 1\n',
        'def s := s!"simp {x} omega"\n',
    ],
)
def test_comments_strings_chars_never_count(src):
    f = feats(src)
    assert f["simp"] == 0 and f["omega"] == 0 and f["decide"] == 0
    assert "simp" not in strip(src)


def test_nested_block_comment_ends_at_matching_close():
    src = "/- a /- b -/ simp -/ theorem t : True := by omega\n"
    f = feats(src)
    assert f["simp"] == 0
    assert f["omega"] == 1
    assert f["theorems"] == 1  # after blanking, the theorem starts its line
    assert "theorem" not in strip("/- a /- b -/ theorem -/ x")


def test_line_comment_inside_string_and_string_inside_comment():
    src = 'def s := "-- not a comment"\ntheorem t : True := by simp\n-- "unterminated in comment\ntheorem u : True := by simp\n'
    f = feats(src)
    assert f["simp"] == 2
    assert f["theorems"] == 2


def test_identifiers_with_primes_are_not_char_literals():
    src = (
        "theorem foo' (h' : a = b) (h'' : b = c) : a = c := by\n"
        "  simp [h', h'', List.map']\n"
        "def f' := 's'\n"
        "theorem bar : f' = 's' := by omega\n"
    )
    code = strip(src)
    assert "h'" in code and "h''" in code and "List.map'" in code and "f'" in code
    assert "'s'" not in code
    f = feats(src)
    assert f["simp"] == 1
    assert f["omega"] == 1
    assert f["theorems"] == 2


def test_char_literals_of_all_kinds():
    src = "def q := '\"'\ndef t := '\\''\ndef n := '\\n'\ndef b := '\\\\'\ndef u := '\\u{3bb}'\ntheorem x : True := by simp\n"
    lx = lex(src)
    assert lx.chars == 5
    assert lx.strings == 0  # the `"` inside '"' did not open a string
    assert feats(src)["simp"] == 1


def test_unterminated_comment_and_string_swallow_the_rest():
    src = "theorem a : True := by simp\n/- unterminated simp\n omega\n"
    lx = lex(src)
    assert lx.unterminated == "comment"
    f = feats(src)
    assert f["simp"] == 1 and f["omega"] == 0
    src2 = 'theorem a : True := by simp\ndef s := "unterminated simp\n omega\n'
    assert lex(src2).unterminated == "string"
    assert feats(src2)["omega"] == 0
    c = classify(src)
    assert any("unterminated" in r for r in c.reasons)


def test_raw_strings():
    # Raw strings have no escapes: `r"x\"` ends at its second quote, and `simp` after it is code.
    assert strip('def s := r"x\\" simp').count("simp") == 1
    # `bar"` does not open a raw string (`r` ends an identifier): a normal string follows.
    assert strip('def t := bar"simp \\" omega"').count("omega") == 0
    assert strip('def u := r##"a "# simp "##').count("simp") == 0


def test_lexer_never_raises_on_odd_input():
    for src in ["", "'", '"', "/-", "--", "«", "'\\", "r#", 'r#"', "/-/", "-/", "'a", "\x00\x01"]:
        assert isinstance(strip(src), str)
        assert isinstance(extract(src), dict)


# --------------------------------------------------------------------------------------------
# features


def test_feature_names_order_and_keys():
    f = feats("theorem t : True := by simp\n")
    assert tuple(f) == FEATURE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(isinstance(v, float) for v in f.values())


def test_tokens_are_whole_words():
    src = (
        "theorem a (simpLemma : Nat) : Decidable True := by\n"
        "  simp_all\n"
        "  dsimp only\n"
        "  by_cases h : x\n"
        "  native_decide\n"
        "  exact Nat.simp mySimp simp_wf decidable_of_iff rcases_x\n"
    )
    f = feats(src)
    assert f["simp"] == 0
    assert f["simp_all"] == 1
    assert f["simp_only"] == 0  # `dsimp only` is dsimp
    assert f["dsimp"] == 1
    assert f["decide"] == 0
    assert f["cases"] == 0
    assert f["rcases"] == 0


def test_simp_family_is_split_without_overlap():
    src = "\n".join(
        [
            "theorem a : T := by",
            "  simp",
            "  simp at h",
            "  simpa using h",
            "  simp [foo, bar] at h ⊢",
            "  simp only [foo]",
            "  simp (config := { decide := true }) only [foo]",
            "  simp_all only [foo]",
            "  simp [*]",
            "  simp [*, foo] at h",
            "  simp_all",
            "  simp_all [*]",
            "  simp?",
            "  simp_all?",
            "  simp? only [foo]",
            "",
        ]
    )
    f = feats(src)
    assert f["simp"] == 4
    assert f["simp_only"] == 3
    assert f["simp_star"] == 2
    assert f["simp_all"] == 2
    assert f["simp_query"] == 3
    assert f["simp_per_theorem"] == 14.0


def test_simp_attributes():
    src = (
        "@[simp] theorem a : x = x := rfl\n"
        "@[simp, inline] def b := 1\n"
        "@[local simp] theorem c : x = x := rfl\n"
        "@[simp ←] theorem d : x = x := rfl\n"
        "@[inline, simp] def e := 2\n"
        "@[simps] def f := 3\n"
        "attribute [simp] g h i\n"
        "attribute [-simp] j\n"
        "attribute [local simp] k\n"
        "theorem z : True := by simp\n"
    )
    f = feats(src)
    assert f["simp_attr"] == 5 + 3 + 1
    assert f["simp"] == 1  # attributes are not calls
    assert f["declarations"] == 7


def test_declarations_with_modifiers():
    src = (
        "private theorem a : True := trivial\n"
        "@[simp] protected def b := 1\n"
        "noncomputable def c := 1\n"
        "class inductive D where\n  | x\n"
        "instance : Inhabited D := ⟨.x⟩\n"
        "example : True := trivial\n"
        "deriving instance Repr for D\n"
        "structure S where\n  x : Nat\n"
        "abbrev N := Nat\n"
        "  lemma e : True := trivial\n"
        "namespace Foo\nend Foo\n"
    )
    f = feats(src)
    assert f["declarations"] == 9
    assert f["theorems"] == 3
    assert f["definitions"] == 6


def test_arithmetic_density_and_numerals():
    f = feats("def a (x y : Nat) := x + y * 2 - 1 / 3 % 4\n")
    assert f["arith_ops"] == 5.0
    assert f["numerals"] == 4.0
    g = feats("def a := xs ++ ys\ntheorem b : T := by simp [*] at *\ndef c : Nat -> Nat := id\n")
    assert g["arith_ops"] == 0.0
    h = feats("def a := x1 + h.1 + 0x1F + 2.5\n")
    assert h["numerals"] == 2.0  # 0x1F and 2.5; not x1, not h.1


def test_counts_of_tactics():
    src = (
        "theorem a (n : Nat) : P n := by\n"
        "  induction n with\n"
        "  | zero => omega\n"
        "  | succ n ih =>\n"
        "    cases h\n"
        "    rcases h with ⟨a, b⟩\n"
        "    obtain ⟨c, d⟩ := e\n"
        "    exact match n with | _ => by decide\n"
        "theorem b : 2 + 2 = 4 := by norm_num\n"
    )
    f = feats(src)
    assert (f["induction"], f["cases"], f["rcases"], f["match"]) == (1, 1, 2, 1)
    assert (f["omega"], f["decide"], f["norm_num"]) == (1, 1, 1)
    assert f["by_blocks"] == 3
    assert f["max_decl_lines"] == 8


def test_max_decl_lines_stops_at_top_level_commands():
    src = "def a := 1\n\nend Foo\n\n\n\nnamespace Bar\ntheorem b : True := by\n  trivial\n"
    assert feats(src)["max_decl_lines"] == 2


# --------------------------------------------------------------------------------------------
# classification rules

TINY = "theorem t : True := by simp\n"

SIMP_HEAVY = "\n".join(
    f"theorem s{i} (xs : List Nat) : (xs ++ []).length = xs.length := by\n  simp\n  simp only [List.append_nil]\n"
    for i in range(8)
)

SIMP_ATTRS = "\n".join(
    f"@[simp] theorem a{i} : f {i} = {i} := rfl\ndef g{i} := {i}\n" for i in range(12)
)

ARITH = "\n".join(f"theorem o{i} (a b : Nat) (h : a < b) : a + 1 ≤ b := by\n  omega\n" for i in range(12))

ARITH_DENSE = "\n".join(f"def k{i} : Nat := {i} * 2 + 3 - 1 / 4 + {i} % 5\n" for i in range(24))

STRUCTURAL = "\n".join(
    f"theorem c{i} (xs : List Nat) : P xs := by\n  induction xs with\n  | nil => trivial\n"
    f"  | cons x xs ih => cases x <;> exact ih\n"
    for i in range(8)
)

DEFINITIONS = "\n".join(
    f"structure S{i} where\n  x : Nat\n  y : Nat\ninstance : Inhabited S{i} := ⟨⟨0, 0⟩⟩\n"
    f"def S{i}.sum (s : S{i}) : Nat := s.x + s.y\n"
    for i in range(6)
) + "theorem one : True := by trivial\n"

GENERAL = "\n".join(
    f"theorem g{i} (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n  constructor\n  · exact hp\n  · exact hq\n"
    for i in range(8)
)


@pytest.mark.parametrize(
    "src, context",
    [
        (TINY, "tiny"),
        ("", "tiny"),
        (SIMP_HEAVY, "simp_heavy"),
        (SIMP_ATTRS, "simp_heavy"),
        (ARITH, "arith"),
        (ARITH_DENSE, "arith"),
        (STRUCTURAL, "structural"),
        (DEFINITIONS, "definitions"),
        (GENERAL, "general"),
    ],
)
def test_crafted_sources_get_the_context_the_rules_say(src, context):
    c = classify(src)
    assert c.context == context, c.reasons
    assert c.reasons and all(isinstance(r, str) and r for r in c.reasons)


def test_contexts_table():
    assert 5 <= len(CONTEXTS) <= 7
    assert list(CONTEXTS)[0] == "tiny" and list(CONTEXTS)[-1] == "general"
    assert all(isinstance(rule, str) and rule for rule in CONTEXTS.values())


def test_reasons_explain_with_numbers():
    c = classify(SIMP_HEAVY)
    assert any("simp calls per theorem" in r and re.search(r"\d", r) for r in c.reasons)
    assert c.reasons[0].startswith("not tiny")


def test_simp_rule_wins_over_arith_by_priority():
    src = "\n".join(
        f"theorem m{i} (a : Nat) : a + 0 = a := by\n  simp\n  simp\n  omega\n" for i in range(6)
    )
    assert classify(src).context == "simp_heavy"


def test_classification_shape():
    c = classify(SIMP_HEAVY.encode())
    assert isinstance(c, Classification)
    assert c.context in CONTEXTS
    assert tuple(c.features) == FEATURE_NAMES
    assert len(c.vector) == len(FEATURE_NAMES)
    assert all(isinstance(x, float) and math.isfinite(x) for x in c.vector)
    i = FEATURE_NAMES.index("simp")
    assert c.vector[i] == pytest.approx(math.log1p(c.features["simp"]), abs=1e-6)
    j = FEATURE_NAMES.index("simp_per_theorem")
    assert c.vector[j] == pytest.approx(c.features["simp_per_theorem"], abs=1e-6)
    assert c.source_hash == hashlib.sha1(SIMP_HEAVY.encode()).hexdigest()
    with pytest.raises(Exception):
        c.context = "general"  # frozen


def test_str_and_bytes_agree():
    a = classify(SIMP_HEAVY)
    b = classify(SIMP_HEAVY.encode("utf-8"))
    assert a == b


def test_path_does_not_change_the_result():
    a = classify(ARITH, path="A/B.lean")
    C.clear_cache()
    b = classify(ARITH, path=None)
    assert a == b


# --------------------------------------------------------------------------------------------
# any input


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n\n\t",
        b"\xff\xfe\x00\x01binary\x00",
        b"theorem t : True := by simp \xff\xfe\xc3\x28 omega\n",
        bytes(range(256)) * 40,
        b"/-" * 5000,
        b"'" * 10000,
        b'"' * 9999,
        "λ α β → ∀ ∃ ⟨⟩ «» ₁".encode(),
        b"-- only a comment\n",
    ],
)
def test_any_bytes_give_a_context(data):
    c = classify(data)
    assert c.context in CONTEXTS
    assert c.source_hash == hashlib.sha1(data).hexdigest()
    assert len(c.vector) == len(FEATURE_NAMES)


def test_invalid_utf8_is_replaced_and_said():
    c = classify(b"theorem t : True := by simp \xff\xfe\n")
    assert c.features["simp"] == 1
    assert any("undecodable" in r for r in c.reasons)


def test_binary_input_is_not_lexed():
    c = classify(b"\x00" * 100 + b"theorem t := by simp")
    assert c.context == "tiny"
    assert any("binary" in r for r in c.reasons)


def test_huge_input_is_capped_and_said():
    line = b"theorem t (a : Nat) : a + 0 = a := by simp\n"
    data = line * (MAX_BYTES // len(line) + 100)
    assert len(data) > MAX_BYTES
    c = classify(data)
    assert c.context in CONTEXTS
    assert any("first" in r and str(MAX_BYTES) in r for r in c.reasons)
    assert c.source_hash == hashlib.sha1(data).hexdigest()  # the hash covers everything
    assert c.features["theorems"] <= MAX_BYTES // len(line) + 1


def test_str_with_lone_surrogate():
    c = classify("theorem t : True := by simp \udcff\n")
    assert c.context in CONTEXTS


# --------------------------------------------------------------------------------------------
# cache


def test_cache_hit_returns_equal_result():
    a = classify(ARITH.encode())
    info = C.cache_info()
    b = classify(ARITH.encode())
    assert a == b
    assert C.cache_info()["hits"] == info["hits"] + 1
    b.features["omega"] = 999.0  # callers cannot corrupt the cache
    assert classify(ARITH.encode()).features["omega"] == a.features["omega"]


def test_cache_is_bounded():
    for i in range(C.CACHE_SIZE + 20):
        classify(f"def x{i} := {i}\n")
    assert C.cache_info()["size"] == C.CACHE_SIZE


def test_classification_is_deterministic():
    a = classify(STRUCTURAL)
    C.clear_cache()
    assert classify(STRUCTURAL) == a


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.mark.parametrize("path", ALL_LEAN, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_module_classifies(path):
    c = classify(path.read_bytes(), path=str(path))
    assert c.context in CONTEXTS
    assert c.reasons


@pytest.mark.parametrize(
    "module, context",
    [
        ("SimpHeavy", "simp_heavy"),
        ("ListLemmas", "simp_heavy"),
        ("Arith", "arith"),
        ("Cases", "structural"),
        ("Trees", "structural"),
        ("Defs", "definitions"),
        ("Tiny", "tiny"),
        ("Basic", "tiny"),
    ],
)
def test_fixture_contexts(module, context):
    c = classify((FIXTURES / "Fixtures" / f"{module}.lean").read_bytes())
    assert c.context == context, c.reasons


def test_fixture_comments_module_has_one_simp_call():
    f = extract((FIXTURES / "Fixtures" / "Comments.lean").read_text())
    assert f["simp"] == 1 and f["omega"] == 1
    assert f["decide"] == 0 and f["simp_all"] == 0 and f["induction"] == 0


def test_fixture_package_layout():
    lakefile = (FIXTURES / "lakefile.toml").read_text()
    assert 'defaultTargets = ["Fixtures"]' in lakefile
    assert lakefile.count("[[lean_lib]]") == 3 and 'name = "Broken"' in lakefile
    assert 'name = "Meaning"' in lakefile  # issue 17: outside the default target
    assert (FIXTURES / "lean-toolchain").read_text().strip() == "leanprover/lean4:v4.14.0"
    assert len(FIXTURE_MODULES) >= 13
    root_imports = set(re.findall(r"^import (\S+)", (FIXTURES / "Fixtures.lean").read_text(), re.M))
    assert root_imports == {f"Fixtures.{p.stem}" for p in FIXTURE_MODULES}
    sizes = {p.stem: len(p.read_text().splitlines()) for p in FIXTURE_MODULES}
    assert sizes["SimpHeavy"] >= 150
    assert sum(1 for n in sizes.values() if n < 30) >= 2


def _imports(path: Path) -> list[str]:
    return re.findall(r"^import (\S+)", path.read_text(), re.M)


def test_fixture_import_graph_is_a_core_only_dag_of_depth_3():
    graph = {f"Fixtures.{p.stem}": _imports(p) for p in FIXTURE_MODULES}
    for mod, deps in graph.items():
        for d in deps:
            assert d in graph, f"{mod} imports {d}, which is not a fixture module (core only)"

    depth: dict[str, int] = {}

    def visit(m: str, stack: tuple[str, ...] = ()) -> int:
        assert m not in stack, f"import cycle {stack + (m,)}"
        if m not in depth:
            depth[m] = 1 + max((visit(d, stack + (m,)) for d in graph[m]), default=0)
        return depth[m]

    assert max(visit(m) for m in graph) >= 4  # at least 3 import edges in a chain
    assert _imports(FIXTURES / "Broken.lean") == ["Fixtures.Basic"]


def test_fixtures_use_only_lean_core():
    banned = re.compile(
        r"(?<![\w.])(lemma|sorry|admit|norm_num|linarith|nlinarith|ring|ring_nf|aesop|exact\?|"
        r"apply\?|simp_arith|positivity|tauto|omega_nat|decide!|native_decide)(?![\w'])"
    )
    for p in ALL_LEAN:
        code = strip(p.read_text())
        hits = banned.findall(code)
        assert not hits, f"{p.name}: {hits}"


# A tiny evaluator of closed Nat arithmetic: + - * / % and parentheses; `-` truncates at 0 and
# `/ 0` is 0, as in Lean.
_TOK = re.compile(r"\s*(\d+|[-+*/%()])")


def _nat_eval(expr: str) -> int:
    toks = _TOK.findall(expr)
    assert "".join(toks) == re.sub(r"\s+", "", expr), expr
    pos = 0

    def atom() -> int:
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t == "(":
            v = add()
            assert toks[pos] == ")"
            pos += 1
            return v
        return int(t)

    def mul() -> int:
        nonlocal pos
        v = atom()
        while pos < len(toks) and toks[pos] in "*/%":
            op = toks[pos]
            pos += 1
            r = atom()
            v = v * r if op == "*" else (v // r if r else 0) if op == "/" else (v % r if r else v)
        return v

    def add() -> int:
        nonlocal pos
        v = mul()
        while pos < len(toks) and toks[pos] in "+-":
            op = toks[pos]
            pos += 1
            r = mul()
            v = v + r if op == "+" else max(0, v - r)
        return v

    v = add()
    assert pos == len(toks), expr
    return v


_CLAIM = re.compile(
    r"^theorem (\S+) : ([\d\s+\-*/%()]+?) (=|≠|<|≤|>|≥) ([\d\s+\-*/%()]+?) := by decide\s*$", re.M
)
_REL = {
    "=": lambda a, b: a == b,
    "≠": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "≤": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "≥": lambda a, b: a >= b,
}


def test_closed_decide_claims_are_true_except_the_broken_one():
    true_claims = 0
    for p in FIXTURE_MODULES:
        for name, lhs, rel, rhs in _CLAIM.findall(p.read_text()):
            assert _REL[rel](_nat_eval(lhs), _nat_eval(rhs)), f"{p.name}: {name} is false"
            true_claims += 1
    assert true_claims >= 5
    broken = _CLAIM.findall((FIXTURES / "Broken.lean").read_text())
    false = [(n, l, r, rr) for n, l, r, rr in broken if not _REL[r](_nat_eval(l), _nat_eval(rr))]
    assert [c[0] for c in false] == ["two_plus_two_is_five"]
    assert "theorem two_plus_two_is_five : 2 + 2 = 5 := by decide" in (FIXTURES / "Broken.lean").read_text()


def test_nat_evaluator_semantics():
    assert _nat_eval("2 + 3 * 4") == 14
    assert _nat_eval("3 - 5") == 0
    assert _nat_eval("7 / 0") == 0
    assert _nat_eval("((1 + 2) * (3 + 4) - 5) / 2") == 8


# --------------------------------------------------------------------------------------------
# import cost and throughput (no timing asserts)


def test_import_is_stdlib_only():
    code = (
        "import sys; before = set(sys.modules); import simpulse.context.classify; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    new = [m.split(".")[0] for m in out.stdout.split()]
    outside = sorted({m for m in new if m != "simpulse" and m not in sys.stdlib_module_names})
    assert outside == []
    assert not {"numpy", "scipy", "typer", "rich", "json", "subprocess"} & set(new)


def _load_bench():
    return load_script("bench_classify")


def test_many_synthetic_files_classify():
    import random

    bench = _load_bench()
    rng = random.Random(7)
    contexts = set()
    for i in range(150):
        src = bench.synthetic_module(i, rng)
        assert 100 <= src.count("\n") <= 460
        c = classify(src.encode())
        assert c.context in CONTEXTS
        contexts.add(c.context)
    assert len(contexts) >= 2


def test_bench_script_quick_runs(capsys):
    bench = _load_bench()
    assert bench.main(["--quick", "--files", "5", "--rounds", "1", "--big-mb", "1"]) == 0
    out = capsys.readouterr().out
    assert "files/s" in out and "synthetic" in out
