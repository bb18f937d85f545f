#!/usr/bin/env python3
"""Parses an email the way a mail client would (Python's `email` package, policy.default) and
prints what DL-SMS's mail tests check, as JSON: decoded headers, the MIME structure, both
alternatives' text, the parser's defects, and the calendar attachment read by `icalendar`.
    python3 mail_check.py MESSAGE.eml
"""
import email
import email.policy
import email.utils
import json
import sys


def main():
    with open(sys.argv[1], "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    out = {
        "subject": str(msg["Subject"]),
        "from": str(msg["From"]),
        "to": str(msg["To"]),
        "message_id": str(msg["Message-ID"]),
        "date": email.utils.parsedate_to_datetime(str(msg["Date"])).timestamp(),
        "list_unsubscribe": str(msg["List-Unsubscribe"]) if msg["List-Unsubscribe"] else None,
        "list_unsubscribe_post": str(msg["List-Unsubscribe-Post"]) if msg["List-Unsubscribe-Post"] else None,
        "auto_submitted": str(msg["Auto-Submitted"]) if msg["Auto-Submitted"] else None,
        "tls": str(msg["X-TLS"]),
        "authenticated": str(msg["X-Authenticated"]),
        "content_type": msg.get_content_type(),
        "parts": [],
        "defects": [type(d).__name__ for d in msg.defects],
        "lines_ok": True,
    }
    with open(sys.argv[1], "rb") as f:
        out["lines_ok"] = all(len(line.rstrip(b"\r\n")) <= 998 for line in f)
    for part in msg.walk():
        out["defects"] += [type(d).__name__ for d in part.defects]
        if part.is_multipart():
            continue
        entry = {"type": part.get_content_type(), "charset": part.get_content_charset(),
                 "filename": part.get_filename()}
        content = part.get_content()
        if part.get_content_type() == "text/calendar":
            import icalendar
            text = content if isinstance(content, str) else content.decode("utf-8")
            cal = icalendar.Calendar.from_ical(text)
            events = []
            for ev in cal.walk("VEVENT"):
                events.append({
                    "uid": str(ev.get("UID")), "summary": str(ev.get("SUMMARY")),
                    "start": ev.decoded("DTSTART").timestamp(), "end": ev.decoded("DTEND").timestamp(),
                    "location": str(ev.get("LOCATION")), "status": str(ev.get("STATUS"))})
            entry["events"] = events
        else:
            entry["text"] = content
        out["parts"].append(entry)
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
