//! Properties of the mock servers themselves: robustness, lifecycle, certificates.
//! (What each scenario does on the wire is checked by `probe_mock.rs`.)

use std::time::Duration;

mod support;

use support::rdp::connection_request;

use rdpscope::diagnosis::Code;
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
    rdpscope::probe(&server.addr().into(), &options).await
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
        let target = addr.into();
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
        report.error.as_ref().and_then(|e| e.code),
        Some(Code::Ntstatus(0xC000_006D)),
        "{}",
        report.verdict()
    );
    server.shutdown().await;
}

// --- Certificate chains: the server presents exactly the fixture's chain. ---

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
    use sha1::Digest as _;
    for fixture in rdpscope::fixtures::FIXTURES {
        let (server, chain) = start_with_fixture(Scenario::SuccessTls, fixture.name).await;
        assert_eq!(server.certificate_chain_der(), chain.as_slice());
        assert_eq!(server.certificate_der(), chain[0].as_slice());
        let options = ProbeOptions {
            cert_policy: rdpscope::cert::CertPolicy::Warn,
            ..ProbeOptions::default()
        };
        let report = rdpscope::probe(&server.addr().into(), &options).await;
        // The handshake completes (weak-rsa-1024 included: its signature is verified with
        // the `rsa` crate, since *ring* refuses 1024-bit keys).
        assert_eq!(
            report.outcome,
            Outcome::Connected,
            "{}: {}",
            fixture.name,
            report.verdict()
        );
        let presented: Vec<String> = report
            .certificate
            .as_ref()
            .expect("certificate facts")
            .chain
            .iter()
            .map(|c| c.sha1.clone())
            .collect();
        let served: Vec<String> = chain
            .iter()
            .map(|der| hex::encode_upper(sha1::Sha1::digest(der)))
            .collect();
        assert_eq!(presented, served, "{}: presented chain", fixture.name);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn credssp_binds_to_the_leaf_of_a_chain() {
    for name in [
        "intermediate-chain",
        "chain-wrong-order",
        "windows-self-signed",
        "weak-rsa-1024",
    ] {
        let (server, chain) = start_with_fixture(Scenario::SuccessHybridEx, name).await;
        let options = ProbeOptions {
            cert_policy: rdpscope::cert::CertPolicy::Warn,
            credentials: Some(rdpscope::mock::credentials()),
            ..ProbeOptions::default()
        };
        let report = rdpscope::probe(&server.addr().into(), &options).await;
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

#[tokio::test]
async fn certificate_changes_on_every_connection_and_a_pin_catches_it() {
    let server = start(Scenario::CertificateChangesEveryConnection).await;
    let target = server.addr().into();
    let first = rdpscope::probe(&target, &ProbeOptions::default()).await;
    let first_sha256 = first
        .certificate
        .as_ref()
        .expect("certificate")
        .sha256
        .clone();
    let second = rdpscope::probe(&target, &ProbeOptions::default()).await;
    assert_ne!(
        second.certificate.as_ref().expect("certificate").sha256,
        first_sha256
    );
    let pinned = ProbeOptions {
        pin: Some(format!("sha256:{first_sha256}").parse().expect("pin")),
        ..ProbeOptions::default()
    };
    let third = rdpscope::probe(&target, &pinned).await;
    assert_eq!(
        third.failed_stage,
        Some(rdpscope::Stage::Certificate),
        "{}",
        third.verdict()
    );
    assert!(
        third.verdict().contains("certificate changed"),
        "{}",
        third.verdict()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_delay_slows_every_answer_without_breaking_the_sequence() {
    let server = MockServer::builder()
        .scenario(Scenario::SuccessTls)
        .delay(Duration::from_millis(150))
        .start()
        .await
        .expect("mock");
    let report = probe(&server).await;
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    let x224 = report
        .stages
        .iter()
        .find(|s| s.stage == rdpscope::Stage::X224)
        .expect("row");
    // Functional check of the configured delay (a lower bound), not a speed measurement.
    assert!(
        x224.elapsed_ms.is_some_and(|ms| ms >= 150.0),
        "{:?}",
        x224.elapsed_ms
    );
    server.shutdown().await;
}

/// A CredSSP client that wraps NTLM in SPNEGO (the Negotiate package, as aardwolf and some
/// Windows clients do) gets what one sending bare NTLM gets, as from a Windows server:
/// authenticated on success, STATUS_LOGON_FAILURE for a wrong password, access denied in
/// the Early User Authorization Result.
#[tokio::test]
async fn ntlm_in_spnego_is_accepted_like_bare_ntlm() {
    use rdpscope::mock::{MOCK_PASSWORD, MOCK_USER, STATUS_LOGON_FAILURE};
    use support::credssp::{exchange, Outcome, Package};

    for package in [Package::Ntlm, Package::Negotiate] {
        for (scenario, expected) in [
            (Scenario::SuccessHybrid, Outcome::Authenticated),
            (Scenario::SuccessHybridEx, Outcome::Authenticated),
            (
                Scenario::WrongPassword,
                Outcome::ErrorCode(STATUS_LOGON_FAILURE),
            ),
            (
                Scenario::EarlyUserAuthorizationDenied,
                Outcome::AccessDenied,
            ),
        ] {
            let server = start(scenario).await;
            let outcome = exchange(server.addr(), package, 6, MOCK_USER, MOCK_PASSWORD).await;
            assert_eq!(outcome, expected, "{scenario} with {package:?}");
            server.shutdown().await;
        }
    }
}

/// errorCode came with CredSSP version 3 (MS-CSSP 2.2.1): a failed logon is answered with
/// it from version 3 on and with a close below, as Windows does, on both paths of the
/// mock: the IronRDP-acceptor path (wrong_password: after the AUTHENTICATE, the client's
/// second message) and the byte scripts (an NTSTATUS answering the first message).
#[tokio::test]
async fn error_code_only_for_credssp_version_3_and_later() {
    use rdpscope::mock::{MOCK_PASSWORD, MOCK_USER, STATUS_LOGON_FAILURE};
    use support::credssp::{exchange, Outcome, Package};

    const STATUS_ACCOUNT_LOCKED_OUT: u32 = 0xC000_0234;
    for (scenario, status, messages) in [
        (Scenario::WrongPassword, STATUS_LOGON_FAILURE, 2),
        (
            Scenario::CredsspError(STATUS_ACCOUNT_LOCKED_OUT),
            STATUS_ACCOUNT_LOCKED_OUT,
            1,
        ),
    ] {
        let server = start(scenario).await;
        for version in 2..=6 {
            let expected = if version >= 3 {
                Outcome::ErrorCode(status)
            } else {
                Outcome::Closed { after: messages }
            };
            let outcome = exchange(
                server.addr(),
                Package::Ntlm,
                version,
                MOCK_USER,
                MOCK_PASSWORD,
            )
            .await;
            assert_eq!(outcome, expected, "{scenario}, CredSSP version {version}");
        }
        server.shutdown().await;
    }
}
