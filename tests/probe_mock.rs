//! The probe against the loopback mock RDP servers: every scenario's expectation must hold.

use std::time::Duration;

use rdpscope::diagnosis::Code;
use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD};
use rdpscope::report::{Outcome, StageStatus};
use rdpscope::target::Target;
use rdpscope::{Credentials, FailureKind, ProbeOptions, Report, Secret, Stage};

fn options(password: &str) -> ProbeOptions {
    ProbeOptions {
        credentials: Some(Credentials {
            password: Secret::new(password.to_owned()),
            ..rdpscope::mock::credentials()
        }),
        stage_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        ..ProbeOptions::default()
    }
}

async fn probe_scenario(scenario: Scenario, options: &ProbeOptions) -> Report {
    let server = MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("mock server starts");
    let target: Target = server.addr().to_string().parse().expect("valid target");
    let report = rdpscope::probe(&target, options).await;
    server.shutdown().await;
    report
}

fn assert_stage_statuses(report: &Report) {
    // Stages before the failure are ok or skipped, the failed one is failed, the rest not reached.
    let stop = report.failed_stage.unwrap_or(Stage::Connected);
    for result in &report.stages {
        if result.stage < stop {
            assert!(
                matches!(result.status, StageStatus::Ok | StageStatus::Skipped),
                "{}: {:?} before the stop at {stop}",
                result.stage,
                result.status
            );
            if result.status == StageStatus::Ok {
                assert!(
                    result.elapsed_ms.is_some(),
                    "{} has no timing",
                    result.stage
                );
            }
        } else if result.stage == stop && report.outcome == Outcome::Failed {
            assert_eq!(result.status, StageStatus::Failed, "{}", result.stage);
        } else if result.stage > stop {
            assert_eq!(result.status, StageStatus::NotReached, "{}", result.stage);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_meets_its_expectation() {
    // The options the expectations are written for (see `Scenario::expected`).
    let options = rdpscope::demo::demo_options();
    for &scenario in Scenario::ALL {
        let expected = scenario.expected();
        let report = probe_scenario(scenario, &options).await;
        let context = format!("scenario {}: {}", scenario.name(), report.verdict());
        assert_stage_statuses(&report);
        assert_eq!(expected.check(&report), Ok(()), "{context}");
        if expected.kind.is_some() {
            let diagnosis = report.diagnosis.as_ref().expect(&context);
            assert!(!diagnosis.causes.is_empty(), "{context}: no cause");
        }
        match expected.kind {
            None => {
                assert_eq!(report.outcome, Outcome::Connected, "{context}");
                assert_eq!(report.exit_code(), 0, "{context}");
            }
            Some(kind) => {
                let error = report.error.as_ref().expect(&context);
                assert_eq!(report.outcome, Outcome::Failed, "{context}");
                assert_eq!(error.stage, expected.stage, "{context}");
                assert_eq!(error.kind, kind, "{context}");
                assert_eq!(error.code, expected.code, "{context}");
                assert_eq!(report.exit_code(), expected.stage.exit_code(), "{context}");
            }
        }
    }
}

#[tokio::test]
async fn tls_success_reports_negotiation_tls_and_certificate_facts() {
    let report = probe_scenario(Scenario::SuccessTls, &options(MOCK_PASSWORD)).await;
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    let negotiation = report.negotiation.as_ref().expect("negotiation facts");
    assert_eq!(negotiation.requested, ["tls", "hybrid", "hybrid_ex"]);
    assert_eq!(negotiation.selected.as_deref(), Some("tls"));
    let tls = report.tls.as_ref().expect("tls facts");
    assert!(tls.version.starts_with("TLSv1_"), "{}", tls.version);
    let cert = report.certificate.as_ref().expect("certificate facts");
    assert_eq!(cert.sha1.len(), 40);
    assert_eq!(cert.sha256.len(), 64);
    assert!(
        cert.findings.iter().any(|f| f.code == "self_signed"),
        "{:?}",
        cert.findings
    );
    let credssp = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::Credssp)
        .expect("credssp row");
    assert_eq!(credssp.status, StageStatus::Skipped);
    // Both IronRDP sides support SKIP_CHANNELJOIN, and the report says so.
    let channels = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::ChannelConnection)
        .and_then(|s| s.detail.as_deref())
        .expect("channel_connection detail");
    assert!(
        channels.ends_with("channel joins skipped (SKIP_CHANNELJOIN)"),
        "{channels}"
    );
}

#[tokio::test]
async fn hybrid_ex_connects_with_good_credentials() {
    let report = probe_scenario(Scenario::SuccessHybridEx, &options(MOCK_PASSWORD)).await;
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    assert_eq!(
        report
            .negotiation
            .as_ref()
            .and_then(|n| n.selected.as_deref()),
        Some("hybrid_ex")
    );
    let credssp = report.credssp.as_ref().expect("credssp facts");
    assert_eq!(credssp.result, "success");
    assert!(credssp.early_user_authorization);
}

#[tokio::test]
async fn wrong_password_is_a_logon_failure_at_credssp() {
    for scenario in [Scenario::SuccessHybrid, Scenario::SuccessHybridEx] {
        let report = probe_scenario(scenario, &options("not-the-password")).await;
        let error = report.error.as_ref().expect("the probe fails");
        assert_eq!(error.stage, Stage::Credssp, "{}", report.verdict());
        assert_eq!(
            error.kind,
            FailureKind::LogonFailure,
            "{}",
            report.verdict()
        );
        assert_eq!(error.code, Some(Code::Ntstatus(0xC000_006D)));
        assert_eq!(
            error.code.and_then(Code::name).as_deref(),
            Some("STATUS_LOGON_FAILURE")
        );
        assert_eq!(report.exit_code(), 15);
        assert!(
            report.verdict().contains("0xC000006D STATUS_LOGON_FAILURE"),
            "{}",
            report.verdict()
        );
    }
}

#[tokio::test]
async fn nla_without_credentials_is_credentials_required() {
    let options = ProbeOptions {
        credentials: None,
        ..options(MOCK_PASSWORD)
    };
    let report = probe_scenario(Scenario::SuccessHybridEx, &options).await;
    let error = report.error.as_ref().expect("the probe fails");
    assert_eq!(
        (error.stage, error.kind),
        (Stage::Credssp, FailureKind::CredentialsRequired)
    );
}

#[tokio::test]
async fn hybrid_required_names_the_code() {
    let report = probe_scenario(Scenario::NegotiationFailure(5), &options(MOCK_PASSWORD)).await;
    assert_eq!(
        report.verdict(),
        "failed at x224: the server requires CredSSP, i.e. Network Level Authentication (RDP_NEG_FAILURE 5 HYBRID_REQUIRED_BY_SERVER)"
    );
    assert_eq!(report.exit_code(), 12);
}

#[tokio::test]
async fn closed_port_is_refused_at_tcp() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let report = rdpscope::probe(&addr.into(), &options(MOCK_PASSWORD)).await;
    let error = report.error.as_ref().expect("the probe fails");
    assert_eq!(
        (error.stage, error.kind),
        (Stage::Tcp, FailureKind::Refused)
    );
    assert_eq!(report.exit_code(), 11);
    assert!(report.address.is_none());
}

#[tokio::test]
async fn black_hole_times_out_at_x224_within_the_timeout() {
    let options = ProbeOptions {
        stage_timeout: Duration::from_millis(300),
        ..options(MOCK_PASSWORD)
    };
    let report = probe_scenario(Scenario::BlackHole, &options).await;
    let error = report.error.as_ref().expect("the probe fails");
    assert_eq!(
        (error.stage, error.kind),
        (Stage::X224, FailureKind::Timeout)
    );
    let x224 = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::X224)
        .expect("x224 row");
    let elapsed = x224.elapsed_ms.expect("timed");
    // Bounded by the stage timeout (generous upper margin for a loaded CI machine).
    assert!(
        (300.0..5_000.0).contains(&elapsed),
        "x224 took {elapsed} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_silent_at_any_stage_times_out_there_within_the_stage_timeout() {
    let options = ProbeOptions {
        stage_timeout: Duration::from_millis(400),
        ..options(MOCK_PASSWORD)
    };
    let silent: Vec<Scenario> = Scenario::ALL
        .iter()
        .copied()
        .filter(|s| {
            matches!(
                s,
                Scenario::BlackHole
                    | Scenario::SilentDuring(_)
                    | Scenario::SilentAfterCredsspMessage(_)
            )
        })
        .collect();
    let mut stages = Vec::new();
    for scenario in silent {
        let report = probe_scenario(scenario, &options).await;
        let context = format!("{scenario}: {}", report.verdict());
        let error = report.error.as_ref().expect(&context);
        assert_eq!(error.kind, FailureKind::Timeout, "{context}");
        assert_eq!(error.stage, scenario.expected().stage, "{context}");
        let row = report
            .stages
            .iter()
            .find(|s| s.stage == error.stage)
            .expect("stage row");
        let elapsed = row.elapsed_ms.expect("timed");
        // The wait is bounded by the stage timeout (generous margin for a loaded machine).
        assert!(
            (400.0..3_000.0).contains(&elapsed),
            "{context}: {elapsed} ms"
        );
        stages.push(error.stage);
    }
    stages.dedup();
    // Every stage a server can go silent in (licensing: see the README).
    assert_eq!(
        stages,
        [
            Stage::X224,
            Stage::Tls,
            Stage::Credssp,
            Stage::BasicSettings,
            Stage::ChannelConnection,
            Stage::SecureSettings,
            Stage::Capabilities,
            Stage::Finalization
        ]
    );
}

#[tokio::test]
async fn until_stops_successfully_at_the_stage() {
    let options = ProbeOptions {
        until: Some(Stage::Credssp),
        ..options(MOCK_PASSWORD)
    };
    let report = probe_scenario(Scenario::SuccessHybridEx, &options).await;
    assert_eq!(report.outcome, Outcome::Reached, "{}", report.verdict());
    assert_eq!(report.exit_code(), 0);
    assert!(report.credssp.is_none(), "credssp must not have run");
    let certificate = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::Certificate)
        .expect("row");
    assert_eq!(certificate.status, StageStatus::Ok);
}

#[tokio::test]
async fn offering_only_tls_to_an_nla_server_is_a_negotiation_failure() {
    let options = ProbeOptions {
        security: "tls".parse().expect("valid list"),
        ..options(MOCK_PASSWORD)
    };
    let report = probe_scenario(Scenario::SuccessHybridEx, &options).await;
    let error = report.error.as_ref().expect("the probe fails");
    assert_eq!(
        (error.stage, error.kind),
        (Stage::X224, FailureKind::NegotiationFailure),
        "{}",
        report.verdict()
    );
    assert_eq!(error.code, Some(Code::NegFailure(5)));
}

#[tokio::test]
async fn strict_policy_fails_the_self_signed_certificate_and_sends_no_credentials() {
    let options = ProbeOptions {
        cert_policy: rdpscope::cert::CertPolicy::Strict,
        ..options(MOCK_PASSWORD)
    };
    let report = probe_scenario(Scenario::SuccessHybridEx, &options).await;
    let error = report.error.as_ref().expect("the probe fails");
    assert_eq!(
        (error.stage, error.kind),
        (Stage::Certificate, FailureKind::Certificate)
    );
    assert_eq!(report.exit_code(), 14);
    assert!(
        report.credssp.is_none(),
        "no CredSSP after a failed certificate stage"
    );
}

#[tokio::test]
async fn certificate_name_mismatch_is_reported_and_fails_strict() {
    for (policy, fails) in [
        (rdpscope::cert::CertPolicy::Default, false),
        (rdpscope::cert::CertPolicy::Strict, true),
    ] {
        let options = ProbeOptions {
            server_name: Some("rdp.other.example".to_owned()),
            cert_policy: policy,
            ..options(MOCK_PASSWORD)
        };
        let report = probe_scenario(Scenario::SuccessHybridEx, &options).await;
        let cert = report.certificate.as_ref().expect("certificate facts");
        let mismatch = cert
            .findings
            .iter()
            .find(|f| f.code == "name_mismatch")
            .expect("name_mismatch finding");
        assert!(
            mismatch.message.contains("rdp.other.example"),
            "{}",
            mismatch.message
        );
        assert_eq!(
            report.failed_stage == Some(Stage::Certificate),
            fails,
            "{policy:?}: {}",
            report.verdict()
        );
        assert_eq!(
            report.credssp.is_some(),
            !fails,
            "credentials only after a passed certificate stage"
        );
    }
}

#[tokio::test]
async fn the_classic_refusal_reports_what_mstsc_shows_and_why() {
    let report = probe_scenario(Scenario::ServerErrorInfo(7), &options(MOCK_PASSWORD)).await;
    let diagnosis = report.diagnosis.as_ref().expect("diagnosis");
    assert_eq!(
        diagnosis.mstsc[0].display,
        "error code 0x904, extended error code 0x7"
    );
    assert_eq!(diagnosis.causes[0].id, "server_refuses_session");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(
        json["diagnosis"]["mstsc"][0]["extended_name"],
        "exDiscReasonServerDeniedConnection"
    );
    assert!(json["diagnosis"]["causes"][0]["fixes"]
        .as_array()
        .is_some_and(|f| !f.is_empty()));
}

/// A server whose handshake signature is made with a key that does not belong to the
/// certificate it presents: the tls stage fails, and the presented certificate is still
/// analysed (the shared TLS configuration records it for this probe only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_still_reports_the_presented_certificate() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[derive(Debug)]
    struct Mismatched(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Mismatched {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    let presented = rcgen::generate_simple_self_signed(vec!["presented.example".to_owned()])
        .expect("certificate");
    let other_key = rcgen::KeyPair::generate().expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(rustls::pki_types::PrivateKeyDer::Pkcs8(
            other_key.serialize_der().into(),
        ))
        .expect("signing key");
    let certified =
        rustls::sign::CertifiedKey::new(vec![presented.cert.der().clone()], signing_key);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Mismatched(Arc::new(certified))));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        let mut request = [0u8; 256];
        let _ = tcp.read(&mut request).await.expect("X.224 request");
        // X.224 Connection Confirm with RDP_NEG_RSP selecting TLS (PROTOCOL_SSL).
        let confirm = [
            0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x08,
            0x00, 0x01, 0x00, 0x00, 0x00,
        ];
        tcp.write_all(&confirm).await.expect("X.224 confirm");
        let _ = acceptor.accept(tcp).await;
    });

    let report = rdpscope::probe(&Target::from(addr), &options(MOCK_PASSWORD)).await;
    let _ = server.await;
    assert_eq!(
        report.failed_stage,
        Some(Stage::Tls),
        "{}",
        report.verdict()
    );
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.kind, FailureKind::TlsError, "{}", error.message);
    assert!(
        error.message.contains("does not verify"),
        "{}",
        error.message
    );
    let certificate = report.certificate.as_ref().expect("certificate analysed");
    assert_eq!(certificate.subject, "CN=rcgen self signed cert");
    assert!(
        certificate
            .subject_alt_names
            .iter()
            .any(|name| name.contains("presented.example")),
        "{:?}",
        certificate.subject_alt_names
    );
    assert!(
        report.credssp.is_none(),
        "no credentials after a failed handshake"
    );
}

/// Probes of different servers running at once share one TLS configuration and the analysis
/// cache: each report still carries its own server's certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_probes_report_their_own_servers_certificate() {
    let mut servers = Vec::new();
    for name in ["localhost", "other.example"] {
        let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("certificate");
        let server = MockServer::builder()
            .scenario(Scenario::SuccessTls)
            .certificate(ck.cert.der().to_vec(), ck.signing_key.serialize_der())
            .start()
            .await
            .expect("mock server starts");
        servers.push(server);
    }
    let options = ProbeOptions {
        cert_policy: rdpscope::cert::CertPolicy::Warn,
        ..options(MOCK_PASSWORD)
    };
    let mut probes = tokio::task::JoinSet::new();
    for round in 0..40 {
        let server = &servers[round % 2];
        let (target, expected) = (
            Target::from(server.addr()),
            server.certificate_der().to_vec(),
        );
        let options = options.clone();
        probes.spawn(async move { (rdpscope::probe(&target, &options).await, expected) });
    }
    while let Some(joined) = probes.join_next().await {
        let (report, expected) = joined.expect("probe task");
        assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
        let sha256 = report
            .certificate
            .as_ref()
            .expect("certificate")
            .sha256
            .clone();
        assert_eq!(
            sha256,
            hex::encode_upper(<sha2::Sha256 as sha2::Digest>::digest(&expected))
        );
    }
    for server in servers {
        server.shutdown().await;
    }
}
