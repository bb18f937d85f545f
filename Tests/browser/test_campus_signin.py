"""Campus sign-in in a real browser, against a real OpenID Provider (LemonLDAP::NG, Tests/oidc):
a student clicks "Sign in with …", signs in on the provider's own page, lands back in the app and
books a seat; signing out revokes the token at the server (401 afterwards) and ends the provider's
session; a staff member (group library-staff) gets the staff pages and sees where each account
signs in; a provider that is down is said in words at once; a failed sign-in comes back as words.

Skipped where LemonLDAP::NG is not installed (`bash .ci/install-oidc-provider.sh`), except under
CI=true, where that is a failure.
"""

import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT, Server, By, assert_accessible, sign_in, wait, wait_until

PROVIDER = ROOT / "Tests" / "oidc" / "provider.sh"
NAME = "Bad Wolf University"
CLIENT_ID = "dlsms-browser"
SHOTS = pathlib.Path(os.environ.get("SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="dlsms-campus-shots-"))
SHOTS.mkdir(parents=True, exist_ok=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provider_installed():
    return all(os.access(p, os.X_OK) for p in ("/usr/sbin/llng-fastcgi-server", "/usr/sbin/nginx"))


@pytest.fixture(scope="module")
def campus():
    """The test OpenID Provider and a dlsms server that uses it (with its staff group), each on its
    own free port (the redirect URI names the server's port, so it is picked first)."""
    if not provider_installed():
        if os.environ.get("CI") == "true":
            pytest.fail("LemonLDAP::NG is not installed: bash .ci/install-oidc-provider.sh")
        pytest.skip("LemonLDAP::NG is not installed (bash .ci/install-oidc-provider.sh)")
    op_port, rp_port = free_port(), free_port()
    app = f"http://127.0.0.1:{rp_port}/"
    secret = secrets.token_hex(16)
    workdir = tempfile.mkdtemp(prefix="dlsms-browser-op-")
    started = subprocess.run(
        ["bash", str(PROVIDER), "start", "--dir", workdir, "--port", str(op_port), "--client-id", CLIENT_ID,
         "--client-secret", secret, "--redirect-uri", app + "auth/oidc/callback",
         "--post-logout-redirect-uri", app, "--ttl", "900"],
        capture_output=True, text=True, timeout=120)
    server = None
    try:
        assert started.returncode == 0, started.stderr
        issuer = started.stdout.strip().splitlines()[-1]
        server = Server(
            "--port", str(rp_port), "--oidc-issuer", issuer, "--oidc-client-id", CLIENT_ID,
            "--oidc-redirect-uri", app + "auth/oidc/callback", "--oidc-scopes", "openid profile email groups",
            "--oidc-name", NAME, "--staff-group", "library-staff", "--oidc-post-logout-redirect-uri", app,
            env={"OIDC_CLIENT_SECRET": secret, "CHECKIN_OPENS_MINUTES": "60"})
        assert server.base == app
        server.issuer = issuer
        yield server
    finally:
        if server is not None:
            server.stop()
        subprocess.run(["bash", str(PROVIDER), "stop", "--dir", workdir], capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def campus_sign_in(d, server, user, shot=None):
    """Clicks "Sign in with …", signs in on the provider's own form, and waits for the app; returns
    the session's token (from localStorage, as the app keeps it)."""
    d.get(server.base)
    wait(d, "main .campus button", f"Sign in with {NAME}").click()
    wait(d, "input#userfield").send_keys(user)
    d.find_element(By.CSS_SELECTOR, "input#passwordfield").send_keys(user)
    if shot:
        d.save_screenshot(str(SHOTS / shot))
    d.find_element(By.CSS_SELECTOR, "#lform button[type=submit]").click()
    wait(d, "#account button", "Sign out")
    # The one-time code left the address at once.
    assert d.current_url.startswith(server.base) and "handoff" not in d.current_url, d.current_url
    return d.execute_script("return JSON.parse(localStorage.getItem('dlsms.session')).token")


def test_a_student_signs_in_on_campus_books_a_seat_and_signs_out(campus, browser):
    d = browser
    d.get(campus.base)
    wait(d, "main .campus button", f"Sign in with {NAME}")
    wait(d, "input[name=student_id]")  # the password form stays (--local-sign-in all)
    d.save_screenshot(str(SHOTS / "campus-sign-in.png"))
    assert_accessible(d, "sign in with a campus button")
    token = campus_sign_in(d, campus, "dwho", shot="campus-provider-form.png")
    wait(d, "h1", "Find a seat")
    assert d.find_element(By.CSS_SELECTOR, "#account .who").text == "Doctor Who"
    _, me = campus.api("GET", "auth/me", token=token, expect=200)
    assert (me["student_id"], me["source"], me["role"]) == ("dwho", "oidc", "student"), me
    assert "students" in me["groups"], me
    # Book a seat the way a student does: the seat, then Book.
    seat = wait(d, ".seat-map button.seat-free")
    label = seat.find_element(By.CSS_SELECTOR, ".seat-name").text
    seat.click()
    wait(d, "#detail-heading ~ .actions button.primary", "Book seat").click()
    wait(d, ".message.ok", f"Booked: seat {label}")
    d.save_screenshot(str(SHOTS / "campus-booked.png"))
    mine = campus.api("GET", "reservations/mine?upcoming_only=true", token=token, expect=200)[1]["reservations"]
    assert [r["status"] for r in mine if str(r["seat_id"]) == label] == ["CONFIRMED"], mine
    # Sign out: the server refuses the token from then on; the provider's own sign-out follows
    # (LemonLDAP::NG asks to confirm when it gets no id_token_hint) and sends the browser back.
    d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    wait_until(d, lambda: d.current_url.startswith(campus.issuer + "/oauth2/logout") or "#/login" in d.current_url,
               f"sign-out went nowhere: {d.current_url}")
    assert campus.api("GET", "auth/me", token=token)[0] == 401
    assert campus.api("GET", "reservations/mine", token=token)[0] == 401
    if d.current_url.startswith(campus.issuer):
        d.save_screenshot(str(SHOTS / "campus-provider-logout.png"))
        wait(d, "button", "Accept").click()
    wait(d, "h1", "Sign in")
    assert d.current_url.startswith(campus.base)
    assert d.execute_script("return localStorage.getItem('dlsms.session')") is None
    # The provider's session ended too: a new campus sign-in asks for the password again.
    wait(d, "main .campus button", f"Sign in with {NAME}").click()
    wait(d, "input#userfield")


def test_a_staff_member_signs_in_on_campus_and_sees_each_accounts_source(campus, browsers):
    # A campus student with a reservation, for the staff list.
    student = browsers()
    student_token = campus_sign_in(student, campus, "msmith")
    _, me = campus.api("GET", "auth/me", token=student_token, expect=200)
    _, booked = campus.api("POST", "reservations", {"seat_id": 40, **next_hours(5)}, token=student_token, expect=201)
    staff = browsers()
    token = campus_sign_in(staff, campus, "rtyler")
    assert campus.api("GET", "auth/me", token=token, expect=200)[1]["role"] == "admin"
    wait(staff, "h1", "All reservations")
    wait(staff, "#nav a", "Staff")
    user = staff.find_element(By.ID, staff.find_element(By.XPATH, "//label[normalize-space()='Student ID']").get_attribute("for"))
    user.send_keys(me["student_id"])
    staff.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    row = wait(staff, "table tbody tr", "msmith")
    assert row.find_element(By.CSS_SELECTOR, "td").text == str(booked["id"]) and "campus (OIDC)" in row.text, row.text
    staff.save_screenshot(str(SHOTS / "campus-staff-filtered.png"))
    # Seeded password accounts say so.
    user.clear()
    staff.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    wait(staff, "table tbody tr", "DL-SMS account")
    staff.save_screenshot(str(SHOTS / "campus-staff.png"))
    assert_accessible(staff, "staff reservations with account sources")


def next_hours(hours):
    """An hour from the next quarter hour `hours` hours from now."""
    start = time.time() + hours * 3600
    start += 900 - start % 900
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {"start_time": time.strftime(fmt, time.gmtime(start)), "end_time": time.strftime(fmt, time.gmtime(start + 3600))}


def test_a_seat_code_scanned_before_a_campus_sign_in_checks_in_after_it(campus, browsers):
    """The QR code's link survives the trip to the provider and back."""
    student = browsers()
    token = campus_sign_in(student, campus, "dwho")
    _, booked = campus.api("POST", "reservations", {"seat_id": 41, **next_hours(0)}, token=token, expect=201)
    admin = campus.login("admin", "admin-password")
    _, code = campus.api("GET", "admin/seats/41/checkin-code", token=admin, expect=200)
    phone = browsers()  # another browser: no session here, none at the provider
    phone.get(campus.base + code["url"].split("/", 3)[3])
    wait(phone, "main .campus button", f"Sign in with {NAME}").click()
    wait(phone, "input#userfield").send_keys("dwho")
    phone.find_element(By.CSS_SELECTOR, "input#passwordfield").send_keys("dwho")
    phone.find_element(By.CSS_SELECTOR, "#lform button[type=submit]").click()
    wait(phone, ".message.ok", "You are checked in at seat")
    assert campus.api("GET", f"reservations/{booked['id']}", token=token, expect=200)[1]["status"] == "CHECKED_IN"


def test_a_provider_that_is_down_is_said_at_once_and_staff_still_sign_in(browser):
    """A fresh server whose provider does not run (nothing listens on its port), local sign-in for
    staff only: the button answers with words, not a hang; the password form is the staff's."""
    closed, rp_port = free_port(), free_port()
    app = f"http://127.0.0.1:{rp_port}/"
    server = Server("--port", str(rp_port), "--oidc-issuer", f"http://127.0.0.1:{closed}", "--oidc-client-id", CLIENT_ID,
                    "--oidc-redirect-uri", app + "auth/oidc/callback", "--oidc-name", NAME, "--oidc-timeout-seconds", "2",
                    "--local-sign-in", "staff", env={"OIDC_CLIENT_SECRET": "unused"})
    try:
        d = browser
        d.get(server.base)
        button = wait(d, "main .campus button", f"Sign in with {NAME}")
        wait(d, "h2", "Library staff")
        assert not d.find_elements(By.LINK_TEXT, "Create one.")  # no self-registration for students here
        started = time.monotonic()
        button.click()
        message = wait(d, "main .message.error", "unavailable", timeout=20)
        elapsed = time.monotonic() - started
        assert elapsed < 15, elapsed
        assert "Library staff can still sign in with their password" in message.text
        assert message.get_attribute("role") == "alert"
        assert d.current_url.startswith(server.base)
        d.save_screenshot(str(SHOTS / "campus-unavailable.png"))
        assert_accessible(d, "sign in, the provider unavailable")
        # A student's password is refused in words; the staff's works.
        d.find_element(By.CSS_SELECTOR, "input[name=student_id]").send_keys("S2021001")
        d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("password123")
        d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait(d, "form .message.error", "Only library staff sign in with a DL-SMS password")
        sign_in(d, server, "admin", "admin-password")
        wait(d, "h1", "All reservations")
    finally:
        server.stop()


def test_a_failed_campus_sign_in_comes_back_in_words(campus, browsers):
    d = browsers(360, 800)  # a phone
    d.get(campus.base + "#signin_error=invalid_state")
    message = wait(d, "main .message.error", "Sign in again")
    assert "already used, has expired" in message.text
    assert "signin_error" not in d.current_url
    d.get(campus.base + "#signin_error=account_disabled")
    wait(d, "main .message.error", "This account is disabled")
    d.get(campus.base + "#signin_error=something_new")
    wait(d, "main .message.error", "The campus sign-in did not complete")
    # A sign-in code that is unknown (or used): words, no session, and out of the address.
    d.get(campus.base + "#handoff=not-a-code")
    wait(d, "main .message.error", "did not complete in time")
    assert "handoff" not in d.current_url
    assert d.execute_script("return localStorage.getItem('dlsms.session')") is None
    d.save_screenshot(str(SHOTS / "campus-error-phone.png"))
    assert_accessible(d, "sign in after a failed campus sign-in")
    width = d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the sign-in page is {width[0]} px wide in a {width[1]} px window"
