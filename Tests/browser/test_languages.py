"""The web app in German and Simplified Chinese. Without a browser: every table (strings-*.js) has
every key of English's and no other, each with English's placeholders, and each is built in and
offered. In Chromium whose language is `de` or `zh-CN`: a student signs in, finds a seat and books
it, and reads the confirmation in that language (the table's words, dates and numbers in its
locale); API requests carry the language; no page shows a raw key of the tables (the student's
pages and the staff's); the language menu's choice outlasts a reload; axe on the find page."""

import json
import re

import pytest
from selenium.webdriver.common.keys import Keys

from conftest import (
    LANGUAGES, PUBLIC, ROOT, ADMIN_PASSWORD, By, assert_accessible, sign_in, strings, text_of, wait, wait_until,
)

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def placeholders(text):
    return sorted(set(PLACEHOLDER.findall(text)))


# ---- the tables (no browser)

def test_every_table_has_every_key_with_the_same_placeholders():
    english = strings("en")
    assert len(english) > 600
    problems = []
    for lang in LANGUAGES[1:]:
        table = strings(lang)
        problems += [f"{lang}: {k} is missing" for k in english if k not in table]
        problems += [f"{lang}: {k} is not a key of English's table" for k in table if k not in english]
        for k in english.keys() & table.keys():
            if placeholders(table[k]) != placeholders(english[k]):
                problems.append(f"{lang}: {k} has {placeholders(table[k])}, English {placeholders(english[k])}")
            if not table[k].strip():
                problems.append(f"{lang}: {k} is empty")
    assert not problems, "\n".join(problems)


def test_every_table_is_offered_and_built_in():
    """A table on disk is one of i18n.js's languages, has its line in WebFiles.swift, and the
    language menu names it in itself."""
    files = sorted(p.name for p in PUBLIC.glob("strings-*.js"))
    assert files == sorted(f"strings-{lang}.js" for lang in LANGUAGES)
    web_files = (ROOT / "Sources" / "DLSMSWeb" / "WebFiles.swift").read_text(encoding="utf-8")
    i18n = (PUBLIC / "i18n.js").read_text(encoding="utf-8")
    for lang in LANGUAGES:
        assert f'("strings-{lang}.js", PackageResources.strings_{lang.replace("-", "_")}_js)' in web_files, lang
        assert f'code: "{lang}"' in i18n, lang
    for name in ["English", "Deutsch", "中文（简体）"]:
        assert f'name: "{name}"' in i18n


# ---- in the browser

KEY = re.compile(r"\b[a-z_]+(?:\.[A-Za-z_]+)+\b")


def raw_keys(d, tables):
    """Keys of the tables (or `{placeholders}` t() left unfilled) in the page's visible text."""
    text = d.execute_script("return document.body.innerText")
    keys = {k for k in KEY.findall(text) if any(k in table for table in tables)}
    return sorted(keys) + sorted(set(re.findall(r"\{[a-z_]+\}", text)))


def settle(d):
    """Waits until the page has drawn: nothing says "Loading…" any more."""
    wait_until(d, lambda: not [e for e in d.find_elements(By.CSS_SELECTOR, "main .loading") if e.is_displayed()],
               f"{d.current_url} is still loading")


def requests_headers(d):
    """(url, method, headers) of the page's requests since the last call (Chrome's performance log)."""
    out = []
    for entry in d.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            request = message["params"]["request"]
            out.append((request["url"], request["method"], {k.lower(): v for k, v in request["headers"].items()}))
    return out


@pytest.mark.parametrize("lang", ["de", "zh-CN"])
def test_a_student_books_in_their_language_and_no_page_shows_a_key(server, browsers, lang):
    table = strings(lang)
    english = strings("en")
    tables = [table, english]
    sid, password = server.new_student("Lena Lang")
    d = browsers(lang=lang)
    sign_in(d, server, sid, password)
    assert d.execute_script("return document.documentElement.lang") == lang
    assert d.execute_script("return navigator.languages[0]").lower().startswith(lang.lower()[:2])
    wait(d, "h1", table["nav.find"])
    wait(d, "#nav a", table["nav.mine"])
    assert table["nav.find"] != english["nav.find"]

    # Find a seat and book it: the confirmation in the table's words.
    seat = wait(d, ".seat-map button.seat-free")
    label = seat.find_element(By.CSS_SELECTOR, ".seat-name").text
    seat.click()
    book = wait(d, "#detail-heading ~ .actions button.primary", text_of(table, "detail.book", label=label).split("{when}")[0])
    book.click()
    confirmation = wait(d, ".message.ok", text_of(table, "find.booked", label=label).split("{when}")[0])
    assert english["find.booked"].split("{")[0] not in confirmation.text
    # Its day in the locale's words (the seed libraries keep UTC).
    day = d.execute_script("""
        const [y, m, dd] = document.querySelector('input[name=date]').value.split('-').map(Number);
        return new Intl.DateTimeFormat(arguments[0], { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' })
          .format(new Date(Date.UTC(y, m - 1, dd)));""", lang)
    assert day in confirmation.text, (day, confirmation.text)
    assert_accessible(d, f"find ({lang})")

    # The API heard the language (the server words its notifications in it).
    api_calls = [h for url, _, h in requests_headers(d) if re.search(r"/(reservations|seats|branches)", url)]
    assert api_calls and all(h.get("accept-language") == lang for h in api_calls), api_calls[:3]

    # No page shows a raw key of the tables.
    for page, heading in [("find", "nav.find"), ("mine", "nav.mine"), ("rules", "page.rules"), ("my-data", "page.my_data")]:
        d.get(server.base + f"#/{page}")
        wait(d, "main h1", table[heading])
        settle(d)
        assert raw_keys(d, tables) == [], f"#/{page} ({lang}): {raw_keys(d, tables)}"
    # The booking is under My reservations, in words of the table.
    d.get(server.base + "#/mine")
    wait(d, "li.reservation", text_of(table, "mine.seat", label=label))
    wait(d, "li.reservation", table["status.CONFIRMED"])

    staff = browsers(lang=lang)
    sign_in(staff, server, "admin", ADMIN_PASSWORD)
    for section in ["reservations", "seats", "branches", "groups", "strikes", "stats", "audit"]:
        staff.get(server.base + f"#/staff/{section}")
        wait(staff, "main h1", table[f"staff.{section}"])
        settle(staff)
        if section == "branches":
            wait(staff, "h2", table["staff.display_title"])
        if section == "stats":
            wait(staff, "figure.chart svg")
        assert raw_keys(staff, tables) == [], f"#/staff/{section} ({lang}): {raw_keys(staff, tables)}"


def test_the_language_menu_is_kept_across_reloads(server, browsers):
    """A German browser, switched to Chinese with the menu (the keyboard way: a choice, then its
    button), stays Chinese after a reload and after signing in; back to English the same way."""
    de, zh, en = strings("de"), strings("zh-CN"), strings("en")
    sid, password = server.new_student("Menu Max")
    d = browsers(lang="de")
    d.get(server.base)
    wait(d, "h1", de["page.sign_in"])
    menu = d.find_element(By.CSS_SELECTOR, "header #language select")
    label = d.find_element(By.CSS_SELECTOR, f"header #language label[for='{menu.get_attribute('id')}']")
    assert label.text == de["language.label"]
    assert [(o.get_attribute("value"), o.text, o.get_attribute("lang")) for o in menu.find_elements(By.TAG_NAME, "option")] == [
        ("en", "English", "en"), ("de", "Deutsch", "de"), ("zh-CN", "中文（简体）", "zh-CN")]
    assert menu.get_attribute("value") == "de"

    # The keyboard: the arrow moves to the next language and nothing reloads yet; Enter on the
    # menu's button switches.
    d.execute_script("window.sameDocument = true")
    menu.send_keys(Keys.ARROW_DOWN)
    if menu.get_attribute("value") != "zh-CN":  # a headless quirk: choose it directly
        d.find_element(By.CSS_SELECTOR, "header #language select option[value='zh-CN']").click()
    assert d.execute_script("return window.sameDocument === true && document.documentElement.lang") == "de"
    d.find_element(By.CSS_SELECTOR, "header #language button").send_keys(Keys.ENTER)
    wait(d, "h1", zh["page.sign_in"])
    assert d.execute_script("return document.documentElement.lang") == "zh-CN"
    assert d.execute_script("return localStorage.getItem('dlsms.language')") == "zh-CN"
    d.refresh()
    wait(d, "h1", zh["page.sign_in"])
    assert d.find_element(By.CSS_SELECTOR, "header #language select").get_attribute("value") == "zh-CN"

    # Signed in, the choice stays (a server without me/preferences answers 404: no matter), and
    # choosing English there is kept too.
    sign_in(d, server, sid, password)
    wait(d, "h1", zh["nav.find"])
    d.find_element(By.CSS_SELECTOR, "header #language select option[value='en']").click()
    d.find_element(By.CSS_SELECTOR, "header #language button").click()
    wait(d, "h1", en["nav.find"])
    d.refresh()
    wait(d, "h1", en["nav.find"])
    assert d.execute_script("return document.documentElement.lang") == "en"
    assert d.execute_script("return localStorage.getItem('dlsms.language')") == "en"
    # The account was told (PUT me/preferences), as far as this server has the route.
    puts = [url for url, method, _ in requests_headers(d) if method == "PUT" and url.endswith("/me/preferences")]
    assert puts, "the menu did not send the choice to the account"


@pytest.mark.parametrize("lang", ["de", "zh-CN"])
def test_the_entrance_display_speaks_the_browsers_language(server, browsers, lang):
    table = strings(lang)
    d = browsers(lang=lang)
    d.get(server.base + "display/Main%20Library")
    wait(d, ".kiosk-figure.now .kiosk-label", table["display.free_now"])
    assert d.execute_script("return document.documentElement.lang") == lang
    wait(d, ".kiosk-updated", table["display.updated"].split("{")[0].strip())
    free = d.find_element(By.CSS_SELECTOR, ".kiosk-figure.now .kiosk-number").text
    wait_until(d, lambda: d.title == text_of(table, "display.title", place="Main Library", free=free),
               f"the display's title is {d.title!r}")
