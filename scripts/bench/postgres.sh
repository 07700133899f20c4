#!/usr/bin/env bash
# Side-by-side benchmark: fedimeter's PostgreSQL collector vs Debian's
# prometheus-postgres-exporter (default collectors) on the same database, same run.
#
# Seeds a throwaway PostgreSQL cluster with ~2,000 tables plus the subset of Mastodon's
# schema fedimeter reads, starts postgres_exporter, then runs examples/postgres_bench, which
# alternates one fedimeter collection and one exporter scrape per cycle (one cycle = one 15 s
# interval; fedimeter's slow cadences keep their ratio to it). Reports per cycle:
#   - CPU time of each tool (fedimeter: getrusage around its collections; exporter: /proc),
#   - database time from pg_stat_statements (execution + planning), by each tool's role,
#   - peak RSS of each process, and the median wall time of a collection/scrape.
#
# Usage: scripts/bench/postgres.sh [runs=3] [cycles=60] [period_ms=500]
# Env: TABLES (2000), DETAIL (set: list the costliest statements), PE_ARGS (extra exporter flags, e.g.
#      "--extend.query-path=/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml")
set -euo pipefail

RUNS=${1:-3}
CYCLES=${2:-60}
PERIOD_MS=${3:-500}
TABLES=${TABLES:-2000}
PE_ARGS=${PE_ARGS:-}

cd "$(dirname "$0")/../.."
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
EXPORTER=$(command -v prometheus-postgres-exporter || true)
if [[ -z "$EXPORTER" ]]; then
    echo "installing prometheus-postgres-exporter" >&2
    apt-get install -y prometheus-postgres-exporter >/dev/null
    EXPORTER=$(command -v prometheus-postgres-exporter)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

WORK=$(mktemp -d /tmp/fedimeter-bench-pg.XXXXXX)
AS=()
if [[ $(id -u) == 0 ]]; then
    chown postgres: "$WORK"
    AS=(runuser -u postgres --)
fi
PORT=$(free_port)
PE_PORT=$(free_port)
PE_PID=
cleanup() {
    [[ -n "$PE_PID" ]] && kill "$PE_PID" 2>/dev/null || true
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building the bench driver (release)" >&2
cargo build --release --example postgres_bench >&2

echo "== PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT, seeding $TABLES tables" >&2
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/data" -U postgres --auth=trust --no-sync --no-instructions >/dev/null
cat >>"$WORK/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
shared_buffers = 128MB
max_connections = 50
fsync = off
synchronous_commit = off
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
pg_stat_statements.track_planning = on
pg_stat_statements.max = 10000
max_locks_per_transaction = 256
CONF
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w start >/dev/null
psql() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE bench" \
    -c "CREATE ROLE fedimeter_bench LOGIN PASSWORD 'bench' IN ROLE pg_monitor" \
    -c "CREATE ROLE exporter_bench LOGIN PASSWORD 'bench' IN ROLE pg_monitor"
psql -d bench >/dev/null <<SQL
CREATE EXTENSION pg_stat_statements;
DO \$\$ BEGIN
  FOR i IN 1..$TABLES LOOP
    EXECUTE format('CREATE TABLE t%s (id bigserial PRIMARY KEY, body text)', i);
    EXECUTE format('INSERT INTO t%s (body) SELECT repeat(''x'', 50) FROM generate_series(1, %s)', i, (i % 50) * 20);
  END LOOP;
END \$\$;
CREATE TABLE accounts (id bigint PRIMARY KEY, username varchar NOT NULL, domain varchar);
CREATE TABLE users (id bigserial PRIMARY KEY, account_id bigint, created_at timestamp NOT NULL,
  current_sign_in_at timestamp, approved boolean DEFAULT true NOT NULL);
CREATE TABLE statuses (id bigint PRIMARY KEY, uri varchar, created_at timestamp NOT NULL,
  account_id bigint NOT NULL, local boolean);
CREATE TABLE reports (id bigserial PRIMARY KEY, created_at timestamp NOT NULL,
  action_taken_at timestamp, assigned_account_id bigint);
CREATE TABLE unavailable_domains (id bigserial PRIMARY KEY, domain varchar, created_at timestamp);
CREATE TABLE software_updates (id bigserial PRIMARY KEY, version varchar, urgent boolean DEFAULT false NOT NULL);
CREATE TABLE media_attachments (id bigint PRIMARY KEY);
INSERT INTO accounts SELECT g, 'u' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'r' || (g % 500) || '.example' END FROM generate_series(1, 50000) g;
INSERT INTO users (account_id, created_at, current_sign_in_at, approved)
  SELECT g * 10, now() - g * interval '1 hour', now() - (g % 40) * interval '1 day', g % 100 <> 0 FROM generate_series(1, 5000) g;
INSERT INTO statuses SELECT ((extract(epoch FROM now() - g * interval '1 second') * 1000)::int8 << 16) + g,
  CASE WHEN g % 5 = 0 THEN NULL ELSE 'https://r.example/' || g END, now(), g % 50000, g % 5 = 0
  FROM generate_series(1, 200000) g;
INSERT INTO reports (created_at, action_taken_at) SELECT now() - g * interval '1 day', CASE WHEN g > 5 THEN now() END FROM generate_series(1, 200) g;
INSERT INTO unavailable_domains (domain, created_at) SELECT 'd' || g || '.example', now() FROM generate_series(1, 50) g;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO fedimeter_bench;
ANALYZE;
SQL

echo "== postgres_exporter $("$EXPORTER" --version 2>&1 | head -1 | awk '{print $3}') on 127.0.0.1:$PE_PORT ${PE_ARGS:+($PE_ARGS)}" >&2
# shellcheck disable=SC2086
DATA_SOURCE_NAME="postgresql://exporter_bench:bench@127.0.0.1:$PORT/bench?sslmode=disable" \
    "$EXPORTER" --web.listen-address="127.0.0.1:$PE_PORT" $PE_ARGS >"$WORK/exporter.log" 2>&1 &
PE_PID=$!
for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$PE_PORT/metrics" >/dev/null 2>&1 && break
    sleep 0.1
done

declare -a RATIO_DB RATIO_CPU
for run in $(seq "$RUNS"); do
    psql -d bench -c "SELECT pg_stat_statements_reset()" >/dev/null
    OUT=$(target/release/examples/postgres_bench \
        "postgres://fedimeter_bench:bench@127.0.0.1:$PORT/bench" "127.0.0.1:$PE_PORT" "$PE_PID" "$CYCLES" "$PERIOD_MS")
    DB=$(psql -d bench -At -F ' ' -c "
        SELECT r.rolname, sum(s.calls), round((sum(s.total_exec_time + s.total_plan_time) / $CYCLES)::numeric, 3)
        FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
        WHERE r.rolname IN ('fedimeter_bench', 'exporter_bench') GROUP BY 1 ORDER BY 1")
    get() { awk -v k="$1" '$1 == k {print $2}' <<<"$OUT"; }
    dbms() { awk -v k="$1" '$1 == k {print $3}' <<<"$DB"; }
    calls() { awk -v k="$1" '$1 == k {print $2}' <<<"$DB"; }
    F_DB=$(dbms fedimeter_bench); E_DB=$(dbms exporter_bench)
    F_CPU=$(get fedimeter_cpu_ms_per_cycle); E_CPU=$(get exporter_cpu_ms_per_cycle)
    RATIO_DB[run]=$(python3 -c "print(round($F_DB / $E_DB, 4))")
    RATIO_CPU[run]=$(python3 -c "print(round($F_CPU / $E_CPU, 4))")
    echo "run $run: cycles=$CYCLES"
    echo "  db time ms/cycle:  fedimeter $F_DB ($(calls fedimeter_bench) statements)  exporter $E_DB ($(calls exporter_bench) statements)  ratio ${RATIO_DB[run]}"
    echo "  cpu ms/cycle:      fedimeter $F_CPU  exporter $E_CPU  ratio ${RATIO_CPU[run]}"
    echo "  wall ms (median):  fedimeter $(get fedimeter_wall_ms_median)  exporter $(get exporter_wall_ms_median)"
    echo "  peak RSS kB:       fedimeter $(get fedimeter_peak_rss_kb)  exporter $(get exporter_peak_rss_kb)"
    if [[ -n "${DETAIL:-}" ]]; then
        psql -d bench -At -F ' | ' -c "
            SELECT r.rolname, s.calls, round(((s.total_exec_time + s.total_plan_time) / $CYCLES)::numeric, 3) AS ms_per_cycle,
                   left(regexp_replace(s.query, '\s+', ' ', 'g'), 90)
            FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
            WHERE r.rolname IN ('fedimeter_bench', 'exporter_bench') ORDER BY 3 DESC LIMIT 40"
    fi
    echo "  output:            fedimeter $(get fedimeter_samples_last_cycle) samples, $(get fedimeter_partial_errors) partial errors; exporter $(get exporter_body_bytes_last_scrape) bytes"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median over $RUNS runs: db time ratio $(median "${RATIO_DB[@]}") (target <= 0.20), cpu ratio $(median "${RATIO_CPU[@]}") (target <= 0.25)"
