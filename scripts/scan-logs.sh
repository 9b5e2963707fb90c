#!/usr/bin/env bash
# The log scan of `make test`: fails when a log of the run holds a secret's value (the copies
# .local/env keeps for `make up` and the tests), a session token, or a password the tests use.
# It reads every log under $BILLING_LOG_DIR (the local servers; cargo lambda watch, with every
# function it ran and the scheduler's runs; the function binaries the tests ran, in functions/;
# the tests' own JSON logs, in tests/) and the files given (the tests' output).
#   scan-logs.sh [file...]     scan; names what it found where, never the value itself
#   scan-logs.sh --self-test   show that it finds each kind of thing it looks for
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib.sh

# The secrets' halves (their ids are not secret); passwords as the tests type them.
secret_vars=(TOKEN_SIGNING_KEY ALIYUN_SPI_KEY ALIYUN_ACCESS_KEY_SECRET HUAWEI_KOOGALLERY_KEY KOOGALLERY_SECRET_KEY)
passwords=(s3cret-pass wrong-pass1 billing-pass1 seeded-pass1 bench-pass1 x1234567)
# A session token: <key id>.<base64url of a JSON object>.<base64url HMAC-SHA256, 43 characters>.
token_re='[A-Za-z0-9_-]{1,64}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{43}'

scan() { # env file, files or directories...: prints what it finds, fails if anything
  local env=$1 found=0 v value files; shift
  for v in "${secret_vars[@]}"; do
    value=$(grep -s "^$v=" "$env" | cut -d= -f2- || true)
    [ -n "$value" ] || { echo "scan: $v is not in $env" >&2; return 2; }
    if files=$(grep -rlIF -e "$value" "$@" 2>/dev/null); then
      echo "the value of $v is in: $files"; found=1
    fi
  done
  for v in "${passwords[@]}"; do
    if files=$(grep -rlIF -e "$v" "$@" 2>/dev/null); then echo "the password $v is in: $files"; found=1; fi
  done
  if files=$(grep -rlIE -e "$token_re" "$@" 2>/dev/null); then echo "a session token is in: $files"; found=1; fi
  return $found
}

if [ "${1:-}" = --self-test ]; then
  dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
  printf 'TOKEN_SIGNING_KEY=tk-0123456789abcdef\nALIYUN_SPI_KEY=spi-0123456789\nALIYUN_ACCESS_KEY_SECRET=ak-0123456789\nHUAWEI_KOOGALLERY_KEY=hw-0123456789\nKOOGALLERY_SECRET_KEY=sk-0123456789\n' > "$dir/env"
  mkdir "$dir/logs"; echo '{"level":"INFO","fields":{"message":"clean"}}' > "$dir/logs/clean.log"
  scan "$dir/env" "$dir/logs" >/dev/null || { echo "self-test: a clean log was flagged" >&2; exit 1; }
  for planted in 'key tk-0123456789abcdef' 'sk=sk-0123456789' '"password":"s3cret-pass"' \
                 'Bearer local-1.eyJraW5kIjoiYmlsbGluZyJ9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'; do
    echo "$planted" > "$dir/logs/planted.log"
    if scan "$dir/env" "$dir/logs" >/dev/null; then echo "self-test: missed $planted" >&2; exit 1; fi
  done
  echo "log scan self-test: each kind found, a clean log passed"
  exit 0
fi

if scan .local/env "$logs" "$@"; then
  echo "log scan: no secret, token or password in $(find "$logs" "$@" -type f | wc -l) files"
else
  echo "log scan FAILED: see above" >&2
  exit 1
fi
