#!/usr/bin/env bash
# `make package`: what `sam deploy` ships, built and checked. `sam build --beta-features` runs
# the template's rust-cargolambda builds (cargo lambda, release, arm64, through zig) into
# .aws-sam/build; it honours CARGO_TARGET_DIR, so a warm build cache makes it quick (a clean one
# takes ~13 min on 2 cores). Then tests/tests/deploy.rs checks every function's artefact: an
# arm64 `bootstrap` under the size limit. CI runs this once per run (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.local/tools/bin:$PATH"
bash scripts/install-tools.sh
echo "== sam build --beta-features"
SAM_CLI_TELEMETRY=0 sam build --beta-features --template-file template.yaml
echo "== the artefacts"
cargo test -p billing-tests --test deploy -- --include-ignored --nocapture
