"""axe-core on every page of the app (students' and staff's), at desktop and phone width; no
page scrolls sideways at 360 px."""

import datetime

import pytest

from conftest import By, assert_accessible, sign_in, wait


def no_sideways_scroll(d, page):
    width = d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page}: the page is {width[0]} px wide in a {width[1]} px window"


@pytest.mark.parametrize("width", [1280, 360])
def test_student_pages(server, browsers, width):
    d = browsers(width, 800)
    d.get(server.base)
    wait(d, "input[name=student_id]")
    assert_accessible(d, "sign in")
    no_sideways_scroll(d, "sign in")
    d.get(server.base + "#/register")
    wait(d, "h1", "Create an account")
    assert_accessible(d, "register")
    sid, password = server.new_student("Axe Alex")
    token = server.login(sid, password)
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    end = start + datetime.timedelta(hours=1)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    server.api("POST", "reservations", {"seat_id": 20 if width > 400 else 21, "start_time": start.strftime(fmt), "end_time": end.strftime(fmt)}, token=token, expect=201)
    server.api("POST", "waitlist", {"branch": "Main Library", "desired_time": start.strftime(fmt), "end_time": end.strftime(fmt)}, token=token)
    sign_in(d, server, sid, password)
    wait(d, ".seat-map .seat")
    assert_accessible(d, "find")
    no_sideways_scroll(d, "find")
    d.find_element(By.CSS_SELECTOR, ".seat-map .seat-free").click()
    wait(d, ".detail .timeline")
    assert_accessible(d, "find, a seat's panel")
    no_sideways_scroll(d, "find, a seat's panel")
    d.find_element(By.LINK_TEXT, "My reservations").click()
    wait(d, "li.reservation")
    assert_accessible(d, "my reservations")
    no_sideways_scroll(d, "my reservations")
    d.find_element(By.XPATH, "//button[normalize-space()='Cancel…']").click()
    wait(d, "dialog[open]")
    assert_accessible(d, "cancel dialog")
    d.get(server.base + "#/checkin/not-a-code")
    wait(d, ".message.error")
    assert_accessible(d, "check-in")
    d.get(server.base + "#/nowhere")
    wait(d, "h1", "Page not found")
    assert_accessible(d, "not found")


@pytest.mark.parametrize("width", [1280, 360])
def test_staff_pages(server, browsers, width):
    d = browsers(width, 800)
    sign_in(d, server, "admin", "admin-password")
    wait(d, "table tbody tr")
    assert_accessible(d, "all reservations")
    no_sideways_scroll(d, "all reservations")
    d.get(server.base + "#/staff/seats")
    wait(d, ".seat-map .seat")
    assert_accessible(d, "seats")
    no_sideways_scroll(d, "seats")
    d.find_element(By.CSS_SELECTOR, ".seat-map .seat").click()
    wait(d, "dialog[open]")
    assert_accessible(d, "seat dialog")
    d.get(server.base + "#/staff/branches")
    wait(d, "h2", "Closures")
    assert_accessible(d, "libraries")
    no_sideways_scroll(d, "libraries")
    d.get(server.base + "#/staff/stats")
    wait(d, "figure.chart svg")
    assert_accessible(d, "statistics")
    no_sideways_scroll(d, "statistics")


def test_the_check_can_fail(server, browser):
    """The axe check is live: a nameless button on the page is caught."""
    browser.get(server.base)
    wait(browser, "input[name=student_id]")
    browser.execute_script("document.querySelector('main').append(document.createElement('button'))")
    with pytest.raises(AssertionError, match="button-name"):
        assert_accessible(browser, "sign in with a nameless button")
