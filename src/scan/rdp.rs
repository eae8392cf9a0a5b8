//! Standard RDP Security, when a server accepts it: the encryption method and level its MCS
//! Connect Response chooses (MS-RDPBCGR 2.2.1.4.3), for an offer of every method and for
//! each method alone, and the key of its proprietary certificate. One hand-built MCS Connect
//! Initial per connection; nothing is encrypted and no credentials exist at this point.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ironrdp_core::encode_vec;
use ironrdp_pdu::gcc::{self, EncryptionMethod};
use ironrdp_pdu::mcs;
use ironrdp_pdu::nego::{ConnectionConfirm, SecurityProtocol};
use ironrdp_pdu::x224::{X224Data, X224};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::Verdict;
use crate::probe::activation::{encryption_level_name, encryption_method_name};
use crate::probe::hello::{bounded, negotiate, Ended};

/// What a server's Server Security Data chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RdpEncryption {
    /// `encryptionMethod` (`0x2` is 128-bit), 0 for none.
    pub method: u32,
    /// Its name (`128BIT_ENCRYPTION_FLAG`, `ENCRYPTION_METHOD_NONE`).
    pub method_name: String,
    /// `encryptionLevel` (0 none .. 4 FIPS).
    pub level: u32,
    /// Its name (`ENCRYPTION_LEVEL_CLIENT_COMPATIBLE`).
    pub level_name: &'static str,
    /// The kind of server certificate sent: `proprietary` (an RSA key signed with a key
    /// Microsoft published, so it proves nothing), `x509`, or none.
    pub certificate: Option<&'static str>,
    /// The bit length of the proprietary certificate's RSA key.
    pub key_bits: Option<u32>,
}

/// One encryption method offered alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MethodResult {
    /// `40bit`, `56bit`, `128bit` or `fips`.
    pub method: &'static str,
    /// `accepted` (the server chose it), `downgraded` (it chose another method, one it was
    /// not offered, or none: `detail` names it), `closed`, `timeout` or `error`.
    pub verdict: Verdict,
    /// The level the server named with it.
    pub level_name: Option<&'static str>,
    /// What went wrong, when it did not answer with a Connect Response.
    pub detail: Option<String>,
}

/// Standard RDP Security as far as the MCS Connect Response tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StandardRdpSecurity {
    /// The server's choice when every method is offered (40, 56, 128-bit and FIPS): its
    /// preference, or why there is none.
    pub preferred: Option<RdpEncryption>,
    /// Why the offer of every method got no Connect Response.
    pub detail: Option<String>,
    /// Each method offered alone.
    pub methods: Vec<MethodResult>,
    /// What this cannot tell.
    pub not_determined: &'static str,
}

/// What the Connect Response cannot tell, said in every report.
const NOT_DETERMINED: &str = "whether the server would finish a connection with the chosen method (that needs the RC4 key exchange, which rdpscope does not implement), and anything about an X.509 server certificate";

/// The methods offered one at a time.
const METHODS: [(EncryptionMethod, &str); 4] = [
    (EncryptionMethod::BIT_40, "40bit"),
    (EncryptionMethod::BIT_56, "56bit"),
    (EncryptionMethod::BIT_128, "128bit"),
    (EncryptionMethod::FIPS, "fips"),
];

/// Standard RDP Security of the server at `addr`: one connection offering every method and
/// one per method, in parallel.
pub(super) async fn scan(addr: SocketAddr, timeout: Duration) -> StandardRdpSecurity {
    let offer = |methods: EncryptionMethod| async move {
        connect(addr, methods, Instant::now() + timeout).await
    };
    let (all, m40, m56, m128, fips) = tokio::join!(
        offer(EncryptionMethod::all()),
        offer(METHODS[0].0),
        offer(METHODS[1].0),
        offer(METHODS[2].0),
        offer(METHODS[3].0),
    );
    let methods = [m40, m56, m128, fips]
        .into_iter()
        .zip(METHODS)
        .map(|(answer, (offered, name))| match answer {
            Ok(chosen) => MethodResult {
                method: name,
                verdict: if chosen.method == offered.bits() {
                    Verdict::Accepted
                } else {
                    Verdict::Downgraded
                },
                level_name: Some(chosen.level_name),
                detail: (chosen.method != offered.bits()).then(|| {
                    format!(
                        "the server chose {}, which was not offered",
                        chosen.method_name
                    )
                }),
            },
            Err(ended) => {
                let (verdict, detail) = ended.verdict();
                MethodResult {
                    method: name,
                    verdict,
                    level_name: None,
                    detail: Some(detail),
                }
            }
        })
        .collect();
    let (preferred, detail) = match all {
        Ok(chosen) => (Some(chosen), None),
        Err(ended) => (None, Some(ended.verdict().1)),
    };
    StandardRdpSecurity {
        preferred,
        detail,
        methods,
        not_determined: NOT_DETERMINED,
    }
}

/// X.224 offering Standard RDP Security only, then an MCS Connect Initial offering
/// `methods`; the Server Security Data of the answer.
async fn connect(
    addr: SocketAddr,
    methods: EncryptionMethod,
    deadline: Instant,
) -> Result<RdpEncryption, Ended> {
    let (mut tcp, confirm) = negotiate(addr, SecurityProtocol::empty(), deadline).await?;
    if let ConnectionConfirm::Response { protocol, .. } = confirm {
        if !protocol.is_empty() {
            return Err(Ended::Error(
                "the server did not select Standard RDP Security".to_owned(),
            ));
        }
    } else {
        return Err(Ended::Error(
            "the server refused Standard RDP Security".to_owned(),
        ));
    }
    let initial = connect_initial(methods)
        .map_err(|e| Ended::Error(format!("encode the MCS Connect Initial: {e}")))?;
    bounded(
        deadline,
        "to the MCS Connect Initial",
        tcp.write_all(&initial),
    )
    .await?;
    let frame = read_tpkt(&mut tcp, deadline).await?;
    read_security(&frame).ok_or_else(|| {
        Ended::Error("the answer to the MCS Connect Initial is not a Connect Response".to_owned())
    })
}

/// One TPKT frame (RFC 1006: version 3, a big-endian length that counts the header).
async fn read_tpkt(tcp: &mut tokio::net::TcpStream, deadline: Instant) -> Result<Vec<u8>, Ended> {
    const WAIT: &str = "to the MCS Connect Initial";
    let mut frame = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        if frame.first().is_some_and(|&v| v != 3) {
            return Err(Ended::Error(
                "the answer to the MCS Connect Initial is not a TPKT".to_owned(),
            ));
        }
        if let Some(length) = frame
            .get(2..4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        {
            if length < 4 {
                return Err(Ended::Error(format!("a TPKT length of {length}")));
            }
            if frame.len() >= length {
                frame.truncate(length);
                return Ok(frame);
            }
        }
        let n = bounded(deadline, WAIT, tcp.read(&mut chunk)).await?;
        if n == 0 {
            return Err(Ended::Closed(format!(
                "the server closed the connection {WAIT}"
            )));
        }
        frame.extend_from_slice(&chunk[..n]);
    }
}

/// The Client MCS Connect Initial (MS-RDPBCGR 2.2.1.3) of a client offering `methods`, in
/// TPKT and X.224 Data: core data as mstsc's defaults, no channels.
fn connect_initial(methods: EncryptionMethod) -> Result<Vec<u8>, String> {
    use gcc::{
        ClientCoreData, ClientCoreOptionalData, ClientEarlyCapabilityFlags, ClientGccBlocks,
        ClientSecurityData, ColorDepth, ConnectionType, HighColorDepth, KeyboardType, RdpVersion,
        SecureAccessSequence, SupportedColorDepths,
    };
    let blocks = ClientGccBlocks {
        core: ClientCoreData {
            version: RdpVersion::V5_PLUS,
            desktop_width: 1024,
            desktop_height: 768,
            color_depth: ColorDepth::Bpp8,
            sec_access_sequence: SecureAccessSequence::Del,
            keyboard_layout: 0x409,
            client_build: 0,
            client_name: "rdpscope".to_owned(),
            keyboard_type: KeyboardType::IBM_ENHANCED,
            keyboard_subtype: 0,
            keyboard_functional_keys_count: 12,
            ime_file_name: String::new(),
            optional_data: ClientCoreOptionalData {
                post_beta2_color_depth: Some(ColorDepth::Bpp8),
                client_product_id: Some(1),
                serial_number: Some(0),
                high_color_depth: Some(HighColorDepth::Bpp24),
                supported_color_depths: Some(SupportedColorDepths::all()),
                early_capability_flags: Some(ClientEarlyCapabilityFlags::SUPPORT_ERR_INFO_PDU),
                dig_product_id: Some(String::new()),
                connection_type: Some(ConnectionType::Lan),
                server_selected_protocol: Some(SecurityProtocol::empty()),
                ..ClientCoreOptionalData::default()
            },
        },
        security: ClientSecurityData {
            encryption_methods: methods,
            ext_encryption_methods: 0,
        },
        network: Some(gcc::ClientNetworkData {
            channels: Vec::new(),
        }),
        cluster: None,
        monitor: None,
        message_channel: None,
        multi_transport_channel: None,
        monitor_extended: None,
    };
    let initial = mcs::ConnectInitial::with_gcc_blocks(blocks).map_err(|e| e.to_string())?;
    let data = encode_vec(&initial).map_err(|e| e.to_string())?;
    encode_vec(&X224(X224Data { data: data.into() })).map_err(|e| e.to_string())
}

/// The Server Security Data of an MCS Connect Response frame.
pub(crate) fn read_security(frame: &[u8]) -> Option<RdpEncryption> {
    let security = crate::probe::activation::server_security_data(frame)?;
    let method = security.encryption_method.bits();
    let level = security.encryption_level as u32;
    let (certificate, key_bits) = certificate_kind(&security.server_cert);
    Some(RdpEncryption {
        method,
        method_name: encryption_method_name(method),
        level,
        level_name: encryption_level_name(level),
        certificate,
        key_bits,
    })
}

/// The kind of a Server Certificate (MS-RDPBCGR 2.2.1.4.3.1: dwVersion 1 proprietary, 2
/// X.509) and, for a proprietary one, its RSA key's bit length (the RSA_PUBLIC_KEY's bitlen,
/// 2.2.1.4.3.1.1.1).
fn certificate_kind(cert: &[u8]) -> (Option<&'static str>, Option<u32>) {
    let u32_at = |i: usize| {
        cert.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match u32_at(0).map(|v| v & 0x7FFF_FFFF) {
        // dwVersion, dwSigAlgId, dwKeyAlgId, wPublicKeyBlobType, wPublicKeyBlobLen, then
        // the RSA_PUBLIC_KEY: magic "RSA1", keylen, bitlen.
        Some(1) => (
            Some("proprietary"),
            (cert.get(16..20) == Some(b"RSA1"))
                .then(|| u32_at(24))
                .flatten(),
        ),
        Some(2) => (Some("x509"), None),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::activation::connect_response as response;
    use ironrdp_core::decode;

    #[test]
    fn reads_the_method_level_and_proprietary_key_of_a_connect_response() {
        // A proprietary certificate: dwVersion 1, dwSigAlgId 1, dwKeyAlgId 1, blob type 6,
        // blob length, "RSA1", keylen 72, bitlen 512, datalen 63, exponent, modulus.
        let mut cert = Vec::new();
        for v in [1u32, 1, 1] {
            cert.extend_from_slice(&v.to_le_bytes());
        }
        cert.extend_from_slice(&6u16.to_le_bytes());
        cert.extend_from_slice(&92u16.to_le_bytes());
        cert.extend_from_slice(b"RSA1");
        for v in [72u32, 512, 63, 65537] {
            cert.extend_from_slice(&v.to_le_bytes());
        }
        cert.extend_from_slice(&[0xAB; 72]);
        let frame = response(gcc::ServerSecurityData {
            encryption_method: EncryptionMethod::BIT_128,
            encryption_level: gcc::EncryptionLevel::High,
            server_random: Some([7; 32]),
            server_cert: cert,
        });
        let chosen = read_security(&frame).expect("a Connect Response");
        assert_eq!(chosen.method, 2);
        assert_eq!(chosen.method_name, "128BIT_ENCRYPTION_FLAG");
        assert_eq!(chosen.level_name, "ENCRYPTION_LEVEL_HIGH");
        assert_eq!(chosen.certificate, Some("proprietary"));
        assert_eq!(chosen.key_bits, Some(512));

        let none = read_security(&response(gcc::ServerSecurityData::no_security()))
            .expect("a Connect Response");
        assert_eq!(none.method_name, "ENCRYPTION_METHOD_NONE");
        assert_eq!(none.level_name, "ENCRYPTION_LEVEL_NONE");
        assert_eq!(none.certificate, None);
        assert!(read_security(&frame[..frame.len() - 1]).is_none());
        assert!(read_security(b"\x03\x00\x00\x05x").is_none());
    }

    #[test]
    fn the_connect_initial_offers_the_methods_asked_for() {
        for (methods, _) in METHODS {
            let bytes = connect_initial(methods).expect("encode");
            let data = decode::<X224<X224Data<'_>>>(&bytes).expect("x224").0.data;
            let initial = decode::<mcs::ConnectInitial>(&data).expect("connect initial");
            let blocks = initial.conference_create_request.gcc_blocks();
            assert_eq!(blocks.security.encryption_methods, methods);
            assert_eq!(
                blocks.core.optional_data.server_selected_protocol,
                Some(SecurityProtocol::empty())
            );
        }
    }
}
