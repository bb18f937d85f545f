"""Browser tests of the web app: Debian's chromium and chromedriver (headless), Selenium from
PyPI, against a real `dlsms serve` on a free loopback port with a temporary data directory.

Run: `bash Tests/browser/run.sh` (builds nothing: it uses .build/debug/dlsms, or $DLSMS_BINARY).
A server's own flags are `Server(*args)`'s; `MailRelay` is a real SMTP relay for a server with email.
With $DLSMS_WEB_DIR set, every server serves the web app from that directory (`--web-dir`) instead
of the copy built into the binary: the app's files can be tested without rebuilding.
"""

import email
import email.policy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("DLSMS_BINARY", str(ROOT / ".build" / "debug" / "dlsms"))
WEB_DIR = os.environ.get("DLSMS_WEB_DIR")
ADMIN_PASSWORD = "admin-password"
WAIT = 15  # seconds an explicit wait may take before the test fails


class Server:
    """`dlsms serve` on port 0 with its own data directory; stopped (SIGTERM) at the end."""

    def __init__(self, *args, env=None):
        self.data = tempfile.mkdtemp(prefix="dlsms-browser-")
        environment = dict(os.environ, ADMIN_PASSWORD=ADMIN_PASSWORD, **(env or {}))
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--port", "0", "--grpc", "false", "--data-dir", self.data,
             "--bcrypt-cost", "4", "--log-level", "warning", *(["--web-dir", WEB_DIR] if WEB_DIR else []), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
        self.output = []
        ready = threading.Event()
        self.port = None

        def read():
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.match(r"dlsms listening on http://127\.0\.0\.1:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or self.port is None:
            self.stop()
            raise RuntimeError("dlsms did not start:\n" + "".join(self.output))
        self.base = f"http://127.0.0.1:{self.port}/"

    def api(self, method, path, body=None, token=None, expect=None):
        request = urllib.request.Request(
            self.base + path.lstrip("/"), method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        data = json.loads(raw) if raw else None
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {data}"
        return status, data

    def login(self, student_id, password="password123"):
        return self.api("POST", "auth/login", {"student_id": student_id, "password": password}, expect=200)[1]["token"]

    def new_student(self, name="Test Student"):
        """A fresh account (self-registration), so that tests do not share limits."""
        sid = "B" + uuid.uuid4().hex[:10].upper()
        self.api("POST", "auth/register", {"student_id": sid, "password": "browser-pass-1", "name": name}, expect=201)
        return sid, "browser-pass-1"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


class MailRelay:
    """A real SMTP relay for the email tests: Tests/mail/smtp_server.py (aiosmtpd, STARTTLS and
    AUTH) on a loopback port with a fresh self-signed certificate, keeping each message it takes in
    `maildir`; `flags` start a server that submits its emails to it (`Server(*relay.flags)`)."""

    USER, PASSWORD = "dlsms", "s3cret"

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="dlsms-relay-"))
        self.maildir = self.dir / "mail"
        self.cert, key = self.dir / "cert.pem", self.dir / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(self.cert),
             "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "Tests" / "mail" / "smtp_server.py"), "--maildir", str(self.maildir),
             "--cert", str(self.cert), "--key", str(key), "--user", self.USER, "--password", self.PASSWORD],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"port (\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError("the SMTP relay did not start: " + line + (self.proc.stdout.read() or ""))
        self.port = int(m.group(1))
        self.output = []
        threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True).start()
        self.flags = ["--smtp-host", "127.0.0.1", "--smtp-port", str(self.port), "--smtp-user", self.USER,
                      "--smtp-password", self.PASSWORD, "--smtp-ca-file", str(self.cert), "--mail-from", "library@example.edu"]

    def messages(self, to=None):
        """The messages taken so far (email.message.EmailMessage, oldest first), those to `to` only
        when given."""
        out = []
        for path in sorted(self.maildir.glob("*.eml")):
            with open(path, "rb") as f:
                message = email.message_from_binary_file(f, policy=email.policy.default)
            if to is None or to in str(message["X-Envelope-To"]).split(","):
                out.append(message)
        return out

    def wait_for(self, to, timeout=WAIT * 2):
        """The first message to `to`, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(to)
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError(f"no email to {to} reached the relay in {timeout} s; it has {len(self.messages())}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    # Check-in opens 60 minutes before a start, so a booking at the next quarter hour can be
    # checked in at once.
    s = Server(env={"CHECKIN_OPENS_MINUTES": "60", "REGISTRATIONS_PER_HOUR": "1000"})
    yield s
    died = s.proc.poll()
    s.stop()
    # A server that stopped during the run fails every later test with a refused connection: an
    # error at the end says why (a crash's backtrace).
    assert died is None, f"dlsms exited with {died} during the run; its last lines:\n" + "".join(s.output[-200:])


def make_driver(width=1280, height=900, lang="en-GB"):
    """Headless Chromium `width` × `height`, whose languages (navigator.languages, Accept-Language)
    are `lang` (e.g. "de" or "zh-CN"); in another language than the default, its requests are
    logged ("performance") for the tests that look at their headers."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}", f"--lang={lang}", "--force-device-scale-factor=1"]:
        options.add_argument(a)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if lang != "en-GB" else {})})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture
def browsers():
    """A factory of fresh browser sessions (own storage each); all closed after the test."""
    made = []

    def make(width=1280, height=900, lang="en-GB"):
        d = make_driver(width, height, lang)
        made.append(d)
        return d

    yield make
    for d in made:
        log = d.get_log("browser")
        errors = [e for e in log if e["level"] == "SEVERE" and "favicon" not in e["message"]]
        # i18n.js's t() warns of a key missing from strings-en.js (the page shows the raw key).
        missing = [e["message"] for e in log if "missing string" in e["message"]]
        d.quit()
        # A refused request (409, 401) is logged by Chrome as a failed resource load; script
        # errors are not acceptable.
        script_errors = [e for e in errors if "Failed to load resource" not in e["message"]]
        assert not script_errors, script_errors
        assert not missing, missing


@pytest.fixture
def browser(browsers):
    return browsers()


def wait(d, css, text=None, timeout=WAIT, visible=True):
    """The first element matching `css` (containing `text`), waiting for it."""
    def found(_):
        for el in d.find_elements(By.CSS_SELECTOR, css):
            try:
                if (not visible or el.is_displayed()) and (text is None or text in el.text):
                    return el
            except Exception:
                continue
        return False
    try:
        return WebDriverWait(d, timeout).until(found)
    except TimeoutException:
        raise AssertionError(f"no {css!r} with {text!r} on {d.current_url}; page text:\n{d.find_element(By.TAG_NAME, 'body').text[:2000]}")


def wait_until(d, condition, message, timeout=WAIT):
    """Polls `condition` (an element redrawn meanwhile counts as not yet)."""
    try:
        return WebDriverWait(d, timeout, ignored_exceptions=[StaleElementReferenceException, NoSuchElementException]).until(
            lambda _: condition())
    except TimeoutException:
        raise AssertionError(message)


def true_width(d, width=360, height=800):
    """Lays the page out `width` CSS pixels wide: headless Chromium's window is never narrower
    than 500 px, so `browsers(360)` alone gives a 500 px viewport."""
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    assert d.execute_script("return window.innerWidth") == width


def sign_in(d, server, student_id, password="password123"):
    d.get(server.base)
    wait(d, "input[name=student_id]").send_keys(student_id)
    d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(d, "#account button")


def assert_accessible(d, page):
    """axe-core (vendored in axe-selenium-python) on the current page: no serious or critical
    violation."""
    from axe_selenium_python import Axe
    axe = Axe(d)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{page}: " + axe.report(bad)
    return results


def by(css):
    return (By.CSS_SELECTOR, css)


__all__ = ["strings", "text_of", "LANGUAGES", "choose_branch", "wait", "wait_until", "sign_in", "true_width", "assert_accessible", "by", "figure", "EC", "By"]


FIGURES = []


def figure(name, value):
    """A measured figure, printed at the end of the run (never asserted: machines are noisy)."""
    FIGURES.append((name, value))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures measured in the browser")
        for name, value in FIGURES:
            terminalreporter.write_line(f"{name}: {value}")


PUBLIC = ROOT / "Sources" / "DLSMSWeb" / "public"
LANGUAGES = ["en", "de", "zh-CN"]
_KEY_LINE = re.compile(r'^\s+"([^"\\]+)":\s*"((?:[^"\\]|\\.)*)",\s*$')


def strings(lang):
    """The table of `lang` (strings-<lang>.js) as a dict. Every line inside `export default { … };`
    must be blank, a comment or one `"key": "value",` line: anything else fails (a value the
    parser would miss)."""
    text = (PUBLIC / f"strings-{lang}.js").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("export default {")
    end = lines.index("};", start)
    table = {}
    for number, line in enumerate(lines[start + 1:end], start + 2):
        if not line.strip() or line.strip().startswith("//"):
            continue
        m = _KEY_LINE.match(line)
        assert m, f"strings-{lang}.js:{number}: not a \"key\": \"value\", line: {line!r}"
        assert m.group(1) not in table, f"strings-{lang}.js:{number}: {m.group(1)} twice"
        table[m.group(1)] = json.loads(f'"{m.group(2)}"')
    return table


def text_of(table, key, **params):
    """A table's text with its placeholders filled, as t() does."""
    return re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), m.group(0))), table[key])


FIRST_SEAT = {"Main Library": 1, "Science Library": 26, "Engineering Library": 38}


def choose_branch(d, branch):
    """Picks a seed library on the find page and waits for its map (not the previous one's)."""
    d.find_element(By.CSS_SELECTOR, f"select[name=branch] option[value='{branch}']").click()
    wait(d, f".seat-map .seat[data-seat-id='{FIRST_SEAT[branch]}']")
