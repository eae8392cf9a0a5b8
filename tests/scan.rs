//! `rdpscope scan` against the mock servers: exact verdicts, per protocol and per TLS
//! version, the NTLM target info of an anonymous NEGOTIATE, and the risks.

use std::time::Duration;

use rdpscope::mock::{MockServer, Scenario};
use rdpscope::scan::{RiskCode, ScanOptions, ScanReport, Verdict};
use rdpscope::target::Target;

/// A mock server of `scenario` and its address as a target.
async fn start(scenario: Scenario) -> (rdpscope::mock::MockServerHandle, Target) {
    let server = MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("mock server starts");
    let target = Target::from(server.addr());
    (server, target)
}

async fn scan(scenario: Scenario) -> ScanReport {
    let (server, target) = start(scenario).await;
    let mut options = ScanOptions::default();
    options.timeout = Duration::from_secs(2);
    let report = rdpscope::scan::scan(&target, &options).await;
    server.shutdown().await;
    report
}

fn verdicts(report: &ScanReport) -> Vec<(&'static str, Verdict)> {
    report
        .protocols
        .iter()
        .map(|p| (p.protocol, p.verdict))
        .collect()
}

fn accepted_versions(report: &ScanReport) -> Vec<&str> {
    report
        .tls
        .as_ref()
        .map(|tls| {
            tls.versions
                .iter()
                .filter(|v| v.accepted)
                .map(|v| v.version.as_str())
                .collect()
        })
        .unwrap_or_default()
}

fn risks(report: &ScanReport) -> Vec<RiskCode> {
    report.risks.iter().map(|r| r.code).collect()
}

#[tokio::test]
async fn a_tls_only_server_accepts_tls_alone_and_does_not_require_nla() {
    let report = scan(Scenario::SuccessTls).await;
    use Verdict::{Accepted, Refused};
    assert_eq!(
        verdicts(&report),
        [
            ("rdp", Refused),
            ("tls", Accepted),
            ("hybrid", Refused),
            ("hybrid_ex", Refused),
            ("rdstls", Refused),
            ("rdsaad", Refused)
        ]
    );
    // Refused with the server's code: SSL_REQUIRED_BY_SERVER.
    assert!(report
        .protocols
        .iter()
        .filter(|p| p.verdict == Refused)
        .all(|p| p.neg_failure_code == Some(1)));
    assert_eq!(report.nla_required, Some(false));
    assert_eq!(accepted_versions(&report), ["TLS 1.2", "TLS 1.3"]);
    let tls13 = &report.tls.as_ref().expect("tls").versions[3];
    assert_eq!(tls13.cipher_suites.len(), 3, "{tls13:?}");
    assert!(report.certificate.is_some());
    assert!(report.ntlm.is_none());
    assert!(risks(&report).contains(&RiskCode::NlaNotRequired));
    assert!(!risks(&report).contains(&RiskCode::Tls10Accepted));
}

#[tokio::test]
async fn an_nla_server_requires_nla_and_gives_ntlm_info_without_credentials() {
    let report = scan(Scenario::SuccessHybridEx).await;
    let accepted: Vec<&str> = report
        .protocols
        .iter()
        .filter(|p| p.verdict == Verdict::Accepted)
        .map(|p| p.protocol)
        .collect();
    assert_eq!(accepted, ["hybrid", "hybrid_ex"]);
    assert_eq!(report.nla_required, Some(true));
    let ntlm = report.ntlm.as_ref().expect("ntlm info");
    assert!(ntlm.product_version.is_some(), "{ntlm:?}");
    assert!(ntlm.clock_skew_seconds.is_some(), "{ntlm:?}");
    assert_eq!(report.credssp_version, Some(6));
    assert!(!risks(&report).contains(&RiskCode::NlaNotRequired));
    assert!(!risks(&report).contains(&RiskCode::CredsspOracleUnpatched));
    assert_eq!(report.tls.as_ref().map(|t| t.carrier), Some("hybrid_ex"));
}

#[tokio::test]
async fn a_server_with_only_weak_suites_lists_them_in_its_order() {
    let report = scan(Scenario::WeakCipherSuitesOnly).await;
    assert_eq!(accepted_versions(&report), ["TLS 1.2"]);
    let tls = report.tls.as_ref().expect("tls");
    let suites: Vec<(u16, bool)> = tls.versions[2]
        .cipher_suites
        .iter()
        .map(|s| (s.id, s.weak.is_some()))
        .collect();
    assert_eq!(suites, [(0x0005, true), (0x000A, true), (0x002F, true)]);
    // A TLS 1.2 server answers a TLS 1.0 hello with protocol_version, a TLS 1.3 one (its
    // suites only) with handshake_failure: neither is support.
    assert_eq!(
        tls.versions[0].detail.as_deref(),
        Some("TLS alert ProtocolVersion")
    );
    assert_eq!(
        tls.versions[3].detail.as_deref(),
        Some("TLS alert HandshakeFailure")
    );
    assert!(risks(&report).contains(&RiskCode::WeakCipherSuites));
}

#[tokio::test]
async fn a_refusing_server_accepts_nothing_and_says_why() {
    let report = scan(Scenario::NegotiationFailure(5)).await;
    assert!(report
        .protocols
        .iter()
        .all(|p| p.verdict == Verdict::Refused
            && p.neg_failure_code == Some(5)
            && p.neg_failure_name == Some("HYBRID_REQUIRED_BY_SERVER")));
    assert_eq!(report.nla_required, None);
    assert!(report.tls.is_none());
}

#[tokio::test]
async fn tls_1_0_and_1_1_only_servers_are_told_apart() {
    let report = scan(Scenario::TlsVersionTooOld).await;
    assert_eq!(accepted_versions(&report), ["TLS 1.0"]);
    assert!(risks(&report).contains(&RiskCode::Tls10Accepted));
    assert!(risks(&report).contains(&RiskCode::WeakCipherSuites));
    // Offering TLS 1.0 to it as a "TLS 1.2" client: downgraded, not accepted.
    let tls12 = &report.tls.as_ref().expect("tls").versions[2];
    assert_eq!(
        tls12.detail.as_deref(),
        Some("the server answered with TLS 1.0")
    );

    let report = scan(Scenario::Tls11Only).await;
    assert_eq!(accepted_versions(&report), ["TLS 1.1"]);
    assert!(risks(&report).contains(&RiskCode::Tls11Accepted));
    assert!(!risks(&report).contains(&RiskCode::Tls10Accepted));
}

#[tokio::test]
async fn closes_and_silence_are_verdicts_not_support() {
    let report = scan(Scenario::CloseOnAccept).await;
    assert!(
        report
            .protocols
            .iter()
            .all(|p| p.verdict == Verdict::Closed),
        "{:?}",
        verdicts(&report)
    );
    assert_eq!(report.nla_required, None);

    let report = scan(Scenario::NothingListening).await;
    assert!(report
        .protocols
        .iter()
        .all(|p| p.verdict == Verdict::Error && p.detail.is_some()));
}

#[tokio::test]
async fn the_json_contract_holds() {
    let report = scan(Scenario::SuccessHybridEx).await;
    let json = serde_json::to_value(&report).expect("json");
    for field in [
        "target",
        "protocols",
        "nla_required",
        "tls",
        "certificate",
        "ntlm",
        "credssp_version",
        "standard_rdp_security",
        "risks",
        "elapsed_ms",
    ] {
        assert!(json.get(field).is_some(), "{field} missing");
    }
    let protocol = &json["protocols"][3];
    assert_eq!(protocol["protocol"], "hybrid_ex");
    assert_eq!(protocol["verdict"], "accepted");
    assert!(protocol["flags"].is_array());
    assert!(json["tls"]["versions"][3]["cipher_suites"].is_array());
    assert!(json["ntlm"]["clock_skew_seconds"].is_i64());
    for risk in json["risks"].as_array().expect("risks") {
        assert!(risk["code"].is_string() && risk["severity"].is_string());
    }
}

/// When the probe's handshake fails for want of a common version, it asks the way `scan`
/// does and names what the server speaks.
#[tokio::test]
async fn the_probe_names_the_versions_a_server_speaks_when_tls_fails() {
    for (scenario, speaks) in [
        (Scenario::TlsVersionTooOld, "the server speaks only TLS 1.0"),
        (Scenario::Tls11Only, "the server speaks only TLS 1.1"),
        (
            Scenario::TlsHandshakeFailure,
            "offered one TLS version at a time (1.0 to 1.3), the server chose none of them",
        ),
        (
            Scenario::WeakCipherSuitesOnly,
            "the server chose TLS 1.2 with TLS_RSA_WITH_RC4_128_SHA: the versions match, so the cipher suites",
        ),
    ] {
        let (server, target) = start(scenario).await;
        let options = rdpscope::ProbeOptions {
            stage_timeout: Duration::from_secs(2),
            ..rdpscope::ProbeOptions::default()
        };
        let report = rdpscope::probe(&target, &options).await;
        server.shutdown().await;
        let error = report.error.expect("a failure");
        assert_eq!(error.stage, rdpscope::Stage::Tls, "{scenario}");
        assert!(
            error.message.contains(speaks),
            "{scenario}: {}",
            error.message
        );
    }
}

#[tokio::test]
async fn an_unpatched_server_with_a_drifting_clock_is_flagged() {
    let report = scan(Scenario::OldCredsspSkewedClock).await;
    assert_eq!(report.credssp_version, Some(3));
    let ntlm = report.ntlm.as_ref().expect("ntlm info");
    assert_eq!(ntlm.netbios_computer.as_deref(), Some("OLD2008"));
    assert_eq!(ntlm.dns_domain.as_deref(), Some("oldcorp.example"));
    assert_eq!(ntlm.product_version.as_deref(), Some("6.1.7601"));
    let skew = ntlm.clock_skew_seconds.expect("a skew");
    assert!((-605..=-595).contains(&skew), "{skew}");
    let risks = risks(&report);
    assert!(
        risks.contains(&RiskCode::CredsspOracleUnpatched),
        "{risks:?}"
    );
    assert!(risks.contains(&RiskCode::ClockSkew), "{risks:?}");
    // Most severe first.
    assert_eq!(report.risks[0].code, RiskCode::CredsspOracleUnpatched);
}

#[tokio::test]
async fn servers_that_are_not_rdp_are_errors_with_what_answered() {
    for scenario in [
        Scenario::HttpServer,
        Scenario::SshServer,
        Scenario::GarbageReply,
        Scenario::TruncatedTpkt,
    ] {
        let report = scan(scenario).await;
        assert!(
            report
                .protocols
                .iter()
                .all(|p| matches!(p.verdict, Verdict::Error | Verdict::Closed)
                    && p.detail.as_deref().is_some_and(|d| !d.is_empty())),
            "{scenario}: {:#?}",
            report.protocols
        );
        assert_eq!(report.nla_required, None, "{scenario}");
        assert!(report.tls.is_none(), "{scenario}");
    }
}
