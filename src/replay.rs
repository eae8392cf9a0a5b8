//! The probe's own stage code run in memory against replayed server bytes: the harness of
//! the property tests (`replay_tests`) and of the stream fuzz targets (`fuzzing`).
//!
//! A probe's connector is brought to a stage without a network (X.224 and the security
//! upgrade done in memory), then one stage group (x224, credssp, activation) runs against a
//! duplex stream whose other end has sent the given bytes and closed.

use std::net::SocketAddr;
use std::time::Duration;

use ironrdp_connector::{ClientConnector, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::nego::SecurityProtocol;
use tokio::io::{AsyncWriteExt as _, DuplexStream};

use crate::probe::{activation, credssp, x224, Facts, ProbeOptions, Recorder, Stop};
use crate::report::{ProbeError, StageResult};
use crate::target::Target;
use crate::{FailureKind, Stage};

/// What every case gets as time per stage; nothing waits on it (the stream ends).
pub(crate) const STAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The public key both sides bind CredSSP to (any bytes do, in memory).
pub(crate) const PUBLIC_KEY: [u8; 64] = [0x5A; 64];

pub(crate) fn client_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 50_000))
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub(crate) fn options(with_credentials: bool) -> ProbeOptions {
    ProbeOptions {
        credentials: with_credentials.then(crate::mock::credentials),
        stage_timeout: STAGE_TIMEOUT,
        ..ProbeOptions::default()
    }
}

/// A probe's connector that has sent its Connection Request offering `offer`: the request.
pub(crate) fn initiated(
    offer: SecurityProtocol,
    with_credentials: bool,
) -> (ClientConnector, Vec<u8>) {
    let mut connector = activation::new_connector(&options(with_credentials), client_addr());
    let mut request = WriteBuf::new();
    let written = connector
        .initiate_with_security_protocol(offer, &mut request)
        .expect("connection request");
    let len = written.size().expect("request bytes");
    (connector, request[..len].to_vec())
}

/// A probe's connector past the X.224 exchange and the security upgrade.
pub(crate) fn upgraded(
    selected: SecurityProtocol,
    confirm: &[u8],
    with_credentials: bool,
) -> ClientConnector {
    let (mut connector, _) = initiated(selected, with_credentials);
    let mut out = WriteBuf::new();
    connector.step(confirm, None, &mut out).expect("confirm");
    connector.mark_security_upgrade_as_done();
    connector
}

/// What the probe's code reports: the failure if any, and every stage's detail.
pub(crate) struct Outcome {
    pub(crate) error: Option<ProbeError>,
    pub(crate) details: Vec<String>,
}

pub(crate) fn outcome(result: Result<(), Stop>, rec: &Recorder) -> Outcome {
    let error = match result {
        Ok(()) => None,
        Err(Stop::Failed(failure)) => Some(*failure.0),
        Err(Stop::Reached(_)) => panic!("no --until here"),
    };
    Outcome {
        error,
        details: rec
            .results()
            .iter()
            .filter_map(|r: &StageResult| r.detail.clone())
            .collect(),
    }
}

/// A duplex stream whose server side has sent `server_bytes` and closed its sending half.
pub(crate) async fn replayed(server_bytes: &[u8]) -> (DuplexStream, DuplexStream) {
    let (client, mut server) = tokio::io::duplex(1 << 20);
    server.write_all(server_bytes).await.expect("replay");
    server.shutdown().await.expect("end of the replay");
    (client, server)
}

pub(crate) async fn run_activation(
    mut connector: ClientConnector,
    stream: DuplexStream,
) -> Outcome {
    let mut framed = ironrdp_tokio::TokioFramed::new(stream);
    let mut rec = Recorder::new(None, STAGE_TIMEOUT);
    let result = activation::run(&mut framed, &mut connector, &mut rec).await;
    outcome(result, &rec)
}

pub(crate) async fn run_credssp(mut connector: ClientConnector, stream: DuplexStream) -> Outcome {
    let mut framed = ironrdp_tokio::TokioFramed::new(stream);
    let mut rec = Recorder::new(None, STAGE_TIMEOUT);
    let _ = rec.enter(Stage::Credssp);
    let mut facts = Facts::default();
    let target = Target::from(client_addr());
    let result = credssp::run(
        &mut framed,
        &mut connector,
        &target,
        Some(PUBLIC_KEY.to_vec()),
        &options(true),
        &mut rec,
        &mut facts,
    )
    .await;
    outcome(result, &rec)
}

pub(crate) async fn run_x224(confirm: &[u8]) -> Outcome {
    // A fresh connector: negotiate sends its own request.
    let mut connector = activation::new_connector(&options(false), client_addr());
    let (client, _server) = replayed(confirm).await;
    let mut rec = Recorder::new(None, STAGE_TIMEOUT);
    let mut facts = Facts::default();
    let result = x224::negotiate(
        client,
        &mut connector,
        &options(false),
        &mut rec,
        &mut facts,
    )
    .await
    .map(|_| ());
    outcome(result, &rec)
}

/// The connector of a probe that offered exactly `selected` and got a Connection Confirm
/// selecting it, past the security upgrade (no acceptor needed).
#[cfg(feature = "fuzzing")]
pub(crate) fn upgraded_to(selected: SecurityProtocol, with_credentials: bool) -> ClientConnector {
    let confirm = ironrdp_core::encode_vec(&ironrdp_pdu::x224::X224(
        ironrdp_pdu::nego::ConnectionConfirm::Response {
            flags: ironrdp_pdu::nego::ResponseFlags::EXTENDED_CLIENT_DATA_SUPPORTED,
            protocol: selected,
        },
    ))
    .unwrap_or_default();
    upgraded(selected, &confirm, with_credentials)
}

/// What must hold whatever a server sent from `stage` on: the probe fails at that stage or
/// later, never with an internal failure, with a message and details that are one line of
/// visible text. `Some(why)` when it does not hold.
pub(crate) fn violation(out: &Outcome, stage: Stage) -> Option<String> {
    if let Some(detail) = out
        .details
        .iter()
        .find(|d| d.chars().any(crate::text::is_unsafe))
    {
        return Some(format!("unescaped detail {detail:?}"));
    }
    let error = out.error.as_ref()?;
    if error.stage < stage {
        return Some(format!(
            "failed at {} before {stage}: {}",
            error.stage, error.message
        ));
    }
    if error.kind == FailureKind::Internal {
        return Some(format!("internal failure: {}", error.message));
    }
    if error.message.is_empty() || error.message.chars().any(crate::text::is_unsafe) {
        return Some(format!("bad message {:?}", error.message));
    }
    None
}
