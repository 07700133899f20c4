//! The Prometheus rule files in `alerts/`: `promtool check rules` accepts them,
//! `promtool test rules` passes the unit tests in `alerts/tests/`, every alert has a unit
//! test in which it fires and one in which it stays silent, and `fedimeter.rules.yml` is the
//! built-in rule set fedimeter evaluates itself (`rule::builtin()`: names, severities, `for`
//! and thresholds, read from the parsed PromQL), each with a summary, a description and a
//! runbook section in `docs/runbooks.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

fn rule_files() -> Vec<PathBuf> {
    yaml_files(&root().join("alerts"))
}

fn test_files() -> Vec<PathBuf> {
    yaml_files(&root().join("alerts/tests"))
}

fn load(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Every alerting rule of the rule files, by name.
fn alerts() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for file in rule_files() {
        let doc = load(&file);
        for group in doc["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                if let Some(name) = rule["alert"].as_str() {
                    let previous = out.insert(name.to_string(), rule.clone());
                    assert!(previous.is_none(), "alert {name} is defined twice");
                }
            }
        }
    }
    out
}

fn promtool(args: &[&str], files: &[PathBuf]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .args(files)
        .current_dir(root())
        .output()
        .expect("promtool is installed (scripts/test installs the prometheus package)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_check_rules_accepts_every_rule_file() {
    let files = rule_files();
    assert!(files.len() >= 2, "rule files: {files:?}");
    let (ok, text) = promtool(&["check", "rules"], &files);
    assert!(ok, "promtool check rules failed:\n{text}");
    assert!(!text.contains("FAILED"), "{text}");
}

#[test]
fn promtool_unit_tests_pass() {
    let files = test_files();
    assert!(!files.is_empty());
    let (ok, text) = promtool(&["test", "rules"], &files);
    assert!(ok, "promtool test rules failed:\n{text}");
    assert_eq!(
        text.matches("SUCCESS").count(),
        files.len(),
        "one SUCCESS per test file expected:\n{text}"
    );
}

/// A unit test file that expects the wrong alert must fail: the harness can fail.
#[test]
fn promtool_unit_tests_fail_on_a_wrong_expectation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = root().join("alerts/fedimeter.rules.yml");
    let test = format!(
        "rule_files: ['{}']\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'redis_up{{job=\"f\",instance=\"i\"}}'\n        values: '1x10'\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: RedisDown\n        exp_alerts:\n          - exp_labels: {{ severity: critical, job: f, instance: i }}\n",
        rules.display()
    );
    let path = dir.path().join("wrong.yml");
    std::fs::write(&path, test).expect("write test");
    let (ok, text) = promtool(&["test", "rules"], &[path]);
    assert!(!ok, "a Redis that is up must not fire RedisDown:\n{text}");
}

/// (alertname, expected alert count > 0) pairs of every `alert_rule_test` case.
fn unit_test_cases() -> Vec<(String, bool)> {
    let mut cases = Vec::new();
    for file in test_files() {
        let doc = load(&file);
        for test in doc["tests"].as_array().expect("tests") {
            for case in test["alert_rule_test"].as_array().into_iter().flatten() {
                let name = case["alertname"].as_str().expect("alertname").to_string();
                let fires = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
                cases.push((name, fires));
            }
        }
    }
    cases
}

#[test]
fn every_alert_is_tested_firing_and_not_firing() {
    let cases = unit_test_cases();
    let alerts = alerts();
    let mut missing = Vec::new();
    for name in alerts.keys() {
        for fires in [true, false] {
            if !cases.iter().any(|(n, f)| n == name && *f == fires) {
                missing.push(format!(
                    "{name}: no case where it {}",
                    if fires { "fires" } else { "stays silent" }
                ));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    let unknown: BTreeSet<&String> = cases
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !alerts.contains_key(*n))
        .collect();
    assert!(unknown.is_empty(), "tests of unknown alerts: {unknown:?}");
}

/// One comparison of a rule: `(family, label matchers, op, threshold)`, the family and the
/// matchers being those of the series compared (the first selector on the left).
type Comparison = (String, Vec<(String, String)>, String, f64);

/// The number an expression folds to: a literal, or arithmetic on literals (`14 * 86400`).
fn number(expr: &promql_parser::parser::Expr) -> Option<f64> {
    use promql_parser::parser::Expr;
    match expr {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => number(&p.expr),
        Expr::Unary(u) => number(&u.expr).map(|v| -v),
        Expr::Binary(b) => {
            let (l, r) = (number(&b.lhs)?, number(&b.rhs)?);
            match b.op.to_string().as_str() {
                "+" => Some(l + r),
                "-" => Some(l - r),
                "*" => Some(l * r),
                "/" => Some(l / r),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The first vector selector of an expression, left to right.
fn first_selector(
    expr: &promql_parser::parser::Expr,
) -> Option<&promql_parser::parser::VectorSelector> {
    use promql_parser::parser::Expr;
    match expr {
        Expr::VectorSelector(v) => Some(v),
        Expr::MatrixSelector(m) => Some(&m.vs),
        Expr::Paren(p) => first_selector(&p.expr),
        Expr::Unary(u) => first_selector(&u.expr),
        Expr::Aggregate(a) => first_selector(&a.expr),
        Expr::Subquery(s) => first_selector(&s.expr),
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_selector(a)),
        Expr::Binary(b) => first_selector(&b.lhs).or_else(|| first_selector(&b.rhs)),
        _ => None,
    }
}

/// The comparisons that make an alert's expression fire: the branches of `or` and `and`
/// each, the left side of `unless` (its right side only filters), and for a comparison
/// with a number on its right the comparison itself (what is on its left is not searched:
/// `used / (max > 0) > 0.9` is the one comparison `> 0.9`).
fn comparisons(expr: &promql_parser::parser::Expr, out: &mut Vec<Comparison>) {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::Expr;
    match expr {
        Expr::Paren(p) => comparisons(&p.expr, out),
        Expr::Binary(b) => {
            let op = b.op.to_string();
            match op.as_str() {
                "or" | "and" => {
                    comparisons(&b.lhs, out);
                    comparisons(&b.rhs, out);
                }
                "unless" => comparisons(&b.lhs, out),
                "==" | "!=" | ">" | ">=" | "<" | "<=" => {
                    let threshold = number(&b.rhs)
                        .unwrap_or_else(|| panic!("no number on the right of {expr}"));
                    let selector =
                        first_selector(&b.lhs).unwrap_or_else(|| panic!("no selector in {expr}"));
                    let mut matchers: Vec<(String, String)> = selector
                        .matchers
                        .matchers
                        .iter()
                        .filter(|m| m.name != "__name__" && matches!(m.op, MatchOp::Equal))
                        .map(|m| (m.name.clone(), m.value.clone()))
                        .collect();
                    matchers.sort();
                    let family = selector
                        .name
                        .clone()
                        .expect("a selector with a metric name");
                    out.push((family, matchers, op, threshold));
                }
                _ => panic!("no comparison at the top of {expr}"),
            }
        }
        _ => panic!("no comparison in {expr}"),
    }
}

/// The comparisons fedimeter evaluates for one built-in rule, in the same shape.
fn builtin_comparisons(rule: &fedimeter::config::alert::rule::Rule) -> Vec<Comparison> {
    use fedimeter::config::alert::rule::Condition;
    match &rule.condition {
        Condition::Threshold {
            family,
            matchers,
            cmp,
            value,
            ..
        } => {
            let mut m = matchers.clone();
            m.sort();
            vec![(family.clone(), m, cmp.as_str().to_string(), *value)]
        }
        // `fedimeter_burn_rate{window=long} > factor and … {window=short} > factor`.
        Condition::BurnRate {
            long,
            short,
            factor,
        } => [long, short]
            .iter()
            .map(|w| {
                (
                    "fedimeter_burn_rate".to_string(),
                    vec![("window".to_string(), w.to_string())],
                    ">".to_string(),
                    *factor,
                )
            })
            .collect(),
        other => panic!("{}: no Prometheus form for {other:?}", rule.name),
    }
}

/// The Prometheus rules whose series differ from the built-in rule's family, and the
/// family they compare instead (docs/alerts.md explains each).
const OTHER_FAMILY: &[(&str, &str)] = &[
    // fedimeter compares the archiver's last-failure and last-success times; the
    // Prometheus rule writes the same condition with postgres_exporter's counters.
    (
        "PostgresWalArchivingFailing",
        "pg_stat_archiver_failed_count",
    ),
];

/// The built-in rules fedimeter evaluates itself (`rule::builtin()`) and
/// `alerts/fedimeter.rules.yml` are one set: the same alert names, and for every name the
/// same `severity` label, the same `for`, and the same comparisons. A built-in name may be
/// several rules (SidekiqQueueLatencyHigh is one per queue); the Prometheus rule is then
/// one expression whose `or` branches are those rules, each with its queue's matcher and
/// threshold. A burn-rate rule is the `and` of its two windows over the same factor.
#[test]
fn the_builtin_rules_and_the_prometheus_rules_are_one_set() {
    let builtin = fedimeter::config::alert::rule::builtin();
    let mut by_name: BTreeMap<&str, Vec<&fedimeter::config::alert::rule::Rule>> = BTreeMap::new();
    for r in &builtin {
        by_name.entry(r.name.as_str()).or_default().push(r);
    }
    let yaml: BTreeMap<String, Value> = load(&root().join("alerts/fedimeter.rules.yml"))["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| Some((r["alert"].as_str()?.to_string(), r)))
        .collect();
    assert_eq!(
        yaml.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        by_name.keys().copied().collect::<BTreeSet<_>>(),
        "fedimeter.rules.yml holds exactly the built-in set"
    );
    let mut drift = Vec::new();
    for (name, rules) in &by_name {
        let prom = &yaml[*name];
        for r in rules {
            if r.severity.as_str() != prom["labels"]["severity"] {
                drift.push(format!(
                    "{name}: severity {} here, {} in the YAML",
                    r.severity.as_str(),
                    prom["labels"]["severity"]
                ));
            }
            let prom_for = prom["for"]
                .as_str()
                .map(|f| humantime::parse_duration(f).expect("a Prometheus duration"))
                .unwrap_or_default();
            if r.for_ != prom_for {
                drift.push(format!(
                    "{name}: for {:?} here, {prom_for:?} in the YAML",
                    r.for_
                ));
            }
        }
        let expr = prom["expr"].as_str().expect("expr");
        let parsed =
            promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("{name}: {e}: {expr}"));
        let mut got = Vec::new();
        comparisons(&parsed, &mut got);
        let mut want: Vec<Comparison> = rules.iter().flat_map(|r| builtin_comparisons(r)).collect();
        if let Some((_, family)) = OTHER_FAMILY.iter().find(|(n, _)| n == name) {
            for c in &mut want {
                c.0 = family.to_string();
            }
        }
        let sort = |v: &mut Vec<Comparison>| {
            v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        };
        sort(&mut got);
        sort(&mut want);
        if got != want {
            drift.push(format!(
                "{name}: comparisons {want:?} here, {got:?} in the YAML"
            ));
        }
    }
    assert!(drift.is_empty(), "{drift:#?}");
}

/// The comparison finder reads what it is meant to (hand-written expressions).
#[test]
fn comparisons_are_found_where_an_alert_fires() {
    type Expected<'a> = &'a [(&'a str, &'a [(&'a str, &'a str)], &'a str, f64)];
    let check = |expr: &str, expected: Expected<'_>| {
        let mut got = Vec::new();
        comparisons(
            &promql_parser::parser::parse(expr).expect("parse"),
            &mut got,
        );
        let want: Vec<Comparison> = expected
            .iter()
            .map(|(f, m, op, v)| {
                (
                    f.to_string(),
                    m.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    op.to_string(),
                    *v,
                )
            })
            .collect();
        assert_eq!(got, want, "{expr}");
    };
    check("a{x=\"1\"} >= 0.5", &[("a", &[("x", "1")], ">=", 0.5)]);
    check("a - time() < 3 * 86400", &[("a", &[], "<", 259_200.0)]);
    check("a / (b > 0) > 0.9", &[("a", &[], ">", 0.9)]);
    check(
        "a{q=\"x\"} > 1 or a{q=\"y\"} > 2",
        &[
            ("a", &[("q", "x")], ">", 1.0),
            ("a", &[("q", "y")], ">", 2.0),
        ],
    );
    check(
        "increase(a[5m]) > 0 unless increase(b[5m]) > 0",
        &[("a", &[], ">", 0.0)],
    );
    check(
        "a{w=\"1h\"} > 14.4 and ignoring (w) a{w=\"5m\"} > 14.4",
        &[
            ("a", &[("w", "1h")], ">", 14.4),
            ("a", &[("w", "5m")], ">", 14.4),
        ],
    );
}

#[test]
fn every_alert_has_a_summary_a_description_and_a_runbook_section() {
    let runbooks =
        std::fs::read_to_string(root().join("docs/runbooks.md")).expect("docs/runbooks.md");
    let sections: BTreeSet<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    for (name, rule) in alerts() {
        let annotations = &rule["annotations"];
        for key in ["summary", "description"] {
            assert!(
                annotations[key]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name} has no {key}"
            );
        }
        let anchor = name.to_lowercase();
        assert_eq!(
            annotations["runbook_url"].as_str(),
            Some(
                format!(
                    "https://github.com/fedimeter/fedimeter/blob/main/docs/runbooks.md#{anchor}"
                )
                .as_str()
            ),
            "{name}"
        );
        assert!(
            sections.contains(&anchor),
            "docs/runbooks.md has no section ## {name}"
        );
        let severity = rule["labels"]["severity"].as_str().unwrap_or("");
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
    }
}
