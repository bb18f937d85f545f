#!/usr/bin/env python3
"""Parses an iCalendar file with the `icalendar` package (an independent RFC 5545 parser) and
prints its events as JSON, one object per VEVENT, for the Swift tests to compare.

Fails (exit 1) when the file does not parse, a content line is longer than 75 octets, a line
does not end in CRLF, or a required property is missing."""
import json
import sys

import icalendar

raw = open(sys.argv[1], "rb").read()
lines = raw.split(b"\r\n")
assert lines[-1] == b"", "the file must end with CRLF"
for n, line in enumerate(lines[:-1], 1):
    assert b"\n" not in line and b"\r" not in line, f"line {n}: a bare line break"
    assert len(line) <= 75, f"line {n}: {len(line)} octets"
cal = icalendar.Calendar.from_ical(raw)
assert cal.name == "VCALENDAR"
assert str(cal["VERSION"]) == "2.0" and "PRODID" in cal
events = []
for e in cal.walk("VEVENT"):
    for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "STATUS"):
        assert prop in e, f"a VEVENT without {prop}"
    start, end = e.decoded("DTSTART"), e.decoded("DTEND")
    assert start < end and start.tzinfo is not None, "DTSTART before DTEND, in UTC"
    events.append({
        "uid": str(e["UID"]),
        "status": str(e["STATUS"]),
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": str(e["SUMMARY"]),
        "location": str(e.get("LOCATION", "")),
        "sequence": int(e.get("SEQUENCE", 0)),
    })
print(json.dumps(events))
