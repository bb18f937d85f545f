#!/usr/bin/env bash
# Installs what the test OpenID Provider (Tests/oidc/provider.sh) and its checks need on a fresh Debian
# bookworm machine, as root: LemonLDAP::NG, its FastCGI server and nginx from Debian; requests and joserfc
# from PyPI (pinned). Idempotent, and quick when everything is there (no apt-get at all then).
#
# The packages' maintainer scripts would start nginx (port 80) and llng-fastcgi-server where they can. On a
# machine that has no /usr/sbin/policy-rc.d, this script puts one in place for the length of the install so
# that no service is started; provider.sh starts its own nginx and FastCGI server on loopback instead.
set -euo pipefail

need=()
for pkg in lemonldap-ng lemonldap-ng-fastcgi-server nginx openssl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# Put here by .ci/install-oidc-provider.sh for the length of an install.\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

python3 -c "import requests" 2>/dev/null || python3 -m pip install -q --root-user-action=ignore "requests==2.34.2"
python3 -c "import joserfc" 2>/dev/null || python3 -m pip install -q --root-user-action=ignore "joserfc==1.6.5"
