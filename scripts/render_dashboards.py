"""Draw Grafana dashboards from their own queries, with matplotlib, for the README.

For a machine without Grafana: every panel of a dashboard JSON (grafana/dashboards) is
laid out by its gridPos, its variables resolved the way Grafana resolves them (label_values
through the series API; multi-value variables take every value found, ``site`` the one
asked for), and each target's PromQL run against a Prometheus-compatible store (the demo
region's VictoriaMetrics): range queries for time series, state timelines and heatmaps,
instant queries for stats, tables, bar gauges and pie charts. Units follow the panel's
``fieldConfig.defaults.unit``. Each picture says what it is: panels drawn from the
dashboard's queries, not a Grafana screenshot.

    .venv/bin/python scripts/render_dashboards.py --vm http://127.0.0.1:8428 \\
        --site demo-school --minutes 15 --out docs/img

With ``--grafana URL`` and a headless Chromium on PATH, it takes real screenshots of the
same dashboards from that Grafana instead. ``scripts/render-dashboards`` runs the demo
region, waits for data and calls this.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "grafana" / "dashboards"
MAIN = ("school", "switch", "security", "fleet")
SCRAPE = 10  # seconds: the demo region's vmagent interval (60 at a school)

BG, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9"]
PALETTE += ["#705da0", "#37872d", "#fade2a", "#447ebc", "#c15c17", "#890f02", "#0a437c"]
_VAR = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")


# -- the store -------------------------------------------------------------------------
class Store:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, path: str, **params: Any) -> Any:
        data = urllib.parse.urlencode(params, doseq=True).encode()
        req = urllib.request.Request(self.url + path, data=data)
        try:
            with urllib.request.urlopen(req, timeout=30) as rsp:
                doc = json.loads(rsp.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{path} {params}: {exc} {exc.read()[:300]!r}") from None
        if doc.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {doc}")
        return doc["data"]

    def series(self, match: str, start: float) -> list[dict[str, str]]:
        return self.call("/api/v1/series", **{"match[]": match, "start": int(start)})  # type: ignore[no-any-return]

    def instant(self, expr: str, at: float) -> list[dict[str, Any]]:
        return self.call("/api/v1/query", query=expr, time=at)["result"]  # type: ignore[no-any-return]

    def range(self, expr: str, start: float, end: float, step: int) -> list[dict[str, Any]]:
        data = self.call("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        return data["result"]  # type: ignore[no-any-return]


# -- Grafana's variables ---------------------------------------------------------------
def substitute(expr: str, values: dict[str, str]) -> str:
    return _VAR.sub(lambda m: values.get(next(g for g in m.groups() if g), m.group(0)), expr)


def variable_query(v: dict[str, Any]) -> str:
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query", "")
    return str(v.get("definition") or q or "")


def resolve(
    store: Store, dashboard: dict[str, Any], site: str, builtins: dict[str, str], start: float
) -> dict[str, str]:
    values = dict(builtins)
    for v in dashboard.get("templating", {}).get("list", []):
        if v["type"] == "datasource":
            values[v["name"]] = "sentinel-vm"
            continue
        if v["type"] != "query":
            continue
        query = substitute(variable_query(v), values)
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, re.DOTALL)
        if not m:
            raise SystemExit(f"variable {v['name']}: cannot resolve {query!r}")
        found = sorted({s[m[2]] for s in store.series(m[1], start) if m[2] in s})
        if v["name"] == "site" and site in found:
            found = [site]
        if not found:
            raise SystemExit(f"variable {v['name']}: no values for {query!r} (is data there?)")
        chosen = found if (v.get("multi") or v.get("includeAll")) else found[:1]
        # A regex inside a PromQL string: its backslashes doubled.
        values[v["name"]] = "(" + "|".join(re.escape(x).replace("\\", "\\\\") for x in chosen) + ")"
        values[f"{v['name']}_shown"] = ", ".join(chosen)
    return values


# -- units and legends -----------------------------------------------------------------
def si(x: float, suffix: str = "", base: float = 1000.0) -> str:
    if x == 0 or not math.isfinite(x):
        return f"0{suffix}" if x == 0 else str(x)
    for prefix in ("", "k", "M", "G", "T", "P"):
        if abs(x) < base:
            return f"{x:.3g}{' ' if suffix or prefix else ''}{prefix}{suffix}".replace("  ", " ")
        x /= base
    return f"{x:.3g} E{suffix}"


def duration(x: float) -> str:
    for size, name in ((86400 * 365, "year"), (86400, "day"), (3600, "hour"), (60, "min")):
        if abs(x) >= size:
            n = x / size
            return f"{n:.1f} {name}{'s' if n >= 2 and name != 'min' else ''}"
    if abs(x) >= 1 or x == 0:
        return f"{x:.3g} s"
    return f"{x * 1000:.3g} ms"


def fmt(unit: str | None, x: float) -> str:
    if unit == "bps":
        return si(x, "b/s")
    if unit == "pps":
        return si(x, "p/s")
    if unit == "percent":
        return f"{x:.3g} %"
    if unit == "s":
        return duration(x)
    if unit == "dateTimeFromNow":
        return duration(time.time() - x / 1000) + " ago"
    return si(x)


def legend(template: str | None, labels: dict[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    if not template or template == "__auto":
        name = labels.get("__name__", "")
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
        return f"{name}{{{inner}}}" if inner else name or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: shown.get(m[1], ""), template).strip()


# -- panels ----------------------------------------------------------------------------
def panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in items:
        out.append(p)
        if p.get("type") == "row":
            out.extend(p.get("panels", []))
    return out


def style(ax: Any, title: str) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.tick_params(colors=TEXT, labelsize=7)
    ax.set_title(title, color=TEXT, fontsize=9, loc="left", pad=4)


def draw_timeseries(
    ax: Any, results: list[tuple[str, list[dict[str, Any]]]], unit: str | None
) -> None:
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    # Busiest first, so the legend (eight entries at most) names what stands out.
    lines = [(template, s) for template, series in results for s in series]
    lines.sort(key=lambda ts: -max((abs(float(v)) for _, v in ts[1]["values"]), default=0.0))
    n = 0
    for template, s in lines:
        xs = [time.localtime(float(t)) for t, _ in s["values"]]
        ts = [mdates.date2num(datetime.datetime(*x[:6])) for x in xs]
        ys = [float(v) for _, v in s["values"]]
        label = legend(template, s["metric"])
        ax.plot(ts, ys, lw=1.2, color=PALETTE[n % len(PALETTE)], label=label)
        n += 1
    if not n:
        return no_data(ax)
    ax.grid(True, color=GRID, lw=0.5)
    lo, hi = ax.get_xlim()
    every = max(1, round((hi - lo) * 24 * 60 / 6))  # about six ticks, on whole minutes
    ax.xaxis.set_major_locator(mdates.MinuteLocator(byminute=range(0, 60, min(every, 30))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: fmt(unit, y)))
    low, high = ax.get_ylim()
    low = min(0.0, low)
    ax.set_ylim(low, high + 0.08 * (high - low))  # the top line stays clear of the edge
    handles, labels = ax.get_legend_handles_labels()
    keep = 8
    if n > keep:
        ax.text(
            1.0,
            -0.12,
            f"+{n - keep} more series",
            ha="right",
            va="top",
            fontsize=6,
            color="#8e8e8e",
            transform=ax.transAxes,
        )
    leg = ax.legend(
        handles[:keep],
        [lab[:48] for lab in labels[:keep]],
        fontsize=6,
        loc="upper left",
        bbox_to_anchor=(0, -0.1),
        ncol=2 if n > 2 else 1,
        frameon=False,
        borderaxespad=0,
        handlelength=1.2,
        columnspacing=1,
    )
    for t in leg.get_texts():
        t.set_color(TEXT)


def draw_state(
    ax: Any, results: list[tuple[str, list[dict[str, Any]]]], start: float, end: float
) -> None:
    rows = [(legend(t, s["metric"]), s["values"]) for t, series in results for s in series][:12]
    if not rows:
        return no_data(ax)
    for i, (_name, values) in enumerate(rows):
        for (t0, v), (t1, _) in zip(values, [*values[1:], (end, None)], strict=False):
            color = "#73bf69" if float(v) >= 1 else "#f2495c"
            ax.broken_barh(
                [(float(t0) - start, float(t1) - float(t0))], (i - 0.4, 0.8), color=color
            )
    ax.set_yticks(range(len(rows)), [n[:40] for n, _ in rows], fontsize=6)
    ax.set_xlim(0, end - start)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ticks = list(range(0, int(end - start) + 1, max(60, int((end - start) / 6) // 60 * 60)))
    ax.set_xticks(ticks, [time.strftime("%H:%M", time.localtime(start + x)) for x in ticks])


def draw_heatmap(ax: Any, results: list[tuple[str, list[dict[str, Any]]]]) -> None:
    series = [s for _, ss in results for s in ss]
    if not series:
        return no_data(ax)
    series.sort(key=lambda s: float(s["metric"].get("bucket", "0").split("-")[0].rstrip("+%") or 0))
    stamps = sorted({float(t) for s in series for t, _ in s["values"]})
    grid = [[0.0] * len(stamps) for _ in series]
    for i, s in enumerate(series):
        at = {float(t): float(v) for t, v in s["values"]}
        grid[i] = [at.get(t, 0.0) for t in stamps]
    ax.imshow(grid, aspect="auto", cmap="YlOrRd", origin="lower", interpolation="nearest")
    ax.set_yticks(range(len(series)), [s["metric"].get("bucket", "?") for s in series], fontsize=6)
    every = max(60, int((stamps[-1] - stamps[0]) / 6) // 60 * 60)  # whole minutes
    step = stamps[1] - stamps[0] if len(stamps) > 1 else 1.0
    ticks = [i for i, t in enumerate(stamps) if t % every < step]
    ax.set_xticks(ticks, [time.strftime("%H:%M", time.localtime(stamps[i])) for i in ticks])


def draw_stat(ax: Any, results: list[tuple[str, list[dict[str, Any]]]], unit: str | None) -> None:
    items = [(legend(t, s["metric"]), float(s["value"][1])) for t, ss in results for s in ss]
    ax.set_xticks([])
    ax.set_yticks([])
    if not items:
        return no_data(ax)
    items = items[:4]
    size = 22 if len(items) == 1 else 13
    for i, (name, value) in enumerate(items):
        y = 0.5 if len(items) == 1 else 0.85 - i * (0.75 / max(len(items) - 1, 1))
        text = fmt(unit, value)
        ax.text(
            0.5,
            y,
            text,
            ha="center",
            va="center",
            fontsize=size,
            color="#73bf69",
            weight="bold",
            transform=ax.transAxes,
        )
        if len(items) > 1 or name not in ("", "value"):
            ax.text(
                0.5,
                y - (0.2 if len(items) == 1 else 0.09),
                name[:40],
                ha="center",
                va="center",
                fontsize=6,
                color=TEXT,
                transform=ax.transAxes,
            )


def draw_table(ax: Any, results: list[tuple[str, list[dict[str, Any]]]], unit: str | None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    series = [s for _, ss in results for s in ss]
    if not series:
        return no_data(ax)
    drop = {"__name__", "job", "instance"}
    cols = sorted({k for s in series for k in s["metric"] if k not in drop})[:6]
    rows = [
        [s["metric"].get(c, "")[:22] for c in cols] + [fmt(unit, float(s["value"][1]))]
        for s in series[:9]
    ]
    table = ax.table(cellText=rows, colLabels=[*cols, "value"], loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(6)
    for cell in table.get_celld().values():
        cell.set_facecolor(PANEL)
        cell.set_edgecolor(GRID)
        cell.get_text().set_color(TEXT)
    if len(series) > 9:
        ax.text(
            0.99,
            0.01,
            f"{len(series)} rows, 9 shown",
            ha="right",
            fontsize=6,
            color=TEXT,
            transform=ax.transAxes,
        )


def draw_bars(ax: Any, results: list[tuple[str, list[dict[str, Any]]]], unit: str | None) -> None:
    items = [(legend(t, s["metric"]), float(s["value"][1])) for t, ss in results for s in ss][:10]
    if not items:
        ax.set_xticks([])
        ax.set_yticks([])
        return no_data(ax)
    names = [n[:50] for n, _ in items][::-1]
    values = [v for _, v in items][::-1]
    bars = ax.barh(names, values, color="#73bf69", height=0.6)
    ax.set_ylim(-0.6, max(len(names), 5) - 0.4)  # a lone bar keeps a bar's height
    for bar, v in zip(bars, values, strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            " " + fmt(unit, v),
            va="center",
            fontsize=6,
            color=TEXT,
        )
    ax.tick_params(axis="y", labelsize=6)
    ax.set_xticks([])


def draw_pie(ax: Any, results: list[tuple[str, list[dict[str, Any]]]]) -> None:
    items = [(legend(t, s["metric"]), float(s["value"][1])) for t, ss in results for s in ss]
    if not items:
        return no_data(ax)
    _, texts = ax.pie([v for _, v in items], labels=[n for n, _ in items], colors=PALETTE)
    for t in texts:
        t.set_color(TEXT)
        t.set_fontsize(7)


def draw_nodes(ax: Any, results: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Grafana's node graph: the first query gives edges (source, target), the second nodes
    (id, title, subtitle); here nodes on a circle and edges as lines between them."""
    ax.set_xticks([])
    ax.set_yticks([])
    edges = [(s["metric"].get("source", ""), s["metric"].get("target", "")) for s in
             (results[0][1] if results else [])]  # fmt: skip
    nodes = {
        s["metric"].get("id", ""): s["metric"] for s in (results[1][1] if len(results) > 1 else [])
    }
    for a, b in edges:
        for n in (a, b):
            nodes.setdefault(n, {"id": n, "title": n})
    if not nodes:
        return no_data(ax)
    ids = sorted(nodes)
    at = {n: (math.cos(2 * math.pi * i / len(ids)), math.sin(2 * math.pi * i / len(ids)))
          for i, n in enumerate(ids)}  # fmt: skip
    for a, b in edges:
        ax.plot([at[a][0], at[b][0]], [at[a][1], at[b][1]], color="#8e8e8e", lw=1)
    for n in ids:
        x, y = at[n]
        ax.scatter([x], [y], s=500, color=PANEL, edgecolors="#73bf69", linewidths=2, zorder=3)
        label = nodes[n].get("title", n) + "\n" + nodes[n].get("subtitle", "")
        ax.text(x, y - 0.22, label.strip(), ha="center", va="top", fontsize=7, color=TEXT)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.5, 1.3)
    if not edges:
        ax.text(0.01, 0.02, "no LLDP/CDP neighbours", fontsize=6, color="#8e8e8e",
                transform=ax.transAxes)  # fmt: skip


def no_data(ax: Any) -> None:
    ax.text(
        0.5,
        0.5,
        "No data",
        ha="center",
        va="center",
        color="#8e8e8e",
        fontsize=9,
        transform=ax.transAxes,
    )


def render(store: Store, path: Path, site: str, minutes: int, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dashboard = json.loads(path.read_text())
    end = time.time()
    start = end - minutes * 60
    step = max(SCRAPE, int(minutes * 60 / 180))
    builtins = {
        "__rate_interval": f"{max(4 * SCRAPE, step + SCRAPE)}s",
        "__interval": f"{step}s",
        "__range": f"{minutes}m",
    }
    values = resolve(store, dashboard, site, builtins, start)
    items = panels(dashboard["panels"])
    height_units = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in items)
    header = 2.6
    unit_in = 0.34
    fig_h = height_units * unit_in + header * unit_in
    fig = plt.figure(figsize=(16, fig_h), dpi=80, facecolor=BG)
    total = height_units + header
    fig.text(
        0.01,
        1 - 0.7 / total,
        dashboard["title"],
        color="white",
        fontsize=15,
        weight="bold",
        va="center",
    )
    shown = {k.removesuffix("_shown"): v for k, v in values.items() if k.endswith("_shown")}
    picks = "   ".join(f"{k}: {v}" for k, v in shown.items() if len(v) < 60)
    fig.text(
        0.01,
        1 - 1.3 / total,
        "DEMO data (sentinel demo --region): drawn with matplotlib from this dashboard's own "
        "panel queries against the demo region's VictoriaMetrics; not a Grafana screenshot.",
        color="#ff9830",
        fontsize=9,
        va="center",
    )
    fig.text(
        0.01,
        1 - 1.85 / total,
        f"Last {minutes} min to {time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(end))}."
        f"   {picks}",
        color=TEXT,
        fontsize=8,
        va="center",
    )
    for p in items:
        g = p["gridPos"]
        x0, w = g["x"] / 24, g["w"] / 24
        top = (g["y"] + header) / total
        h = g["h"] / total
        title = substitute(p.get("title", ""), dict(shown))
        if p["type"] == "row":
            fig.text(
                x0 + 0.005,
                1 - top - h / 2,
                title,
                color="white",
                fontsize=11,
                weight="bold",
                va="center",
            )
            continue
        kind = p["type"]
        left = 0.05 if kind in ("timeseries", "state-timeline", "heatmap", "bargauge") else 0.004
        if kind == "bargauge":
            left = 0.12
        # Time series keep the lower part of the panel for their legend, as Grafana does.
        bottom = (0.35 + (0.32 * g["h"] if kind == "timeseries" else 0.4)) / total
        ax = fig.add_axes(
            (x0 + left, 1 - top - h + bottom, w - left - 0.006, h - bottom - 0.55 / total)
        )
        style(ax, title)
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        targets = [t for t in p.get("targets", []) if t.get("expr", "").strip()]
        try:
            if kind in ("timeseries", "state-timeline", "heatmap"):
                results = [
                    (
                        t.get("legendFormat"),
                        store.range(substitute(t["expr"], values), start, end, step),
                    )
                    for t in targets
                ]
            else:
                results = [
                    (t.get("legendFormat"), store.instant(substitute(t["expr"], values), end))
                    for t in targets
                ]
        except (RuntimeError, OSError) as exc:
            ax.text(
                0.5,
                0.5,
                f"query failed: {exc}"[:120],
                ha="center",
                color="#f2495c",
                fontsize=6,
                transform=ax.transAxes,
                wrap=True,
            )
            continue
        if kind == "timeseries":
            draw_timeseries(ax, results, unit)
        elif kind == "state-timeline":
            draw_state(ax, results, start, end)
        elif kind == "heatmap":
            draw_heatmap(ax, results)
        elif kind == "stat":
            draw_stat(ax, results, unit)
        elif kind == "table":
            draw_table(ax, results, unit)
        elif kind == "bargauge":
            draw_bars(ax, results, unit)
        elif kind == "piechart":
            draw_pie(ax, results)
        elif kind == "nodeGraph":
            draw_nodes(ax, results)
        else:
            no_data(ax)
    target = out / f"dashboard-{path.stem}.png"
    fig.savefig(target, facecolor=BG)
    plt.close(fig)
    return target


def screenshot(grafana: str, path: Path, site: str, minutes: int, out: Path) -> Path:
    """A real screenshot of the dashboard in ``grafana`` with headless Chromium."""
    browser = next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        raise SystemExit("--grafana needs a headless Chromium (Debian: apt-get install chromium)")
    uid = json.loads(path.read_text())["uid"]
    url = (
        f"{grafana.rstrip('/')}/d/{uid}?orgId=1&kiosk&from=now-{minutes}m&to=now"
        f"&var-site={urllib.parse.quote(site)}"
    )
    target = out / f"dashboard-{path.stem}.png"
    subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--hide-scrollbars",
            "--window-size=1600,2400",
            "--virtual-time-budget=15000",
            f"--screenshot={target}",
            url,
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return target


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--vm", default="http://127.0.0.1:8428", help="the Prometheus-compatible store")
    ap.add_argument("--site", default="demo-school")
    ap.add_argument("--minutes", type=int, default=15, help="time range of the pictures")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument(
        "--grafana", help="a Grafana with the dashboards provisioned: screenshots instead"
    )
    ap.add_argument("dashboards", nargs="*", default=list(MAIN), help=f"default: {' '.join(MAIN)}")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    store = Store(args.vm)
    for name in args.dashboards:
        path = DASHBOARDS / f"{name}.json"
        if args.grafana:
            target = screenshot(args.grafana, path, args.site, args.minutes, args.out)
        else:
            target = render(store, path, args.site, args.minutes, args.out)
        print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
