//! A `tracing` writer into a shared buffer, for tests that check what fedimeter logs (and
//! that no secret is in it). Include it with
//! `#[path = "support/log_capture.rs"] mod log_capture;`.
//!
//! Prefer [`CapturedLog::install_global`]: with a thread-scoped subscriber, another test
//! hitting the same `warn!` callsite at the same moment from a thread without one can cache
//! "not interested" for it, and the line is lost. The global log also holds the other tests'
//! lines of the same binary.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// A new buffer, installed as the process-wide subscriber (INFO and above, no colours).
    /// Panics when a global subscriber is already set: one per test binary.
    pub fn install_global() -> CapturedLog {
        let log = CapturedLog::default();
        tracing::subscriber::set_global_default(log.subscriber())
            .expect("the only global subscriber");
        log
    }

    /// A subscriber writing into this buffer (INFO and above, no colours).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish()
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
