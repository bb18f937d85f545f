"""Rules per group in the browser, on a server of its own (its policies would change the other
tests' world): staff write a group's policy and give a student that group, set a library's release
time; a student sees their rules, the restricted seats marked, a countdown to the release counted on
the server's clock (the browser's clock is set two hours wrong) and Book enabled at the instant; a
no-show's strike and suspension seen by the student, then removed and lifted by staff for a reason.
axe-core on every new page."""

import datetime
import os

import pytest

from conftest import By, Server, assert_accessible, choose_branch, wait, wait_until

FMT = "%Y-%m-%dT%H:%M:%SZ"
SHOTS = os.environ.get("SCREENSHOT_DIR")

# The browser's clock, two hours behind: a page that counted on it would never open the booking.
SLOW_CLOCK = """
(() => {
  const real = Date.now.bind(Date);
  Date.now = () => real() - 2 * 3600 * 1000;
})();
"""


@pytest.fixture(scope="module")
def rules_server():
    # Check-in grace 0 and a sweep every second: a booking that started a minute ago is a no-show
    # at once (a strike) without waiting for anything but the sweeper.
    s = Server(env={"REGISTRATIONS_PER_HOUR": "1000", "GRACE_MINUTES": "0", "SWEEP_INTERVAL": "1"})
    yield s
    s.stop()


def shot(d, name):
    if SHOTS:
        d.save_screenshot(os.path.join(SHOTS, f"rules-{name}.png"))


def button(d, text, within=None):
    return (within or d).find_element(By.XPATH, f".//button[normalize-space()='{text}']")


def staff_page(d, server, section):
    d.get(server.base + f"#/staff/{section}")
    wait(d, ".subnav a[aria-current='page']")


def test_staff_policy_membership_release_and_a_student_sees_them(rules_server, browsers):
    server = rules_server
    admin = server.login("admin", "admin-password")
    member_id, member_pw = server.new_student("Pat Postgrad")
    other_id, other_pw = server.new_student("Una Undergrad")

    # Staff: a policy for "postgraduate" (more upcoming bookings; the Research Zone is theirs).
    d = browsers()
    from conftest import sign_in
    sign_in(d, server, "admin", "admin-password")
    staff_page(d, server, "groups")
    wait(d, "p", "most generous value")
    button(d, "New group policy").click()
    dialog = wait(d, "dialog[open]")
    dialog.find_element(By.CSS_SELECTOR, "input[name=group]").send_keys("postgraduate")
    dialog.find_element(By.CSS_SELECTOR, "input[name=max_upcoming]").send_keys("5")
    dialog.find_element(By.CSS_SELECTOR, "input[name=max_hours_per_day]").send_keys("30")
    button(d, "Save", dialog).click()
    wait(dialog, ".message.error", "hours per day: a whole number from 1 to 24")  # checked here first
    hours = dialog.find_element(By.CSS_SELECTOR, "input[name=max_hours_per_day]")
    hours.clear()
    hours.send_keys("8")
    dialog.find_element(By.CSS_SELECTOR, "textarea[name=places]").send_keys("Science Library/Research Zone")
    assert_accessible(d, "policy dialog")
    shot(d, "policy")
    button(d, "Save", dialog).click()
    wait(d, ".message.ok", "The policy of “postgraduate” is saved.")
    row = wait(d, "table tbody tr", "postgraduate")
    assert "upcoming reservations 5" in row.text and "Science Library/Research Zone" in row.text, row.text
    policy = [g for g in server.api("GET", "admin/groups", token=admin, expect=200)[1]["groups"]
              if g.get("group", g.get("name")) == "postgraduate"][0]["policy"]
    assert policy["max_upcoming"] == 5 and policy["max_hours_per_day"] == 8, policy
    assert policy["places"] == ["Science Library/Research Zone"], policy
    assert "strike_threshold" not in policy or policy["strike_threshold"] is None, policy

    # Staff: the member gets the group (looked up by student ID).
    d.find_element(By.CSS_SELECTOR, "input[name=groups-student]").send_keys(member_id)
    button(d, "Look up").click()
    given = wait(d, "input[name=staff-groups]")
    given.clear()
    given.send_keys("postgraduate")
    button(d, "Save groups").click()
    wait(d, ".message.ok", f"Groups of {member_id} saved.")
    wait_until(d, lambda: "1" in wait(d, "table tbody tr", "postgraduate").find_elements(By.TAG_NAME, "td")[2].text,
               "the member count did not go up")
    assert_accessible(d, "groups")
    shot(d, "groups")

    # Staff: the Engineering Library's seats for a day open at HH:MM the day before, HH:MM being
    # the next whole minute at least 35 s away: tomorrow's seats open then.
    server_now = datetime.datetime.strptime(server.api("GET", "rules", token=admin, expect=200)[1]["server_time"], FMT)
    opens = (server_now + datetime.timedelta(seconds=35 + 59)).replace(second=0)
    day = (opens + datetime.timedelta(days=1)).date().isoformat()
    staff_page(d, server, "branches")
    wait(d, "select option[value='Engineering Library']", visible=False).click()
    wait(d, "button", "Codes of Computer Lab")
    wait(d, "h2", "Release time")
    d.find_element(By.CSS_SELECTOR, "label[for='release-at']").click()
    days = d.find_element(By.CSS_SELECTOR, "input[name=release-days]")
    days.clear()
    days.send_keys("1")
    d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.CSS_SELECTOR, "input[name=release-time]"), opens.strftime("%H:%M"))
    button(d, "Save release time").click()
    wait(d, ".message.ok", "Release time saved.")
    wait(d, ".release-current", f"Seats for a day open at {opens.strftime('%H:%M')}, 1 day before")
    assert_accessible(d, "libraries with a release time")
    shot(d, "release")

    # The member, in a browser whose clock is two hours slow.
    s = browsers()
    s.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SLOW_CLOCK})
    sign_in(s, server, member_id, member_pw)
    assert s.execute_script("return Date.now()") < (datetime.datetime.now(datetime.timezone.utc).timestamp() - 3600) * 1000
    # Their rules: the group, the policy's values, no strikes.
    s.find_element(By.LINK_TEXT, "My rules").click()
    wait(s, "ul.group-list li", "postgraduate")
    limits = wait(s, "table", "Upcoming reservations at once")
    assert "5" in limits.find_element(By.XPATH, ".//tr[contains(., 'Upcoming reservations')]/td[2]").text
    assert "8" in limits.find_element(By.XPATH, ".//tr[contains(., 'Booked hours on one day')]/td[2]").text
    wait(s, "dd", "Science Library/Research Zone")
    wait(s, "p.empty", "You have no strikes.")
    assert_accessible(s, "my rules")
    shot(s, "my-rules")

    # The restricted area: theirs to book, and said so.
    s.find_element(By.LINK_TEXT, "Find a seat").click()
    choose_branch(s, "Science Library")
    research = [b for b in s.find_elements(By.CSS_SELECTOR, ".seat-map .seat") if "Research Zone" in
                b.find_element(By.XPATH, "ancestor::section[1]/h3").text]
    assert research and all(b.get_attribute("data-state") != "restricted" for b in research)
    research[0].click()
    wait(s, ".detail p", "Reserved for postgraduate; you may book it.")

    # Tomorrow in the Engineering Library: not open yet; the countdown is on the server's clock
    # (the browser's says two hours more).
    choose_branch(s, "Engineering Library")
    s.execute_script("""
        const set = (n, v) => { const el = document.querySelector(`input[name=${n}]`); el.value = v; };
        set('date', arguments[0]); set('from', '10:00'); set('to', '11:00');""", day)
    button(s, "Show seats").click()
    notice = wait(s, ".release", "Booking opens in")
    seconds_left = sum(int(x) * 60 ** i for i, x in enumerate(reversed(notice.find_element(By.CSS_SELECTOR, ".release-countdown").text.split(":"))))
    left = (opens - datetime.datetime.strptime(server.api("GET", "rules", token=admin, expect=200)[1]["server_time"], FMT)).total_seconds()
    assert abs(seconds_left - left) <= 3, (seconds_left, left)
    assert 20 <= seconds_left <= 100, seconds_left
    seat = wait(s, ".seat-map .seat[data-state='free']")
    label = seat.find_element(By.CSS_SELECTOR, ".seat-name").text
    seat.click()
    book = wait(s, ".detail button.book", "Book seat")
    wait(s, ".detail .opens-in", "Booking opens in")
    assert not book.is_enabled()
    assert_accessible(s, "find, before the release")
    shot(s, "countdown")
    # Enabled at the instant (no sooner: the server would refuse), and the booking goes through.
    wait_until(s, lambda: s.find_element(By.CSS_SELECTOR, ".detail button.book").is_enabled(),
               "Book was not enabled at the release instant", timeout=seconds_left + 15)
    enabled_at = datetime.datetime.strptime(server.api("GET", "rules", token=admin, expect=200)[1]["server_time"], FMT)
    assert enabled_at >= opens - datetime.timedelta(seconds=1), (enabled_at, opens)
    assert enabled_at <= opens + datetime.timedelta(seconds=4), (enabled_at, opens)
    s.find_element(By.CSS_SELECTOR, ".detail button.book").click()
    wait(s, ".message.ok", f"Booked: seat {label}")

    # Another student: the Research Zone is "postgraduate only", and cannot be booked.
    o = browsers(360, 800)
    sign_in(o, server, other_id, other_pw)
    choose_branch(o, "Science Library")
    restricted = wait(o, ".seat-map .seat[data-state='restricted']")
    assert "postgraduate only" in restricted.text
    assert "postgraduate only" in restricted.get_attribute("aria-label")
    restricted.click()
    wait(o, ".detail .state-line", "Only postgraduate may book this seat.")
    assert not o.find_element(By.CSS_SELECTOR, ".detail button.book").is_enabled()
    assert_accessible(o, "find, a restricted seat (phone)")
    shot(o, "restricted")
    # And the server says the same, which the page puts in words.
    token = server.login(other_id, other_pw)
    seat_id = int(restricted.get_attribute("data-seat-id"))
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    status, answer = server.api("POST", "reservations", {"seat_id": seat_id, "start_time": start.strftime(FMT),
                                                         "end_time": (start + datetime.timedelta(hours=1)).strftime(FMT)}, token=token)
    assert (status, answer["code"]) == (403, "not_allowed_for_group"), answer
    text = o.execute_script("""
        const { ApiError } = await import(new URL('api.js', document.querySelector('script[type=module]').src).href);
        return new ApiError(403, 'not_allowed_for_group', 'x').describe();""")
    assert text == "This seat is reserved for some groups of students, and you are not in them."

    # Staff remove the release time again.
    d.find_element(By.CSS_SELECTOR, "label[for='release-none']").click()
    button(d, "Save release time").click()
    wait(d, ".message.ok", "No release time any more.")
    engineering = [b for b in server.api("GET", "branches", token=admin, expect=200)[1]["branches"] if b["branch"] == "Engineering Library"][0]
    assert not engineering.get("release"), engineering


def test_a_strike_and_a_suspension_seen_and_undone(rules_server, browsers):
    server = rules_server
    admin = server.login("admin", "admin-password")
    sid, pw = server.new_student("Nora Noshow")
    token = server.login(sid, pw)
    # One strike suspends (on "default", for this server only).
    server.api("PUT", "admin/groups/default/policy", {"strike_threshold": 1, "strike_window_days": 30, "suspension_days": 2}, token=admin, expect=200)
    try:
        # A booking that started a minute ago, with no grace: a no-show at the next sweep.
        start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=1)
        _, r = server.api("POST", "reservations", {"seat_id": 40, "start_time": start.strftime(FMT),
                                                   "end_time": (start + datetime.timedelta(hours=1)).strftime(FMT)}, token=token, expect=201)
        from conftest import sign_in
        s = browsers()
        sign_in(s, server, sid, pw)
        s.get(server.base + "#/rules")
        wait(s, ".suspension .suspended", "You cannot book, accept offers or join waitlists until", timeout=30)
        wait(s, ".suspension li", f"reservation {r['id']}")
        wait(s, "table", "No-show")
        assert_accessible(s, "my rules, suspended")
        shot(s, "suspended")
        # Booking now: the refusal in words, with the end.
        status, answer = server.api("POST", "reservations", {"seat_id": 41, "start_time": (start + datetime.timedelta(hours=3)).strftime(FMT),
                                                             "end_time": (start + datetime.timedelta(hours=4)).strftime(FMT)}, token=token)
        assert (status, answer["code"]) == (409, "suspended"), answer

        d = browsers()
        sign_in(d, server, "admin", "admin-password")
        staff_page(d, server, "strikes")
        d.find_element(By.CSS_SELECTOR, "input[name=strikes-student]").send_keys(sid)
        button(d, "Look up").click()
        wait(d, ".suspension", f"{sid} is suspended until")
        assert_accessible(d, "strikes")
        shot(d, "strikes")
        button(d, "Lift suspension…").click()
        dialog = wait(d, "dialog[open]")
        button(d, "Lift suspension", dialog).click()
        wait(dialog, ".message.error", "Give a reason.")
        dialog.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("Doctor's note")
        assert_accessible(d, "lift dialog")
        button(d, "Lift suspension", dialog).click()
        wait(d, ".message.ok", "Suspension lifted.")
        wait(d, ".suspension", f"{sid} is not suspended.")
        # The strike, removed for a reason.
        d.find_element(By.XPATH, "//table//button[starts-with(normalize-space(), 'Remove strike')]").click()
        dialog = wait(d, "dialog[open]")
        dialog.find_element(By.CSS_SELECTOR, "input[name=reason]").send_keys("Seat was broken")
        button(d, "Remove strike", dialog).click()
        wait(d, ".message.ok", "removed")
        wait(d, "table", "Removed by staff: Seat was broken")
        strikes = server.api("GET", "me/strikes", token=token, expect=200)[1]
        assert strikes["strikes"][0]["removed"]["reason"] == "Seat was broken", strikes
        assert strikes["suspension"] is None or strikes["suspension"]["lifted"]["reason"] == "Doctor's note", strikes
        # The student's page follows.
        s.refresh()
        wait(s, ".suspension", "You are not suspended.")
        wait(s, "table", "Removed by staff: Seat was broken")
    finally:
        server.api("DELETE", "admin/groups/default/policy", token=admin)
