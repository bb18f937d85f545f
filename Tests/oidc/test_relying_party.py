"""DL-SMS as an OpenID Connect relying party, end to end: the real binary against the real test
provider (LemonLDAP::NG, provider.sh), driven with requests as a browser would be (the provider's
own login form, redirects read from Location headers).

- The whole flow for a student (dwho: source oidc, the groups claim, role student) and a staff
  member (rtyler: role admin from the library-staff group).
- Refusals at the callback: a replayed callback (same code and state), an unknown or missing state,
  a code replayed under a fresh valid state (the provider refuses it: invalid_grant), the
  provider's own error answer.
- The one-time handoff code: a second use is 401.
- Sign-out: the token is refused at once (the REST API and the notification stream), another
  token of the same account still works.
- A provider that is down (nothing listens) or hangs (accepts and never answers): /auth/oidc/start
  answers 503 identity_provider_unavailable, at once or within about --oidc-timeout-seconds; and a
  provider that goes down between the sign-in and the callback gives #signin_error.

Crafted ID tokens (wrong aud, expired, alg none, HS256 with the public key, unknown kid) are the
Swift tests' business.

Run: `python3 -m pytest -q Tests/oidc/test_relying_party.py` (against .build/debug/dlsms, or
$DLSMS_BINARY; needs `bash .ci/install-oidc-provider.sh`). Skipped where LemonLDAP::NG is not
installed, except under CI=true, where that is a failure.
"""

import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import pytest
import requests

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from check_provider import login_form  # noqa: E402  (the provider's login form, parsed)

BINARY = os.environ.get("DLSMS_BINARY", str(ROOT / ".build" / "debug" / "dlsms"))
PROVIDER = HERE / "provider.sh"
CLIENT_ID = "dlsms-rp-test"
SCOPES = "openid profile email groups"
TIMEOUT = 2  # --oidc-timeout-seconds of the servers whose provider fails


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_provider():
    if all(os.access(p, os.X_OK) for p in ("/usr/sbin/llng-fastcgi-server", "/usr/sbin/nginx")):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("LemonLDAP::NG is not installed: bash .ci/install-oidc-provider.sh")
    pytest.skip("LemonLDAP::NG is not installed (bash .ci/install-oidc-provider.sh)")


class Provider:
    """The test OP on a free port, for one relying party's redirect URI."""

    def __init__(self, redirect_uri, post_logout_uri):
        self.secret = secrets.token_hex(16)
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="dlsms-rp-op-")
        started = subprocess.run(
            ["bash", str(PROVIDER), "start", "--dir", self.dir, "--port", str(self.port), "--client-id", CLIENT_ID,
             "--client-secret", self.secret, "--redirect-uri", redirect_uri, "--post-logout-redirect-uri",
             post_logout_uri, "--ttl", "900"],
            capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"provider.sh start failed:\n{started.stderr}")
        self.issuer = started.stdout.strip().splitlines()[-1]

    def stop(self):
        subprocess.run(["bash", str(PROVIDER), "stop", "--dir", self.dir], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """`dlsms serve` on a given port (the redirect URI names it), its own data directory."""

    def __init__(self, port, issuer, secret, *args):
        self.port = port
        self.base = f"http://127.0.0.1:{port}/"
        self.data = tempfile.mkdtemp(prefix="dlsms-rp-")
        self.output = []
        env = dict(os.environ, ADMIN_PASSWORD="admin-password", OIDC_CLIENT_SECRET=secret)
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--port", str(port), "--grpc", "false", "--data-dir", self.data, "--bcrypt-cost", "4",
             "--log-level", "warning", "--oidc-issuer", issuer, "--oidc-client-id", CLIENT_ID,
             "--oidc-redirect-uri", self.base + "auth/oidc/callback", "--oidc-scopes", SCOPES,
             "--oidc-name", "Bad Wolf University", "--staff-group", "library-staff",
             "--oidc-post-logout-redirect-uri", self.base, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        ready = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.output.append(line)
                if line.startswith("dlsms listening on"):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("dlsms did not start:\n" + "".join(self.output))

    def url(self, path):
        return self.base + path

    def get(self, path, token=None, **kw):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.url(path), headers=headers, timeout=30, **kw)

    def post(self, path, body=None, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(self.url(path), json=body, headers=headers, timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(scope="module")
def rp():
    require_provider()
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    op = Provider(base + "auth/oidc/callback", base)
    server = None
    try:
        server = Server(port, op.issuer, op.secret)
        server.issuer = op.issuer
        yield server
    finally:
        if server is not None:
            server.stop()
        op.stop()


# ---- a browser's part, with requests

def start(server, browser):
    """`GET /auth/oidc/start`: the provider's authorization URL and the state in it."""
    r = browser.get(server.url("auth/oidc/start"), timeout=30)
    assert r.status_code == 200, (r.status_code, r.text)
    url = r.json()["authorization_url"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
    assert query["code_challenge_method"] == "S256" and query["state"] and query["nonce"], query
    return url, query["state"]


def at_provider(server, browser, url, user):
    """Follows the provider (its login form when it asks) to the redirect to the callback; returns
    that callback URL, not fetched."""
    r = browser.get(url, allow_redirects=False, timeout=30)
    for _ in range(10):
        if r.status_code in (301, 302, 303, 307, 308):
            location = urllib.parse.urljoin(r.url, r.headers["Location"])
            if location.startswith(server.url("auth/oidc/callback")):
                return location
            r = browser.get(location, allow_redirects=False, timeout=30)
            continue
        form = login_form(r.text)
        assert form is not None, f"neither a redirect nor the login form: {r.status_code} {r.text[:300]}"
        data = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("name")}
        data.update(user=user, password=user)
        r = browser.post(urllib.parse.urljoin(r.url, form["attrs"].get("action", "")), data=data,
                         allow_redirects=False, timeout=30)
    raise AssertionError("too many redirects at the provider")


def callback(server, browser, url):
    """The callback's answer: a 303 to the app with #handoff=… or #signin_error=…; returns (kind, value)."""
    r = browser.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    location = urllib.parse.urljoin(url, r.headers["Location"])
    # Back to this server's app, nowhere else.
    assert location.split("#")[0] == server.base, location
    m = re.fullmatch(r"(handoff|signin_error)=([A-Za-z0-9_.~-]+)", urllib.parse.urlparse(location).fragment)
    assert m, location
    return m.group(1), m.group(2)


def handoff(server, code, browser):
    """`POST /auth/handoff` from `browser` (the code is bound to the browser that signed in, by its cookie)."""
    return browser.post(server.url("auth/handoff"), json={"code": code}, timeout=30)


def sign_in(server, user, browser=None):
    """The whole flow; returns (token, the handoff's answer, the callback URL)."""
    browser = browser or requests.Session()
    url, _ = start(server, browser)
    back = at_provider(server, browser, url, user)
    kind, code = callback(server, browser, back)
    assert kind == "handoff", (kind, code)
    r = handoff(server, code, browser)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["token"], r.json(), back


def with_params(url, **changes):
    parts = urllib.parse.urlparse(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    for k, v in changes.items():
        if v is None:
            query.pop(k, None)
        else:
            query[k] = v
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


# ---- the flow

def test_a_student_signs_in(rp):
    token, login, _ = sign_in(rp, "dwho")
    assert (login["student_id"], login["role"], login["name"]) == ("dwho", "student", "Doctor Who"), login
    me = rp.get("auth/me", token).json()
    assert me["source"] == "oidc" and me["email"] == "dwho@badwolf.org", me
    assert "students" in me["groups"] and "library-staff" not in me["groups"], me
    assert rp.get("admin/users", token).status_code == 403
    # A second sign-in is the same account, not a new one.
    again, _, _ = sign_in(rp, "dwho")
    assert rp.get("auth/me", again).json()["id"] == me["id"]


def test_a_staff_member_signs_in_as_admin(rp):
    token, login, _ = sign_in(rp, "rtyler")
    assert login["role"] == "admin", login
    me = rp.get("auth/me", token).json()
    assert me["source"] == "oidc" and "library-staff" in me["groups"], me
    users = rp.get("admin/users?limit=1000", token)
    assert users.status_code == 200
    listed = {u["student_id"]: u for u in users.json()["users"]}
    assert listed["rtyler"]["source"] == "oidc" and listed["S2021001"]["source"] == "local", listed.get("rtyler")


# ---- the callback's refusals

def test_a_replayed_callback_is_refused(rp):
    browser = requests.Session()
    _, _, back = sign_in(rp, "msmith", browser)
    assert callback(rp, browser, back) == ("signin_error", "invalid_state")


def test_an_unknown_or_missing_state_is_refused(rp):
    browser = requests.Session()
    url, state = start(rp, browser)
    back = at_provider(rp, browser, url, "dwho")
    assert callback(rp, browser, with_params(back, state="not-" + state)) == ("signin_error", "invalid_state")
    assert callback(rp, browser, with_params(back, state=secrets.token_urlsafe(32))) == ("signin_error", "invalid_state")
    assert callback(rp, browser, with_params(back, state=None)) == ("signin_error", "invalid_state")


def test_a_code_replayed_under_a_fresh_state_is_refused_by_the_provider(rp):
    browser = requests.Session()
    _, _, back = sign_in(rp, "dwho", browser)
    _, fresh = start(rp, browser)  # a valid state, never used
    assert callback(rp, browser, with_params(back, state=fresh)) == ("signin_error", "invalid_grant")


def test_the_providers_own_refusal_is_said(rp):
    browser = requests.Session()
    _, state = start(rp, browser)
    refused = rp.url("auth/oidc/callback") + "?" + urllib.parse.urlencode({"error": "access_denied", "state": state})
    assert callback(rp, browser, refused) == ("signin_error", "provider_refused")


def test_a_handoff_code_works_once(rp):
    browser = requests.Session()
    url, _ = start(rp, browser)
    kind, code = callback(rp, browser, at_provider(rp, browser, url, "dwho"))
    assert kind == "handoff"
    assert handoff(rp, code, browser).status_code == 200
    second = handoff(rp, code, browser)
    assert second.status_code == 401, second.text
    assert "token" not in second.text
    assert handoff(rp, "not-" + code, browser).status_code == 401


def test_a_handoff_code_carried_to_another_browser_signs_nobody_in(rp):
    """Login CSRF: an attacker signs in as themselves and sends the victim `…/#handoff=CODE`; the
    victim's browser does not have the attacker's binding cookie, so the code is refused (and spent)."""
    attacker = requests.Session()
    url, _ = start(rp, attacker)
    kind, code = callback(rp, attacker, at_provider(rp, attacker, url, "msmith"))
    assert kind == "handoff"
    victim = requests.Session()
    r = handoff(rp, code, victim)
    assert r.status_code == 401 and r.json()["code"] == "invalid_handoff", r.text
    assert handoff(rp, code, attacker).status_code == 401  # spent


# ---- sign-out

def test_sign_out_refuses_that_token_at_once_and_only_that_one(rp):
    first, _, _ = sign_in(rp, "dwho")
    second, _, _ = sign_in(rp, "dwho")
    r = rp.post("auth/logout", token=first)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["signed_out"] is True
    assert answer["end_session_url"].startswith(rp.issuer + "/oauth2/logout?"), answer
    logout = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(answer["end_session_url"]).query))
    assert logout.get("post_logout_redirect_uri") == rp.base, logout
    assert rp.get("auth/me", first).status_code == 401
    assert rp.get("reservations/mine", first).status_code == 401
    stream = rp.get("notifications/stream?token=" + first, stream=True)
    assert stream.status_code == 401
    stream.close()
    assert rp.post("auth/logout", token=first).status_code == 401
    assert rp.get("auth/me", second).status_code == 200


# ---- a provider that fails

class Hanging:
    """A TCP listener that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stopped = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.stopped = True
        self.sock.close()
        for c in self.held:
            c.close()


def timed_start(server):
    began = time.monotonic()
    r = requests.get(server.url("auth/oidc/start"), timeout=60)
    return r, time.monotonic() - began


def test_a_provider_that_is_down_is_unavailable_at_once():
    """A refused connection is known at once: the answer must not wait for the timeout (10 s here),
    or every student's click waits that long all through an outage."""
    closed = free_port()  # nothing listens there
    port = free_port()
    server = Server(port, f"http://127.0.0.1:{closed}", "unused", "--oidc-timeout-seconds", "10")
    try:
        assert server.get("auth/providers").json()["oidc"] == {"name": "Bad Wolf University"}
        for _ in range(2):  # and again: no cached success, no stuck state
            r, elapsed = timed_start(server)
            assert r.status_code == 503 and r.json()["code"] == "identity_provider_unavailable", (r.status_code, r.text)
            assert elapsed < 3, f"a refused connection took {elapsed:.1f} s to be said (the timeout is 10 s)"
        login = server.get("auth/oidc/login", allow_redirects=False)
        assert login.status_code == 503 and login.json()["code"] == "identity_provider_unavailable"
    finally:
        server.stop()


def test_a_provider_that_hangs_is_unavailable_within_the_timeout():
    """A hang check, not a benchmark: the answer comes within the timeout and a margin."""
    hanging = Hanging()
    server = Server(free_port(), f"http://127.0.0.1:{hanging.port}", "unused", "--oidc-timeout-seconds", str(TIMEOUT))
    try:
        results = []
        threads = [threading.Thread(target=lambda: results.append(timed_start(server))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 3
        for r, elapsed in results:
            assert r.status_code == 503 and r.json()["code"] == "identity_provider_unavailable", (r.status_code, r.text)
            assert elapsed < TIMEOUT + 6, elapsed
        # The server itself stays responsive meanwhile and afterwards.
        assert server.get("auth/providers").status_code == 200
    finally:
        server.stop()
        hanging.close()


def test_a_provider_that_goes_down_before_the_callback():
    """The authorization went through, then the provider stopped: the code cannot be exchanged, and
    the callback says so in bounded time."""
    require_provider()
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    op = Provider(base + "auth/oidc/callback", base)
    server = None
    try:
        server = Server(port, op.issuer, op.secret, "--oidc-timeout-seconds", str(TIMEOUT))
        browser = requests.Session()
        url, _ = start(server, browser)
        back = at_provider(server, browser, url, "dwho")
        op.stop()
        began = time.monotonic()
        assert callback(server, browser, back) == ("signin_error", "identity_provider_unavailable")
        assert time.monotonic() - began < TIMEOUT + 6
    finally:
        if server is not None:
            server.stop()
        op.stop()
