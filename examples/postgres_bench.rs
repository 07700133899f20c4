//! Benchmark driver for `scripts/bench/postgres.sh`: runs fedimeter's PostgreSQL collector
//! for N cycles and, between its cycles, scrapes a postgres_exporter once, so both tools see
//! the same database under the same load.
//!
//! Time is compressed: one cycle stands for one 15 s interval, and the slow cadences keep
//! their ratio to it (sizes and settings every 20 cycles = 5 min, Mastodon gauges every 4,
//! 20 and 60 cycles = 1, 5 and 15 min), so slow queries are amortised as in production.
//!
//! Usage: `postgres_bench <postgres-url> <exporter-host:port> <exporter-pid> <cycles> <period-ms>`
//! (each cycle — one collection, one scrape, then a pause — lasts `period-ms`).
//! Prints one `key value` line per measurement.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fedimeter::collect::postgres::{PostgresCollector, PostgresOptions};
use fedimeter::collect::{Collector, Sink};
use fedimeter::config::SecretUrl;

/// User + system CPU seconds of this process.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// User + system CPU seconds of process `pid` (from /proc/<pid>/stat, in clock ticks).
fn process_cpu_seconds(pid: u32) -> f64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/pid/stat");
    let after_name = &stat[stat.rfind(')').expect("stat has a name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz
}

/// `VmHWM` (peak RSS) of process `pid`, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One plain HTTP/1.0 GET of /metrics; returns the body size.
fn scrape(address: &str) -> usize {
    let mut stream = TcpStream::connect(address).expect("connecting to the exporter");
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .expect("sending the request");
    let mut body = Vec::new();
    stream.read_to_end(&mut body).expect("reading the response");
    body.len()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, exporter, exporter_pid, cycles, period_ms] = &args[..] else {
        eprintln!(
            "usage: postgres_bench <postgres-url> <exporter-host:port> <exporter-pid> <cycles> <period-ms>"
        );
        std::process::exit(64);
    };
    let exporter_pid: u32 = exporter_pid.parse().expect("exporter pid");
    let cycles: u32 = cycles.parse().expect("cycles");
    // One cycle = one 15 s interval.
    let per_cycle = Duration::from_millis(period_ms.parse().expect("period ms"));
    let options = PostgresOptions {
        size_interval: per_cycle * 20,
        settings_interval: per_cycle * 20,
        mastodon_fast_interval: per_cycle * 4,
        mastodon_interval: per_cycle * 20,
        mastodon_slow_interval: per_cycle * 60,
        ..PostgresOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut collector = PostgresCollector::new(&SecretUrl::new(url.clone()), options);
    let (mut ours_wall, mut theirs_wall) = (Vec::new(), Vec::new());
    let (mut ours_cpu, mut samples, mut errors) = (0.0, 0usize, 0usize);
    let mut body_bytes = 0;
    let theirs_cpu_before = process_cpu_seconds(exporter_pid);
    for _ in 0..cycles {
        let cycle_started = Instant::now();
        let cpu = own_cpu_seconds();
        let started = Instant::now();
        let mut sink = Sink::new();
        runtime
            .block_on(collector.collect(&mut sink))
            .expect("fedimeter collection");
        ours_wall.push(started.elapsed().as_secs_f64());
        ours_cpu += own_cpu_seconds() - cpu;
        let (families, partial) = sink.into_parts();
        samples = families.iter().map(|f| f.samples.len()).sum();
        errors += partial.len();

        let started = Instant::now();
        body_bytes = scrape(exporter);
        theirs_wall.push(started.elapsed().as_secs_f64());
        std::thread::sleep(per_cycle.saturating_sub(cycle_started.elapsed()));
    }
    let theirs_cpu = process_cpu_seconds(exporter_pid) - theirs_cpu_before;
    let n = f64::from(cycles);
    println!("cycles {cycles}");
    println!("fedimeter_cpu_ms_per_cycle {:.3}", ours_cpu / n * 1e3);
    println!("exporter_cpu_ms_per_cycle {:.3}", theirs_cpu / n * 1e3);
    println!(
        "fedimeter_wall_ms_median {:.3}",
        median(&mut ours_wall) * 1e3
    );
    println!(
        "exporter_wall_ms_median {:.3}",
        median(&mut theirs_wall) * 1e3
    );
    println!("fedimeter_peak_rss_kb {}", peak_rss_kb(std::process::id()));
    println!("exporter_peak_rss_kb {}", peak_rss_kb(exporter_pid));
    println!("fedimeter_samples_last_cycle {samples}");
    println!("fedimeter_partial_errors {errors}");
    println!("exporter_body_bytes_last_scrape {body_bytes}");
}
