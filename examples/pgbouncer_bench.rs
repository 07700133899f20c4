//! Drives the `[[pgbouncer]]` collector against a PgBouncer for the benchmark in
//! `scripts/bench/pgbouncer.sh`: after warm-up runs, measures `cycles` collections and prints
//! one line with fedimeter's own CPU per cycle (getrusage, user + system), PgBouncer's CPU per
//! cycle (`/proc/<pid>/stat` utime + stime), both in microseconds, and the wall time per cycle.
//!
//! `mode` is `keep` (fedimeter's way: one long-lived admin connection) or `login` (a new
//! connection and login for every cycle, as pgbouncer_exporter ≥0.11 does per scrape).
//!
//! Usage: `pgbouncer_bench <admin url> <pgbouncer pid> [mode=keep] [cycles=100] [warmup=3]`

use std::time::{Duration, Instant};

use anyhow::Context;
use fedimeter::collect::pgbouncer::{PgbouncerCollector, PgbouncerOptions};
use fedimeter::collect::{Collector, Sink};
use fedimeter::config::{PgbouncerTarget, SecretUrl, TargetCommon};

fn own_cpu_micros() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// utime + stime of `pid` in microseconds.
fn process_cpu_micros(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 overall, i.e. 11 and 12 after the name.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks * 1e6 / hz)
}

/// One collection; with `fresh`, on a new collector (so a new connection and login).
/// Returns the number of samples.
async fn one_cycle(
    collector: &mut PgbouncerCollector,
    target: &PgbouncerTarget,
    fresh: bool,
) -> anyhow::Result<usize> {
    if fresh {
        *collector = PgbouncerCollector::new(target);
    }
    let mut sink = Sink::new();
    collector.collect(&mut sink).await?;
    anyhow::ensure!(
        sink.partial_errors().is_empty(),
        "partial errors: {:?}",
        sink.partial_errors()
    );
    Ok(sink.families().iter().map(|f| f.samples.len()).sum())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: pgbouncer_bench <admin url> <pgbouncer pid> [keep|login] [cycles] [warmup]";
    let mut args = std::env::args().skip(1);
    let url = args.next().context(usage)?;
    let pid: u32 = args.next().context(usage)?.parse()?;
    let mode = args.next().unwrap_or_else(|| "keep".to_string());
    let cycles: u32 = args.next().map_or(Ok(100), |a| a.parse())?;
    let warmup: u32 = args.next().map_or(Ok(3), |a| a.parse())?;
    anyhow::ensure!(mode == "keep" || mode == "login", "{usage}");
    let target = PgbouncerTarget {
        common: TargetCommon::written(
            "bench".to_string(),
            Duration::from_secs(15),
            Duration::from_secs(10),
        ),
        url: SecretUrl::new(url),
        options: PgbouncerOptions::default(),
    };
    let fresh = mode == "login";
    let mut collector = PgbouncerCollector::new(&target);
    let mut samples = 0;
    for _ in 0..warmup {
        one_cycle(&mut collector, &target, fresh).await?;
    }
    let (own0, bouncer0, wall0) = (own_cpu_micros(), process_cpu_micros(pid)?, Instant::now());
    for _ in 0..cycles {
        samples = one_cycle(&mut collector, &target, fresh).await?;
    }
    let wall = wall0.elapsed();
    let (own1, bouncer1) = (own_cpu_micros(), process_cpu_micros(pid)?);
    let n = f64::from(cycles);
    println!(
        "mode={mode} cycles={cycles} samples_per_cycle={samples} fedimeter_cpu_us_per_cycle={:.0} pgbouncer_cpu_us_per_cycle={:.0} wall_us_per_cycle={:.0}",
        (own1 - own0) / n,
        (bouncer1 - bouncer0) / n,
        wall.as_secs_f64() * 1e6 / n
    );
    Ok(())
}
