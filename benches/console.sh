#!/usr/bin/env bash
# The console's users page under load with 100,000 users in the tenant (wrk, loopback):
#   - GET /console/users: the first page, rendered server-side (stat cards, table, settings)
#   - GET /console/users?search=...&fragment=table: search as you type (the table alone)
# Both through the same service calls and indexes as GET /api/users. The users come from the
# CSV import (placeholder profiles, ten files of 10,000 rows). Targets: first page p99 < 50 ms,
# search p99 < 30 ms, at 4 connections.
# Usage: benches/console.sh   (builds the release binary first; DURATION=10s USERS=100000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bin idbridge >/dev/null
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d)
DURATION=${DURATION:-10s}
USERS=${USERS:-100000}
trap 'kill $IDB 2>/dev/null || true; rm -rf "$DIR"' EXIT
(cd "$DIR" && exec env IDBRIDGE_SERVER__BIND=127.0.0.1:18095 IDBRIDGE_SERVER__INSECURE_DEV_COOKIES=true \
  IDBRIDGE_SERVER__BODY_LIMIT_BYTES=4194304 IDBRIDGE_LOG__LEVEL=warn "$BIN/idbridge" serve >/dev/null 2>&1) & IDB=$!
for _ in $(seq 1 60); do curl -fsS http://127.0.0.1:18095/healthz >/dev/null 2>&1 && break; sleep 0.5; done
U=http://127.0.0.1:18095
(cd "$DIR" && IDBRIDGE_LOG__LEVEL=warn "$BIN/idbridge" bootstrap --email ada@example.com --password Passw0rd-Strong --first-name Ada >/dev/null)
LOGIN=$(curl -fsS -i -X POST $U/api/auth/login -H 'content-type: application/json' -d '{"email":"ada@example.com","password":"Passw0rd-Strong"}')
COOKIE=$(printf '%s' "$LOGIN" | grep -i '^set-cookie:' | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]*);.*/\1/' | tr -d '\r')
TOKEN=$(printf '%s' "$LOGIN" | tail -n1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
start=$SECONDS
for batch in $(seq 0 $(( (USERS - 1) / 10000 ))); do
  python3 - "$batch" "$USERS" > "$DIR/batch.csv" <<'PY'
import sys
batch, total = int(sys.argv[1]), int(sys.argv[2])
print("email,name,initial_roles")
def letters(n):  # names are letters only: 0 -> Aaaaa, 1 -> Aaaab, ...
    out = ""
    for _ in range(5):
        out = "abcdefghijklmnopqrstuvwxyz"[n % 26] + out
        n //= 26
    return out.capitalize()
for i in range(batch * 10000, min(total, (batch + 1) * 10000)):
    print(f"user{i:06d}@example.com,Person {letters(i)},requester")
PY
  curl -fsS -X POST "$U/api/users/import" -H "authorization: Bearer $TOKEN" -H 'content-type: text/csv' \
    --data-binary "@$DIR/batch.csv" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("  imported", r["created"], "users, failed", r["failed"], [x.get("error") for x in r["results"] if x.get("error")][:1])'
done
echo "seeded $USERS users in $((SECONDS - start)) s"
run() { echo "== $1"; shift; wrk --latency "$@" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx" ; }
curl -fsS -o /dev/null -w 'first page once: %{http_code} in %{time_total} s\n' -H "Cookie: $COOKIE" "$U/console/users"
TOTAL=$(curl -fsS -H "Cookie: $COOKIE" "$U/console/users" | grep -o 'data-stat="total">[0-9]*' | grep -o '[0-9]*$')
echo "the page's Total Users card: $TOTAL"
for path in "/api/users?page_size=25" "/api/users/stats" "/api/roles" "/api/users?page_size=25&search=user0424" "/api/users?page_size=25&search=qz"; do
  curl -fsS -o /dev/null -w "  the API's own $path: %{time_total} s\n" -H "authorization: Bearer $TOKEN" "$U$path"
done
[ "$TOTAL" -gt "$USERS" ] || { echo "seeding failed: $TOTAL users" >&2; exit 1; }
run "GET /console/users (first page, $USERS users), 4 connections" -t2 -c4 -d"$DURATION" -H "Cookie: $COOKIE" "$U/console/users"
run "GET /console/users?search=user0424&fragment=table (search as you type), 4 connections" -t2 -c4 -d"$DURATION" -H "Cookie: $COOKIE" "$U/console/users?search=user0424&fragment=table"
run "GET /console/users?search=Person%20Aab&fragment=table (a name prefix, 676 matches), 4 connections" -t2 -c4 -d"$DURATION" -H "Cookie: $COOKIE" "$U/console/users?search=Person%20Aab&fragment=table"
run "GET /console/users?search=qz&fragment=table (a name fragment anywhere), 4 connections" -t2 -c4 -d"$DURATION" -H "Cookie: $COOKIE" "$U/console/users?search=qz&fragment=table"
