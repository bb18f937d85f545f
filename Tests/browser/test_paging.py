"""A library larger than a page: 1,200 seats in one branch. The student's map and the staff map
page through them, and the labels of seats beyond the first page (in "My reservations" and the
staff's reservations) are found by id, not by loading the whole catalog."""

import datetime
import urllib.request

import pytest

from conftest import By, Server, sign_in, wait

SEATS = 1200
BRANCH = "Paging Library"


@pytest.fixture(scope="module")
def big():
    s = Server(env={"REGISTRATIONS_PER_HOUR": "1000"})
    admin = s.login("admin", "admin-password")
    rows = ["branch,area,seat_label,has_power,has_monitor,accessible,x,y"]
    rows += [f"{BRANCH},Hall,P{n},true,false,false,," for n in range(1, SEATS + 1)]
    request = urllib.request.Request(
        s.base + "admin/catalog.csv", method="POST", data=("\r\n".join(rows) + "\r\n").encode(),
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {admin}"})
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 200, r.read()
    page = s.api("GET", f"seats?branch={BRANCH.replace(' ', '%20')}&available_only=false&limit=1", token=admin, expect=200)[1]
    assert page["total"] == SEATS, page
    yield s
    s.stop()


def test_maps_page_and_far_seats_keep_their_labels(big, browsers):
    admin = big.login("admin", "admin-password")
    last = big.api("GET", f"seats?branch={BRANCH.replace(' ', '%20')}&available_only=false&offset={SEATS - 1}",
                   token=admin, expect=200)[1]["seats"][0]
    assert last["label"] == f"P{SEATS}"
    sid, password = big.new_student()
    token = big.login(sid, password)
    start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0)
    big.api("POST", "reservations", {"seat_id": last["id"], "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "end_time": (start + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            token=token, expect=201)

    # The student: their booking names the seat beyond the first page of the catalog.
    d = browsers()
    sign_in(d, big, sid, password)
    d.get(big.base + "#/mine")
    wait(d, "main", f"P{SEATS}")
    # The find page shows the branch a page at a time.
    d.get(big.base + "#/find")
    wait(d, f"select[name=branch] option[value='{BRANCH}']", visible=False).click()
    wait(d, ".pager", f"1–500 of {SEATS:,}")
    assert len(d.find_elements(By.CSS_SELECTOR, ".seat-map .seat")) == 500
    d.find_element(By.XPATH, "//nav[contains(@class,'pager')]//button[normalize-space()='Next']").click()
    wait(d, ".pager", f"501–1,000 of {SEATS:,}")  # counts in the page's locale (en-GB)
    first = int(d.find_element(By.CSS_SELECTOR, ".seat-map .seat").get_attribute("data-seat-id"))
    assert first == last["id"] - SEATS + 501, first

    # Staff: the map pages the same way; the reservations table names the far seat.
    s = browsers()
    sign_in(s, big, "admin", "admin-password")
    wait(s, "table caption")
    s.find_element(By.CSS_SELECTOR, "form input[type=number]").send_keys(str(last["id"]))  # the seat filter
    s.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    wait(s, "table", f"P{SEATS} ({BRANCH})")
    s.get(big.base + "#/staff/seats")
    wait(s, f"select option[value='{BRANCH}']", visible=False).click()
    wait(s, ".pager", f"1–500 of {SEATS:,}")
    for expected in ("501–1,000", f"1,001–{SEATS:,}"):
        s.find_element(By.XPATH, "//nav[contains(@class,'pager')]//button[normalize-space()='Next']").click()
        wait(s, ".pager", f"{expected} of {SEATS:,}")
    assert len(s.find_elements(By.CSS_SELECTOR, ".seat-map .seat")) == SEATS - 1000
