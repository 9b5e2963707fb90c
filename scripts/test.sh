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
log=$(mktemp)
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
echo "== smoke test through cargo lambda watch"
smoke=0
bash scripts/smoke.sh || smoke=1
echo "== contract: schemathesis over every operation of openapi.yaml, through the API Gateway stand-in"
contract=0
bash scripts/contract.sh || contract=1
# One closing line for the whole run: cargo prints one per test binary, doc tests last; the smoke test
# and the contract run count one each.
awk -v smoke="$smoke" -v contract="$contract" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
  END { printf "tests: %d passed, %d failed\n", p + (smoke ? 0 : 1) + (contract ? 0 : 1), f + smoke + contract }' "$log"
rm -f "$log"
[ "$status" = 0 ] && [ "$smoke" = 0 ] && [ "$contract" = 0 ]
