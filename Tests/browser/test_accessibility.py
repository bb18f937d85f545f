"""axe-core on every page of the app (students' and staff's) and its questions (the erase questions
of My data and of staff's Strikes look-up among them), at desktop and phone width (a real 360 px:
`true_width`, since headless Chromium's window is never narrower than 500); no page scrolls
sideways at 360 px. The privacy notice's own page: test_privacy.py."""

import datetime

import pytest

from conftest import By, assert_accessible, sign_in, true_width, wait


def no_sideways_scroll(d, page):
    width = d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page}: the page is {width[0]} px wide in a {width[1]} px window"


def check(d, page, css, text=None, dialog=False):
    """Waits for the page's content, then axe-core; a page (not a dialog) must not scroll sideways."""
    wait(d, css, text)
    assert_accessible(d, page)
    if not dialog:
        no_sideways_scroll(d, page)


@pytest.mark.parametrize("width", [1280, 360])
def test_student_pages(server, browsers, width):
    d = browsers(width, 800)
    if width < 500:
        true_width(d, width)
    d.get(server.base)
    check(d, "sign in", "input[name=student_id]")
    d.get(server.base + "#/register")
    check(d, "register", "h1", "Create an account")
    sid, password = server.new_student("Axe Alex")
    token = server.login(sid, password)
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    end = start + datetime.timedelta(hours=1)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    server.api("POST", "reservations", {"seat_id": 20 if width > 400 else 21, "start_time": start.strftime(fmt), "end_time": end.strftime(fmt)}, token=token, expect=201)
    server.api("POST", "waitlist", {"branch": "Main Library", "desired_time": start.strftime(fmt), "end_time": end.strftime(fmt)}, token=token)
    sign_in(d, server, sid, password)
    check(d, "find", ".seat-map .seat")
    d.find_element(By.CSS_SELECTOR, ".seat-map .seat-free").click()
    check(d, "find, a seat's panel", ".detail .timeline")
    d.find_element(By.LINK_TEXT, "My reservations").click()
    check(d, "my reservations", "li.reservation")
    d.find_element(By.XPATH, "//button[normalize-space()='Cancel…']").click()
    check(d, "cancel dialog", "dialog[open]", dialog=True)
    d.get(server.base + "#/rules")
    check(d, "my rules", "h2", "Strikes")
    d.get(server.base + "#/my-data")
    check(d, "my data", "dd[data-field='reservations']", "1")
    d.find_element(By.XPATH, "//button[normalize-space()='Erase my account…']").click()
    check(d, "erase question", "dialog[open] input[name=erase-confirm]", dialog=True)
    d.find_element(By.CSS_SELECTOR, "dialog[open] button[type=submit]").click()
    check(d, "erase question, refused", "dialog[open] .message.error", dialog=True)
    d.find_element(By.XPATH, "//dialog[@open]//button[normalize-space()='Keep my account']").click()
    d.get(server.base + "#/checkin/not-a-code")
    check(d, "check-in", ".message.error")
    d.get(server.base + "#/nowhere")
    check(d, "not found", "h1", "Page not found")


@pytest.mark.parametrize("width", [1280, 360])
def test_staff_pages(server, browsers, width):
    d = browsers(width, 800)
    if width < 500:
        true_width(d, width)
    sign_in(d, server, "admin", "admin-password")
    check(d, "all reservations", "table tbody tr")
    d.get(server.base + "#/staff/seats")
    check(d, "seats", ".seat-map .seat")
    d.find_element(By.CSS_SELECTOR, ".seat-map .seat").click()
    check(d, "seat dialog", "dialog[open]", dialog=True)
    d.get(server.base + "#/staff/branches")
    check(d, "libraries", "h2", "Closures")
    d.get(server.base + "#/staff/groups")
    check(d, "groups", "h2", "A student's groups")
    d.find_element(By.XPATH, "//button[normalize-space()='New group policy']").click()
    check(d, "policy dialog", "dialog[open] textarea[name=places]", dialog=True)
    d.find_element(By.CSS_SELECTOR, "dialog[open] .icon-button").click()
    d.get(server.base + "#/staff/strikes")
    check(d, "strikes", "input[name=strikes-student]")
    d.find_element(By.NAME, "strikes-student").send_keys("S2021003")
    d.find_element(By.XPATH, "//button[normalize-space()='Look up']").click()
    wait(d, "button.erase-account").click()
    check(d, "staff's erase question", "dialog[open] input[name=erase-reason]", dialog=True)
    d.find_element(By.CSS_SELECTOR, "dialog[open] .icon-button").click()
    d.get(server.base + "#/staff/audit")
    check(d, "audit trail", "table.audit tbody tr")
    d.find_element(By.NAME, "audit-subject").send_keys("user:999999")
    d.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    check(d, "audit trail, nothing found", "p.empty")
    d.get(server.base + "#/staff/stats")
    check(d, "statistics", "figure.chart svg")


def test_the_check_can_fail(server, browser):
    """The axe check is live: a nameless button on the page is caught."""
    browser.get(server.base)
    wait(browser, "input[name=student_id]")
    browser.execute_script("document.querySelector('main').append(document.createElement('button'))")
    with pytest.raises(AssertionError, match="button-name"):
        assert_accessible(browser, "sign in with a nameless button")
