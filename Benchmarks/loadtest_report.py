"""Shared by Benchmarks/http.sh and Benchmarks/grpc.sh: reading a `dlsms loadtest --report` file."""
import json


def load(path):
    """The report, its results and its latency percentiles (ms)."""
    r = json.load(open(path))
    return r, r["results"], r["results"]["latency_ms"]


def verdict(report):
    """The checker's verdict in a few words ("-" for runs that were not checked)."""
    check = report.get("check")
    if check is None:
        return "-"
    if check["lost"] + check["phantom"] + check["overlaps"] + check["wrong_state"] != 0:
        return "FAILED"
    return (f"passed ({check['acknowledged_bookings']} acknowledged, lost {check['lost']}, "
            f"phantom {check['phantom']}, overlaps {check['overlaps']})")
