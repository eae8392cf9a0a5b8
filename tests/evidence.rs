//! The evidence a probe hands over: the steps inside every stage, the PDU trail, a failure
//! that names the step it followed, and the capture (a pcapng that tshark dissects and that
//! cannot crack the password).

mod support;

use std::time::Duration;

use rdpscope::capture::{Capture, Credentials};
use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD};
use rdpscope::report::{Direction, Outcome};
use rdpscope::target::Target;
use rdpscope::{ProbeOptions, Report, Stage, Step};

fn options() -> ProbeOptions {
    ProbeOptions {
        credentials: Some(rdpscope::mock::credentials()),
        stage_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        cert_policy: rdpscope::cert::CertPolicy::Ignore,
        ..ProbeOptions::default()
    }
}

async fn probe_captured(scenario: Scenario) -> (Report, Capture) {
    let server = MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("mock server starts");
    let target: Target = server.addr().to_string().parse().expect("valid target");
    let probed = rdpscope::probe_with_capture(&target, &options()).await;
    server.shutdown().await;
    probed
}

/// The ids of the diagnosis's causes, most likely first.
fn cause_ids(report: &Report) -> Vec<&'static str> {
    report
        .diagnosis
        .as_ref()
        .expect("a diagnosis")
        .causes
        .iter()
        .map(|c| c.id)
        .collect()
}

fn steps(report: &Report, stage: Stage) -> Vec<Step> {
    report
        .stages
        .iter()
        .find(|s| s.stage == stage)
        .map(|s| s.steps.iter().map(|step| step.step).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_stage_records_its_steps_in_order() {
    let (report, _) = probe_captured(Scenario::SuccessHybridEx).await;
    assert_eq!(report.outcome, Outcome::Connected, "{}", report.verdict());
    assert_eq!(
        steps(&report, Stage::X224),
        [Step::RequestSent, Step::ConfirmReceived]
    );
    assert_eq!(
        steps(&report, Stage::Tls),
        [
            Step::ClientHelloSent,
            Step::ServerHelloReceived,
            Step::CertificateReceived,
            Step::HandshakeDone
        ]
    );
    assert_eq!(
        steps(&report, Stage::Credssp),
        [
            Step::NegotiateSent,
            Step::ChallengeReceived,
            Step::AuthenticateSent,
            Step::ServerKeyVerified,
            Step::CredentialsSent,
            Step::AuthorizationReceived
        ]
    );
    for stage in [
        Stage::BasicSettings,
        Stage::ChannelConnection,
        Stage::SecureSettings,
        Stage::Capabilities,
        Stage::Finalization,
    ] {
        assert!(!steps(&report, stage).is_empty(), "{stage} has no steps");
    }
    // Steps are timed, in order.
    let times: Vec<f64> = report
        .stages
        .iter()
        .flat_map(|s| s.steps.iter().map(|step| step.at_ms))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // What the CHALLENGE revealed.
    let challenge = report
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .find(|s| s.step == Step::ChallengeReceived)
        .and_then(|s| s.detail.clone())
        .unwrap_or_default();
    assert!(
        challenge.contains("CredSSP v") && challenge.contains("clock skew"),
        "{challenge}"
    );
}

#[tokio::test]
async fn the_trail_names_every_pdu_and_shows_no_credentials() {
    let (report, _) = probe_captured(Scenario::SuccessHybridEx).await;
    let names: Vec<&str> = report.trace.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "X.224 Connection Request",
        "X.224 Connection Confirm",
        "TLS ClientHello",
        "TSRequest v6: NTLM CHALLENGE",
        "MCS Connect Response",
        "Demand Active PDU",
        "Font Map PDU",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let authenticate = names
        .iter()
        .find(|n| n.contains("NTLM AUTHENTICATE"))
        .expect("the AUTHENTICATE message is in the trail");
    assert!(
        authenticate.contains("[NTLMv2 response, "),
        "{authenticate}"
    );
    assert!(names
        .iter()
        .any(|n| n.contains("TSCredentials [encrypted credentials, ")));
    assert!(report
        .trace
        .iter()
        .any(|t| t.direction == Direction::Received && t.stage == Stage::Capabilities));
    let json = serde_json::to_string(&report).expect("json");
    assert!(!json.contains(MOCK_PASSWORD));
    assert!(json.contains("\"trace\""));
}

#[tokio::test]
async fn a_close_after_authenticate_most_likely_rejected_the_credentials() {
    let (report, _) = probe_captured(Scenario::CloseAfterNtlmAuthenticate).await;
    let error = report.error.as_ref().expect("a failure");
    assert_eq!(error.stage, Stage::Credssp);
    assert_eq!(error.after_step, Some(Step::AuthenticateSent));
    assert!(
        error
            .message
            .contains("right after the NTLM AUTHENTICATE message (the password was checked here)"),
        "{}",
        error.message
    );
    let causes = cause_ids(&report);
    assert_eq!(causes.first(), Some(&"wrong_credentials"), "{causes:?}");
    // The human report shows the steps of the failed stage, the last one marked.
    let human = rdpscope::report::render_human(&report);
    assert!(
        human.contains("NTLM AUTHENTICATE sent  <- the failure followed this step"),
        "{human}"
    );
}

#[tokio::test]
async fn a_close_before_authenticate_is_not_a_credential_problem() {
    let (report, _) = probe_captured(Scenario::CloseAfterNtlmNegotiate).await;
    let error = report.error.as_ref().expect("a failure");
    assert_eq!(error.stage, Stage::Credssp);
    assert_eq!(error.after_step, Some(Step::NegotiateSent));
    assert!(
        error.message.contains("not a credential problem"),
        "{}",
        error.message
    );
    assert!(!report.credentials_sent);
    let causes = cause_ids(&report);
    assert!(!causes.contains(&"wrong_credentials"), "{causes:?}");
}

#[tokio::test]
async fn a_close_in_the_connection_sequence_names_the_last_pdu() {
    let (report, _) = probe_captured(Scenario::CloseDuring(Stage::Capabilities)).await;
    let error = report.error.as_ref().expect("a failure");
    assert_eq!(error.after_step, Some(Step::Received));
    assert!(error.message.contains("(last step: "), "{}", error.message);
}

#[tokio::test]
async fn the_capture_blanks_the_password_material_before_it_embeds_the_secrets() {
    let (report, capture) = probe_captured(Scenario::SuccessHybridEx).await;
    assert!(report.credentials_sent);
    let redacted = capture.pcapng(Credentials::Redact);
    assert!(redacted.secrets_embedded, "{:?}", redacted.secrets_left_out);
    // The LM and NT responses, the session key, the MIC and the TSCredentials.
    assert!(redacted.redacted >= 4, "{}", redacted.redacted);
    let kept = capture.pcapng(Credentials::Keep);
    assert_eq!(kept.redacted, 0);
    assert_eq!(kept.bytes.len(), redacted.bytes.len());
    assert_ne!(kept.bytes, redacted.bytes);
    for bytes in [&redacted.bytes, &kept.bytes] {
        assert!(!contains(bytes, MOCK_PASSWORD.as_bytes()));
        let utf16: Vec<u8> = MOCK_PASSWORD
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(!contains(bytes, &utf16));
    }
}

#[tokio::test]
async fn a_capture_is_written_when_the_probe_fails_or_times_out() {
    for scenario in [
        Scenario::WrongPassword,
        Scenario::ServerErrorInfo(7),
        Scenario::SilentDuring(Stage::Capabilities),
        Scenario::NegotiationFailure(5),
    ] {
        let (report, capture) = probe_captured(scenario).await;
        assert_eq!(report.outcome, Outcome::Failed, "{scenario}");
        let written = capture.pcapng(Credentials::Redact);
        assert!(
            written.packets > 5,
            "{scenario}: {} packets",
            written.packets
        );
        assert!(
            written.secrets_left_out.is_none(),
            "{scenario}: {:?}",
            written.secrets_left_out
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn write_capture(name: &str, capture: &Capture, credentials: Credentials) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rdpscope-evidence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.pcapng"));
    std::fs::write(&path, capture.pcapng(credentials).bytes).expect("write the capture");
    path
}

fn any(rows: &[support::tshark::Row], what: impl Fn(&support::tshark::Row) -> bool) -> bool {
    rows.iter().any(what)
}

#[tokio::test]
async fn tshark_dissects_the_capture_of_a_successful_connection() {
    if !support::tshark::require("tshark_dissects_the_capture_of_a_successful_connection") {
        return;
    }
    let (_, capture) = probe_captured(Scenario::SuccessHybridEx).await;
    let file = write_capture("success", &capture, Credentials::Redact);
    let rows = support::tshark::packets(&file);
    let listing = format!("{rows:#?}");
    // Wireshark's own dissectors: TLS decrypted with the embedded secrets, CredSSP / NTLM,
    // T.125 and the MCS Connect Response.
    assert!(
        any(&rows, |r| r.protocol.starts_with("TLSv1.3")),
        "{listing}"
    );
    assert!(
        any(&rows, |r| r.info.contains("NTLMSSP_AUTH, User: \\rdpscope")),
        "{listing}"
    );
    assert!(any(&rows, |r| r.info.contains("ServerData")), "{listing}");
    assert!(
        any(&rows, |r| r.info.contains("attachUserConfirm")),
        "{listing}"
    );
    assert!(
        any(&rows, |r| r.info.contains("Confirm Active PDU")),
        "{listing}"
    );
    // rdpscope's packet comments name what Wireshark 4.0 leaves undecoded.
    assert!(
        any(&rows, |r| r
            .comment
            .contains("X.224 Connection Confirm (selected hybrid_ex")),
        "{listing}"
    );
    assert!(
        any(&rows, |r| r.comment.contains("Demand Active PDU")),
        "{listing}"
    );
    assert!(
        rows.last()
            .is_some_and(|r| r.comment.contains("connected in")),
        "{listing}"
    );
}

#[tokio::test]
async fn tshark_finds_no_password_material_in_the_capture() {
    if !support::tshark::require("tshark_finds_no_password_material_in_the_capture") {
        return;
    }
    let (_, capture) = probe_captured(Scenario::SuccessHybridEx).await;
    let blank = |value: &String| value.chars().all(|c| c == '0' || c == ',');
    let file = write_capture("redacted", &capture, Credentials::Redact);
    for field in [
        "ntlmssp.auth.ntresponse",
        "ntlmssp.auth.lmresponse",
        "ntlmssp.auth.sesskey",
        "credssp.authInfo",
    ] {
        let values = support::tshark::values(&file, field);
        assert!(!values.is_empty(), "{field}: not in the capture");
        assert!(values.iter().all(blank), "{field}: {values:?}");
    }
    // The same capture with the credentials kept has them: the check above can fail.
    let kept = write_capture("kept", &capture, Credentials::Keep);
    let values = support::tshark::values(&kept, "ntlmssp.auth.ntresponse");
    assert!(values.iter().any(|v| !blank(v)), "{values:?}");
}

#[tokio::test]
async fn tshark_shows_the_failing_pdu() {
    if !support::tshark::require("tshark_shows_the_failing_pdu") {
        return;
    }
    // A wrong password: the server's TSRequest with errorCode STATUS_LOGON_FAILURE.
    let (_, capture) = probe_captured(Scenario::WrongPassword).await;
    let file = write_capture("wrong_password", &capture, Credentials::Redact);
    let codes = support::tshark::values(&file, "credssp.errorCode");
    assert_eq!(codes, [(0xC000_006Du32 as i32).to_string()]);
    let rows = support::tshark::packets(&file);
    assert!(
        rows.last()
            .is_some_and(|r| r.comment.contains("failed at credssp")),
        "{rows:#?}"
    );

    // Set Error Info, then the Disconnect Provider Ultimatum.
    let (_, capture) = probe_captured(Scenario::ServerErrorInfo(7)).await;
    let file = write_capture("server_error_info", &capture, Credentials::Redact);
    let rows = support::tshark::packets(&file);
    assert!(
        any(&rows, |r| r.info.contains("disconnectProviderUltimatum")
            && r.comment.contains(
                "Set Error Info PDU (ERRINFO_SERVER_DENIED_CONNECTION)"
            )),
        "{rows:#?}"
    );

    // Without TLS Wireshark dissects the X.224 exchange itself.
    let (_, capture) = probe_captured(Scenario::NegotiationFailure(5)).await;
    let file = write_capture("negotiation_failure", &capture, Credentials::Redact);
    let rows = support::tshark::packets(&file);
    assert!(
        any(&rows, |r| r.info.contains("Negotiate Failure")),
        "{rows:#?}"
    );
    assert_eq!(
        support::tshark::values(&file, "rdp.negFailure.failureCode"),
        ["0x00000005"]
    );
}
