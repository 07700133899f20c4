//! Logging: a tracing subscriber writing to stderr through the secret redactor.
//!
//! Every formatted log line passes through [`crate::secret::redact`] before it is
//! written, so a password that a third-party error message happens to contain is masked.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber; `RUST_LOG` overrides the default level (`info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn,h2=warn,tower=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
    // Panics (contained by the runner) go through the same redacting writer instead of the
    // default hook's raw stderr.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        tracing::error!("panic{location}: {payload}");
    }));
}

/// A `MakeWriter` whose writers redact secrets from each formatted event.
#[derive(Clone, Copy, Debug)]
pub struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter { buf: Vec::new() }
    }
}

/// Buffers one event and writes it, redacted, to stderr on drop.
pub struct RedactingWriter {
    buf: Vec<u8>,
}

impl Write for RedactingWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buf);
        let redacted = crate::secret::redact(&text);
        let _ = io::stderr().lock().write_all(redacted.as_bytes());
    }
}
