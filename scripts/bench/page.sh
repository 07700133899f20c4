#!/usr/bin/env bash
# The public page and API under load: wrk (Debian's) against fedimeter's `/` and
# `/api/v2/summary.json` on loopback, side by side in the same run with nginx (Debian's)
# serving the same bytes as static files. Prints requests/s and p99 latency for each, the
# ratio fedimeter/nginx, and fedimeter's RSS while serving (VmRSS after the runs, VmHWM).
# The issue's targets: ≥ 80 % of nginx's requests/s, p99 < 10 ms, RSS < 25 MiB.
#
# Usage: scripts/bench/page.sh [DURATION=10s] [CONNECTIONS=32]
# Env: PROFILE=release (default; the shipped profile, rebuilds the whole dependency tree)
#      or dev (debug build: only to check the script, its numbers mean nothing).
# Installs wrk and nginx with apt-get when they are missing.
set -euo pipefail

DURATION=${1:-10s}
CONNECTIONS=${2:-32}
PROFILE=${PROFILE:-release}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get install -y --no-install-recommends "${need[@]}" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

case "$PROFILE" in
  dev) cargo build --quiet --bin fedimeter; SUBDIR=debug ;;
  *) cargo build --quiet --profile "$PROFILE" --bin fedimeter; SUBDIR=$PROFILE ;;
esac
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET_DIR/$SUBDIR/fedimeter"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

TMP=$(mktemp -d)
FPORT=$(free_port)
NPORT=$(free_port)
FPID=""
NPID=""
cleanup() {
  [ -n "$FPID" ] && kill "$FPID" 2>/dev/null || true
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

cat >"$TMP/fedimeter.toml" <<TOML
listen = "127.0.0.1:$FPORT"
[site]
title = "bench.example status"
[store]
url = "sqlite://$TMP/fedimeter.db"
[[probe]]
name = "web"
url = "http://127.0.0.1:$NPORT/index.html"
[[component]]
name = "Website"
id = "website"
probes = ["web"]
[[component]]
name = "Streaming"
id = "streaming"
probes = ["web"]
TOML
(cd "$TMP" && "$BIN" incident open --title "Slow timelines" --component website=degraded_performance \
  -m "We are looking at https://bench.example/notes" >/dev/null)
(cd "$TMP" && "$BIN" incident update 1 --status monitoring -m "A fix is out." >/dev/null)

# nginx serves the same bytes, so its probe (and fedimeter's) succeeds once both are up.
mkdir -p "$TMP/www" "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<NGINX
worker_processes 2;
error_log $TMP/nginx/error.log;
pid $TMP/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  include /etc/nginx/mime.types;
  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx; fastcgi_temp_path $TMP/nginx;
  uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;
  server { listen 127.0.0.1:$NPORT; root $TMP/www; etag on; }
}
NGINX
echo ok >"$TMP/www/index.html"
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' &
NPID=$!
(cd "$TMP" && RUST_LOG=warn exec "$BIN" serve >"$TMP/fedimeter.log" 2>&1) &
FPID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$FPORT/api/v2/summary.json" | grep -q '"indicator"' && break
  sleep 0.1
done
sleep 3   # a few probe results and one re-render with the components' states
curl -sf "http://127.0.0.1:$FPORT/" >"$TMP/www/index.html"
curl -sf "http://127.0.0.1:$FPORT/api/v2/summary.json" >"$TMP/www/summary.json"

run() { # url → "rps p99_ms"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$1" | python3 -c '
import re, sys
out = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
print(f"{rps:.0f} {p99:.2f}")'
}

printf '| document | bytes | nginx req/s | fedimeter req/s | ratio | nginx p99 | fedimeter p99 |\n'
printf '|---|---|---|---|---|---|---|\n'
for doc in "/ index.html" "/api/v2/summary.json summary.json"; do
  set -- $doc
  read -r nrps np99 < <(run "http://127.0.0.1:$NPORT/$2")
  read -r frps fp99 < <(run "http://127.0.0.1:$FPORT$1")
  bytes=$(wc -c <"$TMP/www/$2")
  ratio=$(python3 -c "print(f'{$frps / $nrps * 100:.0f} %')")
  printf '| `%s` | %s | %s | %s | %s | %s ms | %s ms |\n' "$1" "$bytes" "$nrps" "$frps" "$ratio" "$np99" "$fp99"
done
rss=$(awk '/VmRSS/ {print $2}' "/proc/$FPID/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$FPID/status")
printf '\nfedimeter RSS after the runs: %s KiB (peak %s KiB); profile %s, %s connections, %s per run\n' \
  "$rss" "$hwm" "$PROFILE" "$CONNECTIONS" "$DURATION"
