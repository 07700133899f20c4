//! The `fedimeter` command line: `serve` (the main job), `check-config`, `once`, `alert`, and
//! `incident`/`maintenance` (in `fedimeter::cli`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fedimeter::config::{self, Config};
use fedimeter::export::exposition::{self, Format};
use fedimeter::export::self_metrics;
use fedimeter::model::SnapshotStore;
use fedimeter::{app, cli, collect, secret, shutdown, telemetry};

/// Exit code for a bad config (EX_CONFIG would be 78; fedimeter uses EX_USAGE, 64, as
/// documented in the README).
const EXIT_BAD_CONFIG: u8 = 64;

const DEFAULT_CONFIG: &str = "fedimeter.toml";

/// fedimeter watches a Mastodon server's PostgreSQL, PgBouncer, Redis/Sidekiq and public
/// endpoints, exports Prometheus metrics and OTLP, and serves a public status page.
///
/// Start with `fedimeter serve` (no config needed: it serves an empty status page on
/// http://127.0.0.1:9480 and its own metrics on /metrics), then write a fedimeter.toml
/// (see fedimeter.example.toml) or point it at Mastodon's .env.production with
/// --mastodon-env.
#[derive(Debug, Parser)]
#[command(name = "fedimeter", version = VERSION_LONG, about, long_about)]
struct Cli {
    /// The config file. Default: ./fedimeter.toml if it exists, else built-in defaults.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "FEDIMETER_CONFIG",
        value_name = "PATH"
    )]
    config: Option<PathBuf>,

    /// A Mastodon .env.production to derive the PostgreSQL and Redis targets from
    /// (overrides `[mastodon] env_file`).
    #[arg(long, global = true, value_name = "PATH")]
    mastodon_env: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run fedimeter: collect, serve the status page, /metrics and the JSON API.
    Serve,
    /// Validate the config and print it resolved, with every secret shown as ***.
    /// Exits 0 when valid, 64 when not.
    CheckConfig,
    /// Collect every target once, print the Prometheus exposition to stdout, and exit
    /// non-zero if any target could not be collected.
    Once {
        /// Print OpenMetrics instead of the classic text format.
        #[arg(long)]
        openmetrics: bool,
    },
    /// Alerting: send a test message to Discord, or list the rules and their states.
    Alert {
        #[command(subcommand)]
        action: AlertCommand,
    },
    /// Open, update, resolve or list incidents on the status page (written to the store).
    #[command(subcommand)]
    Incident(cli::IncidentCommand),
    /// Schedule, list or cancel maintenance windows (written to the store).
    #[command(subcommand)]
    Maintenance(cli::MaintenanceCommand),
}

#[derive(Debug, Subcommand)]
enum AlertCommand {
    /// Send a test message to every [[discord]] route (or one) and print Discord's answer.
    Test {
        #[arg(long, value_name = "NAME")]
        route: Option<String>,
    },
    /// Print the rules and the pending and firing alerts (from the store).
    List,
}

/// `--version`: the crate version and the git revision it was built from.
const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("FEDIMETER_REVISION"),
    ")"
);

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{}", secret::redact(&message));
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    match cli.command {
        Command::CheckConfig => {
            print!("{}", config.render_resolved());
            let origin = config.source.as_deref().map_or_else(
                || "built-in defaults".to_string(),
                |p| p.display().to_string(),
            );
            eprintln!("config ok: {origin} ({} targets)", config.target_count());
            ExitCode::SUCCESS
        }
        Command::Serve => run_async(serve(config)),
        Command::Once { openmetrics } => run_async(once(config, openmetrics)),
        Command::Alert {
            action: AlertCommand::Test { route },
        } => run_async(async move { fedimeter::alert::cli::test(&config, route.as_deref()).await }),
        Command::Alert {
            action: AlertCommand::List,
        } => run_async(async move { fedimeter::alert::cli::list(&config).await }),
        Command::Incident(command) => run_async(async move {
            print!("{}", cli::run_incident(&config, command).await?);
            Ok(ExitCode::SUCCESS)
        }),
        Command::Maintenance(command) => run_async(async move {
            print!("{}", cli::run_maintenance(&config, command).await?);
            Ok(ExitCode::SUCCESS)
        }),
    }
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let env = config::env::Env;
    let mastodon_env = cli.mastodon_env.as_deref();
    let result = match &cli.config {
        Some(path) => config::load_file(path, mastodon_env, &env),
        None if Path::new(DEFAULT_CONFIG).exists() => {
            config::load_file(Path::new(DEFAULT_CONFIG), mastodon_env, &env)
        }
        None => config::defaults_with(mastodon_env, &env),
    };
    result.map_err(|errors| format!("{errors}"))
}

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fedimeter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fedimeter: {}", secret::redact(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let token = shutdown::on_signals();
    app::run(config, token, |_| {}).await?;
    Ok(ExitCode::SUCCESS)
}

async fn once(config: Config, openmetrics: bool) -> anyhow::Result<ExitCode> {
    let jobs = collect::registry::build(&config);
    let store = SnapshotStore::new(jobs.iter().map(|j| j.id.clone()));
    self_metrics::publish_build_info(&store);
    let mut runs = tokio::task::JoinSet::new();
    for job in jobs {
        runs.spawn(async move {
            collect::runner::collect_once(&job.id, job.timeout, job.collector).await
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = runs.join_next().await {
        let snapshot = done?;
        if !snapshot.outcome.collected() {
            failed.push(format!(
                "{} ({})",
                snapshot.target,
                snapshot.outcome.as_str()
            ));
        }
        store.publish(std::sync::Arc::new(snapshot));
    }
    let format = if openmetrics {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    print!("{}", exposition::render_store(&store, format));
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        failed.sort();
        eprintln!("fedimeter: could not collect: {}", failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
