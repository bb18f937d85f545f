#!/usr/bin/env python3
"""Checks the test OpenID Provider (Tests/oidc/provider.sh) end to end, as a relying party would.

Starts the provider on a free loopback port, then: reads the discovery document and the JWKS; runs the
authorization code flow with state, nonce and PKCE S256 by posting the provider's own login form; reads the
code from the Location header (the redirect URI is never served); exchanges it at the token endpoint
(client_secret_basic for one user, client_secret_post for another); verifies the RS256 ID token against the
JWKS (joserfc) and checks iss, aud, azp, nonce, exp and the claims; checks that a replayed code, a wrong
PKCE verifier, a missing PKCE challenge, a wrong client secret and a wrong password all fail; logs out through
the end_session_endpoint; and stops the provider. Exits non-zero on the first failure.

Usage: python3 Tests/oidc/check_provider.py [--keep-logs DIR]
"""

import argparse
import base64
import hashlib
import html.parser
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDER = os.path.join(HERE, "provider.sh")
CLIENT_ID = "dlsms-check"
CLIENT_SECRET = "check-" + secrets.token_hex(16)
STUDENT = ("dwho", "dwho", "students")
STAFF = ("rtyler", "rtyler", "library-staff")
SCOPE = "openid profile email groups"


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)
    print(f"ok   {what}")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FormParser(html.parser.HTMLParser):
    """Collects the forms of a page: their attributes and their input elements."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"attrs": attrs, "inputs": []}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None:
            self._current["inputs"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def login_form(page):
    """The provider's login form: the one with the username and password fields (ids userfield, passwordfield)."""
    parser = FormParser()
    parser.feed(page)
    for form in parser.forms:
        ids = {i.get("id") for i in form["inputs"]}
        names = {i.get("name") for i in form["inputs"]}
        if {"userfield", "passwordfield"} <= ids and {"user", "password"} <= names:
            return form
    return None


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Provider:
    def __init__(self, issuer, redirect_uri, post_logout_uri):
        self.issuer = issuer
        self.redirect_uri = redirect_uri
        self.post_logout_uri = post_logout_uri
        self.meta = None
        self.keys = None

    def is_redirect_uri(self, location):
        return location.split("?", 1)[0] == self.redirect_uri

    def follow_to_callback(self, session, response):
        """Follows the provider's own redirects; returns the callback URL (never fetched) or the last page."""
        for _ in range(10):
            if response.status_code not in (301, 302, 303, 307, 308):
                return None, response
            location = urllib.parse.urljoin(response.url, response.headers["Location"])
            if self.is_redirect_uri(location):
                return location, response
            check(location.startswith(self.issuer + "/"), f"the provider redirects only to itself or the RP ({location})")
            response = session.get(location, allow_redirects=False, timeout=30)
        raise CheckFailed("too many redirects at the provider")

    def authorize(self, session, *, pkce_challenge, state, nonce, scope=SCOPE, redirect_uri=None):
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri or self.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
        }
        if pkce_challenge is not None:
            params["code_challenge"] = pkce_challenge
            params["code_challenge_method"] = "S256"
        response = session.get(self.meta["authorization_endpoint"], params=params, allow_redirects=False, timeout=30)
        return self.follow_to_callback(session, response)

    def post_login(self, session, page, user, password):
        form = login_form(page.text)
        if form is None:
            raise CheckFailed("the provider's page has no login form")
        data = {}
        for field in form["inputs"]:
            name = field.get("name")
            if name and field.get("type", "text") not in ("checkbox", "submit", "button"):
                data[name] = field.get("value", "")
        data["user"] = user
        data["password"] = password
        action = urllib.parse.urljoin(page.url, form["attrs"].get("action", ""))
        method = form["attrs"].get("method", "get").lower()
        check(method == "post", "the login form posts")
        response = session.post(action, data=data, allow_redirects=False, timeout=30)
        return self.follow_to_callback(session, response)

    def login(self, user, password, *, pkce=True):
        """A whole front-channel login; returns the session, the callback parameters and what the RP sent."""
        session = requests.Session()
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        callback, page = self.authorize(session, pkce_challenge=challenge if pkce else None, state=state, nonce=nonce)
        if callback is None:
            callback, page = self.post_login(session, page, user, password)
        if callback is None:
            return session, None, {"page": page, "state": state, "nonce": nonce, "verifier": verifier}
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(callback).query))
        return session, query, {"state": state, "nonce": nonce, "verifier": verifier}

    def token(self, code, verifier, *, auth="basic", secret=CLIENT_SECRET):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        if auth == "basic":
            return requests.post(self.meta["token_endpoint"], data=data, auth=(CLIENT_ID, secret), timeout=30)
        data.update(client_id=CLIENT_ID, client_secret=secret)
        return requests.post(self.meta["token_endpoint"], data=data, timeout=30)

    def verify_id_token(self, id_token, nonce):
        header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
        check(header.get("alg") == "RS256", f"the ID token is signed RS256 (header {header})")
        token = jwt.decode(id_token, self.keys, algorithms=["RS256"])
        claims = token.claims
        check(claims.get("iss") == self.issuer, f"iss is the discovery issuer ({claims.get('iss')})")
        aud = claims.get("aud")
        check(aud == CLIENT_ID or (isinstance(aud, list) and CLIENT_ID in aud), f"aud names the client ({aud})")
        check(claims.get("azp") in (None, CLIENT_ID), f"azp is the client ({claims.get('azp')})")
        check(claims.get("nonce") == nonce, "the nonce is echoed in the ID token")
        now = time.time()
        check(claims.get("exp", 0) > now and claims.get("iat", now + 600) <= now + 60, "exp and iat are current")
        return claims


def discovery_and_keys(op):
    response = requests.get(op.issuer + "/.well-known/openid-configuration", timeout=30)
    check(response.status_code == 200, "the discovery document answers")
    meta = response.json()
    check(meta.get("issuer") == op.issuer, f"discovery issuer is exactly {op.issuer}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint", "userinfo_endpoint"):
        check(str(meta.get(key, "")).startswith(op.issuer + "/"), f"discovery names {key}: {meta.get(key)}")
    check("RS256" in meta.get("id_token_signing_alg_values_supported", []), "RS256 is offered for ID tokens")
    check("S256" in meta.get("code_challenge_methods_supported", []), "PKCE S256 is offered")
    check("code" in meta.get("response_types_supported", []), "the code flow is offered")
    methods = meta.get("token_endpoint_auth_methods_supported", [])
    check({"client_secret_basic", "client_secret_post"} <= set(methods), f"client_secret_basic and _post ({methods})")
    op.meta = meta
    jwks = requests.get(meta["jwks_uri"], timeout=30)
    check(jwks.status_code == 200, "the JWKS answers")
    keys = jwks.json().get("keys", [])
    check(any(k.get("kty") == "RSA" and k.get("kid") for k in keys), "the JWKS has an RSA key with a kid")
    op.keys = KeySet.import_key_set(jwks.json())


def check_user_flow(op, user, password, group, auth):
    session, query, sent = op.login(user, password)
    check(query is not None and "code" in query, f"{user}: the provider redirects to the redirect URI with a code")
    check(query.get("state") == sent["state"], f"{user}: state is echoed on the redirect")
    response = op.token(query["code"], sent["verifier"], auth=auth)
    check(response.status_code == 200, f"{user}: the code is exchanged with client_secret_{auth} ({response.status_code}{'' if response.status_code == 200 else ' ' + response.text[:200]})")
    tokens = response.json()
    check("id_token" in tokens and "access_token" in tokens, f"{user}: the token answer has id_token and access_token")
    claims = op.verify_id_token(tokens["id_token"], sent["nonce"])
    check(claims.get("sub") == user, f"{user}: sub is {claims.get('sub')}")
    check(claims.get("preferred_username") == user, f"{user}: preferred_username is {claims.get('preferred_username')}")
    check(bool(claims.get("name")), f"{user}: name is {claims.get('name')!r}")
    check("@" in str(claims.get("email", "")), f"{user}: email is {claims.get('email')}")
    groups = claims.get("groups")
    check(isinstance(groups, list) and group in groups, f"{user}: the groups claim {groups} has {group}")
    replay = op.token(query["code"], sent["verifier"], auth=auth)
    check(replay.status_code >= 400 and "id_token" not in replay.text, f"{user}: a replayed code is refused ({replay.status_code} {replay.text[:80]})")
    return session, tokens, claims


def check_refusals(op):
    # A wrong PKCE verifier.
    _, query, sent = op.login(*STUDENT[:2])
    check(query is not None and "code" in query, "a second login gives a code")
    wrong = op.token(query["code"], pkce_pair()[0])
    check(wrong.status_code >= 400 and "id_token" not in wrong.text, f"a wrong PKCE verifier is refused ({wrong.status_code})")
    # A wrong client secret, on a fresh code.
    _, query, sent = op.login(*STUDENT[:2])
    bad = op.token(query["code"], sent["verifier"], secret="not-the-secret")
    check(bad.status_code in (400, 401) and "id_token" not in bad.text, f"a wrong client secret is refused ({bad.status_code})")
    # No PKCE challenge at all: PKCE is required for this client.
    session = requests.Session()
    callback, page = op.authorize(session, pkce_challenge=None, state="s", nonce="n")
    if callback is None and login_form(page.text) is not None:
        callback, page = op.post_login(session, page, *STUDENT[:2])
    got_code = callback is not None and "code" in dict(urllib.parse.parse_qsl(urllib.parse.urlparse(callback).query))
    check(not got_code, "an authorization request without a PKCE challenge gives no code")
    # Redirect URIs that are not exactly the registered one: never a redirect there (the provider only
    # redirects to itself or to the registered URI, which follow_to_callback checks), never a code.
    for other in (op.redirect_uri + "x", op.redirect_uri + "?next=/", op.redirect_uri.replace("/auth/", "/evil/")):
        session = requests.Session()
        callback, page = op.authorize(session, pkce_challenge=pkce_pair()[1], state="r", nonce="r", redirect_uri=other)
        if callback is None and login_form(page.text) is not None:
            callback, page = op.post_login(session, page, *STUDENT[:2])
        check(callback is None, f"an unregistered redirect_uri {other} gets no redirect and no code")
    # A wrong password: the login form again, no code.
    _, query, sent = op.login(STUDENT[0], "wrong-password")
    check(query is None and login_form(sent["page"].text) is not None, "a wrong password gives the login form again, no code")


def check_logout(op, session, tokens):
    state = secrets.token_urlsafe(8)
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": op.post_logout_uri, "state": state}
    response = session.get(op.meta["end_session_endpoint"], params=params, allow_redirects=False, timeout=30)
    location = response.headers.get("Location", "")
    check(response.status_code in (302, 303) and location.split("?")[0] == op.post_logout_uri,
          f"the end_session_endpoint redirects to the post-logout URI ({response.status_code} {location})")
    check(dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query)).get("state") == state, "logout echoes state")
    verifier, challenge = pkce_pair()
    callback, page = op.authorize(session, pkce_challenge=challenge, state="after", nonce="after")
    check(callback is None and login_form(page.text) is not None, "after logout the provider asks for a login again")


def check_sso(op, session):
    """With the provider's session cookie, a second authorization request gives a code without a login form."""
    verifier, challenge = pkce_pair()
    callback, page = op.authorize(session, pkce_challenge=challenge, state="sso", nonce="sso")
    check(callback is not None and "code=" in callback, "a signed-in browser gets a code without the login form")


def listening_only_on_loopback(port):
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, st = fields[1], fields[3]
                    addr, p = local.rsplit(":", 1)
                    if st == "0A" and int(p, 16) == port:
                        found.append(addr)
        except FileNotFoundError:
            pass
    return found and all(a in ("0100007F", "00000000000000000000000001000000") for a in found), found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-logs", help="copy the provider's logs here")
    args = parser.parse_args()

    port, rp_port = free_port(), free_port()
    redirect_uri = f"http://127.0.0.1:{rp_port}/auth/oidc/callback"
    post_logout_uri = f"http://127.0.0.1:{rp_port}/"
    workdir = tempfile.mkdtemp(prefix="dlsms-check-op-")
    started = time.monotonic()
    start = subprocess.run(
        ["bash", PROVIDER, "start", "--dir", workdir, "--port", str(port), "--client-id", CLIENT_ID,
         "--client-secret", CLIENT_SECRET, "--redirect-uri", redirect_uri, "--post-logout-redirect-uri",
         post_logout_uri, "--ttl", "300"],
        capture_output=True, text=True, timeout=120)
    failed = None
    try:
        print(f"provider.sh start took {time.monotonic() - started:.1f} s")
        if start.returncode != 0:
            raise CheckFailed(f"provider.sh start failed: {start.stderr}")
        issuer = start.stdout.strip().splitlines()[-1]
        check(issuer == f"http://127.0.0.1:{port}", f"provider.sh start prints the issuer {issuer}")
        only_loopback, addresses = listening_only_on_loopback(port)
        check(only_loopback, f"the provider listens on 127.0.0.1 only ({addresses})")
        op = Provider(issuer, redirect_uri, post_logout_uri)
        discovery_and_keys(op)
        session, tokens, _ = check_user_flow(op, *STUDENT, auth="basic")
        check_sso(op, session)
        staff_session, staff_tokens, staff_claims = check_user_flow(op, *STAFF, auth="post")
        check("students" not in staff_claims["groups"], "the staff member is not in the students group")
        check_refusals(op)
        check_logout(op, staff_session, staff_tokens)
    except (CheckFailed, requests.RequestException, ValueError, KeyError) as error:
        failed = error
        print(f"FAIL {error}", file=sys.stderr)
    finally:
        if args.keep_logs:
            shutil.copytree(os.path.join(workdir, "logs"), args.keep_logs, dirs_exist_ok=True)
        stop = subprocess.run(["bash", PROVIDER, "stop", "--dir", workdir], capture_output=True, text=True, timeout=60)
        if failed is not None and os.path.isdir(os.path.join(workdir, "logs")):
            for name in sorted(os.listdir(os.path.join(workdir, "logs"))):
                with open(os.path.join(workdir, "logs", name), errors="replace") as f:
                    tail = f.read()[-2000:]
                print(f"--- {name}\n{tail}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    if failed is not None:
        return 1
    try:
        check(stop.returncode == 0, f"provider.sh stop succeeds ({stop.stderr.strip()})")
        with socket.socket() as s:
            refused = s.connect_ex(("127.0.0.1", port)) != 0
        check(refused, "after stop nothing listens on the provider's port")
    except CheckFailed as error:
        print(f"FAIL {error}", file=sys.stderr)
        return 1
    print("check_provider: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
