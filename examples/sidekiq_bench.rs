//! Drives the `[[redis]]` collector (with Sidekiq) against a Redis for the benchmark in
//! `scripts/bench/sidekiq.sh`: after warm-up runs, measures `cycles` collections, each
//! followed by rendering its families as the `/metrics` text (what a scrape of
//! redis_exporter also includes), and prints
//! one line with fedimeter's own CPU per cycle (getrusage, user + system) and Redis' CPU per
//! cycle (`INFO cpu` before and after), both in microseconds, and the wall time per cycle.
//!
//! Usage: `sidekiq_bench <redis url> [cycles=50] [warmup=3]`

use std::time::{Duration, Instant};

use anyhow::Context;
use fedimeter::collect::redis::{RedisCollector, RedisOptions};
use fedimeter::collect::{Collector, Sink};
use fedimeter::config::{RedisTarget, SecretUrl, TargetCommon};
use fedimeter::export::exposition::{Format, render_families};

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

async fn redis_cpu_micros(
    connection: &mut redis::aio::MultiplexedConnection,
) -> anyhow::Result<f64> {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(connection)
        .await?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim_end().strip_prefix(&format!("{name}:")))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((field("used_cpu_sys") + field("used_cpu_user")) * 1e6)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .context("usage: sidekiq_bench <redis url> [cycles] [warmup]")?;
    let cycles: u32 = args.next().map_or(Ok(50), |a| a.parse())?;
    let warmup: u32 = args.next().map_or(Ok(3), |a| a.parse())?;
    let target = RedisTarget {
        common: TargetCommon::written(
            "bench".to_string(),
            Duration::from_secs(15),
            Duration::from_secs(10),
        ),
        url: SecretUrl::new(url.clone()),
        sidekiq: true,
        namespace: None,
        options: RedisOptions::default(),
    };
    let mut collector = RedisCollector::new(&target);
    let mut probe = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let mut samples = 0usize;
    let mut bytes = 0usize;
    for _ in 0..warmup {
        let mut sink = Sink::new();
        collector.collect(&mut sink).await?;
    }
    let redis_before = redis_cpu_micros(&mut probe).await?;
    let own_before = own_cpu_micros();
    let wall = Instant::now();
    for _ in 0..cycles {
        let mut sink = Sink::new();
        collector.collect(&mut sink).await?;
        samples = sink.families().iter().map(|f| f.samples.len()).sum();
        let text = render_families(sink.families().iter().map(|f| (f, None)), Format::Text);
        bytes = text.len();
        // Let Redis' CPU counters tick apart from ours; not counted in our CPU.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = wall.elapsed();
    let own = own_cpu_micros() - own_before;
    let redis = redis_cpu_micros(&mut probe).await? - redis_before;
    let n = f64::from(cycles.max(1));
    println!(
        "cycles={cycles} samples={samples} bytes={bytes} fedimeter_cpu_us_per_cycle={:.0} redis_cpu_us_per_cycle={:.0} wall_ms_per_cycle={:.2}",
        own / n,
        redis / n,
        (wall.as_secs_f64() * 1000.0 / n) - 20.0
    );
    Ok(())
}
