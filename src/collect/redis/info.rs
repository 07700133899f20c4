//! Redis' `INFO` output, parsed without I/O: [`parse_info`] splits it into fields and the
//! structured sections (commandstats, keyspace), [`info_samples`] turns it into
//! redis_exporter's families, declared here with their [`DESCRIPTORS`]. Tested on captured
//! `INFO ALL` outputs in `tests/fixtures/redis/`.

use std::collections::BTreeMap;

use crate::collect::Sink;
use crate::model::MetricDesc;

/// `INFO` output split into its plain `field:value` lines and the structured sections.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Info<'a> {
    /// Every `field:value` line outside `# Commandstats` and `# Keyspace`.
    pub fields: BTreeMap<&'a str, &'a str>,
    /// `cmdstat_<cmd>:calls=…,usec=…`: command → (calls, usec).
    pub commands: BTreeMap<&'a str, (f64, f64)>,
    /// `db<N>:keys=…,expires=…`: db → (keys, expires).
    pub keyspace: BTreeMap<&'a str, (f64, f64)>,
}

impl<'a> Info<'a> {
    pub fn get(&self, field: &str) -> Option<&'a str> {
        self.fields.get(field).copied()
    }

    pub fn number(&self, field: &str) -> Option<f64> {
        self.get(field).and_then(|v| v.trim().parse::<f64>().ok())
    }
}

/// Parses the text of `INFO` / `INFO ALL`. Unknown lines are kept as plain fields; lines
/// without a colon and `#` section headers are skipped; CRLF or LF line ends.
pub fn parse_info(text: &str) -> Info<'_> {
    let mut info = Info::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(command) = field.strip_prefix("cmdstat_") {
            let stats = parse_key_values(value);
            if let (Some(calls), Some(usec)) = (stats.get("calls"), stats.get("usec")) {
                info.commands.insert(command, (*calls, *usec));
            }
        } else if is_keyspace_db(field) && value.contains("keys=") {
            let stats = parse_key_values(value);
            info.keyspace.insert(
                field,
                (
                    stats.get("keys").copied().unwrap_or(0.0),
                    stats.get("expires").copied().unwrap_or(0.0),
                ),
            );
        } else {
            info.fields.insert(field, value);
        }
    }
    info
}

fn is_keyspace_db(field: &str) -> bool {
    field
        .strip_prefix("db")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `a=1,b=2.5` → {a: 1, b: 2.5}; non-numeric values are skipped.
fn parse_key_values(text: &str) -> BTreeMap<&str, f64> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(k, v)| v.trim().parse::<f64>().ok().map(|v| (k.trim(), v)))
        .collect()
}

pub static INSTANCE_INFO: MetricDesc = MetricDesc::gauge(
    "redis_instance_info",
    "Information about the Redis instance",
    &[
        "role",
        "redis_version",
        "redis_build_id",
        "redis_mode",
        "os",
        "maxmemory_policy",
        "tcp_port",
        "run_id",
        "process_id",
        "master_replid",
    ],
);
pub static UPTIME: MetricDesc =
    MetricDesc::gauge("redis_uptime_in_seconds", "uptime_in_seconds metric", &[]);
pub static CONNECTED_CLIENTS: MetricDesc =
    MetricDesc::gauge("redis_connected_clients", "connected_clients metric", &[]);
pub static BLOCKED_CLIENTS: MetricDesc =
    MetricDesc::gauge("redis_blocked_clients", "blocked_clients metric", &[]);
pub static MAX_CLIENTS: MetricDesc =
    MetricDesc::gauge("redis_max_clients", "maxclients metric", &[]);
pub static MEMORY_USED: MetricDesc =
    MetricDesc::gauge("redis_memory_used_bytes", "used_memory metric", &[]);
pub static MEMORY_USED_RSS: MetricDesc =
    MetricDesc::gauge("redis_memory_used_rss_bytes", "used_memory_rss metric", &[]);
pub static MEMORY_MAX: MetricDesc =
    MetricDesc::gauge("redis_memory_max_bytes", "maxmemory metric", &[]);
pub static MEM_FRAGMENTATION_RATIO: MetricDesc = MetricDesc::gauge(
    "redis_mem_fragmentation_ratio",
    "mem_fragmentation_ratio metric",
    &[],
);
pub static COMMANDS_PROCESSED: MetricDesc = MetricDesc::counter(
    "redis_commands_processed_total",
    "total_commands_processed metric",
    &[],
);
pub static CONNECTIONS_RECEIVED: MetricDesc = MetricDesc::counter(
    "redis_connections_received_total",
    "total_connections_received metric",
    &[],
);
pub static REJECTED_CONNECTIONS: MetricDesc = MetricDesc::counter(
    "redis_rejected_connections_total",
    "rejected_connections metric",
    &[],
);
pub static KEYSPACE_HITS: MetricDesc =
    MetricDesc::counter("redis_keyspace_hits_total", "keyspace_hits metric", &[]);
pub static KEYSPACE_MISSES: MetricDesc =
    MetricDesc::counter("redis_keyspace_misses_total", "keyspace_misses metric", &[]);
pub static EVICTED_KEYS: MetricDesc =
    MetricDesc::counter("redis_evicted_keys_total", "evicted_keys metric", &[]);
pub static EXPIRED_KEYS: MetricDesc =
    MetricDesc::counter("redis_expired_keys_total", "expired_keys metric", &[]);
pub static NET_INPUT: MetricDesc = MetricDesc::counter(
    "redis_net_input_bytes_total",
    "total_net_input_bytes metric",
    &[],
);
pub static NET_OUTPUT: MetricDesc = MetricDesc::counter(
    "redis_net_output_bytes_total",
    "total_net_output_bytes metric",
    &[],
);
pub static COMMANDS: MetricDesc = MetricDesc::counter(
    "redis_commands_total",
    "Total number of calls per command",
    &["cmd"],
);
pub static COMMANDS_DURATION: MetricDesc = MetricDesc::counter(
    "redis_commands_duration_seconds_total",
    "Total amount of time in seconds spent per command",
    &["cmd"],
);
pub static DB_KEYS: MetricDesc =
    MetricDesc::gauge("redis_db_keys", "Total number of keys by DB", &["db"]);
pub static DB_KEYS_EXPIRING: MetricDesc = MetricDesc::gauge(
    "redis_db_keys_expiring",
    "Total number of expiring keys by DB",
    &["db"],
);
pub static RDB_LAST_SAVE: MetricDesc = MetricDesc::gauge(
    "redis_rdb_last_save_timestamp_seconds",
    "rdb_last_save_time metric",
    &[],
);
pub static RDB_CHANGES_SINCE_LAST_SAVE: MetricDesc = MetricDesc::gauge(
    "redis_rdb_changes_since_last_save",
    "rdb_changes_since_last_save metric",
    &[],
);
pub static RDB_LAST_BGSAVE_STATUS: MetricDesc = MetricDesc::gauge(
    "redis_rdb_last_bgsave_status",
    "Whether the last background save succeeded (1) or failed (0); a failure makes Redis refuse writes (MISCONF)",
    &[],
);
pub static CONNECTED_SLAVES: MetricDesc =
    MetricDesc::gauge("redis_connected_slaves", "connected_slaves metric", &[]);
pub static MASTER_LINK_UP: MetricDesc = MetricDesc::gauge(
    "redis_master_link_up",
    "Whether this replica's link to its master is up (only on replicas)",
    &["master_host", "master_port"],
);
pub static CONFIG_MAXCLIENTS: MetricDesc = MetricDesc::gauge(
    "redis_config_maxclients",
    "config_maxclients metric (INFO maxclients; redis_exporter reads it with CONFIG GET, fedimeter needs no CONFIG)",
    &[],
);
pub static TOTAL_SYSTEM_MEMORY: MetricDesc = MetricDesc::gauge(
    "redis_total_system_memory_bytes",
    "total_system_memory metric (INFO total_system_memory)",
    &[],
);
pub static MASTER_REPL_OFFSET: MetricDesc = MetricDesc::gauge(
    "redis_master_repl_offset",
    "master_repl_offset metric (the replication offset of this server, master or replica)",
    &[],
);
const REPLICA_LABELS: &[&str] = &["master_host", "master_port"];
pub static SLAVE_REPL_OFFSET: MetricDesc = MetricDesc::gauge(
    "redis_slave_repl_offset",
    "Slave replication offset (INFO slave_repl_offset; only on replicas)",
    REPLICA_LABELS,
);
pub static MASTER_LAST_IO_SECONDS_AGO: MetricDesc = MetricDesc::gauge(
    "redis_master_last_io_seconds_ago",
    "Master last io seconds ago (INFO master_last_io_seconds_ago, -1 while the link is down; only on replicas)",
    REPLICA_LABELS,
);
pub static MASTER_SYNC_IN_PROGRESS: MetricDesc = MetricDesc::gauge(
    "redis_master_sync_in_progress",
    "Master sync in progress (INFO master_sync_in_progress; only on replicas)",
    REPLICA_LABELS,
);
pub static SLAVE_INFO: MetricDesc = MetricDesc::gauge(
    "redis_slave_info",
    "Information about the Redis slave (value is always 1; only on replicas)",
    &["master_host", "master_port", "read_only"],
);
pub static EXPORTER_LAST_SCRAPE_ERROR: MetricDesc = MetricDesc::gauge(
    "redis_exporter_last_scrape_error",
    "Whether the last collection failed (1, with the reason in err) or not (0, err empty)",
    &["err"],
);
pub static EXPORTER_LAST_SCRAPE_DURATION: MetricDesc = MetricDesc::gauge(
    "redis_exporter_last_scrape_duration_seconds",
    "Duration of the last collection from this Redis",
    &[],
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &crate::model::REDIS_UP,
    &INSTANCE_INFO,
    &UPTIME,
    &CONNECTED_CLIENTS,
    &BLOCKED_CLIENTS,
    &MAX_CLIENTS,
    &MEMORY_USED,
    &MEMORY_USED_RSS,
    &MEMORY_MAX,
    &MEM_FRAGMENTATION_RATIO,
    &COMMANDS_PROCESSED,
    &CONNECTIONS_RECEIVED,
    &REJECTED_CONNECTIONS,
    &KEYSPACE_HITS,
    &KEYSPACE_MISSES,
    &EVICTED_KEYS,
    &EXPIRED_KEYS,
    &NET_INPUT,
    &NET_OUTPUT,
    &COMMANDS,
    &COMMANDS_DURATION,
    &DB_KEYS,
    &DB_KEYS_EXPIRING,
    &RDB_LAST_SAVE,
    &RDB_CHANGES_SINCE_LAST_SAVE,
    &RDB_LAST_BGSAVE_STATUS,
    &CONNECTED_SLAVES,
    &MASTER_LINK_UP,
    &CONFIG_MAXCLIENTS,
    &TOTAL_SYSTEM_MEMORY,
    &MASTER_REPL_OFFSET,
    &SLAVE_REPL_OFFSET,
    &MASTER_LAST_IO_SECONDS_AGO,
    &MASTER_SYNC_IN_PROGRESS,
    &SLAVE_INFO,
    &EXPORTER_LAST_SCRAPE_ERROR,
    &EXPORTER_LAST_SCRAPE_DURATION,
];

/// Plain numeric INFO fields and the families they fill.
const NUMERIC_FIELDS: &[(&str, &MetricDesc)] = &[
    ("uptime_in_seconds", &UPTIME),
    ("connected_clients", &CONNECTED_CLIENTS),
    ("blocked_clients", &BLOCKED_CLIENTS),
    ("maxclients", &MAX_CLIENTS),
    ("maxclients", &CONFIG_MAXCLIENTS),
    ("total_system_memory", &TOTAL_SYSTEM_MEMORY),
    ("master_repl_offset", &MASTER_REPL_OFFSET),
    ("used_memory", &MEMORY_USED),
    ("used_memory_rss", &MEMORY_USED_RSS),
    ("maxmemory", &MEMORY_MAX),
    ("mem_fragmentation_ratio", &MEM_FRAGMENTATION_RATIO),
    ("total_commands_processed", &COMMANDS_PROCESSED),
    ("total_connections_received", &CONNECTIONS_RECEIVED),
    ("rejected_connections", &REJECTED_CONNECTIONS),
    ("keyspace_hits", &KEYSPACE_HITS),
    ("keyspace_misses", &KEYSPACE_MISSES),
    ("evicted_keys", &EVICTED_KEYS),
    ("expired_keys", &EXPIRED_KEYS),
    ("total_net_input_bytes", &NET_INPUT),
    ("total_net_output_bytes", &NET_OUTPUT),
    ("rdb_last_save_time", &RDB_LAST_SAVE),
    ("rdb_changes_since_last_save", &RDB_CHANGES_SINCE_LAST_SAVE),
    ("connected_slaves", &CONNECTED_SLAVES),
];

/// Turns parsed INFO into the redis_exporter-compatible families. A field the server does
/// not report (older versions, other forks) leaves its family out.
pub fn info_samples(info: &Info<'_>, sink: &mut Sink) {
    let label = |field: &str| info.get(field).unwrap_or("");
    sink.sample(
        &INSTANCE_INFO,
        [
            label("role"),
            label("redis_version"),
            label("redis_build_id"),
            label("redis_mode"),
            label("os"),
            label("maxmemory_policy"),
            label("tcp_port"),
            label("run_id"),
            label("process_id"),
            label("master_replid"),
        ],
        1.0,
    );
    for (field, desc) in NUMERIC_FIELDS {
        if let Some(value) = info.number(field) {
            sink.value(desc, value);
        }
    }
    for (command, (calls, usec)) in &info.commands {
        sink.sample(&COMMANDS, [*command], *calls);
        sink.sample(&COMMANDS_DURATION, [*command], *usec / 1e6);
    }
    for (db, (keys, expires)) in &info.keyspace {
        sink.sample(&DB_KEYS, [*db], *keys);
        sink.sample(&DB_KEYS_EXPIRING, [*db], *expires);
    }
    if let Some(status) = info.get("rdb_last_bgsave_status") {
        sink.value(&RDB_LAST_BGSAVE_STATUS, bool_value(status == "ok"));
    }
    if let Some(link) = info.get("master_link_status") {
        sink.sample(
            &MASTER_LINK_UP,
            [label("master_host"), label("master_port")],
            bool_value(link == "up"),
        );
    }
    // The replica side, as redis_exporter: only a replica reports `master_host`.
    if info.get("master_host").is_some() {
        let replica = [label("master_host"), label("master_port")];
        for (field, desc) in [
            ("slave_repl_offset", &SLAVE_REPL_OFFSET),
            ("master_last_io_seconds_ago", &MASTER_LAST_IO_SECONDS_AGO),
            ("master_sync_in_progress", &MASTER_SYNC_IN_PROGRESS),
        ] {
            if let Some(value) = info.number(field) {
                sink.sample(desc, replica, value);
            }
        }
        sink.sample(
            &SLAVE_INFO,
            [
                label("master_host"),
                label("master_port"),
                label("slave_read_only"),
            ],
            1.0,
        );
    }
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Family;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/redis/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn families(info: &Info<'_>) -> Vec<Family> {
        let mut sink = Sink::new();
        info_samples(info, &mut sink);
        sink.into_parts().0
    }

    fn value(families: &[Family], name: &str, labels: &[&str]) -> Option<f64> {
        families
            .iter()
            .find(|f| f.desc.name == name)
            .and_then(|f| f.value(labels))
    }

    #[test]
    fn parse_info_handles_sections_commandstats_keyspace_and_crlf() {
        let info = parse_info(
            "# Server\r\nredis_version:7.0.15\r\nos:Linux 6.1 x86_64\r\n\r\n# Commandstats\r\n\
             cmdstat_get:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_client|list:calls=1,usec=3,usec_per_call=3.00\r\n\
             # Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=98980\r\ndb12:keys=7,expires=0,avg_ttl=0\r\n\
             garbage line\r\n",
        );
        assert_eq!(info.get("redis_version"), Some("7.0.15"));
        assert_eq!(info.get("os"), Some("Linux 6.1 x86_64"));
        assert_eq!(info.commands.get("get"), Some(&(2.0, 10.0)));
        assert_eq!(info.commands.get("client|list"), Some(&(1.0, 3.0)));
        assert_eq!(info.keyspace.get("db0"), Some(&(2.0, 1.0)));
        assert_eq!(info.keyspace.get("db12"), Some(&(7.0, 0.0)));
        assert!(!info.fields.contains_key("garbage line"));
    }

    #[test]
    fn master_fixture_gives_the_exporter_families() {
        let text = fixture("info-all-7.0-master.txt");
        let info = parse_info(&text);
        let f = families(&info);
        let cases: &[(&str, &[&str], f64)] = &[
            ("redis_uptime_in_seconds", &[], 8.0),
            ("redis_connected_clients", &[], 1.0),
            ("redis_blocked_clients", &[], 0.0),
            ("redis_max_clients", &[], 10000.0),
            ("redis_memory_max_bytes", &[], 0.0),
            ("redis_rdb_last_bgsave_status", &[], 1.0),
            ("redis_connected_slaves", &[], 1.0),
            ("redis_db_keys", &["db0"], 2.0),
            ("redis_db_keys_expiring", &["db0"], 1.0),
            ("redis_db_keys", &["db2"], 1.0),
            ("redis_keyspace_misses_total", &[], 1.0),
        ];
        for (name, labels, expected) in cases {
            assert_eq!(value(&f, name, labels), Some(*expected), "{name}{labels:?}");
        }
        assert!(value(&f, "redis_memory_used_bytes", &[]).is_some_and(|v| v > 0.0));
        assert!(value(&f, "redis_mem_fragmentation_ratio", &[]).is_some());
        assert!(value(&f, "redis_commands_total", &["get"]).is_some_and(|v| v >= 1.0));
        assert!(value(&f, "redis_commands_duration_seconds_total", &["get"]).is_some());
        // A master has no link to a master.
        assert!(f.iter().all(|f| f.desc.name != "redis_master_link_up"));
        let instance = f
            .iter()
            .find(|f| f.desc.name == "redis_instance_info")
            .expect("instance info");
        assert_eq!(&*instance.samples[0].labels[0], "master");
        assert_eq!(&*instance.samples[0].labels[1], "7.0.15");
        assert_eq!(&*instance.samples[0].labels[3], "standalone");
        assert_eq!(&*instance.samples[0].labels[5], "noeviction");
    }

    #[test]
    fn replica_fixture_reports_its_master_link() {
        let text = fixture("info-all-7.0-replica.txt");
        let info = parse_info(&text);
        let f = families(&info);
        assert_eq!(
            value(&f, "redis_master_link_up", &["127.0.0.1", "16401"]),
            Some(1.0)
        );
        assert_eq!(value(&f, "redis_connected_slaves", &[]), Some(0.0));
        // The replica-side families, values as in the fixture's # Replication section.
        let master = ["127.0.0.1", "16401"];
        assert_eq!(value(&f, "redis_slave_repl_offset", &master), Some(165.0));
        assert_eq!(value(&f, "redis_master_repl_offset", &[]), Some(165.0));
        assert_eq!(
            value(&f, "redis_master_last_io_seconds_ago", &master),
            Some(3.0)
        );
        assert_eq!(
            value(&f, "redis_master_sync_in_progress", &master),
            Some(0.0)
        );
        assert_eq!(
            value(&f, "redis_slave_info", &["127.0.0.1", "16401", "1"]),
            Some(1.0)
        );
        assert_eq!(value(&f, "redis_config_maxclients", &[]), Some(10000.0));
        assert_eq!(
            value(&f, "redis_total_system_memory_bytes", &[]),
            Some(25_276_510_208.0)
        );
    }

    #[test]
    fn a_master_has_no_replica_side_families() {
        let text = fixture("info-all-7.0-master.txt");
        let f = families(&parse_info(&text));
        for absent in [
            "redis_slave_repl_offset",
            "redis_master_last_io_seconds_ago",
            "redis_master_sync_in_progress",
            "redis_slave_info",
            "redis_master_link_up",
        ] {
            assert!(f.iter().all(|f| f.desc.name != absent), "{absent}");
        }
        assert_eq!(value(&f, "redis_master_repl_offset", &[]), Some(165.0));
        assert_eq!(value(&f, "redis_config_maxclients", &[]), Some(10000.0));
    }

    #[test]
    fn failed_bgsave_down_link_and_maxmemory_are_reported() {
        let cases: &[(&str, &str, &[&str], f64)] = &[
            (
                "rdb_last_bgsave_status:err\n",
                "redis_rdb_last_bgsave_status",
                &[],
                0.0,
            ),
            (
                "rdb_last_bgsave_status:ok\n",
                "redis_rdb_last_bgsave_status",
                &[],
                1.0,
            ),
            (
                "role:slave\nmaster_host:10.0.0.1\nmaster_port:6379\nmaster_link_status:down\n",
                "redis_master_link_up",
                &["10.0.0.1", "6379"],
                0.0,
            ),
            (
                "maxmemory:2147483648\n",
                "redis_memory_max_bytes",
                &[],
                2147483648.0,
            ),
            (
                "# Commandstats\ncmdstat_lpush:calls=4,usec=2000000,usec_per_call=500000.00\n",
                "redis_commands_duration_seconds_total",
                &["lpush"],
                2.0,
            ),
        ];
        for (text, name, labels, expected) in cases {
            let f = families(&parse_info(text));
            assert_eq!(value(&f, name, labels), Some(*expected), "{text}");
        }
    }

    #[test]
    fn missing_fields_leave_their_families_out() {
        let f = families(&parse_info("redis_version:3.2.0\n"));
        assert!(f.iter().all(|f| f.desc.name != "redis_max_clients"));
        assert!(
            f.iter()
                .all(|f| f.desc.name != "redis_rdb_last_bgsave_status")
        );
        assert!(f.iter().any(|f| f.desc.name == "redis_instance_info"));
    }
}
