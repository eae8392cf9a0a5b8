//! Properties of the mock servers themselves: robustness, lifecycle, certificates.
//! (What each scenario does on the wire is checked by `probe_mock.rs`.)

use std::time::Duration;

use rdpscope::mock::{MockServer, MockServerHandle, Scenario};
use rdpscope::report::Outcome;
use rdpscope::{ProbeOptions, Report};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use x509_parser::prelude::{FromDer as _, X509Certificate};

async fn start(scenario: Scenario) -> MockServerHandle {
    MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("mock server starts")
}

async fn probe(server: &MockServerHandle) -> Report {
    let options = ProbeOptions {
        credentials: Some(rdpscope::mock::credentials()),
        stage_timeout: Duration::from_secs(5),
        ..ProbeOptions::default()
    };
    rdpscope::probe(
        &server.addr().to_string().parse().expect("target"),
        &options,
    )
    .await
}

/// An X.224 Connection Request offering TLS, CredSSP and CredSSP with EUA.
fn connection_request() -> Vec<u8> {
    use ironrdp_pdu::nego::{ConnectionRequest, RequestFlags, SecurityProtocol};
    let request = ConnectionRequest {
        nego_data: None,
        flags: RequestFlags::empty(),
        protocol: SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX,
        correlation_info: None,
    };
    ironrdp_core::encode_vec(&ironrdp_pdu::x224::X224(request)).expect("encode")
}

#[tokio::test]
async fn keeps_serving_after_junk_and_mid_handshake_disconnects() {
    let server = start(Scenario::SuccessHybridEx).await;

    // Junk that is not TPKT: the server drops the connection.
    let mut junk = TcpStream::connect(server.addr()).await.expect("connect");
    junk.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), junk.read_to_end(&mut rest))
        .await
        .expect("the server drops junk");

    // A TPKT header announcing more than is ever sent, then a disconnect.
    let mut partial = TcpStream::connect(server.addr()).await.expect("connect");
    partial
        .write_all(&[0x03, 0x00, 0x00, 0x2c, 0x27])
        .await
        .expect("write");
    drop(partial);

    // A disconnect right after the Connection Confirm, and one in the middle of TLS.
    for tail in [&[][..], &[0x16, 0x03, 0x01, 0x00, 0x05, 0x01][..]] {
        let mut mid = TcpStream::connect(server.addr()).await.expect("connect");
        mid.write_all(&connection_request()).await.expect("write");
        let mut confirm = [0u8; 19];
        mid.read_exact(&mut confirm).await.expect("confirm");
        mid.write_all(tail).await.expect("write");
        drop(mid);
    }

    // Still serves a full connection.
    let report = probe(&server).await;
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    server.shutdown().await;
}

#[tokio::test]
async fn concurrent_connections_and_drop_shuts_down() {
    let server = start(Scenario::SuccessTls).await;
    let addr = server.addr();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let target = addr.to_string().parse().expect("target");
        clients.spawn(async move { rdpscope::probe(&target, &ProbeOptions::default()).await });
    }
    while let Some(report) = clients.join_next().await {
        let report = report.expect("join");
        assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    }
    drop(server);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is gone after drop"
    );
}

#[tokio::test]
async fn servers_share_one_certificate_and_bind_real_ports() {
    let a = start(Scenario::SuccessTls).await;
    let b = start(Scenario::BlackHole).await;
    assert_ne!(a.addr().port(), 0);
    assert_ne!(a.addr().port(), b.addr().port());
    assert_eq!(a.certificate_der(), b.certificate_der());
    let (_, cert) = X509Certificate::from_der(a.certificate_der()).expect("certificate");
    assert_eq!(cert.validity().not_after.to_datetime().year(), 9999);
    // The probe sees the certificate the handle reports.
    let report = probe(&a).await;
    let sha1 = report
        .certificate
        .as_ref()
        .map(|c| c.sha1.clone())
        .expect("certificate facts");
    use sha1::Digest as _;
    assert_eq!(
        sha1,
        hex::encode_upper(sha1::Sha1::digest(a.certificate_der()))
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn black_hole_shutdown_does_not_hang() {
    let server = start(Scenario::BlackHole).await;
    let _held = TcpStream::connect(server.addr()).await.expect("connect");
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown returns while a connection is held open");
}

#[tokio::test]
async fn custom_certificate_is_served_and_used_by_credssp() {
    let generated = rcgen::generate_simple_self_signed(vec!["rdp.test".to_owned()]).expect("rcgen");
    let cert_der = generated.cert.der().to_vec();
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybridEx)
        .certificate(cert_der.clone(), generated.signing_key.serialize_der())
        .start()
        .await
        .expect("starts with a custom certificate");
    assert_eq!(server.certificate_der(), cert_der.as_slice());
    let report = probe(&server).await;
    // CredSSP binds to the TLS public key: success proves the server used this key.
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    assert!(report
        .certificate
        .as_ref()
        .is_some_and(|c| c.subject_alt_names == ["DNS:rdp.test"]));
    server.shutdown().await;
}

#[tokio::test]
async fn bad_key_is_an_error_at_start() {
    let result = MockServer::builder()
        .certificate(vec![1, 2, 3], vec![4, 5, 6])
        .start()
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn custom_credentials_are_enforced() {
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybrid)
        .credentials("alice", Some("CORP"), "correct horse")
        .start()
        .await
        .expect("mock");
    let report = probe(&server).await; // the default mock credentials are wrong here
    assert_eq!(
        report.error.as_ref().and_then(|e| e.ntstatus),
        Some(0xC000_006D),
        "{}",
        report.verdict()
    );
    server.shutdown().await;
}

// --- Certificate chains: the server presents exactly the fixture's chain. ---

mod chain_client {
    //! A minimal TLS client for the mock server: X.224 offering PROTOCOL_SSL, then TLS with a
    //! verifier that accepts any certificate, records the chain, and checks the handshake
    //! signature against the leaf's key (RSA with the `rsa` crate, which also takes the
    //! 1024-bit keys *ring* refuses; everything else with *ring*).

    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;
    use x509_parser::prelude::{FromDer as _, X509Certificate};

    /// What the handshake showed.
    pub struct Presented {
        pub chain: Vec<Vec<u8>>,
        pub scheme: Option<SignatureScheme>,
        pub version: Option<rustls::ProtocolVersion>,
    }

    #[derive(Debug)]
    struct Recorder {
        schemes: Vec<SignatureScheme>,
        verified_scheme: Mutex<Option<SignatureScheme>>,
    }

    fn provider() -> rustls::crypto::CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    fn general(message: String) -> rustls::Error {
        rustls::Error::General(message)
    }

    impl Recorder {
        fn verify(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
            tls13: bool,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            use rsa::pkcs1::DecodeRsaPublicKey as _;
            use rsa::sha2::{Sha256, Sha384, Sha512};
            use rsa::signature::Verifier as _;

            let (_, parsed) = X509Certificate::from_der(cert)
                .map_err(|e| general(format!("leaf does not parse: {e}")))?;
            let spki = parsed.public_key();
            let is_rsa = spki.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1";
            let scheme = dss.scheme;
            let valid = if is_rsa {
                let key = rsa::RsaPublicKey::from_pkcs1_der(&spki.subject_public_key.data)
                    .map_err(|e| general(format!("bad RSA key: {e}")))?;
                let sig = dss.signature();
                let ok = match scheme {
                    SignatureScheme::RSA_PSS_SHA256 => pss::<Sha256>(&key, message, sig),
                    SignatureScheme::RSA_PSS_SHA384 => pss::<Sha384>(&key, message, sig),
                    SignatureScheme::RSA_PSS_SHA512 => pss::<Sha512>(&key, message, sig),
                    SignatureScheme::RSA_PKCS1_SHA256 if !tls13 => {
                        rsa::pkcs1v15::Signature::try_from(sig).is_ok_and(|s| {
                            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                                .verify(message, &s)
                                .is_ok()
                        })
                    }
                    _ => false,
                };
                if ok {
                    Ok(HandshakeSignatureValid::assertion())
                } else {
                    Err(general(format!("bad RSA signature ({scheme:?})")))
                }
            } else if tls13 {
                rustls::crypto::verify_tls13_signature(
                    message,
                    cert,
                    dss,
                    &provider().signature_verification_algorithms,
                )
            } else {
                rustls::crypto::verify_tls12_signature(
                    message,
                    cert,
                    dss,
                    &provider().signature_verification_algorithms,
                )
            };
            if valid.is_ok() {
                *self
                    .verified_scheme
                    .lock()
                    .map_err(|_| general("poisoned".to_owned()))? = Some(scheme);
            }
            valid
        }
    }

    fn pss<D>(key: &rsa::RsaPublicKey, message: &[u8], sig: &[u8]) -> bool
    where
        D: rsa::sha2::Digest + rsa::sha2::digest::FixedOutputReset,
    {
        use rsa::signature::Verifier as _;
        rsa::pss::Signature::try_from(sig).is_ok_and(|s| {
            rsa::pss::VerifyingKey::<D>::new(key.clone())
                .verify(message, &s)
                .is_ok()
        })
    }

    impl ServerCertVerifier for Recorder {
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
            self.verify(message, cert, dss, false)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.verify(message, cert, dss, true)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.schemes.clone()
        }
    }

    /// An X.224 Connection Request offering PROTOCOL_SSL only.
    fn tls_connection_request() -> Vec<u8> {
        use ironrdp_pdu::nego::{ConnectionRequest, RequestFlags, SecurityProtocol};
        let request = ConnectionRequest {
            nego_data: None,
            flags: RequestFlags::empty(),
            protocol: SecurityProtocol::SSL,
            correlation_info: None,
        };
        ironrdp_core::encode_vec(&ironrdp_pdu::x224::X224(request)).expect("encode")
    }

    /// Connects, upgrades to TLS with `versions`, offering `schemes` (all of *ring*'s when
    /// `None`), and returns what the server presented.
    pub async fn handshake(
        addr: SocketAddr,
        versions: &[&'static SupportedProtocolVersion],
        schemes: Option<&[SignatureScheme]>,
    ) -> Result<Presented, std::io::Error> {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        tcp.write_all(&tls_connection_request()).await?;
        let mut confirm = [0u8; 19];
        tcp.read_exact(&mut confirm).await?;

        let schemes = schemes.map_or_else(
            || {
                provider()
                    .signature_verification_algorithms
                    .supported_schemes()
            },
            <[SignatureScheme]>::to_vec,
        );
        let recorder = Arc::new(Recorder {
            schemes,
            verified_scheme: Mutex::new(None),
        });
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(versions)
            .map_err(std::io::Error::other)?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let tls = connector.connect(name, tcp).await?;
        let (_, connection) = tls.get_ref();
        let chain = connection
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.to_vec())
            .collect();
        let version = connection.protocol_version();
        let scheme = *recorder.verified_scheme.lock().expect("lock");
        Ok(Presented {
            chain,
            scheme,
            version,
        })
    }
}

fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

async fn start_with_fixture(scenario: Scenario, name: &str) -> (MockServerHandle, Vec<Vec<u8>>) {
    let (chain, key) =
        rdpscope::fixtures::read_chain(&fixtures_dir(), name).expect("fixture reads");
    let server = MockServer::builder()
        .scenario(scenario)
        .certificate_chain(chain.clone(), key)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{name}: the server starts: {e}"));
    (server, chain)
}

#[tokio::test]
async fn every_fixture_chain_is_presented_exactly() {
    for fixture in rdpscope::fixtures::FIXTURES {
        let (server, chain) = start_with_fixture(Scenario::SuccessTls, fixture.name).await;
        assert_eq!(server.certificate_chain_der(), chain.as_slice());
        assert_eq!(server.certificate_der(), chain[0].as_slice());
        let presented = chain_client::handshake(server.addr(), rustls::ALL_VERSIONS, None)
            .await
            .unwrap_or_else(|e| panic!("{}: handshake: {e}", fixture.name));
        assert_eq!(presented.chain, chain, "{}: presented chain", fixture.name);
        assert!(presented.scheme.is_some(), "{}", fixture.name);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn weak_rsa_key_signs_tls13_with_pss_and_tls12_with_pkcs1() {
    use rustls::{ProtocolVersion, SignatureScheme};
    let (server, chain) = start_with_fixture(Scenario::SuccessTls, "weak-rsa-1024").await;

    let tls13 = chain_client::handshake(server.addr(), &[&rustls::version::TLS13], None)
        .await
        .expect("TLS 1.3 handshake");
    assert_eq!(tls13.version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(tls13.scheme, Some(SignatureScheme::RSA_PSS_SHA256));
    assert_eq!(tls13.chain, chain);

    let tls12 = chain_client::handshake(
        server.addr(),
        &[&rustls::version::TLS12],
        Some(&[SignatureScheme::RSA_PKCS1_SHA256]),
    )
    .await
    .expect("TLS 1.2 handshake with PKCS#1 v1.5");
    assert_eq!(tls12.version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(tls12.scheme, Some(SignatureScheme::RSA_PKCS1_SHA256));

    let tls12_pss = chain_client::handshake(
        server.addr(),
        &[&rustls::version::TLS12],
        Some(&[SignatureScheme::RSA_PSS_SHA384]),
    )
    .await
    .expect("TLS 1.2 handshake with PSS");
    assert_eq!(tls12_pss.scheme, Some(SignatureScheme::RSA_PSS_SHA384));

    // A 1024-bit key is too short for PSS with SHA-512: the server picks another scheme.
    let too_short = chain_client::handshake(
        server.addr(),
        &[&rustls::version::TLS12],
        Some(&[
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]),
    )
    .await
    .expect("TLS 1.2 handshake without PSS-SHA512");
    assert_eq!(too_short.scheme, Some(SignatureScheme::RSA_PKCS1_SHA256));
    server.shutdown().await;
}

#[tokio::test]
async fn credssp_binds_to_the_leaf_of_a_chain() {
    // (weak-rsa-1024 would need a probe that accepts RSA-1024 handshake signatures.)
    for name in [
        "intermediate-chain",
        "chain-wrong-order",
        "windows-self-signed",
    ] {
        let (server, chain) = start_with_fixture(Scenario::SuccessHybridEx, name).await;
        let report = probe(&server).await;
        // CredSSP binds to the TLS public key: success proves the server used the leaf's key.
        assert_eq!(
            report.outcome,
            Outcome::Connected,
            "{name}: {}",
            report.verdict()
        );
        assert_eq!(
            report.tls.as_ref().map(|t| t.chain_length),
            Some(chain.len()),
            "{name}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn empty_chain_and_mismatched_key_are_errors_at_start() {
    let (chain, _) = rdpscope::fixtures::read_chain(&fixtures_dir(), "ca-signed").expect("fixture");
    let (_, other_key) =
        rdpscope::fixtures::read_chain(&fixtures_dir(), "valid-self-signed").expect("fixture");
    let empty = MockServer::builder()
        .certificate_chain(Vec::new(), other_key.clone())
        .start()
        .await;
    assert!(empty.is_err());
    let mismatched = MockServer::builder()
        .certificate_chain(chain, other_key)
        .start()
        .await;
    assert!(mismatched.is_err());
}
