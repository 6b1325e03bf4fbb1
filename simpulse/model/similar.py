"""Contexts that split themselves: a module's effects predicted from the modules most like it.

A context is a heuristic, and one context can hold modules that respond differently to a
strategy (list-induction lemmas and rewriting lemmas both read as `simp_heavy`). The context's
joint posterior (`simpulse.policy.joint`) learns the context's *average* effect; this module
corrects it, per module, by what the most similar modules of the context measured — and
leaves it alone where they say nothing clear:

* **Similarity** is read from the source, like the context: a module's *signature* is the
  per-declaration rate of the tactics and attributes `simpulse/context/features.py` counts
  (`SIG_KEYS`, log1p of 10 × count / declarations: size-free), stored in its record (`"g"`) by
  the fold (`note`). Its neighbours are the K (`K`) modules of its context nearest in signature
  that have evidence on the strategy; the module itself, when it has its own, counts first.
* **Speed.** A neighbour j compiled under k and under something else has a within-module
  residual e_jk = ȳ_jk − δ̂_k − ref_j, ref_j its baseline mean or, without one, the mean of its
  other strategies' log-times de-biased by their δ̂ (variance σ²(1/n_k + 1/n_ref)). Their
  precision-weighted mean ê, with its standard error (the larger of the noise's and the
  neighbours' own spread), is shrunk by max(0, 1 − (Z·se / ê)²) (`Z` = 0.5): an offset within
  half a standard error of 0 is 0, one of two standard errors keeps 94% of itself, and a context
  whose modules respond alike (the default benchmark) moves by a few hundredths of log-time at
  most. `stats` and `recommend` show an offset only where it is SHOW (2) standard errors clear.
* **Breakage.** Strategies breaking the same proofs pool their evidence (the learner's
  `breaking_group`). A neighbour that broke under the group (`"b"`, kept across edits: a kind
  of module, not a version) or compiled under it informs the module's rate; where the
  neighbours' failure share differs from the context's rate by more than Z_BREAK binomial standard
  errors (and at least `MIN_TRIES` of them tried), the module's Beta posterior is theirs
  centred on the context's rate with `PRIOR` pseudo-observations, instead of the context's.
  The module's own clean compiles under the group, if the group never broke it, each count as
  `OWN` (50) compiles that did not break, added to that posterior (the neighbours' or the
  context's): Lean is deterministic, and a strategy that compiled a module's proofs breaks them
  again only if an edit (its own or an import's) adds one it cannot prove. One clean compile
  takes a context's Beta(4.5, 46) (4 failures in 40 compiles: 8.9 %) to 4.5 %, and its
  Beta(20.5, 190) (20 in 200: 9.7 %) to 7.9 %. (Dividing the rate by 1 + 50 n instead, a risk
  near 0 in either case, did no better on the learning benchmark's tuning seeds:
  docs/learning.md.) The compiles are counted as the record keeps them (its last
  `MODULE_MEMORY` per strategy), and only for a module this step reaches: one with a tactic
  signature, in a context of at least `MIN_TRIES` indexed modules. A module the group broke
  keeps its context's or neighbours' rate, and never gets the strategy again on that source
  (the failure memory).

Everything else — the draw, the temperature, the floor, the budget, the safety layer — is the
context's. Standard library only: `Learner.choose` calls `adjust` on the hot path; the index
(`Index`) is built once per process and context from the records (a substring test skips other
contexts' records; through the shim's view, from the view's section for the context instead,
`simpulse.store.simindex`: the same entries without reading every record) and kept current by
`Learner.observe`.
"""

from __future__ import annotations

import math

from simpulse.model.neighbours import SCAN, _first, closest, closest_many

TYPE_CHECKING = False        # `typing` costs the shim an import; mypy reads this name as typing's
if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_values
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    from simpulse.model.levels import Level
    from simpulse.model.records import Event, ModuleRecord, Stats, Toolchain
    from simpulse.policy.joint import Breakage, Joint
    from simpulse.store.simindex import Rows

    # The index's entry of a module (`_entry`): (signature, cells {strategy: (n, mean log-time)},
    # ever broke, compiles, Σ n·ȳ, predicted level or None)
    Entry = tuple[list[float], dict[str, tuple[float, float]], frozenset[str], float, float, Level | None]
    Decode = Callable[[Toolchain, str], ModuleRecord | None]      # `records.module_record`
    # ("speed", n, helps, offset), ("breaks", n, failed) and/or ("clean", compiles, rate before, after)
    Why = tuple[Any, ...]
    # `_Deferred`'s base: a dict of entries (an undecoded one is its section item, a list)
    _EntryDict = dict[str, Any]
else:
    _EntryDict = dict

SIG_KEYS = ("simp", "simp_only", "simp_all", "simp_attr", "dsimp", "omega", "decide", "norm_num", "arith",
            "induction", "cases", "rcases", "match", "inductives", "theorems")
K = 12            # neighbours per strategy
Z = 0.5           # how clearly the neighbours must differ from the context (standard errors)
Z_BREAK = 2.0     # ... in their failure share, before the module's breakage posterior is theirs
SHOW = 2.0        # an offset is shown (`stats`, `recommend`) where the neighbours differ by this many
MIN_TRIES = 3     # neighbours that tried a breaking group before their share counts
PRIOR = 2.0       # the context's rate, as pseudo-observations, in a module's breakage posterior
OWN = 50.0        # ... and each of the module's own clean compiles under the group, as that many
CLIP = 0.7        # a residual counts at most this far from the context (outliers, log-time)
# SCAN (`neighbours`, 48 = 4 K): neighbours are sought among this many nearest modules only; beyond, none is alike


def signature(features: dict[str, Any] | None) -> list[float] | None:
    """The module's size-free tactic profile, or None without features."""
    if not features:
        return None
    decl = features.get("declarations")
    if not isinstance(decl, (int, float)) or not decl > 0:
        return None
    out: list[float] = []
    for key in SIG_KEYS:
        v = features.get(key, 0)
        v = float(v) if isinstance(v, (int, float)) and math.isfinite(v) and v > 0 else 0.0
        out.append(round(math.log1p(10.0 * v / decl), 3))
    return out


def note(mod: ModuleRecord, ev: Event, features: dict[str, Any] | None) -> None:
    """The fold's hook: keep the module's signature and the strategies that ever broke it."""
    g = signature(features)
    if g is not None:
        mod["g"] = g
    if ev.get("outcome") == "strategy_failed":
        s = str(ev.get("strategy"))
        b = mod.setdefault("b", [])
        if s not in b:
            b.append(s)


class Index:
    """Per context: module → (signature, cells {strategy: (n, mean log-time)}, ever broke)."""

    def __init__(self) -> None:
        self.stats: Stats | None = None
        self.toolchain: str | None = None
        self.by_ctx: dict[str, dict[str, Entry]] = {}
        self.version: dict[str, int] = {}          # per context: +1 when a module joins or leaves
        # module → (context, version, signature, names nearest first)
        self.ranked: dict[str, tuple[str, int, list[float], list[str]]] = {}

    def nearest(self, ctx: str, table: dict[str, Entry], sig: list[float], module: str | None) -> list[str]:
        """Every indexed module of `ctx` but `module`, nearest first; cached per module until a
        module joins or leaves the context (a rebuild's modules are all known)."""
        v = self.version.get(ctx, 0)
        hit = self.ranked.get(module) if module else None
        if hit is not None and hit[0] == ctx and hit[1] == v and hit[2] == sig:
            return hit[3]
        if isinstance(table, _Deferred):
            names = table.nearest(sig, module)
        else:
            names = closest(sig, self.signatures(table), module)
        if module:
            self.ranked[module] = (ctx, v, sig, names)
        return names

    @staticmethod
    def signatures(table: dict[str, Entry]) -> Iterable[tuple[str, list[float]]]:
        """(module, signature) of every entry of a context's table."""
        return table.signatures() if isinstance(table, _Deferred) else ((n, e[0]) for n, e in table.items())

    def cache(self, ctx: str, version: int, sigs: dict[str, list[float]], ranked: dict[str, list[str]]) -> int:
        """Keep lists `closest_many` ranked (module → names) as `nearest` keeps its own, if no
        module joined or left `ctx` since its `version` they were ranked at; how many were kept."""
        if self.version.get(ctx, 0) != version:
            return 0
        for module, names in ranked.items():
            self.ranked[module] = (ctx, version, sigs[module], names)
        return len(ranked)

    def rank_first(self, ctx: str, table: dict[str, Entry], first: int) -> dict[str, list[float]]:
        """The `first` modules of `ctx`'s table (module → signature), their `nearest` found at
        once and cached as `nearest` caches them (the same lists: `closest_many`): for
        `split_lines`, which explains hundreds of modules of a context."""
        v = self.version.get(ctx, 0)
        every = list(self.signatures(table))
        sigs = dict(every[:first])
        self.cache(ctx, v, sigs, closest_many(sigs, every))
        return sigs

    def table(self, learner: Any, tc: Toolchain, ctx: str) -> dict[str, Entry]:
        """`context` for `learner`'s statistics, the records read as a decision reads them."""
        from simpulse.model.records import module_record
        return self.context(tc, learner.stats, learner.toolchain, ctx, module_record)

    def context(self, tc: Toolchain, stats: Stats, toolchain: str, ctx: str, decode: Decode) -> dict[str, Entry]:
        if stats is not self.stats or toolchain != self.toolchain:
            self.stats, self.toolchain, self.by_ctx, self.ranked = stats, toolchain, {}, {}
        got = self.by_ctx.get(ctx)
        if got is None:
            got = self.by_ctx[ctx] = {}
            modules = tc["modules"]
            # through a view: the context's section (`simpulse.store.simindex`), not every record
            section = modules.context_records(ctx) if hasattr(modules, "context_records") else None
            deferred = _Deferred.of(section, tc, ctx) if section is not None else None
            if deferred is not None:
                got = self.by_ctx[ctx] = deferred
                return got
            needle = '"k":' + '"' + ctx + '"'
            for name, raw in modules.items():
                if isinstance(raw, str) and needle not in raw:
                    continue
                rec = decode(tc, name)
                if rec and rec.get("k") == ctx:
                    entry = _entry(rec, tc)
                    if entry is not None:
                        got[name] = entry
        return got

    def update(self, tc: Toolchain, stats: Stats, toolchain: str, ctx: str, module: str, decode: Decode) -> None:
        """After a compile of `module` was folded: its entry, if its context is indexed."""
        if stats is not self.stats or toolchain != self.toolchain:
            return
        table = self.by_ctx.get(ctx)
        if table is None:
            return
        rec = decode(tc, module)
        entry = _entry(rec, tc) if rec else None
        if entry is None:
            if table.pop(module, None) is not None:
                self.version[ctx] = self.version.get(ctx, 0) + 1
        else:
            if module not in table or table[module][0] != entry[0]:
                self.version[ctx] = self.version.get(ctx, 0) + 1
            table[module] = entry


class _Deferred(_EntryDict):
    """A context's index built from the view's section (`simpulse.store.simindex.Rows`): module
    → entry, each entry made from its row when first asked for (a decision asks for its nearest
    modules' only); the signatures as slices of those read at once (`signatures`, for
    `Index.nearest`). The entries are those `_entry` gives at the moment the index is built: the
    level predictions (one strategy measured) use the context's regression fit and weight
    taken then. A value is a row's number, an item laid over the section, or an entry."""

    __slots__ = ("ctx", "predict", "rows", "plain")
    ctx: str
    predict: tuple[list[float], float] | None      # (β, the prediction's weight)
    rows: Rows
    plain: int       # every module's signature is its row's, all of one length: this length; else 0

    @classmethod
    def of(cls, section: Rows, tc: Toolchain, ctx: str) -> "_Deferred | None":
        ds = section.ds
        dims = {ds[v] if type(v) is int else v[2] for v in dict.values(section)}
        dims.discard(0)
        if len(dims) > 1:
            return None          # features of several lengths: the fit's cache would churn; full path
        from simpulse.model.levels import _prediction_weight, regression_fit
        table = cls(section)
        table.ctx = ctx
        table.rows = section
        table.predict = None
        lengths = set(section.dims)
        table.plain = lengths.pop() if (len(lengths) == 1 and len(section) == len(section.names)
                                        and all(type(v) is int for v in dict.values(section))) else 0
        if dims:
            fit = regression_fit(tc, ctx, dims.pop())     # what the full path's first prediction does
            if fit is not None:
                table.predict = (fit[0], _prediction_weight(tc, fit[1]))
        return table

    def _get(self, name: str) -> Entry | None:
        v = dict.get(self, name)
        if type(v) is int or type(v) is list:
            from simpulse import _fastjson as json
            from simpulse.policy.joint import dot
            g, rest, d = self.rows.item(v)
            rec = json.loads(rest)
            rec["g"] = g
            pred = None
            if d and self.predict is not None:
                beta, w = self.predict
                pred = (dot(beta, rec["x"]), w)
            # never None: `simindex.slim` keeps only records `_entry` indexes
            v = _entry(rec, None, pred if pred is not None and pred[1] > 0 else None)
            dict.__setitem__(self, name, v)
        entry: Entry | None = v
        return entry

    def get(self, name: str, default: Any = None) -> Any:
        v = self._get(name)
        return default if v is None else v

    def __getitem__(self, name: str) -> Entry:
        v = self._get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __setitem__(self, name: str, entry: Entry) -> None:
        self.plain = 0                                 # (`Index.update`: perhaps another signature)
        dict.__setitem__(self, name, entry)

    def pop(self, name: str, *default: Any) -> Any:
        self.plain = 0
        return dict.pop(self, name, *default)

    def __delitem__(self, name: str) -> None:
        self.plain = 0
        dict.__delitem__(self, name)

    def nearest(self, sig: list[float], skip: str | None) -> list[str]:
        """`closest` among this table's modules: from the signatures read at once, in one pass,
        where every module's is its row's (`plain`)."""
        k = self.plain
        if k != len(sig):
            return closest(sig, self.signatures(), skip)
        rows = self.rows
        flat, dist = rows.flat, math.dist
        ds = [dist(sig, flat[a:a + k]) for a in range(0, len(flat), k)]
        names = rows.names
        i = dict.get(self, skip) if skip else None
        if i is not None:
            names = names[:i] + names[i + 1:]
            del ds[i]
        return _first(ds, names, SCAN)

    def signatures(self) -> Iterator[tuple[str, list[float]]]:
        rows = self.rows
        flat, at, dims = rows.flat, rows.at, rows.dims
        for name, v in dict.items(self):
            if type(v) is int:
                a = at[v]
                yield name, flat[a:a + dims[v]]
            else:
                yield name, v[0]

    def _all(self) -> "_Deferred":
        for name in list(dict.keys(self)):
            self._get(name)
        return self

    def items(self) -> dict_items[str, Any]:
        return dict.items(self._all())

    def values(self) -> dict_values[str, Any]:
        return dict.values(self._all())

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self._all(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None


def _entry(rec: ModuleRecord, tc: Toolchain | None = None, pred: Level | None = None) -> Entry | None:
    """The index's entry of a module's record: (signature, cells, ever broke, compiles, Σ n·ȳ,
    predicted level or None). ``pred``: the level prediction made already (`_Deferred`)."""
    g = rec.get("g")
    if not g:
        return None
    cells = {k: (v[0], v[1] / v[0]) for k, v in rec.get("s", {}).items() if v and v[0] > 0}
    broke = frozenset(rec.get("b", ()))
    if not cells and not broke:
        return None
    n_all = sum(n for n, _ in cells.values())
    if len(cells) == 1 and tc is not None and rec.get("x"):
        # one strategy only: its reference is the level its features predict (worth w compiles)
        from simpulse.model.levels import predicted_level
        p = predicted_level(tc, rec.get("k", ""), rec["x"])
        if p is not None and p[1] > 0:
            pred = p
    return (g, cells, broke, n_all, sum(n * y for n, y in cells.values()), pred)


def offsets(table: dict[str, Entry], ranked: list[str], module: str | None, names: list[str],
            delta: dict[str, float], sigma2: float, breakage: Breakage, group_of: Callable[[str], Iterable[str]],
            ) -> tuple[dict[str, float], Breakage, dict[str, Why]]:
    """(speed offsets, breakage entries, explanation) for the module: per strategy, the shrunk
    offset of its log-effect from the context's; per breaking strategy whose neighbours differ
    clearly from the context, a Beta (a, b, c) to use instead; per strategy, what the neighbours
    said (for `stats` and `recommend`)."""
    own = table.get(module) if module else None
    dsum: dict[int, float] = {}
    # one pass over the SCAN nearest modules, until every strategy has K neighbours:
    # per strategy [Σw, Σw·e, Σw·e², count, faster]; per breaking strategy [tried, broke]
    acc: dict[str, list[float]] = {k: [0.0, 0.0, 0.0, 0, 0] for k in names}
    groups = {k: frozenset(group_of(k)) for k in breakage}
    tries = {k: [0, 0] for k in breakage}

    def add(entry: Entry, k: str, a: list[float]) -> None:
        # the module's effect of k against the context's, e (clipped), with its variance v,
        # accumulated with weight 1/v (the hot loop of `stats` and of a decision: ~40 calls each);
        # `dsum`: Σ n_l δ̂_l per entry, computed once per decision
        cells = entry[1]
        n_k, y_k = cells[k]
        d_k = delta.get(k, 0.0)
        base = cells.get("baseline")
        if base is not None and k != "baseline":
            ref, n_ref = base[1], base[0]
        else:
            n_ref = entry[3] - n_k
            if n_ref <= 0:
                if entry[5] is None:
                    return
                ref, n_ref = entry[5]          # the predicted level, worth n_ref compiles
            else:
                key = id(entry)
                d_all = dsum.get(key)
                if d_all is None:
                    d_all = dsum[key] = sum(n * delta.get(s, 0.0) for s, (n, _) in cells.items())
                ref = (entry[4] - n_k * y_k - d_all + n_k * d_k) / n_ref
        v = sigma2 * (1.0 / n_k + 1.0 / n_ref)
        e = y_k - d_k - ref
        e = -CLIP if e < -CLIP else CLIP if e > CLIP else e
        w = 1.0 / (v if v > 1e-6 else 1e-6)
        a[0] += w
        a[1] += w * e
        a[2] += w * e * e
        a[3] += 1
        a[4] += e + d_k < 0
    if own is not None:
        for k in names:
            if k in own[1]:
                add(own, k, acc[k])
    seen = dict.fromkeys(names, 0)
    open_k, open_b = list(names), list(breakage)
    for name in ranked[:SCAN]:
        if not open_k and not open_b:
            break
        e = table.get(name)
        if e is None:
            continue
        cells, broke = e[1], e[2]
        full = False
        for k in open_k:
            if k in cells:
                add(e, k, acc[k])
                seen[k] += 1
                full = full or seen[k] >= K
        if full:
            open_k = [k for k in open_k if seen[k] < K]
        full = False
        for k in open_b:
            t = tries[k]
            if broke and broke & groups[k]:
                t[0] += 1
                t[1] += 1
            elif not groups[k].isdisjoint(cells):
                t[0] += 1
            else:
                continue
            full = full or t[0] >= K
        if full:
            open_b = [k for k in open_b if tries[k][0] < K]
    off: dict[str, float] = {}
    brk: Breakage = {}
    why: dict[str, Why] = {}
    for k, (sw, swe, swe2, n, helps) in acc.items():
        if n == 0:
            continue
        mean = swe / sw
        se2 = 1.0 / sw
        if n >= 3:
            se2 = max(se2, max(0.0, swe2 / sw - mean * mean) / (n - 1))
        z2 = mean * mean / se2 if se2 > 0 else 0.0
        shrink = max(0.0, 1.0 - Z * Z / z2) if z2 > 0 else 0.0
        if shrink > 0:
            off[k] = mean * shrink
        if shrink > 0 and z2 > SHOW * SHOW:
            why[k] = ("speed", n, helps, off[k])
    for k, entry in breakage.items():
        n, f = tries[k]
        if n < MIN_TRIES:
            continue
        a0, b0, c = entry
        p = a0 / (a0 + b0)
        se = math.sqrt(max(p * (1.0 - p), 1e-4) / n)
        if abs(f / n - p) > Z_BREAK * se:
            brk[k] = (PRIOR * p + f + 0.05, PRIOR * (1.0 - p) + n - f + 0.05, c)
            why[k] = why.get(k, ()) + ("breaks", n, f)
    if own is not None:
        # the module's own clean compiles under the group (never broken by it): Lean is
        # deterministic, and what broke a module's proofs is the module's, not the context's
        cells, broke = own[1], own[2]
        for k, entry in breakage.items():
            if broke & groups[k]:
                continue
            n_ok = sum(cells[g][0] for g in groups[k] if g in cells)
            if n_ok > 0:
                a, b, c = brk.get(k, entry)
                brk[k] = (a, b + OWN * n_ok, c)
                why[k] = why.get(k, ()) + ("clean", n_ok, a / (a + b), a / (a + b + OWN * n_ok))
    return off, brk, why


def describe(module: str, strategy: str, why: Why) -> str | None:
    """One line for `stats` / `recommend`, e.g. "Fixtures.ListLemmas: like 12 modules where
    no-simprocs helps, not like the 9 where it breaks"; None where only the module's own clean
    compiles speak (`own_clean` says those)."""
    parts: list[str] = []
    if why and why[0] == "speed":
        _, n, helps, off = why[:4]
        parts.append(f"like {n} modules where {strategy} {'helps' if off < 0 else 'helps less'}"
                     f" ({helps} of them faster; {math.exp(off):.2f}× the context's effect)")
        why = why[4:]
    if why and why[0] == "breaks":
        _, n, f = why[:3]
        parts.append(f"{f} of its {n} nearest modules broke under {strategy}"
                     if f else f"not like the modules where {strategy} breaks (0 of its {n} nearest broke)")
    return f"{module}: " + "; ".join(parts) if parts else None


# `learner`: a `Learner` (typed Any: the index and the last explanation are kept on it as
# attributes its class does not declare, `_similar` and `_similar_why`)
def adjust(learner: Any, tc: Toolchain | None, context: str, module: str | None, features: dict[str, Any] | None,
           mod: ModuleRecord | None, joint: Joint) -> Joint:
    """The context's joint posterior `joint`, corrected for this module by its neighbours
    (`offsets`); `joint` itself where they say nothing clear. `learner` gives the records, the
    breaking groups and the index (kept on it)."""
    if tc is None or not module:
        return joint
    sig = (mod.get("g") if mod else None) or signature(features)   # the record's: computed once per source
    if not sig:
        return joint
    from simpulse.policy import joint as J
    index = learner.__dict__.get("_similar")
    if index is None:
        index = learner._similar = Index()
    table = index.table(learner, tc, context)
    if len(table) < MIN_TRIES:
        return joint
    a, b = joint.alpha, joint.beta
    sigma2 = b / (a - 1.0) if a > 1.0 else 0.03
    delta = dict(zip(joint.names, joint.mean))
    ranked = index.nearest(context, table, sig, module)
    off, brk, why = offsets(table, ranked, module, list(joint.names), delta, sigma2, joint.breakage,
                            learner.breaking_group)
    learner._similar_why = (module, why)
    if not off and not brk:
        return joint
    mean = [m + off.get(k, 0.0) for k, m in zip(joint.names, joint.mean)]
    return J.Joint(joint.names, mean, joint.L, joint.alpha, joint.beta, {**joint.breakage, **brk}, joint.rhs)


def observed(learner: Any, decision: Any) -> None:
    """After `Learner.observe` folded a compile: the module's entry in the index, if built."""
    index = learner.__dict__.get("_similar")
    if index is None:
        return
    tc = learner.stats["toolchains"].get(learner.toolchain)
    if tc is None:
        return
    from simpulse.model.records import module_record
    index.update(tc, learner.stats, learner.toolchain, decision.context, decision.module, module_record)


def explain(learner: Any, context: str, module: str, features: dict[str, Any] | None = None,
            joint: Joint | None = None, sig: list[float] | None = None) -> list[str]:
    """What the module's neighbours say, one line per strategy they move (`describe`), for
    `stats` and `recommend`; [] where the context's average stands for the module. `joint`, the
    context's joint posterior, and `sig`, the module's signature as recorded: when the caller
    has them already."""
    tc, _ = learner._tc_chain()
    if tc is None:
        return []
    if sig is not None:
        mod: ModuleRecord | None = {"g": sig}        # all `adjust` reads of the record
    else:
        from simpulse.model.records import module_record
        mod = module_record(tc, module)
    learner.__dict__.pop("_similar_why", None)
    adjust(learner, tc, context, module, features, mod,
           joint if joint is not None else learner.joint_posterior(context))
    got = learner.__dict__.get("_similar_why")
    if not got or got[0] != module:
        return []
    return [line for k, why in sorted(got[1].items()) if why and (line := describe(module, k, why))]


def own_clean(learner: Any, module: str) -> list[dict[str, Any]]:
    """After `explain(learner, …, module)`: the strategies whose break risk for the module its
    own clean compiles lowered — strategy, those compiles, the risk before and after (`recommend`)."""
    got = learner.__dict__.get("_similar_why")
    if not got or got[0] != module:
        return []
    out = []
    for k, why in sorted(got[1].items()):
        if "clean" in why:
            i = why.index("clean")
            out.append({"strategy": k, "compiles": int(why[i + 1]), "risk_before": why[i + 2], "risk": why[i + 3]})
    return out


def split_lines(learner: Any, per_context: int = 2, scan: int = 500) -> list[str]:
    """For `stats`: per context, how many of its modules (of the first `scan` indexed) the
    neighbours move away from the context's average, and up to `per_context` examples. The
    context's posterior is computed once, and its modules' neighbours ranked at once
    (`Index.rank_first`): the lines are those `explain` gives module by module."""
    tc, _ = learner._tc_chain()
    if tc is None:
        return []
    out: list[str] = []
    for ctx in sorted(tc.get("arms", {})):
        index = learner.__dict__.get("_similar")
        if index is None:
            index = learner._similar = Index()
        table = index.table(learner, tc, ctx)
        # (fewer than MIN_TRIES: `adjust` looks at no neighbour)
        sigs = index.rank_first(ctx, table, scan) if len(table) >= MIN_TRIES else dict.fromkeys(list(table)[:scan])
        joint = learner.joint_posterior(ctx)
        moved: list[str] = []
        for name, sig in sigs.items():
            lines = explain(learner, ctx, name, joint=joint, sig=sig)
            if lines:
                moved.append(lines[0])
        if moved:
            out.append(f"{ctx}: {len(moved)} of {min(len(table), scan)} modules follow the modules most like "
                       f"them rather than the context's average")
            out += [f"  {line}" for line in moved[:per_context]]
    return out
