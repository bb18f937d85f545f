"""The display at a library's entrance (`display/{branch}`): served without signing in, in large
type, the numbers GET public/display has; a booking made elsewhere shows on it by the next
refresh (at most 15 s); nothing personal in its page or its data; staff turn it off (by the API,
and with the switch on the staff's library page) and on again. axe-core."""

import datetime
import json
import urllib.parse
import urllib.request
import uuid

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import ADMIN_PASSWORD, By, assert_accessible, sign_in, strings, text_of, wait, wait_until


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


def test_staff_turn_the_display_off_and_on_from_the_branch_page(server, browsers):
    """The staff's library settings have the display's switch and a link to it; off, the display
    says so (the table's words); on again, it counts again."""
    en = strings("en")
    admin = server.login("admin", ADMIN_PASSWORD)
    name = f"Switch {uuid.uuid4().hex[:6]}"
    server.api("POST", "admin/branches", {"name": name, "areas": ["Hall"]}, token=admin, expect=201)
    server.api("POST", "admin/seats", {"branch": name, "area": "Hall", "label": "W1", "x": 0, "y": 0}, token=admin, expect=201)
    quoted = urllib.parse.quote(name)
    staff = browsers()
    sign_in(staff, server, "admin", ADMIN_PASSWORD)
    staff.get(server.base + "#/staff/branches")
    wait(staff, "select[name=library]")
    Select(staff.find_element(By.CSS_SELECTOR, "select[name=library]")).select_by_value(name)
    link = wait(staff, f"a.display-link[href='display/{quoted}']", en["staff.display_open"])
    assert link.get_attribute("target") == "_blank"
    card = wait(staff, ".display-settings", text_of(en, "staff.display", path=f"/display/{name}"))
    switch = card.find_element(By.CSS_SELECTOR, "input[type=checkbox][name=display-enabled]")
    assert switch.is_selected(), "a new library's display is on"
    assert_accessible(staff, "staff branches with the display's switch")

    kiosk = browsers()
    kiosk.get(server.base + f"display/{quoted}")
    wait(kiosk, ".kiosk-figure.now .kiosk-number")

    # Off (the keyboard: Space on the focused box), and the display says so.
    switch.send_keys(Keys.SPACE)
    wait(staff, ".display-settings .message.ok", en["staff.display_off"])
    assert not switch.is_selected()
    status, _ = server.api("GET", f"public/display/{quoted}")
    assert status == 404
    kiosk.get(server.base + f"display/{quoted}")
    wait_until(kiosk, lambda: kiosk.find_element(By.CSS_SELECTOR, ".kiosk-title").text == en["display.off"],
               "the display does not say it is off")
    # The page, drawn again, shows it off.
    staff.refresh()
    Select(wait(staff, "select[name=library]")).select_by_value(name)
    wait(staff, f"a.display-link[href='display/{quoted}']")
    wait_until(staff, lambda: not staff.find_element(By.CSS_SELECTOR, "input[name=display-enabled]").is_selected(),
               "the staff page does not show the display off")

    # On again: the display counts again.
    staff.find_element(By.CSS_SELECTOR, "label[for='%s']" % staff.find_element(By.CSS_SELECTOR, "input[name=display-enabled]").get_attribute("id")).click()
    wait(staff, ".display-settings .message.ok", en["staff.display_on"])
    assert server.api("GET", f"public/display/{quoted}")[0] == 200
    kiosk.get(server.base + f"display/{quoted}")
    wait(kiosk, ".kiosk-figure.now .kiosk-number")
    assert kiosk.find_element(By.CSS_SELECTOR, ".kiosk-figure.total .kiosk-number").text == "1"
