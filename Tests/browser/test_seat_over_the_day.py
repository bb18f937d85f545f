"""The seat over the day in a real browser, as a student: book a seat, extend it (a refusal said in
the dialog first), check in, step away and come back, move it to another seat from the map, book a
weekly series (one date refused, with its reason) and cancel it from a date, and find two seats
together and book them with another student. axe-core on each new control; screenshots of them go
to $SCREENSHOT_DIR (else a temporary directory)."""

import datetime
import os
import pathlib
import tempfile

import pytest

from conftest import By, Server, assert_accessible, sign_in, wait, wait_until

SHOTS = pathlib.Path(os.environ.get("SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="dlsms-stay-shots-"))
FMT = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture(scope="module")
def stay_server():
    # Its own server: check-in opens an hour before a start (a booking at the next quarter hour is
    # checked in at once), and room for a series and a group beside the day's booking.
    s = Server(env={"CHECKIN_OPENS_MINUTES": "60", "REGISTRATIONS_PER_HOUR": "1000", "MAX_UPCOMING": "10"})
    yield s
    s.stop()


def shot(d, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(SHOTS / f"seat-over-the-day-{name}.png"))


def page_window(d):
    """The window the find page shows, as RFC 3339 UTC (the seed libraries are on UTC)."""
    day, start, end = d.execute_script(
        "return ['date','from','to'].map(n => document.querySelector(`input[name=${n}]`).value)")
    end_day = day if end > start else (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()
    return f"{day}T{start}:00Z", f"{end_day}T{end}:00Z"


def free_seats(server, token, start, end, branch="Main Library"):
    from urllib.parse import quote
    _, page = server.api("GET", f"seats?branch={quote(branch)}&available_only=true&start_time={start}&end_time={end}&limit=100",
                         token=token, expect=200)
    return [s["id"] for s in page["seats"]]


def show_day(d, day):
    """Searches another day on the find page (same times) and waits for its map."""
    heading = d.find_element(By.ID, "results-heading").text
    d.execute_script("document.querySelector('input[name=date]').value = arguments[0]", day)
    d.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    wait_until(d, lambda: d.find_element(By.ID, "results-heading").text != heading, f"the map of {day} did not come")


def card(d, reservation_id):
    return wait(d, f"li.reservation[data-reservation-id='{reservation_id}']")


def button(el, text):
    return el.find_element(By.XPATH, f".//button[contains(normalize-space(), {text!r})]")


def test_extend_step_away_move_series_and_seats_together(stay_server, browser):
    server = stay_server
    sid, password = server.new_student("Stay Student")
    token = server.login(sid, password)
    rival = server.login(*server.new_student("Rival Rosa"))
    d = browser
    sign_in(d, server, sid, password)
    wait(d, ".seat-map .seat")
    start, end = page_window(d)
    later = (datetime.datetime.strptime(end, FMT) + datetime.timedelta(hours=1)).strftime(FMT)
    # Seats free from the window's start to an hour after its end: one booked, one to move to.
    first, target = free_seats(server, token, start, later)[:2]

    # Book.
    d.find_element(By.CSS_SELECTOR, f".seat[data-seat-id='{first}']").click()
    wait(d, "#detail-heading ~ .actions button.primary", "Book seat").click()
    wait(d, ".message.ok", f"Booked: seat {first}")
    mine = server.api("GET", "reservations/mine?upcoming_only=true", token=token, expect=200)[1]["reservations"]
    assert len(mine) == 1
    r = mine[0]

    # Extend: too long first (said in the dialog, which stays open), then half an hour more.
    d.find_element(By.LINK_TEXT, "My reservations").click()
    button(card(d, r["id"]), "Extend").click()
    dialog = wait(d, "dialog[open]")
    assert "Stay longer at seat" in dialog.text
    assert_accessible(d, "extend dialog")
    too_late = datetime.datetime.strptime(r["end_time"], FMT) + datetime.timedelta(hours=5)
    d.execute_script("document.querySelector('input[name=new_end]').value = arguments[0]", too_late.strftime("%H:%M"))
    button(dialog, "Extend").click()
    wait(d, "dialog[open] .message.error", "That is too long")
    shot(d, "extend-refused")
    button(dialog, "+30 min").click()
    wait(d, ".message.ok", f"Extended: seat {first} is yours until")
    new_end = (datetime.datetime.strptime(r["end_time"], FMT) + datetime.timedelta(minutes=30)).strftime(FMT)
    assert server.api("GET", f"reservations/{r['id']}", token=token, expect=200)[1]["end_time"] == new_end

    # Check in (the window is open: the booking starts within the hour), step away, come back.
    button(card(d, r["id"]), "Check in").click()
    wait(d, f"li.reservation[data-reservation-id='{r['id']}'][data-status='CHECKED_IN']")
    button(card(d, r["id"]), "Step away").click()
    wait(d, ".message.ok", "You are away until")
    away = card(d, r["id"])
    wait_until(d, lambda: "Away until" in card(d, r["id"]).text and "The seat stays yours for" in card(d, r["id"]).text,
               "the card does not say Away until")
    assert server.api("GET", f"reservations/{r['id']}", token=token, expect=200)[1].get("away_until")
    countdown = card(d, r["id"]).find_element(By.CSS_SELECTOR, ".away .countdown").text
    assert countdown.count(":") >= 1, countdown
    assert_accessible(d, "my reservations, away")
    shot(d, "away")
    away = card(d, r["id"])
    button(away, "I'm back").click()
    wait(d, ".message.ok", f"Welcome back to seat {first}")
    assert "away_until" not in server.api("GET", f"reservations/{r['id']}", token=token, expect=200)[1]
    button(card(d, r["id"]), "Step away")  # offered again

    # Move from the map: a free seat's panel offers to move the reservation there.
    d.find_element(By.LINK_TEXT, "Find a seat").click()
    wait(d, f".seat-map .seat[data-seat-id='{target}'][data-state='free']").click()
    move = wait(d, ".detail button.move", "Move my reservation here")
    assert f"seat {first}" in move.text
    assert_accessible(d, "find, the move offer")
    shot(d, "move-offer")
    move.click()
    wait(d, ".message.ok", f"Moved: your reservation is now at seat {target}")
    mine = server.api("GET", "reservations/mine?upcoming_only=true", token=token, expect=200)[1]["reservations"]
    moved = [x for x in mine if x["status"] in ("CONFIRMED", "CHECKED_IN")]
    assert [(x["seat_id"], x["status"], x.get("moved_from")) for x in moved] == [(target, "CHECKED_IN", r["id"])], mine
    wait_until(d, lambda: d.find_element(By.CSS_SELECTOR, f".seat[data-seat-id='{first}']").get_attribute("data-state") == "free",
               "the old seat is not free on the map")
    d.find_element(By.LINK_TEXT, "My reservations").click()
    assert "moved" in card(d, moved[0]["id"]).text

    # A weekly series from tomorrow on two weekdays until the last bookable day; a rival holds the
    # seat on one of its dates, which is refused with its reason.
    d.find_element(By.LINK_TEXT, "Find a seat").click()
    wait(d, ".seat-map .seat")
    today = datetime.date.fromisoformat(page_window(d)[0][:10])
    day1 = today + datetime.timedelta(days=1)
    show_day(d, day1.isoformat())
    s_start, s_end = page_window(d)
    seat = free_seats(server, token, s_start, s_end)[2]
    week_later = lambda t, n: (datetime.datetime.strptime(t, FMT) + datetime.timedelta(days=n)).strftime(FMT)
    server.api("POST", "reservations", {"seat_id": seat, "start_time": week_later(s_start, 7), "end_time": week_later(s_end, 7)},
               token=rival, expect=201)
    wait(d, f".seat-map .seat[data-seat-id='{seat}'][data-state='free']").click()
    wait(d, ".detail details.series summary", "Repeat weekly").click()
    codes = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    ticked = d.find_element(By.CSS_SELECTOR, f"input[name=series-weekday][value={codes[day1.weekday()]}]")
    assert ticked.is_selected()
    second = d.find_element(By.CSS_SELECTOR, f"input[name=series-weekday][value={codes[(day1.weekday() + 1) % 7]}]")
    d.find_element(By.CSS_SELECTOR, f"label[for='{second.get_attribute('id')}']").click()
    assert d.find_element(By.CSS_SELECTOR, "input[name=series-until]").get_attribute("value") == (today + datetime.timedelta(days=14)).isoformat()
    assert_accessible(d, "find, the series form")
    shot(d, "series-form")
    button(d.find_element(By.CSS_SELECTOR, ".detail .series-form"), "Book every week").click()
    result = wait(d, ".message.ok", f"Weekly series at seat {seat}: 3 dates booked, 1 refused.")
    assert "not booked. Someone else has this seat" in result.text, result.text
    assert len(result.find_elements(By.CSS_SELECTOR, "li.series-booked")) == 3
    shot(d, "series-result")
    series = [x for x in server.api("GET", "reservations/mine?upcoming_only=true", token=token, expect=200)[1]["reservations"]
              if x.get("series_id")]
    series.sort(key=lambda x: x["start_time"])
    assert [x["start_time"] for x in series] == [s_start, week_later(s_start, 1), week_later(s_start, 8)], series

    # Cancel the series from its second date: that one and the later one go, the first stays.
    d.find_element(By.LINK_TEXT, "My reservations").click()
    second_date = card(d, series[1]["id"])
    assert "weekly series" in second_date.text
    button(second_date, "Cancel this date")  # one date alone can go too
    button(second_date, "Cancel the series from this date").click()
    dialog = wait(d, "dialog[open]")
    assert "Cancel the weekly series from this date?" in dialog.text
    button(dialog, "Cancel the series from here").click()
    wait(d, ".message.ok", "Series cancelled from that date: 2 dates.")
    statuses = [server.api("GET", f"reservations/{x['id']}", token=token, expect=200)[1]["status"] for x in series]
    assert statuses == ["CONFIRMED", "CANCELLED", "CANCELLED"], statuses

    # Two seats together, three days ahead, with another student.
    d.find_element(By.LINK_TEXT, "Find a seat").click()
    wait(d, ".seat-map .seat")
    show_day(d, (today + datetime.timedelta(days=3)).isoformat())
    g_start, g_end = page_window(d)
    # With two upcoming reservations (today's and the series' first date), moving asks which.
    wait(d, ".seat-map .seat-free").click()
    wait(d, ".detail button.move", "Move my reservation here…").click()
    dialog = wait(d, "dialog[open]")
    assert len(dialog.find_elements(By.CSS_SELECTOR, "input[type=radio]")) == 2
    assert "Which reservation moves?" in dialog.text and f"seat {target}" in dialog.text and f"seat {seat}" in dialog.text
    assert_accessible(d, "find, which reservation moves")
    shot(d, "move-choose")
    button(dialog, "Keep it").click()
    wait_until(d, lambda: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), "the dialog did not close")
    wait(d, "details.together summary", "Seats together").click()
    assert d.find_element(By.CSS_SELECTOR, "input[name=together_count]").get_attribute("value") == "2"
    button(d.find_element(By.CSS_SELECTOR, "details.together"), "Find seats together").click()
    option = wait(d, ".together-option")
    members = option.find_elements(By.CSS_SELECTOR, "input")
    assert len(members) == 2 and members[0].get_attribute("value") == sid
    members[1].send_keys("S2021002")
    assert_accessible(d, "find, seats together")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", option)
    shot(d, "together-options")
    labels = [el.text for el in option.find_elements(By.CSS_SELECTOR, "label")]
    button(option, "together").click()
    wait(d, ".together .message.ok", "Booked together: seats")
    shot(d, "together-booked")
    other = server.login("S2021002")
    theirs = [x for x in server.api("GET", "reservations/mine?upcoming_only=true", token=other, expect=200)[1]["reservations"]
              if x.get("group_id")]
    ours = [x for x in server.api("GET", "reservations/mine?upcoming_only=true", token=token, expect=200)[1]["reservations"]
            if x.get("group_id")]
    assert len(theirs) == 1 and len(ours) == 1, (theirs, ours)
    assert ours[0]["group_id"] == theirs[0]["group_id"]
    assert (ours[0]["start_time"], ours[0]["end_time"]) == (g_start, g_end)
    assert [f"Seat {ours[0]['seat_id']}", f"Seat {theirs[0]['seat_id']}"] == labels, labels
    d.find_element(By.LINK_TEXT, "My reservations").click()
    assert "booked together" in card(d, ours[0]["id"]).text


@pytest.mark.parametrize("width", [360])
def test_the_new_controls_on_a_phone(stay_server, browsers, width):
    """The extend dialog, the away state, the series form and seats together at phone width: axe,
    no sideways scroll."""
    server = stay_server
    d = browsers(width, 800)
    sid, password = server.new_student("Phone Pat")
    token = server.login(sid, password)
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    start = now + datetime.timedelta(minutes=15 - now.minute % 15)
    seat = free_seats(server, token, start.strftime(FMT), (start + datetime.timedelta(hours=2)).strftime(FMT))[-1]
    _, r = server.api("POST", "reservations", {"seat_id": seat, "start_time": start.strftime(FMT),
                                               "end_time": (start + datetime.timedelta(hours=1)).strftime(FMT)}, token=token, expect=201)
    server.api("POST", f"reservations/{r['id']}/checkin", token=token, expect=200)
    server.api("POST", f"reservations/{r['id']}/away", token=token, expect=200)
    sign_in(d, server, sid, password)
    d.find_element(By.LINK_TEXT, "My reservations").click()
    wait(d, f"li.reservation[data-reservation-id='{r['id']}']", "Away until")
    assert_accessible(d, "my reservations, away (phone)")
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    shot(d, "away-phone")
    button(card(d, r["id"]), "Extend").click()
    wait(d, "dialog[open]")
    assert_accessible(d, "extend dialog (phone)")
    shot(d, "extend-phone")
    d.find_element(By.CSS_SELECTOR, "dialog[open] .icon-button").click()
    d.find_element(By.LINK_TEXT, "Find a seat").click()
    wait(d, ".seat-map .seat-free").click()
    wait(d, ".detail details.series summary").click()
    wait(d, ".detail .series-form")
    wait(d, "details.together summary").click()
    button(d.find_element(By.CSS_SELECTOR, "details.together"), "Find seats together").click()
    option = wait(d, ".together-option")
    assert_accessible(d, "find, series and together (phone)")
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", option)
    shot(d, "together-phone")
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", d.find_element(By.CSS_SELECTOR, ".detail details.series"))
    shot(d, "series-phone")
