"""The staff pages as an admin: all reservations with filters and paging, maintenance from the
map (and what students then see), a closure declared and listed, opening hours, the charts."""

import datetime

from conftest import By, sign_in, wait, wait_until


def test_reservations_filter_and_page(server, browser):
    admin = server.login("admin", "admin-password")
    total = server.api("GET", "reservations?limit=1", token=admin, expect=200)[1]["total"]
    # Enough reservations for two pages of 25: three per new student, each on its own seat.
    base = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=3)
    seat = 1
    while total <= 30:
        token = server.login(*server.new_student())
        for _ in range(3):
            server.api("POST", "reservations", {"seat_id": seat, "start_time": base.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                "end_time": (base + datetime.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")},
                       token=token, expect=201)
            seat += 1
            total += 1
    d = browser
    sign_in(d, server, "admin", "admin-password")
    wait(d, "h1", "All reservations")
    caption = wait(d, "table caption")
    assert caption.text.startswith("Reservations 1–25 of ")
    assert len(d.find_elements(By.CSS_SELECTOR, "table tbody tr")) == 25
    d.find_element(By.XPATH, "//button[normalize-space()='Next']").click()
    wait(d, "table caption", "Reservations 26–")
    d.find_element(By.CSS_SELECTOR, "form select option[value='COMPLETED']").click()
    d.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    wait(d, "table caption", "Reservations 1–")
    statuses = {td.text for td in d.find_elements(By.CSS_SELECTOR, "table tbody tr td:nth-child(5)")}
    assert statuses == {"Completed"}, statuses


def test_maintenance_from_the_map_is_what_students_see(server, browsers):
    d = browsers()
    sign_in(d, server, "admin", "admin-password")
    d.find_element(By.LINK_TEXT, "Seats and map").click()
    seat = wait(d, ".seat-map .seat[data-seat-id='7']")
    assert seat.get_attribute("data-state") != "maintenance"
    seat.click()
    dialog = wait(d, "dialog[open]")
    dialog.find_element(By.XPATH, ".//label[contains(., 'Out of service')]").click()
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Save']").click()
    wait(d, ".message.ok", "Seat 7 saved")
    wait_until(d, lambda: d.switch_to.active_element.get_attribute("data-seat-id") == "7",
               "focus did not come back to the seat on the redrawn map")
    wait_until(d, lambda: d.find_element(By.CSS_SELECTOR, ".seat-map .seat[data-seat-id='7']").get_attribute("data-state") == "maintenance",
               "the map does not show the seat under maintenance")
    student = server.login("S2021006")
    assert server.api("GET", "seats/7", token=student, expect=200)[1]["status"] == "MAINTENANCE"
    s = browsers()
    sign_in(s, server, "S2021006")
    wait(s, ".seat-map .seat[data-seat-id='7'][data-state='maintenance']")
    # And back in service.
    d.find_element(By.CSS_SELECTOR, ".seat-map .seat[data-seat-id='7']").click()
    dialog = wait(d, "dialog[open]")
    dialog.find_element(By.XPATH, ".//label[contains(., 'Out of service')]").click()
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Save']").click()
    wait_until(d, lambda: d.find_element(By.CSS_SELECTOR, ".seat-map .seat[data-seat-id='7']").get_attribute("data-state") != "maintenance",
               "the seat did not come back")
    assert server.api("GET", "seats/7", token=student, expect=200)[1]["status"] != "MAINTENANCE"


def test_a_closure_and_opening_hours(server, browser):
    d = browser
    sign_in(d, server, "admin", "admin-password")
    d.find_element(By.LINK_TEXT, "Libraries").click()
    wait(d, "select option[value='Science Library']", visible=False).click()  # once the page has its libraries
    wait(d, "button", "Codes of Research Zone")  # the Science Library's cards, not the first library's
    wait(d, "input[maxlength='200']").send_keys("Fire drill")
    d.find_element(By.XPATH, "//button[normalize-space()='Declare closure']").click()
    wait(d, ".message.ok", "Closure declared")
    wait(d, "table", "Fire drill")
    admin = server.login("admin", "admin-password")
    closures = server.api("GET", "branches/Science%20Library/closures", token=admin, expect=200)[1]["closures"]
    assert [c["reason"] for c in closures] == ["Fire drill"]
    # Removed again (after a question), so that the library is open for the other tests.
    d.find_element(By.XPATH, "//table//button[normalize-space()='Remove']").click()
    wait(d, "dialog[open]").find_element(By.XPATH, ".//button[normalize-space()='Remove']").click()
    wait(d, ".message.ok", "Closure removed")
    wait(d, "p.empty", "No closures declared")
    assert server.api("GET", "branches/Science%20Library/closures", token=admin, expect=200)[1]["closures"] == []
    # Opening hours: a bad period is refused in words; a good week is saved.
    sunday = d.find_element(By.XPATH, "//label[normalize-space()='Sunday']/following-sibling::input")
    sunday.clear()
    sunday.send_keys("25:00-26:00")
    d.find_element(By.XPATH, "//button[normalize-space()='Save opening hours']").click()
    wait(d, ".message.error")
    sunday.clear()
    sunday.send_keys("10:00-18:00")
    d.find_element(By.XPATH, "//button[normalize-space()='Save opening hours']").click()
    wait(d, ".message.ok", "Opening hours saved")
    branch = [b for b in server.api("GET", "branches", token=admin, expect=200)[1]["branches"] if b["branch"] == "Science Library"][0]
    assert branch["opening_hours"]["sunday"] == ["10:00-18:00"]
    assert branch["opening_hours"]["monday"] == ["00:00-24:00"]
    # And open all day again, so that the other tests find the library open whatever the time.
    sunday.clear()
    sunday.send_keys("00:00-24:00")
    d.find_element(By.XPATH, "//button[normalize-space()='Save opening hours']").click()
    wait_until(d, lambda: [b for b in server.api("GET", "branches", token=admin, expect=200)[1]["branches"]
                           if b["branch"] == "Science Library"][0]["opening_hours"]["sunday"] == ["00:00-24:00"],
               "the hours were not put back")


def test_statistics_are_drawn(server, browser):
    d = browser
    sign_in(d, server, "admin", "admin-password")
    d.find_element(By.LINK_TEXT, "Statistics").click()
    wait(d, "figure.chart svg")
    captions = [c.text for c in d.find_elements(By.CSS_SELECTOR, "figure.chart figcaption")]
    assert captions[:2] == ["Seats occupied now, per library (%)", "No-show rate per library, of all ended reservations (%)"]
    # Now and the no-shows so far under headings of their own.
    headings = [h.text for h in d.find_elements(By.CSS_SELECTOR, "main h2")]
    assert headings.index("Now") < headings.index("No-shows so far") < headings.index("Utilisation report"), headings
    # The day chart's axis steps evenly by a round number.
    ticks = [t.text for t in d.find_elements(By.CSS_SELECTOR, "svg.columns text.axis[text-anchor='end']")]
    values = [float(t.replace(",", "")) for t in ticks]
    steps = {round(b - a, 6) for a, b in zip(values, values[1:])}
    assert len(steps) == 1 and float(f"{steps.pop():.0e}") in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500), ticks
    assert len(captions) == 4
    # One bar per library (other tests may have added some after the seeded three), and the
    # numbers behind them as a table.
    admin = server.login("admin", "admin-password")
    libraries = [b["branch"] for b in server.api("GET", "branches", token=admin, expect=200)[1]["branches"]]
    first = d.find_elements(By.CSS_SELECTOR, "figure.chart")[0]
    assert len(first.find_elements(By.CSS_SELECTOR, "svg rect.bar")) == len(libraries)
    rows = [r.get_attribute("textContent") for r in first.find_elements(By.CSS_SELECTOR, "details table tbody tr")]
    names = [r.split("%")[0].rstrip("0123456789.") for r in rows]
    assert names[:3] == ["Main Library", "Science Library", "Engineering Library"] and len(names) == len(libraries), names


def test_catalog_import_from_a_file(server, browser, tmp_path):
    admin = server.login("admin", "admin-password")
    bad = tmp_path / "bad.csv"
    good = tmp_path / "good.csv"
    import urllib.request
    request = urllib.request.Request(server.base + "admin/catalog.csv", headers={"Authorization": f"Bearer {admin}"})
    header = urllib.request.urlopen(request, timeout=10).read().decode().splitlines()[0]
    columns = header.split(",")
    row = {"branch": "Music Library", "area": "Listening Room", "seat_label": "M-1", "has_power": "true",
           "has_monitor": "false", "accessible": "true"}
    good.write_text(header + "\n" + ",".join(row.get(c, "") for c in columns) + "\n")
    bad.write_text(header + "\n" + ",".join({**row, "has_power": "maybe"}.get(c, "") for c in columns) + "\n")
    d = browser
    sign_in(d, server, "admin", "admin-password")
    d.find_element(By.LINK_TEXT, "Seats and map").click()
    upload = wait(d, "input[type=file]", visible=False)
    upload.send_keys(str(bad))
    d.find_element(By.XPATH, "//button[normalize-space()='Import']").click()
    wait(d, ".message.error", "line 2")
    assert "Music Library" not in [b["branch"] for b in server.api("GET", "branches", token=admin, expect=200)[1]["branches"]]
    upload.send_keys(str(good))
    d.find_element(By.XPATH, "//button[normalize-space()='Import']").click()
    wait(d, ".message.ok", "seats added: 1")
    wait(d, ".message.ok", "New libraries: 1")
    # The library menu lists it at once.
    wait(d, "select option[value='Music Library']", visible=False)
    assert "Music Library" in [b["branch"] for b in server.api("GET", "branches", token=admin, expect=200)[1]["branches"]]


def test_on_a_phone_the_reservations_table_keeps_ids_and_statuses_whole(server, browsers):
    d = browsers(360, 800)
    sign_in(d, server, "admin", "admin-password")
    wait(d, "table tbody tr")
    # A word broken across lines has more than one box; each id and status must have one.
    broken = d.execute_script("""
        const boxes = (node) => { const r = document.createRange(); r.selectNodeContents(node); return r.getClientRects().length; };
        const out = [];
        for (const row of document.querySelectorAll("table tbody tr")) {
          const id = row.children[2].firstChild;
          const status = row.children[4].querySelector(".badge");
          if (id && boxes(id) > 1) out.push(id.textContent);
          if (status && boxes(status) > 1) out.push(status.textContent);
        }
        return out;""")
    assert broken == [], broken
