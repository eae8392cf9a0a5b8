//! Every checked-in fixture, presented by a loopback RDP server: the probe reports exactly
//! the manifest's findings, and the certificate stage passes or fails as the manifest says
//! under each policy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdpscope::cert::{read_pem_certificates, CertPolicy, TrustStore};
use rdpscope::fixtures::{read_chain, Fixture, StageResult, FIXTURES, TEST_CA_FILE};
use rdpscope::mock::{MockServer, Scenario};
use rdpscope::report::{Outcome, Severity};
use rdpscope::{ProbeOptions, Report, Stage};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Findings of a report as sorted `code:severity` strings, leaving out informational ones.
fn findings(report: &Report) -> Vec<String> {
    let mut found: Vec<String> = report
        .certificate
        .as_ref()
        .map(|cert| {
            cert.findings
                .iter()
                .filter(|f| f.severity > Severity::Info)
                .map(|f| format!("{}:{:?}", f.code, f.severity).to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn expected(fixture: &Fixture) -> Vec<String> {
    let mut want: Vec<String> = fixture
        .findings
        .iter()
        .map(|(code, severity)| format!("{code}:{severity:?}").to_lowercase())
        .collect();
    want.sort();
    want
}

async fn probe_fixture(
    dir: &Path,
    fixture: &Fixture,
    trust: &TrustStore,
    policy: CertPolicy,
) -> Report {
    let (chain, key) =
        read_chain(dir, fixture.name).unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
    let server = MockServer::builder()
        .scenario(Scenario::SuccessTls)
        .certificate_chain(chain, key)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{}: mock does not start: {e}", fixture.name));
    let options = ProbeOptions {
        cert_policy: policy,
        trust: Some(trust.clone()),
        server_name: Some(fixture.server_name.to_owned()),
        stage_timeout: Duration::from_secs(5),
        ..ProbeOptions::default()
    };
    let report = rdpscope::probe(&server.addr().into(), &options).await;
    server.shutdown().await;
    report
}

/// Checks every fixture in `dir` against the manifest (also used for a freshly generated set).
async fn check_set(dir: &Path) {
    let ca = read_pem_certificates(&dir.join(TEST_CA_FILE)).expect("test CA");
    let trust = TrustStore::with_extra(&ca);
    let mut mismatches = Vec::new();
    for fixture in FIXTURES {
        for (policy, want) in [
            (CertPolicy::Default, fixture.default),
            (CertPolicy::Strict, fixture.strict),
            (CertPolicy::Warn, fixture.warn),
        ] {
            let report = probe_fixture(dir, fixture, &trust, policy).await;
            let got = findings(&report);
            if got != expected(fixture) {
                mismatches.push(format!(
                    "{} ({policy:?}): findings {got:?}, manifest {:?}",
                    fixture.name,
                    expected(fixture)
                ));
            }
            let failed_at_certificate = report.failed_stage == Some(Stage::Certificate);
            let ok = match want {
                StageResult::Fail => failed_at_certificate && report.credssp.is_none(),
                StageResult::Pass => report.outcome == Outcome::Connected,
            };
            if !ok {
                mismatches.push(format!(
                    "{} ({policy:?}): expected {want:?}, got {}",
                    fixture.name,
                    report.verdict()
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_checked_in_fixture_yields_exactly_its_manifest_findings() {
    check_set(&fixtures_dir()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freshly_generated_set_yields_the_same_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || rdpscope::fixtures::generate(&path))
        .await
        .expect("join")
        .expect("generate");
    check_set(dir.path()).await;
}

#[tokio::test]
async fn a_pin_decides_the_stage_whatever_the_findings() {
    let dir = fixtures_dir();
    let expired = FIXTURES
        .iter()
        .find(|f| f.name == "expired")
        .expect("expired fixture");
    let (chain, _) = read_chain(&dir, "expired").expect("chain");
    let leaf_sha256 = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&chain[0]))
    };
    let trust = TrustStore::empty();
    for (pin, passes) in [
        (format!("sha256:{leaf_sha256}"), true),
        (format!("sha256:{}", "00".repeat(32)), false),
    ] {
        let (chain, key) = read_chain(&dir, expired.name).expect("chain");
        let server = MockServer::builder()
            .certificate_chain(chain, key)
            .start()
            .await
            .expect("mock");
        let options = ProbeOptions {
            pin: Some(pin.parse().expect("pin")),
            trust: Some(trust.clone()),
            ..ProbeOptions::default()
        };
        let report = rdpscope::probe(&server.addr().into(), &options).await;
        server.shutdown().await;
        assert_eq!(
            report.outcome == Outcome::Connected,
            passes,
            "{pin}: {}",
            report.verdict()
        );
        let cert = report.certificate.as_ref().expect("certificate facts");
        assert_eq!(cert.pin_matched, Some(passes));
        assert!(
            cert.findings.iter().any(|f| f.code == "expired"),
            "findings are still reported"
        );
        if !passes {
            assert!(
                report.verdict().contains("certificate changed"),
                "{}",
                report.verdict()
            );
        }
    }
}
