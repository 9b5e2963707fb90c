#!/usr/bin/env bash
# Calls the local KooGallery endpoint as KooGallery does (needs `make up`): signs a JSON body
# with the key in .local/env, a millisecond timestamp and a fresh nonce, POSTs it through
# cargo lambda watch, and prints the answer and its Body-Sign header.
#   scripts/koogallery.sh '{"activity":"newInstance","orderId":"CS1","orderLineId":"CS1-1","businessId":"b1","buyerInfo":{"customerId":"0123456789abcdef0123456789abcdef"}}'
#   scripts/koogallery.sh '{"activity":"updateInstanceStatus","instanceId":"hw...","instanceStatus":"FREEZE"}'
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . .local/env; set +a
body=${1:?usage: scripts/koogallery.sh '<json body>'}
ts=$(date +%s%3N)
nonce=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
# signature = HEX(HMAC-SHA256(key, key + nonce + timestamp + hex(HMAC-SHA256(key, body))))
inner=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$HUAWEI_KOOGALLERY_KEY" -r | cut -d' ' -f1)
sig=$(printf '%s%s%s%s' "$HUAWEI_KOOGALLERY_KEY" "$nonce" "$ts" "$inner" | openssl dgst -sha256 -hmac "$HUAWEI_KOOGALLERY_KEY" -r | cut -d' ' -f1)
curl -s -D - -X POST "$WATCH_URL/lambda-url/marketplace-webhook/v1/marketplace/huawei?signature=$sig&timestamp=$ts&nonce=$nonce" \
  -H 'content-type: application/json' -d "$body"
echo
