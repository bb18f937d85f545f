"""The staff's audit trail in the browser, on a server of its own (its trail holds only what these
tests do): staff disable and enable a student and save a group's policy twice through the API; the
Audit trail page lists them newest first with who, address, kind, subject and before → after, as
`GET admin/audit` has them; the kind and subject filters narrow it; pages of 2 entries walk back
with Older and forth with Newer exactly as `next_before` does; Download CSV saves the same filters
as `admin/audit.csv` (the contract's header, oldest first); an empty result and an unknown staff ID
are said in words. Then staff erase a student's account from the Strikes look-up (a reason and the
student ID typed again): the student's token is refused, and the trail shows the erasure with its
reason. axe-core on these pages is in test_accessibility.py."""

import csv
import json
import os
import pathlib
import tempfile
import uuid

import pytest
from selenium.webdriver.support.ui import Select

from conftest import ADMIN_PASSWORD, By, Server, assert_accessible, sign_in, wait, wait_until

SHOTS = os.environ.get("AUDIT_SHOTS") or tempfile.gettempdir()
HEADER = ["seq", "at", "actor_id", "actor", "address", "kind", "subject", "reason", "before", "after", "prev_hash", "hash"]


@pytest.fixture(scope="module")
def audit_server():
    s = Server(env={"REGISTRATIONS_PER_HOUR": "1000"})
    yield s
    s.stop()


def shot(d, name):
    d.save_screenshot(os.path.join(SHOTS, f"audit-{name}.png"))


def button(d, text, within=None):
    return (within or d).find_element(By.XPATH, f".//button[normalize-space()='{text}']")


def rows(d):
    """The table's rows as (seq, kind) pairs, top to bottom (read at once: the table is redrawn)."""
    return [(int(seq), kind) for seq, kind in d.execute_script(
        "return [...document.querySelectorAll('table.audit tbody tr')].map(r => [r.dataset.seq, r.dataset.kind])")]


def row(d, seq):
    return d.find_element(By.CSS_SELECTOR, f"table.audit tbody tr[data-seq='{seq}']")


def cells(d, seq):
    return [td.text for td in row(d, seq).find_elements(By.TAG_NAME, "td")]


def changes(d, seq):
    """The row's before → after lines as (field, before, after)."""
    out = []
    for li in row(d, seq).find_elements(By.CSS_SELECTOR, ".change li"):
        name = li.find_elements(By.CSS_SELECTOR, ".field-name")
        out.append((name[0].text.rstrip(": ") if name else None,
                    li.find_element(By.CSS_SELECTOR, ".before").text, li.find_element(By.CSS_SELECTOR, ".after").text))
    return out


def filter_by(d, actor="", subject="", kind="", limit=None):
    for name, value in (("audit-actor", actor), ("audit-subject", subject)):
        box = d.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    Select(d.find_element(By.NAME, "audit-kind")).select_by_value(kind)
    if limit is not None:
        box = d.find_element(By.NAME, "audit-limit")
        box.clear()
        box.send_keys(str(limit))
    button(d, "Filter").click()


def show(d, wanted, message):
    try:
        wait_until(d, lambda: rows(d) == wanted, message)
    except AssertionError:
        raise AssertionError(f"{message}: the table has {rows_or_text(d)}, not {wanted}") from None


def rows_or_text(d):
    return rows(d) or d.execute_script("return document.getElementById('main').innerText.slice(-600)")


def changed(before, after):
    """What the page shows as changed: the keys whose values differ (records), in their order."""
    b, a = before or {}, after or {}
    keys = list(dict.fromkeys([*b.keys(), *a.keys()]))
    return [k for k in keys if b.get(k) != a.get(k)]


def test_the_audit_page_lists_filters_pages_and_downloads(audit_server, browsers, tmp_path):
    server = audit_server
    admin = server.login("admin", ADMIN_PASSWORD)
    sid, _ = server.new_student("Audra Audited")
    uid = server.api("GET", f"admin/users?student_id={sid}&limit=1", token=admin, expect=200)[1]["users"][0]["id"]
    group = "audit-" + uuid.uuid4().hex[:6]

    # Four audited actions, in this order.
    server.api("POST", f"admin/users/{uid}/disable", {}, token=admin, expect=200)
    server.api("POST", f"admin/users/{uid}/enable", {}, token=admin, expect=200)
    server.api("PUT", f"admin/groups/{group}/policy", {"max_upcoming": 7}, token=admin, expect=200)
    server.api("PUT", f"admin/groups/{group}/policy", {"max_upcoming": 9}, token=admin, expect=200)

    d = browsers()
    downloads = str(tmp_path)
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    sign_in(d, server, "admin", ADMIN_PASSWORD)

    # From the staff navigation.
    d.get(server.base + "#/staff/reservations")
    wait(d, ".subnav a", "Audit trail").click()
    wait(d, "h1", "Audit trail")
    assert d.find_element(By.CSS_SELECTOR, ".subnav a[aria-current='page']").text == "Audit trail"
    wait(d, "table.audit tbody tr")

    # The newest page is the API's (newest first), and this test's four actions are on it, newest first.
    api = server.api("GET", "admin/audit", token=admin, expect=200)[1]
    entries = api["entries"]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs, reverse=True), seqs
    show(d, [(e["seq"], e["kind"]) for e in entries], "the newest page")
    mine = [e for e in entries if e["subject"] in (f"user:{uid}", f"group:{group}")]
    assert [e["kind"] for e in mine] == ["group.policy_set", "group.policy_set", "account.enabled", "account.disabled"], mine
    assert entries[0]["kind"] == "staff.sign_in" and entries[0]["actor"] == "admin", entries[0]  # the browser's

    # Each row as the API has it: the time in the browser's words (its instant in `datetime`), who,
    # from where, the kind in words and as its code, the subject, the reason, what changed.
    for e in mine:
        when, who, address, what, subject, reason = cells(d, e["seq"])[1:7]
        assert row(d, e["seq"]).find_element(By.TAG_NAME, "time").get_attribute("datetime") == e["at"]
        assert str(int(e["at"][:4])) in when, when
        assert e["actor"] == "admin" and who.startswith("admin") and f"account {e['actor_id']}" in who, (e, who)
        assert address == e["address"] and e["address"], (e, address)
        assert e["kind"] in what, what
        assert subject == e["subject"]
        assert reason == (e["reason"] or "–")
        assert [c[0] for c in changes(d, e["seq"])] == changed(e["before"], e["after"])[:4], (e, changes(d, e["seq"]))
        assert len(e["hash"]) == 64 and len(e["prev_hash"]) == 64
    disabled, enabled = mine[3], mine[2]
    assert "Account disabled" in cells(d, disabled["seq"])[4] and "Account enabled" in cells(d, enabled["seq"])[4]
    # Disabling: false → true; the second policy: 7 → 9; the first had none before (each field
    # "– → value").
    assert ("disabled", "false", "true") in changes(d, disabled["seq"]), changes(d, disabled["seq"])
    assert ("max_upcoming", "7", "9") in changes(d, mine[0]["seq"]), changes(d, mine[0]["seq"])
    assert mine[1]["before"] is None and changes(d, mine[1]["seq"]), mine[1]
    assert all(b == "–" for _, b, _ in changes(d, mine[1]["seq"])), changes(d, mine[1]["seq"])
    shot(d, "desktop")

    # The kind filter narrows it to that kind; with the subject, to this student's one entry.
    filter_by(d, kind="account.disabled")
    wait_until(d, lambda: rows(d) and all(k == "account.disabled" for _, k in rows(d)), "only disabled accounts")
    assert (disabled["seq"], "account.disabled") in rows(d)
    filter_by(d, subject=f"user:{uid}")
    show(d, [(enabled["seq"], "account.enabled"), (disabled["seq"], "account.disabled")], "the student's entries")
    # Who did it: a staff ID is looked up to its account number.
    filter_by(d, actor="admin", subject=f"user:{uid}", kind="account.enabled")
    show(d, [(enabled["seq"], "account.enabled")], "admin's enabling")
    filter_by(d, actor="nobody-" + uuid.uuid4().hex[:6])
    assert wait(d, ".message.error", "No account has the ID").text.startswith("No account"), "said without “Error:”"
    assert not rows(d)
    # A filter the server refuses (400 bad_request) is said in words, and no old rows stay.
    filter_by(d, actor="99999999999")
    wait(d, ".message.error", "The request was not accepted: actor id must be")
    assert not rows(d)
    # Nothing found is said.
    filter_by(d, subject="user:999999")
    wait(d, "p.empty", "No entry of the audit trail matches these filters.")
    assert not rows(d)

    # Pages of 2: Older walks back exactly as next_before does, Newer comes back.
    filter_by(d, limit=2)
    expected, before = [], None
    while True:
        page = server.api("GET", f"admin/audit?limit=2{'' if before is None else f'&before={before}'}", token=admin, expect=200)[1]
        expected.append([(e["seq"], e["kind"]) for e in page["entries"]])
        assert page["count"] == len(page["entries"]) <= 2, page
        before = page["next_before"]
        if before is None or len(expected) == 4:
            break
    assert len(expected) >= 3, expected  # at least 6 entries: sign-ins and the four actions
    show(d, expected[0], "page 1 of 2 entries")
    assert "Page 1" in d.find_element(By.CSS_SELECTOR, "nav.pager").text
    assert not button(d, "Newer").is_enabled()
    for n, page in enumerate(expected[1:], start=2):
        button(d, "Older").click()
        show(d, page, f"page {n}")
        assert f"Page {n}" in d.find_element(By.CSS_SELECTOR, "nav.pager").text
        # Focus stays on the pager's button (it is redrawn).
        assert d.switch_to.active_element.tag_name == "button", d.switch_to.active_element.get_attribute("outerHTML")
    shot(d, "paged")
    button(d, "Newer").click()
    show(d, expected[-2], "back one page")
    every = [s for page in expected for s, _ in page]
    assert every == sorted(every, reverse=True) and len(set(every)) == len(every), every

    # Download CSV: the same filters (no paging), the contract's header, oldest first.
    filter_by(d, subject=f"user:{uid}", limit=50)
    show(d, [(enabled["seq"], "account.enabled"), (disabled["seq"], "account.disabled")], "the student's entries again")
    button(d, "Download CSV").click()
    target = pathlib.Path(downloads) / "audit.csv"
    wait_until(d, lambda: target.exists() and not list(pathlib.Path(downloads).glob("*.crdownload")),
               f"no audit.csv in the download directory: {os.listdir(downloads)}")
    with target.open(newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == HEADER, table[0]
    assert [(int(r[0]), r[5], r[6]) for r in table[1:]] == [
        (disabled["seq"], "account.disabled", f"user:{uid}"), (enabled["seq"], "account.enabled", f"user:{uid}")], table
    assert table[1][3] == "admin" and table[1][4] == disabled["address"] and table[1][11] == disabled["hash"], table[1]
    assert len(d.window_handles) == 1
    assert_accessible(d, "audit trail")


def test_staff_erase_an_account_and_the_trail_says_so(audit_server, browsers):
    server = audit_server
    admin = server.login("admin", ADMIN_PASSWORD)
    sid, password = server.new_student("Eli Erased")
    token = server.login(sid, password)
    uid = server.api("GET", "auth/me", token=token, expect=200)[1]["id"]

    d = browsers()
    sign_in(d, server, "admin", ADMIN_PASSWORD)

    # Staff's own account has no erase button.
    d.get(server.base + "#/staff/strikes")
    wait(d, "input[name=strikes-student]").send_keys("admin")
    button(d, "Look up").click()
    wait(d, "#strikes-of", "admin")
    wait(d, ".aside", "This is your own account")
    assert not d.find_elements(By.CSS_SELECTOR, "button.erase-account")

    box = d.find_element(By.NAME, "strikes-student")
    box.clear()
    box.send_keys(sid)
    button(d, "Look up").click()
    wait(d, "#strikes-of", sid)
    assert d.find_element(By.CSS_SELECTOR, "dd[data-field='id']").text == str(uid)
    wait(d, "button.erase-account").click()
    dialog = wait(d, "dialog[open]")
    assert f"Erase the account of {sid}?" in dialog.text
    # No reason, then the wrong student ID: refused in the dialog, nothing erased.
    button(d, "Erase the account", dialog).click()
    wait(d, "dialog[open] .message.error", "Give a reason.")
    dialog.find_element(By.NAME, "erase-reason").send_keys("The student asked in writing (ticket 4711)")
    dialog.find_element(By.NAME, "erase-confirm").send_keys(sid + "x")
    button(d, "Erase the account", dialog).click()
    wait(d, "dialog[open] .message.error", f"type {sid} exactly")
    server.api("GET", "auth/me", token=token, expect=200)
    shot(d, "staff-erase")
    # Keep the account closes the question and keeps it.
    button(d, "Keep the account", dialog).click()
    wait_until(d, lambda: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"), "the dialog stays open")
    server.api("GET", "auth/me", token=token, expect=200)

    wait(d, "button.erase-account").click()
    dialog = wait(d, "dialog[open]")
    dialog.find_element(By.NAME, "erase-reason").send_keys("The student asked in writing (ticket 4711)")
    dialog.find_element(By.NAME, "erase-confirm").send_keys(sid)
    button(d, "Erase the account", dialog).click()
    wait(d, ".message.ok", f"The account {sid} (account number {uid}) is erased.")
    assert not d.find_elements(By.CSS_SELECTOR, "dialog[open]")
    server.api("GET", "auth/me", token=token, expect=401)
    server.api("POST", "auth/login", {"student_id": sid, "password": password}, expect=401)

    # The trail has it, with the reason.
    d.get(server.base + "#/staff/audit")
    wait(d, "table.audit tbody tr")
    filter_by(d, subject=f"user:{uid}", kind="account.erased")
    wait_until(d, lambda: len(rows(d)) == 1, f"one erasure of user:{uid}")
    seq = rows(d)[0][0]
    assert cells(d, seq)[6] == "The student asked in writing (ticket 4711)", cells(d, seq)
    assert "Account erased" in cells(d, seq)[4]
    # Nothing of the student's name is in the trail's entry.
    entry = server.api("GET", f"admin/audit?subject=user:{uid}&kind=account.erased", token=admin, expect=200)[1]["entries"][0]
    assert entry["seq"] == seq and entry["reason"] == "The student asked in writing (ticket 4711)"
    assert "Eli Erased" not in json.dumps(entry) and "Eli Erased" not in d.find_element(By.CSS_SELECTOR, f"tr[data-seq='{seq}']").text
    shot(d, "erased")
