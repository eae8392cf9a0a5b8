//! The dns and tcp stages.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::io::io_failure;
use super::{Facts, Failure, Recorder, Stop};
use crate::target::Target;
use crate::{FailureKind, Stage};

/// Resolves the target (the dns stage; skipped for address literals).
pub(crate) async fn resolve(target: &Target, rec: &mut Recorder) -> Result<Vec<SocketAddr>, Stop> {
    if let Some(ip) = target.ip() {
        rec.skip(Stage::Dns, "address literal, no lookup")
            .map_err(Stop::Reached)?;
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    rec.enter(Stage::Dns).map_err(Stop::Reached)?;
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addresses: Vec<SocketAddr> = super::io::within(rec, Stage::Dns, "name resolution", lookup)
        .await?
        .map_err(|e| {
            Failure::new(
                Stage::Dns,
                FailureKind::DnsFailure,
                format!("cannot resolve `{}`: {e}", target.host),
            )
        })?
        .collect();
    if addresses.is_empty() {
        return Err(Failure::new(
            Stage::Dns,
            FailureKind::DnsFailure,
            format!("`{}` resolves to no address", target.host),
        )
        .into());
    }
    let list: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    rec.detail(
        Stage::Dns,
        format!("{} -> {}", target.host, list.join(", ")),
    );
    Ok(addresses)
}

/// How the tcp stage ended when an address accepted the connection.
pub(crate) enum Connected {
    /// The connection to this address is established, with TCP_NODELAY set.
    Stream(TcpStream, SocketAddr),
    /// The handshake completed, but the server had already ended the connection when the
    /// connect returned: the socket's pending error was a reset (ECONNRESET) or a reset
    /// after a FIN (EPIPE). That is the next stage's failure, not the tcp stage's: a RST to
    /// the SYN is ECONNREFUSED.
    EndedAtOnce(io::Error),
}

/// Whether a connect error means the handshake completed and the server then ended the
/// connection (rather than the handshake failing).
fn ended_after_handshake(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Connects to the first address that accepts (the tcp stage).
pub(crate) async fn connect(
    addresses: &[SocketAddr],
    connect_timeout: Duration,
    rec: &mut Recorder,
    facts: &mut Facts,
) -> Result<Connected, Stop> {
    rec.enter(Stage::Tcp).map_err(Stop::Reached)?;
    // One deadline for the whole stage, however many addresses the name has.
    let deadline = tokio::time::Instant::now() + connect_timeout;
    let mut failures: Vec<Failure> = Vec::new();
    for &address in addresses {
        let attempt = tokio::time::timeout_at(deadline, TcpStream::connect(address)).await;
        let failure = match attempt {
            Ok(Ok(stream)) => {
                stream
                    .set_nodelay(true)
                    .map_err(|e| io_failure(Stage::Tcp, &e, "setting TCP_NODELAY"))?;
                facts.address = Some(address.to_string());
                rec.detail(Stage::Tcp, format!("connected to {address}"));
                return Ok(Connected::Stream(stream, address));
            }
            Ok(Err(e)) if ended_after_handshake(&e) => {
                facts.address = Some(address.to_string());
                rec.detail(
                    Stage::Tcp,
                    format!("connected to {address}; the server ended the connection at once"),
                );
                return Ok(Connected::EndedAtOnce(e));
            }
            Ok(Err(e)) => {
                let mut failure = io_failure(Stage::Tcp, &e, &format!("by {address}"));
                if failure.0.kind == FailureKind::Refused {
                    failure.0.message = format!(
                        "connection refused by {address}: nothing listens on the port, or a firewall rejects it"
                    );
                }
                failure
            }
            Err(_) => Failure::new(
                Stage::Tcp,
                FailureKind::Timeout,
                format!(
                    "no answer from {address} within {:.1} s: a firewall drops the packets or the host is down",
                    connect_timeout.as_secs_f64()
                ),
            ),
        };
        let timed_out = failure.0.kind == FailureKind::Timeout;
        failures.push(failure);
        if timed_out {
            break;
        }
    }
    let mut last = failures.pop().unwrap_or_else(|| {
        Failure::new(
            Stage::Tcp,
            FailureKind::Internal,
            "no address to connect to",
        )
    });
    if !failures.is_empty() {
        let earlier: Vec<&str> = failures.iter().map(|f| f.0.message.as_str()).collect();
        last.0.message = format!("{}; earlier: {}", last.0.message, earlier.join("; "));
    }
    Err(last.into())
}
