#!/usr/bin/env bash
# stage.sh <name> <command...>: run one stage of `make test` and say how long it took, with the
# machine's load average (timings on a busy machine are not comparable with those on an idle one).
set -uo pipefail
name=$1
shift
start=$(date +%s)
echo "==> $name: $*"
"$@"
status=$?
result=$([[ $status == 0 ]] && echo passed || echo "FAILED (exit $status)")
echo "<== $name: $result in $(($(date +%s) - start)) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
exit $status
