//! Servers that end the connection right after accepting it, probed many times: every run
//! must give the same verdict (stage, kind and message), whatever order the kernel delivers
//! the server's FIN or RST and the client's X.224 Connection Request in.
//!
//! Each test runs a raw tokio listener on 127.0.0.1:0 and probes it [`RUNS`] times, a few
//! probes at once so that the timing varies from run to run.

use std::collections::BTreeMap;
use std::time::Duration;

use rdpscope::report::StageStatus;
use rdpscope::target::Target;
use rdpscope::{FailureKind, ProbeOptions, Stage};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

/// Probes per test.
const RUNS: usize = 48;
/// Probes running at once.
const AT_ONCE: usize = 4;

/// How the test server ends each connection it accepts, without ever answering.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// SO_LINGER 0 and close at once: a RST right after the handshake.
    ResetOnAccept,
    /// FIN at once (shutdown of the write side), then close without reading once the
    /// request is there: the request draws a RST after the FIN.
    FinThenResetOnRequest,
    /// FIN at once, then SO_LINGER 0 and close at once: a RST that the client's request
    /// did not draw, after the FIN.
    FinThenReset,
    /// Close at once without reading.
    PlainClose,
    /// Read the request, select TLS, close without reading the ClientHello.
    CloseAfterConfirm,
    /// Read the request, select TLS, complete the handshake, close without reading the MCS
    /// Connect Initial.
    CloseAfterTls,
}

/// A Connection Confirm selecting PROTOCOL_SSL.
const CONFIRM_SSL: [u8; 19] = [
    0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x01, 0x08, 0x00, 0x01,
    0x00, 0x00, 0x00,
];

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    static ACCEPTOR: std::sync::OnceLock<tokio_rustls::TlsAcceptor> = std::sync::OnceLock::new();
    ACCEPTOR
        .get_or_init(|| {
            let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
                .expect("certificate");
            let key = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der())
                .expect("key");
            let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .expect("config");
            tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
        })
        .clone()
}

/// Reads the X.224 Connection Request (one read) and selects TLS.
async fn select_tls(stream: &mut TcpStream) -> Option<()> {
    use tokio::io::AsyncReadExt as _;
    let mut request = [0u8; 512];
    let _ = stream.read(&mut request).await.ok()?;
    stream.write_all(&CONFIRM_SSL).await.ok()
}

async fn end(stream: TcpStream, ending: Ending) {
    match ending {
        Ending::ResetOnAccept => {
            // A zero linger time makes close() send RST and never block, which is the
            // blocking the deprecation warns about.
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
        }
        Ending::FinThenResetOnRequest => {
            let mut stream = stream;
            let _ = stream.shutdown().await;
            // Wait (bounded) until the request arrives, and close without reading it.
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.readable()).await;
            drop(stream);
        }
        Ending::FinThenReset => {
            let mut stream = stream;
            let _ = stream.shutdown().await;
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
        }
        Ending::PlainClose => drop(stream),
        Ending::CloseAfterConfirm => {
            let mut stream = stream;
            if select_tls(&mut stream).await.is_some() {
                // Wait (bounded) until the ClientHello is there, and close without reading.
                let _ = tokio::time::timeout(Duration::from_secs(5), stream.readable()).await;
            }
        }
        Ending::CloseAfterTls => {
            let mut stream = stream;
            if select_tls(&mut stream).await.is_none() {
                return;
            }
            if let Ok(tls) = tls_acceptor().accept(stream).await {
                // Close without reading the MCS Connect Initial (no close_notify either),
                // which arrives about now: before the close or after it, unread in the socket
                // or already taken into the TLS layer, depending on timing.
                tokio::time::sleep(Duration::from_millis(1)).await;
                drop(tls);
            }
        }
    }
}

/// Starts a server that ends every connection the `ending` way.
async fn server(ending: Ending) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(end(stream, ending));
        }
    });
    (addr, task)
}

/// What one probe run ended with.
type Verdict = (Stage, FailureKind, String);

/// Probes the server [`RUNS`] times and counts the verdicts; checks every report's stage rows.
async fn probe_many(ending: Ending) -> BTreeMap<String, usize> {
    let (addr, task) = server(ending).await;
    let options = ProbeOptions {
        stage_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        ..ProbeOptions::default()
    };
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..RUNS / AT_ONCE {
        let mut probes = tokio::task::JoinSet::new();
        for _ in 0..AT_ONCE {
            let options = options.clone();
            probes.spawn(async move { rdpscope::probe(&Target::from(addr), &options).await });
        }
        while let Some(joined) = probes.join_next().await {
            let report = joined.expect("probe task");
            let error = report.error.as_ref().expect("the probe fails");
            let verdict: Verdict = (error.stage, error.kind, error.message.clone());
            // Whatever failed, the stage table agrees with the error.
            let status = |stage: Stage| {
                report
                    .stages
                    .iter()
                    .find(|s| s.stage == stage)
                    .map(|s| s.status)
            };
            assert_eq!(
                status(error.stage),
                Some(StageStatus::Failed),
                "{ending:?}: {}",
                report.verdict()
            );
            if error.stage == Stage::X224 {
                assert_eq!(
                    status(Stage::Tcp),
                    Some(StageStatus::Ok),
                    "{ending:?}: {}",
                    report.verdict()
                );
                assert!(report.address.is_some(), "{ending:?}: no address");
            }
            *verdicts
                .entry(format!("{}/{}: {}", verdict.0, verdict.1, verdict.2))
                .or_default() += 1;
        }
    }
    task.abort();
    verdicts
}

/// Asserts that all [`RUNS`] probes gave `expected` (`stage/kind: message`).
fn assert_every_run(ending: Ending, verdicts: &BTreeMap<String, usize>, expected: &str) {
    assert_eq!(
        verdicts.get(expected).copied(),
        Some(RUNS),
        "{ending:?}: expected {RUNS} x `{expected}`, got {verdicts:#?}"
    );
}

/// The TCP handshake completed (a RST to a SYN is a refusal, not a reset), so the reset is
/// the x224 stage's failure, however early it arrives: during the connect, the request or
/// the wait for the confirm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_right_after_accept_fails_x224_on_every_run() {
    let verdicts = probe_many(Ending::ResetOnAccept).await;
    assert_every_run(Ending::ResetOnAccept, &verdicts, CLOSED);
}

/// The one verdict of a server that ends the connection before answering.
const CLOSED: &str =
    "x224/closed_by_peer: the server closed the connection without answering the X.224 Connection Request";

/// A FIN, then a RST drawn by the request: on Linux a read after FIN returns end of file
/// even once the RST has arrived, and a write after it fails with EPIPE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fin_then_a_reset_fails_x224_closed_by_peer_on_every_run() {
    let verdicts = probe_many(Ending::FinThenResetOnRequest).await;
    assert_every_run(Ending::FinThenResetOnRequest, &verdicts, CLOSED);
}

/// A FIN and at once a RST the request did not draw: the connect itself may already see the
/// pending EPIPE (the handshake completed, so x224 fails), a write fails with EPIPE, a read
/// returns end of file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fin_then_an_immediate_reset_fails_x224_closed_by_peer_on_every_run() {
    let verdicts = probe_many(Ending::FinThenReset).await;
    assert_every_run(Ending::FinThenReset, &verdicts, CLOSED);
}

/// A server that closes at once without reading sends a FIN when it closes before the
/// request arrives, and a RST when the request arrived first (Linux, like other stacks,
/// aborts a close with unread data): the packets differ from run to run, the verdict must
/// not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_without_reading_gives_one_verdict_on_every_run() {
    let verdicts = probe_many(Ending::PlainClose).await;
    assert_every_run(Ending::PlainClose, &verdicts, CLOSED);
}

/// The same at the next stages: a server that closes without reading the ClientHello, or
/// the first PDU after the TLS handshake, sends a FIN or a RST depending on timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_without_reading_at_tls_and_after_gives_one_verdict_on_every_run() {
    let verdicts = probe_many(Ending::CloseAfterConfirm).await;
    assert_eq!(verdicts.len(), 1, "CloseAfterConfirm: {verdicts:#?}");
    assert!(
        verdicts
            .keys()
            .all(|v| v.starts_with("tls/closed_by_peer: ")),
        "{verdicts:#?}"
    );
    let verdicts = probe_many(Ending::CloseAfterTls).await;
    assert_eq!(verdicts.len(), 1, "CloseAfterTls: {verdicts:#?}");
    assert!(
        verdicts
            .keys()
            .all(|v| v.starts_with("basic_settings/closed_by_peer: ")),
        "{verdicts:#?}"
    );
}
