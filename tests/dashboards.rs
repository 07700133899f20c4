//! The Grafana dashboards in `dashboards/` and the PromQL of `alerts/`, checked twice:
//!
//! - statically: every expression (panel targets, template variables, rules) is parsed with
//!   a real PromQL parser (`promql-parser`), and every metric name it selects must be a family
//!   of the golden exposition (`tests/fixtures/golden/exposition.txt`: `name type labels`)
//!   or a series recorded by the rules, with only that family's labels (plus `target`,
//!   `instance`, `job`) in its matchers, groupings and legends; the dashboards use the current
//!   schema, a `datasource` variable, stable uids, tags and links;
//! - live: a real Prometheus scrapes a real fedimeter collecting real PostgreSQL (with a
//!   subset of Mastodon's schema), PgBouncer, Redis with Sidekiq data and an HTTPS probe,
//!   and loads the rule files; every dashboard expression must parse there and return data
//!   (except the documented [`EXPECTED_EMPTY`] list; a `[[discord]]` route to the fake
//!   Discord gives the delivery panels their data), and stopping Redis makes `RedisDown`
//!   go pending, then firing. The rules are loaded from a test copy in which every `for` is
//!   5 s and Prometheus evaluates every second (docs/dashboards.md, "Testing").

mod binary;
#[path = "support/discord.rs"]
mod discord;
#[path = "support/http_server.rs"]
mod http_server;
mod support;

use support::postgres::MASTODON_SCHEMA;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use promql_parser::parser::{self, Expr, LabelModifier};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| ext.contains(&x))
        })
        .collect();
    out.sort();
    out
}

fn dashboards() -> Vec<(String, Value)> {
    files(&root().join("dashboards"), &["json"])
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            (file_name(&p), json)
        })
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn rule_docs() -> Vec<(String, Value)> {
    files(&root().join("alerts"), &["yml", "yaml"])
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read rules");
            let doc = serde_yaml_ng::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", p.display()));
            (file_name(&p), doc)
        })
        .collect()
}

/// Where an expression comes from.
#[derive(Debug, Clone)]
struct Expression {
    origin: String,
    /// PromQL with Grafana's variables substituted.
    promql: String,
    /// Labels the expression's result must carry: a legend's `{{label}}`s, or the label a
    /// `label_values()` variable reads.
    output_labels: Vec<String>,
    /// A dashboard panel target (sent to the live Prometheus).
    panel: bool,
}

/// Grafana's variables, replaced by what Grafana sends for "All" and a 1-minute step.
fn substitute(expr: &str) -> String {
    expr.replace("${__rate_interval}", "1m")
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("${target}", ".*")
        .replace("$target", ".*")
        .replace("${server}", ".*")
        .replace("$server", ".*")
}

fn legend_labels(legend: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = legend;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

fn panels(dashboard: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel.clone());
        for inner in panel["panels"].as_array().into_iter().flatten() {
            out.push(inner.clone());
        }
    }
    out
}

fn dashboard_expressions() -> Vec<Expression> {
    let mut out = Vec::new();
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let Some(expr) = target["expr"].as_str() else {
                    continue;
                };
                let legend = target["legendFormat"].as_str().unwrap_or("");
                out.push(Expression {
                    origin: format!("{file}: panel {:?} {}", panel["title"], target["refId"]),
                    promql: substitute(expr),
                    output_labels: legend_labels(legend),
                    panel: true,
                });
            }
        }
        for var in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if var["type"] != "query" {
                continue;
            }
            let query = var["query"]["query"]
                .as_str()
                .or(var["query"].as_str())
                .unwrap_or_else(|| panic!("{file}: variable {} has no query", var["name"]));
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{file}: variable query {query} is not label_values()"));
            let (selector, label) = inner
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("{file}: label_values without a label: {query}"));
            out.push(Expression {
                origin: format!("{file}: variable {}", var["name"]),
                promql: substitute(selector.trim()),
                output_labels: vec![label.trim().to_string()],
                panel: false,
            });
        }
    }
    out
}

fn rule_expressions() -> Vec<Expression> {
    let mut out = Vec::new();
    for (file, doc) in rule_docs() {
        for group in doc["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                let name = rule["alert"].as_str().or(rule["record"].as_str());
                out.push(Expression {
                    origin: format!("{file}: {}", name.unwrap_or("?")),
                    promql: rule["expr"].as_str().expect("expr").to_string(),
                    output_labels: Vec::new(),
                    panel: false,
                });
            }
        }
    }
    out
}

/// Labels Prometheus or fedimeter add to every series: `instance` and `job` from the
/// scrape, `target` when a kind has several targets.
const ADDED_LABELS: &[&str] = &["instance", "job", "target"];

/// The golden exposition: family name → its labels.
fn golden() -> BTreeMap<String, BTreeSet<String>> {
    let path = root().join("tests/fixtures/golden/exposition.txt");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse_golden(&text)
}

fn parse_golden(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut fields = l.split_whitespace();
            let name = fields.next().unwrap_or_default().to_string();
            let _type = fields.next();
            let labels = fields
                .next()
                .map(|ls| {
                    ls.split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && *l != "-")
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            (name, labels)
        })
        .collect()
}

/// Checks one parsed expression against `families`; returns the labels its result can
/// carry, and pushes every problem to `errors`.
fn check(
    expr: &Expr,
    families: &BTreeMap<String, BTreeSet<String>>,
    errors: &mut Vec<String>,
) -> BTreeSet<String> {
    let added = || ADDED_LABELS.iter().map(|l| l.to_string());
    let selector = |vs: &promql_parser::parser::VectorSelector, errors: &mut Vec<String>| {
        let Some(name) = &vs.name else {
            errors.push(format!("selector without a metric name: {vs}"));
            return BTreeSet::new();
        };
        let Some(labels) = families.get(name) else {
            errors.push(format!("unknown metric {name}"));
            return BTreeSet::new();
        };
        let known: BTreeSet<String> = labels.iter().cloned().chain(added()).collect();
        for m in vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten())
        {
            if m.name != "__name__" && !known.contains(&m.name) {
                errors.push(format!("{name} has no label {}", m.name));
            }
        }
        known
    };
    let require =
        |labels: &[String], available: &BTreeSet<String>, what: &str, errors: &mut Vec<String>| {
            for l in labels {
                if !available.contains(l) {
                    errors.push(format!("{what} label {l} is not on {available:?}"));
                }
            }
        };
    match expr {
        Expr::VectorSelector(vs) => selector(vs, errors),
        Expr::MatrixSelector(ms) => selector(&ms.vs, errors),
        Expr::Aggregate(agg) => {
            let inner = check(&agg.expr, families, errors);
            if let Some(param) = &agg.param {
                check(param, families, errors);
            }
            // These select series and keep all their labels, whatever the grouping.
            let keeps_labels =
                ["topk", "bottomk", "limitk", "limit_ratio"].contains(&agg.op.to_string().as_str());
            match &agg.modifier {
                _ if keeps_labels => {
                    if let Some(m) = &agg.modifier {
                        require(&m.labels().labels, &inner, "by/without", errors);
                    }
                    inner
                }
                Some(LabelModifier::Include(ls)) => {
                    require(&ls.labels, &inner, "by", errors);
                    ls.labels.iter().cloned().collect()
                }
                Some(LabelModifier::Exclude(ls)) => {
                    require(&ls.labels, &inner, "without", errors);
                    inner
                        .into_iter()
                        .filter(|l| !ls.labels.contains(l))
                        .collect()
                }
                None => BTreeSet::new(),
            }
        }
        Expr::Binary(bin) => {
            let left = check(&bin.lhs, families, errors);
            let right = check(&bin.rhs, families, errors);
            let both: BTreeSet<String> = left.union(&right).cloned().collect();
            if let Some(modifier) = &bin.modifier {
                match &modifier.matching {
                    // `on (l)` matches on l's value: each side must have it.
                    Some(LabelModifier::Include(ls)) => {
                        for l in &ls.labels {
                            if !left.contains(l) || !right.contains(l) {
                                errors.push(format!(
                                    "on label {l} is not on both sides: {left:?} and {right:?}"
                                ));
                            }
                        }
                    }
                    Some(LabelModifier::Exclude(ls)) => {
                        require(&ls.labels, &both, "ignoring", errors)
                    }
                    None => {}
                }
            }
            both
        }
        Expr::Paren(p) => check(&p.expr, families, errors),
        Expr::Unary(u) => check(&u.expr, families, errors),
        Expr::Subquery(s) => check(&s.expr, families, errors),
        Expr::Call(call) => {
            let mut labels = BTreeSet::new();
            for arg in &call.args.args {
                labels.extend(check(arg, families, errors));
            }
            labels
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => BTreeSet::new(),
    }
}

/// Families plus the series the recording rules record (with the labels of their source).
fn known_families(
    mut families: BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    // Recording rules may build on each other: resolve in file order.
    for (_, doc) in rule_docs() {
        for group in doc["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                let Some(record) = rule["record"].as_str() else {
                    continue;
                };
                let expr = parser::parse(rule["expr"].as_str().expect("expr"))
                    .unwrap_or_else(|e| panic!("recording rule {record}: {e}"));
                let mut errors = Vec::new();
                let labels = check(&expr, &families, &mut errors);
                let labels = labels
                    .into_iter()
                    .filter(|l| !ADDED_LABELS.contains(&l.as_str()))
                    .collect();
                families.insert(record.to_string(), labels);
            }
        }
    }
    families
}

fn problems(
    expressions: &[Expression],
    families: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for e in expressions {
        if e.promql.contains('$') {
            out.push(format!(
                "{}: unsubstituted variable in {}",
                e.origin, e.promql
            ));
            continue;
        }
        let expr = match parser::parse(&e.promql) {
            Ok(expr) => expr,
            Err(err) => {
                out.push(format!(
                    "{}: does not parse: {err}\n  {}",
                    e.origin, e.promql
                ));
                continue;
            }
        };
        let mut errors = Vec::new();
        let labels = check(&expr, families, &mut errors);
        for l in &e.output_labels {
            if !labels.contains(l) {
                errors.push(format!(
                    "legend/variable label {l} is not in the result {labels:?}"
                ));
            }
        }
        out.extend(
            errors
                .into_iter()
                .map(|err| format!("{}: {err}\n  {}", e.origin, e.promql)),
        );
    }
    out
}

#[test]
fn every_expression_parses_and_uses_only_exported_names_and_labels() {
    let families = known_families(golden());
    let mut expressions = dashboard_expressions();
    let panel_count = expressions.len();
    expressions.extend(rule_expressions());
    assert!(
        panel_count > 100,
        "only {panel_count} dashboard expressions found"
    );
    let found = problems(&expressions, &families);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_checker_rejects_unknown_names_labels_and_groupings() {
    let families = parse_golden("pg_up gauge \npg_locks_count gauge datname,mode,server\n");
    let bad = |promql: &str, legend: &str| Expression {
        origin: "case".to_string(),
        promql: substitute(promql),
        output_labels: legend_labels(legend),
        panel: true,
    };
    let cases = [
        bad("pg_upp", ""),
        bad("pg_up{datname=\"x\"}", ""),
        bad("sum by (state) (pg_locks_count)", ""),
        bad("pg_up == 0 and on (mode) pg_up", ""),
        bad("sum by (datname) (pg_locks_count)", "{{mode}}"),
        bad("rate(pg_up[5m]", ""),
        bad("topk(3, pg_locks_count)", "{{state}}"),
        bad("pg_up{target=~\"$unknown\"}", ""),
        // `server` is on the pg_* families, not on pg_up.
        bad("pg_up{server=~\"$server\"}", ""),
        bad("sum by (server) (pg_up)", ""),
        bad("pg_up == 0", "{{server}}"),
        bad("pg_up and on (server) pg_locks_count", ""),
    ];
    for case in &cases {
        assert_eq!(
            problems(std::slice::from_ref(case), &families).len(),
            1,
            "{case:?} must be rejected"
        );
    }
    let good = [
        bad(
            "sum by (datname, target) (rate(pg_locks_count{mode=\"x\"}[5m]))",
            "{{datname}}",
        ),
        bad("pg_up{target=~\"$target\"} == 0", "{{instance}}"),
        bad("topk(3, pg_locks_count)", "{{mode}} {{target}}"),
        bad(
            "sum by (target, server) (pg_locks_count{server=~\"$server\"})",
            "{{server}}",
        ),
    ];
    assert!(problems(&good, &families).is_empty());
}

/// `server` (postgres_exporter's `host:port`) is a label of the pg_* families that carry it
/// in the golden exposition, and not of `pg_up`, `pg_exporter_*` and `pg_scrape_*`: the
/// checker accepts it on the former and rejects it on the latter.
#[test]
fn server_is_checked_against_the_golden_families() {
    let families = known_families(golden());
    let expr = |promql: &str, legend: &str| Expression {
        origin: promql.to_string(),
        promql: substitute(promql),
        output_labels: legend_labels(legend),
        panel: true,
    };
    let good = [
        expr(
            "sum by (target, server, state) (pg_stat_activity_count{server=~\"$server\"})",
            "{{server}} {{state}}",
        ),
        expr(
            "pg_settings_max_connections{target=~\"$target\",server=~\"$server\"}",
            "{{server}}",
        ),
        expr(
            "pg_locks_count / on (job, instance, target, server) group_left () pg_settings_max_connections",
            "{{server}} {{mode}}",
        ),
    ];
    let found = problems(&good, &families);
    assert!(found.is_empty(), "{found:#?}");
    for bad in [
        expr("pg_up{server=~\"$server\"}", ""),
        expr("sum by (server) (pg_exporter_last_scrape_error)", ""),
        expr("pg_scrape_collector_success == 0", "{{server}}"),
        expr("pg_up == 0 and on (target, server) pg_static", ""),
    ] {
        assert_eq!(
            problems(std::slice::from_ref(&bad), &families).len(),
            1,
            "{} must be rejected",
            bad.promql
        );
    }
}

const DASHBOARD_UIDS: &[&str] = &[
    "fedimeter-mastodon",
    "fedimeter-overview",
    "fedimeter-pgbouncer",
    "fedimeter-postgres",
    "fedimeter-probes",
    "fedimeter-redis-sidekiq",
    "fedimeter-self",
];

#[test]
fn dashboards_use_the_current_schema_a_datasource_variable_stable_uids_tags_and_links() {
    let all = dashboards();
    let uids: BTreeSet<&str> = all.iter().filter_map(|(_, d)| d["uid"].as_str()).collect();
    assert_eq!(
        uids,
        DASHBOARD_UIDS.iter().copied().collect(),
        "dashboard uids are public API"
    );
    for (file, d) in &all {
        // Grafana 10.x writes 37–38, 11.x 39–41.
        let schema = d["schemaVersion"].as_i64().unwrap_or(0);
        assert!(
            (37..=41).contains(&schema),
            "{file}: schemaVersion {schema}"
        );
        assert!(
            d["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("fedimeter / ")),
            "{file}"
        );
        let tags: Vec<&str> = d["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            tags.contains(&"fedimeter") && tags.len() >= 2,
            "{file}: tags {tags:?}"
        );
        assert!(
            d["links"]
                .as_array()
                .expect("links")
                .iter()
                .any(|l| l["type"] == "dashboards"
                    && l["tags"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t == "fedimeter"))),
            "{file}: no link to the other fedimeter dashboards"
        );
        let vars = d["templating"]["list"].as_array().expect("templating");
        assert!(
            vars.iter().any(|v| v["name"] == "datasource"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "{file}: no prometheus datasource variable"
        );
        let mut ids = BTreeSet::new();
        let mut uses_target = false;
        let mut uses_server = false;
        for panel in panels(d) {
            assert!(
                ids.insert(panel["id"].as_i64().expect("panel id")),
                "{file}: duplicate panel id"
            );
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{file}: {}",
                panel["title"]
            );
            assert!(
                panel["title"].as_str().is_some_and(|t| !t.is_empty()),
                "{file}: untitled panel"
            );
            let targets = panel["targets"].as_array().expect("targets");
            assert!(
                !targets.is_empty(),
                "{file}: {} has no query",
                panel["title"]
            );
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{file}: {}",
                    panel["title"]
                );
                uses_target |= t["expr"].as_str().is_some_and(|e| e.contains("$target"));
                uses_server |= t["expr"].as_str().is_some_and(|e| e.contains("$server"));
            }
        }
        let target_var = vars.iter().find(|v| v["name"] == "target");
        assert_eq!(
            uses_target,
            target_var.is_some(),
            "{file}: $target used iff defined"
        );
        if let Some(v) = target_var {
            assert_eq!(v["includeAll"], true, "{file}");
            assert_eq!(
                v["allValue"], ".*",
                "{file}: All must also match series without a target label"
            );
        }
        // `$server` (postgres_exporter's host:port) lists the servers of the chosen targets.
        let server_var = vars.iter().find(|v| v["name"] == "server");
        assert_eq!(
            uses_server,
            server_var.is_some(),
            "{file}: $server used iff defined"
        );
        if let Some(v) = server_var {
            assert_eq!(v["includeAll"], true, "{file}");
            assert_eq!(v["allValue"], ".*", "{file}");
            assert!(
                v["query"]["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("target=~\"$target\"")),
                "{file}: $server is chained from $target"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// Live: a real Prometheus, a real fedimeter, real servers.

/// Dashboard expressions that return no data on the test stack, and why (the same list is
/// in docs/dashboards.md).
const EXPECTED_EMPTY: &[(&str, &str)] = &[
    (
        "pg_stat_replication_pg_wal_lsn_diff",
        "primaries with a streaming replica only",
    ),
    ("pg_replication_slots_active", "only with replication slots"),
    (
        "redis_memory_max_bytes",
        "only with a maxmemory (the `> 0` series)",
    ),
    (
        "pg_scrape_collector_success == 0",
        "only while a query group fails",
    ),
    ("fedimeter_otlp_exports_total", "only with [otlp]"),
    (
        "fedimeter_otlp_last_success_timestamp_seconds",
        "only with [otlp]",
    ),
];

fn expected_empty(promql: &str) -> bool {
    EXPECTED_EMPTY
        .iter()
        .any(|(needle, _)| promql.contains(needle))
}

/// Rows for the `mastodon_*` gauges, on top of `support::postgres::MASTODON_SCHEMA`.
const MASTODON_SEED: &str = "
INSERT INTO accounts (id, username, domain) VALUES (1, 'admin', NULL), (2, 'bob', 'remote.example');
INSERT INTO users (account_id, email, created_at, current_sign_in_at, approved) VALUES
  (1, 'a@x', now() - interval '40 days', now() - interval '1 hour', true),
  (NULL, 'e@x', now() - interval '1 day', NULL, false);
INSERT INTO reports (created_at, updated_at, account_id, target_account_id) VALUES
  (now() - interval '2 hours', now(), 1, 2);
INSERT INTO unavailable_domains (domain, created_at, updated_at) VALUES ('gone.example', now(), now());
INSERT INTO software_updates (version, urgent, type) VALUES ('4.5.1', true, 0), ('4.6.0', false, 1);
INSERT INTO statuses (id, uri, created_at, account_id, local) VALUES
  (((extract(epoch FROM now() - interval '2 minutes') * 1000)::int8 << 16) + 1, NULL, now(), 1, true),
  (((extract(epoch FROM now() - interval '1 minute') * 1000)::int8 << 16) + 2, 'https://remote.example/1', now(), 2, false);
INSERT INTO media_attachments (id, created_at) VALUES (1, now());
ANALYZE;
";

fn free_port() -> u16 {
    support::free_port()
}

/// A Prometheus in a temp dir, killed on drop.
struct Prometheus {
    child: std::process::Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus with the shipped scrape config (`dashboards/provisioning/
    /// prometheus.yml`) pointed at `fedimeter`, scraping and evaluating every second, and
    /// test copies of the rule files in which every `for` is 5 s.
    fn start(fedimeter: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut rule_paths = Vec::new();
        for path in files(&root().join("alerts"), &["yml"]) {
            let text = std::fs::read_to_string(&path).expect("rules");
            let fast: String = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("for: ") {
                        let indent = &l[..l.len() - l.trim_start().len()];
                        format!("{indent}for: 5s")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let copy = dir.path().join(file_name(&path));
            std::fs::write(&copy, fast).expect("write rules");
            rule_paths.push((file_name(&path), copy));
        }
        let shipped =
            std::fs::read_to_string(root().join("dashboards/provisioning/prometheus.yml"))
                .expect("shipped prometheus.yml");
        let mut config = shipped
            .replace("127.0.0.1:9481", fedimeter)
            .replace(
                "scrape_interval: 15s",
                "scrape_interval: 1s\n  scrape_timeout: 900ms",
            )
            .replace("evaluation_interval: 15s", "evaluation_interval: 1s");
        // Switch on the commented-out multi-target example job, as an operator would.
        let mut in_example = false;
        config = config
            .lines()
            .map(|l| {
                in_example |= l.starts_with("  # - job_name: fedimeter-redis");
                match l.strip_prefix("  # ") {
                    Some(rest) if in_example => format!("  {rest}"),
                    _ => l.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            in_example,
            "the /probe example job is in the shipped config"
        );
        for (name, copy) in &rule_paths {
            config = config.replace(
                &format!("/usr/share/fedimeter/alerts/{name}"),
                &copy.display().to_string(),
            );
        }
        assert!(
            !config.contains("- /usr/share/fedimeter/alerts/"),
            "every shipped rule file is replaced:\n{config}"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, &config).expect("write prometheus.yml");
        let check = Command::new("promtool")
            .args(["check", "config"])
            .arg(&config_path)
            .output()
            .expect("promtool");
        assert!(
            check.status.success(),
            "promtool check config: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("prometheus is installed (scripts/test installs it)");
        Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let url = url::Url::parse_with_params(&format!("{}{path}", self.base), query).ok()?;
        let response = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Runs an instant query; `Err` carries Prometheus's error.
    async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let json = self
            .api("/api/v1/query", &[("query", promql)])
            .await
            .ok_or_else(|| "no answer".to_string())?;
        if json["status"] != "success" {
            return Err(format!("{}: {}", json["errorType"], json["error"]));
        }
        Ok(json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The state of the alert `name` ("pending", "firing") or None.
    async fn alert_state(&self, name: &str) -> Option<String> {
        let json = self.api("/api/v1/alerts", &[]).await?;
        json["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .and_then(|a| a["state"].as_str().map(str::to_string))
    }
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_answers_every_dashboard_expression_and_fires_redis_down() {
    let pg = support::PgServer::start();
    pg.create_database("mastodon");
    pg.exec_in("mastodon", MASTODON_SCHEMA);
    pg.exec_in("mastodon", MASTODON_SEED);
    // For the slow-query panels (the test kit preloads the library).
    pg.exec_in("mastodon", "CREATE EXTENSION pg_stat_statements");
    let pgbouncer = support::PgBouncer::start(&pg, support::PgBouncerOptions::default());
    let mut redis = support::RedisServer::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    redis.cmd(&["SADD", "queues", "default", "ingress", "push", "pull"]);
    let job = format!(
        r#"{{"class":"ActivityPub::ProcessingWorker","queue":"ingress","jid":"a1","created_at":{t},"enqueued_at":{t}}}"#,
        t = now - 5.0
    );
    redis.cmd(&["LPUSH", "queue:ingress", job.as_str()]);
    redis.cmd(&["SET", "stat:processed", "42"]);
    redis.cmd(&["ZADD", "retry", "1", "{}"]);
    // Sidekiq 8's job metrics bucket of this minute (`j|%y%m%d|%-H:%M`, UTC): 4 processed,
    // 1 failed, 1500 ms, for the per-class panels.
    let minute = time::OffsetDateTime::now_utc();
    let bucket = format!(
        "j|{:02}{:02}{:02}|{}:{:02}",
        minute.year() % 100,
        u8::from(minute.month()),
        minute.day(),
        minute.hour(),
        minute.minute()
    );
    redis.cmd(&[
        "HSET",
        bucket.as_str(),
        "ActivityPub::ProcessingWorker|p",
        "4",
        "ActivityPub::ProcessingWorker|f",
        "1",
        "ActivityPub::ProcessingWorker|ms",
        "1500",
    ]);
    let ca = http_server::TestCa::new();
    let web = http_server::TestServer::https(
        &ca.leaf(http_server::NOT_BEFORE_2020, http_server::VALID_UNTIL_2040),
    )
    .await;
    web.set("/health", http_server::Reply::ok("OK"));
    // A Discord route (to the fake Discord) for the overview's delivery panels.
    let fake_discord = discord::FakeDiscord::start().await;
    let webhook = fake_discord.webhook("1", "tok", "ops");
    let config = format!(
        r#"listen = "127.0.0.1:0"
[alerting]
evaluate_every = "1s"
[[discord]]
name = "ops"
webhook_url = "{webhook}"
[sli]
evaluate_every = "1s"
flush_every = "1s"
recompute_every = "1s"
[[component]]
id = "website"
name = "Website"
probes = ["web"]
[[postgres]]
name = "mastodon"
url = "{pg}"
interval = "2s"
timeout = "1s"
size_interval = "2s"
stat_statements = true
stat_statements_interval = "2s"
statio_user_indexes = true
[[pgbouncer]]
name = "pgbouncer"
url = "{pgb}"
interval = "2s"
timeout = "1s"
[[redis]]
name = "sidekiq"
url = "{redis}"
sidekiq = true
sidekiq_job_metrics = true
interval = "2s"
timeout = "1s"
[[probe]]
name = "web"
url = "{web}"
ca_file = "{ca}"
interval = "2s"
timeout = "1s"
"#,
        pg = pg.url("mastodon"),
        pgb = pgbouncer.admin_url(),
        redis = redis.url(),
        web = web.url("/health").replace("127.0.0.1", "localhost"),
        ca = ca.ca_file.display(),
    );
    let work = binary::Workdir::new(&config);
    let server = work.serve(&[]);
    let target = server.base.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::start(&target);

    // Every rule group is loaded and healthy.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rules_loaded = loop {
        let rules: Vec<Value> = prometheus
            .api("/api/v1/rules", &[])
            .await
            .map(|json| {
                json["data"]["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        if !rules.is_empty() && rules.iter().all(|r| r["health"] == "ok") {
            break rules.len();
        }
        assert!(
            Instant::now() < deadline,
            "rules not loaded: {rules:?}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let in_files = rule_expressions().len();
    assert_eq!(rules_loaded, in_files, "every rule is loaded");

    // SLI windows end at the last complete minute: wait for the first one.
    eventually(
        "fedimeter_sli_ratio in Prometheus",
        Duration::from_secs(150),
        || async {
            prometheus
                .query("fedimeter_sli_ratio{window=\"1h\"}")
                .await
                .is_ok_and(|r| !r.is_empty())
        },
    )
    .await;
    // Rates need two samples of every family, including the slower size and Mastodon groups.
    eventually(
        "every family in Prometheus",
        Duration::from_secs(60),
        || async {
            prometheus
                .query("mastodon_delivery_failing_domains")
                .await
                .is_ok_and(|r| !r.is_empty())
                && prometheus
                    .query("pg_database_size_bytes")
                    .await
                    .is_ok_and(|r| !r.is_empty())
        },
    )
    .await;
    // … and a second sample of each (a rate needs two), the slow groups included.
    eventually(
        "two samples of every family in Prometheus",
        Duration::from_secs(60),
        || async {
            let mut all = true;
            for q in [
                "count_over_time(pg_database_size_bytes[5m]) >= 2",
                "count_over_time(mastodon_delivery_failing_domains[5m]) >= 2",
                "count_over_time(redis_up[5m]) >= 2",
                "count_over_time(probe_success[5m]) >= 2",
            ] {
                all &= prometheus.query(q).await.is_ok_and(|r| !r.is_empty());
            }
            all
        },
    )
    .await;

    let mut failures = Vec::new();
    let mut answered = 0;
    for e in dashboard_expressions().iter().filter(|e| e.panel) {
        match prometheus.query(&e.promql).await {
            Err(err) => failures.push(format!("{}: {err}\n  {}", e.origin, e.promql)),
            Ok(result) if result.is_empty() && !expected_empty(&e.promql) => {
                failures.push(format!("{}: no data\n  {}", e.origin, e.promql))
            }
            Ok(result) if !result.is_empty() && expected_empty(&e.promql) => {
                failures.push(format!(
                    "{}: listed in EXPECTED_EMPTY but returns data\n  {}",
                    e.origin, e.promql
                ))
            }
            Ok(_) => answered += 1,
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} expressions failed:\n{}\n--- fedimeter log:\n{}",
        failures.len(),
        answered + failures.len(),
        failures.join("\n"),
        server.log()
    );
    assert!(answered > 100, "{answered} expressions answered");
    assert_eq!(
        prometheus.alert_state("RedisDown").await,
        None,
        "Redis is up"
    );
    // The /probe job: one Prometheus target per monitored server, `instance` = its name,
    // series without `target`.
    let probed = prometheus
        .query("redis_up{job=\"fedimeter-redis\",instance=\"sidekiq\"}")
        .await
        .expect("query");
    assert_eq!(probed.len(), 1, "{probed:?}");
    assert_eq!(probed[0]["value"][1], "1");
    assert!(probed[0]["metric"]["target"].is_null(), "{probed:?}");

    // Stop Redis: RedisDown goes pending, then firing.
    redis.stop();
    eventually("RedisDown pending", Duration::from_secs(30), || async {
        prometheus.alert_state("RedisDown").await.as_deref() == Some("pending")
    })
    .await;
    eventually("RedisDown firing", Duration::from_secs(30), || async {
        prometheus.alert_state("RedisDown").await.as_deref() == Some("firing")
    })
    .await;
    // The ALERTS series of that evaluation may land a moment after the alert's state is
    // reported: a bounded wait for exactly one firing series of the /metrics job.
    eventually("one firing ALERTS series", Duration::from_secs(20), || async {
        prometheus
            .query("ALERTS{alertname=\"RedisDown\",alertstate=\"firing\",severity=\"critical\",job=\"fedimeter\"}")
            .await
            .is_ok_and(|firing| firing.len() == 1)
    })
    .await;
    drop(pgbouncer);
}
