#!/usr/bin/env bash
# `make test`: everything the tests need, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.local/tools/bin:$PATH"

bash scripts/install-tools.sh
echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cfn-lint template.yaml
SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1 --template-file template.yaml
openapi-spec-validator openapi.yaml

echo "== local stack"
started_here=no
if [ ! -f .local/run/watch.pid ] || ! kill -0 "$(cat .local/run/watch.pid)" 2>/dev/null; then
  started_here=yes
fi
cleanup() { if [ "$started_here" = yes ]; then bash scripts/stack.sh down; fi; }
trap cleanup EXIT
bash scripts/stack.sh up
set -a; . .local/env; set +a

echo "== tests"
# The tests that read a function's own output (metrics, logs) run its binary.
cargo build --workspace --bins
logs=${BILLING_LOG_DIR:-${TMPDIR:-/tmp}/billing-center-logs}
rm -rf "$logs/functions" "$logs/tests" # this run's only: the log scan reads them
log=$(mktemp)
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
echo "== smoke test through cargo lambda watch"
smoke=0
bash scripts/smoke.sh || smoke=1
echo "== contract: schemathesis over every operation of openapi.yaml, through the API Gateway stand-in"
contract=0
bash scripts/contract.sh || contract=1
echo "== log scan: no secret, token or password in the logs of this run"
scanned=0
{ bash scripts/scan-logs.sh --self-test && bash scripts/scan-logs.sh "$log"; } || scanned=1
# One closing line for the whole run: cargo prints one per test binary, doc tests last; the smoke
# test, the contract run and the log scan count one each.
awk -v smoke="$smoke" -v contract="$contract" -v scanned="$scanned" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  END { printf "tests: %d passed, %d failed\n", p + (smoke ? 0 : 1) + (contract ? 0 : 1) + (scanned ? 0 : 1), f + smoke + contract + scanned }' "$log"
rm -f "$log"
[ "$status" = 0 ] && [ "$smoke" = 0 ] && [ "$contract" = 0 ] && [ "$scanned" = 0 ]
