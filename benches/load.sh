#!/usr/bin/env bash
# Load benchmarks with wrk (Debian package `wrk`), all on loopback, bounded in time:
#   - axum hello-world (the baseline, examples/hello_world.rs)
#   - GET /auth/verify with a valid session cookie (forward auth hot path)
#   - POST /oauth2/token client_credentials (token minting + client authentication)
#   - GET /auth/verify latency at about half of its max rate (wrk cannot pace a fixed rate, so
#     the script runs wrk with 4 connections, which measured at about half the max rate; compare
#     the printed rate with half of the 64-connection run's)
#   - token minting: GET /auth/verify with forward_auth.pass_access_token = true (a fresh access
#     token per request), ES256 (the default) and EdDSA, alternating with hello-world ROUNDS
#     times (default 3), each with the server's CPU time per request
#   - POST /oauth2/token grant_type=refresh_token with rotation: one refresh-token family per
#     connection, each response's new refresh token used for the next request
#   - GET /api/rbac/can-i (cookie; access token with tenant=) and GET /api/me, each beside a
#     hello-world run, ROUNDS times, with the ratio
# Usage: benches/load.sh   (builds the release binary and the example first; DURATION=10s ROUNDS=3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bin idbridge --example hello_world >/dev/null
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d)
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
DIR2=$(mktemp -d)
trap 'kill $HELLO $IDB ${MINT:-} ${MINT_ED:-} 2>/dev/null || true; rm -rf "$DIR" "$DIR2"' EXIT
"$BIN/examples/hello_world" 127.0.0.1:18090 & HELLO=$!
(cd "$DIR" && exec env IDBRIDGE_SERVER__BIND=127.0.0.1:18091 IDBRIDGE_SERVER__INSECURE_DEV_COOKIES=true \
  IDBRIDGE_LOG__LEVEL=warn "$BIN/idbridge" serve >/dev/null 2>&1) & IDB=$!
for _ in $(seq 1 60); do curl -fsS http://127.0.0.1:18091/healthz >/dev/null 2>&1 && break; sleep 0.5; done
U=http://127.0.0.1:18091
(cd "$DIR" && IDBRIDGE_LOG__LEVEL=warn "$BIN/idbridge" bootstrap --email ada@example.com --password Passw0rd-Strong --first-name Ada >/dev/null)
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
# Refresh-token families for the rotation run: code flow once per connection.
RCLIENT=$(curl -fsS -X POST $U/api/oauth-clients -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"name":"bench-rp","confidential":true,"first_party":true,"redirect_uris":["http://127.0.0.1:9/cb"],"grant_types":["authorization_code","refresh_token"],"scopes":["openid","email"]}')
RID=$(printf '%s' "$RCLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
RSECRET=$(printf '%s' "$RCLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
CONNS=8
FAMILIES=""
for _ in $(seq 1 $CONNS); do
  LOC=$(curl -fsS -o /dev/null -w '%{redirect_url}' -H "Cookie: $COOKIE" \
    "$U/oauth2/authorize?client_id=$RID&redirect_uri=http://127.0.0.1:9/cb&response_type=code&scope=openid%20email")
  CODE=$(printf '%s' "$LOC" | sed -E 's/.*[?&]code=([^&]*).*/\1/')
  RT=$(curl -fsS -u "$RID:$RSECRET" -X POST $U/oauth2/token \
    -d "grant_type=authorization_code&code=$CODE&redirect_uri=http://127.0.0.1:9/cb" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')
  FAMILIES="$FAMILIES\"$RT\","
done
BASIC=$(printf '%s:%s' "$RID" "$RSECRET" | base64 -w0)
cat > "$DIR/refresh.lua" <<LUA
local families = {$FAMILIES}
local n = 0
function setup(thread) n = n + 1; thread:set("rt", families[n]) end
function request()
  return wrk.format("POST", "/oauth2/token", {["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic $BASIC"}, "grant_type=refresh_token&refresh_token=" .. rt)
end
function response(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if t then rt = t end
end
LUA
run() { echo "== $1"; shift; wrk --latency "$@" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx" ; }
run "hello-world (baseline)" -t2 -c64 -d"$DURATION" http://127.0.0.1:18090/
run "GET /auth/verify, valid session cookie" -t2 -c64 -d"$DURATION" -H "Cookie: $COOKIE" $U/auth/verify
run "GET /auth/verify, 4 connections (latency at about half the max rate)" -t2 -c4 -d"$DURATION" -H "Cookie: $COOKIE" $U/auth/verify
run "POST /oauth2/token client_credentials" -t2 -c32 -d"$DURATION" -s "$DIR/token.lua" $U/oauth2/token
run "POST /oauth2/token refresh_token with rotation ($CONNS families)" -t$CONNS -c$CONNS -d"$DURATION" -s "$DIR/refresh.lua" $U/oauth2/token
# The admin API from the verified-credential cache, each run beside a hello-world run (32
# connections, as apps call can-i on their own hot paths): goal can-i >= 0.80x, /api/me >= 0.50x.
rate() { wrk "$@" | awk '/Requests\/sec/ {print $2}'; }
echo "== the admin API beside hello-world, 32 connections, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  H=$(rate -t2 -c32 -d"$DURATION" http://127.0.0.1:18090/)
  CI=$(rate -t2 -c32 -d"$DURATION" -H "Cookie: $COOKIE" "$U/api/rbac/can-i?permission=users:read")
  CT=$(rate -t2 -c32 -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$U/api/rbac/can-i?permission=users:read&tenant=default")
  ME=$(rate -t2 -c32 -d"$DURATION" -H "Cookie: $COOKIE" "$U/api/me")
  python3 -c "h, ci, ct, me = $H, $CI, $CT, $ME; print(f'-- round $round: hello-world {h:,.0f} req/s; can-i (cookie) {ci:,.0f} = {ci / h:.2f}x; can-i (token, tenant=) {ct:,.0f} = {ct / h:.2f}x; /api/me {me:,.0f} = {me / h:.2f}x')"
done
echo "== idbridge RSS after the runs: $(grep VmRSS /proc/$IDB/status 2>/dev/null | awk '{print $2 " kB"}')"
# Token minting: a second server on the same database mints an access token per verification
# (ES256, the default), and a third on its own database does the same with an EdDSA key. The
# baseline is noisy from run to run on a shared 2-core machine, so hello-world and the minting
# servers alternate ROUNDS times, and each line also gives the server's own CPU time per request
# (user + system, from /proc), which does not depend on how wrk and the server share the cores.
(cd "$DIR" && exec env IDBRIDGE_SERVER__BIND=127.0.0.1:18092 IDBRIDGE_SERVER__INSECURE_DEV_COOKIES=true \
  IDBRIDGE_FORWARD_AUTH__PASS_ACCESS_TOKEN=true IDBRIDGE_LOG__LEVEL=warn "$BIN/idbridge" serve >/dev/null 2>&1) & MINT=$!
(cd "$DIR2" && exec env IDBRIDGE_SERVER__BIND=127.0.0.1:18093 IDBRIDGE_SERVER__INSECURE_DEV_COOKIES=true \
  IDBRIDGE_FORWARD_AUTH__PASS_ACCESS_TOKEN=true IDBRIDGE_KEYS__ALGORITHM=EdDSA IDBRIDGE_LOG__LEVEL=warn \
  "$BIN/idbridge" serve >/dev/null 2>&1) & MINT_ED=$!
for port in 18092 18093; do
  for _ in $(seq 1 60); do curl -fsS http://127.0.0.1:$port/healthz >/dev/null 2>&1 && break; sleep 0.5; done
done
kill $IDB; IDB=
E=http://127.0.0.1:18093
(cd "$DIR2" && IDBRIDGE_KEYS__ALGORITHM=EdDSA IDBRIDGE_LOG__LEVEL=warn "$BIN/idbridge" bootstrap --email ada@example.com --password Passw0rd-Strong --first-name Ada >/dev/null)
COOKIE_ED=$(curl -fsS -i -X POST $E/api/auth/login -H 'content-type: application/json' \
  -d '{"email":"ada@example.com","password":"Passw0rd-Strong"}' \
  | grep -i '^set-cookie:' | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]*);.*/\1/' | tr -d '\r')
for port_cookie in "18092 $COOKIE" "18093 $COOKIE_ED"; do
  set -- $port_cookie
  curl -fsS -o /dev/null -D - -H "Cookie: $2" http://127.0.0.1:$1/auth/verify | grep -qi '^authorization: Bearer ' \
    || { echo "the minting server on port $1 passed no token" >&2; exit 1; }
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measured() { # name pid wrk-arguments...: requests/s and the server's CPU microseconds per request
  local name=$1 pid=$2 c0 c1 out rate; shift 2
  c0=$(cpu "$pid"); out=$(wrk --latency "$@"); c1=$(cpu "$pid")
  rate=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {print $2}')
  printf '%s\n' "$out" | grep -E "Non-2xx" || true
  python3 -c "import sys; r, t, d = float('$rate'), ($c1 - $c0) / $(getconf CLK_TCK), float('${DURATION%s}'); print(f'$name: {r:,.0f} req/s, p99 $(printf '%s\n' "$out" | awk '/ 99%/ {print $2}'), server CPU {t / (r * d) * 1e6:.1f} us/req')"
}
echo "== token minting: GET /auth/verify minting a fresh access token per request, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
  echo "-- round $round"
  measured "hello-world" $HELLO -t2 -c64 -d"$DURATION" http://127.0.0.1:18090/
  measured "mint ES256" $MINT -t2 -c64 -d"$DURATION" -H "Cookie: $COOKIE" http://127.0.0.1:18092/auth/verify
  measured "mint EdDSA" $MINT_ED -t2 -c64 -d"$DURATION" -H "Cookie: $COOKIE_ED" $E/auth/verify
done
