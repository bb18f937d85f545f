#!/usr/bin/env bash
# A real OpenID Provider for the tests: LemonLDAP::NG's portal (Debian's packages) as the OP, served by
# llng-fastcgi-server on a unix socket behind nginx, listening on 127.0.0.1:PORT only.
#
#   provider.sh start --dir DIR --port PORT --client-id ID --client-secret SECRET --redirect-uri URI
#                     [--redirect-uri URI2 ...] [--post-logout-redirect-uri URI ...] [--ttl SECONDS]
#       starts it in the background, waits (with a deadline) until its discovery document answers,
#       and prints the issuer URL (http://127.0.0.1:PORT) on stdout.
#   provider.sh stop --dir DIR
#       stops everything that start started, and removes its runtime folder.
#
# Nothing under /etc or /var/lib is written: the configuration (lemonldap-ng.ini and lmConf-1.json),
# the sessions and the socket live in a runtime folder made under /tmp (llng-fastcgi-server refuses to
# run as root, so it runs as www-data, which must be able to reach that folder; DIR may be private).
# DIR holds the logs and the state (pids, runtime folder). A watchdog stops everything after --ttl
# seconds (900 by default) even if nobody calls stop.
# Needs: lemonldap-ng lemonldap-ng-fastcgi-server nginx (see .ci/install-oidc-provider.sh), openssl, python3.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

die() {
    echo "provider.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '5,11p' "$SELF" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift

dir=""
port=""
client_id=""
client_secret=""
redirect_uris=()
post_logout_uris=()
ttl=900
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --client-id) client_id="$2"; shift 2 ;;
        --client-secret) client_secret="$2"; shift 2 ;;
        --redirect-uri) redirect_uris+=("$2"); shift 2 ;;
        --post-logout-redirect-uri) post_logout_uris+=("$2"); shift 2 ;;
        --ttl) ttl="$2"; shift 2 ;;
        -h | --help) usage ;;
        *) die "unknown argument: $1" ;;
    esac
done
[ -n "$dir" ] || die "--dir is required"

# Whether a process group still has a live member (zombies do not count: once our start shell has exited,
# its children are reaped by PID 1 whenever that gets round to it).
group_alive() {
    local pgid="$1" f line rest
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        rest="${line##*) }"
        # shellcheck disable=SC2086
        set -- $rest
        if [ "${3:-}" = "$pgid" ] && [ "$1" != "Z" ] && [ "$1" != "X" ]; then
            return 0
        fi
    done
    return 1
}

# Sends TERM to a process group (every process was started as a group leader with setsid), then KILL
# if it is still there after a short deadline.
stop_group() {
    local pgid="$1"
    [ -n "$pgid" ] || return 0
    group_alive "$pgid" || return 0
    kill -TERM -- "-$pgid" 2>/dev/null || true
    local deadline=$((SECONDS + 5))
    while group_alive "$pgid" && [ $SECONDS -lt $deadline ]; do
        sleep 0.1
    done
    if group_alive "$pgid"; then
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
}

do_stop() {
    local state="$dir/state"
    [ -f "$state" ] || return 0
    local nginx_pgid="" fcgi_pgid="" watchdog_pgid="" runtime=""
    # shellcheck disable=SC1090
    . "$state"
    stop_group "$nginx_pgid"
    stop_group "$fcgi_pgid"
    # The watchdog itself calls stop: it must not kill its own group before it has finished.
    if [ "${DLSMS_OIDC_WATCHDOG:-}" != "1" ]; then
        stop_group "$watchdog_pgid"
    fi
    case "$runtime" in
        /tmp/dlsms-oidc-op.*) rm -rf -- "$runtime" ;;
    esac
    rm -f -- "$state"
}

do_start() {
    [ -n "$port" ] || die "--port is required"
    [ -n "$client_id" ] || die "--client-id is required"
    [ -n "$client_secret" ] || die "--client-secret is required"
    [ ${#redirect_uris[@]} -gt 0 ] || die "--redirect-uri is required"
    case "$port" in '' | *[!0-9]*) die "--port must be a number" ;; esac
    case "$ttl" in '' | *[!0-9]*) die "--ttl must be a number of seconds" ;; esac
    for exe in /usr/sbin/llng-fastcgi-server /usr/sbin/nginx openssl python3 setsid; do
        command -v "$exe" >/dev/null || die "$exe is missing: run .ci/install-oidc-provider.sh"
    done
    [ -d /usr/share/lemonldap-ng/portal/htdocs ] || die "the LemonLDAP::NG portal is missing: run .ci/install-oidc-provider.sh"
    id www-data >/dev/null 2>&1 || die "user www-data is missing"

    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ -f "$dir/state" ]; then
        die "$dir/state exists: a provider started with this --dir is still running (stop it first)"
    fi

    local issuer="http://127.0.0.1:$port"
    local runtime
    runtime="$(mktemp -d /tmp/dlsms-oidc-op.XXXXXXXX)"
    chmod 755 "$runtime"
    mkdir -p "$dir/logs" "$runtime/conf" "$runtime/sessions/lock" "$runtime/psessions/lock" "$runtime/cache" \
        "$runtime/nginx"
    echo "runtime=$runtime" >"$dir/state"

    # A fresh signing key for every start: the ID tokens are RS256 with it; the JWKS publishes it.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$runtime/sig.key" 2>/dev/null
    openssl pkey -in "$runtime/sig.key" -pubout -out "$runtime/sig.pub" 2>/dev/null

    cat >"$runtime/lemonldap-ng.ini" <<EOF
[all]
logLevel = ${DLSMS_OIDC_LOGLEVEL:-warn}
logger = Lemonldap::NG::Common::Logger::Std
userLogger = Lemonldap::NG::Common::Logger::Std
checkTime = 1

[configuration]
type = File
dirName = $runtime/conf
prettyPrint = 1
localStorage = Cache::FileCache
localStorageOptions = { 'namespace' => 'lemonldap-ng-config', 'default_expires_in' => 600, 'directory_umask' => '007', 'cache_root' => '$runtime/cache', 'cache_depth' => 3 }

[portal]
staticPrefix = /static
templateDir = /usr/share/lemonldap-ng/portal/templates
languages = en

[handler]
status = 0
useRedirectOnError = 1
EOF

    # The whole LemonLDAP::NG configuration (what its manager or lemonldap-ng-cli would write), written
    # anew: the Demo authentication backend with its users, two groups for DL-SMS, the OIDC issuer and
    # one confidential relying party.
    RT="$runtime" ISSUER="$issuer" CLIENT_ID="$client_id" CLIENT_SECRET="$client_secret" \
        REDIRECT_URIS="${redirect_uris[*]}" POST_LOGOUT_URIS="${post_logout_uris[*]:-}" python3 - <<'PY'
import json, os, time

rt = os.environ["RT"]
issuer = os.environ["ISSUER"]
rp = "dlsms"
conf = {
    "cfgNum": 1,
    "cfgAuthor": "DL-SMS Tests/oidc/provider.sh",
    "cfgDate": str(int(time.time())),
    "cfgVersion": "2.16.1",
    "portal": issuer + "/",
    "domain": "127.0.0.1",
    "cookieName": "llngtestop",
    "securedCookie": 0,
    "httpOnly": 1,
    "timeout": 3600,
    "authentication": "Demo",
    "userDB": "Same",
    "passwordDB": "Demo",
    "portalDisplayRegister": 0,
    "portalDisplayResetPassword": 0,
    "portalCheckLogins": 0,
    "demoExportedVars": {"cn": "cn", "mail": "mail", "uid": "uid"},
    "exportedVars": {},
    "whatToTrace": "uid",
    "macros": {},
    # Groups beyond the Demo backend's own (timelords, earthlings, users): computed from the login.
    "groups": {
        "students": '$uid eq "dwho" or $uid eq "msmith"',
        "library-staff": '$uid eq "rtyler"',
    },
    "globalStorage": "Apache::Session::File",
    "globalStorageOptions": {
        "Directory": rt + "/sessions",
        "LockDirectory": rt + "/sessions/lock",
        "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256",
    },
    "persistentStorage": "Apache::Session::File",
    "persistentStorageOptions": {
        "Directory": rt + "/psessions",
        "LockDirectory": rt + "/psessions/lock",
    },
    "localSessionStorage": "Cache::FileCache",
    "localSessionStorageOptions": {
        "cache_depth": 3,
        "cache_root": rt + "/cache",
        "default_expires_in": 600,
        "directory_umask": "007",
        "namespace": "lemonldap-ng-sessions",
    },
    "notification": 0,
    "loginHistoryEnabled": 0,
    "portalSkin": "bootstrap",
    "locationRules": {"127.0.0.1": {"default": "accept"}},
    "applicationList": {},
    # OpenID Connect issuer
    "issuerDBOpenIDConnectActivation": 1,
    "oidcServiceMetaDataIssuer": issuer,
    "oidcServicePrivateKeySig": open(rt + "/sig.key").read(),
    "oidcServicePublicKeySig": open(rt + "/sig.pub").read(),
    "oidcServiceKeyIdSig": "dlsms-test-op-" + str(int(time.time())),
    "oidcServiceAllowAuthorizationCodeFlow": 1,
    "oidcServiceAllowImplicitFlow": 0,
    "oidcServiceAllowHybridFlow": 0,
    "oidcServiceAllowDynamicRegistration": 0,
    "oidcServiceIgnoreScopeForClaims": 0,
    "oidcServiceAuthorizationCodeExpiration": 60,
    "oidcRPMetaDataOptions": {
        rp: {
            "oidcRPMetaDataOptionsDisplayName": "DL-SMS",
            "oidcRPMetaDataOptionsClientID": os.environ["CLIENT_ID"],
            "oidcRPMetaDataOptionsClientSecret": os.environ["CLIENT_SECRET"],
            "oidcRPMetaDataOptionsPublic": 0,
            "oidcRPMetaDataOptionsRedirectUris": os.environ["REDIRECT_URIS"],
            "oidcRPMetaDataOptionsPostLogoutRedirectUris": os.environ.get("POST_LOGOUT_URIS", ""),
            "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
            "oidcRPMetaDataOptionsAccessTokenSignAlg": "RS256",
            "oidcRPMetaDataOptionsIDTokenForceClaims": 1,
            "oidcRPMetaDataOptionsRequirePKCE": 1,
            "oidcRPMetaDataOptionsBypassConsent": 1,
            "oidcRPMetaDataOptionsLogoutBypassConfirm": 1,
            "oidcRPMetaDataOptionsUserIDAttr": "uid",
            "oidcRPMetaDataOptionsIDTokenExpiration": 3600,
            "oidcRPMetaDataOptionsAccessTokenExpiration": 3600,
        }
    },
    "oidcRPMetaDataExportedVars": {
        rp: {
            "preferred_username": "uid",
            "name": "cn",
            "email": "mail",
            "groups": "groups;string;always",
        }
    },
    # The "groups" scope releases the "groups" claim (profile and email are LemonLDAP's standard scopes).
    "oidcRPMetaDataOptionsExtraClaims": {rp: {"groups": "groups"}},
}
with open(rt + "/conf/lmConf-1.json", "w") as f:
    json.dump(conf, f, indent=2, sort_keys=True)
PY

    cat >"$runtime/nginx/nginx.conf" <<EOF
worker_processes 1;
user www-data www-data;
pid $runtime/nginx/nginx.pid;
error_log $dir/logs/nginx-error.log warn;
daemon off;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $dir/logs/nginx-access.log;
    client_body_temp_path $runtime/nginx/body;
    fastcgi_temp_path $runtime/nginx/fastcgi;
    proxy_temp_path $runtime/nginx/proxy;
    uwsgi_temp_path $runtime/nginx/uwsgi;
    scgi_temp_path $runtime/nginx/scgi;
    upstream llng_portal_upstream { server unix:$runtime/llng-fastcgi.sock; }
    server {
        listen 127.0.0.1:$port;
        server_name 127.0.0.1;
        root /usr/share/lemonldap-ng/portal/htdocs/;
        if (\$uri !~ ^/((static|javascript|favicon).*|.*\.psgi)) {
            rewrite ^/(.*)\$ /index.psgi/\$1 break;
        }
        location ~ ^(?<sc>/.*\.psgi)(?:\$|/) {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass llng_portal_upstream;
            fastcgi_param HTTP_HOST \$http_host;
            fastcgi_param LLTYPE psgi;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_split_path_info ^(.*\.psgi)(/.*)\$;
            fastcgi_param PATH_INFO \$fastcgi_path_info;
            location ~ ^/index.psgi/(adminSessions|proxy|sessions|config|notification) {
                fastcgi_pass llng_portal_upstream;
                deny all;
            }
        }
        index index.psgi;
        location / { try_files \$uri \$uri/ =404; }
        location /static/ { alias /usr/share/lemonldap-ng/portal/htdocs/static/; }
        location /javascript/ { alias /usr/share/javascript/; }
    }
}
EOF

    chown -R www-data:www-data "$runtime"
    chmod 600 "$runtime/sig.key"

    # llng-fastcgi-server drops to www-data itself (-u/-g); --foreground so that the process we start is the
    # one we stop. Each process is the leader of its own group (setsid), stopped as a group.
    LLNG_DEFAULTCONFFILE="$runtime/lemonldap-ng.ini" \
        LLNG_DEFAULTLOGGER=Lemonldap::NG::Common::Logger::Std \
        setsid /usr/sbin/llng-fastcgi-server --foreground -u www-data -g www-data -n 2 \
        -s "$runtime/llng-fastcgi.sock" -p "$runtime/llng-fastcgi.pid" \
        </dev/null >>"$dir/logs/llng-fastcgi.log" 2>&1 &
    echo "fcgi_pgid=$!" >>"$dir/state"

    setsid /usr/sbin/nginx -e "$dir/logs/nginx-error.log" -p "$runtime/nginx" -c "$runtime/nginx/nginx.conf" \
        </dev/null >>"$dir/logs/nginx.log" 2>&1 &
    echo "nginx_pgid=$!" >>"$dir/state"

    DLSMS_OIDC_WATCHDOG=1 setsid bash -c 'sleep "$1"; exec "$2" stop --dir "$3"' watchdog "$ttl" "$SELF" "$dir" \
        </dev/null >>"$dir/logs/watchdog.log" 2>&1 &
    echo "watchdog_pgid=$!" >>"$dir/state"

    # Wait until the discovery document answers with our issuer (the portal compiles on first use).
    local deadline=$((SECONDS + ${DLSMS_OIDC_START_TIMEOUT:-60}))
    local url="$issuer/.well-known/openid-configuration"
    until ISSUER="$issuer" URL="$url" python3 - <<'PY' 2>/dev/null; do
import json, os, sys, urllib.request
with urllib.request.urlopen(os.environ["URL"], timeout=5) as r:
    doc = json.load(r)
sys.exit(0 if doc.get("issuer") == os.environ["ISSUER"] else 1)
PY
        if [ $SECONDS -ge $deadline ]; then
            echo "provider.sh: the discovery document did not answer at $url in time; logs in $dir/logs:" >&2
            tail -n 20 "$dir"/logs/*.log >&2 || true
            do_stop
            exit 1
        fi
        local pgid
        for pgid in $(sed -n 's/^\(fcgi\|nginx\)_pgid=//p' "$dir/state"); do
            if ! group_alive "$pgid"; then
                echo "provider.sh: a provider process exited during start; logs in $dir/logs:" >&2
                tail -n 20 "$dir"/logs/*.log >&2 || true
                do_stop
                exit 1
            fi
        done
        sleep 0.2
    done
    echo "$issuer"
}

case "$cmd" in
    start) do_start ;;
    stop) do_stop ;;
    *) usage ;;
esac
