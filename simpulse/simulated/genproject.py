"""Synthetic Lake projects shaped like real ones, for the build benchmark (scripts/bench_build.py);
``python -m simpulse.simulated.genproject DIR --modules N`` writes one.

What is imitated, from the import graphs of two real libraries (``../shared/lean-graphs.json``:
Batteries, 260 modules, longest chain 14; Aesop, 250 modules, longest chain 28), is documented
in docs/benchmarks.md ("Build benchmark"):

- **layers**: a wide first layer of modules with no local import (20 % of the modules:
  Batteries 29 %, Aesop 10 %), then layers that narrow with depth into a long thin tail (a
  chain); depth ≈ 1.3·√n levels (Batteries 0.87·√n, Aesop 1.77·√n);
- **imports per module** (local): 1 for 67 %, 2 for 19 %, 3 for 5 %, 4 for 4 %, 5 for 4 %,
  6–7 for 2 % (the two graphs' modules with at least one local import, aggregators left out),
  one from the layer right below, the others further down (span 1 for half of them, geometric
  beyond; both graphs: median span 1, 90th percentile 6–12), chosen in proportion to
  1 + the number of modules already importing them (hubs, like Aesop's module imported by 104);
- **an aggregator root** (``Bench.lean``, like ``Batteries.lean``) importing every module no
  other module imports;
- **sizes**: log-normal lines, median e^4.06 ≈ 58 (both graphs: log-mean 4.05 / 4.08),
  log-sd 1.15 (Batteries 1.38, Aesop 0.93), clipped to 8…1500 lines.

The bodies are real Lean 4 syntax that the simulated ``lean`` reads (costmodel.analyze):
definitions by pattern matching, theorems proved by ``simp``, ``omega``, ``decide`` on true
closed literals, ``induction``, structures and instances, in a mix that varies by module (so
the modules fall into different contexts). Nothing fails under Lean's defaults or the ``safe``
profile; no ``by simp`` on closed literal arithmetic (which ``simprocs=false`` would break).
Deterministic given the seed. Standard library only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

ROOT_SHARE = 0.20
DEPTH_PER_SQRT = 1.3
IMPORT_COUNTS = [(1, 0.67), (2, 0.19), (3, 0.05), (4, 0.04), (5, 0.04), (6, 0.01), (7, 0.01)]
LOG_LINES_MU = 4.06
LOG_LINES_SIGMA = 1.15
MIN_LINES, MAX_LINES = 8, 1500
AREAS = ("Data", "Logic", "Order", "Algebra", "Tactic", "Util", "Control", "Lemmas")
FLAVOURS = {  # declaration kinds and their weights, per module flavour
    "simp": {"def": 2, "simp": 6, "omega": 1, "induction": 1, "decide": 0.5, "struct": 0.3},
    "arith": {"def": 1, "simp": 1, "omega": 5, "induction": 1, "decide": 2, "struct": 0.2},
    "structural": {"def": 3, "simp": 1, "omega": 1, "induction": 4, "decide": 0.2, "struct": 0.5},
    "definitions": {"def": 6, "simp": 1, "omega": 0.5, "induction": 0.5, "decide": 0.2, "struct": 2},
}
FLAVOUR_WEIGHTS = {"simp": 3, "arith": 2, "structural": 2, "definitions": 3}


@dataclass
class Module:
    name: str
    level: int
    lines: int
    flavour: str
    imports: list[str] = field(default_factory=list)

    @property
    def rel_path(self) -> str:
        return self.name.replace(".", "/") + ".lean"


@dataclass
class Project:
    modules: dict[str, Module]
    root: str = "Bench"

    def depth(self) -> int:
        return max(m.level for m in self.modules.values()) + 1

    def edges(self) -> int:
        return sum(len(m.imports) for m in self.modules.values())


def _weighted(rng: random.Random, pairs):
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def make_graph(n_modules: int, seed: int = 0) -> Project:
    """The import DAG of a project of `n_modules` modules, the aggregator root included."""
    rng = random.Random(f"genproject-graph-{seed}")
    n = max(1, n_modules - 1)
    depth = max(2, round(DEPTH_PER_SQRT * math.sqrt(n)))
    depth = min(depth, n)
    roots = max(1, min(n - (depth - 1), round(ROOT_SHARE * n)))
    rest = n - roots
    widths = [roots] + [1] * (depth - 1)  # every level has at least one module: the chain
    spare = rest - (depth - 1)
    tau = max(1.0, depth / 3.0)
    weights = [math.exp(-k / tau) for k in range(1, depth)]
    for _ in range(max(0, spare)):
        widths[1 + _weighted(rng, list(enumerate(weights)))] += 1
    mods: dict[str, Module] = {}
    by_level: list[list[str]] = []
    importers: dict[str, int] = {}
    counter = 0
    for lvl, w in enumerate(widths):
        names = []
        for _ in range(w):
            counter += 1
            area = AREAS[rng.randrange(len(AREAS))]
            name = f"Bench.{area}.M{counter:04d}"
            lines = int(min(MAX_LINES, max(MIN_LINES, round(math.exp(rng.gauss(LOG_LINES_MU, LOG_LINES_SIGMA))))))
            flavour = _weighted(rng, list(FLAVOUR_WEIGHTS.items()))
            m = Module(name, lvl, lines, flavour)
            if lvl > 0:
                below = by_level[lvl - 1]
                first = _pick(rng, below, importers)
                m.imports.append(first)
                extra = _weighted(rng, IMPORT_COUNTS) - 1
                for _ in range(extra):
                    span = 1
                    while span < lvl and rng.random() < 0.5:
                        span += 1
                    cand = [c for c in by_level[lvl - span] if c not in m.imports]
                    if cand:
                        m.imports.append(_pick(rng, cand, importers))
                for i in m.imports:
                    importers[i] = importers.get(i, 0) + 1
            mods[name] = m
            names.append(name)
        by_level.append(names)
    sinks = [nm for nm in mods if importers.get(nm, 0) == 0]
    mods["Bench"] = Module("Bench", depth, 8, "definitions", sorted(sinks))
    return Project(mods)


def _pick(rng: random.Random, names: list[str], importers: dict[str, int]) -> str:
    return _weighted(rng, [(nm, 1.0 + importers.get(nm, 0)) for nm in names])


# ---------------------------------------------------------------------------------------------
# Module bodies
# ---------------------------------------------------------------------------------------------


def _decl(kind: str, k: int, rng: random.Random, prev_defs: list[str]) -> tuple[list[str], str | None]:
    """Lines of one declaration of `kind` (numbered k) and the name of a def it introduces."""
    if kind == "def":
        c = rng.randrange(1, 9)
        if rng.random() < 0.5:
            name = f"fl{k}"
            return [f"def {name} : List Nat → Nat", "  | [] => 0",
                    f"  | x :: xs => x + {c} * {name} xs", ""], name
        name = f"fn{k}"
        return [f"def {name} (n : Nat) : Nat :=", "  match n with", f"  | 0 => {c}",
                f"  | m + 1 => {name} m + {c}", ""], name
    if kind == "simp":
        forms = [
            f"theorem t{k} (xs ys : List Nat) : (xs ++ ys).length = xs.length + ys.length := by simp",
            f"theorem t{k} (xs : List Nat) : (xs ++ []).reverse = xs.reverse := by simp",
            f"theorem t{k} (a b : Nat) (h : a = b) : a + 0 = b := by simp [h]",
            f"theorem t{k} (xs : List Nat) : (xs.map id).length = xs.length := by simp",
        ]
        out = [rng.choice(forms)]
        if prev_defs and rng.random() < 0.4:
            f = rng.choice(prev_defs)  # a lemma about one of this module's definitions
            out = [f"@[simp] theorem t{k} : {f} [] = 0 := by simp [{f}]" if f.startswith("fl")
                   else f"theorem t{k} (n : Nat) : {f} (n + 1) = {f} n + {f} 0 := by simp [{f}]"]
        return out + [""], None
    if kind == "omega":
        c = rng.randrange(1, 50)
        forms = [
            f"theorem t{k} (a b : Nat) (h : a ≤ b) : a < b + {c} := by omega",
            f"theorem t{k} (a b c : Nat) (h₁ : a < b) (h₂ : b < c) : a + {c} < c + {c} := by omega",
            f"theorem t{k} (n : Nat) : 2 * n + {c} ≠ 2 * n := by omega",
        ]
        return [rng.choice(forms), ""], None
    if kind == "decide":
        a, b = rng.randrange(2, 60), rng.randrange(2, 60)
        return [f"theorem t{k} : {a} + {b} = {a + b} := by decide", ""], None
    if kind == "induction":
        return [f"theorem t{k} (n : Nat) : 0 + n = n := by", "  induction n with", "  | zero => rfl",
                "  | succ m ih => omega", ""], None
    if kind == "struct":
        return [f"structure S{k} where", "  fst : Nat", "  snd : Nat", "  deriving Repr", "",
                f"instance : Inhabited S{k} := ⟨⟨0, {k}⟩⟩", ""], None
    raise ValueError(kind)


def module_source(m: Module, seed: int = 0, extra: int = 0) -> str:
    """The Lean source of module `m` (about `m.lines` lines); `extra` appends that many more
    declarations (an edit)."""
    rng = random.Random(f"genproject-src-{seed}-{m.name}")
    out = [f"import {i}" for i in m.imports]
    out += ["", "/-!", f"# {m.name}", "", f"A synthetic module ({m.flavour}), generated for the build",
            "benchmark (simpulse/simulated/genproject.py).", "-/", "", f"namespace {m.name}", ""]
    if m.name == "Bench":
        return "\n".join([f"import {i}" for i in m.imports] + [""])
    kinds = list(FLAVOURS[m.flavour].items())
    defs: list[str] = []
    k = 0
    while len(out) < m.lines or k == 0:
        k += 1
        lines, d = _decl(_weighted(rng, kinds), k, rng, defs)
        if d:
            defs.append(d)
        out += lines
    for j in range(extra):
        k += 1
        lines, d = _decl(_weighted(rng, kinds), k, rng, defs)
        out += [f"-- edit {j + 1}"] + lines
    out += [f"end {m.name}", ""]
    return "\n".join(out)


LAKEFILE = """name = "bench"
defaultTargets = ["Bench"]

[[lean_lib]]
name = "Bench"
"""


def write_project(proj: Project, dest: Path, seed: int = 0) -> Path:
    """Write the project's `lakefile.toml` and sources under `dest` (created)."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "lakefile.toml").write_text(LAKEFILE)
    (dest / "lean-toolchain").write_text("leanprover/lean4:v4.14.0\n")
    for m in proj.modules.values():
        p = dest / m.rel_path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(module_source(m, seed))
    return dest


def edit_module(proj: Project, dest: Path, name: str, seed: int, n_edit: int) -> None:
    """Edit module `name` under `dest`: its source with `n_edit` more declarations."""
    m = proj.modules[name]
    (dest / m.rel_path).write_text(module_source(m, seed, extra=n_edit))


def describe(proj: Project) -> dict:
    """Statistics to compare with the real graphs: modules, edges, depth, roots, widths."""
    levels: dict[int, int] = {}
    for m in proj.modules.values():
        levels[m.level] = levels.get(m.level, 0) + 1
    deg = [len(m.imports) for m in proj.modules.values() if m.name != proj.root]
    lines = sorted(m.lines for m in proj.modules.values() if m.name != proj.root)
    return {"modules": len(proj.modules), "edges": proj.edges(), "longest_chain": proj.depth(),
            "roots": sum(1 for d in deg if d == 0), "widths": [levels[k] for k in sorted(levels)],
            "median_lines": lines[len(lines) // 2], "max_lines": lines[-1],
            "aggregator_imports": len(proj.modules[proj.root].imports)}


def main(argv: list[str] | None = None) -> int:
    """`python -m simpulse.simulated.genproject DIR [--modules N] [--seed S]`: write a project."""
    import argparse
    import json
    ap = argparse.ArgumentParser(description="Write a synthetic Lake project shaped like real ones "
                                             "(for the SIMULATED toolchain; docs/benchmarks.md).")
    ap.add_argument("dir", type=Path)
    ap.add_argument("--modules", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.modules < 2:
        ap.error("--modules must be at least 2")
    if a.dir.exists() and any(a.dir.iterdir()):
        ap.error(f"{a.dir} exists and is not empty")
    proj = make_graph(a.modules, a.seed)
    write_project(proj, a.dir, a.seed)
    print(json.dumps(describe(proj)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
