//! The real FreeRDP client (`xfreerdp` 2.11 from Debian's `freerdp2-x11`) against the mock
//! servers: it succeeds or fails the way each scenario says, so the mocks behave like real
//! servers to a client nobody here wrote.
//!
//! Each case starts a mock on 127.0.0.1:0 and a private Xvfb, runs xfreerdp with a 30 s
//! timeout, and checks its exit code (`XF_EXIT_*`) and a characteristic log line. The
//! expectation is derived from the scenario's [`Scenario::expected`] (what a correct probe
//! reports) by [`xfreerdp_verdict`]; the table below only picks the client's arguments.
//! Skipped with a notice when xfreerdp or Xvfb is missing, except under `CI`, where that fails.
//!
//! What xfreerdp 2.11 cannot tell us, and so is not in the table:
//! - HYBRID_EX: it offers PROTOCOL_SSL|PROTOCOL_HYBRID by default, and with `/sec:ext` it
//!   negotiates HYBRID_EX and then fails on its own ("cannot connect security layer because
//!   no protocol has been selected yet"): it has no Early User Authorization Result support,
//!   so `early_user_authorization_denied` cannot be told apart from success.
//! - `/sec:nla` against a TLS-only server: xfreerdp offers SSL|HYBRID, the server (rightly)
//!   selects SSL, and xfreerdp refuses that by its own policy (exit 133, no code).
//! - `black_hole`: a client-side timeout, not a server verdict.
//! - Without `/auth-only` a successful connection stays open until killed.

mod support;

use std::time::Duration;

use rdpscope::diagnosis::{codes, Code};
use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD, MOCK_USER};
use rdpscope::mock::{
    ERRINFO_SERVER_DENIED_CONNECTION, HYBRID_REQUIRED_BY_SERVER, INCONSISTENT_FLAGS,
    SSL_CERT_NOT_ON_SERVER, SSL_NOT_ALLOWED_BY_SERVER, SSL_REQUIRED_BY_SERVER,
    SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER, STATUS_LOGON_FAILURE,
};
use rdpscope::{FailureKind, Stage};
use support::tools::require_tools;
use support::xfreerdp::{exit, run_xfreerdp, xfreerdp_version, Xvfb, INSTALL_HINT, TOOLS};

/// Kill xfreerdp after this long; every case finishes in under 3 s.
const XFREERDP_TIMEOUT: Duration = Duration::from_secs(30);

/// A password the mock does not accept.
const WRONG_PASSWORD: &str = "not-the-mock-password";

/// One run: a scenario, the password xfreerdp sends, and its other arguments (besides
/// `/v:`, `/u:`, `/p:`, `/cert:ignore` and `/log-level:WARN`, which every run gets).
struct Case {
    name: &'static str,
    scenario: Scenario,
    password: &'static str,
    args: &'static [&'static str],
}

/// What xfreerdp must do: exit with `exit_code` and print every line fragment in `log`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    outcome: &'static str,
    exit_code: i32,
    log: Vec<String>,
}

impl Verdict {
    fn new(outcome: &'static str, exit_code: i32, log: &[&str]) -> Self {
        Verdict {
            outcome,
            exit_code,
            log: log.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// The scenarios whose server authenticates the user with CredSSP (before any failure).
fn authenticates(scenario: Scenario) -> bool {
    matches!(
        scenario,
        Scenario::SuccessHybrid
            | Scenario::SuccessHybridEx
            | Scenario::CloseDuring(_)
            | Scenario::EarlyUserAuthorizationDenied
    )
}

/// FreeRDP 2.11's name for an RDP_NEG_FAILURE code (libfreerdp/core/nego.c), as in its
/// "Error: <name>" log line.
fn freerdp_neg_failure_name(code: u32) -> String {
    match code {
        SSL_REQUIRED_BY_SERVER => "SSL_REQUIRED_BY_SERVER".into(),
        SSL_NOT_ALLOWED_BY_SERVER => "SSL_NOT_ALLOWED_BY_SERVER".into(),
        SSL_CERT_NOT_ON_SERVER => "SSL_CERT_NOT_ON_SERVER".into(),
        INCONSISTENT_FLAGS => "INCONSISTENT_FLAGS".into(),
        HYBRID_REQUIRED_BY_SERVER => "HYBRID_REQUIRED_BY_SERVER".into(),
        // FreeRDP 2 predates code 6 and prints it as unknown.
        other => format!("Unknown protocol security error {other}"),
    }
}

/// What xfreerdp 2.11 reports against `scenario` when it sends `password`, derived from what
/// a correct probe reports ([`Scenario::expected`]); `None` where xfreerdp has no crisp
/// verdict of its own (see the module docs).
fn xfreerdp_verdict(scenario: Scenario, password: &str) -> Option<Verdict> {
    use FailureKind as K;

    let expected = scenario.expected();
    let (stage, kind, ntstatus) = if password != MOCK_PASSWORD && authenticates(scenario) {
        // The probe reports credssp/logon_failure (STATUS_LOGON_FAILURE) here.
        (
            Stage::Credssp,
            Some(K::LogonFailure),
            Some(STATUS_LOGON_FAILURE),
        )
    } else {
        (
            expected.stage,
            expected.kind,
            expected.code.map(Code::value),
        )
    };
    let transport_failed = "ERRCONNECT_CONNECT_TRANSPORT_FAILED [0x0002000D]";
    let nego_failed = "ERRCONNECT_SECURITY_NEGO_CONNECT_FAILED [0x0002000C]";
    let verdict = match (stage, kind) {
        (_, None) => Verdict::new(
            "success",
            exit::SUCCESS,
            &["Authentication only, exit status 0"],
        ),
        (Stage::Credssp, Some(K::LogonFailure)) => {
            let code = ntstatus.expect("NTSTATUS of a logon failure");
            let name = codes::ntstatus(code).map_or("unknown", |c| c.name);
            // xfreerdp's exit code names the status (XF_EXIT_* in FreeRDP's xf_client.h).
            let exit_code = match code {
                0xC000_0234 => exit::ACCOUNT_LOCKED_OUT,
                0xC000_0071 => exit::PASSWORD_EXPIRED,
                0xC000_0224 => exit::PASSWORD_MUST_CHANGE,
                0xC000_0072 => exit::ACCOUNT_DISABLED,
                0xC000_0193 => exit::ACCOUNT_EXPIRED,
                0xC000_015B => exit::LOGON_TYPE_NOT_GRANTED,
                _ => exit::LOGON_FAILURE,
            };
            let mut verdict = Verdict::new("logon failure", exit_code, &[]);
            verdict.log.push(format!(
                "SPNEGO received NTSTATUS: {name} [0x{code:08X}] from server"
            ));
            verdict
        }
        (Stage::X224, Some(K::NegotiationFailure)) => {
            let code = expected
                .code
                .map(Code::value)
                .expect("negotiation failure code");
            let mut verdict = Verdict::new(
                "negotiation failure",
                exit::NEGO_FAILURE,
                &["Protocol Security Negotiation Failure", nego_failed],
            );
            verdict
                .log
                .push(format!("Error: {}", freerdp_neg_failure_name(code)));
            verdict
        }
        // Standard RDP Security, no RDP_NEG_RSP, or an unoffered protocol: xfreerdp, when it
        // did not offer PROTOCOL_RDP (/sec:tls), refuses the selection.
        (Stage::X224, Some(K::UnsupportedSecurity)) => {
            Verdict::new("negotiation failure", exit::NEGO_FAILURE, &[nego_failed])
        }
        (
            Stage::X224
            | Stage::BasicSettings
            | Stage::ChannelConnection
            | Stage::SecureSettings
            | Stage::Capabilities
            | Stage::Finalization,
            Some(K::ClosedByPeer),
        ) => Verdict::new(
            "transport failure (closed)",
            exit::CONNECT_TRANSPORT_FAILED,
            &[transport_failed],
        ),
        // Not RDP: xfreerdp fails in the X.224 exchange either way, as a read failure when
        // the reply ends before a TPKT/fast-path header parses, else as a negotiation failure.
        (Stage::X224, Some(K::NotRdp | K::ProtocolError)) => match scenario {
            Scenario::TlsFirstServer | Scenario::BadTpktVersion => {
                Verdict::new("negotiation failure", exit::NEGO_FAILURE, &[nego_failed])
            }
            _ => Verdict::new(
                "transport failure",
                exit::CONNECT_TRANSPORT_FAILED,
                &[transport_failed],
            ),
        },
        (Stage::Tls, Some(K::TlsAlert | K::ClosedByPeer)) => Verdict::new(
            "TLS failure",
            exit::TLS_CONNECT_FAILED,
            &["ERRCONNECT_TLS_CONNECT_FAILED [0x00020008]"],
        ),
        (Stage::Licensing, Some(K::LicensingError)) => Verdict::new(
            "licensing failure",
            exit::CONNECT_TRANSPORT_FAILED,
            &["license connection sequence aborted", transport_failed],
        ),
        (Stage::SecureSettings, Some(K::ServerErrorInfo)) => {
            let errinfo = expected.code.map(Code::value).expect("errinfo code");
            let name = codes::errinfo(errinfo).map_or("unknown", |c| c.name);
            let mut verdict = Verdict::new("server refused the session", exit::CONN_FAILED, &[]);
            // FreeRDP's last error for ERRINFO codes is 0x00010000 | code.
            verdict
                .log
                .push(format!("{name} [0x{:08X}]", 0x0001_0000 | errinfo));
            verdict
        }
        _ => return None,
    };
    Some(verdict)
}

async fn run_case(case: &Case) {
    if !require_tools(TOOLS, INSTALL_HINT, case.name) {
        return;
    }
    let verdict = xfreerdp_verdict(case.scenario, case.password)
        .unwrap_or_else(|| panic!("{}: no xfreerdp verdict for {}", case.name, case.scenario));

    let dir = tempfile::tempdir().expect("tempdir");
    let xvfb = Xvfb::start(&dir.path().join("xvfb.log")).expect("Xvfb starts");
    let server = MockServer::builder()
        .scenario(case.scenario)
        .start()
        .await
        .expect("mock server starts");
    let addr = server.addr();
    assert!(addr.ip().is_loopback(), "mock on {addr}");

    let mut args = vec![
        format!("/v:{addr}"),
        format!("/u:{MOCK_USER}"),
        format!("/p:{}", case.password),
        "/cert:ignore".to_owned(),
        "/log-level:WARN".to_owned(),
    ];
    args.extend(case.args.iter().map(|a| (*a).to_owned()));
    let display = xvfb.display.clone();
    let dir_path = dir.path().to_owned();
    let run = tokio::task::spawn_blocking(move || {
        run_xfreerdp(&display, &args, &dir_path, XFREERDP_TIMEOUT)
    })
    .await
    .expect("join")
    .expect("xfreerdp runs");
    server.shutdown().await;

    let context = || {
        format!(
            "{name}: scenario {scenario}, expected {outcome} (exit {code}); {version}\n\
             $ {command}\nexit {got:?} after {elapsed:?}{timeout}\n{log}",
            name = case.name,
            scenario = case.scenario,
            outcome = verdict.outcome,
            code = verdict.exit_code,
            version = xfreerdp_version(&xvfb.display),
            command = run.command,
            got = run.code,
            elapsed = run.elapsed,
            timeout = if run.timed_out {
                " (killed at the timeout)"
            } else {
                ""
            },
            log = run.log,
        )
    };
    assert!(!run.timed_out, "{}", context());
    assert_eq!(run.code, Some(verdict.exit_code), "{}", context());
    for line in &verdict.log {
        assert!(
            run.log.contains(line.as_str()),
            "missing `{line}`\n{}",
            context()
        );
    }
    eprintln!(
        "{}: {} -> exit {} in {:?}",
        case.name, case.scenario, verdict.exit_code, run.elapsed
    );
}

/// The table: one `#[tokio::test]` per row (so rows run in parallel, each with its own Xvfb
/// and mock) and the `CASES` slice the coverage test reads.
macro_rules! cases {
    ($($name:ident: $scenario:expr, $password:expr, [$($arg:expr),* $(,)?];)*) => {
        const CASES: &[Case] = &[$(Case {
            name: stringify!($name),
            scenario: $scenario,
            password: $password,
            args: &[$($arg),*],
        }),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let case = CASES.iter().find(|c| c.name == stringify!($name)).expect("case");
                run_case(case).await;
            }
        )*
    };
}

cases! {
    // The three successes. /auth-only in 2.11 runs the whole connection sequence (the mock
    // logs "Connection sequence completed") and then exits 0.
    success_tls: Scenario::SuccessTls, MOCK_PASSWORD, ["/auth-only", "/sec:tls"];
    success_hybrid: Scenario::SuccessHybrid, MOCK_PASSWORD, ["/auth-only", "/sec:nla"];
    // FreeRDP 2 offers SSL|HYBRID only; the HYBRID_EX server falls back to HYBRID.
    success_hybrid_ex: Scenario::SuccessHybridEx, MOCK_PASSWORD, ["/auth-only"];
    // Wrong password: STATUS_LOGON_FAILURE in the CredSSP exchange.
    wrong_password_hybrid: Scenario::SuccessHybrid, WRONG_PASSWORD, ["/auth-only", "/sec:nla"];
    wrong_password_hybrid_ex: Scenario::SuccessHybridEx, WRONG_PASSWORD, ["/auth-only"];
    wrong_password_close_after_credssp: Scenario::CloseDuring(Stage::BasicSettings), WRONG_PASSWORD, ["/auth-only"];
    wrong_password: Scenario::WrongPassword, MOCK_PASSWORD, ["/auth-only"];
    credssp_account_locked_out: Scenario::CredsspError(0xC000_0234), MOCK_PASSWORD, ["/auth-only"];
    credssp_password_expired: Scenario::CredsspError(0xC000_0071), MOCK_PASSWORD, ["/auth-only"];
    credssp_account_disabled: Scenario::CredsspError(0xC000_0072), MOCK_PASSWORD, ["/auth-only"];
    credssp_password_must_change: Scenario::CredsspError(0xC000_0224), MOCK_PASSWORD, ["/auth-only"];
    credssp_account_expired: Scenario::CredsspError(0xC000_0193), MOCK_PASSWORD, ["/auth-only"];
    credssp_logon_type_not_granted: Scenario::CredsspError(0xC000_015B), MOCK_PASSWORD, ["/auth-only"];
    // RDP_NEG_FAILURE 1-6, each with the offer a real server would answer that way.
    negotiation_failure_ssl_required: Scenario::NegotiationFailure(SSL_REQUIRED_BY_SERVER), MOCK_PASSWORD, ["/auth-only", "/sec:rdp"];
    negotiation_failure_ssl_not_allowed: Scenario::NegotiationFailure(SSL_NOT_ALLOWED_BY_SERVER), MOCK_PASSWORD, ["/auth-only", "/sec:tls"];
    negotiation_failure_ssl_cert_not_on_server: Scenario::NegotiationFailure(SSL_CERT_NOT_ON_SERVER), MOCK_PASSWORD, ["/auth-only", "/sec:tls"];
    negotiation_failure_inconsistent_flags: Scenario::NegotiationFailure(INCONSISTENT_FLAGS), MOCK_PASSWORD, ["/auth-only"];
    negotiation_failure_hybrid_required: Scenario::NegotiationFailure(HYBRID_REQUIRED_BY_SERVER), MOCK_PASSWORD, ["/auth-only", "/sec:tls"];
    negotiation_failure_ssl_with_user_auth_required: Scenario::NegotiationFailure(SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER), MOCK_PASSWORD, ["/auth-only", "/sec:tls"];
    // Security selections xfreerdp did not offer. (With its default offer, which includes
    // PROTOCOL_RDP, it accepts Standard RDP Security and times out waiting for activation.)
    selects_standard_rdp_security: Scenario::SelectsStandardRdpSecurity, MOCK_PASSWORD, ["/auth-only", "/sec:tls"];
    no_negotiation_response: Scenario::NoNegotiationResponse, MOCK_PASSWORD, ["/auth-only", "/sec:tls"];
    selects_unoffered_protocol: Scenario::SelectsUnofferedProtocol, MOCK_PASSWORD, ["/auth-only"];
    // Transport and framing failures in the X.224 exchange.
    close_on_accept: Scenario::CloseOnAccept, MOCK_PASSWORD, ["/auth-only"];
    close_after_connection_request: Scenario::CloseAfterConnectionRequest, MOCK_PASSWORD, ["/auth-only"];
    reset_after_connection_request: Scenario::ResetAfterConnectionRequest, MOCK_PASSWORD, ["/auth-only"];
    http_server: Scenario::HttpServer, MOCK_PASSWORD, ["/auth-only"];
    ssh_server: Scenario::SshServer, MOCK_PASSWORD, ["/auth-only"];
    tls_first_server: Scenario::TlsFirstServer, MOCK_PASSWORD, ["/auth-only"];
    garbage_reply: Scenario::GarbageReply, MOCK_PASSWORD, ["/auth-only"];
    truncated_tpkt: Scenario::TruncatedTpkt, MOCK_PASSWORD, ["/auth-only"];
    bad_tpkt_version: Scenario::BadTpktVersion, MOCK_PASSWORD, ["/auth-only"];
    // TLS, after CredSSP, licensing.
    tls_handshake_failure: Scenario::TlsHandshakeFailure, MOCK_PASSWORD, ["/auth-only"];
    weak_cipher_suites_only: Scenario::WeakCipherSuitesOnly, MOCK_PASSWORD, ["/auth-only"];
    close_during_tls_handshake: Scenario::CloseDuringTlsHandshake, MOCK_PASSWORD, ["/auth-only"];
    close_after_credssp: Scenario::CloseDuring(Stage::BasicSettings), MOCK_PASSWORD, ["/auth-only"];
    close_during_channel_connection: Scenario::CloseDuring(Stage::ChannelConnection), MOCK_PASSWORD, ["/auth-only"];
    close_during_secure_settings: Scenario::CloseDuring(Stage::SecureSettings), MOCK_PASSWORD, ["/auth-only"];
    close_during_capabilities: Scenario::CloseDuring(Stage::Capabilities), MOCK_PASSWORD, ["/auth-only"];
    close_during_finalization: Scenario::CloseDuring(Stage::Finalization), MOCK_PASSWORD, ["/auth-only"];
    certificate_changes_every_connection: Scenario::CertificateChangesEveryConnection, MOCK_PASSWORD, ["/auth-only"];
    licensing_error_no_license_server: Scenario::LicensingErrorNoLicenseServer, MOCK_PASSWORD, ["/auth-only"];
    // Set Error Info, with the full client (no /auth-only), as a user would meet it.
    server_error_info_denied_connection: Scenario::ServerErrorInfo(ERRINFO_SERVER_DENIED_CONNECTION), MOCK_PASSWORD, [];
    server_error_info_insufficient_privileges: Scenario::ServerErrorInfo(0x9), MOCK_PASSWORD, [];
    server_error_info_fresh_credentials_required: Scenario::ServerErrorInfo(0xA), MOCK_PASSWORD, [];
    server_error_info_rpc_initiated_disconnect: Scenario::ServerErrorInfo(0x1), MOCK_PASSWORD, [];
}

/// Every scenario xfreerdp has a verdict on is in the table, every NLA scenario with a
/// successful CredSSP is also tried with a wrong password, and no row lacks a verdict.
#[test]
fn every_scenario_with_an_xfreerdp_verdict_has_a_case() {
    for case in CASES {
        assert!(
            xfreerdp_verdict(case.scenario, case.password).is_some(),
            "{}: no verdict",
            case.name
        );
    }
    // xfreerdp runs with /cert:ignore: it has nothing to say about the certificate scenarios.
    for &scenario in Scenario::ALL
        .iter()
        .filter(|s| !matches!(s, Scenario::Certificate(_)))
    {
        if xfreerdp_verdict(scenario, MOCK_PASSWORD).is_some() {
            assert!(
                CASES
                    .iter()
                    .any(|c| c.scenario == scenario && c.password == MOCK_PASSWORD),
                "{scenario}: xfreerdp has a verdict but no case"
            );
        }
    }
    for scenario in [Scenario::SuccessHybrid, Scenario::SuccessHybridEx] {
        assert!(
            CASES
                .iter()
                .any(|c| c.scenario == scenario && c.password != MOCK_PASSWORD),
            "{scenario}: no wrong-password case"
        );
    }
    // The scenarios left out on purpose: xfreerdp's own client-side timeouts (black hole,
    // slow server, every silent server), failures whose xfreerdp verdict was not observed here (nothing listening,
    // TLS 1.0 only, close after NEGOTIATE or AUTHENTICATE), HYBRID_EX-only behaviour that FreeRDP 2
    // cannot negotiate, and certificates (/cert:ignore).
    let without: Vec<&str> = Scenario::ALL
        .iter()
        .filter(|s| !matches!(s, Scenario::Certificate(_)))
        .filter(|s| xfreerdp_verdict(**s, MOCK_PASSWORD).is_none())
        .map(|s| s.name())
        .collect();
    assert_eq!(
        without,
        [
            "nothing_listening",
            "black_hole",
            "tls_version_too_old",
            "tls11_only",
            "early_user_authorization_denied",
            "close_after_ntlm_negotiate",
            "old_credssp_skewed_clock",
            "close_after_ntlm_authenticate",
            "slow_server",
            "silent_during_tls_handshake",
            "silent_after_ntlm_negotiate",
            "silent_after_ntlm_authenticate",
            "silent_after_ts_credentials",
            "silent_after_credssp",
            "silent_during_channel_connection",
            "silent_during_secure_settings",
            "silent_during_capabilities",
            "silent_during_finalization"
        ]
    );
}
