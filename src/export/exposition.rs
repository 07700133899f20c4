//! The Prometheus exposition of the latest snapshots, in the classic text format (0.0.4) or
//! OpenMetrics 1.0, negotiated from the `Accept` header as the Go client does.
//!
//! Why not prometheus-client's encoder: it only speaks OpenMetrics and appends `_total` to
//! every counter, which would rename exporter-compatible counters such as
//! `pg_stat_database_xact_commit` (see `shared/reference/verified-facts.md` §2). Here a
//! family's name is written exactly as declared. In OpenMetrics a counter family must have
//! `_total` samples, so — as client_golang does — a counter named `…_total` is announced as
//! `# TYPE <name without _total> counter`, and a legacy counter without the suffix as
//! `unknown`. Prometheus stores the same series names for both formats.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::model::{Family, Kind, MetricDesc, MetricType, Sample, SnapshotStore, TargetId};

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4` — the default, what curl, promtool and older scrapers read.
    Text,
    /// `application/openmetrics-text; version=1.0.0` — when the scraper asks for it.
    OpenMetrics,
}

impl Format {
    /// Picks the format from an `Accept` header: OpenMetrics only when it is asked for with
    /// a higher (or equal, earlier) preference than the text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best: Option<(f32, Format)> = None;
        for part in accept.split(',') {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("").to_ascii_lowercase();
            let format = match media.as_str() {
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "*/*" | "text/*" => Format::Text,
                _ => continue,
            };
            let q = params
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Text, |(_, f)| f)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// One family's samples from one source, with the target label to add (if any).
struct Part<'a> {
    target: Option<&'a str>,
    samples: &'a [Sample],
}

/// Renders every target's latest snapshot plus fedimeter's internal families.
pub fn render_store(store: &SnapshotStore, format: Format) -> String {
    let latest = store.latest();
    let internal = store.internal();
    let mut groups: BTreeMap<&'static str, (&'static MetricDesc, Vec<Part<'_>>)> = BTreeMap::new();
    for (id, snapshot) in &latest {
        let Some(snapshot) = snapshot else { continue };
        let add_target = store.labels_target(id.kind);
        for family in &snapshot.families {
            let target = (add_target && !family.desc.has_target_label()).then_some(&*id.name);
            push(&mut groups, family, target);
        }
    }
    for families in &internal {
        for family in families.iter() {
            push(&mut groups, family, None);
        }
    }
    encode_groups(&groups, format)
}

/// Renders one target's latest series without the `target` label, for `/probe?target=`.
/// Families that carry an explicit `target` label (the runner's self-metrics) are left out,
/// as blackbox_exporter's `/probe` returns only the probe's own series.
pub fn render_target(store: &SnapshotStore, id: &TargetId, format: Format) -> Option<String> {
    let snapshot = store.get(id)?;
    let mut groups = BTreeMap::new();
    for family in &snapshot.families {
        if !family.desc.has_target_label() {
            push(&mut groups, family, None);
        }
    }
    Some(encode_groups(&groups, format))
}

/// Renders a plain list of families (used by `fedimeter once` for unit tests and tools).
pub fn render_families<'a>(
    families: impl IntoIterator<Item = (&'a Family, Option<&'a str>)>,
    format: Format,
) -> String {
    let mut groups = BTreeMap::new();
    for (family, target) in families {
        push(&mut groups, family, target);
    }
    encode_groups(&groups, format)
}

fn push<'a>(
    groups: &mut BTreeMap<&'static str, (&'static MetricDesc, Vec<Part<'a>>)>,
    family: &'a Family,
    target: Option<&'a str>,
) {
    groups
        .entry(family.desc.name)
        .or_insert_with(|| (family.desc, Vec::new()))
        .1
        .push(Part {
            target,
            samples: &family.samples,
        });
}

fn encode_groups(
    groups: &BTreeMap<&'static str, (&'static MetricDesc, Vec<Part<'_>>)>,
    format: Format,
) -> String {
    let mut out = String::with_capacity(64 * 1024);
    for (desc, parts) in groups.values() {
        if parts.iter().all(|p| p.samples.is_empty()) {
            continue;
        }
        encode_family(&mut out, desc, parts, format);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn encode_family(out: &mut String, desc: &MetricDesc, parts: &[Part<'_>], format: Format) {
    let (family_name, type_name) = match (format, desc.metric_type) {
        (_, MetricType::Gauge) => (desc.name, "gauge"),
        (Format::Text, MetricType::Counter) => (desc.name, "counter"),
        (Format::OpenMetrics, MetricType::Counter) => match desc.name.strip_suffix("_total") {
            Some(base) => (base, "counter"),
            None => (desc.name, "unknown"),
        },
    };
    out.push_str("# HELP ");
    out.push_str(family_name);
    out.push(' ');
    escape_help(out, desc.help, format);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {family_name} {type_name}");
    for part in parts {
        for sample in part.samples {
            out.push_str(desc.name);
            let has_labels = part.target.is_some() || !desc.labels.is_empty();
            if has_labels {
                out.push('{');
                let mut first = true;
                for (name, value) in desc.labels.iter().zip(sample.labels.iter()) {
                    label(out, &mut first, name, value);
                }
                if let Some(target) = part.target {
                    label(out, &mut first, "target", target);
                }
                out.push('}');
            }
            out.push(' ');
            write_value(out, sample.value);
            out.push('\n');
        }
    }
}

fn label(out: &mut String, first: &mut bool, name: &str, value: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    out.push_str(name);
    out.push_str("=\"");
    if value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(value);
    }
    out.push('"');
}

/// Escapes a HELP text for `format`.
///
/// - Text format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats, "Comments,
///   help text, and type information"): "HELP lines may contain any sequence of UTF-8
///   characters (after the metric name), but the backslash and the line feed characters
///   have to be escaped as `\\` and `\n`, respectively." A `"` stays as it is (Prometheus'
///   text parser would keep a `\"` as two characters).
/// - OpenMetrics 1.0 (OpenMetrics.md, ABNF): `help = "HELP" SP metricname SP
///   escaped-string`, `escaped-char = normal-char / bs bs / bs "n" / bs dquote`, and
///   `normal-char` excludes `"` (%x22), `\` (%x5C) and LF (%x0A): all three are escaped.
fn escape_help(out: &mut String, help: &str, format: Format) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Writes a sample value as Prometheus parses it: integers without a fraction, `NaN`,
/// `+Inf`, `-Inf`, and otherwise the shortest representation that round-trips.
pub fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        out.push_str(itoa::Buffer::new().format(value as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(value));
    }
}

/// Whether series of this kind carry the `target` label (re-exported for OTLP).
pub fn labels_target(store: &SnapshotStore, kind: Kind) -> bool {
    store.labels_target(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MetricDesc, Outcome, Snapshot};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    static XACT: MetricDesc = MetricDesc::counter(
        "pg_stat_database_xact_commit",
        "Transactions committed",
        &["datid", "datname"],
    );
    static RUNS: MetricDesc = MetricDesc::counter(
        "fedimeter_collector_runs_total",
        "Runs",
        &["collector", "target"],
    );
    static UPG: MetricDesc = MetricDesc::gauge("redis_up", "Up", &[]);
    static Q: MetricDesc = MetricDesc::gauge(
        "sidekiq_queue_latency_seconds",
        "Latency\\of \"queue\"\nx",
        &["name"],
    );

    fn check(families: Vec<(Family, Option<&str>)>, format: Format, expect: &str) {
        let got = render_families(families.iter().map(|(f, t)| (f, *t)), format);
        assert_eq!(got, expect, "\n--- got ---\n{got}");
    }

    fn fam(desc: &'static MetricDesc, samples: &[(&[&str], f64)]) -> Family {
        Family {
            desc,
            samples: samples
                .iter()
                .map(|(l, v)| Sample {
                    labels: l.iter().map(|s| Box::<str>::from(*s)).collect(),
                    value: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn text_keeps_counter_names_as_declared() {
        check(
            vec![
                (fam(&XACT, &[(&["16384", "mastodon"], 42.0)]), None),
                (fam(&RUNS, &[(&["redis", "a"], 3.0)]), None),
            ],
            Format::Text,
            "# HELP fedimeter_collector_runs_total Runs\n# TYPE fedimeter_collector_runs_total counter\nfedimeter_collector_runs_total{collector=\"redis\",target=\"a\"} 3\n\
             # HELP pg_stat_database_xact_commit Transactions committed\n# TYPE pg_stat_database_xact_commit counter\npg_stat_database_xact_commit{datid=\"16384\",datname=\"mastodon\"} 42\n",
        );
    }

    #[test]
    fn openmetrics_announces_total_counters_by_base_name_and_legacy_ones_as_unknown() {
        check(
            vec![
                (fam(&XACT, &[(&["1", "m"], 1.0)]), None),
                (fam(&RUNS, &[(&["redis", "a"], 3.0)]), None),
            ],
            Format::OpenMetrics,
            "# HELP fedimeter_collector_runs Runs\n# TYPE fedimeter_collector_runs counter\nfedimeter_collector_runs_total{collector=\"redis\",target=\"a\"} 3\n\
             # HELP pg_stat_database_xact_commit Transactions committed\n# TYPE pg_stat_database_xact_commit unknown\npg_stat_database_xact_commit{datid=\"1\",datname=\"m\"} 1\n# EOF\n",
        );
    }

    #[test]
    fn labels_and_help_are_escaped() {
        check(
            vec![(
                fam(&Q, &[(&["<img src=x onerror=alert(1)>\"\\\n"], 0.5)]),
                None,
            )],
            Format::Text,
            "# HELP sidekiq_queue_latency_seconds Latency\\\\of \"queue\"\\nx\n# TYPE sidekiq_queue_latency_seconds gauge\n\
             sidekiq_queue_latency_seconds{name=\"<img src=x onerror=alert(1)>\\\"\\\\\\n\"} 0.5\n",
        );
    }

    /// HELP `a "quoted" \ back\nslash` (a `"`, a `\` and a newline), written by hand from
    /// the two specs: the 0.0.4 text format escapes only `\` and the newline in HELP
    /// ("the backslash and the line feed characters have to be escaped as `\\` and `\n`");
    /// the OpenMetrics ABNF's `escaped-char = normal-char / bs bs / bs "n" / bs dquote`,
    /// with `"` not a `normal-char`, also requires `\"`.
    #[test]
    fn help_escaping_follows_each_format() {
        static HELP: MetricDesc =
            MetricDesc::gauge("fedimeter_test_gauge", "a \"quoted\" \\ back\nslash", &[]);
        check(
            vec![(fam(&HELP, &[(&[], 1.0)]), None)],
            Format::Text,
            r#"# HELP fedimeter_test_gauge a "quoted" \\ back\nslash
# TYPE fedimeter_test_gauge gauge
fedimeter_test_gauge 1
"#,
        );
        check(
            vec![(fam(&HELP, &[(&[], 1.0)]), None)],
            Format::OpenMetrics,
            r#"# HELP fedimeter_test_gauge a \"quoted\" \\ back\nslash
# TYPE fedimeter_test_gauge gauge
fedimeter_test_gauge 1
# EOF
"#,
        );
    }

    #[test]
    fn target_label_is_appended_and_families_from_targets_are_merged() {
        check(
            vec![
                (fam(&UPG, &[(&[], 1.0)]), Some("cache")),
                (fam(&UPG, &[(&[], 0.0)]), Some("sidekiq")),
            ],
            Format::Text,
            "# HELP redis_up Up\n# TYPE redis_up gauge\nredis_up{target=\"cache\"} 1\nredis_up{target=\"sidekiq\"} 0\n",
        );
    }

    #[test]
    fn values_are_written_as_prometheus_parses_them() {
        for (v, s) in [
            (0.0, "0"),
            (-3.0, "-3"),
            (0.25, "0.25"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1e20, "1e20"),
            (1.5e-7, "1.5e-7"),
            (1_700_000_000.125, "1700000000.125"),
        ] {
            let mut out = String::new();
            write_value(&mut out, v);
            assert_eq!(out, s);
            if !v.is_nan() {
                let parsed: f64 = out
                    .replace("+Inf", "inf")
                    .replace("-Inf", "-inf")
                    .parse()
                    .expect("parses back");
                assert_eq!(parsed, v);
            }
        }
    }

    #[test]
    fn accept_negotiation_matches_the_go_client() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        for (accept, want) in [
            (None, Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some(prom), Format::OpenMetrics),
            (
                Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
                Format::Text,
            ),
            (Some("application/json"), Format::Text),
        ] {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn store_rendering_labels_target_only_with_several_targets_of_a_kind() {
        let one = TargetId::new(Kind::Postgres, "primary");
        let r1 = TargetId::new(Kind::Redis, "sidekiq");
        let r2 = TargetId::new(Kind::Redis, "cache");
        let store = SnapshotStore::new([one.clone(), r1.clone(), r2.clone()]);
        for id in [one, r1, r2] {
            let up = id.kind.up_desc().expect("has up");
            store.publish(Arc::new(Snapshot {
                target: id,
                finished_at: SystemTime::now(),
                duration: Duration::from_millis(1),
                outcome: Outcome::Success,
                families: vec![Family::single(up, 1.0)],
            }));
        }
        let text = render_store(&store, Format::Text);
        assert!(text.contains("\npg_up 1\n"), "{text}");
        assert!(text.contains("redis_up{target=\"sidekiq\"} 1\n"), "{text}");
        assert!(text.contains("redis_up{target=\"cache\"} 1\n"), "{text}");
        let probe = render_target(&store, &TargetId::new(Kind::Redis, "cache"), Format::Text)
            .expect("known target");
        assert_eq!(
            probe,
            "# HELP redis_up Whether the last collection from Redis succeeded\n# TYPE redis_up gauge\nredis_up 1\n"
        );
    }
}
