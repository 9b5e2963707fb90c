#!/usr/bin/env bash
# `make bench`: release builds (x86_64, and arm64 through cargo lambda + zig when it can),
# then the benchmark harness against the local stack. Prints the report and writes it to
# target/bench/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.local/tools/bin:$PATH"
bash scripts/install-tools.sh
target=${CARGO_TARGET_DIR:-$PWD/target}
functions=(register login upgrade change-settlement marketplace-webhook admin sweeper usage bills metering issue-bills)
packages=(); for f in "${functions[@]}"; do packages+=(-p "$f"); done

echo "== release build (x86_64)"
cargo build --release "${packages[@]}"
cargo build --release -p billing-tests --bin bench --bin hello # --bin narrows every -p: a build of its own

arm64_dir=""
if command -v zig >/dev/null && rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
  echo "== release build (arm64, cargo lambda + zig)"
  # cargo lambda's --target-dir is broken: CARGO_TARGET_DIR it is. The same folder as the x86_64
  # build and `make package` (sam build honours CARGO_TARGET_DIR): the arm64 dependencies are
  # built once for both.
  if CARGO_TARGET_DIR="$target" cargo lambda build --release --arm64 "${packages[@]}"; then
    arm64_dir="$target/lambda"
  fi
else
  echo "== arm64 build skipped: zig or the aarch64 target is not available"
fi

echo "== local stack"
started_here=no
if [ ! -f .local/run/dynamodb.pid ] || ! kill -0 "$(cat .local/run/dynamodb.pid)" 2>/dev/null; then started_here=yes; fi
cleanup() { if [ "$started_here" = yes ]; then bash scripts/stack.sh down; fi; }
trap cleanup EXIT
bash scripts/stack.sh services
set -a; . .local/env; set +a

echo "== benchmark"
BENCH_BIN_DIR="$target/release" BENCH_ARM64_DIR="$arm64_dir" BENCH_OUT="$PWD/target/bench/report.md" "$target/release/bench"
