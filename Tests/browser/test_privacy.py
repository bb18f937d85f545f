"""The privacy notice: the sign-in and registration pages link to it (`privacy`, relative); it is
served without signing in (200, HTML, the app's Content-Security-Policy) as a page of its own with
the app's style sheet, no script and no inline style; it says what is kept, why, for how long and
what the student can do, with the operator's contact marked; its link back to the app returns to
the sign-in page, and its My data link to My data once signed in. axe-core and no sideways
scrolling at 1280 and 360 px."""

import os
import tempfile
import urllib.request

import pytest

from conftest import By, assert_accessible, sign_in, true_width, wait, wait_until

SHOTS = os.environ.get("PRIVACY_SHOTS") or tempfile.gettempdir()


def back_link(d, server):
    """The page's link back to the app: the last link whose address is the app's page."""
    links = [a for a in d.find_elements(By.CSS_SELECTOR, "a[href]")
             if a.get_attribute("href").split("#")[0] == server.base]
    assert links, d.page_source[-1500:]
    return links[-1]


def test_the_notice_is_served_without_signing_in(server):
    with urllib.request.urlopen(server.base + "privacy", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
        csp = r.headers["Content-Security-Policy"] or ""
        assert "script-src 'self'" in csp and "unsafe" not in csp, csp
        page = r.read().decode()
    assert "<h1" in page and "<script" not in page and " style=" not in page, page[:800]
    for said in ("365 days", "newest 200", "2 years", "data-protection officer", "Erase my account"):
        assert said in page, said


@pytest.mark.parametrize("width", [1280, 360])
def test_the_sign_in_page_links_to_the_notice_and_back(server, browsers, width):
    d = browsers(width, 800)
    if width < 500:
        true_width(d, width)
    d.get(server.base)
    link = wait(d, "a.privacy-link", "Privacy notice")
    assert link.get_attribute("href") == server.base + "privacy"
    assert d.execute_script("return arguments[0].getAttribute('href')", link) == "privacy"  # relative
    link.click()
    heading = wait(d, "h1", "Privacy notice")
    assert d.current_url == server.base + "privacy"
    assert d.title, "the page has a title"
    # The app's style sheet, and nothing the policy refuses.
    assert d.execute_script("return document.scripts.length") == 0
    assert d.execute_script("return document.querySelectorAll('[style]').length") == 0
    assert d.execute_script("return [...document.styleSheets].some(s => /app\\.css/.test(s.href || ''))"), "no app.css"
    assert d.execute_script("return getComputedStyle(document.body).marginTop") == "0px"
    assert heading.value_of_css_property("font-size") == "25.6px"  # h1 of app.css (1.6rem)
    text = d.find_element(By.TAG_NAME, "body").text
    for said in ("What is kept", "Why", "For how long", "What you can do", "365 days", "newest 200", "2 years",
                 "audit trail", "data-protection officer"):
        assert said in text, said
    width_now = d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width_now[0] <= width_now[1], f"the notice is {width_now[0]} px wide in a {width_now[1]} px window"
    assert_accessible(d, f"privacy notice at {width} px")
    d.save_screenshot(os.path.join(SHOTS, f"privacy-{width}.png"))

    # Back to the app: the sign-in page.
    back_link(d, server).click()
    wait(d, "input[name=student_id]")
    assert d.current_url.split("#")[0] == server.base

    # The registration page links to it too.
    d.get(server.base + "#/register")
    wait(d, "h1", "Create an account")
    assert wait(d, "a.privacy-link").get_attribute("href") == server.base + "privacy"


def test_the_notice_leads_a_signed_in_student_to_my_data(server, browsers):
    sid, password = server.new_student("Priya Privacy")
    d = browsers()
    sign_in(d, server, sid, password)
    d.get(server.base + "#/my-data")
    wait(d, "main a.privacy-link", "privacy notice").click()
    wait(d, "h1", "Privacy notice")
    d.find_element(By.XPATH, "//a[normalize-space()='My data']").click()
    wait(d, "h1", "My data")
    wait_until(d, lambda: d.find_element(By.CSS_SELECTOR, "dd[data-field='student_id']").text == sid, "My data is not the student's")
