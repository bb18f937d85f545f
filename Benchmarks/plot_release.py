#!/usr/bin/env python3
"""Draws the release storm of one or more `dlsms loadtest --scenario release --report FILE` reports
as an SVG (no dependencies): answers per 50 ms after the release instant (2xx, seat_conflict, 429,
others, stacked) and the share of students settled (a seat or a final no), one panel per report.

    python3 Benchmarks/plot_release.py REPORT.json [REPORT.json ...] -o docs/release-storm.svg
"""

import argparse
import json

W, H, LEFT, RIGHT, TOP, BOTTOM = 720, 230, 60, 60, 30, 40
COLOURS = {"ok": "#2b8a3e", "conflicts": "#e8590c", "rate_limited": "#c92a2a", "other": "#868e96"}


def panel(report, y0, out):
    r = report["release"]
    bins = r["timeline"]
    students = report["students"]
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    last_ms = max(b["from_ms"] for b in bins) + 50 if bins else 50
    span = max(last_ms, 500)
    peak = max([b["requests"] for b in bins] + [1])

    def x(ms):
        return LEFT + plot_w * ms / span

    def y(n):
        return y0 + TOP + plot_h * (1 - n / peak)

    settle = r.get("settle_seconds")
    lat = report["results"]["latency_ms"]
    title = (
        f"{students} students, {r['seats']} seats x {len(r['windows'])} windows, {r['connections']} connections: "
        f"settled {settle:.2f} s" if settle is not None else "not settled"
    ) + f", p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms"
    out.append(f'<text x="{LEFT}" y="{y0 + 18}" font-size="13">{title}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{y0 + TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ced4da"/>'
    )
    bar_w = max(1.0, plot_w * 50 / span - 1)
    for b in bins:
        other = b["requests"] - b["ok"] - b["conflicts"] - b["rate_limited"]
        base = 0
        for key, n in (("ok", b["ok"]), ("conflicts", b["conflicts"]), ("rate_limited", b["rate_limited"]), ("other", other)):
            if n <= 0:
                continue
            out.append(
                f'<rect x="{x(b["from_ms"]):.1f}" y="{y(base + n):.1f}" width="{bar_w:.1f}" '
                f'height="{y(base) - y(base + n):.1f}" fill="{COLOURS[key]}"/>'
            )
            base += n
    points = " ".join(
        f'{x(b["from_ms"] + 50):.1f},{y0 + TOP + plot_h * (1 - b["settled"] / max(students, 1)):.1f}' for b in bins
    )
    out.append(f'<polyline points="{x(0):.1f},{y0 + TOP + plot_h:.1f} {points}" fill="none" stroke="#1c7ed6" stroke-width="2"/>')
    # Axes: ms below, requests per bin on the left, settled share on the right.
    step = 250 if span <= 3000 else 1000
    for ms in range(0, int(span) + 1, step):
        out.append(f'<text x="{x(ms):.1f}" y="{y0 + H - 22}" font-size="10" text-anchor="middle">{ms}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{y0 + H - 8}" font-size="11" text-anchor="middle">ms after the release instant</text>')
    for frac in (0, 0.5, 1):
        out.append(f'<text x="{LEFT - 6}" y="{y(peak * frac) + 4:.1f}" font-size="10" text-anchor="end">{int(peak * frac)}</text>')
        out.append(
            f'<text x="{W - RIGHT + 6}" y="{y0 + TOP + plot_h * (1 - frac) + 4:.1f}" font-size="10" fill="#1c7ed6">{int(frac * 100)}%</text>'
        )
    if settle is not None and settle * 1000 <= span:
        out.append(
            f'<line x1="{x(settle * 1000):.1f}" y1="{y0 + TOP}" x2="{x(settle * 1000):.1f}" y2="{y0 + TOP + plot_h}" '
            f'stroke="#1c7ed6" stroke-dasharray="4 3"/>'
        )
    if 2000 <= span:
        out.append(
            f'<line x1="{x(2000):.1f}" y1="{y0 + TOP}" x2="{x(2000):.1f}" y2="{y0 + TOP + plot_h}" stroke="#000" stroke-dasharray="2 2"/>'
        )
        out.append(f'<text x="{x(2000) + 3:.1f}" y="{y0 + TOP + 12}" font-size="10">2 s target</text>')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("reports", nargs="+")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    reports = [json.load(open(path)) for path in args.reports]
    height = H * len(reports) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif">',
        f'<rect width="{W}" height="{height}" fill="#fff"/>',
    ]
    for i, report in enumerate(reports):
        panel(report, i * H, out)
    legend_y = H * len(reports) + 15
    lx = LEFT
    for key, label in (("ok", "2xx"), ("conflicts", "seat_conflict"), ("rate_limited", "429"), ("other", "other")):
        out.append(f'<rect x="{lx}" y="{legend_y - 9}" width="10" height="10" fill="{COLOURS[key]}"/>')
        out.append(f'<text x="{lx + 14}" y="{legend_y}" font-size="11">{label}</text>')
        lx += 110
    out.append(f'<line x1="{lx}" y1="{legend_y - 4}" x2="{lx + 20}" y2="{legend_y - 4}" stroke="#1c7ed6" stroke-width="2"/>')
    out.append(f'<text x="{lx + 24}" y="{legend_y}" font-size="11">students settled (right axis)</text>')
    out.append("</svg>")
    with open(args.output, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
