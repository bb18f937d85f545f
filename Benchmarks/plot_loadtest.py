#!/usr/bin/env python3
"""Turns one or more `dlsms loadtest --report FILE` reports into PNG charts.

    python3 Benchmarks/plot_loadtest.py REPORT.json [REPORT.json ...] [-o DIRECTORY] [--name PREFIX]

Writes PREFIX-latency.png (latency percentiles, one line per report) and
PREFIX-throughput.png (requests per second over time, with the chaos mode's kills marked).
Needs matplotlib (`pip install matplotlib`).
"""

import argparse
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("matplotlib is needed: pip install matplotlib")

PERCENTILES = [("p50", "50"), ("p90", "90"), ("p99", "99"), ("p999", "99.9"), ("max", "max")]


def label(report, path):
    loop = f"{report['rate']:.0f}/s open loop" if report.get("rate") else "closed loop"
    text = f"{report['scenario']}, {report['connections']} conn., {loop}"
    if report.get("chaos"):
        text += f", {len(report['chaos'])} kills"
    return text if text else os.path.basename(path)


def machine(report):
    m = report["machine"]
    return f"{m['cores']} cores, {m['memory_gib']:.0f} GiB, {m['cpu']}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+")
    parser.add_argument("-o", "--output", default=".", help="directory for the PNG files")
    parser.add_argument("--name", default="loadtest", help="file name prefix")
    args = parser.parse_args()

    reports = []
    for path in args.reports:
        try:
            with open(path) as f:
                reports.append((path, json.load(f)))
        except (OSError, ValueError) as e:
            sys.exit(f"{path}: not a loadtest report ({e})")
    os.makedirs(args.output, exist_ok=True)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for path, r in reports:
        latency = r["results"]["latency_ms"]
        ax.plot([name for _, name in PERCENTILES], [latency[key] for key, _ in PERCENTILES], marker="o",
                label=label(r, path))
    ax.set_ylim(bottom=0)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, from the intended send time)")
    ax.set_title("dlsms loadtest: latency percentiles\n" + machine(reports[0][1]), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    latency_path = os.path.join(args.output, f"{args.name}-latency.png")
    fig.savefig(latency_path, dpi=110)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for path, r in reports:
        timeline = r["results"]["timeline"]
        line, = ax.plot([s["second"] for s in timeline], [s["requests"] for s in timeline], label=label(r, path))
        errors = [s["errors"] for s in timeline]
        if any(errors):
            ax.plot([s["second"] for s in timeline], errors, linestyle=":", color=line.get_color(),
                    label=label(r, path) + " (errors)")
        for i, event in enumerate(r.get("chaos") or []):
            ax.axvline(event["killed_at"], color=line.get_color(), alpha=0.35, linestyle="--",
                       label="kill -9" if i == 0 else None)
    ax.set_xlabel("second of the run")
    ax.set_ylabel("requests answered per second")
    ax.set_title("dlsms loadtest: throughput over time\n" + machine(reports[0][1]), fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    throughput_path = os.path.join(args.output, f"{args.name}-throughput.png")
    fig.savefig(throughput_path, dpi=110)
    print(latency_path)
    print(throughput_path)


if __name__ == "__main__":
    main()
