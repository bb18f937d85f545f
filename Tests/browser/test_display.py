"""The display at a library's entrance (`display/{branch}`): served without signing in, in large
type, the numbers GET public/display has; a booking made elsewhere shows on it by the next
refresh (at most 15 s); nothing personal in its page or its data; staff turn it off. axe-core."""

import datetime
import json
import urllib.parse
import urllib.request
import uuid

from conftest import ADMIN_PASSWORD, assert_accessible, wait, wait_until


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_display_counts_live_and_names_no_one(server, browser):
    admin = server.login("admin", ADMIN_PASSWORD)
    name = f"Kiosk {uuid.uuid4().hex[:6]}"
    server.api("POST", "admin/branches", {"name": name, "areas": ["Hall", "Loft"]}, token=admin, expect=201)
    seats = []
    for i in range(6):
        area = "Hall" if i < 4 else "Loft"
        _, seat = server.api("POST", "admin/seats", {"branch": name, "area": area, "label": f"K{i}", "x": i, "y": 0},
                             token=admin, expect=201)
        seats.append(seat["id"])
    quoted = urllib.parse.quote(name)
    browser.get(server.base + "display/" + quoted)
    wait_until(browser, lambda: "6 seats free" in browser.title, "the display shows 6 free seats")
    big = wait(browser, ".kiosk-figure.now .kiosk-number")
    assert big.text == "6"
    assert float(big.value_of_css_property("font-size").rstrip("px")) >= 48, "readable from 3 m"
    assert_accessible(browser, "display")

    # A student books a seat elsewhere, from now: the display has it by its next refresh.
    sid, password = server.new_student("Kiosk Person")
    token = server.login(sid, password)
    now = datetime.datetime.now(datetime.timezone.utc)
    server.api("POST", "reservations", {"seat_id": seats[0], "start_time": iso(now + datetime.timedelta(seconds=2)),
                                        "end_time": iso(now + datetime.timedelta(hours=1))}, token=token, expect=201)
    wait_until(browser, lambda: browser.find_element("css selector", ".kiosk-figure.now .kiosk-number").text == "5",
               "the booking shows within 15 s", timeout=25)

    # Nothing about anyone, in the page or its data.
    with urllib.request.urlopen(server.base + "public/display/" + quoted, timeout=10) as r:
        data = r.read().decode()
    for text in (browser.page_source, data):
        assert sid not in text and "Kiosk Person" not in text
    assert json.loads(data)["free_now"] == 5

    # Staff turn it off: the page says so.
    server.api("PUT", f"admin/branches/{quoted}/display", {"enabled": False}, token=admin, expect=200)
    wait_until(browser, lambda: "off" in browser.find_element("css selector", ".kiosk-title").text,
               "the display says it is off", timeout=25)
