#!/usr/bin/env bash
# Probe benchmark: N HTTP(S) probe targets at a fixed interval against one local server.
# Measures the CPU time (user + system) of fedimeter's probing (the real runner and probe
# collector, plus one /metrics render per interval, in the `probe_bench` example) and of
# Debian's prometheus-blackbox-exporter probing the same targets, scraped by a real
# Prometheus at the same interval (only the exporter's CPU is counted, not Prometheus').
# Runs alternate fedimeter / blackbox_exporter; the medians are printed at the end.
#
# Usage: scripts/bench/probes.sh [targets=1000] [interval_s=15] [measure_s=180] [runs=3] [http|https]
set -euo pipefail

TARGETS=${1:-1000}
INTERVAL=${2:-15}
MEASURE=${3:-180}
RUNS=${4:-3}
SCHEME=${5:-http}
WARMUP=$((INTERVAL * 2))

cd "$(dirname "$0")/../.."
# PROBE_BENCH_BIN: use an already built probe_bench (e.g. a debug build, to try the script).
BENCH=${PROBE_BENCH_BIN:-target/release/examples/probe_bench}
if [ -z "${PROBE_BENCH_BIN:-}" ]; then
  cargo build --release --example probe_bench >/dev/null 2>&1 || cargo build --release --example probe_bench
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU seconds (utime + stime) of a process.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

SERVER_PORT=$(free_port)
TLS_ARGS=()
if [ "$SCHEME" = https ]; then TLS_ARGS=(--tls "$WORK"); fi
"$BENCH" serve "$SERVER_PORT" "${TLS_ARGS[@]}" 2>/dev/null &
PIDS+=($!)
sleep 1

run_fedimeter() {
  "$BENCH" probe "$SERVER_PORT" "$TARGETS" "$INTERVAL" "$WARMUP" "$MEASURE" "${TLS_ARGS[@]}" \
    | tee -a "$WORK/fm.log" | sed -n 's/.*cpu_percent_of_one_core=\([0-9.]*\).*/\1/p;' > "$WORK/fm.out"
  cat "$WORK/fm.out"
}

run_blackbox() {
  local bbe_port prom_port
  bbe_port=$(free_port)
  prom_port=$(free_port)
  local tls_config=""
  if [ "$SCHEME" = https ]; then
    tls_config="      tls_config:
        ca_file: $WORK/ca.pem"
  fi
  cat > "$WORK/blackbox.yml" <<YAML
modules:
  http_ok:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ["OK"]
$tls_config
YAML
  {
    echo "global: {scrape_interval: ${INTERVAL}s, scrape_timeout: 5s, evaluation_interval: 1m}"
    echo "scrape_configs:"
    echo "- job_name: blackbox"
    echo "  metrics_path: /probe"
    echo "  params: {module: [http_ok]}"
    echo "  static_configs:"
    echo "  - targets:"
    for i in $(seq 0 $((TARGETS - 1))); do echo "    - $SCHEME://127.0.0.1:$SERVER_PORT/t/$i"; done
    echo "  relabel_configs:"
    echo "  - {source_labels: [__address__], target_label: __param_target}"
    echo "  - {source_labels: [__param_target], target_label: instance}"
    echo "  - {target_label: __address__, replacement: 127.0.0.1:$bbe_port}"
  } > "$WORK/prometheus.yml"
  prometheus-blackbox-exporter --config.file="$WORK/blackbox.yml" \
    --web.listen-address="127.0.0.1:$bbe_port" >/dev/null 2>&1 &
  local bbe=$!
  PIDS+=($bbe)
  sleep 1
  prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=error >/dev/null 2>&1 &
  local prom=$!
  PIDS+=($prom)
  sleep "$WARMUP"
  local c0 c1
  c0=$(cpu_of "$bbe")
  sleep "$MEASURE"
  c1=$(cpu_of "$bbe")
  local ok
  ok=$(curl -s "http://127.0.0.1:$prom_port/api/v1/query?query=sum(probe_success)" \
    | sed -n 's/.*"value":\[[0-9.]*,"\([0-9.]*\)".*/\1/p')
  kill "$prom" "$bbe" 2>/dev/null || true
  wait "$prom" "$bbe" 2>/dev/null || true
  rm -rf "$WORK/tsdb"
  awk -v a="$c0" -v b="$c1" -v m="$MEASURE" 'BEGIN {printf "%.2f\n", 100 * (b - a) / m}'
  echo "blackbox successful_now=${ok:-?}/$TARGETS" >&2
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "targets=$TARGETS scheme=$SCHEME interval=${INTERVAL}s measure=${MEASURE}s runs=$RUNS (CPU % of one core)"
: > "$WORK/fm.all"
: > "$WORK/bb.all"
for run in $(seq 1 "$RUNS"); do
  fm=$(run_fedimeter)
  echo "$fm" >> "$WORK/fm.all"
  if command -v prometheus-blackbox-exporter >/dev/null && command -v prometheus >/dev/null; then
    bb=$(run_blackbox)
    echo "$bb" >> "$WORK/bb.all"
  else
    bb="n/a"
  fi
  echo "run $run: fedimeter=${fm}% blackbox_exporter=${bb}%"
done
echo "fedimeter runs:"; sed 's/^/  /' "$WORK/fm.log"
fm_median=$(median < "$WORK/fm.all")
echo "median fedimeter: ${fm_median}% of one core"
if [ -s "$WORK/bb.all" ]; then
  bb_median=$(median < "$WORK/bb.all")
  echo "median blackbox_exporter: ${bb_median}% of one core"
  awk -v f="$fm_median" -v b="$bb_median" 'BEGIN {if (b > 0) printf "ratio fedimeter / blackbox_exporter: %.2f\n", f / b}'
fi
