"""How the app is delivered: one binary, strict CSP (no inline script or style ran), gzip, long
caching of versioned files, the first load of the booking page within 150 KB, and the booking
round trip measured in the page."""

import gzip
import os
import pathlib
import re
import statistics
import tempfile
import urllib.request

from conftest import By, choose_branch, figure, sign_in, wait


def fetch(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
        return r.status, dict(r.headers), r.read()


def test_headers_gzip_and_caching(server):
    status, headers, body = fetch(server.base, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    page = gzip.decompress(body).decode()
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert headers["Cache-Control"] == "no-cache"
    assert "<script>" not in page and " style=" not in page
    files = re.findall(r'(?:src|href)="(app/[0-9a-f]{16}/[\w.-]+)"', page)
    assert "app.js" in " ".join(files)
    for f in files:
        status, h, body = fetch(server.base + f, {"Accept-Encoding": "gzip"})
        assert h["Cache-Control"] == "public, max-age=31536000, immutable"
        assert h.get("Content-Security-Policy") == csp
    # The same bytes plain for a client without gzip.
    _, h, plain = fetch(server.base + files[0])
    assert "Content-Encoding" not in h and plain


def test_first_load_of_the_booking_page_is_small_and_breaks_no_policy(server, browser):
    d = browser
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    d.get(server.base)
    d.execute_script("document.addEventListener('securitypolicyviolation', e => (window.violations = window.violations || []).push(e.violatedDirective))")
    sign_in(d, server, "S2021007")
    wait(d, ".seat-map .seat")
    wait(d, ".live[data-state='on']")
    sizes = d.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        return [nav.transferSize, ...performance.getEntriesByType('resource').map(r => r.transferSize)];""")
    total = sum(sizes)
    figure("first load of the booking page (sign-in page, sign-in, the map), bytes transferred", total)
    assert 0 < total <= 150 * 1024, sizes
    assert d.execute_script("return window.violations || []") == []


def test_booking_round_trip_in_the_page(server, browser):
    """From the click on Book to the answer on the screen, measured by the page's clock."""
    sid, password = server.new_student("Timing Tess")
    d = browser
    sign_in(d, server, sid, password)
    wait(d, ".live[data-state='on']")
    times = []
    for branch in ["Main Library", "Science Library", "Engineering Library"]:
        choose_branch(d, branch)
        wait(d, f".seat-map .seat-free")
        d.find_element(By.CSS_SELECTOR, ".seat-map .seat-free").click()
        book = wait(d, "#detail-heading ~ .actions button.primary", "Book seat")
        elapsed = d.execute_async_script("""
            const [button, done] = arguments;
            const start = performance.now();
            const seen = new MutationObserver(() => {
              const m = document.querySelector('main .message.ok, main .message.error');
              if (m && m.textContent) { seen.disconnect(); done(performance.now() - start); }
            });
            seen.observe(document.querySelector('main'), { subtree: true, childList: true, characterData: true, attributes: true });
            button.click();""", book)
        wait(d, ".message.ok", "Booked")
        times.append(elapsed)
    figure("booking round trip, click to result on screen (ms, 3 bookings)", ", ".join(f"{t:.1f}" for t in times))
    assert len(times) == 3


def test_screenshots(server, browsers):
    """The main pages at phone and desktop width, and the find page in German and Chinese, saved to
    $SCREENSHOT_DIR (the README's come from `SCREENSHOT_DIR=docs/screenshots`)."""
    out = pathlib.Path(os.environ.get("SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="dlsms-shots-"))
    out.mkdir(parents=True, exist_ok=True)
    for name, width, height in [("desktop", 1280, 860), ("phone", 360, 740)]:
        d = browsers(width, height)
        sign_in(d, server, "S2021002")
        wait(d, ".live[data-state='on']")
        wait(d, ".seat-map .seat-free").click()
        wait(d, ".detail .timeline")
        # The desktop shows the form, the map and the seat's panel; the phone the map.
        d.execute_script("window.scrollTo(0, 0)" if name == "desktop" else "document.getElementById('results-heading').scrollIntoView()")
        d.save_screenshot(str(out / f"find-{name}.png"))
        d.find_element(By.LINK_TEXT, "My reservations").click()
        wait(d, "li.reservation")
        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(str(out / f"mine-{name}.png"))
        d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
        wait(d, "h1", "Sign in")
        sign_in(d, server, "admin", "admin-password")
        d.get(server.base + "#/staff/stats")
        wait(d, "figure.chart svg")
        d.save_screenshot(str(out / f"staff-stats-{name}.png"))
        d.get(server.base + "#/staff/seats")
        wait(d, ".seat-map .seat")
        d.save_screenshot(str(out / f"staff-seats-{name}.png"))
    # The find page in German and in Simplified Chinese (a browser in that language), at desktop width.
    for lang in ["de", "zh-CN"]:
        d = browsers(1280, 860, lang=lang)
        sign_in(d, server, "S2021002")
        wait(d, ".live[data-state='on']")
        wait(d, ".seat-map .seat-free").click()
        wait(d, ".detail .timeline")
        assert d.execute_script("return document.documentElement.lang") == lang
        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(str(out / f"find-{lang}.png"))
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        [f"{page}-{size}.png" for page in ["find", "mine", "staff-stats", "staff-seats"] for size in ["desktop", "phone"]]
        + ["find-de.png", "find-zh-CN.png"])
