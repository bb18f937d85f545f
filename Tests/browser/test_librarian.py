"""A librarian's first hour, in the browser: a new library with hours in a chosen time zone, an
area and seats, a sheet of QR codes (warned that the server's address is loopback, printed only
when confirmed), a closure, the reservations of one student by the id the table shows, and the
seat map in the same states a student sees (closed by the hours, the student's own seat, closed
by the closure)."""

import os
import tempfile
import uuid

from conftest import By, sign_in, wait, wait_until

ZONE = "Pacific/Auckland"  # not the browser's (UTC), far from it
SHOTS = os.environ.get("LIBRARIAN_SHOTS", tempfile.gettempdir())  # pictures to look at, not compared


def field(d, label, scope=None):
    """The control of the visible label `label` (inside `scope` when given)."""
    root = scope or d
    for el in root.find_elements(By.XPATH, f".//label[normalize-space()='{label}']"):
        if el.is_displayed():
            return d.find_element(By.ID, el.get_attribute("for"))
    raise AssertionError(f"no visible field {label!r}")


def set_value(d, element, value):
    """A date or time input's value, as the page reads it (typing depends on the locale)."""
    d.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", element, value)


def states(d):
    """The map's seats by label: their state."""
    seats = d.find_elements(By.CSS_SELECTOR, ".seat-map .seat")
    return {s.find_element(By.CSS_SELECTOR, ".seat-name").text: s.get_attribute("data-state") for s in seats}


def go(d, page):
    """A staff page by its link, once it is drawn (not the page before it)."""
    d.find_element(By.LINK_TEXT, page).click()
    wait(d, "main h1", page)


def staff_map(d, library):
    go(d, "Seats and map")
    wait(d, f"select option[value='{library}']", visible=False).click()
    wait(d, ".summary", "as students see them")
    wait_until(d, lambda: len(states(d)) == 3, "the staff map does not show the library's three seats")
    return states(d)


def student_map(d, server, library):
    d.get(server.base + "#/find")
    d.refresh()  # the library's hours as they are now (the app keeps branches for 30 s)
    wait(d, f"select[name=branch] option[value='{library}']", visible=False).click()
    wait_until(d, lambda: len(states(d)) == 3, "the student's map does not show the library's three seats")
    return states(d)


def record_downloads(d):
    """Files the page saves (an <a download> clicked) are kept in window.saved instead, with the
    blob each was made of."""
    d.execute_script("""
        window.saved = [];
        const blobs = new Map();
        const make = URL.createObjectURL;
        URL.createObjectURL = (blob) => { const url = make(blob); blobs.set(url, blob); return url; };
        HTMLAnchorElement.prototype.click = function () {
          if (this.download) window.saved.push({ name: this.download, blob: blobs.get(this.href) });
        };""")


def saved_text(d, index):
    return d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        window.saved[arguments[0]].blob.text().then(done, (e) => done(String(e)));""", index)


def test_a_librarian_sets_up_a_library_and_sees_what_students_see(server, browsers):
    library = f"Harbour Library {uuid.uuid4().hex[:6]}"
    d = browsers()
    sign_in(d, server, "admin", "admin-password")
    admin = server.login("admin", "admin-password")

    # A new library: its name, a time zone from the IANA list, hours (none yet: closed every
    # day) and a first area.
    go(d, "Libraries")
    wait(d, "summary", "New library").click()
    form = wait(d, "form.new-library")
    field(d, "Name", form).send_keys(library)
    area = field(d, "First area", form)
    area.clear()
    area.send_keys("Reading Room")
    zone = field(d, "Time zone", form)
    zones = d.execute_script("return [...document.getElementById(arguments[0]).options].map((o) => o.value)",
                             zone.get_attribute("list"))
    assert ZONE in zones and "Europe/Berlin" in zones and len(zones) > 300, len(zones)
    zone.clear()
    zone.send_keys("Mars/Olympus_Mons")
    for day in ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]:
        field(d, day, form).clear()
    form.find_element(By.XPATH, ".//button[normalize-space()='Create the library']").click()
    wait(d, "form.new-library .message.error", "not a time zone")
    zone.clear()
    zone.send_keys(ZONE)
    form.find_element(By.XPATH, ".//button[normalize-space()='Create the library']").click()
    wait(d, "form.new-library .message.ok", f"Library “{library}” created")
    # The menu has it at once, chosen, with its zone.
    menu = d.find_element(By.CSS_SELECTOR, "select[name=library]")
    wait_until(d, lambda: menu.get_attribute("value") == library, "the new library is not chosen in the menu")
    wait_until(d, lambda: field(d, "Time zone").get_attribute("value") == ZONE, "the hours card does not show the zone")
    wait(d, ".aside", f"library's time zone ({ZONE})")
    created = [b for b in server.api("GET", "branches", token=admin, expect=200)[1]["branches"] if b["branch"] == library][0]
    assert created["time_zone"] == ZONE and created["areas"] == ["Reading Room"], created

    # Seats: two in the first area, one in a new area.
    go(d, "Seats and map")
    wait(d, f"select option[value='{library}']", visible=False).click()
    wait(d, "p.empty")
    for label, area_name in [("H-1", "Reading Room"), ("H-2", "Reading Room"), ("Q-1", "Quiet Room")]:
        d.find_element(By.XPATH, "//button[normalize-space()='Add a seat']").click()
        dialog = wait(d, "dialog[open]")
        assert dialog.find_element(By.TAG_NAME, "legend").text == "Features"
        field(d, "Label", dialog).send_keys(label)
        field(d, "Area", dialog).send_keys(area_name)
        dialog.find_element(By.XPATH, ".//label[normalize-space()='Power outlet']").click()
        dialog.find_element(By.XPATH, ".//button[normalize-space()='Save']").click()
        wait(d, ".message.ok", "Seat added")
        wait(d, ".seat-map .seat", label)

    # Closed every day: staff and students both see every seat Closed.
    assert set(staff_map(d, library).values()) == {"closed"}
    sid, password = server.new_student("Hari Student")
    s = browsers()
    sign_in(s, server, sid, password)
    assert set(student_map(s, server, library).values()) == {"closed"}

    # Open around the clock from now on, in another zone (the closures' times follow it at
    # once); the student books H-2 in two clicks.
    go(d, "Libraries")
    wait(d, f"select[name=library] option[value='{library}']", visible=False).click()
    wait(d, "button", "Codes of Quiet Room")
    for day in ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]:
        hours = field(d, day)
        hours.clear()
        hours.send_keys("00:00-24:00")
    zone = field(d, "Time zone")
    zone.clear()
    zone.send_keys("Europe/Berlin")
    d.find_element(By.XPATH, "//button[normalize-space()='Save opening hours']").click()
    wait(d, ".message.ok", "Opening hours saved")
    wait(d, ".aside", "library's time zone (Europe/Berlin)")
    assert set(student_map(s, server, library).values()) == {"free"}
    s.find_element(By.XPATH, "//ul[contains(@class,'seat-grid')]//button[.//span[normalize-space()='H-2']]").click()
    wait(s, "button.book:not([disabled])").click()
    wait(s, ".message.ok", "Booked")
    wait_until(s, lambda: states(s) == {"H-1": "free", "H-2": "yours", "Q-1": "free"}, f"the student sees {states(s)}")
    assert s.find_element(By.CSS_SELECTOR, ".seat[data-state='yours'] .seat-state").text.endswith("Yours")
    s.save_screenshot(f"{SHOTS}/librarian-student-map.png")
    # Staff see the same seats: H-2 taken (by someone else), the others free.
    assert staff_map(d, library) == {"H-1": "free", "H-2": "taken", "Q-1": "free"}
    d.save_screenshot(f"{SHOTS}/librarian-staff-map.png")

    # A sheet of QR codes: the page warns that the codes point at a loopback address, asks, and
    # prints only when told to.
    go(d, "Libraries")
    wait(d, f"select[name=library] option[value='{library}']", visible=False).click()
    wait(d, "button", "Codes of Quiet Room")  # this library's cards, not the first one's
    warning = wait(d, ".loopback-warning")
    assert "127.0.0.1" in warning.text and "--public-url" in warning.text, warning.text
    d.save_screenshot(f"{SHOTS}/librarian-libraries.png")
    record_downloads(d)
    d.find_element(By.XPATH, "//button[normalize-space()='Codes of Reading Room']").click()
    question = wait(d, "dialog[open]")
    assert "only this computer can open" in question.text, question.text
    d.save_screenshot(f"{SHOTS}/librarian-loopback-question.png")
    question.find_element(By.XPATH, ".//button[normalize-space()='Keep it']").click()
    assert d.execute_script("return window.saved.length") == 0
    d.find_element(By.XPATH, "//button[normalize-space()='Codes of Reading Room']").click()
    wait(d, "dialog[open]").find_element(By.XPATH, ".//button[normalize-space()='Print anyway']").click()
    wait_until(d, lambda: d.execute_script("return window.saved.length") == 1, "no sheet was saved")
    assert d.execute_script("return window.saved[0].name") == f"{library} - Reading Room - codes.svg"
    sheet = saved_text(d, 0)
    assert sheet.startswith("<svg") and "seat check-in codes" in sheet and ">H-1</text>" in sheet and ">H-2</text>" in sheet
    # Without the confirmation the server refuses too.
    status, body = server.api("GET", f"admin/branches/{library.replace(' ', '%20')}/areas/Reading%20Room/qr-sheet.svg", token=admin)
    assert status == 409 and body["code"] == "loopback_url", (status, body)

    # A closure of the whole library from today to the day after tomorrow (library time):
    # the student's booking is cancelled, and both maps say Closed.
    closures = wait(d, "section", "Declare a closure")
    field(d, "Reason (shown to students)", closures).send_keys("Flooded basement")
    until = field(d, "Until (day)", closures)
    day = until.get_attribute("value")
    set_value(d, until, d.execute_script(
        "const t = new Date(arguments[0] + 'T00:00:00Z'); t.setUTCDate(t.getUTCDate() + 1); return t.toISOString().slice(0, 10);", day))
    closures.find_element(By.XPATH, ".//button[normalize-space()='Declare closure']").click()
    wait(d, ".message.ok", "Closure declared; 1 reservations cancelled")
    wait(d, "table", "Flooded basement")
    assert set(staff_map(d, library).values()) == {"closed"}
    assert set(student_map(s, server, library).values()) == {"closed"}
    wait(s, ".notice", "Flooded basement")

    # The reservations of one student, by the id the table shows.
    go(d, "All reservations")
    student = field(d, "Student ID")
    for who in [sid, "S2021001"]:
        student.clear()
        student.send_keys(who)
        d.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()

        def only(who=who):
            cells = [td.text for td in d.find_elements(By.CSS_SELECTOR, "table tbody tr td:nth-child(3)")]
            return cells and all(c.startswith(who) for c in cells)
        wait_until(d, only, f"the table does not list {who}'s reservations alone")
        caption = wait(d, "table caption").text
        assert not caption.startswith("Reservations 0–0"), caption
    student.clear()
    student.send_keys("S9999999")
    d.find_element(By.XPATH, "//button[normalize-space()='Filter']").click()
    wait(d, ".message.error", "No account has the student ID “S9999999”")
    # Staff read a held seat as held for its student, never "Held for you".
    options = [o.text for o in d.find_elements(By.CSS_SELECTOR, "form select option")]
    assert "Held (offered)" in options and "Held for you" not in options, options
