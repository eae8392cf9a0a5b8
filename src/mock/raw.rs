//! Scenarios that are short scripts of fixed bytes: servers that are not RDP, broken TPKT
//! framing, resets, Connection Confirms that select what the client cannot use, TLS
//! refusals, and CredSSP errorCode answers. One table, one driver.

use std::net::SocketAddr;
use std::time::Duration;

use ironrdp_core::encode_vec;
use ironrdp_pdu::nego::{ConnectionConfirm, ConnectionRequest, ResponseFlags, SecurityProtocol};
use ironrdp_pdu::x224::X224;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tracing::info;

use super::wire::{close, drain, timed, Config, ConnError};
use super::Scenario;

/// How a raw scenario ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// FIN (after the reply), then wait for the client to go.
    Close,
    /// RST (SO_LINGER 0).
    Reset,
    /// Keep the connection open until the client closes it.
    Hold,
}

/// One step of a raw scenario's script.
enum Step {
    /// Read whatever the client sends next (one read).
    Read,
    /// Read the X.224 Connection Request and select NLA: HYBRID_EX when the client offers
    /// it, else HYBRID (as a real server does for a client without Early User Authorization).
    SelectNla,
    /// Accept TLS with the server's certificate.
    Tls,
    /// Send these bytes.
    Write(Vec<u8>),
}

/// What a raw scenario does: a short script, then how the connection ends.
pub(crate) struct Behaviour {
    script: Vec<Step>,
    end: End,
}

fn confirm(protocol: SecurityProtocol) -> Vec<u8> {
    let confirm = ConnectionConfirm::Response {
        flags: ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED,
        protocol,
    };
    encode_vec(&X224(confirm)).unwrap_or_default()
}

/// The behaviour of a raw scenario, or `None` for the scenarios that speak RDP.
pub(crate) fn behaviour(scenario: Scenario) -> Option<Behaviour> {
    use Step::{Read, SelectNla, Tls, Write};
    let after_request = |reply: &[u8], end| Behaviour {
        script: vec![Read, Write(reply.to_vec())],
        end,
    };
    Some(match scenario {
        Scenario::CloseOnAccept => Behaviour {
            script: Vec::new(),
            end: End::Close,
        },
        Scenario::ResetAfterConnectionRequest => Behaviour {
            script: vec![Read],
            end: End::Reset,
        },
        Scenario::HttpServer => after_request(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            End::Close,
        ),
        Scenario::SshServer => Behaviour {
            script: vec![Write(
                b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
            )],
            end: End::Close,
        },
        // A TLS-first service (HTTPS, RD Gateway) answers a non-TLS first flight with an alert.
        Scenario::TlsFirstServer => after_request(&TLS_HANDSHAKE_FAILURE_ALERT, End::Close),
        Scenario::GarbageReply => {
            after_request(b"\x8f\x3a\x91\xee\x10garbage\x00\x01\x02", End::Close)
        }
        // 8 of the 19 bytes a Connection Confirm with RDP_NEG_RSP has.
        Scenario::TruncatedTpkt => after_request(
            &[0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00],
            End::Close,
        ),
        Scenario::BadTpktVersion => after_request(
            &[
                0x02, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x01, 0x08,
                0x00, 0x01, 0x00, 0x00, 0x00,
            ],
            End::Close,
        ),
        Scenario::SelectsStandardRdpSecurity => {
            after_request(&confirm(SecurityProtocol::empty()), End::Hold)
        }
        Scenario::SelectsUnofferedProtocol => {
            after_request(&confirm(SecurityProtocol::RDSTLS), End::Hold)
        }
        // TPKT + X.224 Connection Confirm without RDP_NEG_RSP: a pre-RDP 5.2 server.
        Scenario::NoNegotiationResponse => after_request(
            &[
                0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00,
            ],
            End::Hold,
        ),
        // Selects TLS, reads the ClientHello, refuses it with a fatal handshake_failure alert.
        Scenario::TlsHandshakeFailure => Behaviour {
            script: vec![
                Read,
                Write(confirm(SecurityProtocol::SSL)),
                Read,
                Write(TLS_HANDSHAKE_FAILURE_ALERT.to_vec()),
            ],
            end: End::Close,
        },
        // Selects TLS, reads the ClientHello, closes: what an RDP service that cannot read its
        // certificate's private key does.
        Scenario::CloseDuringTlsHandshake => Behaviour {
            script: vec![Read, Write(confirm(SecurityProtocol::SSL)), Read],
            end: End::Close,
        },
        // Selects TLS and answers the ClientHello with a TLS 1.0 ServerHello.
        Scenario::TlsVersionTooOld => Behaviour {
            script: vec![
                Read,
                Write(confirm(SecurityProtocol::SSL)),
                Read,
                Write(tls10_server_hello()),
            ],
            end: End::Close,
        },
        // Selects TLS, reads the ClientHello, and never answers.
        Scenario::SilentDuring(crate::Stage::Tls) => Behaviour {
            script: vec![Read, Write(confirm(SecurityProtocol::SSL)), Read],
            end: End::Hold,
        },
        // Selects NLA, completes TLS, reads the NTLM NEGOTIATE, and never answers.
        Scenario::SilentAfterCredsspMessage(1) => Behaviour {
            script: vec![SelectNla, Tls, Read],
            end: End::Hold,
        },
        // Selects HYBRID_EX and answers the first TSRequest with errorCode = the NTSTATUS.
        Scenario::CredsspError(status) => Behaviour {
            script: vec![SelectNla, Tls, Read, Write(ts_request_error(status))],
            end: End::Close,
        },
        _ => return None,
    })
}

/// A TLS 1.0 ServerHello record (TLS_RSA_WITH_AES_128_CBC_SHA, no extensions).
fn tls10_server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01]; // server_version TLS 1.0
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // empty session id
    body.extend_from_slice(&[0x00, 0x2f, 0x00]); // cipher suite, no compression
    let mut handshake = vec![0x02, 0x00, 0x00, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend(handshake);
    record
}

/// A TSRequest carrying only `errorCode` (MS-CSSP 2.2.1), as a server sends on a failed logon.
fn ts_request_error(status: u32) -> Vec<u8> {
    use ironrdp_connector::sspi::credssp::{NStatusCode, TsRequest};
    let request = TsRequest {
        error_code: Some(NStatusCode(status)),
        ..TsRequest::default()
    };
    let mut out = Vec::new();
    let _ = request.encode_ts_request(&mut out);
    out
}

/// What a script runs on: the TCP stream, then the TLS stream.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Io for T {}

/// A TLS 1.2 record: fatal alert, handshake_failure (40).
const TLS_HANDSHAKE_FAILURE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

/// Serves one connection of a raw scenario.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    config: &Config,
    behaviour: Behaviour,
) -> Result<(), ConnError> {
    if behaviour.end == End::Reset {
        // A zero linger time makes close() send RST and never blocks, which is the
        // blocking the deprecation warns about.
        #[allow(deprecated)]
        stream.set_linger(Some(Duration::ZERO))?;
    }
    let mut stream: Box<dyn Io> = Box::new(stream);
    let mut buf = vec![0u8; 4096];
    for step in &behaviour.script {
        match step {
            Step::Read => {
                let n = timed(
                    config.timeout,
                    "the client's next bytes",
                    stream.read(&mut buf),
                )
                .await?;
                if n == 0 {
                    return Err(ConnError::Closed);
                }
                info!(%peer, bytes = n, "Received");
            }
            Step::SelectNla => {
                let n = timed(
                    config.timeout,
                    "the X.224 Connection Request",
                    stream.read(&mut buf),
                )
                .await?;
                let offered = ironrdp_core::decode::<X224<ConnectionRequest>>(&buf[..n])
                    .map(|request| request.0.protocol)
                    .map_err(|e| {
                        ConnError::Rdp(format!("invalid X.224 Connection Request: {e}"))
                    })?;
                let selected = if offered.contains(SecurityProtocol::HYBRID_EX) {
                    SecurityProtocol::HYBRID_EX
                } else {
                    SecurityProtocol::HYBRID
                };
                timed(
                    config.timeout,
                    "a write",
                    stream.write_all(&confirm(selected)),
                )
                .await?;
                info!(%peer, ?selected, "Selected NLA");
            }
            Step::Tls => {
                let tls = timed(
                    config.timeout,
                    "the TLS handshake",
                    config.tls.accept(stream),
                )
                .await?;
                stream = Box::new(tls);
                info!(%peer, "TLS handshake completed");
            }
            Step::Write(bytes) => {
                timed(config.timeout, "a write", stream.write_all(bytes)).await?;
                info!(%peer, bytes = bytes.len(), "Sent");
            }
        }
    }
    info!(%peer, scenario = config.scenario.name(), end = ?behaviour.end, "Ending the connection");
    match behaviour.end {
        End::Close => close(stream, config.timeout).await,
        End::Reset => drop(stream),
        End::Hold => drain(stream, config.timeout).await,
    }
    Ok(())
}
