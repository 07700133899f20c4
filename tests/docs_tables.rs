//! The metric tables in `docs/*.md` against the crate's descriptors
//! (`fedimeter::metrics::descriptors`), in both directions: every declared family is
//! documented with its type and label names, and every documented family exists. A second
//! check compares the descriptors with the metric contract (`METRICS.md`, vendored as
//! `tests/fixtures/metrics-contract.md`) wherever the contract names the same family.
//!
//! A metric table is any Markdown table whose first three header cells are `family`,
//! `type` and `labels` (the format is described in docs/metrics.md, "Metric tables").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fedimeter::metrics::{DYNAMIC_PREFIXES, descriptors};
use fedimeter::model::{MetricDesc, MetricType};

/// One documented family: where, its type and its label names (sorted).
#[derive(Debug, Clone, PartialEq)]
struct Documented {
    place: String,
    metric_type: MetricType,
    labels: BTreeSet<String>,
}

/// Splits a table row into cells on `|` that is not escaped as `\|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    out.push(cell);
    out.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The backticked spans of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Expands `a_{b,c}_d` into `a_b_d`, `a_c_d` (one level of braces, several groups).
fn expand(name: &str) -> Vec<String> {
    let Some(open) = name.find('{') else {
        return vec![name.to_owned()];
    };
    let close = open + name[open..].find('}').expect("unclosed brace");
    let (head, tail) = (&name[..open], &name[close + 1..]);
    name[open + 1..close]
        .split(',')
        .flat_map(|alt| expand(&format!("{head}{}{tail}", alt.trim())))
        .collect()
}

/// Label names from a labels cell: `–` for none, else comma-separated names (backticks
/// optional); parenthesised notes are dropped.
fn label_names(cell: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth = 0;
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '`' => {}
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.trim();
    if plain == "–" || plain == "-" || plain.is_empty() {
        return BTreeSet::new();
    }
    plain
        .split(',')
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

fn metric_type(cell: &str, place: &str) -> MetricType {
    match cell.split_whitespace().next() {
        Some("gauge") | Some("gauge=1") => MetricType::Gauge,
        Some("counter") => MetricType::Counter,
        other => panic!("{place}: type {other:?} is neither gauge nor counter"),
    }
}

/// Every documented family of every metric table in `docs/*.md`.
fn documented() -> BTreeMap<String, Vec<Documented>> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut paths: Vec<_> = std::fs::read_dir(&docs)
        .expect("docs/")
        .map(|e| e.expect("docs entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    let mut out: BTreeMap<String, Vec<Documented>> = BTreeMap::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("read doc");
        let file = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut in_table = false;
        for (n, line) in text.lines().enumerate() {
            let place = format!("docs/{file}:{}", n + 1);
            if !line.starts_with('|') {
                in_table = false;
                continue;
            }
            let row = cells(line);
            let header: Vec<String> = row.iter().take(3).map(|c| c.to_lowercase()).collect();
            if header == ["family", "type", "labels"] {
                in_table = true;
                continue;
            }
            if !in_table || row[0].starts_with("---") {
                continue;
            }
            assert!(
                row.len() >= 3,
                "{place}: a metric row needs family, type, labels"
            );
            let metric_type = metric_type(&row[1], &place);
            let labels = label_names(&row[2]);
            let names = code_spans(&row[0]);
            assert!(!names.is_empty(), "{place}: no `family` in the first cell");
            for span in names {
                for name in expand(span) {
                    out.entry(name).or_default().push(Documented {
                        place: place.clone(),
                        metric_type,
                        labels: labels.clone(),
                    });
                }
            }
        }
    }
    out
}

fn declared_labels(desc: &MetricDesc) -> BTreeSet<String> {
    desc.labels.iter().map(|l| (*l).to_owned()).collect()
}

#[test]
fn every_declared_family_is_documented_with_its_type_and_labels() {
    let documented = documented();
    let mut problems = Vec::new();
    for desc in descriptors() {
        let Some(docs) = documented.get(desc.name) else {
            problems.push(format!("{}: not in any docs/*.md metric table", desc.name));
            continue;
        };
        for doc in docs {
            if doc.metric_type != desc.metric_type {
                problems.push(format!(
                    "{}: {:?} in the code, {:?} in {}",
                    desc.name, desc.metric_type, doc.metric_type, doc.place
                ));
            }
            if doc.labels != declared_labels(desc) {
                problems.push(format!(
                    "{}: labels {:?} in the code, {:?} in {}",
                    desc.name,
                    declared_labels(desc),
                    doc.labels,
                    doc.place
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_documented_family_exists() {
    let declared: BTreeSet<&str> = descriptors().iter().map(|d| d.name).collect();
    let mut problems = Vec::new();
    for (name, docs) in documented() {
        let dynamic = name.contains('<');
        let known = if dynamic {
            DYNAMIC_PREFIXES.iter().any(|p| name.starts_with(p))
        } else {
            declared.contains(name.as_str())
        };
        if !known {
            problems.push(format!("{name} ({}): no such family", docs[0].place));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The contract's tables are `family | type | labels | …` too, but written for people:
/// several families per row with positional types (`gauge/gauge/counter`), `cnt, no _total`
/// for a counter without the suffix, and label cells with notes. A family's type is
/// compared whenever the row gives it; its labels only when the cell is a plain list.
/// The contract's HTTP-probe table says that on `/metrics` every `probe_*` family carries
/// `target,module` besides the labels a row lists ("(+target,module)"); the descriptors
/// declare `module` (the encoder adds `target`), so `module` is added to the contract's
/// list for `probe_*` families before comparing; likewise `server` for the `pg_*` families
/// of issue 11 ([`carries_server_from_issue_11`]).
#[test]
fn descriptors_agree_with_the_metric_contract_where_it_names_them() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics-contract.md");
    let text = std::fs::read_to_string(&path).expect("metrics-contract.md");
    let declared: BTreeMap<&str, &MetricDesc> =
        descriptors().into_iter().map(|d| (d.name, d)).collect();
    let mut problems = Vec::new();
    let mut compared = 0;
    let mut in_table = false;
    for (n, line) in text.lines().enumerate() {
        let place = format!("metrics-contract.md:{}", n + 1);
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let row = cells(line);
        if row.len() >= 3 && row[0] == "family" && row[1] == "type" && row[2] == "labels" {
            in_table = true;
            continue;
        }
        if !in_table || row[0].starts_with("---") {
            continue;
        }
        let names: Vec<String> = code_spans(&row[0]).into_iter().flat_map(expand).collect();
        let types: Vec<&str> = row[1].split('/').map(str::trim).collect();
        let plain_labels = {
            let cell = row[2].as_str();
            let simple =
                !cell.contains(['/', '+', '(', ';']) && (cell == "–" || cell.starts_with('`'));
            simple.then(|| label_names(cell))
        };
        for (i, name) in names.iter().enumerate() {
            let Some(desc) = declared.get(name.as_str()) else {
                continue;
            };
            compared += 1;
            let type_cell = if types.len() == names.len() {
                types[i]
            } else {
                types[0]
            };
            let contract_type = if type_cell.starts_with("cnt") || type_cell.starts_with("counter")
            {
                MetricType::Counter
            } else if type_cell.starts_with("gauge") {
                MetricType::Gauge
            } else {
                problems.push(format!("{place}: type {type_cell:?} not understood"));
                continue;
            };
            if contract_type != desc.metric_type {
                problems.push(format!(
                    "{name}: {:?} in the code, {contract_type:?} in {place}",
                    desc.metric_type
                ));
            }
            if let Some(labels) = &plain_labels
                && !LABELS_FROM_A_LATER_ISSUE.iter().any(|(n, _)| n == name)
            {
                let mut labels = labels.clone();
                if name.starts_with("probe_") {
                    labels.insert("module".to_owned());
                }
                if carries_server_from_issue_11(name) {
                    labels.insert("server".to_owned());
                }
                if labels != declared_labels(desc) {
                    problems.push(format!(
                        "{name}: labels {:?} in the code, {labels:?} in {place}",
                        declared_labels(desc)
                    ));
                }
            }
        }
    }
    assert!(
        compared > 100,
        "only {compared} families compared: did the contract's table format change?"
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// Issue 11 added postgres_exporter's `server="host:port"` label to every `pg_*` family
/// except `pg_up`, `pg_exporter_*` and `pg_scrape_*` (as a postgres_exporter 0.11.1 scrape
/// has it, docs/postgres.md); the contract predates it and lists no `server`, so it is
/// added to the contract's list for those families before comparing.
fn carries_server_from_issue_11(name: &str) -> bool {
    name.starts_with("pg_")
        && name != "pg_up"
        && !name.starts_with("pg_exporter_")
        && !name.starts_with("pg_scrape_")
}

/// Families whose label names follow the issue that built them rather than the contract's
/// table, with the reason (the contract predates the issue; both are public, so the
/// difference is listed here and in docs/alerts.md instead of silently).
const LABELS_FROM_A_LATER_ISSUE: &[(&str, &str)] = &[(
    "fedimeter_outbox_pending",
    "issue 10 names `{route}`: a `[[discord]]` route, several of which may share one channel",
)];

#[test]
fn table_parsing_reads_braces_escaped_pipes_and_notes() {
    assert_eq!(
        cells("| `a_{x,y}_total` | counter | `db,key` (`\"\"` \\| none) | s |"),
        [
            "`a_{x,y}_total`",
            "counter",
            "`db,key` (`\"\"` | none)",
            "s"
        ]
    );
    assert_eq!(
        expand("a_{x,y}_b_{1,2}"),
        ["a_x_b_1", "a_x_b_2", "a_y_b_1", "a_y_b_2"]
    );
    let labels: Vec<String> = label_names("version (`TLS 1.3`, `TLS 1.2`), module")
        .into_iter()
        .collect();
    assert_eq!(labels, ["module", "version"]);
    assert!(label_names("–").is_empty());
}
