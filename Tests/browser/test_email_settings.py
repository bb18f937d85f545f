"""Email in the web app. My data's *Email* section against a server without email: a new address is
refused (403 mail_off) and said in words, the address form goes, and which emails and the
reminder's minutes are still kept (`PUT me/preferences`: across a reload; 5000 minutes is refused
with the server's words). Against a server with a real SMTP relay (Tests/mail/smtp_server.py:
STARTTLS, AUTH): a new address gets an email whose confirmation link (`/mail/confirm?t=…`, read
with Python's email package) is opened and its button pressed; back in the app the address shows
as confirmed, and removing it goes back to none. The link of a waitlist offer's email,
`#/accept/<entry id>`, opened signed out: sign in, the seat is booked and My reservations says so;
opened again, why not; `#/accept/abc` is not found. axe-core on the section in each state."""

import datetime
import re

import pytest
from selenium.webdriver.common.keys import Keys

from conftest import MailRelay, Server, By, assert_accessible, sign_in, wait, wait_until


def preferences(server, token):
    return server.api("GET", "me/preferences", token=token, expect=200)[1]


def open_email(d, server):
    """My data, with its Email section drawn (its forms come with the preferences)."""
    d.get(server.base + "#/my-data")
    return wait(d, "section.email form.email-choices")


def fact(d, name):
    return d.find_element(By.CSS_SELECTOR, f"section.email dd[data-field='{name}']")


def box(d, kind):
    return d.find_element(By.CSS_SELECTOR, f"section.email input[name='email-kind-{kind}']")


def button(d, text, within=None):
    return (within or d).find_element(By.XPATH, f".//button[normalize-space()='{text}']")


KINDS = ["confirmed", "reminder", "check_in", "no_show", "offer", "cancelled", "strike", "suspended"]
LABELS = ["Booking confirmed", "Reminder before the start", "Check-in is open", "No-show recorded",
          "A waitlist seat is held for you", "Cancelled by the library", "A strike was recorded", "Booking suspended"]


def test_email_settings_without_mail(server, browsers):
    sid, password = server.new_student("Nora Nomail")
    token = server.login(sid, password)
    d = browsers()
    sign_in(d, server, sid, password)
    d.find_element(By.LINK_TEXT, "My data").click()
    choices = wait(d, "section.email form.email-choices")
    section = d.find_element(By.CSS_SELECTOR, "section.email")
    assert section.find_element(By.TAG_NAME, "h2").text == "Email"
    assert fact(d, "email").text == "No address"
    assert fact(d, "email_source").text == "None: DL-SMS sends you no emails."
    assert not section.find_elements(By.XPATH, ".//button[normalize-space()='Remove my address']")

    # Every kind, labelled, in a fieldset with its legend; all on, and a 30-minute reminder.
    legend = choices.find_element(By.CSS_SELECTOR, "fieldset.email-kinds legend")
    assert legend.text == "Which emails you get"
    labels = [e.text for e in choices.find_elements(By.CSS_SELECTOR, "fieldset.email-kinds .check label")]
    assert labels == LABELS
    assert all(box(d, k).is_selected() for k in KINDS)
    minutes = choices.find_element(By.NAME, "reminder_minutes")
    assert minutes.get_attribute("value") == "30"
    label = choices.find_element(By.CSS_SELECTOR, f"label[for='{minutes.get_attribute('id')}']")
    assert label.text == "Reminder, minutes before the start"

    # No address typed: said, nothing sent.
    address_form = section.find_element(By.CSS_SELECTOR, "form.email-address")
    button(d, "Send confirmation link", address_form).click()
    wait(d, "form.email-address .message.error", "Enter an email address.")
    # An address on a server without email: said in words, and the form goes.
    d.find_element(By.NAME, "email").send_keys("nora@uni.example.edu", Keys.ENTER)
    message = wait(d, "section.email > .message.error", "Email is not available on this server.")
    assert message.get_attribute("role") == "alert"
    wait_until(d, lambda: not address_form.is_displayed(), "the address form stays after mail_off")
    assert preferences(server, token)["email"] is None
    assert_accessible(d, "my data, email is off")

    # The choices are kept all the same, from the keyboard: the reminder's box off with Space,
    # 15 minutes, Enter saves.
    box(d, "reminder").send_keys(Keys.SPACE)
    assert not box(d, "reminder").is_selected()
    minutes.send_keys(Keys.CONTROL, "a")
    minutes.send_keys("15", Keys.ENTER)
    saved = wait(d, "form.email-choices .message.ok", "Email settings saved.")
    assert saved.get_attribute("aria-live") == "polite" and saved.get_attribute("role") == "status"
    kept = preferences(server, token)
    assert kept["reminder_minutes"] == 15
    assert kept["email_kinds"] == {k: k != "reminder" for k in KINDS}, kept["email_kinds"]
    d.refresh()
    open_email(d, server)
    assert d.find_element(By.NAME, "reminder_minutes").get_attribute("value") == "15"
    assert not box(d, "reminder").is_selected()
    assert all(box(d, k).is_selected() for k in KINDS if k != "reminder")

    # 5000 minutes: the server's words, nothing changes.
    minutes = d.find_element(By.NAME, "reminder_minutes")
    minutes.send_keys(Keys.CONTROL, "a")
    minutes.send_keys("5000")
    button(d, "Save email settings").click()
    error = wait(d, "form.email-choices .message.error", "must be between 0 (no reminder) and 1440")
    assert error.get_attribute("role") == "alert"
    assert preferences(server, token)["reminder_minutes"] == 15
    # Nothing typed: said here, nothing sent.
    minutes.send_keys(Keys.CONTROL, "a")
    minutes.send_keys(Keys.DELETE)
    button(d, "Save email settings").click()
    wait(d, "form.email-choices .message.error", "Enter whole minutes from 0 to 1440.")
    # 0: no reminder at all.
    minutes.send_keys("0")
    button(d, "Save email settings").click()
    wait(d, "form.email-choices .message.ok", "Email settings saved.")
    assert preferences(server, token)["reminder_minutes"] == 0


@pytest.fixture(scope="module")
def mail_server():
    """A server whose emails go to a real SMTP relay (STARTTLS, AUTH): (server, relay)."""
    relay = MailRelay()
    try:
        s = Server(*relay.flags, env={"REGISTRATIONS_PER_HOUR": "1000"})
    except Exception:
        relay.stop()
        raise
    yield s, relay
    died = s.proc.poll()
    s.stop()
    relay.stop()
    assert died is None, f"dlsms exited with {died} during the run; its last lines:\n" + "".join(s.output[-200:])


def confirmation_link(message):
    """The `/mail/confirm?t=…` path and query of a confirmation email's text part."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    m = re.search(r"https?://\S+?(/mail/confirm\?t=[A-Za-z0-9_\-]+)", text)
    assert m, f"no confirmation link in:\n{text}"
    return m.group(1)


def test_a_new_address_is_confirmed_from_its_email(mail_server, browsers):
    server, relay = mail_server
    sid, password = server.new_student("Cora Confirm")
    token = server.login(sid, password)
    address = f"{sid.lower()}@uni.example.edu"
    d = browsers()
    sign_in(d, server, sid, password)
    open_email(d, server)
    assert fact(d, "email").text == "No address"

    # A malformed address: the server's words.
    field = d.find_element(By.NAME, "email")
    field.send_keys("not-an-address", Keys.ENTER)
    wait(d, "form.email-address .message.error", "plain address like name@example.edu")
    assert d.switch_to.active_element == field

    field.clear()
    field.send_keys(address)
    button(d, "Send confirmation link").click()
    wait(d, "form.email-address .message.ok",
         f"We sent a confirmation link to {address}; the address is used once you follow it.")
    # Not used before it is confirmed.
    assert preferences(server, token)["email"] is None
    assert fact(d, "email").text == "No address"

    message = relay.wait_for(address)
    assert str(message["To"]) == address and str(message["X-TLS"]) == "True" and str(message["X-Authenticated"]) == "True"
    assert message["Subject"] == "Confirm your email address"
    link = confirmation_link(message)

    # The link opens a page with a button (a mail scanner's GET confirms nothing); pressing it does.
    d.get(server.base + link.lstrip("/"))
    wait(d, "form button[type=submit]", "Confirm").click()
    wait(d, "main p", "is confirmed")
    assert preferences(server, token)["email"] == address

    # Back in the app: the address, confirmed by the student.
    open_email(d, server)
    wait_until(d, lambda: fact(d, "email").text == address, "the confirmed address is not shown")
    source = fact(d, "email_source")
    assert source.text == "Confirmed by you" and source.get_attribute("data-source") == "confirmed"
    assert_accessible(d, "my data, a confirmed address")

    # Removing it: no address any more.
    button(d, "Remove my address").click()
    wait(d, "section.email > .message.ok", "Your address is removed; DL-SMS sends you no emails.")
    wait_until(d, lambda: fact(d, "email").text == "No address", "the removed address is still shown")
    assert not d.find_elements(By.XPATH, "//section[contains(@class,'email')]//button[normalize-space()='Remove my address']")
    assert preferences(server, token)["email"] is None


def hour_slot(hours):
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return start.strftime(fmt), (start + datetime.timedelta(hours=1)).strftime(fmt)


def test_the_accept_link_of_an_offer_books_the_seat(server, browsers):
    holder_id, holder_pw = server.new_student("Holding Hilde")
    waiter_id, waiter_pw = server.new_student("Waiting Walter")
    holder = server.login(holder_id, holder_pw)
    waiter = server.login(waiter_id, waiter_pw)
    # A seat of the Science Library, some hours ahead (the first one free then).
    start, end = hour_slot(5)
    for seat_id in range(26, 38):
        status, held = server.api("POST", "reservations", {"seat_id": seat_id, "start_time": start, "end_time": end}, token=holder)
        if status == 201:
            break
    else:
        pytest.fail("no seat of the Science Library is free then")
    _, entry = server.api("POST", "waitlist", {"seat_id": seat_id, "desired_time": start, "end_time": end}, token=waiter, expect=201)
    server.api("DELETE", f"reservations/{held['id']}", token=holder, expect=200)

    def offered():
        mine = server.api("GET", "waitlist/mine", token=waiter, expect=200)[1]["waitlist"]
        return any(w["id"] == entry["id"] and w["status"] == "OFFERED" for w in mine)

    d = browsers()
    wait_until(d, offered, "the cancellation made no offer")

    # The email's link, signed out: the sign-in page first, then the seat is booked.
    d.get(server.base + f"#/accept/{entry['id']}")
    wait(d, "input[name=student_id]").send_keys(waiter_id)
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(waiter_pw)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, "main h1", "My reservations")
    note = wait(d, "main > .message.ok", "Booked: seat")
    assert note.get_attribute("role") == "status"
    assert d.current_url.endswith("#/mine"), d.current_url
    reservations = server.api("GET", "reservations/mine", token=waiter, expect=200)[1]["reservations"]
    assert [(r["seat_id"], r["start_time"], r["status"]) for r in reservations] == [(seat_id, start, "CONFIRMED")]
    wait(d, f"li.reservation[data-reservation-id='{reservations[0]['id']}'][data-status='CONFIRMED']")
    assert not d.find_elements(By.CSS_SELECTOR, f"li.waitlist-entry[data-entry-id='{entry['id']}']")
    assert_accessible(d, "my reservations, after the accept link")

    # The link again: the offer is taken already, said in words on My reservations.
    d.get(server.base + f"#/accept/{entry['id']}")
    wait(d, "main > .message.error", "The seat held for you could not be booked:")
    assert d.current_url.endswith("#/mine"), d.current_url
    assert len(server.api("GET", "reservations/mine", token=waiter, expect=200)[1]["reservations"]) == 1

    # Anything but digits is not a page.
    for bad in ["abc", "12x", "-1", "12/34", ""]:
        d.get(server.base + "#/rules")
        wait(d, "main h1", "My booking rules")
        d.get(server.base + f"#/accept/{bad}")
        wait(d, "main h1", "Page not found")


def test_the_accept_link_with_a_bad_id_signs_in_first_and_is_not_found(server, browsers):
    sid, password = server.new_student()
    d = browsers()
    d.get(server.base + "#/accept/abc")
    wait(d, "input[name=student_id]").send_keys(sid)
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, "main h1", "Page not found")
    assert d.current_url.endswith("#/accept/abc"), d.current_url
