//! The byte scripts ([`Fault::Script`](super::fault::Fault::Script)): servers that are not
//! RDP, broken TPKT framing, resets, Connection Confirms that select what the client cannot
//! use or refuse the negotiation, TLS refusals, and CredSSP errorCode answers. The scripts
//! are rows of the catalogue; this is their one driver.

use std::net::SocketAddr;
use std::time::Duration;

use ironrdp_core::encode_vec;
use ironrdp_pdu::nego::{
    ConnectionConfirm, ConnectionRequest, FailureCode, ResponseFlags, SecurityProtocol,
};
use ironrdp_pdu::x224::X224;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tracing::info;

use super::fault::{End, Reply, Step};
use super::wire::{timed, Config, ConnError};

fn confirm(protocol: SecurityProtocol) -> Vec<u8> {
    let confirm = ConnectionConfirm::Response {
        flags: ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED,
        protocol,
    };
    encode_vec(&X224(confirm)).unwrap_or_default()
}

/// The bytes of a reply.
fn encode(reply: &Reply) -> Vec<u8> {
    match *reply {
        Reply::Bytes(bytes) => bytes.to_vec(),
        Reply::Confirm(protocol) => confirm(protocol),
        Reply::NegFailure(code) => encode_vec(&X224(ConnectionConfirm::Failure {
            code: FailureCode::from(code),
        }))
        .unwrap_or_default(),
        Reply::HandshakeFailureAlert => TLS_HANDSHAKE_FAILURE_ALERT.to_vec(),
        Reply::OldServerHello(version) => old_server_hello(version),
        Reply::TsRequestError(status) => ts_request_error(status),
    }
}

/// A ServerHello record of `version` (TLS_RSA_WITH_AES_128_CBC_SHA, no extensions).
fn old_server_hello(version: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec(); // server_version
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

/// Serves one connection as a byte script, then ends it.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    config: &Config,
    script: &[Step],
    end: End,
) -> Result<(), ConnError> {
    if end == End::Reset {
        // A zero linger time makes close() send RST and never blocks, which is the
        // blocking the deprecation warns about.
        #[allow(deprecated)]
        stream.set_linger(Some(Duration::ZERO))?;
    }
    let mut stream: Box<dyn Io> = Box::new(stream);
    let mut buf = vec![0u8; 4096];
    for step in script {
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
            Step::Write(reply) => {
                let bytes = encode(reply);
                timed(config.timeout, "a write", stream.write_all(&bytes)).await?;
                info!(%peer, bytes = bytes.len(), "Sent");
            }
        }
    }
    info!(%peer, scenario = config.name, ?end, "Ending the connection");
    super::wire::end(stream, end, config.timeout).await;
    Ok(())
}
