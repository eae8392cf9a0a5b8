//! Hand-built TLS ClientHellos, one protocol version at a time, and what the server answers:
//! how `scan` learns which versions (1.0 and 1.1 included, which rustls cannot speak) and
//! which cipher suites a server accepts, without any cryptography. Pure functions over bytes
//! a server controls: they never panic.

/// A TLS protocol version on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u16);

impl Version {
    /// TLS 1.0.
    pub const TLS10: Version = Version(0x0301);
    /// TLS 1.1.
    pub const TLS11: Version = Version(0x0302);
    /// TLS 1.2.
    pub const TLS12: Version = Version(0x0303);
    /// TLS 1.3.
    pub const TLS13: Version = Version(0x0304);
    /// Every version `scan` tries, oldest first.
    pub const ALL: [Version; 4] = [Self::TLS10, Self::TLS11, Self::TLS12, Self::TLS13];

    /// `TLS 1.2`, or the number for anything else (SSL 3.0 is `0x0300`).
    pub fn name(self) -> String {
        match self.0 {
            0x0300 => "SSL 3.0".to_owned(),
            0x0301..=0x0304 => format!("TLS 1.{}", self.0 - 0x0301),
            other => format!("0x{other:04X}"),
        }
    }

    /// The cipher suites a ClientHello of this version offers: everything a server of its
    /// time might choose, weak ones included (the point is to find out).
    pub fn suites(self) -> &'static [u16] {
        if self == Self::TLS13 {
            &TLS13_SUITES
        } else if self == Self::TLS12 {
            &TLS12_SUITES
        } else {
            &LEGACY_SUITES
        }
    }
}

/// Suites of TLS 1.0 and 1.1 (RFC 2246, 4346, 4492): CBC with SHA-1, 3DES, RC4.
const LEGACY_SUITES: [u16; 13] = [
    0xC014, 0xC013, 0xC00A, 0xC009, 0x0039, 0x0033, 0x0035, 0x002F, 0x000A, 0x0005, 0x0004, 0xC012,
    0x0016,
];
/// Suites of TLS 1.2 (RFC 5246, 5288, 5289, 7905) and the legacy ones.
const TLS12_SUITES: [u16; 29] = [
    0xC02C, 0xC02B, 0xC030, 0xC02F, 0xCCA9, 0xCCA8, 0x009F, 0x009E, 0xC024, 0xC023, 0xC028, 0xC027,
    0x009D, 0x009C, 0x003D, 0x003C, 0xC014, 0xC013, 0xC00A, 0xC009, 0x0039, 0x0033, 0x0035, 0x002F,
    0x000A, 0x0005, 0x0004, 0xC012, 0x0016,
];
/// Suites of TLS 1.3 (RFC 8446).
const TLS13_SUITES: [u16; 3] = [0x1301, 0x1302, 0x1303];

/// The IANA names of the suites `scan` offers that rustls has no name for.
const LEGACY_NAMES: [(u16, &str); 14] = [
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
];

/// A cipher suite's IANA name (`TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`), or its number.
pub fn suite_name(id: u16) -> String {
    if let Some((_, name)) = LEGACY_NAMES.iter().find(|(suite, _)| *suite == id) {
        return (*name).to_owned();
    }
    let name = format!("{:?}", rustls::CipherSuite::from(id));
    if name.starts_with("TLS") {
        name
    } else {
        format!("0x{id:04X}")
    }
}

/// Why a cipher suite is weak, if it is: RC4 and 3DES (broken or 64-bit blocks), static RSA
/// key exchange (no forward secrecy), and NULL or export suites.
pub fn weakness(id: u16) -> Option<&'static str> {
    match id {
        0x0004 | 0x0005 => Some("RC4 is broken (RFC 7465)"),
        0x000A | 0x0016 | 0xC012 => Some("3DES has 64-bit blocks (Sweet32)"),
        0x002F | 0x0035 | 0x003C | 0x003D | 0x009C | 0x009D => {
            Some("static RSA key exchange: no forward secrecy")
        }
        0x0000..=0x0003 | 0x0006 | 0x0008 | 0x0011 | 0x0014 => Some("NULL or export-grade"),
        _ => None,
    }
}

/// A ClientHello record offering only `version` and `suites`, with `server_name` (a host
/// name, not an address) in SNI.
pub fn client_hello(version: Version, suites: &[u16], server_name: Option<&str>) -> Vec<u8> {
    let tls13 = version >= Version::TLS13;
    let mut body = Vec::with_capacity(512);
    // legacy_version: TLS 1.3 says 1.2 here and the truth in supported_versions.
    let legacy = if tls13 { Version::TLS12 } else { version };
    body.extend_from_slice(&legacy.0.to_be_bytes());
    body.extend_from_slice(&random::<32>());
    // A session id: TLS 1.3 middlebox compatibility (RFC 8446 D.4).
    if tls13 {
        body.push(32);
        body.extend_from_slice(&random::<32>());
    } else {
        body.push(0);
    }
    let suites_len = u16::try_from(suites.len() * 2).unwrap_or(0);
    body.extend_from_slice(&suites_len.to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only

    let mut extensions = Vec::with_capacity(256);
    let mut extension = |kind: u16, data: &[u8]| {
        extensions.extend_from_slice(&kind.to_be_bytes());
        extensions.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
        extensions.extend_from_slice(data);
    };
    if let Some(name) = server_name.filter(|n| n.parse::<std::net::IpAddr>().is_err()) {
        let name = name.as_bytes();
        let mut data = Vec::with_capacity(name.len() + 5);
        data.extend_from_slice(&u16::try_from(name.len() + 3).unwrap_or(0).to_be_bytes());
        data.push(0); // host_name
        data.extend_from_slice(&u16::try_from(name.len()).unwrap_or(0).to_be_bytes());
        data.extend_from_slice(name);
        extension(0x0000, &data);
    }
    // supported_groups: x25519, secp256r1, secp384r1.
    extension(0x000A, &[0, 6, 0, 0x1D, 0, 0x17, 0, 0x18]);
    // ec_point_formats: uncompressed.
    extension(0x000B, &[1, 0]);
    if version >= Version::TLS12 {
        // signature_algorithms: ECDSA and RSA (PKCS#1 v1.5 and PSS), SHA-256/384/512, SHA-1.
        let schemes: [u16; 11] = [
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
        ];
        let mut data = u16::try_from(schemes.len() * 2)
            .unwrap_or(0)
            .to_be_bytes()
            .to_vec();
        for scheme in schemes {
            data.extend_from_slice(&scheme.to_be_bytes());
        }
        extension(0x000D, &data);
    }
    if tls13 {
        // supported_versions: 1.3 only.
        extension(0x002B, &[2, 0x03, 0x04]);
        // key_share: x25519 with 32 random bytes (the server computes nothing we need).
        let mut data = vec![0, 36, 0, 0x1D, 0, 32];
        data.extend_from_slice(&random::<32>());
        extension(0x0033, &data);
        // psk_key_exchange_modes: psk_dhe_ke (some servers require the extension).
        extension(0x002D, &[1, 1]);
    }
    // renegotiation_info, empty: old servers expect it.
    extension(0xFF01, &[0]);
    body.extend_from_slice(&u16::try_from(extensions.len()).unwrap_or(0).to_be_bytes());
    body.extend(extensions);

    let mut handshake = vec![1];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    // The record layer version: 1.0 for a 1.0 hello, else 1.2 is what clients send... any
    // 3.x is accepted; 3.1 is the most compatible.
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap_or(0).to_be_bytes());
    record.extend(handshake);
    record
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // A ClientHello's randomness protects nothing here: no key is ever derived. Any failure
    // of the system generator leaves zeros, which servers accept just as well.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes
}

/// What the server answered a ClientHello with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A ServerHello (or a TLS 1.3 HelloRetryRequest): the version and suite it chose.
    ServerHello {
        /// The version the server chose (supported_versions for TLS 1.3).
        version: Version,
        /// The cipher suite it chose.
        suite: u16,
    },
    /// A TLS alert: its level (1 warning, 2 fatal) and description.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The alert description (RFC 8446 6).
        description: u8,
    },
    /// Bytes that are neither.
    Other,
}

/// What `bytes` (the server's first bytes after the ClientHello) are, once there are enough
/// of them: `None` while a record is incomplete.
pub fn answer(bytes: &[u8]) -> Option<Answer> {
    let header = bytes.get(..5)?;
    if !(20..=23).contains(&header[0]) || header[1] != 3 {
        return Some(Answer::Other);
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let body = bytes.get(5..5 + len)?;
    Some(match header[0] {
        21 if body.len() >= 2 => Answer::Alert {
            level: body[0],
            description: body[1],
        },
        22 => server_hello(body).unwrap_or(Answer::Other),
        _ => Answer::Other,
    })
}

fn server_hello(handshake: &[u8]) -> Option<Answer> {
    if *handshake.first()? != 2 {
        return None;
    }
    let hello = ServerHello::parse(handshake.get(4..)?)?;
    Some(Answer::ServerHello {
        version: hello.version,
        suite: hello.suite,
    })
}

/// What a ServerHello message (the handshake body, after its 4-byte header) says.
pub(crate) struct ServerHello {
    /// The server's random.
    pub(crate) random: [u8; 32],
    /// The cipher suite it chose.
    pub(crate) suite: u16,
    /// The version it chose: supported_versions for TLS 1.3, else legacy_version.
    pub(crate) version: Version,
}

impl ServerHello {
    /// Parses a ServerHello message; `None` when it is truncated.
    pub(crate) fn parse(message: &[u8]) -> Option<Self> {
        let random: [u8; 32] = message.get(2..34)?.try_into().ok()?;
        let session_id_len = usize::from(*message.get(34)?);
        let at = 35 + session_id_len;
        let suite = u16::from_be_bytes(message.get(at..at + 2)?.try_into().ok()?);
        let mut version = Version(u16::from_be_bytes(message.get(0..2)?.try_into().ok()?));
        // Extensions follow the compression method (1 byte) and their 2-byte total length.
        let mut extensions = message.get(at + 5..).unwrap_or_default();
        while extensions.len() >= 4 {
            let kind = u16::from_be_bytes([extensions[0], extensions[1]]);
            let len = usize::from(u16::from_be_bytes([extensions[2], extensions[3]]));
            let Some(value) = extensions.get(4..4 + len) else {
                break;
            };
            if kind == SUPPORTED_VERSIONS && value.len() == 2 {
                version = Version(u16::from_be_bytes([value[0], value[1]]));
            }
            extensions = &extensions[4 + len..];
        }
        Some(Self {
            random,
            suite,
            version,
        })
    }
}

/// The supported_versions extension (RFC 8446 4.2.1).
const SUPPORTED_VERSIONS: u16 = 0x002B;

// The connections: an X.224 offer of one protocol, then one hand-built ClientHello.

use std::net::SocketAddr;
use std::time::Instant;

use ironrdp_pdu::nego::{
    ConnectionConfirm, ConnectionRequest, NegoRequestData, RequestFlags, SecurityProtocol,
};
use ironrdp_pdu::x224::X224;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Why a scan connection ended before it learned what it came for.
pub(crate) enum Ended {
    Closed(String),
    Timeout(String),
    Error(String),
}

/// `fut` until `deadline` (through the probe's one bounded wait); `what` names the wait.
pub(crate) async fn bounded<T>(
    deadline: Instant,
    what: &str,
    fut: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, Ended> {
    match super::io::until(deadline, fut).await {
        Some(Ok(value)) => Ok(value),
        Some(Err(error)) => Err(match error.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => {
                Ended::Closed(format!("the server closed the connection {what}"))
            }
            _ => Ended::Error(format!("{what}: {error}")),
        }),
        None => Err(Ended::Timeout(format!("no answer {what} in time"))),
    }
}

/// Connects and sends an X.224 Connection Request offering `protocol`; returns the stream
/// and the Confirm.
pub(crate) async fn negotiate(
    addr: SocketAddr,
    protocol: SecurityProtocol,
    deadline: Instant,
) -> Result<(TcpStream, ConnectionConfirm), Ended> {
    let mut tcp = bounded(deadline, "to the TCP connect", TcpStream::connect(addr)).await?;
    let _ = tcp.set_nodelay(true);
    let request = ConnectionRequest {
        nego_data: Some(NegoRequestData::cookie("rdpscope".to_owned())),
        flags: RequestFlags::empty(),
        protocol,
        correlation_info: None,
    };
    let bytes = ironrdp_core::encode_vec(&X224(request))
        .map_err(|e| Ended::Error(format!("encode the Connection Request: {e}")))?;
    bounded(deadline, "to the Connection Request", tcp.write_all(&bytes)).await?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        if let Some(framed) = crate::probe::x224::split_confirm(&received, false) {
            let (frame, _) = framed.map_err(|f| Ended::Error(f.0.message))?;
            let confirm = ironrdp_core::decode::<X224<ConnectionConfirm>>(&frame)
                .map_err(|e| Ended::Error(format!("invalid Connection Confirm: {e}")))?
                .0;
            return Ok((tcp, confirm));
        }
        let n = bounded(deadline, "to the Connection Request", tcp.read(&mut chunk)).await?;
        if n == 0 {
            return Err(match crate::probe::x224::split_confirm(&received, true) {
                Some(Err(failure)) if !received.is_empty() => Ended::Error(failure.0.message),
                _ => Ended::Closed(
                    "the server closed the connection without a Connection Confirm".to_owned(),
                ),
            });
        }
        received.extend_from_slice(&chunk[..n]);
    }
}

/// What one hand-built ClientHello got.
pub(crate) async fn hello_once(
    addr: SocketAddr,
    carrier: SecurityProtocol,
    version: Version,
    suites: &[u16],
    server_name: &str,
    deadline: Instant,
) -> Result<Answer, Ended> {
    let (mut tcp, confirm) = negotiate(addr, carrier, deadline).await?;
    if !matches!(confirm, ConnectionConfirm::Response { protocol, .. } if protocol == carrier) {
        return Err(Ended::Error(
            "the server no longer selects the protocol it selected before".to_owned(),
        ));
    }
    let bytes = client_hello(version, suites, Some(server_name));
    bounded(deadline, "to the ClientHello", tcp.write_all(&bytes)).await?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(answer) = answer(&received) {
            return Ok(answer);
        }
        let n = bounded(deadline, "to the ClientHello", tcp.read(&mut chunk)).await?;
        if n == 0 {
            return Err(Ended::Closed(
                "the server closed the connection after the ClientHello".to_owned(),
            ));
        }
        received.extend_from_slice(&chunk[..n]);
        if received.len() > 1 << 16 {
            return Ok(Answer::Other);
        }
    }
}

/// The versions the server chooses when offered only them, with the suite it chose, by one
/// hand-built ClientHello per version (in parallel): what a failed handshake was up against.
pub(crate) async fn versions_spoken(
    addr: SocketAddr,
    carrier: SecurityProtocol,
    server_name: &str,
    deadline: Instant,
) -> Vec<(Version, u16)> {
    let check = |version: Version| async move {
        match hello_once(
            addr,
            carrier,
            version,
            version.suites(),
            server_name,
            deadline,
        )
        .await
        {
            Ok(Answer::ServerHello {
                version: chosen,
                suite,
            }) if chosen == version => Some((version, suite)),
            _ => None,
        }
    };
    let (v10, v11, v12, v13) = tokio::join!(
        check(Version::TLS10),
        check(Version::TLS11),
        check(Version::TLS12),
        check(Version::TLS13)
    );
    [v10, v11, v12, v13].into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_reads_our_client_hellos() {
        // A rustls server answers a 1.2 and a 1.3 hello built here with its ServerHello.
        for (version, expected) in [(Version::TLS12, 0x0303u16), (Version::TLS13, 0x0304)] {
            let identity = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
                .expect("certificate");
            let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![identity.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(
                    identity.signing_key.serialize_der().into(),
                ),
            )
            .expect("config");
            let mut server =
                rustls::ServerConnection::new(std::sync::Arc::new(config)).expect("server");
            let hello = client_hello(version, version.suites(), Some("localhost"));
            server
                .read_tls(&mut hello.as_slice())
                .expect("reads the hello");
            server.process_new_packets().expect("accepts the hello");
            let mut out = Vec::new();
            server.write_tls(&mut out).expect("answers");
            match answer(&out) {
                Some(Answer::ServerHello { version, suite }) => {
                    assert_eq!(version, Version(expected));
                    assert!(
                        version.suites().contains(&suite)
                            || Version::TLS12.suites().contains(&suite)
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn alerts_and_junk_are_told_apart_and_nothing_panics() {
        assert_eq!(
            answer(&[21, 3, 3, 0, 2, 2, 70]),
            Some(Answer::Alert {
                level: 2,
                description: 70
            })
        );
        assert_eq!(answer(&[21, 3, 3, 0, 2, 2]), None);
        assert_eq!(answer(b"HTTP/1.1 400"), Some(Answer::Other));
        let hello = client_hello(Version::TLS10, Version::TLS10.suites(), None);
        for end in 0..hello.len() {
            let _ = answer(&hello[..end]);
        }
        assert_eq!(Version::TLS11.name(), "TLS 1.1");
        assert!(weakness(0x0005).is_some() && weakness(0xC02F).is_none());
    }
}
