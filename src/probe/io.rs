//! Shared I/O helpers of the pipeline: stage deadlines, error classification, secrets.

use std::future::Future;
use std::io;

use super::{Failure, Recorder};
use crate::{FailureKind, Stage};

/// A password. Its `Debug` is redacted, it has no `Display` or `Serialize`, and this copy
/// is zeroed when dropped (best effort: IronRDP's CredSSP holds a copy of its own).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The password itself, for the one place that hands it to CredSSP.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// Runs `fut` until the current stage's deadline; a timeout is a failure of that stage.
pub(crate) async fn within<T>(
    rec: &Recorder,
    stage: Stage,
    waiting_for: &str,
    fut: impl Future<Output = T>,
) -> Result<T, Failure> {
    until(rec.deadline(), fut).await.ok_or_else(|| {
        Failure::new(
            stage,
            FailureKind::Timeout,
            format!("timed out waiting for {waiting_for}"),
        )
    })
}

/// Runs `fut` until `deadline`; `None` when the deadline came first. Every wait of the
/// probe goes through here (or [`within`], which does).
pub(crate) async fn until<T>(
    deadline: std::time::Instant,
    fut: impl Future<Output = T>,
) -> Option<T> {
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), fut)
        .await
        .ok()
}

/// Runs a network operation until the stage's deadline and classifies its I/O error:
/// `waiting_for` names what a timeout waited for, `during` what the client was doing.
pub(crate) async fn io_within<T>(
    rec: &Recorder,
    stage: Stage,
    waiting_for: &str,
    during: &str,
    fut: impl Future<Output = io::Result<T>>,
) -> Result<T, Failure> {
    within(rec, stage, waiting_for, fut)
        .await?
        .map_err(|e| io_failure(stage, &e, during))
}

/// Classifies an I/O error at `stage`; `during` says what the client was doing.
pub(crate) fn io_failure(stage: Stage, error: &io::Error, during: &str) -> Failure {
    let (kind, message) = match error.kind() {
        io::ErrorKind::ConnectionRefused => {
            (FailureKind::Refused, format!("connection refused {during}"))
        }
        // FIN or RST: one verdict (see FailureKind::ClosedByPeer); the log says which.
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => {
            tracing::debug!(%stage, %error, "The server ended the connection");
            (
                FailureKind::ClosedByPeer,
                format!("the server closed the connection {during}"),
            )
        }
        io::ErrorKind::TimedOut => (FailureKind::Timeout, format!("timed out {during}")),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => (
            FailureKind::Unreachable,
            format!("the server became unreachable {during}: {error}"),
        ),
        io::ErrorKind::InvalidData => (
            FailureKind::ProtocolError,
            format!("invalid data from the server {during}: {error}"),
        ),
        _ => (
            FailureKind::ProtocolError,
            format!("i/o error {during}: {error}"),
        ),
    };
    Failure::new(stage, kind, message)
}
