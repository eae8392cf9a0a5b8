//! Logging on stderr, and the one place that decides what may be logged.
//!
//! Dependencies log more than a credential-handling tool can show: sspi's debug output
//! holds the TSCredentials (the password as UTF-16LE bytes) and IronRDP's CredSSP module
//! logs whole TSRequests, NTLM AUTHENTICATE (a crackable NetNTLMv2 response) included.
//! Whatever the verbosity, `RDPSCOPE_LOG` filter or flag, only events and spans of the
//! modules in [`ALLOWED`] reach the log, never those in [`DENIED`]; rdpscope's own CredSSP
//! code logs what a reader needs instead (message types, sizes, flags, names).
//!
//! Every log line is escaped like server-controlled text ([`crate::text`]): one event is one
//! line, whatever a server put into a field. Colour follows <https://no-color.org>.

use std::ffi::OsString;
use std::io::{self, IsTerminal as _};

use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// The environment variable holding a log filter (`tracing_subscriber` directives).
pub const LOG_ENV: &str = "RDPSCOPE_LOG";

/// Modules whose log output may be shown (each with its submodules).
pub const ALLOWED: &[&str] = &[
    "rdpscope",
    "ironrdp_connector",
    "ironrdp_acceptor",
    "ironrdp_pdu",
    "ironrdp_core",
    "ironrdp_async",
    "ironrdp_tokio",
    "rustls",
    "tokio_rustls",
];

/// Modules inside [`ALLOWED`] ones whose log output is never shown: they log CredSSP
/// messages whole.
pub const DENIED: &[&str] = &["ironrdp_connector::credssp", "ironrdp_acceptor::credssp"];

/// Whether `module` is `prefix` or one of its submodules.
fn within(module: &str, prefix: &str) -> bool {
    module
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Whether events and spans of `target` (a module path) may be logged.
pub fn may_log(target: &str) -> bool {
    ALLOWED.iter().any(|allowed| within(target, allowed))
        && !DENIED.iter().any(|denied| within(target, denied))
}

/// Whether log output on a terminal may use colour: the standard error is a terminal and
/// `NO_COLOR` is unset or empty.
pub fn color(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// The default filter for a verbosity (`-v` count); `serving` shows the mock server's
/// connection log by default.
fn default_filter(verbose: u8, serving: bool) -> &'static str {
    match verbose {
        // Dependencies' warnings (e.g. IronRDP noting xrdp's Control PDU quirk) are noise in
        // a report that already names every failure; -v shows them.
        0 if serving => "error,rdpscope=warn,rdpscope::mock=info",
        0 => "error,rdpscope=warn",
        1 => "warn,rdpscope=debug",
        _ => "info,rdpscope=debug,ironrdp_connector=debug,ironrdp_acceptor=debug",
    }
}

/// Installs the stderr logger: `RDPSCOPE_LOG` if set, else the default for `verbose`;
/// always restricted to [`may_log`]. Does nothing if a logger is installed already.
pub fn init(verbose: u8, serving: bool) {
    let filter = EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbose, serving)));
    let ansi = color(io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(EscapingStderr { ansi })
        .with_ansi(ansi)
        .with_filter(filter_fn(|metadata| may_log(metadata.target())))
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// Writes log events to stderr with every control character but the event's final newline
/// escaped (and, with colour, the escape character the formatter's colours start with;
/// field values are escaped by the formatter then).
#[derive(Clone, Copy)]
struct EscapingStderr {
    ansi: bool,
}

impl<'a> MakeWriter<'a> for EscapingStderr {
    type Writer = EscapingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl io::Write for EscapingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, newline) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (text.as_ref(), ""),
        };
        let mut out = String::with_capacity(buf.len() + 8);
        for c in line.chars() {
            if crate::text::is_unsafe(c) && !(self.ansi && c == '\u{1b}') {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
        out.push_str(newline);
        // A closed or full stderr must not end the program: the log is best effort.
        let _ = io::stderr().lock().write_all(out.as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_vetted_modules_may_log() {
        for target in [
            "rdpscope",
            "rdpscope::probe::credssp",
            "ironrdp_connector::connection",
            "ironrdp_acceptor::finalization",
            "rustls::client::hs",
        ] {
            assert!(may_log(target), "{target}");
        }
        for target in [
            "sspi",
            "sspi::credssp::ts_request",
            "sspi::ntlm",
            "picky",
            "ironrdp_connector::credssp",
            "ironrdp_acceptor::credssp",
            "ironrdp_connector::credssp::inner",
            "rdpscopex",
            "ironrdp_connectorx",
            "log",
            "",
        ] {
            assert!(!may_log(target), "{target}");
        }
    }

    #[test]
    fn no_color_set_to_anything_turns_colour_off() {
        assert!(color(true, None));
        assert!(color(true, Some(OsString::new())));
        assert!(!color(true, Some(OsString::from("1"))));
        assert!(!color(false, None));
    }
}
