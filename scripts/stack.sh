#!/usr/bin/env bash
# The local stack: DynamoDB Local, moto (SES, Secrets Manager), the Marketplace emulator, and every function
# under `cargo lambda watch`, all on 127.0.0.1.
#   stack.sh services   start the AWS stand-ins, create the table, write .local/env
#   stack.sh up         services + cargo lambda watch + the scheduler (template.yaml's
#                       schedules, invoked by name through watch), in the background
#   stack.sh dev        services + cargo lambda watch in the foreground; Ctrl-C stops all
#   stack.sh down       stop everything this script started
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib.sh

DDB_PORT=${DDB_PORT:-8600}
MOTO_PORT=${MOTO_PORT:-8601}
EMULATOR_PORT=${EMULATOR_PORT:-8602}
WATCH_PORT=${WATCH_PORT:-9000}

services() {
  bash scripts/install-tools.sh
  write_env .local/env "$DDB_PORT" "$MOTO_PORT" "$EMULATOR_PORT" "$WATCH_PORT" billing-center
  start_dynamodb dynamodb "$DDB_PORT"
  start_moto moto "$MOTO_PORT"
  start_emulator emulator "$EMULATOR_PORT" .local/env
  load_env .local/env
}

watch_cmd() {
  set -a; . .local/env; set +a
  unset "${secret_value_vars[@]}" # the functions read their secrets from Secrets Manager
  exec cargo lambda watch -A 127.0.0.1 -P "$WATCH_PORT"
}

# EventBridge's part: every schedule of template.yaml, invoking the function by name through watch.
start_scheduler() {
  ( set -a; . .local/env; set +a; start scheduler "$tools/moto/bin/python" "$root/scripts/scheduler.py" )
}

case "${1:-}" in
  services) services ;;
  up)
    services
    start watch bash "$0" _watch
    wait_for watch 120 curl -s "http://127.0.0.1:$WATCH_PORT/"
    start_scheduler
    echo "stack up: functions at http://127.0.0.1:$WATCH_PORT; settings in .local/env; logs in $logs"
    ;;
  dev)
    trap stop_all EXIT INT TERM
    services
    echo "functions at http://127.0.0.1:$WATCH_PORT (Ctrl-C stops everything); schedules: $logs/scheduler.log"
    start_scheduler
    ( watch_cmd )
    ;;
  _watch) watch_cmd ;;
  down) stop_all; echo "stack down" ;;
  *) echo "usage: $0 services|up|dev|down" >&2; exit 2 ;;
esac
