//! rdesktop (Debian 12's 1.9.0, `.ci/install-rdesktop.sh`) against the mocks, each run on
//! its own Xvfb with a 30 s kill (a bound on a hang, never asserted), the password and the
//! answer to its certificate prompt on stdin: its exit code (sysexits: 1 for a refused
//! certificate, 76 EX_PROTOCOL for the rest) and the line it prints, per scenario.
//!
//! What rdesktop cannot do with the mocks, said here rather than bent:
//! - NLA: Debian's rdesktop does CredSSP with Kerberos only (GSSAPI); against the mocks'
//!   NTLM it says "Failed to initialize NLA, do you have correct Kerberos TGT initialized ?"
//!   (asserted). Its CredSSP also needs an RSA server key: with the mocks' default P-256
//!   certificate it prints "Peer's certificate public key algorithm is not RSA" and crashes
//!   (SIGSEGV), so the NLA case serves the RSA 2048 fixture `windows-self-signed`.
//! - A whole session: past TLS it goes through MCS, the channels, Client Info, licensing and
//!   capabilities, then waits for the server's Synchronize and Control PDUs before sending
//!   its Font List, while IronRDP's acceptor answers only after the Font List: the session
//!   never finishes (a Windows server answers at once). So success is not a case here.
//! - Set Error Info before licensing (`server_error_info_denied_connection`): it exits 76
//!   without naming the ERRINFO code (asserted); a licensing Error Alert it prints ("License
//!   error alert from server: No license server") and then hangs, so that is not a case.
//! - A certificate's name: it lists only the untrusted issuer for `certificate_wrong_name`.
//!
//! Skipped with a notice without rdesktop or Xvfb, except under `CI`.

mod support;

use std::time::Duration;

use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD, MOCK_USER};
use support::tools::require_tools;
use support::xfreerdp::{run_on_display, Xvfb};

const TOOLS: &[&str] = &["rdesktop", "Xvfb"];
const INSTALL_HINT: &str = "run .ci/install-rdesktop.sh and .ci/install-freerdp.sh";
/// The kill bound of one run.
const TIMEOUT: Duration = Duration::from_secs(30);
/// rdesktop's exit codes (sysexits.h and its own).
const EXIT_CERTIFICATE_REFUSED: i32 = 1;
const EX_PROTOCOL: i32 = 76;

/// One run of rdesktop against `scenario`, trusting the certificate or not, optionally with
/// a fixture certificate; asserts its exit code and that its output has every `lines`.
async fn case(
    name: &str,
    scenario: Scenario,
    trust: bool,
    fixture: Option<&str>,
    exit_code: i32,
    lines: &[&str],
) {
    if !require_tools(TOOLS, INSTALL_HINT, name) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let xvfb = Xvfb::start(&dir.path().join("xvfb.log")).expect("Xvfb starts");
    let mut builder = MockServer::builder().scenario(scenario);
    if let Some(fixture) = fixture {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let (chain, key) = rdpscope::fixtures::read_chain(&fixtures, fixture).expect("fixture");
        builder = builder.certificate_chain(chain, key);
    }
    let server = builder.start().await.expect("mock server starts");
    let args = vec![
        "-u".to_owned(),
        MOCK_USER.to_owned(),
        "-p".to_owned(),
        "-".to_owned(),
        server.addr().to_string(),
    ];
    let answer = if trust { "yes" } else { "no" };
    let stdin = format!("{MOCK_PASSWORD}\n{answer}\n");
    let display = xvfb.display.clone();
    let path = dir.path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        run_on_display(
            "rdesktop",
            &display,
            &args,
            stdin.as_bytes(),
            &path,
            TIMEOUT,
        )
    })
    .await
    .expect("join")
    .expect("rdesktop runs");
    server.shutdown().await;

    let context = || {
        format!(
            "{name}: {scenario}\n$ {}\nexit {:?}{}\n{}",
            run.command,
            run.code,
            if run.timed_out {
                " (killed at the bound)"
            } else {
                ""
            },
            run.log
        )
    };
    assert!(!run.timed_out, "{}", context());
    assert_eq!(run.code, Some(exit_code), "{}", context());
    for line in lines {
        assert!(run.log.contains(line), "missing `{line}`\n{}", context());
    }
}

#[tokio::test]
async fn negotiation_failure_ssl_required() {
    case(
        "rdesktop negotiation_failure_ssl_required",
        Scenario::NegotiationFailure(rdpscope::mock::SSL_REQUIRED_BY_SERVER),
        true,
        None,
        EX_PROTOCOL,
        &["Failed to connect, SSL required by server."],
    )
    .await;
}

#[tokio::test]
async fn negotiation_failure_hybrid_required() {
    case(
        "rdesktop negotiation_failure_hybrid_required",
        Scenario::NegotiationFailure(rdpscope::mock::HYBRID_REQUIRED_BY_SERVER),
        true,
        None,
        EX_PROTOCOL,
        &["Failed to connect, CredSSP required by server"],
    )
    .await;
}

/// The mocks' self-signed certificate, refused at rdesktop's prompt.
#[tokio::test]
async fn untrusted_certificate_refused() {
    case(
        "rdesktop untrusted_certificate_refused",
        Scenario::SuccessTls,
        false,
        None,
        EXIT_CERTIFICATE_REFUSED,
        &[
            "Certificate issuer is not trusted by this system.",
            "Certificate error during TLS handshake",
        ],
    )
    .await;
}

/// An expired certificate: rdesktop names it among the reasons, then the refusal.
#[tokio::test]
async fn expired_certificate_refused() {
    case(
        "rdesktop expired_certificate_refused",
        Scenario::Certificate("expired"),
        false,
        None,
        EXIT_CERTIFICATE_REFUSED,
        &[
            "Certificate has expired.",
            "Certificate error during TLS handshake",
        ],
    )
    .await;
}

/// NLA with NTLM: Debian's rdesktop knows only Kerberos, falls back to a TLS offer, which
/// the NLA server refuses.
#[tokio::test]
async fn nla_needs_kerberos() {
    case(
        "rdesktop nla_needs_kerberos",
        Scenario::SuccessHybridEx,
        true,
        Some("windows-self-signed"),
        EX_PROTOCOL,
        &[
            "Failed to initialize NLA, do you have correct Kerberos TGT initialized ?",
            "Failed to connect, CredSSP required by server",
        ],
    )
    .await;
}

/// Set Error Info after Client Info: a protocol error to rdesktop, the code not named.
#[tokio::test]
async fn server_error_info_not_named() {
    case(
        "rdesktop server_error_info_not_named",
        Scenario::ServerErrorInfo(rdpscope::mock::ERRINFO_SERVER_DENIED_CONNECTION),
        true,
        None,
        EX_PROTOCOL,
        &["Connection established using SSL."],
    )
    .await;
}
