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
    assert_every_run(
        Ending::ResetOnAccept,
        &verdicts,
        "x224/reset: the server reset the connection without answering the X.224 Connection Request",
    );
}

/// A FIN, then a RST drawn by the request: on Linux a read after FIN returns end of file
/// even once the RST has arrived, and a write after it fails with EPIPE; both are
/// closed_by_peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fin_then_a_reset_fails_x224_closed_by_peer_on_every_run() {
    let verdicts = probe_many(Ending::FinThenResetOnRequest).await;
    assert_every_run(
        Ending::FinThenResetOnRequest,
        &verdicts,
        "x224/closed_by_peer: the server closed the connection without answering the X.224 Connection Request",
    );
}

/// A FIN and at once a RST the request did not draw: the connect itself may already see the
/// pending EPIPE (the handshake completed, so x224 fails), a write fails with EPIPE, a read
/// returns end of file: always closed_by_peer at x224.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fin_then_an_immediate_reset_fails_x224_closed_by_peer_on_every_run() {
    let verdicts = probe_many(Ending::FinThenReset).await;
    assert_every_run(
        Ending::FinThenReset,
        &verdicts,
        "x224/closed_by_peer: the server closed the connection without answering the X.224 Connection Request",
    );
}

/// A server that closes at once without reading sends a FIN when it closes before the
/// request arrives, and a RST when the request arrived first (Linux, like other stacks,
/// aborts a close with unread data). Both packets are what the server sent, so the kind
/// follows them; the stage is x224 on every run and the message is one of two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_without_reading_fails_x224_on_every_run_as_the_packet_it_sent() {
    let verdicts = probe_many(Ending::PlainClose).await;
    let allowed = [
        "x224/closed_by_peer: the server closed the connection without answering the X.224 Connection Request",
        "x224/reset: the server reset the connection without answering the X.224 Connection Request",
    ];
    assert!(
        verdicts.keys().all(|v| allowed.contains(&v.as_str())),
        "PlainClose: {verdicts:#?}"
    );
    assert_eq!(verdicts.values().sum::<usize>(), RUNS);
}
