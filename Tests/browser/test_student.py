"""A student's whole flow in a real browser: sign in, find a powered seat, book it, see it,
check in inside the window, cancel another, a refused booking in words, the waitlist's live toast
when a second student cancels, QR check-in, registration and a session that survives a reload."""

import datetime

from conftest import By, choose_branch, sign_in, wait, wait_until


def seat_buttons(d):
    return d.find_elements(By.CSS_SELECTOR, ".seat-map button.seat")


def page_window(d):
    """The window the find page shows, as RFC 3339 UTC (the seed libraries are on UTC)."""
    day, start, end = d.execute_script(
        "return ['date','from','to'].map(n => document.querySelector(`input[name=${n}]`).value)")
    end_day = day if end > start else (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()
    return f"{day}T{start}:00Z", f"{end_day}T{end}:00Z"


def quarter_from_now(hours=0):
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    start = now + datetime.timedelta(minutes=15 - now.minute % 15, hours=hours)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), (start + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_find_a_powered_seat_book_it_see_it_and_check_in(server, browser):
    d = browser
    sign_in(d, server, "S2021001")
    wait(d, "h1", "Find a seat")
    assert d.find_element(By.CSS_SELECTOR, "select[name=branch]").get_attribute("value") == "Main Library"
    d.find_element(By.CSS_SELECTOR, "label[for='%s']" % d.find_element(By.CSS_SELECTOR, "input[name=has_power]").get_attribute("id")).click()
    # Every seat shown has power, and the seats without it are gone (seed.sql's Main Library has six).
    wait_until(d, lambda: seat_buttons(d) and all("Power outlet" in b.get_attribute("aria-label") for b in seat_buttons(d)),
               "the map did not narrow to powered seats")
    assert len(seat_buttons(d)) == 19
    seat = wait(d, ".seat-map button.seat-free")
    label = seat.find_element(By.CSS_SELECTOR, ".seat-name").text
    seat.click()
    book = wait(d, "#detail-heading ~ .actions button.primary", "Book seat")
    book.click()
    wait(d, ".message.ok", f"Booked: seat {label}")
    token = server.login("S2021001")
    mine = server.api("GET", "reservations/mine?upcoming_only=true", token=token, expect=200)[1]["reservations"]
    booked = [r for r in mine if str(r["seat_id"]) == label and r["status"] == "CONFIRMED"]
    assert len(booked) == 1, mine
    # The map refreshed: that seat is the student's own now, in words too.
    wait_until(d, lambda: d.find_element(By.CSS_SELECTOR, f".seat[data-seat-id='{label}']").get_attribute("data-state") == "yours",
               "the booked seat is not shown as yours")
    assert d.find_element(By.CSS_SELECTOR, f".seat[data-seat-id='{label}'] .seat-state").text.endswith("Yours")
    d.find_element(By.LINK_TEXT, "My reservations").click()
    card = wait(d, f"li.reservation[data-reservation-id='{booked[0]['id']}']")
    assert f"Seat {label}" in card.text and "Confirmed" in card.text
    # Check-in opens 60 minutes before (this server's setting): the button is live, with the countdown.
    assert "The seat goes to someone else in" in card.text
    card.find_element(By.XPATH, ".//button[normalize-space()='Check in']").click()
    wait(d, f"li.reservation[data-reservation-id='{booked[0]['id']}'][data-status='CHECKED_IN']")
    assert server.api("GET", f"reservations/{booked[0]['id']}", token=token, expect=200)[1]["status"] == "CHECKED_IN"


def test_check_in_is_disabled_outside_its_window_and_cancel_asks_first(server, browser):
    sid, password = server.new_student()
    token = server.login(sid, password)
    later = quarter_from_now(hours=20)
    soon = quarter_from_now(hours=2)
    _, first = server.api("POST", "reservations", {"seat_id": 16, "start_time": later[0], "end_time": later[1]}, token=token, expect=201)
    _, second = server.api("POST", "reservations", {"seat_id": 17, "start_time": soon[0], "end_time": soon[1]}, token=token, expect=201)
    d = browser
    sign_in(d, server, sid, password)
    d.find_element(By.LINK_TEXT, "My reservations").click()
    card = wait(d, f"li.reservation[data-reservation-id='{first['id']}']")
    check_in = card.find_element(By.XPATH, ".//button[normalize-space()='Check in']")
    assert not check_in.is_enabled()
    assert "Check-in opens" in card.text
    # Cancel the other one: a dialog asks, and only that one is cancelled.
    other = wait(d, f"li.reservation[data-reservation-id='{second['id']}']")
    other.find_element(By.XPATH, ".//button[normalize-space()='Cancel…']").click()
    dialog = wait(d, "dialog[open]")
    assert "Cancel this reservation?" in dialog.text
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Cancel reservation']").click()
    wait(d, ".message.ok", "Reservation cancelled.")
    wait(d, "table", "Cancelled")
    assert not d.find_elements(By.CSS_SELECTOR, f"li.reservation[data-reservation-id='{second['id']}']")
    assert server.api("GET", f"reservations/{second['id']}", token=token, expect=200)[1]["status"] == "CANCELLED"
    assert server.api("GET", f"reservations/{first['id']}", token=token, expect=200)[1]["status"] == "CONFIRMED"


def test_a_refused_booking_is_told_in_words_and_the_map_refreshes(server, browser):
    sid, password = server.new_student()
    rival = server.login(*server.new_student("Rival"))
    d = browser
    sign_in(d, server, sid, password)
    wait(d, ".live[data-state='on']")  # its first refresh is done
    choose_branch(d, "Science Library")
    seat = wait(d, ".seat-map button.seat-free")
    seat_id = seat.get_attribute("data-seat-id")
    seat.click()
    book = wait(d, "#detail-heading ~ .actions button.primary", "Book seat")
    start, end = page_window(d)
    # Someone else takes it between the look and the click.
    server.api("POST", "reservations", {"seat_id": int(seat_id), "start_time": start, "end_time": end}, token=rival, expect=201)
    book.click()
    wait(d, ".detail .message.error", "Someone else has this seat")
    wait_until(d, lambda: d.find_element(By.CSS_SELECTOR, f".seat[data-seat-id='{seat_id}']").get_attribute("data-state") == "taken",
               "the map did not refresh after the refusal")


def test_waitlist_gets_a_live_toast_when_a_second_student_cancels(server, browsers):
    waiter_id, waiter_pw = server.new_student("Waiting Wendy")
    holder_id, holder_pw = server.new_student("Holding Hank")
    holder = server.login(holder_id, holder_pw)
    w = browsers()
    sign_in(w, server, waiter_id, waiter_pw)
    choose_branch(w, "Engineering Library")
    seat = wait(w, ".seat-map button.seat-free")
    seat_id = int(seat.get_attribute("data-seat-id"))
    start, end = page_window(w)
    _, held = server.api("POST", "reservations", {"seat_id": seat_id, "start_time": start, "end_time": end}, token=holder, expect=201)
    w.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    wait_until(w, lambda: w.find_element(By.CSS_SELECTOR, f".seat[data-seat-id='{seat_id}']").get_attribute("data-state") == "taken",
               "the held seat is not shown as taken")
    w.find_element(By.CSS_SELECTOR, f".seat[data-seat-id='{seat_id}']").click()
    wait(w, ".detail button", "Join the waitlist for this seat").click()
    wait(w, ".detail .message.ok", "number 1 in line")
    wait(w, ".live[data-state='on']")
    # The holder, in a second browser, cancels.
    h = browsers()
    sign_in(h, server, holder_id, holder_pw)
    h.find_element(By.LINK_TEXT, "My reservations").click()
    card = wait(h, f"li.reservation[data-reservation-id='{held['id']}']")
    card.find_element(By.XPATH, ".//button[normalize-space()='Cancel…']").click()
    wait(h, "dialog[open]").find_element(By.XPATH, ".//button[normalize-space()='Cancel reservation']").click()
    wait(h, ".message.ok", "Reservation cancelled.")
    # The waiter hears it at once, without reloading, and books from the toast.
    toast = wait(w, ".toast.offer", "held for you")
    toast.find_element(By.XPATH, ".//button[normalize-space()='Book it']").click()
    wait(w, ".toast.ok", "Booked")
    waiter = server.login(waiter_id, waiter_pw)
    mine = server.api("GET", "reservations/mine", token=waiter, expect=200)[1]["reservations"]
    assert [(r["seat_id"], r["start_time"], r["end_time"], r["status"]) for r in mine] == [(seat_id, start, end, "CONFIRMED")]


def test_scanning_a_seat_code_checks_in_after_signing_in(server, browser):
    sid, password = server.new_student()
    token = server.login(sid, password)
    admin = server.login("admin", "admin-password")
    start, end = quarter_from_now()
    _, r = server.api("POST", "reservations", {"seat_id": 40, "start_time": start, "end_time": end}, token=token, expect=201)
    _, code = server.api("GET", "admin/seats/40/checkin-code", token=admin, expect=200)
    d = browser
    # What a phone's camera opens: the code's URL, before signing in.
    d.get(server.base + code["url"].split("/", 3)[3])
    wait(d, "input[name=student_id]").send_keys(sid)
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, ".message.ok", "You are checked in at seat")
    assert server.api("GET", f"reservations/{r['id']}", token=token, expect=200)[1]["status"] == "CHECKED_IN"
    # Scanning again: told in words, nothing changes.
    d.get(server.base + code["url"].split("/", 3)[3])
    wait(d, ".message.error")


def test_register_then_the_session_survives_a_reload_until_sign_out(server, browser):
    d = browser
    d.get(server.base + "#/register")
    sid = "R" + datetime.datetime.now().strftime("%H%M%S%f")
    wait(d, "input[name=student_id]").send_keys(sid)
    d.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("Rita Reload")
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("short")
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, ".message.error", "Choose a longer password")
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("-but-now-long-enough")
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, ".who", "Rita Reload")
    d.refresh()
    wait(d, ".who", "Rita Reload")
    wait(d, "h1", "Find a seat")
    d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait(d, "h1", "Sign in")
    d.refresh()
    wait(d, "h1", "Sign in")
    # A wrong password is told in words.
    wait(d, "input[name=student_id]").send_keys(sid)
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("wrong-password")
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, ".message.error", "Wrong student ID or password")


def test_a_calendar_link_for_my_reservations(server, browser):
    import urllib.request
    sid, password = server.new_student("Cal Endar")
    token = server.login(sid, password)
    start, end = quarter_from_now(hours=5)
    server.api("POST", "reservations", {"seat_id": 12, "start_time": start, "end_time": end}, token=token, expect=201)
    d = browser
    sign_in(d, server, sid, password)
    d.find_element(By.LINK_TEXT, "My reservations").click()
    wait(d, "li.reservation")
    d.find_element(By.XPATH, "//button[normalize-space()='Get a new calendar link']").click()
    url = wait(d, "input.wide").get_attribute("value")
    assert url.startswith(server.base + "calendar/") and url.endswith(".ics")
    with urllib.request.urlopen(url, timeout=10) as r:
        feed = r.read().decode()
    assert "BEGIN:VCALENDAR" in feed and start.replace("-", "").replace(":", "") in feed
    d.find_element(By.XPATH, "//button[normalize-space()='Turn the link off']").click()
    wait(d, ".message.ok", "no longer works")
    try:
        urllib.request.urlopen(url, timeout=10)
        raise AssertionError("a revoked feed still answers")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_a_tampered_link_and_signing_out_in_another_tab(server, browser):
    d = browser
    sid, password = server.new_student("Two Tabs")
    sign_in(d, server, sid, password)
    d.get(server.base + "#/checkin/%E0%A4%A")  # a malformed escape, as in a tampered QR link
    wait(d, "h1", "Page not found")
    first = d.current_window_handle
    d.switch_to.new_window("tab")
    d.get(server.base + "#/mine")
    wait(d, "h1", "My reservations")
    d.switch_to.window(first)
    d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait(d, "h1", "Sign in")
    d.switch_to.window([w for w in d.window_handles if w != first][0])
    wait(d, "h1", "Sign in")
    assert not d.find_elements(By.CSS_SELECTOR, ".who")


def test_pages_say_when_the_server_is_gone(browser):
    from conftest import Server
    lone = Server()
    try:
        d = browser
        sign_in(d, lone, "admin", "admin-password")
        wait(d, "table tbody tr")
    finally:
        lone.stop()
    # The page is loaded; the server is gone: every page says so (in place of a half-drawn page).
    for page in ["#/staff/seats", "#/staff/branches", "#/staff/stats", "#/find", "#/mine"]:
        d.execute_script("location.hash = arguments[0]", page)
        wait(d, ".message.error", "The server cannot be reached")


def test_the_find_form_forgets_its_filters_at_sign_out(server, browser):
    """A shared PC: the next person does not inherit the last one's ticked features."""
    d = browser
    first = server.new_student("First Person")
    second = server.new_student("Second Person")
    sign_in(d, server, *first)
    power = wait(d, "input[name=has_power]", visible=False)
    d.find_element(By.CSS_SELECTOR, f"label[for='{power.get_attribute('id')}']").click()
    wait_until(d, lambda: d.find_element(By.CSS_SELECTOR, "input[name=has_power]").is_selected(), "power is not ticked")
    # The search remembers it for this person (a reload keeps it).
    wait_until(d, lambda: "\"power\":true" in (d.execute_script("return sessionStorage.getItem('dlsms.find')") or ""),
               "the search was not remembered")
    d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait(d, "input[name=student_id]")
    sign_in(d, server, *second)
    wait(d, "h1", "Find a seat")
    assert not wait(d, "input[name=has_power]", visible=False).is_selected()
