#!/usr/bin/env bash
# Registers through `cargo lambda watch` twice: over its function URL, and by invoking the
# function by name with an API Gateway v2 event. Needs `make up`.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; . .local/env; set +a
u=smoke$(date +%s%N)
body=$(printf '{"edition":"free","site":"cn1","username":"%s","email":"%s@example.com","phone":"+86%s","password":"s3cret-pass","workspace":{"name":"smoke","language":"en"}}' "$u" "$u" "$(date +%s%N | tail -c 12)")
status=$(curl -s -o /tmp/smoke-url.json -w '%{http_code}' -X POST "$WATCH_URL/lambda-url/register/v1/registrations" \
  -H 'content-type: application/json' -d "$body")
[ "$status" = 201 ] || { echo "function URL registration: HTTP $status: $(cat /tmp/smoke-url.json)"; exit 1; }
echo "function URL: 201 $(head -c 120 /tmp/smoke-url.json)..."

u2=${u}b
body2=$(printf '{"edition":"free","site":"cn2","username":"%s","email":"%s@example.com","phone":"+86%s","password":"s3cret-pass","workspace":{"name":"smoke","language":"zh"}}' "$u2" "$u2" "$(date +%s%N | tail -c 12)")
event=$(python3 - "$body2" <<'PY'
import json, sys
print(json.dumps({
  "version": "2.0", "routeKey": "POST /v1/registrations", "rawPath": "/v1/registrations", "rawQueryString": "",
  "headers": {"content-type": "application/json"},
  "requestContext": {"accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
    "http": {"method": "POST", "path": "/v1/registrations", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "smoke"},
    "requestId": "smoke", "routeKey": "POST /v1/registrations", "stage": "$default", "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0},
  "body": sys.argv[1], "isBase64Encoded": False}))
PY
)
out=$(curl -s -X POST "$WATCH_URL/2015-03-31/functions/register/invocations" -d "$event")
echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["statusCode"]==201, r; print("invoke by name: 201", r["body"][:100]+"...")'
