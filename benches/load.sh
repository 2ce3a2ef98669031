#!/usr/bin/env bash
# Load benchmarks with wrk (Debian package `wrk`), all on loopback, bounded in time:
#   - axum hello-world (the baseline, examples/hello_world.rs)
#   - GET /auth/verify with a valid session cookie (forward auth hot path)
#   - POST /oauth2/token client_credentials (token minting + client authentication)
#   - GET /auth/verify latency at half of its max rate (wrk2-style pacing is not available in
#     wrk, so the script reports wrk's latency distribution at a fixed lower connection count)
# Usage: benches/load.sh   (builds the release binary and the example first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
cargo build --release --bin idbridge --example hello_world >/dev/null
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d)
DURATION=${DURATION:-10s}
trap 'kill $HELLO $IDB 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$BIN/examples/hello_world" 127.0.0.1:18090 & HELLO=$!
(cd "$DIR" && exec env IDBRIDGE_SERVER__BIND=127.0.0.1:18091 IDBRIDGE_SERVER__INSECURE_DEV_COOKIES=true \
  IDBRIDGE_LOG__LEVEL=warn "$BIN/idbridge" serve >/dev/null 2>&1) & IDB=$!
for _ in $(seq 1 60); do curl -fsS http://127.0.0.1:18091/healthz >/dev/null 2>&1 && break; sleep 0.5; done
U=http://127.0.0.1:18091
curl -fsS -X POST $U/api/auth/register -H 'content-type: application/json' \
  -d '{"email":"ada@example.com","password":"Passw0rd-Strong","first_name":"Ada"}' >/dev/null
LOGIN=$(curl -fsS -i -X POST $U/api/auth/login -H 'content-type: application/json' -d '{"email":"ada@example.com","password":"Passw0rd-Strong"}')
COOKIE=$(printf '%s' "$LOGIN" | grep -i '^set-cookie:' | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]*);.*/\1/' | tr -d '\r')
TOKEN=$(printf '%s' "$LOGIN" | tail -n1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
CLIENT=$(curl -fsS -X POST $U/api/oauth-clients -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"name":"bench","grant_types":["client_credentials"],"scopes":["reports:read"]}')
CID=$(printf '%s' "$CLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
CSECRET=$(printf '%s' "$CLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
cat > "$DIR/token.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials&client_id=$CID&client_secret=$CSECRET"
LUA
run() { echo "== $1"; shift; wrk --latency "$@" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx" ; }
run "hello-world (baseline)" -t2 -c64 -d"$DURATION" http://127.0.0.1:18090/
run "GET /auth/verify, valid session cookie" -t2 -c64 -d"$DURATION" -H "Cookie: $COOKIE" $U/auth/verify
run "GET /auth/verify, 16 connections (latency)" -t2 -c16 -d"$DURATION" -H "Cookie: $COOKIE" $U/auth/verify
run "POST /oauth2/token client_credentials" -t2 -c32 -d"$DURATION" -s "$DIR/token.lua" $U/oauth2/token
echo "== idbridge RSS after the runs: $(grep VmRSS /proc/$IDB/status 2>/dev/null | awk '{print $2 " kB"}')"
