//! Property tests that start from valid server PDUs of every stage and mutate, truncate or
//! replace them.
//!
//! A real IronRDP acceptor (configured as the mock servers are, with the mock's CredSSP) answers the probe's own code
//! once, in memory; its answers are recorded. Each case then replays them to a fresh probe
//! with one answer broken, followed by the rest and the end of the stream. Whatever the
//! breakage, the probe must end (connected, or failed at the stage of the broken answer or
//! later), never with an internal failure, and with one-line escaped messages and details.
//! Stage by stage: x224 (the Connection Confirm), credssp (the NTLM CHALLENGE and the
//! pubKeyAuth answer), and each activation stage (basic_settings through finalization).
//! TLS records are rustls's to defend and are not mutated here.

use std::sync::{Arc, Mutex, OnceLock};

use ironrdp_acceptor::Acceptor;
use ironrdp_connector::Sequence as _;
use ironrdp_core::WriteBuf;
use ironrdp_pdu::nego::SecurityProtocol;
use ironrdp_pdu::rdp::client_info::Credentials as ServerCredentials;
use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};

use crate::mock::conn::{capabilities, DESKTOP_SIZE};
use crate::mock::credssp;
use crate::mock::{MOCK_PASSWORD, MOCK_USER};
use crate::replay::{
    initiated, replayed, run_activation, run_credssp, run_x224, runtime, upgraded, violation,
    Outcome, PUBLIC_KEY,
};
use crate::{FailureKind, Stage};

/// The acceptor's Connection Confirm to `request`, and the acceptor at the security upgrade.
fn accepted(selected: SecurityProtocol, request: &[u8]) -> (Acceptor, Vec<u8>) {
    let credentials = selected
        .contains(SecurityProtocol::HYBRID)
        .then(|| ServerCredentials {
            username: MOCK_USER.to_owned(),
            password: MOCK_PASSWORD.to_owned(),
            domain: None,
        });
    let mut acceptor = Acceptor::new(selected, DESKTOP_SIZE, capabilities(), credentials);
    let mut confirm = Vec::new();
    let mut buf = WriteBuf::new();
    let mut input = Some(request);
    while acceptor.reached_security_upgrade().is_none() {
        buf.clear();
        let written = match acceptor.next_pdu_hint() {
            Some(_) => acceptor.step(input.take().expect("one request"), None, &mut buf),
            None => acceptor.step_no_input(&mut buf),
        }
        .expect("acceptor step");
        confirm.extend_from_slice(&buf[..written.size().unwrap_or(0)]);
    }
    acceptor.mark_security_upgrade_as_done();
    (acceptor, confirm)
}

/// A stream that records every write (one server message each).
struct Recording<S> {
    inner: S,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = written {
            if let Ok(mut writes) = self.writes.lock() {
                writes.push(buf[..n].to_vec());
            }
        }
        written
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The acceptor's side of the activation stages, on `stream`, until it has sent its last
/// PDU; returns the stream (kept open until the client is done).
async fn serve_activation(
    mut acceptor: Acceptor,
    stream: Recording<DuplexStream>,
) -> Recording<DuplexStream> {
    let mut framed = ironrdp_tokio::TokioFramed::new(stream);
    let mut buf = WriteBuf::new();
    while acceptor.get_result().is_none() {
        buf.clear();
        let written = match acceptor.next_pdu_hint() {
            Some(hint) => {
                let pdu = framed.read_by_hint(hint).await.expect("client PDU");
                acceptor.step(&pdu, None, &mut buf)
            }
            None => acceptor.step_no_input(&mut buf),
        }
        .expect("acceptor step");
        if let Some(len) = written.size() {
            ironrdp_tokio::FramedWrite::write_all(&mut framed, &buf[..len])
                .await
                .expect("server write");
        }
    }
    framed.into_inner().0
}

/// Splits a slow-path byte stream into its TPKT frames.
fn tpkt_frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while bytes.len() >= 4 {
        assert_eq!(bytes[0], 0x03, "the acceptor sends TPKT frames only");
        let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        frames.push(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    assert!(bytes.is_empty());
    frames
}

/// The recorded valid server answers, each with the stage the probe is in when it reads it.
struct Recorded {
    /// The Connection Confirm selecting TLS.
    confirm_tls: Vec<u8>,
    /// The Connection Confirm selecting HYBRID.
    confirm_hybrid: Vec<u8>,
    /// The server's CredSSP messages (CHALLENGE, then the pubKeyAuth answer).
    credssp: Vec<Vec<u8>>,
    /// The server's PDUs from the MCS Connect Response to the Font Map, with their stage.
    activation: Vec<(Stage, Vec<u8>)>,
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(record)
}

fn record() -> Recorded {
    let runtime = runtime();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        // Activation over TLS security (the TLS layer itself is left out in memory).
        let (_, request) = initiated(SecurityProtocol::SSL, false);
        let (acceptor, confirm_tls) = accepted(SecurityProtocol::SSL, &request);
        let connector = upgraded(SecurityProtocol::SSL, &confirm_tls, false);
        let (client, server) = tokio::io::duplex(1 << 20);
        let writes = Arc::new(Mutex::new(Vec::new()));
        let server = tokio::task::spawn_local(serve_activation(
            acceptor,
            Recording {
                inner: server,
                writes: Arc::clone(&writes),
            },
        ));
        let clean = run_activation(connector, client).await;
        assert!(
            clean.error.is_none(),
            "the clean run fails: {:?}",
            clean.error
        );
        drop(server.await.expect("server"));
        let frames = tpkt_frames(&writes.lock().expect("writes").concat());

        // The stage of each answer: the stream cut just before it fails at that stage.
        let mut activation = Vec::new();
        for index in 0..frames.len() {
            let cut = frames[..index].concat();
            let connector = upgraded(SecurityProtocol::SSL, &confirm_tls, false);
            let (client, _server) = replayed(&cut).await;
            let out = run_activation(connector, client).await;
            let error = out.error.expect("a cut stream fails");
            assert_eq!(error.kind, FailureKind::ClosedByPeer, "{}", error.message);
            activation.push((error.stage, frames[index].clone()));
        }

        // CredSSP (HYBRID, NTLM) against the acceptor's CredSSP.
        let (_, request) = initiated(SecurityProtocol::HYBRID, true);
        let (mut acceptor, confirm_hybrid) = accepted(SecurityProtocol::HYBRID, &request);
        let connector = upgraded(SecurityProtocol::HYBRID, &confirm_hybrid, true);
        let (client, server) = tokio::io::duplex(1 << 20);
        let writes = Arc::new(Mutex::new(Vec::new()));
        let server = tokio::task::spawn_local({
            let writes = Arc::clone(&writes);
            async move {
                let mut framed = ironrdp_tokio::TokioFramed::new(Recording {
                    inner: server,
                    writes,
                });
                let known = ServerCredentials {
                    username: MOCK_USER.to_owned(),
                    password: MOCK_PASSWORD.to_owned(),
                    domain: None,
                };
                credssp::accept(
                    &mut framed,
                    &mut acceptor,
                    &known,
                    PUBLIC_KEY.to_vec(),
                    false,
                    std::time::Duration::from_secs(30),
                )
                .await
                .expect("server CredSSP");
                framed
            }
        });
        let clean = run_credssp(connector, client).await;
        assert!(
            clean.error.is_none(),
            "clean CredSSP fails: {:?}",
            clean.error
        );
        drop(server.await.expect("server"));
        let credssp = writes.lock().expect("writes").clone();
        assert_eq!(credssp.len(), 2, "CHALLENGE and pubKeyAuth");

        Recorded {
            confirm_tls,
            confirm_hybrid,
            credssp,
            activation,
        }
    })
}

/// How one valid answer is broken.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR these bytes in at these positions (modulo the length).
    Flip(Vec<(usize, u8)>),
    /// Keep only this many bytes (modulo the length).
    Truncate(usize),
    /// Overwrite from this position (modulo the length) with these bytes.
    Overwrite(usize, Vec<u8>),
    /// Insert these bytes at this position (modulo the length + 1).
    Insert(usize, Vec<u8>),
    /// Replace the whole answer with these bytes.
    Replace(Vec<u8>),
    /// Leave the answer out.
    Drop,
    /// Send the answer twice.
    Duplicate,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..48);
    prop_oneof![
        4 => prop::collection::vec((any::<usize>(), 1..=255u8), 1..6).prop_map(Mutation::Flip),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), bytes()).prop_map(|(at, b)| Mutation::Overwrite(at, b)),
        1 => (any::<usize>(), bytes()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        1 => prop::collection::vec(any::<u8>(), 0..96).prop_map(Mutation::Replace),
        1 => Just(Mutation::Drop),
        1 => Just(Mutation::Duplicate),
    ]
}

fn mutate(valid: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Flip(flips) => {
            for (at, mask) in flips {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= mask;
                }
            }
        }
        Mutation::Truncate(keep) => bytes.truncate(keep % len),
        Mutation::Overwrite(at, with) => {
            for (offset, b) in with.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at % len + offset) {
                    *slot = *b;
                }
            }
        }
        Mutation::Insert(at, with) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, with.iter().copied());
        }
        Mutation::Replace(with) => bytes.clone_from(with),
        Mutation::Drop => bytes.clear(),
        Mutation::Duplicate => bytes.extend_from_slice(valid),
    }
    bytes
}

/// What must hold whatever a broken answer at `stage` did.
fn check(out: &Outcome, stage: Stage) -> Result<(), TestCaseError> {
    match violation(out, stage) {
        Some(why) => Err(TestCaseError::fail(why)),
        None => Ok(()),
    }
}

/// Cases per stage.
const CASES: u32 = 1_500;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn recording_covers_every_activation_stage() {
    let stages: Vec<Stage> = recorded().activation.iter().map(|(s, _)| *s).collect();
    for stage in [
        Stage::BasicSettings,
        Stage::ChannelConnection,
        Stage::SecureSettings,
        Stage::Capabilities,
        Stage::Finalization,
    ] {
        assert!(stages.contains(&stage), "{stage}: {stages:?}");
    }
}

#[test]
fn a_short_pub_key_auth_is_a_protocol_error_not_a_panic() {
    // sspi splits pubKeyAuth at its 16-byte signature without checking the length: found by
    // `credssp_broken_answer`.
    use ironrdp_connector::sspi::credssp::TsRequest;
    let r = recorded();
    let mut short = Vec::new();
    TsRequest {
        pub_key_auth: Some(vec![1; 5]),
        ..TsRequest::default()
    }
    .encode_ts_request(&mut short)
    .expect("encode");
    let connector = upgraded(SecurityProtocol::HYBRID, &r.confirm_hybrid, true);
    let out = runtime().block_on(async {
        let (client, _server) = replayed(&[r.credssp[0].clone(), short].concat()).await;
        run_credssp(connector, client).await
    });
    let error = out.error.expect("fails");
    assert_eq!(
        (error.stage, error.kind),
        (Stage::Credssp, FailureKind::ProtocolError)
    );
    assert!(error.message.contains("pubKeyAuth"), "{}", error.message);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn x224_broken_confirm(m in mutation(), hybrid in any::<bool>()) {
        let r = recorded();
        let valid = if hybrid { &r.confirm_hybrid } else { &r.confirm_tls };
        let out = runtime().block_on(run_x224(&mutate(valid, &m)));
        check(&out, Stage::X224)?;
        if let Some(error) = &out.error {
            prop_assert_eq!(error.stage, Stage::X224);
        }
    }

    #[test]
    fn credssp_broken_answer(m in mutation(), which in 0..2usize) {
        let r = recorded();
        let mut answers = r.credssp.clone();
        answers[which] = mutate(&answers[which], &m);
        let connector = upgraded(SecurityProtocol::HYBRID, &r.confirm_hybrid, true);
        let out = runtime().block_on(async {
            let (client, _server) = replayed(&answers.concat()).await;
            run_credssp(connector, client).await
        });
        check(&out, Stage::Credssp)?;
        // Replayed CredSSP answers belong to another session: it never succeeds.
        let error = out.error.as_ref().expect("replayed CredSSP fails");
        prop_assert_eq!(error.stage, Stage::Credssp);
    }
}

/// One proptest per activation stage: each breaks one of that stage's valid answers.
macro_rules! activation_stage {
    ($name:ident, $stage:expr) => {
        proptest! {
            #![proptest_config(config())]

            #[test]
            fn $name(m in mutation(), pick in any::<usize>()) {
                let r = recorded();
                let of_stage: Vec<usize> = (0..r.activation.len())
                    .filter(|i| r.activation[*i].0 == $stage)
                    .collect();
                prop_assume!(!of_stage.is_empty());
                let index = of_stage[pick % of_stage.len()];
                let stream: Vec<u8> = r
                    .activation
                    .iter()
                    .enumerate()
                    .flat_map(|(i, (_, pdu))| if i == index { mutate(pdu, &m) } else { pdu.clone() })
                    .collect();
                let connector = upgraded(SecurityProtocol::SSL, &r.confirm_tls, false);
                let out = runtime().block_on(async {
                    let (client, _server) = replayed(&stream).await;
                    run_activation(connector, client).await
                });
                check(&out, $stage)?;
            }
        }
    };
}

activation_stage!(basic_settings_broken_answer, Stage::BasicSettings);
activation_stage!(channel_connection_broken_answer, Stage::ChannelConnection);
activation_stage!(secure_settings_broken_answer, Stage::SecureSettings);
activation_stage!(capabilities_broken_answer, Stage::Capabilities);
activation_stage!(finalization_broken_answer, Stage::Finalization);

/// Writes the seeds of every fuzz target in `fuzz/` from real traffic and the certificate
/// fixtures (`cargo test --lib write_fuzz_seeds -- --ignored`): the recorded server streams
/// of a mock connection, each PDU and its share data, the NTLM CHALLENGE, every fixture
/// chain, a known-hosts line per fixture, and text with and without hostile characters.
#[test]
#[ignore = "writes fuzz/seeds; run by hand"]
fn write_fuzz_seeds() {
    let r = recorded();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds: Vec<(&str, String, Vec<u8>)> = vec![
        ("x224_stream", "confirm-tls".into(), r.confirm_tls.clone()),
        (
            "x224_stream",
            "confirm-hybrid".into(),
            r.confirm_hybrid.clone(),
        ),
        ("x224_confirm", "confirm-tls".into(), r.confirm_tls.clone()),
        (
            "x224_confirm",
            "confirm-hybrid".into(),
            r.confirm_hybrid.clone(),
        ),
        (
            "credssp_stream",
            "challenge-and-pubkeyauth".into(),
            r.credssp.concat(),
        ),
    ];
    let activation: Vec<u8> = r
        .activation
        .iter()
        .flat_map(|(_, pdu)| pdu.clone())
        .collect();
    seeds.push((
        "activation_stream",
        "tls-connection-sequence".into(),
        activation,
    ));
    for (index, (stage, pdu)) in r.activation.iter().enumerate() {
        let name = format!("{index:02}-{stage}");
        seeds.push(("activation_pdu", name.clone(), pdu.clone()));
        // The user data of a Send Data Indication follows TPKT (4), X.224 (3) and the MCS
        // header (8 bytes for the short lengths the mock writes).
        if let Some(user_data) = pdu.get(15..) {
            seeds.push(("share_data", name, user_data.to_vec()));
        }
    }
    let challenge = &r.credssp[0];
    if let Some(at) = challenge.windows(8).position(|w| w == b"NTLMSSP\0") {
        seeds.push((
            "ntlm_challenge",
            "mock-challenge".into(),
            challenge[at..].to_vec(),
        ));
    }
    let fixtures = root.join("fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .map(|e| e.expect("fixture").path())
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .collect();
    files.sort();
    let now = time::OffsetDateTime::from_unix_timestamp(1_798_761_600).expect("a valid time");
    for file in files {
        let name = file
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let chain = crate::cert::read_pem_certificates(&file).expect("a fixture chain");
        let mut bytes = Vec::new();
        for cert in &chain {
            let len = u16::try_from(cert.len()).expect("a fixture under 64 KiB");
            bytes.extend(len.to_be_bytes());
            bytes.extend(cert.iter());
        }
        seeds.push(("cert_chain", name.clone(), bytes));
        if let Some(entry) =
            crate::cert::known_hosts::Entry::new("rdp.example.test", 3389, &chain[0], now)
        {
            seeds.push((
                "known_hosts",
                name,
                format!("{}\n", entry.line()).into_bytes(),
            ));
        }
    }
    for (name, text) in [
        ("plain", "CN=rdp.example.test, O=Example"),
        ("forged-line", "host\nverdict: connected"),
        ("bidi", "admin\u{202E}txt.exe"),
        ("escape-sequence", "\u{1b}[2J\u{1b}]0;title\u{7}"),
    ] {
        seeds.push(("render_escape", name.into(), text.as_bytes().to_vec()));
    }
    for (target, name, bytes) in seeds {
        let dir = root.join("fuzz/seeds").join(target);
        std::fs::create_dir_all(&dir).expect("seed directory");
        std::fs::write(dir.join(name), bytes).expect("seed");
    }
}
