#!/usr/bin/env python3
"""The committed seat rows (Tests/DLSMSHTTPTests/original-seed-seats.csv) against the original's
db/seed.sql, when a copy of it is at hand (CI's ../shared): the project keeps its own copy of the
facts, and this says whether they still match the source. Usage: seed_rows_check.py SEED_SQL CSV"""
import re
import sys

sql = open(sys.argv[1], encoding="utf-8").read()
source = [list(r) for r in re.findall(r"\('([^']+)', '([^']+)', (true|false), (true|false), '\w+'\)", sql)]
kept = [line.strip().split(",") for line in open(sys.argv[2], encoding="utf-8") if not line.startswith("#")][1:]
if source != kept:
    for i, (a, b) in enumerate(zip(source, kept)):
        if a != b:
            print(f"seat {i + 1}: seed.sql {a}, committed {b}")
    print(f"seed rows differ ({len(source)} in seed.sql, {len(kept)} committed)")
    sys.exit(1)
print(f"seed rows: the {len(kept)} committed seat rows are seed.sql's")
