//! The probe against a real xrdp server (Debian's package), started by each test on
//! 127.0.0.1 with its own configuration and a certificate made here.
//!
//! Without xrdp installed these tests print a skip notice; with `CI` set they fail.

mod support;

use std::time::Duration;

use rdpscope::diagnosis::Code;
use rdpscope::report::{Outcome, StageStatus};
use rdpscope::{FailureKind, ProbeOptions, Report, Stage};
use sha2::Digest as _;
use support::xrdp::{require_xrdp, SecurityLayer, Xrdp, XrdpOptions};

/// A self-signed ECDSA P-256 certificate for "localhost": (cert PEM, key PEM, cert DER).
fn ecdsa_cert() -> (String, String, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().to_vec(),
    )
}

/// A self-signed RSA certificate signed with a checked-in RSA 2048 PKCS#8 key (rcgen's
/// ring backend cannot generate RSA keys).
fn rsa_cert() -> (String, String, Vec<u8>) {
    let key_pem = include_str!("fixtures/rsa2048-pkcs8.key.pem");
    let key =
        rcgen::KeyPair::from_pem_and_sign_algo(key_pem, &rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), key_pem.to_owned(), cert.der().to_vec())
}

fn start(options: XrdpOptions) -> Xrdp {
    Xrdp::start_with(options).unwrap_or_else(|e| panic!("cannot start xrdp: {e}"))
}

async fn probe(xrdp: &Xrdp, security: &str) -> Report {
    let options = ProbeOptions {
        security: security.parse().expect("security list"),
        stage_timeout: Duration::from_secs(10),
        ..ProbeOptions::default()
    };
    let target = xrdp.addr.into();
    let report = rdpscope::probe(&target, &options).await;
    if report.outcome == Outcome::Failed {
        eprintln!("xrdp log tail:\n{}", xrdp.log_tail(20));
    }
    report
}

fn failure(report: &Report) -> (Stage, FailureKind) {
    let error = report
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a failure: {}", report.verdict()));
    eprintln!("verdict: {}", report.verdict());
    (error.stage, error.kind)
}

#[tokio::test]
async fn reaches_connected_over_tls_and_reports_the_configured_certificate() {
    if !require_xrdp("reaches_connected_over_tls_and_reports_the_configured_certificate") {
        return;
    }
    for (label, (cert_pem, key_pem, cert_der)) in [("ecdsa", ecdsa_cert()), ("rsa", rsa_cert())] {
        let xrdp = start(XrdpOptions::tls(&cert_pem, &key_pem));
        let report = probe(&xrdp, "tls,hybrid,hybrid_ex").await;
        assert_eq!(
            report.outcome,
            Outcome::Connected,
            "{label}: {}",
            report.verdict()
        );
        assert_eq!(report.exit_code(), 0);
        for stage in &report.stages {
            let expected = if stage.stage == Stage::Dns || stage.stage == Stage::Credssp {
                StageStatus::Skipped // address literal; xrdp has no NLA
            } else {
                StageStatus::Ok
            };
            assert_eq!(stage.status, expected, "{label}: {}", stage.stage);
        }
        // xrdp 0.9 does not offer SKIP_CHANNELJOIN: the user and I/O channels are joined.
        let channels = report
            .stages
            .iter()
            .find(|s| s.stage == Stage::ChannelConnection)
            .and_then(|s| s.detail.as_deref())
            .unwrap_or_default();
        assert!(
            channels.contains("2 channel(s) joined: the user channel, I/O channel"),
            "{label}: {channels}"
        );
        let negotiation = report.negotiation.as_ref().expect("negotiation");
        assert_eq!(
            negotiation.selected.as_deref(),
            Some("tls"),
            "xrdp never selects NLA"
        );
        let cert = report.certificate.as_ref().expect("certificate facts");
        assert_eq!(
            cert.sha256,
            hex::encode_upper(sha2::Sha256::digest(&cert_der)),
            "{label}"
        );
        assert!(
            cert.findings.iter().any(|f| f.code == "self_signed"),
            "{label}"
        );
    }
}

#[tokio::test]
async fn tls_layer_refuses_standard_rdp_security_with_ssl_required() {
    if !require_xrdp("tls_layer_refuses_standard_rdp_security_with_ssl_required") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let xrdp = start(XrdpOptions::tls(&cert_pem, &key_pem));
    let report = probe(&xrdp, "rdp").await;
    assert_eq!(
        failure(&report),
        (Stage::X224, FailureKind::NegotiationFailure)
    );
    let error = report.error.as_ref().expect("error");
    assert_eq!(error.code, Some(Code::NegFailure(1)));
    assert_eq!(
        error.code.and_then(Code::name).as_deref(),
        Some("SSL_REQUIRED_BY_SERVER")
    );
    assert_eq!(report.exit_code(), 12);
}

#[tokio::test]
async fn rdp_layer_selecting_standard_security_is_unsupported_security() {
    if !require_xrdp("rdp_layer_selecting_standard_security_is_unsupported_security") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let mut options = XrdpOptions::tls(&cert_pem, &key_pem);
    options.security_layer = SecurityLayer::Rdp;
    let xrdp = start(options);
    // xrdp answers PROTOCOL_RDP even to a TLS-only offer, without RDP_NEG_FAILURE.
    let report = probe(&xrdp, "tls").await;
    assert_eq!(
        failure(&report),
        (Stage::X224, FailureKind::UnsupportedSecurity),
        "{}",
        report.verdict()
    );
    assert_eq!(
        report
            .negotiation
            .as_ref()
            .and_then(|n| n.selected.as_deref()),
        Some("rdp")
    );
}

#[tokio::test]
async fn standard_security_with_encryption_is_reported_at_basic_settings() {
    if !require_xrdp("standard_security_with_encryption_is_reported_at_basic_settings") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let mut options = XrdpOptions::tls(&cert_pem, &key_pem);
    options.security_layer = SecurityLayer::Negotiate;
    let xrdp = start(options);
    // Offered and selected, Standard RDP Security skips TLS; xrdp then demands RC4
    // encryption in the GCC exchange, which rdpscope (IronRDP) does not implement.
    let report = probe(&xrdp, "rdp").await;
    assert_eq!(
        failure(&report),
        (Stage::BasicSettings, FailureKind::UnsupportedSecurity),
        "{}",
        report.verdict()
    );
    for stage in [Stage::Tls, Stage::Certificate, Stage::Credssp] {
        let row = report
            .stages
            .iter()
            .find(|s| s.stage == stage)
            .expect("row");
        assert_eq!(row.status, StageStatus::Skipped, "{stage}");
    }
    // The same server negotiates TLS when it is offered.
    let report = probe(&xrdp, "tls").await;
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
}

#[tokio::test]
async fn missing_certificate_is_ssl_cert_not_on_server() {
    if !require_xrdp("missing_certificate_is_ssl_cert_not_on_server") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let mut options = XrdpOptions::tls(&cert_pem, &key_pem);
    options
        .extra_globals
        .push("certificate=/nonexistent/cert.pem".to_owned());
    let xrdp = start(options);
    let report = probe(&xrdp, "tls").await;
    assert_eq!(
        failure(&report),
        (Stage::X224, FailureKind::NegotiationFailure)
    );
    assert_eq!(
        report.error.as_ref().and_then(|e| e.code),
        Some(Code::NegFailure(3))
    );
}

#[tokio::test]
async fn parallel_instances_each_connect() {
    if !require_xrdp("parallel_instances_each_connect") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let servers: Vec<Xrdp> = (0..3)
        .map(|_| start(XrdpOptions::tls(&cert_pem, &key_pem)))
        .collect();
    let reports = futures_join(servers.iter().map(|s| probe(s, "tls"))).await;
    for report in reports {
        assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    }
}

/// Runs the futures concurrently on this task and returns their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The checked-in fixture `name` as (certificate chain PEM, key PEM).
fn fixture_pem(name: &str) -> (String, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let read = |file: String| {
        std::fs::read_to_string(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    (read(format!("{name}.crt")), read(format!("{name}.key")))
}

#[tokio::test]
async fn expired_fixture_fails_at_certificate_with_exit_14_and_connects_under_warn() {
    if !require_xrdp("expired_fixture_fails_at_certificate_with_exit_14_and_connects_under_warn") {
        return;
    }
    let (cert_pem, key_pem) = fixture_pem("expired");
    let xrdp = start(XrdpOptions::tls(&cert_pem, &key_pem));
    let addr = xrdp.addr.to_string();
    let run = |policy: &'static str| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rdpscope"))
                .args(["probe", &addr, "--json", "--cert-policy", policy])
                .env_remove("RDPSCOPE_PASSWORD")
                .output()
                .expect("rdpscope runs")
        })
    };
    let output = run("default").await.expect("join");
    assert_eq!(
        output.status.code(),
        Some(14),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["failed_stage"], "certificate");
    let findings: Vec<&str> = report["certificate"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(findings.contains(&"expired"), "{findings:?}");
    assert!(report["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("expired")));

    let output = run("warn").await.expect("join");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["outcome"], "connected");
}

#[tokio::test]
async fn the_capture_of_an_xrdp_connection_opens_decoded_in_tshark() {
    if !require_xrdp("the_capture_of_an_xrdp_connection_opens_decoded_in_tshark")
        || !support::tshark::require("the_capture_of_an_xrdp_connection_opens_decoded_in_tshark")
    {
        return;
    }
    // TLS 1.3 (traffic secrets) and TLS 1.2 (a master secret and the PRF).
    for version in ["TLSv1.3", "TLSv1.2"] {
        capture_xrdp(version).await;
    }
}

async fn capture_xrdp(version: &'static str) {
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let xrdp = start(XrdpOptions {
        ssl_protocols: version,
        ..XrdpOptions::tls(&cert_pem, &key_pem)
    });
    let options = ProbeOptions {
        security: "tls".parse().expect("security list"),
        stage_timeout: Duration::from_secs(10),
        ..ProbeOptions::default()
    };
    let (report, capture) = rdpscope::probe_with_capture(&xrdp.addr.into(), &options).await;
    assert_eq!(
        report.tls.as_ref().map(|t| t.version.replace('_', ".")),
        Some(version.to_owned())
    );
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    let written = capture.pcapng(rdpscope::capture::Credentials::Redact);
    assert!(written.secrets_embedded, "{:?}", written.secrets_left_out);
    let file = std::env::temp_dir().join(format!(
        "rdpscope-xrdp-{version}-{}.pcapng",
        std::process::id()
    ));
    std::fs::write(&file, &written.bytes).expect("write the capture");
    let rows = support::tshark::packets(&file);
    let listing = format!("{rows:#?}");
    // TLS decrypted with the embedded secrets (xrdp speaks OpenSSL's TLS), the MCS Connect
    // Response dissected by Wireshark, the X.224 Confirm and Demand Active named by rdpscope.
    assert!(
        any_row(&rows, |r| r.protocol.starts_with("TLSv1")),
        "{listing}"
    );
    assert!(
        any_row(&rows, |r| r.info.contains("ServerData")),
        "{listing}"
    );
    assert!(
        any_row(&rows, |r| r
            .comment
            .contains("X.224 Connection Confirm (selected tls")),
        "{listing}"
    );
    assert!(
        any_row(&rows, |r| r.comment.contains("Demand Active PDU")),
        "{listing}"
    );
    let _ = std::fs::remove_file(&file);
}

fn any_row(rows: &[support::tshark::Row], what: impl Fn(&support::tshark::Row) -> bool) -> bool {
    rows.iter().any(what)
}

/// Scans an xrdp started with `options`; `verdict(name)` of the result.
async fn scan_xrdp(options: XrdpOptions) -> rdpscope::scan::ScanReport {
    let xrdp = start(options);
    let mut scan_options = rdpscope::scan::ScanOptions::default();
    scan_options.timeout = Duration::from_secs(10);
    rdpscope::scan::scan(&xrdp.addr.into(), &scan_options).await
}

fn verdict(report: &rdpscope::scan::ScanReport, name: &str) -> Option<rdpscope::scan::Verdict> {
    report
        .protocols
        .iter()
        .find(|p| p.protocol == name)
        .map(|p| p.verdict)
}

#[tokio::test]
async fn scan_tells_what_xrdp_offers() {
    if !require_xrdp("scan_tells_what_xrdp_offers") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let report = scan_xrdp(XrdpOptions {
        ssl_protocols: "TLSv1.2",
        ..XrdpOptions::tls(&cert_pem, &key_pem)
    })
    .await;
    use rdpscope::scan::Verdict;
    // xrdp accepts TLS and not NLA (it has no CredSSP).
    assert_eq!(
        verdict(&report, "tls"),
        Some(Verdict::Accepted),
        "{report:#?}"
    );
    assert_ne!(
        verdict(&report, "hybrid"),
        Some(Verdict::Accepted),
        "{report:#?}"
    );
    assert_ne!(
        verdict(&report, "hybrid_ex"),
        Some(Verdict::Accepted),
        "{report:#?}"
    );
    assert_eq!(report.nla_required, Some(false));
    let accepted: Vec<&str> = report
        .tls
        .as_ref()
        .expect("tls")
        .versions
        .iter()
        .filter(|v| v.accepted)
        .map(|v| v.version.as_str())
        .collect();
    assert_eq!(accepted, ["TLS 1.2"], "{report:#?}");
    assert!(report.certificate.is_some());
    assert!(report.ntlm.is_none());
}

#[tokio::test]
async fn scan_flags_xrdp_accepting_standard_rdp_security() {
    if !require_xrdp("scan_flags_xrdp_accepting_standard_rdp_security") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let mut options = XrdpOptions::tls(&cert_pem, &key_pem);
    options.security_layer = SecurityLayer::Negotiate;
    let report = scan_xrdp(options).await;
    use rdpscope::scan::{RiskCode, Verdict};
    assert_eq!(
        verdict(&report, "rdp"),
        Some(Verdict::Accepted),
        "{report:#?}"
    );
    assert_eq!(
        verdict(&report, "tls"),
        Some(Verdict::Accepted),
        "{report:#?}"
    );
    let risks: Vec<RiskCode> = report.risks.iter().map(|r| r.code).collect();
    assert!(
        risks.contains(&RiskCode::StandardRdpSecurityAccepted),
        "{risks:?}"
    );
    assert!(risks.contains(&RiskCode::NlaNotRequired), "{risks:?}");
    assert!(!risks.contains(&RiskCode::WeakRdpEncryption), "{risks:?}");
    // crypt_level=high: 128-bit RC4 at level High, and nothing weaker when offered alone.
    let standard = report.standard_rdp_security.as_ref().expect("standard");
    let preferred = standard.preferred.as_ref().expect("a Connect Response");
    assert_eq!(
        preferred.method_name, "128BIT_ENCRYPTION_FLAG",
        "{standard:#?}"
    );
    assert_eq!(preferred.level_name, "ENCRYPTION_LEVEL_HIGH");
    assert_eq!(preferred.certificate, Some("proprietary"));
    assert_eq!(preferred.key_bits, Some(2048), "xrdp's rsakeys.ini");
    assert_eq!(method_verdicts(standard), ["128bit"], "{standard:#?}");
    // xrdp answers 128-bit whatever it is offered: the other methods alone are not accepted
    // but answered with a method the client did not offer.
    for m in standard.methods.iter().filter(|m| m.method != "128bit") {
        assert_eq!(m.verdict, rdpscope::scan::Verdict::Downgraded, "{m:?}");
        assert_eq!(
            m.detail.as_deref(),
            Some("the server chose 128BIT_ENCRYPTION_FLAG, which was not offered")
        );
    }
}

/// The encryption methods a server accepted when offered alone.
fn method_verdicts(standard: &rdpscope::scan::StandardRdpSecurity) -> Vec<&'static str> {
    standard
        .methods
        .iter()
        .filter(|m| m.verdict == rdpscope::scan::Verdict::Accepted)
        .map(|m| m.method)
        .collect()
}

#[tokio::test]
async fn scan_flags_xrdp_with_40_bit_rdp_encryption() {
    if !require_xrdp("scan_flags_xrdp_with_40_bit_rdp_encryption") {
        return;
    }
    let (cert_pem, key_pem, _) = ecdsa_cert();
    let mut options = XrdpOptions::tls(&cert_pem, &key_pem);
    options.security_layer = SecurityLayer::Rdp;
    options.crypt_level = "low";
    let report = scan_xrdp(options).await;
    let standard = report.standard_rdp_security.as_ref().expect("standard");
    let preferred = standard.preferred.as_ref().expect("a Connect Response");
    assert_eq!(
        preferred.method_name, "40BIT_ENCRYPTION_FLAG",
        "{standard:#?}"
    );
    assert_eq!(preferred.level_name, "ENCRYPTION_LEVEL_LOW");
    assert_eq!(method_verdicts(standard), ["40bit"], "{standard:#?}");
    let risks: Vec<rdpscope::scan::RiskCode> = report.risks.iter().map(|r| r.code).collect();
    assert!(
        risks.contains(&rdpscope::scan::RiskCode::WeakRdpEncryption),
        "{risks:?}"
    );
}
