#!/usr/bin/env bash
# The contract run: schemathesis (property-based, from openapi.yaml) over every operation, through
# scripts/apigw.py (API Gateway's stand-in: the payload-2.0 event, IAM caller included, each function
# invoked by name through `cargo lambda watch`). Fails on any 5xx and on any answer outside openapi.yaml
# (status, content type, headers, schema), on a schema-violating request that is not refused, and on a
# well-formed one refused for its form. Needs the stack up (`make up`, or scripts/test.sh).
#   CONTRACT_EXAMPLES   cases per operation and phase (default 50: 4 to 5 minutes on an idle machine)
#   CONTRACT_SECONDS    the whole run's bound (default 1800): past it, the run fails
#   CONTRACT_SEED       replay a run's seed (printed in its log)
# Arguments go to `schemathesis run`, e.g. `--include-operation-id upgrade` to run one operation.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. scripts/lib.sh
set -a; . .local/env; set +a
# Nothing may be written into the tree while it runs: cargo lambda watch restarts every function on a change.
export PYTHONDONTWRITEBYTECODE=1

examples=${CONTRACT_EXAMPLES:-50}
bound=${CONTRACT_SECONDS:-1800}
work=$(mktemp -d "${TMPDIR:-/tmp}/contract.XXXXXX")
log="$logs/contract.log"
cp tests/contract/schemathesis.toml "$work/"
finish() { stop_one apigw; }
trap finish EXIT

started=$(date +%s)
start apigw "$tools/moto/bin/python" scripts/apigw.py --port-file "$work/port"
wait_for apigw 20 test -s "$work/port"
url="http://127.0.0.1:$(cat "$work/port")"
"$tools/schemathesis/bin/python" tests/contract/setup.py "$url" "$work"
set -a; . "$work/env"; set +a

status=0
(
  cd "$work" # the config's dictionaries are read beside it
  PYTHONPATH="$root/tests/contract" SCHEMATHESIS_HOOKS=hooks timeout "$bound" \
    "$tools/schemathesis/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$root/openapi.yaml" \
    --url "$url" --max-examples "$examples" --workers 2 --request-timeout 60 --no-color \
    --generation-database none ${CONTRACT_SEED:+--seed "$CONTRACT_SEED"} \
    --report junit --report-dir "$work/report" "$@"
) >"$log" 2>&1 || status=$?
elapsed=$(($(date +%s) - started))

# One closing line: operations and cases from schemathesis' summary, then its verdict.
ops=$(sed -n 's/^ *Tested: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
cases=$(sed -n 's/^ *\([0-9]*\) generated.*/\1/p' "$log" | tail -n 1)
verdict=$(sed -n 's/^=\{3,\} \(.*\) =\{3,\}$/\1/p' "$log" | tail -n 1)
if [ "$status" = 124 ]; then
  echo "contract: stopped after ${bound} s (CONTRACT_SECONDS); log: $log"
elif [ "$status" != 0 ]; then
  sed -n '/^=* \(FAILURES\|ERRORS\) =*$/,/^=* WARNINGS =*$/p' "$log" | head -n 200
  echo "contract: FAILED, ${ops:-?} operations, ${cases:-?} cases: ${verdict:-see the log}; ${elapsed} s in all; log: $log"
else
  echo "contract: passed, ${ops:-?} operations, ${cases:-?} cases: ${verdict:-}; ${elapsed} s in all"
fi
[ -n "${CONTRACT_KEEP:-}" ] && echo "contract: run folder kept: $work" || rm -rf "$work"
exit "$status"
