//! The Prometheus rule files in `alerts/`: `promtool check rules` accepts them,
//! `promtool test rules` passes the unit tests in `alerts/tests/`, every alert has a unit
//! test in which it fires and one in which it stays silent, and the built-in Mastodon alert
//! set has exactly the names, severities and `for` of the shared contract, each with a
//! summary, a description and a runbook section in `docs/runbooks.md`.

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

/// The built-in Mastodon alert set (the contract shared with the Discord rules):
/// name, severity, `for`.
const CONTRACT: &[(&str, &str, &str)] = &[
    ("MastodonWebsiteDown", "critical", "2m"),
    ("MastodonApiDown", "critical", "2m"),
    ("MastodonStreamingDown", "critical", "2m"),
    ("SidekiqQueueLatencyHigh", "warning", "5m"),
    ("SidekiqQueueUncovered", "warning", "5m"),
    ("SidekiqNoProcesses", "critical", "2m"),
    ("PostgresDown", "critical", "1m"),
    ("PgbouncerDown", "critical", "1m"),
    ("RedisDown", "critical", "1m"),
    ("PgbouncerClientsWaitingLong", "warning", "1m"),
    ("PgbouncerPoolSaturated", "warning", "5m"),
    ("PostgresReplicationLagHigh", "warning", "5m"),
    ("PostgresWalArchivingFailing", "warning", "5m"),
    ("PostgresTxidWraparoundRisk", "warning", "5m"),
    ("PostgresTxidWraparoundCritical", "critical", "5m"),
    ("RedisMemoryHigh", "warning", "5m"),
    ("RedisBackgroundSaveFailing", "critical", "1m"),
    ("TlsCertificateExpiringSoon", "warning", "10m"),
    ("TlsCertificateExpiryCritical", "critical", "10m"),
    ("ErrorBudgetBurnFast", "critical", "2m"),
    ("ErrorBudgetBurnSlow", "warning", "15m"),
];

#[test]
fn the_builtin_set_has_the_contract_names_severities_and_durations() {
    let alerts = alerts();
    for (name, severity, duration) in CONTRACT {
        let rule = alerts
            .get(*name)
            .unwrap_or_else(|| panic!("{name} missing from alerts/"));
        assert_eq!(rule["labels"]["severity"], *severity, "{name}");
        assert_eq!(rule["for"], *duration, "{name}");
    }
    let builtin: BTreeSet<String> = load(&root().join("alerts/fedimeter.rules.yml"))["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect();
    let contract: BTreeSet<String> = CONTRACT.iter().map(|c| c.0.to_string()).collect();
    assert_eq!(
        builtin, contract,
        "fedimeter.rules.yml holds exactly the built-in set"
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
