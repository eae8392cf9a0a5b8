//! aardwolf (0.2.16 with asyauth 0.0.23, PyPI, in the venv `.ci/install-aardwolf.sh` makes),
//! an asyncio RDP client whose CredSSP wraps NTLM in SPNEGO, against the mocks: its verdict
//! per scenario, through `support/aardwolf_connect.py` (port 0 as every test, the password
//! on stdin), which prints "granted" or "refused: " and aardwolf's own error.
//!
//! What the harness and the mocks cannot do with aardwolf, said here rather than bent:
//! - aardwolf builds its NTLMv2 response on its own clock, not on the CHALLENGE's
//!   MsvAvTimestamp (MS-NLMP 3.3.2 says a client SHOULD use it; Windows servers take the
//!   client's timestamp as sent). The mocks' NTLM server, sspi 0.23's, rebuilds the response
//!   with its own timestamp, so its keys never match aardwolf's: aardwolf as shipped is
//!   refused with STATUS_LOGON_FAILURE whatever the password (asserted below). The other
//!   runs pass `--server-timestamp`, which makes aardwolf take the MsvAvTimestamp.
//! - aardwolf joins the I/O and static channels but not the user channel, which IronRDP's
//!   acceptor requires (Windows does not): past CredSSP the connection stops at the channel
//!   joins, and aardwolf waits for its licensing timeout. The runs stop after CredSSP
//!   (`--auth-only`, aardwolf's own option), so a TLS-only scenario is "auth_only requires
//!   CredSSP/NLA" to it.
//!
//! What aardwolf cannot tell:
//! - the certificate: it never checks it (an expired one is granted, asserted below);
//! - an NTSTATUS in errorCode answering its first message (the byte-script scenarios such as
//!   `credssp_account_locked_out`): it looks for a negoToken first and says "SSPI auth not
//!   supported by server"; it names the errorCode only after its AUTHENTICATE.
//!
//! Skipped with a notice without the venv, except under `CI`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rdpscope::mock::{MockServer, MockServerBuilder, Scenario, MOCK_PASSWORD, MOCK_USER};

/// The venv's python, when aardwolf is installed there.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("RDPSCOPE_VENV")
        .map_or_else(|| PathBuf::from("/opt/rdpscope-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args(["-c", "import aardwolf"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "aardwolf is not installed in {} but CI is set; run .ci/install-aardwolf.sh",
        venv.display()
    );
    eprintln!(
        "SKIP aardwolf: not installed in {} (.ci/install-aardwolf.sh)",
        venv.display()
    );
    None
}

/// How the harness runs aardwolf.
#[derive(Clone, Copy)]
enum Run {
    /// aardwolf as shipped, stopping after CredSSP.
    AsShipped,
    /// Stopping after CredSSP, its NTLMv2 response on the server's MsvAvTimestamp.
    ServerTimestamp,
}

/// aardwolf's verdict against a mock started from `builder`.
async fn verdict(python: &PathBuf, builder: MockServerBuilder, password: &str, run: Run) -> String {
    let server = builder.start().await.expect("mock starts");
    let harness = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/aardwolf_connect.py"
    );
    let mut command = Command::new(python);
    command
        .args([harness, &server.addr().port().to_string(), MOCK_USER])
        .arg("--auth-only");
    if matches!(run, Run::ServerTimestamp) {
        command.arg("--server-timestamp");
    }
    let password = format!("{password}\n");
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(password.as_bytes())
            .expect("password written");
        child.wait_with_output().expect("python ends")
    })
    .await
    .expect("join");
    server.shutdown().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().last().map(str::to_owned).unwrap_or_else(|| {
        panic!(
            "no verdict; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn mock(scenario: Scenario) -> MockServerBuilder {
    MockServer::builder().scenario(scenario)
}

#[tokio::test]
async fn aardwolf_against_the_mocks() {
    let Some(python) = python() else {
        return;
    };
    let run = |builder, password, run| {
        let python = python.clone();
        async move { verdict(&python, builder, password, run).await }
    };
    let logon_failure = "refused: CredSSP - Server sent an error! Code: 0xc000006d";

    // Granted over HYBRID and HYBRID_EX: SPNEGO with mechListMIC, pubKeyAuth, TSCredentials
    // and (HYBRID_EX) the Early User Authorization Result.
    for scenario in [Scenario::SuccessHybrid, Scenario::SuccessHybridEx] {
        let line = run(mock(scenario), MOCK_PASSWORD, Run::ServerTimestamp).await;
        assert_eq!(line, "granted", "{scenario}");
    }
    // A wrong password, answered after its AUTHENTICATE: the NTSTATUS named.
    let line = run(
        mock(Scenario::WrongPassword),
        MOCK_PASSWORD,
        Run::ServerTimestamp,
    )
    .await;
    assert_eq!(line, logon_failure);
    let line = run(
        mock(Scenario::SuccessHybridEx),
        "not-the-password",
        Run::ServerTimestamp,
    )
    .await;
    assert_eq!(line, logon_failure);
    // Authenticated but refused in the Early User Authorization Result.
    let line = run(
        mock(Scenario::EarlyUserAuthorizationDenied),
        MOCK_PASSWORD,
        Run::ServerTimestamp,
    )
    .await;
    assert!(line.contains("(early user auth)"), "{line}");
    // RDP_NEG_FAILURE: the code named.
    for (code, name) in [
        (
            rdpscope::mock::SSL_REQUIRED_BY_SERVER,
            "SSL_REQUIRED_BY_SERVER",
        ),
        (
            rdpscope::mock::HYBRID_REQUIRED_BY_SERVER,
            "HYBRID_REQUIRED_BY_SERVER",
        ),
    ] {
        let line = run(
            mock(Scenario::NegotiationFailure(code)),
            MOCK_PASSWORD,
            Run::ServerTimestamp,
        )
        .await;
        assert_eq!(
            line,
            format!("refused: Server refused our connection request! Reason: {name}")
        );
    }
    // A close right after the AUTHENTICATE: not granted.
    let line = run(
        mock(Scenario::CloseAfterNtlmAuthenticate),
        MOCK_PASSWORD,
        Run::ServerTimestamp,
    )
    .await;
    assert_eq!(
        line,
        "refused: Connection closed during CredSSP authentication!"
    );

    // What it cannot tell: an expired certificate is granted.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let (chain, key) = rdpscope::fixtures::read_chain(&fixtures, "expired").expect("fixture");
    let expired = mock(Scenario::SuccessHybridEx).certificate_chain(chain, key);
    let line = run(expired, MOCK_PASSWORD, Run::ServerTimestamp).await;
    assert_eq!(line, "granted");
    // ... nor an NTSTATUS answering its first message.
    let line = run(
        mock(Scenario::CredsspError(0xC000_0234)),
        MOCK_PASSWORD,
        Run::ServerTimestamp,
    )
    .await;
    assert_eq!(line, "refused: SSPI auth not supported by server");

    // What the mocks cannot accept: aardwolf's NTLMv2 response on its own clock.
    let line = run(mock(Scenario::SuccessHybrid), MOCK_PASSWORD, Run::AsShipped).await;
    assert_eq!(line, logon_failure);
}
