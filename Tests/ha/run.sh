#!/bin/sh
# Failover test of a three-node DL-SMS cluster behind HAProxy (etcd 3.4 and haproxy installed):
# sync mode, then async mode. Fails if either run fails its checks; the async run's count of lost
# acknowledgements is printed, never a failure (async promises no more). Killed nodes come back
# after 5 s, so that a standby, not the restarted primary, is usually elected.
# Then the lagging-restart election test (async, etcd only): a lagging standby restarted while no
# node leads must not win over the most advanced standby; its failure fails this script too.
#
#   Tests/ha/run.sh [path/to/dlsms] [more failover.py options, e.g. --duration 60 --keep]
#
# Reports go to $HA_REPORT_DIR (default .build/ha-reports).
set -u
cd "$(dirname "$0")/../.."
binary=${1:-.build/debug/dlsms}
[ $# -gt 0 ] && shift
reports=${HA_REPORT_DIR:-.build/ha-reports}

python3 Tests/ha/failover.py --binary "$binary" --mode sync --report-dir "$reports" --restart-delay 5 "$@"
sync_status=$?
echo
python3 Tests/ha/failover.py --binary "$binary" --mode async --report-dir "$reports" --restart-delay 5 "$@"
async_status=$?
echo
# (It ignores failover.py's own options, e.g. --duration; --keep applies.)
python3 Tests/ha/lagging_restart.py --binary "$binary" --report-dir "$reports" "$@"
lagging_status=$?
echo
verdict() { [ "$1" -eq 0 ] && echo passed || echo FAILED; }
echo "failover tests: sync $(verdict $sync_status), async $(verdict $async_status), lagging restart $(verdict $lagging_status) (reports in $reports)"
if [ $sync_status -ne 0 ] || [ $async_status -ne 0 ] || [ $lagging_status -ne 0 ]; then exit 1; fi
exit 0
