//! What every mock connection shares, whatever its scenario: the server's configuration,
//! why a connection ended early, bounded waits, and closing the way a server does. Both
//! the RDP connections (`conn`) and the byte scripts (`raw`) build on it; it imports
//! neither.

use std::future::Future;
use std::io;
use std::time::Duration;

use ironrdp_connector::ConnectorError;
use ironrdp_pdu::rdp::client_info::Credentials;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::fault::{End, Fault, Server};

/// What every connection of one server shares: its scenario's row, read once when the
/// server starts, and what the builder configured.
pub(crate) struct Config {
    /// The scenario's name, for the log.
    pub(crate) name: &'static str,
    pub(crate) server: Server,
    pub(crate) fault: Fault,
    pub(crate) tls: tokio_rustls::TlsAcceptor,
    pub(crate) public_key: Vec<u8>,
    pub(crate) credentials: Credentials,
    pub(crate) timeout: Duration,
    /// How long to wait before every answer (the slow server).
    pub(crate) delay: Duration,
}

/// Why a connection ended early. Logged, never fatal to the server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("client closed the connection")]
    Closed,
    #[error("i/o error: {0}")]
    Io(io::Error),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    #[error("{0}")]
    Rdp(String),
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ConnError::Closed
        } else {
            ConnError::Io(e)
        }
    }
}

impl From<ConnectorError> for ConnError {
    fn from(e: ConnectorError) -> Self {
        ConnError::Rdp(e.report().to_string())
    }
}

/// The first CredSSP version whose TSRequest has errorCode (MS-CSSP 2.2.1).
const FIRST_ERROR_CODE_VERSION: u32 = 3;

/// The server's answer to a failed logon, `status` an NTSTATUS, for a client that announced
/// CredSSP `client_version`: a TSRequest carrying only errorCode when that version has it;
/// `None` below, where the server just closes, as Windows does. The one place of this rule.
pub(crate) fn error_answer(client_version: u32, status: u32) -> Option<Vec<u8>> {
    use ironrdp_connector::sspi::credssp::{NStatusCode, TsRequest};
    if client_version < FIRST_ERROR_CODE_VERSION {
        return None;
    }
    let request = TsRequest {
        error_code: Some(NStatusCode(status)),
        ..TsRequest::default()
    };
    let mut out = Vec::new();
    request.encode_ts_request(&mut out).ok()?;
    Some(out)
}

/// `fut`, bounded by `limit` (`what` names the wait in the error).
pub(crate) async fn timed<T, E>(
    limit: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ConnError>
where
    ConnError: From<E>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(ConnError::from),
        Err(_) => Err(ConnError::Timeout(limit, what)),
    }
}

/// Closes the way a server does: TLS close_notify if any, FIN, then reads and discards until
/// the client closes too, so that unread client data never turns the FIN into a reset.
pub(crate) async fn close<S>(mut stream: S, limit: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(limit, stream.shutdown()).await;
    drain(stream, limit).await;
}

/// Reads and discards until EOF, an error or `limit`.
pub(crate) async fn drain<S>(mut stream: S, limit: Duration)
where
    S: AsyncRead + Unpin,
{
    // On the heap: a buffer here would sit in every connection's state for its whole life.
    // Never zeroed: `read_buf` reads into its spare capacity.
    let mut sink = Vec::with_capacity(4096);
    let _ = tokio::time::timeout(limit, async {
        loop {
            sink.clear();
            match stream.read_buf(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Ends a connection the way `how` says. A reset takes effect only on a socket whose linger
/// time was set to zero before (the byte scripts do that); elsewhere it is a plain drop.
pub(crate) async fn end<S>(stream: S, how: End, limit: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match how {
        End::Close => close(stream, limit).await,
        End::Reset => drop(stream),
        End::Hold => drain(stream, limit).await,
        End::Swallow => drain(stream, SWALLOW).await,
    }
}

/// How long a black hole holds a connection the client keeps open.
const SWALLOW: Duration = Duration::from_secs(600);
