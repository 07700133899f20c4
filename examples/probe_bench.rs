//! Benchmark driver for `scripts/bench/probes.sh`: many HTTP(S) probes against one local
//! server, measuring fedimeter's own CPU time.
//!
//! `probe_bench serve <port> [--tls <dir>]`: a local server answering `OK` on every path
//! (with `--tls`, it writes `ca.pem` into `<dir>` and serves https with a leaf signed by it).
//!
//! `probe_bench probe <port> <targets> <interval_s> <warmup_s> <measure_s> [--tls <dir>]`:
//! runs `<targets>` probe jobs (`/t/<n>`) through the real runner into a `SnapshotStore`,
//! renders `/metrics` once per interval as a scraper would, and prints the CPU time
//! (user + system, `getrusage`) used during the measurement window.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fedimeter::collect::{probe, runner};
use fedimeter::config::{ProbeTarget, TargetCommon};
use fedimeter::export::exposition::{Format, render_store};
use fedimeter::model::SnapshotStore;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn tls_dir(args: &[String]) -> Option<PathBuf> {
    args.iter()
        .position(|a| a == "--tls")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => serve(args[2].parse().expect("port"), tls_dir(&args)).await,
        Some("probe") => {
            let n = |i: usize| -> u64 { args[i].parse().expect("number") };
            probe_many(
                n(2) as u16,
                n(3) as usize,
                Duration::from_secs(n(4)),
                Duration::from_secs(n(5)),
                Duration::from_secs(n(6)),
                tls_dir(&args),
            )
            .await
        }
        _ => eprintln!(
            "usage: probe_bench serve <port> [--tls dir] | probe <port> <targets> <interval_s> <warmup_s> <measure_s> [--tls dir]"
        ),
    }
}

async fn serve(port: u16, tls: Option<PathBuf>) {
    let acceptor = tls.map(|dir| {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "bench CA");
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("ca.pem");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("leaf");
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .expect("cert");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind");
    eprintln!("serving on {port}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"OK"))))
            });
            let builder = hyper::server::conn::http1::Builder::new();
            match acceptor {
                Some(a) => {
                    if let Ok(s) = a.accept(stream).await {
                        let _ = builder.serve_connection(TokioIo::new(s), service).await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

async fn probe_many(
    port: u16,
    targets: usize,
    interval: Duration,
    warmup: Duration,
    measure: Duration,
    tls: Option<PathBuf>,
) {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let probes: Vec<ProbeTarget> = (0..targets)
        .map(|i| ProbeTarget {
            common: TargetCommon::written(
                format!("t{i}"),
                interval,
                Duration::from_secs(5).min(interval / 2),
            ),
            url: format!("{scheme}://127.0.0.1:{port}/t/{i}"),
            options: probe::ProbeOptions {
                body_contains: Some("OK".to_string()),
                degraded_after: Some(Duration::from_secs(1)),
                ca_file: tls.as_ref().map(|d| d.join("ca.pem")),
                ..probe::ProbeOptions::default()
            },
        })
        .collect();
    let store = Arc::new(SnapshotStore::new(probes.iter().map(|p| {
        fedimeter::model::TargetId::new(fedimeter::model::Kind::Probe, &p.common.name)
    })));
    let shutdown = CancellationToken::new();
    for p in &probes {
        tokio::spawn(runner::run_job(
            probe::job(p),
            store.clone(),
            shutdown.clone(),
        ));
    }
    // A scraper: render /metrics once per interval.
    let scraper = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut bytes = 0usize;
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                bytes = render_store(&store, Format::Text).len().max(bytes);
                if bytes == usize::MAX {
                    break;
                }
            }
        })
    };
    tokio::time::sleep(warmup).await;
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    tokio::time::sleep(measure).await;
    let cpu = cpu_seconds() - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    let latest = store.latest();
    let mut ok = 0;
    let mut attempts = 0.0;
    for (_, s) in &latest {
        if let Some(s) = s {
            if s.health.is_some_and(fedimeter::model::Health::is_up) {
                ok += 1;
            }
            if let Some(f) = s.family("probe_attempts_total") {
                attempts += f.samples.iter().map(|x| x.value).sum::<f64>();
            }
        }
    }
    let metrics = render_store(&store, Format::Text);
    println!(
        "targets={targets} scheme={scheme} interval={}s measured={wall:.1}s cpu={cpu:.2}s cpu_percent_of_one_core={:.2} successful_now={ok}/{targets} attempts_total={attempts} metrics_bytes={}",
        interval.as_secs(),
        100.0 * cpu / wall,
        metrics.len()
    );
    shutdown.cancel();
    scraper.abort();
}
