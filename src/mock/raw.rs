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

/// The bytes of a reply to `client`, the client's last message; `None`: nothing to send.
fn encode(reply: &Reply, client: &[u8]) -> Option<Vec<u8>> {
    Some(match *reply {
        Reply::Bytes(bytes) => bytes.to_vec(),
        Reply::Confirm(protocol) => confirm(protocol),
        Reply::NegFailure(code) => encode_vec(&X224(ConnectionConfirm::Failure {
            code: FailureCode::from(code),
        }))
        .unwrap_or_default(),
        Reply::HandshakeFailureAlert => alert(HANDSHAKE_FAILURE),
        Reply::OldServerHello(version) => old_server_hello(version),
        Reply::TsRequestError(status) => return ts_request_error_for(client, status),
        Reply::ChooseSuite(suites) => choose_suite(client, suites),
        Reply::OldChallenge {
            credssp_version,
            skew_seconds,
        } => old_challenge(credssp_version, skew_seconds),
    })
}

/// A ServerHello record of `version` (TLS_RSA_WITH_AES_128_CBC_SHA, no extensions).
fn old_server_hello(version: u16) -> Vec<u8> {
    server_hello(version, 0x002F)
}

/// A ServerHello record of `version` choosing `suite`, no extensions.
fn server_hello(version: u16, suite: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec(); // server_version
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // empty session id
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(0); // no compression
    let mut handshake = vec![0x02, 0x00, 0x00, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend(handshake);
    record
}

/// A TSRequest of `credssp_version` with an NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) as a
/// Windows Server 2008 R2 in domain OLDCORP sends it, its timestamp `skew_seconds` off now.
fn old_challenge(credssp_version: u32, skew_seconds: i64) -> Vec<u8> {
    use ironrdp_connector::sspi::credssp::TsRequest;
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    // FILETIME: 100 ns intervals since 1601-01-01.
    let unix = time::OffsetDateTime::now_utc().unix_timestamp() + skew_seconds;
    let filetime = u64::try_from(unix + 11_644_473_600).unwrap_or(0) * 10_000_000;
    let mut info = Vec::new();
    for (id, value) in [
        (2u16, utf16("OLDCORP")),
        (1, utf16("OLD2008")),
        (4, utf16("oldcorp.example")),
        (3, utf16("old2008.oldcorp.example")),
        (5, utf16("oldcorp.example")),
        (7, filetime.to_le_bytes().to_vec()),
    ] {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&(value.len() as u16).to_le_bytes());
        info.extend(value);
    }
    info.extend_from_slice(&[0, 0, 0, 0]); // MsvAvEOL
    let target = utf16("OLDCORP");
    // UNICODE, REQUEST_TARGET, NTLM, ALWAYS_SIGN, TARGET_TYPE_DOMAIN,
    // EXTENDED_SESSIONSECURITY, TARGET_INFO, VERSION, 128, KEY_EXCH, 56.
    let flags: u32 = 0xE28A_8205;
    let target_offset = 56u32;
    let info_offset = target_offset + target.len() as u32;
    let mut message = b"NTLMSSP\0".to_vec();
    message.extend_from_slice(&2u32.to_le_bytes());
    message.extend_from_slice(&(target.len() as u16).to_le_bytes());
    message.extend_from_slice(&(target.len() as u16).to_le_bytes());
    message.extend_from_slice(&target_offset.to_le_bytes());
    message.extend_from_slice(&flags.to_le_bytes());
    message.extend_from_slice(&[0x5a; 8]); // ServerChallenge
    message.extend_from_slice(&[0; 8]); // Reserved
    message.extend_from_slice(&(info.len() as u16).to_le_bytes());
    message.extend_from_slice(&(info.len() as u16).to_le_bytes());
    message.extend_from_slice(&info_offset.to_le_bytes());
    message.extend_from_slice(&[6, 1, 0xB1, 0x1D, 0, 0, 0, 15]); // 6.1.7601, NTLM revision 15
    message.extend(target);
    message.extend(info);
    let request = TsRequest {
        version: credssp_version,
        nego_tokens: Some(message),
        ..TsRequest::default()
    };
    let mut out = Vec::new();
    let _ = request.encode_ts_request(&mut out);
    out
}

/// The answer to the client's TSRequest `client` carrying `status` ([`super::wire::error_answer`]:
/// errorCode only for a client announcing CredSSP version 3 or later; an unreadable request
/// counts as the current version).
fn ts_request_error_for(client: &[u8], status: u32) -> Option<Vec<u8>> {
    use ironrdp_connector::sspi::credssp::TsRequest;
    let version = TsRequest::from_buffer(client).map_or(6, |request| request.version);
    super::wire::error_answer(version, status)
}

/// TLS alert descriptions (RFC 5246 7.2).
const HANDSHAKE_FAILURE: u8 = 40;
const PROTOCOL_VERSION: u8 = 70;

/// A fatal TLS alert record.
fn alert(description: u8) -> Vec<u8> {
    vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]
}

/// The answer of a TLS 1.2 server with only `suites` to the ClientHello `hello` (one
/// record, RFC 5246 7.4.1.2).
fn choose_suite(hello: &[u8], suites: &[u16]) -> Vec<u8> {
    let u16_at = |i: usize| {
        hello
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    // Record header (5), handshake header (4), client_version (2), random (32).
    let Some(version) = u16_at(9) else {
        return alert(HANDSHAKE_FAILURE);
    };
    if version < 0x0303 {
        return alert(PROTOCOL_VERSION);
    }
    let session = 43 + 1 + usize::from(hello.get(43).copied().unwrap_or(0));
    let offered: Vec<u16> = match u16_at(session) {
        Some(len) => (0..usize::from(len) / 2)
            .filter_map(|i| u16_at(session + 2 + 2 * i))
            .collect(),
        None => Vec::new(),
    };
    match suites.iter().find(|s| offered.contains(s)) {
        Some(&suite) => server_hello(0x0303, suite),
        None => alert(HANDSHAKE_FAILURE),
    }
}

/// What a script runs on: the TCP stream, then the TLS stream.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Io for T {}

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
    let mut last_read = Vec::new();
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
                last_read = buf[..n].to_vec();
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
            Step::Write(reply) => match encode(reply, &last_read) {
                Some(bytes) => {
                    timed(config.timeout, "a write", stream.write_all(&bytes)).await?;
                    info!(%peer, bytes = bytes.len(), "Sent");
                }
                None => info!(%peer, ?reply, "Nothing to send to this client"),
            },
        }
    }
    info!(%peer, scenario = config.name, ?end, "Ending the connection");
    super::wire::end(stream, end, config.timeout).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrdp_connector::sspi::credssp::TsRequest;

    fn client_request(version: u32) -> Vec<u8> {
        let request = TsRequest {
            version,
            nego_tokens: Some(b"NTLMSSP\0\x01\0\0\0".to_vec()),
            ..TsRequest::default()
        };
        let mut out = Vec::new();
        request.encode_ts_request(&mut out).expect("encode");
        out
    }

    #[test]
    fn error_code_follows_the_clients_credssp_version() {
        for version in [3, 4, 5, 6] {
            let answer = ts_request_error_for(&client_request(version), 0xC000_006D)
                .unwrap_or_else(|| panic!("no errorCode for version {version}"));
            let decoded = TsRequest::from_buffer(&answer).expect("a TSRequest");
            assert_eq!(decoded.error_code.map(|c| c.0), Some(0xC000_006D));
        }
        for version in [1, 2] {
            assert_eq!(
                ts_request_error_for(&client_request(version), 0xC000_006D),
                None
            );
        }
    }
}
