#!/usr/bin/env bash
# Sidekiq/Redis collection cost, fedimeter vs Debian's prometheus-redis-exporter -check-keys.
#
# Seeds a throwaway redis-server with N jobs spread over Mastodon's seven queues plus 50,000
# retries (and seven live Sidekiq processes), for N = 20,000 and 500,000. For each N and each
# of RUNS runs it measures, per collection cycle:
#   - fedimeter: the collector's own CPU (getrusage in examples/sidekiq_bench.rs) and Redis'
#     CPU (INFO cpu before/after), over CYCLES collections after 3 warm-up ones;
#   - redis_exporter (-check-keys 'queue:*,retry,schedule,dead'): its CPU from
#     /proc/<pid>/stat (utime+stime, clock ticks) and Redis' CPU, over CYCLES scrapes of
#     /metrics after 3 warm-up ones.
# Prints every run and the medians, and the ratios the issue asks for.
#
# Usage: scripts/bench/sidekiq.sh [RUNS=5] [CYCLES=100]
# Env: PROFILE=release|hot|dev — how the bench binary is built:
#   release  the shipped profile (optimized, thin LTO); rebuilds the whole dependency tree
#   hot      (default) the dev profile with fedimeter, redis and combine at opt-level 3 and
#            every other dependency (tokio, serde_json, …) unoptimized: reuses target/debug,
#            and can only overstate fedimeter's cost compared to release
#   dev      plain debug build (overstates it a lot)
set -euo pipefail

RUNS=${1:-5}
CYCLES=${2:-100}
PROFILE=${PROFILE:-hot}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

command -v redis-server >/dev/null || { echo "redis-server missing (apt-get install redis-server)" >&2; exit 1; }
EXPORTER=$(command -v prometheus-redis-exporter || true)
[ -n "$EXPORTER" ] || { echo "prometheus-redis-exporter missing (apt-get install prometheus-redis-exporter)" >&2; exit 1; }

case "$PROFILE" in
  hot)
    cargo build --quiet --example sidekiq_bench \
      --config 'profile.dev.opt-level=3' \
      --config 'profile.dev.package.redis.opt-level=3' \
      --config 'profile.dev.package.combine.opt-level=3' \
      --config 'profile.dev.package."*".opt-level=0'
    SUBDIR=debug ;;
  dev) cargo build --quiet --example sidekiq_bench; SUBDIR=debug ;;
  *) cargo build --quiet --profile "$PROFILE" --example sidekiq_bench; SUBDIR=$PROFILE ;;
esac
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BENCH="$TARGET_DIR/$SUBDIR/examples/sidekiq_bench"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

TMP=$(mktemp -d)
RPORT=$(free_port)
EPORT=$(free_port)
RPID=""
EPID=""
cleanup() {
  [ -n "$EPID" ] && kill "$EPID" 2>/dev/null || true
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$TMP" \
  --logfile "$TMP/redis.log" --lua-time-limit 60000 &
RPID=$!
R() { redis-cli -p "$RPORT" "$@"; }
for _ in $(seq 50); do R PING >/dev/null 2>&1 && break; sleep 0.1; done

"$EXPORTER" -redis.addr "redis://127.0.0.1:$RPORT" -web.listen-address "127.0.0.1:$EPORT" \
  -check-keys 'queue:*,retry,schedule,dead' >"$TMP/exporter.log" 2>&1 &
EPID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$EPORT/metrics" >/dev/null 2>&1 && break; sleep 0.1; done

SEED_JOBS='
local queues = {"default","push","ingress","mailers","pull","scheduler","fasp"}
local from, to, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = from, to do
  local q = queues[(i % 7) + 1]
  local t = now - (to - i) * 0.001
  redis.call("LPUSH", "queue:" .. q, string.format(
    "{\"class\":\"ActivityPub::DeliveryWorker\",\"args\":[\"https://example.com/users/%d/inbox\",%d],\"retry\":16,\"queue\":\"%s\",\"jid\":\"%024x\",\"created_at\":%.6f,\"enqueued_at\":%.6f}",
    i, i, q, i, t, t))
end
redis.call("SADD", "queues", unpack(queues))
return to'
SEED_RETRIES='
local n, now = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, n do
  redis.call("ZADD", "retry", now + (i % 3600), string.format(
    "{\"class\":\"ActivityPub::DeliveryWorker\",\"args\":[\"https://example.org/inbox\",%d],\"retry\":16,\"queue\":\"push\",\"jid\":\"r%023x\",\"retry_count\":3,\"error_class\":\"HTTP::TimeoutError\",\"failed_at\":%.6f}",
    i, i, now - 600))
end
return n'

seed() {
  local jobs=$1 now
  now=$(date +%s.%N)
  R FLUSHALL >/dev/null
  local from=1
  while [ "$from" -le "$jobs" ]; do
    local to=$((from + 99999)); [ "$to" -gt "$jobs" ] && to=$jobs
    R EVAL "$SEED_JOBS" 0 "$from" "$to" "$now" >/dev/null
    from=$((to + 1))
  done
  R EVAL "$SEED_RETRIES" 0 50000 "$now" >/dev/null
  local i q
  i=0
  for q in default push ingress mailers pull scheduler fasp; do
    i=$((i + 1))
    R SADD processes "sidekiq-$i:$((1000 + i)):abc" >/dev/null
    R HSET "sidekiq-$i:$((1000 + i)):abc" info "{\"hostname\":\"sidekiq-$i\",\"pid\":$((1000 + i)),\"concurrency\":25,\"queues\":[\"$q\"],\"identity\":\"sidekiq-$i:$((1000 + i)):abc\"}" \
      busy 3 beat "$now" quiet false rss 400000 >/dev/null
    R EXPIRE "sidekiq-$i:$((1000 + i)):abc" 3600 >/dev/null
  done
  echo "seeded $jobs jobs + 50000 retries; used_memory=$(R INFO memory | tr -d '\r' | awk -F: '/^used_memory_human/{print $2}')"
}

redis_cpu_us() { R INFO cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/{s+=$2} END{printf "%.0f", s*1e6}'; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

RESULTS="$TMP/results"
: >"$RESULTS"
for JOBS in 20000 500000; do
  seed "$JOBS"
  for run in $(seq "$RUNS"); do
    line=$("$BENCH" "redis://127.0.0.1:$RPORT" "$CYCLES" 3)
    f_own=$(sed -E 's/.*fedimeter_cpu_us_per_cycle=([0-9.]+).*/\1/' <<<"$line")
    f_redis=$(sed -E 's/.*redis_cpu_us_per_cycle=([0-9.]+).*/\1/' <<<"$line")
    for _ in 1 2 3; do curl -fs "http://127.0.0.1:$EPORT/metrics" >/dev/null; done
    r0=$(redis_cpu_us); t0=$(proc_ticks "$EPID")
    for _ in $(seq "$CYCLES"); do curl -fs "http://127.0.0.1:$EPORT/metrics" >/dev/null; sleep 0.02; done
    t1=$(proc_ticks "$EPID"); r1=$(redis_cpu_us)
    e_own=$(awk -v a="$t0" -v b="$t1" -v n="$CYCLES" -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", (b-a)*1e6/hz/n}')
    e_redis=$(awk -v a="$r0" -v b="$r1" -v n="$CYCLES" 'BEGIN{printf "%.0f", (b-a)/n}')
    echo "jobs=$JOBS run=$run fedimeter_cpu_us=$f_own fedimeter_redis_cpu_us=$f_redis exporter_cpu_us=$e_own exporter_redis_cpu_us=$e_redis ($line)"
    echo "$JOBS $f_own $f_redis $e_own $e_redis" >>"$RESULTS"
  done
done

echo
echo "medians over $RUNS runs of $CYCLES cycles (microseconds of CPU per collection cycle), profile=$PROFILE:"
printf '%-8s %16s %16s %16s %16s\n' jobs fedimeter fed.redis exporter exp.redis
declare -A M
for JOBS in 20000 500000; do
  for col in 2 3 4 5; do
    M[$JOBS,$col]=$(awk -v j="$JOBS" -v c="$col" '$1==j{print $c}' "$RESULTS" | median)
  done
  printf '%-8s %16s %16s %16s %16s\n' "$JOBS" "${M[$JOBS,2]}" "${M[$JOBS,3]}" "${M[$JOBS,4]}" "${M[$JOBS,5]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
echo
echo "fedimeter own CPU 500k/20k:        $(ratio "${M[500000,2]}" "${M[20000,2]}")  (must be <= 1.2)"
echo "Redis CPU for fedimeter 500k/20k:  $(ratio "${M[500000,3]}" "${M[20000,3]}")  (must be <= 1.2)"
echo "fedimeter/exporter own CPU, 20k:   $(ratio "${M[20000,2]}" "${M[20000,4]}")  (must be <= 0.25)"
echo "fedimeter/exporter own CPU, 500k:  $(ratio "${M[500000,2]}" "${M[500000,4]}")  (must be <= 0.25)"
echo "exporter own CPU 500k/20k:         $(ratio "${M[500000,4]}" "${M[20000,4]}")"
