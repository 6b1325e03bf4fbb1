"""`simpulse report --html FILE`: the report as ONE self-contained HTML page, its charts inline
SVG (no network, no JavaScript, no external CSS). The data: `report.load_history`; the terminal
rendering stays in `simpulse.commands.report`.
"""

from __future__ import annotations

import html
import math

from simpulse.commands._common import fmt_seconds, plural
from simpulse.commands.report import EMPTY_MESSAGE, _when


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt_tick(v: float, unit: str) -> str:
    if unit == "s":
        return fmt_seconds(v) if abs(v) > 1e-9 else "0s"
    if unit == "%":
        return f"{v:.0%}"
    if unit == "x":
        return f"{v:.2f}×"
    return f"{v:g}"


def svg_chart(xs: list[float], lines: list[tuple[str, list[float], str]], *,
              band: tuple[list[float], list[float], str] | None = None,
              hlines: tuple[float, ...] = (), markers: list[tuple[float, str]] = (),
              unit: str = "", width: int = 680, height: int = 220, title: str = "",
              xlabel: str = "compilations") -> str:
    """An inline SVG line chart (no xmlns needed inside HTML5)."""
    ml, mr, mt, mb = 64, 16, 28, 36
    pw, ph = width - ml - mr, height - mt - mb
    ys = [v for _, vals, _ in lines for v in vals]
    if band:
        ys += band[0] + band[1]
    ys += list(hlines)
    ys = [v for v in ys if math.isfinite(v)]
    if not xs or not ys:
        return ""
    x0, x1 = min(xs), max(xs)
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1 if y0 == 0 else y0 * 0.9, y1 + 1 if y1 == 0 else y1 * 1.1
        if y1 < y0:
            y0, y1 = y1, y0
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad

    def X(v):
        return ml + (v - x0) / (x1 - x0) * pw

    def Y(v):
        return mt + (1 - (v - y0) / (y1 - y0)) * ph

    e = html.escape
    out = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{e(title)}">']
    if title:
        out.append(f'<text x="{ml}" y="16" class="title">{e(title)}</text>')
    scale = 1.0
    if unit == "s":
        big = max(abs(y0), abs(y1))
        scale = 3600.0 if big >= 7200 else 60.0 if big >= 120 else 1.0
    for t in (v * scale for v in _nice_ticks(y0 / scale, y1 / scale)):
        y = Y(t)
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{e(_fmt_tick(t, unit))}</text>')
    for t in _nice_ticks(x0, x1, 6):
        x = X(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" class="axis"/>')
        out.append(f'<text x="{x:.1f}" y="{mt + ph + 16}" class="tick" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{ml + pw}" y="{height - 4}" class="tick" text-anchor="end">{e(xlabel)}</text>')
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" class="frame"/>')
    if band:
        lo, hi, color = band
        pts = [f"{X(x):.1f},{Y(v):.1f}" for x, v in zip(xs, hi)]
        pts += [f"{X(x):.1f},{Y(v):.1f}" for x, v in reversed(list(zip(xs, lo)))]
        out.append(f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="0.18" stroke="none"/>')
    for h in hlines:
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{Y(h):.1f}" y2="{Y(h):.1f}" class="ref"/>')
    for x, label in markers:
        out.append(f'<line x1="{X(x):.1f}" x2="{X(x):.1f}" y1="{mt}" y2="{mt + ph}" class="marker">'
                   f'<title>{e(label)}</title></line>')
    lx = ml + 8
    for name, vals, color in lines:
        pts = " ".join(f"{X(x):.1f},{Y(v):.1f}" for x, v in zip(xs, vals) if math.isfinite(v))
        if len(xs) == 1:
            out.append(f'<circle cx="{X(xs[0]):.1f}" cy="{Y(vals[0]):.1f}" r="3" fill="{color}"/>')
        else:
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        if len(lines) > 1 or band:
            out.append(f'<text x="{lx}" y="{mt + 14}" class="legend" fill="{color}">{e(name)}</text>')
            lx += 9 * len(name) + 16
    out.append("</svg>")
    return "".join(out)


CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #1f2328; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.sim { background: #fff4d6; border: 1px solid #e0b000; padding: .5em .8em; border-radius: 4px; }
.muted { color: #656d76; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border-bottom: 1px solid #d0d7de; padding: .3em .7em; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { stroke: #eaeef2; } .axis { stroke: #8c959f; } .frame { fill: none; stroke: #d0d7de; }
.ref { stroke: #8c959f; stroke-dasharray: 4 3; } .marker { stroke: #bf8700; stroke-dasharray: 2 3; }
.tick { font-size: 11px; fill: #57606a; } .title { font-size: 13px; font-weight: 600; fill: #1f2328; }
.legend { font-size: 12px; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.small svg { border: 1px solid #eaeef2; }
"""


def render_html(data: dict) -> str:
    e = html.escape
    sim = data["simulated"]
    tc = data["toolchain"] or "?"
    title = "simpulse report" + (" (simulated)" if sim else "")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(title)}</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>",
             f'<p class="muted">toolchain {e(tc[:12])} · state {e(data["state_dir"])} · generated '
             f'{e(_when(data.get("generated")))}</p>']
    if sim:
        parts.append('<p class="sim"><b>SIMULATED toolchain</b>: every time in this report was '
                     "measured on simpulse's simulated lake/lean (a documented cost model), not on "
                     "a real Lean build.</p>")
    if data["empty"]:
        parts.append(f"<p>{e(EMPTY_MESSAGE.format(dir=data['state_dir']))}</p></body></html>")
        return "\n".join(parts) + "\n"
    series, final = data["series"], data["final"]
    xs = [p["compiles"] for p in series]
    col = lambda k: [p[k] for p in series]  # noqa: E731
    lo, hi = final["saved_ci"]
    parts.append(
        f"<p>{data['compiles']} compilations replayed from the event log (a point every "
        f"{plural(data['every'], 'compile')}). Time saved against baseline: <b>{e(fmt_seconds(final['saved_seconds']))}</b> "
        f"(95% CI {e(fmt_seconds(lo))} … {e(fmt_seconds(hi))}), {final['saved_fraction']:.1%} of the "
        f"estimated baseline time; cumulative regret {e(fmt_seconds(final['regret_seconds']))}; "
        f"{plural(final['failures'], 'strategy failure')} caught by the baseline fallback.</p>")
    markers = [(m["compiles"], m["text"]) for m in data["milestones"] if m["kind"] != "first_compile"]
    parts.append("<h2>Time saved and regret</h2><div class=\"charts\">")
    parts.append(svg_chart(xs, [("time saved (estimate)", col("saved_seconds"), "#1a7f37")],
                           band=([p["saved_ci"][0] for p in series], [p["saved_ci"][1] for p in series], "#1a7f37"),
                           hlines=(0.0,), markers=markers, unit="s",
                           title="Estimated time saved against baseline (95% interval; dashed: milestones)"))
    parts.append(svg_chart(xs, [("share saved", col("saved_fraction"), "#0969da")], hlines=(0.0, 0.10),
                           unit="%", title="Share of the estimated baseline time saved (dashed: 0 and 10%)"))
    parts.append(svg_chart(xs, [("cumulative regret", col("regret_seconds"), "#cf222e")], unit="s",
                           title="Cumulative regret (what the choices are expected to lose against the best strategy known)"))
    parts.append(svg_chart(xs, [("regret per compile", col("regret_per_compile"), "#bc4c00")], unit="s",
                           title="Regret per compile, between consecutive points"))
    parts.append(svg_chart(xs, [("failures caught", col("failures"), "#8250df")],
                           title="Strategy failures caught by the baseline fallback (cumulative)"))
    parts.append(svg_chart(xs, [("exploring", col("explore_share"), "#57606a")], unit="%",
                           title="Share of compiles so far that explored"))
    parts.append("</div>")

    parts.append("<h2>Intervals per context</h2><p class=\"muted\">The leading strategy's speedup "
                 "and its 95% interval as the context's compilations grow; a strategy is "
                 "<i>established</i> once the interval excludes 1.00× (dashed).</p>")
    parts.append("<table><tr><th>context</th><th class=num>pulls</th><th>leading</th>"
                 "<th class=num>speedup</th><th class=num>95% CI</th><th>established since</th></tr>")
    confident_at = {}
    for m in data["milestones"]:
        if m["kind"] == "first_confident":
            confident_at.setdefault(m["context"], m["compiles"])
    for ctx, pts in data["contexts"].items():
        last = pts[-1]
        since = confident_at.get(ctx)
        parts.append(f"<tr><td>{e(ctx)}</td><td class=num>{last['pulls']}</td><td>{e(last['best'])}</td>"
                     f"<td class=num>{last['speedup']:.2f}×</td><td class=num>{last['ci'][0]:.2f}–{last['ci'][1]:.2f}</td>"
                     f"<td>{'compile ' + str(since) if since else 'not yet'}</td></tr>")
    parts.append("</table><div class=\"charts small\">")
    for ctx, pts in data["contexts"].items():
        by_pulls = {p["pulls"]: p for p in pts}      # the last point at each number of pulls
        pts = [by_pulls[k] for k in sorted(by_pulls)]
        cx = [p["pulls"] for p in pts]
        parts.append(svg_chart(cx, [(f"{pts[-1]['best']}", [p["speedup"] for p in pts], "#0969da")],
                               band=([p["ci"][0] for p in pts], [p["ci"][1] for p in pts], "#0969da"),
                               hlines=(1.0,), unit="x", width=340, height=190,
                               title=f"{ctx}: leading strategy's speedup", xlabel="pulls in context"))
    parts.append("</div>")

    parts.append("<h2>Milestones</h2><table><tr><th class=num>compile</th><th>when</th><th>milestone</th></tr>")
    for m in data["milestones"]:
        parts.append(f"<tr><td class=num>{m['compiles']}</td><td>{e(_when(m['ts']))}</td><td>{e(m['text'])}</td></tr>")
    parts.append("</table>")
    parts.append('<p class="muted">Written by <code>simpulse report --html</code>: a single file, '
                 "no scripts, no external resources.</p></body></html>")
    return "\n".join(parts) + "\n"
