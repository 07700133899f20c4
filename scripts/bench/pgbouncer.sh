#!/usr/bin/env bash
# PgBouncer collection cost per cycle: fedimeter's long-lived admin connection vs a login per
# cycle (what pgbouncer_exporter >= 0.11 does on every scrape), and Debian's
# prometheus-pgbouncer-exporter when it can run.
#
# Starts a throwaway PostgreSQL and a PgBouncer (auth_type scram-sha-256, POOLS databases,
# each with a pool made by one client login) in a temp dir. For each of RUNS runs it measures,
# over CYCLES collections after 3 warm-up ones (examples/pgbouncer_bench.rs):
#   - keep:  fedimeter's collector as it runs in production (one connection, SHOW commands);
#   - login: the same collector with a new connection and SCRAM login every cycle;
# fedimeter's own CPU (getrusage) and PgBouncer's CPU (/proc/<pid>/stat), microseconds/cycle.
# Then it starts Debian's prometheus-pgbouncer-exporter against the same PgBouncer and, if it
# serves /metrics, measures its CPU and PgBouncer's per scrape the same way.
#
# Usage: scripts/bench/pgbouncer.sh [RUNS=5] [CYCLES=200] [POOLS=50]
# Env: PROFILE=dev|release (cargo profile of the bench binary; default dev, which needs no
# rebuild of the dependency tree and only overstates fedimeter's own cost).
set -euo pipefail

RUNS=${1:-5}
CYCLES=${2:-200}
POOLS=${3:-50}
PROFILE=${PROFILE:-dev}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "postgresql missing (apt-get install postgresql)" >&2; exit 1; }
command -v pgbouncer >/dev/null || PATH=$PATH:/usr/sbin
command -v pgbouncer >/dev/null || { echo "pgbouncer missing (apt-get install pgbouncer)" >&2; exit 1; }

cargo build --quiet --profile "$PROFILE" --example pgbouncer_bench
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
case "$PROFILE" in dev) SUBDIR=debug ;; *) SUBDIR=$PROFILE ;; esac
BENCH="$TARGET_DIR/$SUBDIR/examples/pgbouncer_bench"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# PostgreSQL and PgBouncer refuse to run as root.
as_service() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

TMP=$(mktemp -d)
[ "$(id -u)" = 0 ] && chown postgres "$TMP"
PGPORT=$(free_port)
BPORT=$(free_port)
EPORT=$(free_port)
EPID=""
cleanup() {
  [ -n "$EPID" ] && kill "$EPID" 2>/dev/null || true
  [ -f "$TMP/pgbouncer.pid" ] && kill "$(cat "$TMP/pgbouncer.pid")" 2>/dev/null || true
  as_service "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

as_service "$PGBIN/initdb" -D "$TMP/data" -U postgres --auth=trust >/dev/null
as_service "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/pg.log" -w \
  -o "-p $PGPORT -k $TMP -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null

PASSWORD=bench-stats-pw
{
  echo "[databases]"
  for i in $(seq "$POOLS"); do echo "db$i = host=127.0.0.1 port=$PGPORT dbname=postgres"; done
  cat <<EOF
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $TMP/userlist.txt
admin_users = stats
stats_users = stats
pool_mode = transaction
default_pool_size = 5
logfile = $TMP/pgbouncer.log
pidfile = $TMP/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
} >"$TMP/pgbouncer.ini"
printf '"stats" "%s"\n"postgres" "%s"\n' "$PASSWORD" "$PASSWORD" >"$TMP/userlist.txt"
[ "$(id -u)" = 0 ] && chown postgres "$TMP/pgbouncer.ini" "$TMP/userlist.txt"
as_service pgbouncer -d "$TMP/pgbouncer.ini"
for _ in $(seq 50); do [ -s "$TMP/pgbouncer.pid" ] && break; sleep 0.1; done
BPID=$(cat "$TMP/pgbouncer.pid")
export PGPASSWORD=$PASSWORD
for i in $(seq "$POOLS"); do
  "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$BPORT" -U postgres "db$i" -c 'SELECT 1' >/dev/null
done
ADMIN="postgres://stats:$PASSWORD@127.0.0.1:$BPORT/pgbouncer"
echo "pgbouncer $(pgbouncer --version | head -1) pid=$BPID pools=$POOLS profile=$PROFILE"

proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

RESULTS="$TMP/results"
: >"$RESULTS"
for run in $(seq "$RUNS"); do
  for mode in keep login; do
    line=$("$BENCH" "$ADMIN" "$BPID" "$mode" "$CYCLES" 3)
    echo "run=$run $line"
    own=$(sed -E 's/.*fedimeter_cpu_us_per_cycle=([0-9.]+).*/\1/' <<<"$line")
    bouncer=$(sed -E 's/.*pgbouncer_cpu_us_per_cycle=([0-9.]+).*/\1/' <<<"$line")
    wall=$(sed -E 's/.*wall_us_per_cycle=([0-9.]+).*/\1/' <<<"$line")
    echo "$mode $own $bouncer $wall" >>"$RESULTS"
  done
done

EXPORTER=$(command -v prometheus-pgbouncer-exporter || true)
if [ -n "$EXPORTER" ]; then
  "$EXPORTER" --host 127.0.0.1 --port "$EPORT" --pgbouncer-host 127.0.0.1 --pgbouncer-port "$BPORT" \
    --pgbouncer-user stats >"$TMP/exporter.log" 2>&1 &
  EPID=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$EPORT/metrics" >/dev/null 2>&1 && break; sleep 0.1; done
  if curl -fs "http://127.0.0.1:$EPORT/metrics" >/dev/null 2>&1; then
    for run in $(seq "$RUNS"); do
      for _ in 1 2 3; do curl -fs "http://127.0.0.1:$EPORT/metrics" >/dev/null; done
      t0=$(proc_ticks "$EPID"); b0=$(proc_ticks "$BPID")
      for _ in $(seq "$CYCLES"); do curl -fs "http://127.0.0.1:$EPORT/metrics" >/dev/null; done
      t1=$(proc_ticks "$EPID"); b1=$(proc_ticks "$BPID")
      own=$(awk -v a="$t0" -v b="$t1" -v n="$CYCLES" -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", (b-a)*1e6/hz/n}')
      bouncer=$(awk -v a="$b0" -v b="$b1" -v n="$CYCLES" -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", (b-a)*1e6/hz/n}')
      echo "run=$run debian-exporter exporter_cpu_us_per_scrape=$own pgbouncer_cpu_us_per_scrape=$bouncer"
      echo "debian $own $bouncer 0" >>"$RESULTS"
    done
  else
    echo "debian prometheus-pgbouncer-exporter ($("$EXPORTER" --version 2>&1 | head -1)) does not serve /metrics against this PgBouncer:"
    grep -E 'Error|error' "$TMP/exporter.log" | tail -2 | sed 's/^/  /'
  fi
fi

echo
echo "medians over $RUNS runs of $CYCLES cycles (microseconds per collection cycle), profile=$PROFILE:"
printf '%-28s %14s %14s %14s\n' mode own_cpu pgbouncer_cpu wall
declare -A M
for mode in keep login debian; do
  grep -q "^$mode " "$RESULTS" || continue
  for col in 2 3 4; do
    M[$mode,$col]=$(awk -v m="$mode" -v c="$col" '$1==m{print $c}' "$RESULTS" | median)
  done
  printf '%-28s %14s %14s %14s\n' "$mode" "${M[$mode,2]}" "${M[$mode,3]}" "${M[$mode,4]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
echo
echo "PgBouncer CPU, keep/login:   $(ratio "${M[keep,3]}" "${M[login,3]}")"
echo "fedimeter CPU, keep/login:   $(ratio "${M[keep,2]}" "${M[login,2]}")"
if [ -n "${M[debian,2]:-}" ]; then
  echo "own CPU, fedimeter/debian:   $(ratio "${M[keep,2]}" "${M[debian,2]}")"
  echo "PgBouncer CPU, fedimeter/debian: $(ratio "${M[keep,3]}" "${M[debian,3]}")"
fi
