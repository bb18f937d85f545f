"""Medians and ranges of the lines `wrk_measure` (scripts/test-server.sh) wrote.

Usage: python3 Benchmarks/summary.py RESULTS "name|label|ceiling-name" …
A figure with a ceiling also gets its ratio of the ceiling, run by run."""
import statistics
import sys

rows = [line.split("\t") for line in open(sys.argv[1]).read().split("\n") if line]
runs = sorted({r[0] for r in rows})
by = {(r[0], r[1]): r for r in rows}


def stat(values):
    return f"{statistics.median(values):,.2f} ({min(values):,.2f}–{max(values):,.2f})"


print(f"\n{'figure':<38} median (range) over {len(runs)} runs")
for spec in sys.argv[2:]:
    name, label, ceiling = spec.split("|")
    present = [r for r in runs if (r, name) in by]
    rps = [float(by[(r, name)][2]) for r in present]
    print(f"{label:<38} {stat(rps)} req/s")
    if ceiling:
        ratios = [float(by[(r, name)][2]) / float(by[(r, ceiling)][2]) for r in present if (r, ceiling) in by]
        print(f"{'':<38} ratio of {ceiling}: {stat(ratios)}")
    print(f"{'':<38} p50 {stat([float(by[(r, name)][3]) for r in present])} ms, "
          f"p99 {stat([float(by[(r, name)][4]) for r in present])} ms")
    errors = sum(int(by[(r, name)][5]) for r in present)
    print(f"{'':<38} answers other than 2xx: {errors}")
