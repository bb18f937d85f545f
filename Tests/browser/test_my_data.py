"""My data in the browser: a student who booked a seat sees what is kept about them, their student
ID and the counts of their export (`GET /me/export`), and *Download my data* saves that export as
a file (Chromium's downloads go to a temporary directory, whose file is read back); a failed
export is said in words. *Erase my account*: keeping it at the question, or typing another
student ID, erases nothing; typing the student ID erases it (`DELETE me`): the browser is signed
out and the sign-in page says so, the old token is refused (401) and the old password no longer
signs in. axe-core on the page and on the question at desktop and phone width is in
test_accessibility.py."""

import json
import os
import pathlib

from selenium.webdriver.common.keys import Keys

from conftest import By, assert_accessible, sign_in, wait, wait_until

SHOTS = os.environ.get("SCREENSHOT_DIR")


def shot(d, name):
    if SHOTS:
        d.save_screenshot(os.path.join(SHOTS, f"my-data-{name}.png"))


def count(d, field):
    return d.find_element(By.CSS_SELECTOR, f"dd[data-field='{field}']").text


def test_a_student_sees_their_data_and_downloads_it(server, browsers, tmp_path):
    sid, password = server.new_student("Dana Data")
    token = server.login(sid, password)
    account = server.api("GET", "auth/me", token=token, expect=200)[1]
    d = browsers()
    downloads = str(tmp_path)
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})

    # A booking, in the app.
    sign_in(d, server, sid, password)
    seat = wait(d, ".seat-map button.seat-free")
    label = seat.find_element(By.CSS_SELECTOR, ".seat-name").text
    seat.click()
    wait(d, "#detail-heading ~ .actions button.primary", "Book seat").click()
    wait(d, ".message.ok", f"Booked: seat {label}")
    booked = server.api("GET", "reservations/mine", token=token, expect=200)[1]["reservations"]
    assert len(booked) == 1, booked

    # My data, from the header.
    d.find_element(By.LINK_TEXT, "My data").click()
    wait(d, "h1", "My data")
    assert d.find_element(By.CSS_SELECTOR, "#nav a[aria-current='page']").text == "My data"
    wait(d, "dd[data-field='reservations']")
    assert count(d, "student_id") == sid
    assert count(d, "name") == "Dana Data"
    assert count(d, "source") == "DL-SMS account"
    assert count(d, "reservations") == "1"
    for field in ("archived", "waitlist", "strikes"):
        assert count(d, field) == "0", field
    assert int(count(d, "notifications")) >= 0
    text = d.find_element(By.ID, "main").text
    assert "90 days" in text and "newest 200 notifications" in text, text
    shot(d, "desktop")

    # Download my data, from the keyboard: Tab from the page's heading reaches the button (past the
    # Email section's controls), Enter presses it; the file is the export, under the server's name for it.
    button = d.find_element(By.XPATH, "//button[normalize-space()='Download my data']")
    wait(d, "section.email form.email-choices")
    d.execute_script("document.querySelector('main h1').focus()")
    for _ in range(30):
        if d.switch_to.active_element == button:
            break
        d.switch_to.active_element.send_keys(Keys.TAB)
    assert d.switch_to.active_element == button, d.switch_to.active_element.get_attribute("outerHTML")
    button.send_keys(Keys.ENTER)
    name = f"dlsms-export-{account['id']}.json"
    wait(d, ".message.ok", f"Saved as {name}.")
    target = pathlib.Path(downloads) / name

    def saved():
        # Chromium writes `<name>.crdownload` first and renames it when done.
        return target.exists() and not list(pathlib.Path(downloads).glob("*.crdownload"))

    wait_until(d, saved, f"no {name} in the download directory: {os.listdir(downloads)}")
    d.execute_script("arguments[0].scrollIntoView()", button)
    shot(d, "saved")
    export = json.loads(target.read_text())
    assert export["account"]["student_id"] == sid and export["account"]["id"] == account["id"], export["account"]
    assert [r["id"] for r in export["reservations"]] == [booked[0]["id"]], export["reservations"]
    assert export["sign_in"] == {"source": "local", "password_set": True}, export["sign_in"]
    assert {"groups", "calendar", "archived_reservations", "waitlist", "notifications", "strikes"} <= export.keys()
    assert "password" not in json.dumps(export["account"])
    # No new window or tab was opened for it.
    assert len(d.window_handles) == 1

    # A busy server (503 unavailable) is said in words, and the button works again.
    d.execute_script("""
      const real = window.fetch;
      window.fetch = (path, init) => String(path).startsWith("me/export")
        ? Promise.resolve(new Response(JSON.stringify({ code: "unavailable", error: "exports are busy" }),
            { status: 503, headers: { "Content-Type": "application/json", "Retry-After": "1" } }))
        : real(path, init);
    """)
    button.click()
    wait(d, ".message.error", "briefly unavailable")
    assert button.is_enabled() and button.get_attribute("aria-busy") is None
    assert sorted(os.listdir(downloads)) == [name]
    assert_accessible(d, "my data")


def test_my_data_says_when_the_export_cannot_be_read(server, browsers):
    sid, password = server.new_student()
    d = browsers(360, 800)
    sign_in(d, server, sid, password)
    d.execute_script("""
      const real = window.fetch;
      window.fetch = (path, init) => String(path).startsWith("me/export")
        ? Promise.resolve(new Response(JSON.stringify({ code: "unavailable", error: "the archive could not be read; try again" }),
            { status: 503, headers: { "Content-Type": "application/json" } }))
        : real(path, init);
    """)
    d.execute_script("location.hash = '#/my-data'")  # not a reload: the fetch above stays
    wait(d, ".message.error", "briefly unavailable")
    assert not d.find_elements(By.CSS_SELECTOR, "dd[data-field='reservations']")
    # The download is still offered (it asks the server again).
    assert d.find_element(By.XPATH, "//button[normalize-space()='Download my data']").is_enabled()
    shot(d, "phone-error")


def button(d, text, within=None):
    return (within or d).find_element(By.XPATH, f".//button[normalize-space()='{text}']")


def test_a_student_erases_their_account(server, browsers):
    sid, password = server.new_student("Erin Erased")
    token = server.login(sid, password)
    d = browsers()
    sign_in(d, server, sid, password)
    d.find_element(By.LINK_TEXT, "My data").click()
    section = wait(d, "section.erase")
    text = section.text
    assert "Erase my account" in text and "cannot be undone" in text, text
    assert "statistics" in text, "what is kept anonymously is said"

    # Keep my account at the question: nothing happens.
    erase = button(d, "Erase my account…")
    erase.click()
    dialog = wait(d, "dialog[open]")
    assert "Erase your account for good?" in dialog.text and sid in dialog.text
    button(d, "Keep my account", dialog).click()
    wait_until(d, lambda: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), "the question stays open")
    assert d.switch_to.active_element == erase, "focus goes back to the button"
    server.api("GET", "auth/me", token=token, expect=200)
    # Escape, too.
    erase.click()
    wait(d, "dialog[open] input[name=erase-confirm]").send_keys(Keys.ESCAPE)
    wait_until(d, lambda: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), "Escape leaves the question open")
    server.api("GET", "auth/me", token=token, expect=200)

    # Another student ID: refused in words, nothing erased.
    erase.click()
    dialog = wait(d, "dialog[open]")
    typed = dialog.find_element(By.NAME, "erase-confirm")
    typed.send_keys("S2021001")
    button(d, "Erase my account", dialog).click()
    wait(d, "dialog[open] .message.error", f"type {sid} exactly")
    server.api("GET", "auth/me", token=token, expect=200)
    shot(d, "erase-question")

    # The API, too, erases nothing without the confirmation.
    status, body = server.api("DELETE", "me", {}, token=token)
    assert (status, body.get("code")) == (400, "confirmation_required"), (status, body)
    server.api("GET", "auth/me", token=token, expect=200)

    # The student ID: erased, signed out, and the sign-in page says so.
    typed.clear()
    typed.send_keys(sid)
    button(d, "Erase my account", dialog).click()
    wait(d, ".message.ok", "Your account is erased")
    wait(d, "input[name=student_id]")
    assert d.current_url.endswith("#/login"), d.current_url
    assert d.execute_script("return localStorage.getItem('dlsms.session')") is None
    assert not d.find_elements(By.CSS_SELECTOR, "#nav a"), "no signed-in navigation is left"
    shot(d, "erased")
    server.api("GET", "auth/me", token=token, expect=401)
    server.api("POST", "auth/login", {"student_id": sid, "password": password}, expect=401)

    # The old password, in the browser: refused in words.
    d.find_element(By.CSS_SELECTOR, "input[name=student_id]").send_keys(sid)
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, ".message.error", "Wrong student ID or password.")


def test_staff_are_not_offered_to_erase_themselves(server, browsers):
    d = browsers(360, 800)
    sign_in(d, server, "admin", "admin-password")
    d.get(server.base + "#/my-data")
    section = wait(d, "section.erase")
    assert "erased by another administrator" in section.text
    assert not section.find_elements(By.TAG_NAME, "button")
    # The server refuses it too (409 invalid_state).
    admin = server.login("admin", "admin-password")
    status, body = server.api("DELETE", "me", {"confirm": True}, token=admin)
    assert (status, body.get("code")) == (409, "invalid_state"), (status, body)
    server.api("GET", "auth/me", token=admin, expect=200)
