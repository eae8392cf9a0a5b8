//! impacket's `rdp_check.py` (0.13.1, PyPI, in the venv `.ci/install-impacket.sh` makes), a
//! third-party CredSSP client (bare NTLM, CredSSP version 2), against the mocks: its verdict
//! per scenario.
//!
//! `rdp_check.py` always connects to port 3389; `support/rdp_check_port.py` runs it with
//! that one port redirected to the mock's (port 0 as every test). It cuts the server's
//! public key out of the SubjectPublicKeyInfo at a fixed offset of 24 bytes, which fits an
//! RSA 2048 key only: the mocks serve the RSA 2048 fixture `windows-self-signed` here (with
//! the default P-256 key its pubKeyAuth never verifies). It says "Access Granted" whenever
//! the server answers the AUTHENTICATE with a pubKeyAuth, which it decrypts without
//! checking, and fails on anything else. Skipped with a notice without the venv, except
//! under `CI`.

use std::path::PathBuf;
use std::process::Command;

use rdpscope::mock::{MockServer, Scenario, MOCK_PASSWORD, MOCK_USER};

/// The venv's python and rdp_check.py.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let venv = std::env::var_os("RDPSCOPE_VENV")
        .map_or_else(|| PathBuf::from("/opt/rdpscope-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let script = venv.join("bin/rdp_check.py");
    if python.exists() && script.exists() {
        return Some((python, script));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "impacket is not installed in {} but CI is set; run .ci/install-impacket.sh",
        venv.display()
    );
    eprintln!(
        "SKIP impacket: no venv at {} (.ci/install-impacket.sh)",
        venv.display()
    );
    None
}

/// What rdp_check.py prints (its last line) against a mock of `scenario`.
async fn rdp_check(scenario: Scenario, password: &str) -> String {
    let (python, script) = tools().expect("checked by the caller");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let (chain, key) =
        rdpscope::fixtures::read_chain(&fixtures, "windows-self-signed").expect("fixture reads");
    let server = MockServer::builder()
        .scenario(scenario)
        .certificate_chain(chain, key)
        .start()
        .await
        .expect("mock starts");
    let port = server.addr().port().to_string();
    let harness = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/rdp_check_port.py"
    );
    let target = format!("{MOCK_USER}:{password}@127.0.0.1");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([harness, &port])
            .arg(script)
            .arg(target)
            .output()
            .expect("python runs")
    })
    .await
    .expect("join");
    server.shutdown().await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn impacket_rdp_check_against_the_mocks() {
    if tools().is_none() {
        return;
    }
    // Granted where the server accepts the credentials, over HYBRID and HYBRID_EX.
    for scenario in [Scenario::SuccessHybrid, Scenario::SuccessHybridEx] {
        assert_eq!(
            rdp_check(scenario, MOCK_PASSWORD).await,
            "[*] Access Granted",
            "{scenario}"
        );
    }
    // Refused before CredSSP: it names the missing HYBRID.
    let line = rdp_check(Scenario::NegotiationFailure(1), MOCK_PASSWORD).await;
    assert!(line.contains("doesn't support PROTOCOL_HYBRID"), "{line}");
    // A server that closes right after the AUTHENTICATE (how a server without errorCode
    // refuses a logon): not granted.
    let line = rdp_check(Scenario::CloseAfterNtlmAuthenticate, MOCK_PASSWORD).await;
    assert!(!line.contains("Access Granted"), "{line}");
    // A wrong password: not granted.
    let line = rdp_check(Scenario::SuccessHybridEx, "not-the-password").await;
    assert!(!line.contains("Access Granted"), "{line}");
}
