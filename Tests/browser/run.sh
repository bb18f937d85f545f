#!/usr/bin/env bash
# The web app's browser tests: Debian's chromium and chromedriver (headless), Selenium and
# axe-core (inside axe-selenium-python) from PyPI, pytest, aiosmtpd (the email tests' SMTP relay,
# Tests/mail/smtp_server.py, and openssl for its certificate); against the debug build
# (.build/debug/dlsms, or $DLSMS_BINARY) on free loopback ports with temporary data directories.
#   bash Tests/browser/run.sh [pytest arguments]
# DLSMS_WEB_DIR=$PWD/Sources/DLSMSWeb/public bash Tests/browser/run.sh   the app's files as they are
#   on disk (--web-dir), not the binary's built-in copy: no rebuild after editing them.
# SCREENSHOT_DIR=docs/screenshots bash Tests/browser/run.sh -k screenshots   renews the README's pictures.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$tool" ] || { echo "$tool is missing: apt-get install -y chromium chromium-driver" >&2; exit 1; }
done
[ -x "${DLSMS_BINARY:-.build/debug/dlsms}" ] || { echo "build first: swift build" >&2; exit 1; }
python3 -c "import selenium, axe_selenium_python, pytest, aiosmtpd" 2>/dev/null \
    || python3 -m pip install -q --root-user-action=ignore "selenium==4.51.0" "axe-selenium-python==2.1.6" "pytest>=8,<10" "aiosmtpd==1.4.6"
exec timeout 900 python3 -m pytest -q -p no:cacheprovider Tests/browser "$@"
