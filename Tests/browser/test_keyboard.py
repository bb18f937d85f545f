"""The booking flow with the keyboard only (Tab, Enter, Escape): every control reachable, focus
visible on each, the dialog keeps focus inside and closes on Escape, focus returns."""

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from conftest import By, wait


def active(d):
    return d.switch_to.active_element


def press(d, *keys):
    ActionChains(d).send_keys(*keys).perform()


def tab_to(d, matches, limit=150, backwards=False):
    """Tabs until the focused element satisfies `matches`; each stop must show its focus."""
    for _ in range(limit):
        press(d, Keys.SHIFT + Keys.TAB if backwards else Keys.TAB)
        el = active(d)
        outline = d.execute_script(
            "const s = getComputedStyle(arguments[0]); return [s.outlineStyle, s.outlineWidth, s.boxShadow]", el)
        tag = el.tag_name
        if tag not in ("body", "html", "main", "h1", "h2", "dialog"):
            assert outline[0] != "none" and outline[1] != "0px", f"no visible focus on {el.get_attribute('outerHTML')[:200]}: {outline}"
        if matches(el):
            return el
    raise AssertionError("never reached the control by Tab")


def test_book_a_seat_with_the_keyboard_only(server, browser):
    sid, password = server.new_student("Keyboard Kim")
    d = browser
    d.get(server.base)
    wait(d, "input[name=student_id]")
    d.find_element(By.TAG_NAME, "body").click()  # start from the top of the page, nothing focused
    d.execute_script("document.activeElement.blur()")
    tab_to(d, lambda el: el.get_attribute("name") == "student_id").send_keys(sid)
    press(d, Keys.TAB)
    assert active(d).get_attribute("name") == "password"
    active(d).send_keys(password, Keys.ENTER)
    wait(d, "h1", "Find a seat")
    wait(d, ".seat-map .seat-free")
    seat = tab_to(d, lambda el: "seat-free" in (el.get_attribute("class") or ""))
    label = seat.find_element(By.CSS_SELECTOR, ".seat-name").text
    press(d, Keys.ENTER)
    wait(d, "#detail-heading", f"Seat {label}")
    assert active(d).get_attribute("id") == "detail-heading", "the seat's panel did not take the focus"
    tab_to(d, lambda el: el.text.startswith("Book seat"))
    press(d, Keys.ENTER)
    wait(d, ".message.ok", f"Booked: seat {label}")
    # To my reservations, and the cancel dialog: focus inside, Escape closes, focus comes back.
    d.execute_script("window.scrollTo(0, 0)")
    tab_to(d, lambda el: el.text == "My reservations", backwards=True)
    press(d, Keys.ENTER)
    wait(d, "li.reservation")
    cancel = tab_to(d, lambda el: el.text == "Cancel…")
    press(d, Keys.ENTER)
    wait(d, "dialog[open]")
    for _ in range(8):
        press(d, Keys.TAB)
        assert d.execute_script("return !!document.activeElement.closest('dialog[open]')"), "focus left the dialog"
    press(d, Keys.ESCAPE)
    assert not d.find_elements(By.CSS_SELECTOR, "dialog[open]")
    assert active(d) == cancel, "focus did not return to the button that opened the dialog"
    assert "Confirmed" in d.find_element(By.CSS_SELECTOR, "li.reservation").text
