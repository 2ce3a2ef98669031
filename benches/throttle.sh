#!/usr/bin/env bash
# Throttling under a password flood, with wrk (Debian package `wrk`), on loopback:
#   1. GET /auth/verify with a valid session cookie, unloaded;
#   2. the same while a flood of wrong passwords for one account arrives from ONE client address
#      (X-Forwarded-For through a trusted proxy), and meanwhile the account's owner signs in from
#      another address (each sign-in timed);
#   3. the same with the flood spread over many addresses (a new address per request), which the
#      per-address limits cannot stop: it meets the per-account back-off and the bounded hashing
#      queue (503 overloaded).
# Goals (tenant isolation issue): in 2, forward auth keeps >= 0.8x its unloaded rate and the owner
# signs in within 1 s. Everything runs with the shipped defaults ([throttle], argon2id cost).
# Usage: benches/throttle.sh   (builds the release binary first; DURATION=10s, SKIP_BUILD=1,
# FLOOD_CONNECTIONS=16: the flood's wrk connections; 1 gives a flood of about one request at a time)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bin idbridge >/dev/null
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d)
DURATION=${DURATION:-10s}
trap 'kill $IDB ${FLOOD:-} 2>/dev/null || true; rm -rf "$DIR"' EXIT
(cd "$DIR" && exec env IDBRIDGE_SERVER__BIND=127.0.0.1:18094 IDBRIDGE_SERVER__INSECURE_DEV_COOKIES=true \
  IDBRIDGE_SERVER__TRUSTED_PROXIES='["127.0.0.1"]' IDBRIDGE_LOG__LEVEL=error "$BIN/idbridge" serve >/dev/null 2>&1) & IDB=$!
U=http://127.0.0.1:18094
for _ in $(seq 1 60); do curl -fsS $U/healthz >/dev/null 2>&1 && break; sleep 0.5; done
(cd "$DIR" && IDBRIDGE_LOG__LEVEL=error "$BIN/idbridge" bootstrap --email ada@example.com --password Passw0rd-Strong --first-name Ada >/dev/null)
COOKIE=$(curl -fsS -i -X POST $U/api/auth/login -H 'content-type: application/json' -H 'x-forwarded-for: 198.51.100.2' \
  -d '{"email":"ada@example.com","password":"Passw0rd-Strong"}' \
  | grep -i '^set-cookie:' | sed -E 's/^[Ss]et-[Cc]ookie: ([^;]*);.*/\1/' | tr -d '\r')
flood_lua() { # $1: "one" or "many" addresses
  cat <<LUA
local n = 0
request = function()
  n = n + 1
  local ip = "203.0.113.7"
  if "$1" == "many" then ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256) end
  return wrk.format("POST", "/api/auth/login", {["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip},
    '{"email":"ada@example.com","password":"Wrong-Passw0rd"}')
end
LUA
}
rate() { wrk -t1 -c32 -d"$DURATION" -H "Cookie: $COOKIE" $U/auth/verify | awk '/Requests\/sec/ {print $2}'; }
owner_logins() { # five timed sign-ins of the owner from her own address, one a second
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST $U/api/auth/login -H 'content-type: application/json' \
      -H 'x-forwarded-for: 198.51.100.2' -d '{"email":"ada@example.com","password":"Passw0rd-Strong"}'
    sleep 1
  done
}
echo "== forward auth, unloaded"
R0=$(rate); echo "$R0 req/s"
for mode in one many; do
  echo "== forward auth during a wrong-password flood from $mode address(es)"
  flood_lua $mode > "$DIR/flood.lua"
  wrk -t1 -c"${FLOOD_CONNECTIONS:-16}" -d"$(( ${DURATION%s} + 8 ))s" -s "$DIR/flood.lua" $U/api/auth/login > "$DIR/flood.out" 2>&1 & FLOOD=$!
  sleep 1
  owner_logins > "$DIR/owner.out" &
  OWNER=$!
  R1=$(rate)
  wait $OWNER
  wait $FLOOD; FLOOD=
  awk -v r1="$R1" -v r0="$R0" 'BEGIN { printf "%s req/s = %.2fx unloaded\n", r1, r1 / r0 }'
  echo "flood: $(awk '/Requests\/sec/ {print $2 " req/s"}' "$DIR/flood.out"), $(grep -E 'Non-2xx' "$DIR/flood.out" | xargs)"
  echo "owner's sign-ins from her own address (status, seconds):"
  sed 's/^/  /' "$DIR/owner.out"
done
