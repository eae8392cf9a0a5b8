//! Smoke tests against a real xrdp server (see tests/support/xrdp.rs).
//!
//! Locally without xrdp these tests print a skip notice; with `CI` set they fail.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use support::xrdp::{require_xrdp, SecurityLayer, Xrdp, XrdpOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

const PROTOCOL_RDP: u32 = 0;
const PROTOCOL_SSL: u32 = 1;
const PROTOCOL_HYBRID: u32 = 2;

/// A self-signed ECDSA P-256 certificate for "localhost" (rcgen's ring backend cannot
/// generate RSA keys; xrdp accepts ECDSA fine).
fn ecdsa_cert() -> (String, String, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().to_vec(),
    )
}

/// A self-signed RSA certificate signed with a checked-in RSA 2048 PKCS#8 key.
fn rsa_cert() -> (String, String, Vec<u8>) {
    let key_pem = include_str!("fixtures/rsa2048-pkcs8.key.pem");
    let key = rcgen::KeyPair::from_pem_and_sign_algo(key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key_pem.to_owned(), cert.der().to_vec())
}

/// TPKT + X.224 Connection Request with a cookie and an RDP_NEG_REQ.
fn connection_request(requested_protocols: u32) -> Vec<u8> {
    let cookie = b"Cookie: mstshash=rdpscope\r\n";
    let mut x224 = vec![0u8; 7];
    x224[1] = 0xE0; // CR TPDU, CDT 0; DST-REF, SRC-REF, class 0
    x224.extend_from_slice(cookie);
    x224.extend_from_slice(&[0x01, 0x00, 0x08, 0x00]); // TYPE_RDP_NEG_REQ, flags, length 8
    x224.extend_from_slice(&requested_protocols.to_le_bytes());
    x224[0] = u8::try_from(x224.len() - 1).unwrap(); // LI excludes itself
    let total = u16::try_from(4 + x224.len()).unwrap();
    let mut pdu = vec![0x03, 0x00];
    pdu.extend_from_slice(&total.to_be_bytes());
    pdu.extend_from_slice(&x224);
    pdu
}

#[derive(Debug, PartialEq, Eq)]
enum NegResult {
    Response { flags: u8, selected: u32 },
    Failure { code: u32 },
}

/// Send the Connection Request and parse the Connection Confirm.
async fn negotiate(stream: &mut TcpStream, requested: u32) -> NegResult {
    stream
        .write_all(&connection_request(requested))
        .await
        .unwrap();
    let mut tpkt = [0u8; 4];
    tokio::time::timeout(IO_TIMEOUT, stream.read_exact(&mut tpkt))
        .await
        .expect("timeout waiting for Connection Confirm")
        .expect("read TPKT header");
    assert_eq!(tpkt[0], 3, "TPKT version");
    let len = usize::from(u16::from_be_bytes([tpkt[2], tpkt[3]]));
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).await.unwrap();
    assert_eq!(
        body[1] & 0xF0,
        0xD0,
        "expected X.224 CC TPDU, got {body:02x?}"
    );
    let neg = &body[7..];
    assert_eq!(
        neg.len(),
        8,
        "expected an 8-byte RDP_NEG_* structure, got {body:02x?}"
    );
    let value = u32::from_le_bytes(neg[4..8].try_into().unwrap());
    match neg[0] {
        0x02 => NegResult::Response {
            flags: neg[1],
            selected: value,
        },
        0x03 => NegResult::Failure { code: value },
        t => panic!("unexpected negotiation type {t:#x}"),
    }
}

/// Accepts any certificate (we compare the leaf ourselves).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// X.224 negotiation offering `requested`, then (if SSL was selected) a TLS handshake.
/// Returns the negotiation result and the presented leaf certificate (DER).
async fn probe(xrdp: &Xrdp, requested: u32) -> (NegResult, Option<Vec<u8>>) {
    let mut stream = TcpStream::connect(xrdp.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let neg = negotiate(&mut stream, requested).await;
    if !matches!(
        neg,
        NegResult::Response {
            selected: PROTOCOL_SSL,
            ..
        }
    ) {
        return (neg, None);
    }
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(IO_TIMEOUT, tls_connector().connect(name, stream))
        .await
        .expect("TLS handshake timed out")
        .unwrap_or_else(|e| panic!("TLS handshake failed: {e}\n{}", xrdp.log_tail(20)));
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec());
    (neg, leaf)
}

#[tokio::test]
async fn xrdp_selects_ssl_and_presents_configured_ecdsa_certificate() {
    if !require_xrdp("xrdp_selects_ssl_and_presents_configured_ecdsa_certificate") {
        return;
    }
    let (cert_pem, key_pem, cert_der) = ecdsa_cert();
    let xrdp =
        Xrdp::start(&cert_pem, &key_pem).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"));
    eprintln!("xrdp listening on {} after {:?}", xrdp.addr, xrdp.startup);

    let (neg, leaf) = probe(&xrdp, PROTOCOL_SSL).await;
    assert!(
        matches!(
            neg,
            NegResult::Response {
                selected: PROTOCOL_SSL,
                ..
            }
        ),
        "{neg:?}"
    );
    assert_eq!(
        leaf.as_deref(),
        Some(cert_der.as_slice()),
        "leaf differs from configured cert"
    );

    // xrdp has no CredSSP: offering SSL|HYBRID still selects SSL.
    let (neg, leaf) = probe(&xrdp, PROTOCOL_SSL | PROTOCOL_HYBRID).await;
    assert!(
        matches!(
            neg,
            NegResult::Response {
                selected: PROTOCOL_SSL,
                ..
            }
        ),
        "{neg:?}"
    );
    assert_eq!(leaf.as_deref(), Some(cert_der.as_slice()));
}

#[tokio::test]
async fn xrdp_accepts_rsa_pkcs8_key() {
    if !require_xrdp("xrdp_accepts_rsa_pkcs8_key") {
        return;
    }
    let (cert_pem, key_pem, cert_der) = rsa_cert();
    let xrdp =
        Xrdp::start(&cert_pem, &key_pem).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"));
    let (neg, leaf) = probe(&xrdp, PROTOCOL_SSL).await;
    assert!(
        matches!(
            neg,
            NegResult::Response {
                selected: PROTOCOL_SSL,
                ..
            }
        ),
        "{neg:?}"
    );
    assert_eq!(leaf.as_deref(), Some(cert_der.as_slice()));
}

#[tokio::test]
async fn xrdp_tls_only_refuses_standard_rdp_security() {
    if !require_xrdp("xrdp_tls_only_refuses_standard_rdp_security") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let xrdp =
        Xrdp::start(&cert_pem, &key_pem).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"));
    let (neg, _) = probe(&xrdp, PROTOCOL_RDP).await;
    assert_eq!(
        neg,
        NegResult::Failure { code: 1 },
        "expected SSL_REQUIRED_BY_SERVER"
    );
}

#[tokio::test]
async fn xrdp_security_layer_rdp_and_negotiate() {
    if !require_xrdp("xrdp_security_layer_rdp_and_negotiate") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();

    let mut opts = XrdpOptions::tls(&cert_pem, &key_pem);
    opts.security_layer = SecurityLayer::Rdp;
    let xrdp = Xrdp::start_with(opts.clone()).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"));
    // Standard RDP Security only: xrdp answers PROTOCOL_RDP even to an SSL-only offer
    // (no SSL_NOT_ALLOWED_BY_SERVER failure).
    let (neg, _) = probe(&xrdp, PROTOCOL_SSL).await;
    assert!(
        matches!(
            neg,
            NegResult::Response {
                selected: PROTOCOL_RDP,
                ..
            }
        ),
        "{neg:?}"
    );
    drop(xrdp);

    opts.security_layer = SecurityLayer::Negotiate;
    let xrdp = Xrdp::start_with(opts).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"));
    let (neg, _) = probe(&xrdp, PROTOCOL_RDP).await;
    assert!(
        matches!(
            neg,
            NegResult::Response {
                selected: PROTOCOL_RDP,
                ..
            }
        ),
        "{neg:?}"
    );
    let (neg, leaf) = probe(&xrdp, PROTOCOL_SSL).await;
    assert!(
        matches!(
            neg,
            NegResult::Response {
                selected: PROTOCOL_SSL,
                ..
            }
        ),
        "{neg:?}"
    );
    assert!(leaf.is_some());
}

#[tokio::test]
async fn xrdp_missing_certificate_gives_ssl_cert_not_on_server() {
    if !require_xrdp("xrdp_missing_certificate_gives_ssl_cert_not_on_server") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let mut opts = XrdpOptions::tls(&cert_pem, &key_pem);
    opts.extra_globals
        .push("certificate=/nonexistent/cert.pem".to_owned());
    let xrdp = Xrdp::start_with(opts).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"));
    let (neg, _) = probe(&xrdp, PROTOCOL_SSL).await;
    assert_eq!(
        neg,
        NegResult::Failure { code: 3 },
        "expected SSL_CERT_NOT_ON_SERVER"
    );
}

#[tokio::test]
async fn xrdp_parallel_instances() {
    if !require_xrdp("xrdp_parallel_instances") {
        return;
    }
    let (cert_pem, key_pem, cert_der) = ecdsa_cert();
    let servers: Vec<Xrdp> = (0..4)
        .map(|_| {
            Xrdp::start(&cert_pem, &key_pem).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"))
        })
        .collect();
    let mut ports: Vec<u16> = servers.iter().map(|s| s.addr.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(
        ports.len(),
        servers.len(),
        "instances must listen on distinct ports"
    );
    for s in &servers {
        let (_, leaf) = probe(s, PROTOCOL_SSL).await;
        assert_eq!(leaf.as_deref(), Some(cert_der.as_slice()));
    }
}

/// IronRDP client configuration for xrdp: TLS only (xrdp has no CredSSP), no
/// credentials (xrdp then shows its own login screen), 1024x768.
fn ironrdp_config(enable_credssp: bool) -> ironrdp_connector::Config {
    use ironrdp_pdu::gcc;
    use ironrdp_pdu::rdp::capability_sets::{MajorPlatformType, RailSupportLevel};
    use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};

    ironrdp_connector::Config {
        desktop_size: ironrdp_connector::DesktopSize {
            width: 1024,
            height: 768,
        },
        monitor_layout: None,
        desktop_scale_factor: 0,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        enable_tls: true,
        enable_credssp,
        enable_standard_rdp_security: false,
        credentials: ironrdp_connector::Credentials::UsernamePassword {
            username: String::new(),
            password: String::new(),
        },
        domain: None,
        client_build: 0,
        client_name: "rdpscope".to_owned(),
        keyboard_type: gcc::KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: 0x0409,
        connection_type: gcc::ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: None,
        dig_product_id: String::new(),
        client_dir: "C:\\Windows\\System32\\mstscax.dll".to_owned(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: RailSupportLevel::empty(),
        platform: MajorPlatformType::UNIX,
        hardware_id: None,
        request_data: None,
        autologon: false,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        enable_server_pointer: false,
        pointer_software_rendering: true,
        multitransport_flags: None,
        support_dyn_vc_gfx_protocol: false,
    }
}

/// Drive IronRDP's ClientConnector step by step to Connected; returns the visited
/// states and the connection result.
async fn ironrdp_connect(
    xrdp: &Xrdp,
    enable_credssp: bool,
) -> (Vec<&'static str>, ironrdp_connector::ConnectionResult) {
    use ironrdp_connector::{ClientConnector, ClientConnectorState, ConnectionOutcome, State as _};

    let stream = TcpStream::connect(xrdp.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let client_addr = stream.local_addr().unwrap();
    let mut framed = ironrdp_tokio::TokioFramed::new(stream);
    let mut connector = ClientConnector::new(ironrdp_config(enable_credssp), client_addr);
    let mut buf = ironrdp_core::WriteBuf::new();
    let mut states = Vec::new();

    while !connector.should_perform_security_upgrade() {
        states.push(connector.state.name());
        ironrdp_tokio::single_sequence_step(&mut framed, &mut connector, &mut buf)
            .await
            .unwrap_or_else(|e| panic!("{states:?}: {e}\n{}", xrdp.log_tail(20)));
    }
    states.push(connector.state.name());

    let (stream, leftover) = framed.into_inner();
    assert!(leftover.is_empty(), "unexpected bytes before TLS");
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tls_connector().connect(name, stream).await.unwrap();
    connector.mark_security_upgrade_as_done();
    assert!(
        !connector.should_perform_credssp(),
        "xrdp never selects HYBRID"
    );
    let mut framed = ironrdp_tokio::TokioFramed::new(tls);

    loop {
        if matches!(connector.state, ClientConnectorState::Connected { .. }) {
            states.push("Connected");
            match connector.state.take_outcome() {
                Some(ConnectionOutcome::Connected(result)) => return (states, result),
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        states.push(connector.state.name());
        ironrdp_tokio::single_sequence_step(&mut framed, &mut connector, &mut buf)
            .await
            .unwrap_or_else(|e| panic!("{states:?}: {e}\n{}", xrdp.log_tail(30)));
    }
}

#[tokio::test]
async fn ironrdp_reaches_connected_against_xrdp_over_tls() {
    if !require_xrdp("ironrdp_reaches_connected_against_xrdp_over_tls") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let xrdp =
        Xrdp::start(&cert_pem, &key_pem).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"));
    for enable_credssp in [false, true] {
        let (states, result) = tokio::time::timeout(
            Duration::from_secs(20),
            ironrdp_connect(&xrdp, enable_credssp),
        )
        .await
        .expect("IronRDP connection sequence timed out");
        eprintln!("credssp offered={enable_credssp}: {states:?}");
        eprintln!(
            "desktop {:?}, share_id {:#x}",
            result.desktop_size, result.share_id
        );
        assert_eq!(states.last(), Some(&"Connected"));
        assert_eq!(
            (result.desktop_size.width, result.desktop_size.height),
            (1024, 768)
        );
    }
    eprintln!("{}", xrdp.log_tail(40));
}
