//! `scan` and `probe` against the real FreeRDP shadow server (`freerdp-shadow-cli` 2.11,
//! Debian's `freerdp2-shadow-x11`) sharing a private Xvfb, with `/sec:nla` and an NTLM SAM
//! file made by `winpr-hash`: code nobody here wrote, on 127.0.0.1.
//!
//! The shadow server cannot bind port 0 (`/port:0` is refused), so the test binds
//! 127.0.0.1:0 itself, releases the port and hands it over; the server's own certificate is
//! generated under a private `HOME`. Skipped with a notice when a program is missing, except
//! under `CI`, where that fails.

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdpscope::cert::CertPolicy;
use rdpscope::scan::{RiskCode, Verdict};
use rdpscope::{Credentials, FailureKind, ProbeOptions, Secret, Stage, Step};
use support::tools::{find_tool, require_tools};
use support::xfreerdp::Xvfb;

const TOOLS: &[&str] = &["freerdp-shadow-cli", "winpr-hash", "Xvfb"];
const INSTALL_HINT: &str =
    "run .ci/install-freerdp.sh (apt-get install freerdp2-shadow-x11 winpr-utils xvfb)";
const USER: &str = "shadowtester";
const PASSWORD: &str = "Sh4dow-test-pass";

/// A shadow server with NLA on its own Xvfb; killed and reaped on drop.
struct Shadow {
    addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
    _xvfb: Xvfb,
}

impl Shadow {
    /// Starts a server; a start that fails to open its fresh display (about one run in
    /// five here: the shadow server's X11 connection, not rdpscope) is retried twice, each
    /// time on a new Xvfb.
    fn start() -> Shadow {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Shadow::try_start() {
                Ok(shadow) => return shadow,
                Err(log) => failures.push(log),
            }
        }
        panic!(
            "the shadow server did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start() -> Result<Shadow, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let program = |name: &str| find_tool(name).unwrap_or_else(|| name.into());
        let hash = Command::new(program("winpr-hash"))
            .args(["-u", USER, "-p", PASSWORD, "-f", "sam"])
            .output()
            .expect("winpr-hash runs");
        assert!(hash.status.success(), "{hash:?}");
        let sam = dir.path().join("sam");
        std::fs::write(&sam, &hash.stdout).expect("write the SAM file");
        let xvfb = Xvfb::start(&dir.path().join("xvfb.log")).expect("Xvfb starts");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program("freerdp-shadow-cli"))
            .arg(format!("/port:{port}"))
            .arg("/bind-address:127.0.0.1")
            .arg("/sec:nla")
            .arg(format!("/sam-file:{}", sam.display()))
            .env("HOME", dir.path())
            .env("DISPLAY", &xvfb.display)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("shadow.log")).expect("log"))
            .spawn()
            .expect("freerdp-shadow-cli starts");
        let mut shadow = Shadow {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            dir,
            _xvfb: xvfb,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(shadow.addr).is_err() {
            if let Ok(Some(status)) = shadow.child.try_wait() {
                return Err(format!("exited ({status}):\n{}", shadow.log()));
            }
            assert!(
                Instant::now() < deadline,
                "the shadow server does not listen:\n{}",
                shadow.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(shadow)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shadow.log")).unwrap_or_default()
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe_options(password: &str) -> ProbeOptions {
    ProbeOptions {
        credentials: Some(Credentials {
            user: USER.to_owned(),
            domain: None,
            password: Secret::new(password.to_owned()),
        }),
        cert_policy: CertPolicy::Warn,
        stage_timeout: Duration::from_secs(10),
        ..ProbeOptions::default()
    }
}

/// One server for both checks: the shadow server is started once (two at a time on two
/// Xvfbs sometimes fail to open their display).
#[tokio::test]
async fn a_shadow_server_with_nla() {
    if !require_tools(TOOLS, INSTALL_HINT, "a_shadow_server_with_nla") {
        return;
    }
    let shadow = Shadow::start();
    // Boxed: the scan's and the probe's futures together overflow a debug test's stack.
    Box::pin(requires_nla_and_gives_ntlm_info(&shadow)).await;
    Box::pin(connects_with_the_password_and_closes_after_authenticate_without(&shadow)).await;
}

/// `scan`: HYBRID only, NTLM info without credentials.
async fn requires_nla_and_gives_ntlm_info(shadow: &Shadow) {
    let mut options = rdpscope::scan::ScanOptions::default();
    options.timeout = Duration::from_secs(10);
    let report = rdpscope::scan::scan(&shadow.addr.into(), &options).await;
    let verdicts: Vec<(&str, Verdict, Option<u32>)> = report
        .protocols
        .iter()
        .map(|p| (p.protocol, p.verdict, p.neg_failure_code))
        .collect();
    // FreeRDP 2 shadow with /sec:nla: HYBRID only (HYBRID_EX needs /sec-ext); everything
    // else is refused with HYBRID_REQUIRED_BY_SERVER.
    assert_eq!(
        verdicts,
        [
            ("rdp", Verdict::Refused, Some(5)),
            ("tls", Verdict::Refused, Some(5)),
            ("hybrid", Verdict::Accepted, None),
            ("hybrid_ex", Verdict::Refused, Some(5)),
            ("rdstls", Verdict::Refused, Some(5)),
            ("rdsaad", Verdict::Refused, Some(5)),
        ],
        "{report:#?}\n{}",
        shadow.log()
    );
    assert_eq!(report.nla_required, Some(true));
    let ntlm = report.ntlm.as_ref().expect("NTLM info without credentials");
    assert!(ntlm.netbios_computer.is_some(), "{ntlm:?}");
    assert!(ntlm.product_version.is_some(), "{ntlm:?}");
    assert!(report.credssp_version.is_some_and(|v| v >= 2));
    let tls = report.tls.as_ref().expect("tls over hybrid");
    assert_eq!(tls.carrier, "hybrid");
    assert!(tls.versions.iter().any(|v| v.accepted));
    assert!(report.certificate.is_some());
    let risks: Vec<RiskCode> = report.risks.iter().map(|r| r.code).collect();
    assert!(!risks.contains(&RiskCode::NlaNotRequired), "{risks:?}");
    assert!(report.error.is_none());
}

/// `probe`: connected with the password; without it, closed right after the AUTHENTICATE.
async fn connects_with_the_password_and_closes_after_authenticate_without(shadow: &Shadow) {
    let target = shadow.addr.into();
    let report = rdpscope::probe(&target, &probe_options(PASSWORD)).await;
    assert!(
        report.error.is_none(),
        "{}\n{}",
        report.verdict(),
        shadow.log()
    );
    assert!(report.credentials_sent);

    // FreeRDP's server sends no errorCode: it closes right after the AUTHENTICATE.
    let report = rdpscope::probe(&target, &probe_options("not-the-password")).await;
    let error = report.error.as_ref().expect("a failure");
    assert_eq!(
        (error.stage, error.kind, error.after_step),
        (
            Stage::Credssp,
            FailureKind::ClosedByPeer,
            Some(Step::AuthenticateSent)
        ),
        "{}",
        report.verdict()
    );
    let first = report
        .diagnosis
        .as_ref()
        .and_then(|d| d.causes.first())
        .map(|c| c.id);
    assert_eq!(first, Some("wrong_credentials"), "{}", report.verdict());
}
