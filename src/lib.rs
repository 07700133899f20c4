//! fedimeter: one binary to see and show the health of a Mastodon server.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the code map.

pub mod alert;
pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
pub mod export;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod secret;
pub mod shutdown;
pub mod sli;
pub mod store;
pub mod telemetry;
pub mod web;
