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
cargo test --workspace --no-fail-fast
echo "== smoke test through cargo lambda watch"
bash scripts/smoke.sh
