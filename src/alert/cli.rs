//! `fedimeter alert test [--route NAME]` and `fedimeter alert list`.

use std::fmt::Write as _;
use std::process::ExitCode;

use super::rule::{Condition, Derive};
use crate::config::Config;
use crate::notify::discord::client::{ClientOptions, DiscordClient, Outcome, Route};
use crate::notify::discord::message::{COLOR_INFO, enforce_limits, escape_line};
use crate::notify::discord::{Embed, Footer, Message, SUPPRESS_NOTIFICATIONS};
use crate::notify::dispatch::webhook_fingerprint;
use crate::notify::outbox::{DEFAULT_LEASE, DisabledRoute, Outbox, default_instance};
use crate::store::Store;

/// Sends a test message to each route (or the one named) and prints Discord's answer.
pub async fn test(config: &Config, route: Option<&str>) -> anyhow::Result<ExitCode> {
    let routes: Vec<_> = config
        .discord
        .iter()
        .filter(|d| route.is_none_or(|r| r == d.name))
        .collect();
    if routes.is_empty() {
        match route {
            Some(r) => eprintln!("fedimeter: no [[discord]] route named {r:?}"),
            None => eprintln!("fedimeter: no [[discord]] route is configured"),
        }
        return Ok(ExitCode::from(2));
    }
    let client = DiscordClient::new(ClientOptions {
        max_attempts: 2,
        ..ClientOptions::default()
    })?;
    let mut all_ok = true;
    for d in routes {
        let mut message = Message {
            embeds: vec![Embed {
                title: "🔵 fedimeter test message".to_string(),
                description: format!(
                    "Alerts for route **{}** arrive here (minimum severity {}).",
                    escape_line(&d.name),
                    d.min_severity.as_str()
                ),
                color: COLOR_INFO,
                footer: Some(Footer {
                    text: "fedimeter alert test".to_string(),
                }),
                ..Embed::default()
            }],
            flags: SUPPRESS_NOTIFICATIONS,
            ..Message::default()
        };
        enforce_limits(&mut message);
        let r = Route {
            name: d.name.clone(),
            channel: d.channel.clone(),
            url: d.webhook_url.clone(),
        };
        match client.post(&r, &message, true).await {
            Ok(Outcome::Sent { message_id }) => println!(
                "{}: sent (message id {})",
                d.name,
                message_id.as_deref().unwrap_or("?")
            ),
            Ok(Outcome::Gone { .. }) => {
                all_ok = false;
                println!(
                    "{}: the webhook does not exist (404 Unknown Webhook): create a new one",
                    d.name
                );
            }
            Ok(Outcome::Rejected {
                status,
                code,
                message,
            }) => {
                all_ok = false;
                println!(
                    "{}: rejected by Discord: HTTP {status}, code {}, {message}",
                    d.name,
                    code.unwrap_or(0)
                );
            }
            Err(e) => {
                all_ok = false;
                println!("{}: not delivered: {e}", d.name);
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe(c: &Condition) -> String {
    match c {
        Condition::BurnRate {
            long,
            short,
            factor,
        } => format!("fedimeter_burn_rate over {factor} in both {long} and {short}"),
        Condition::ComponentState {
            component,
            at_least,
        } => format!("component {component} at least {at_least}"),
        Condition::TargetDown { kind } => format!(
            "target_down {}",
            kind.map_or("any".to_string(), |k| k.name().to_string())
        ),
        Condition::TargetDegraded { kind } => format!(
            "target_degraded {}",
            kind.map_or("any".to_string(), |k| k.name().to_string())
        ),
        Condition::Threshold {
            family,
            matchers,
            derive,
            cmp,
            value,
        } => {
            let mut s = family.clone();
            if !matchers.is_empty() {
                let m: Vec<String> = matchers.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                let _ = write!(s, "{{{}}}", m.join(","));
            }
            match derive {
                Derive::Value => {}
                Derive::SecondsUntil => s = format!("({s} - now)"),
                Derive::RatioTo(d) => s = format!("{s} / {d}"),
                Derive::Minus(d) => s = format!("({s} - {d})"),
            }
            format!("{s} {} {}", cmp.as_str(), super::eval::format_value(*value))
        }
    }
}

/// One line per configured route remembered as disabled (its webhook was deleted).
fn disabled_lines(config: &Config, disabled: &[DisabledRoute]) -> Vec<String> {
    let mut lines = Vec::new();
    for d in disabled {
        let Some(route) = config.discord.iter().find(|r| r.name == d.route) else {
            continue;
        };
        let since = humantime::format_rfc3339_seconds(crate::store::from_unix_ms(d.since));
        let code = d.code.map_or(String::new(), |c| format!(", code {c}"));
        let mut line = format!(
            "route {}: disabled since {since}: the webhook was deleted in Discord (404{code})",
            d.route
        );
        if webhook_fingerprint(route.webhook_url.expose()) == d.fingerprint {
            line.push_str("; put a new webhook_url in the config");
        } else {
            line.push_str("; the config has a new webhook_url: used again at the next start");
        }
        lines.push(line);
    }
    lines
}

/// Prints the rules and the stored states of their alerts: state, since when the condition
/// holds, the value (as of the last state change; `-` for rules without one), the target,
/// and the alert's key.
pub async fn list(config: &Config) -> anyhow::Result<ExitCode> {
    println!("RULE\tSEVERITY\tFOR\tCONDITION");
    for r in &config.alerting.rules {
        println!(
            "{}\t{}\t{}\t{}",
            r.name,
            r.severity.as_str(),
            humantime::format_duration(r.for_),
            describe(&r.condition)
        );
    }
    let store = Store::open(&config.store.url).await?;
    let outbox = Outbox::new(store.clone(), default_instance(), DEFAULT_LEASE);
    let states = outbox.load_states().await?;
    println!();
    if states.is_empty() {
        println!("no alert is pending or firing");
    } else {
        println!("STATE\tSINCE\tVALUE\tTARGET\tALERT");
        for s in states {
            let since = crate::store::from_unix_ms(s.active_since);
            println!(
                "{}{}\t{}\t{}\t{}\t{}",
                s.state,
                if s.held { " (held)" } else { "" },
                humantime::format_rfc3339_seconds(since),
                s.value
                    .map_or_else(|| "-".to_string(), super::eval::format_value),
                s.target,
                s.key
            );
        }
    }
    let pending = outbox.pending().await?;
    for (route, n) in pending {
        println!("outbox: {n} notification(s) pending for route {route}");
    }
    for line in disabled_lines(config, &outbox.disabled_routes().await?) {
        println!("{line}");
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
