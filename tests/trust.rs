//! What a hostile server must not be able to do to a report, and what the probe must say
//! about the credentials it hands over: forged report lines, a chain too long to analyse,
//! credentials sent to a certificate with errors.

use std::process::{Command, Output, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use rdpscope::mock::{MockServer, MockServerHandle, Scenario, MOCK_PASSWORD, MOCK_USER};
use rdpscope::report::Outcome;
use rdpscope::{FailureKind, Stage};

fn rdpscope(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rdpscope"));
    command
        .args(args)
        .env_remove("RDPSCOPE_PASSWORD")
        .env_remove("RDPSCOPE_LOG")
        .stdin(Stdio::null());
    if let Some(password) = password {
        command.env("RDPSCOPE_PASSWORD", password);
    }
    command.output().expect("rdpscope runs")
}

/// `rdpscope` against a server, run off the async runtime.
async fn run(args: Vec<String>, password: Option<&'static str>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rdpscope(&args, password)
    })
    .await
    .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A self-signed certificate for 127.0.0.1 whose subject CN is `cn`, and its key (DER).
fn certificate_with_cn(cn: &str) -> (Vec<u8>, Vec<u8>) {
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("certificate parameters");
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.distinguished_name.push(DnType::OrganizationName, cn);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    (cert.der().to_vec(), key.serialize_der())
}

async fn serve(scenario: Scenario, cert: Option<(Vec<u8>, Vec<u8>)>) -> MockServerHandle {
    let mut builder = MockServer::builder().scenario(scenario);
    if let Some((cert, key)) = cert {
        builder = builder.certificate(cert, key);
    }
    builder.start().await.expect("mock server starts")
}

/// Every string in a JSON document.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

const BIDI_AND_CONTROLS: &[char] = &[
    '\n', '\r', '\u{1b}', '\u{7}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_name_cannot_forge_report_lines_or_drive_the_terminal() {
    let cn = "evil\nverdict: connected in 1.0 ms\n\u{1b}[2J\u{202E}moc.elpmaxe\u{2066}x\u{2069}\r";
    let server = serve(Scenario::SuccessTls, Some(certificate_with_cn(cn))).await;
    let addr = server.addr().to_string();

    // Under strict the self-signed certificate fails: the verdict is "failed at certificate".
    let human = run(
        vec![
            "probe".into(),
            addr.clone(),
            "--cert-policy".into(),
            "strict".into(),
        ],
        None,
    )
    .await;
    let stdout = text(&human.stdout);
    assert_eq!(human.status.code(), Some(14), "{stdout}");
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("verdict:"))
        .collect();
    assert_eq!(verdicts.len(), 1, "a forged verdict line:\n{stdout}");
    assert!(
        verdicts[0].starts_with("verdict: failed at certificate"),
        "{stdout}"
    );
    for c in BIDI_AND_CONTROLS.iter().filter(|c| **c != '\n') {
        assert!(
            !stdout.contains(*c),
            "raw {c:?} in the human report:\n{stdout}"
        );
    }
    assert!(stdout.contains("evil\\u{a}verdict"), "{stdout}");

    let json = run(
        vec![
            "probe".into(),
            addr,
            "--cert-policy".into(),
            "strict".into(),
            "--json".into(),
        ],
        None,
    )
    .await;
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let mut all = Vec::new();
    strings(&report, &mut all);
    assert!(all.iter().any(|s| s.contains("evil")), "{report}");
    for s in &all {
        assert!(
            !s.contains(BIDI_AND_CONTROLS),
            "a JSON string with a raw control or bidi character: {s:?}"
        );
    }
    server.shutdown().await;
}

/// A chain of `intermediates` CA certificates under a self-signed root, and a leaf for
/// 127.0.0.1 under the last of them: (leaf first, then the intermediates, then the root;
/// the leaf's key).
fn long_chain(intermediates: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let ca_params = |name: String| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("parameters");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    };
    let root = CertifiedIssuer::self_signed(
        ca_params("rdpscope long-chain root".to_owned()),
        KeyPair::generate().expect("key"),
    )
    .expect("root");
    let mut cas = vec![root.der().to_vec()];
    let mut issuer = root;
    for depth in 1..=intermediates {
        let next = CertifiedIssuer::signed_by(
            ca_params(format!("rdpscope intermediate {depth}")),
            KeyPair::generate().expect("key"),
            &issuer,
        )
        .expect("intermediate");
        cas.push(next.der().to_vec());
        issuer = next;
    }
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("parameters")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    let mut chain = vec![leaf.der().to_vec()];
    chain.extend(cas.into_iter().rev());
    (chain, leaf_key.serialize_der())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_too_long_to_analyse_fails_strict_and_gets_no_credentials() {
    // 12 certificates: the leaf, 10 intermediates, the root.
    let (chain, key) = long_chain(10);
    assert_eq!(chain.len(), 12);
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybridEx)
        .certificate_chain(chain, key)
        .start()
        .await
        .expect("mock server starts");
    let output = run(
        vec![
            "probe".into(),
            server.addr().to_string(),
            "--cert-policy".into(),
            "strict".into(),
            "--user".into(),
            MOCK_USER.into(),
            "--json".into(),
        ],
        Some(MOCK_PASSWORD),
    )
    .await;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(output.status.code(), Some(14), "{report}");
    assert_eq!(report["failed_stage"], "certificate", "{report}");
    assert_eq!(report["certificate"]["trusted"], false, "{report}");
    let findings = report["certificate"]["findings"]
        .as_array()
        .expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| f["code"] == "chain_too_long" && f["severity"] == "error"),
        "{report}"
    );
    assert_eq!(report["credentials_sent"], false, "{report}");
    assert_eq!(report["stages"][5]["status"], "not_reached", "{report}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_untrusted_chain_names_why() {
    // However long the chain, "not trusted" comes with a finding that says why.
    for intermediates in [0, 1, 8, 9, 10, 11, 14] {
        let (chain, _) = long_chain(intermediates);
        let chain: Vec<rustls::pki_types::CertificateDer<'static>> =
            chain.into_iter().map(Into::into).collect();
        let trust = rdpscope::cert::TrustStore::empty();
        let info = rdpscope::cert::analyze(
            &chain,
            &rdpscope::cert::AnalysisOptions {
                server_name: "127.0.0.1",
                trust: &trust,
                policy: rdpscope::cert::CertPolicy::Strict,
                now: time::OffsetDateTime::now_utc(),
                expiry_warning_days: 30,
                pin: None,
            },
        );
        assert!(!info.trusted);
        assert!(
            info.findings
                .iter()
                .any(|f| f.severity >= rdpscope::report::Severity::Warning),
            "{intermediates} intermediates: untrusted without a reason: {:?}",
            info.findings
        );
        assert!(rdpscope::cert::CertPolicy::Strict.fails(&info.findings));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_sent_to_a_certificate_with_errors_are_announced() {
    // An expired certificate under --cert-policy warn: the probe goes on and authenticates,
    // and says so on stderr, in the human report and in the JSON report.
    let fixture = rdpscope::fixtures::embedded("expired")
        .expect("fixture")
        .expect("parses");
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybridEx)
        .certificate_chain(fixture.0, fixture.1)
        .start()
        .await
        .expect("mock server starts");
    let addr = server.addr().to_string();
    let base = vec![
        "probe".to_owned(),
        addr.clone(),
        "--cert-policy".into(),
        "warn".into(),
        "--user".into(),
        MOCK_USER.into(),
    ];

    let human = run(base.clone(), Some(MOCK_PASSWORD)).await;
    let (stdout, stderr) = (text(&human.stdout), text(&human.stderr));
    assert_eq!(human.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("credentials") && stderr.contains("expired"),
        "no warning on stderr: {stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("credentials:"))
        .unwrap_or_else(|| panic!("no credentials line:\n{stdout}"));
    assert!(line.contains("sent") && line.contains("expired"), "{line}");
    let verdict = stdout.lines().last().unwrap_or_default();
    assert!(verdict.contains("expired"), "{verdict}");

    let mut json_args = base;
    json_args.push("--json".into());
    let json = run(json_args, Some(MOCK_PASSWORD)).await;
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(report["credentials_sent"], true, "{report}");
    let warnings = report["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("expired"))),
        "{report}"
    );
    assert!(
        text(&json.stderr).contains("expired"),
        "no warning on stderr"
    );

    // The same certificate under the default policy fails and gets nothing.
    let strict = run(
        vec![
            "probe".into(),
            addr,
            "--user".into(),
            MOCK_USER.into(),
            "--json".into(),
        ],
        Some(MOCK_PASSWORD),
    )
    .await;
    let report: serde_json::Value = serde_json::from_slice(&strict.stdout).expect("json");
    assert_eq!(report["failed_stage"], "certificate", "{report}");
    assert_eq!(report["credentials_sent"], false, "{report}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_says_whether_credentials_were_sent() {
    let cases = [
        (Scenario::SuccessTls, true, false, "TLS without NLA"),
        (Scenario::SuccessHybridEx, true, true, "NLA"),
        (
            Scenario::SuccessHybridEx,
            false,
            false,
            "NLA without credentials",
        ),
        (Scenario::WrongPassword, true, true, "rejected credentials"),
    ];
    for (scenario, with_credentials, sent, what) in cases {
        let server = serve(scenario, None).await;
        let mut options = rdpscope::demo::demo_options();
        if !with_credentials {
            options.credentials = None;
        }
        let report = rdpscope::probe(&server.addr().into(), &options).await;
        assert_eq!(
            report.credentials_sent,
            sent,
            "{what}: {}",
            report.verdict()
        );
        let human = rdpscope::report::render_human(&report);
        assert!(
            human.lines().any(|l| l.starts_with("credentials:")),
            "{what}: no credentials line:\n{human}"
        );
        if scenario == Scenario::SuccessHybridEx && with_credentials {
            assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
        }
        if !with_credentials && scenario == Scenario::SuccessHybridEx {
            let error = report.error.as_ref().expect("error");
            assert_eq!(
                (error.stage, error.kind),
                (Stage::Credssp, FailureKind::CredentialsRequired)
            );
        }
        server.shutdown().await;
    }
}

fn known_hosts_options(file: &std::path::Path) -> rdpscope::ProbeOptions {
    rdpscope::ProbeOptions {
        known_hosts: Some(file.to_owned()),
        ..rdpscope::demo::demo_options()
    }
}

fn codes(report: &rdpscope::Report) -> Vec<String> {
    report
        .certificate
        .as_ref()
        .map(|c| c.findings.iter().map(|f| f.code.to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_hosts_record_at_first_contact_and_catch_a_cloned_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_hosts");
    // A new self-signed certificate on every connection, always with the same subject and
    // issuer: what an interception proxy cloning a certificate looks like.
    let server = serve(Scenario::CertificateChangesEveryConnection, None).await;
    let options = known_hosts_options(&file);

    let first = rdpscope::probe(&server.addr().into(), &options).await;
    assert_eq!(first.outcome, Outcome::Connected, "{}", first.verdict());
    assert!(
        codes(&first).contains(&"known_host_added".to_owned()),
        "{:?}",
        codes(&first)
    );
    let recorded = std::fs::read_to_string(&file).expect("file written");
    assert_eq!(
        recorded.lines().filter(|l| !l.starts_with('#')).count(),
        1,
        "{recorded}"
    );

    let second = rdpscope::probe(&server.addr().into(), &options).await;
    let error = second.error.as_ref().expect("the change fails the stage");
    assert_eq!(
        (error.stage, error.kind),
        (Stage::Certificate, FailureKind::Certificate)
    );
    assert_eq!(error.finding.map(|f| f.name()), Some("certificate_changed"));
    let sha1_before = first
        .certificate
        .as_ref()
        .expect("certificate")
        .sha1
        .clone();
    let sha1_after = second
        .certificate
        .as_ref()
        .expect("certificate")
        .sha1
        .clone();
    assert!(error.message.contains(&sha1_before), "{}", error.message);
    assert!(error.message.contains(&sha1_after), "{}", error.message);
    assert!(
        error
            .message
            .contains("copies the old one's subject and issuer"),
        "{}",
        error.message
    );
    assert!(!second.credentials_sent);
    // What was recorded stays: the change is not accepted silently.
    assert_eq!(std::fs::read_to_string(&file).expect("file"), recorded);
    server.shutdown().await;

    // The same certificate again matches.
    let steady = serve(Scenario::SuccessTls, None).await;
    let a = rdpscope::probe(&steady.addr().into(), &options).await;
    let b = rdpscope::probe(&steady.addr().into(), &options).await;
    assert!(codes(&a).contains(&"known_host_added".to_owned()));
    assert!(
        codes(&b).contains(&"known_host_matched".to_owned()),
        "{:?}",
        codes(&b)
    );
    assert_eq!(b.outcome, Outcome::Connected);
    steady.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_probes_share_a_known_hosts_file_without_corrupting_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_hosts");
    let mut servers = Vec::new();
    for _ in 0..6 {
        servers.push(serve(Scenario::SuccessTls, None).await);
    }
    // In one process: 6 servers, 5 probes each, all at once.
    let options = known_hosts_options(&file);
    let mut probes = tokio::task::JoinSet::new();
    for server in &servers {
        for _ in 0..5 {
            let (target, options) = (
                rdpscope::target::Target::from(server.addr()),
                options.clone(),
            );
            probes.spawn(async move { rdpscope::probe(&target, &options).await });
        }
    }
    while let Some(report) = probes.join_next().await {
        let report = report.expect("join");
        assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    }
    // In many processes: 6 more servers, 3 processes each, at once.
    let mut more = Vec::new();
    for _ in 0..6 {
        more.push(serve(Scenario::SuccessTls, None).await);
    }
    let path = file.to_string_lossy().into_owned();
    let mut children = Vec::new();
    for server in &more {
        for _ in 0..3 {
            children.push(
                Command::new(env!("CARGO_BIN_EXE_rdpscope"))
                    .args(["probe", &server.addr().to_string(), "--known-hosts", &path])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("rdpscope runs"),
            );
        }
    }
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("join")
            .expect("output");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let entries = rdpscope::cert::known_hosts::read(&file).expect("the file parses");
    assert_eq!(entries.len(), 12, "{entries:?}");
    for server in servers.into_iter().chain(more) {
        let port = server.addr().port();
        assert_eq!(entries.iter().filter(|e| e.port == port).count(), 1);
        server.shutdown().await;
    }
}

#[test]
fn a_malformed_known_hosts_file_is_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("known_hosts");
    std::fs::write(&file, "127.0.0.1 3389 sha1:00 broken\n").expect("write");
    let output = rdpscope(
        &[
            "probe",
            "127.0.0.1:1",
            "--known-hosts",
            &file.to_string_lossy(),
        ],
        None,
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
}

/// `rdpscope` with the system roots taken from `ca_file` only (rustls-native-certs reads
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`), as JSON.
async fn probe_with_roots(ca_file: std::path::PathBuf, args: Vec<String>) -> serde_json::Value {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rdpscope"))
            .args(&args)
            .env("SSL_CERT_FILE", ca_file)
            .env("SSL_CERT_DIR", "/nonexistent")
            .env_remove("RDPSCOPE_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("rdpscope runs")
    })
    .await
    .expect("join");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "json ({e}): {}{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

/// A pin decides the certificate stage alone, so the system roots are not loaded for it:
/// with the issuing CA as the only system root, the same server's chain is trusted
/// without the pin and not evaluated with it (and then no finding claims the issuer is
/// untrusted or missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_decides_without_loading_the_system_roots() {
    let scenario: Scenario = "certificate_ca_signed".parse().expect("scenario");
    let server = serve(scenario, None).await;
    let target = server.addr().to_string();
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rdpscope::fixtures::TEST_CA_FILE);
    let args = |extra: &[&str]| -> Vec<String> {
        ["probe", &target, "--json", "--until", "credssp"]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let findings = |report: &serde_json::Value| -> Vec<String> {
        report["certificate"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter_map(|f| f["code"].as_str().map(str::to_owned))
            .collect()
    };

    let roots = probe_with_roots(ca.clone(), args(&[])).await;
    assert_eq!(roots["certificate"]["trusted"], true, "{roots}");
    assert!(!findings(&roots).contains(&"trust_not_evaluated".to_owned()));
    let sha256 = roots["certificate"]["sha256"].as_str().expect("sha256");

    let pin = format!("sha256:{sha256}");
    let pinned = probe_with_roots(ca.clone(), args(&["--pin", &pin])).await;
    assert_eq!(pinned["outcome"], "reached", "{pinned}");
    assert_eq!(pinned["certificate"]["trusted"], false, "{pinned}");
    let codes = findings(&pinned);
    assert!(
        codes.contains(&"pin_matched".to_owned())
            && codes.contains(&"trust_not_evaluated".to_owned()),
        "{codes:?}"
    );
    for claim in ["untrusted_issuer", "chain_incomplete", "chain_unverified"] {
        assert!(!codes.contains(&claim.to_owned()), "{codes:?}");
    }

    // A pin that does not match still fails the stage, roots or not.
    let other = format!("sha256:{}", "00".repeat(32));
    let mismatch = probe_with_roots(ca, args(&["--pin", &other])).await;
    assert_eq!(mismatch["error"]["stage"], "certificate", "{mismatch}");
    assert!(findings(&mismatch).contains(&"pin_mismatch".to_owned()));
}
