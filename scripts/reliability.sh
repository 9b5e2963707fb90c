#!/usr/bin/env bash
# `make reliability`: the load run, the fault runs, the metering run and the money run, on servers of their own (ports
# 8620-8622, a table of its own, DynamoDB Local persisted on disk so it can be killed and
# restarted). Each phase ends with `load check`: the invariants, read from the table.
#   LOAD_SECONDS (default 30), LOAD_CLIENTS (default 32), CANCEL_WORKSPACES (default 2000), RELIABILITY_PORTS
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUN_DIR=$root/.local/run/reliability
rm -rf "$RUN_DIR"
. scripts/lib.sh
# Ports of its own (override with RELIABILITY_PORTS="ddb moto emulator" when several checkouts share a machine).
read -r DDB MOTO EMU <<<"${RELIABILITY_PORTS:-8620 8621 8622}"
db=$root/.local/reliability-db
env_file=$root/.local/reliability.env
trap stop_all EXIT

bash scripts/install-tools.sh
cargo build -q -p billing-tests --bin load
load="$target/debug/load"
rm -rf "$db" && mkdir -p "$db"
rm -f .local/run/issued-bills-billing-center-reliability.json # bills issued on a table this run recreates
write_env "$env_file" $DDB $MOTO $EMU 9000 billing-center-reliability
start_dynamodb r-dynamodb $DDB "$db"
start_moto r-moto $MOTO
start_emulator r-emulator $EMU "$env_file"
load_env "$env_file"

echo "== 1. load: ${LOAD_CLIENTS:-32} clients for ${LOAD_SECONDS:-30} s, every route, zero 5xx"
"$load" run --tag steady --seconds "${LOAD_SECONDS:-30}" --clients "${LOAD_CLIENTS:-32}"
"$load" check --tag steady

echo "== 2. DynamoDB Local killed (SIGKILL) and restarted during a load run"
"$load" run --tag ddbfault --seconds 40 --clients 16 --allow-5xx &
load_pid=$!
sleep 12
stop_one r-dynamodb KILL
echo "   DynamoDB Local killed; restarting in 5 s"
sleep 5
start_dynamodb r-dynamodb $DDB "$db"
echo "   DynamoDB Local back"
wait $load_pid
"$load" check --tag ddbfault

echo "== 3. SES unreachable during a cancellation of ${CANCEL_WORKSPACES:-2000} workspaces"
"$load" cancel-prepare --tag mailfault --workspaces "${CANCEL_WORKSPACES:-2000}"
since=$(date -u +%Y-%m-%dT%H:%M:%S)
# The release's SES is a port nobody listens on. moto itself stays up: it is also the Secrets
# Manager the webhook reads its keys from, which on AWS is not down when SES is.
AWS_ENDPOINT_URL_SES=http://127.0.0.1:9 "$load" cancel-release --tag mailfault
"$load" check --tag mailfault --mail-since "$since"
echo "== 4. metering while the marketplaces fail one call in five"
emu="http://127.0.0.1:$EMU/_emulator/faults"
curl -sf -X POST "$emu" -H 'content-type: application/json' -d '{"operation": "any", "mode": "error", "every": 5}'
curl -sf -X POST "$emu" -H 'content-type: application/json' -d '{"operation": "any", "mode": "drop", "every": 7}'
"$load" run --tag metering --seconds "${LOAD_SECONDS:-30}" --clients 16 --whole
curl -sf -X DELETE "$emu"
"$load" check --tag metering --metering

echo "== 5. money: a past month's load, its bills issued by a run that dies and one under a DynamoDB kill, late fallbacks"
first=$(date -u +%Y-%m-01)
month=$(date -u -d "$first -2 months" +%Y-%m)
"$load" run --tag money --at "$(date -u -d "$first -1 month -1 day" +%Y-%m-%dT20:10:00Z)" --seconds "${LOAD_SECONDS:-30}" --clients 16
"$load" issue --month "$month" &
issue_pid=$!
sleep 0.5
kill -KILL "$issue_pid" 2>/dev/null && echo "   the issue run killed half way" || echo "   the issue run had finished"
wait "$issue_pid" || true
"$load" issue --month "$month" &
issue_pid=$!
sleep 0.3
stop_one r-dynamodb KILL
echo "   DynamoDB Local killed under the next issue run; restarting in 5 s"
sleep 5
start_dynamodb r-dynamodb $DDB "$db"
wait "$issue_pid"
"$load" settle --month "$month"
"$load" check --tag money
echo "reliability: 5 passed, 0 failed"
