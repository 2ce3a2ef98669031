#!/usr/bin/env bash
# Idle resident memory of `idbridge serve` on SQLite: start a release build in an empty folder,
# create the first admin, sign in once, wait, and read VmRSS/VmHWM from /proc.
#   benches/idle_rss.sh [path/to/idbridge]   (default: target/release/idbridge)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=$(realpath "${1:-target/release/idbridge}")
[ -x "$BIN" ] || { echo "build it first: cargo build --release --bin idbridge" >&2; exit 1; }
DIR=$(mktemp -d)
PORT=18099
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
(cd "$DIR" && exec env IDBRIDGE_SERVER__BIND=127.0.0.1:$PORT IDBRIDGE_LOG__LEVEL=warn "$BIN" serve >/dev/null 2>&1) &
PID=$!
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
(cd "$DIR" && IDBRIDGE_LOG__LEVEL=warn "$BIN" bootstrap --email ada@example.com --password Passw0rd-Strong --first-name Ada >/dev/null)
curl -fsS -X POST "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"ada@example.com","password":"Passw0rd-Strong"}' >/dev/null
sleep 5
# `serve` runs as a child of the subshell's exec: PID is the server itself.
grep -E 'VmRSS|VmHWM' "/proc/$PID/status"
