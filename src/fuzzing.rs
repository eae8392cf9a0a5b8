//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`; not a stable API).
//!
//! Each runs one decoder rdpscope owns exactly as the probe runs it, on arbitrary bytes, and
//! checks what must hold whatever a server sends: no panic, and every failure it reports is
//! one line of visible text (server text escaped).

use ironrdp_pdu::nego::SecurityProtocol;

use crate::probe::activation::{classify, classify_user_data, incoming_failure};
use crate::probe::x224;
use crate::report::ProbeError;
use crate::Stage;

/// Checks what every reported failure must be: a non-empty line of visible text.
fn check(error: &ProbeError) {
    assert!(!error.message.is_empty(), "empty failure message");
    assert!(
        !error.message.chars().any(crate::text::is_unsafe),
        "unescaped text in a failure message: {:?}",
        error.message
    );
}

/// The X.224 Connection Confirm path: the bytes a server sends after the Connection
/// Request, framed ([`x224::split_confirm`]) as if they arrived in one read or byte by
/// byte, then interpreted ([`x224::interpret`]) against the default offer.
pub fn x224_confirm(data: &[u8]) {
    let requested = SecurityProtocol::SSL | SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX;
    // Byte by byte: every prefix is either incomplete or decided, and a decision on a prefix
    // is the decision on the whole (the reader stops at the first one).
    let mut decided = None;
    for end in 0..=data.len() {
        if let Some(result) = x224::split_confirm(&data[..end], end == data.len()) {
            decided = Some(result);
            break;
        }
    }
    let Some(result) = decided else {
        panic!("the reader never decided on {} bytes", data.len());
    };
    match result {
        Err(failure) => check(&failure.0),
        Ok((frame, extra)) => {
            let mut negotiation = x224::offered(requested);
            if let Err(failure) = x224::interpret(&frame, &extra, requested, &mut negotiation) {
                check(&failure.0);
            }
        }
    }
}

/// The activation classifier: one PDU as the probe reads it after the security upgrade
/// (Set Error Info, Disconnect Provider Ultimatum, licensing errors), at every stage.
pub fn activation_pdu(data: &[u8]) {
    let incoming = classify(data);
    for stage in &Stage::ALL[Stage::ALL
        .iter()
        .position(|s| *s == Stage::BasicSettings)
        .unwrap_or(0)..]
    {
        if let Some(failure) = incoming_failure(*stage, &incoming) {
            check(&failure.0);
        }
    }
}

/// Set Error Info and licensing error decoding on the user data of an MCS Send Data
/// Indication (the share control and licensing headers).
pub fn share_data(data: &[u8]) {
    let incoming = classify_user_data(data);
    if let Some(failure) = incoming_failure(Stage::SecureSettings, &incoming) {
        check(&failure.0);
    }
}

thread_local! {
    /// One runtime per fuzzing thread, for the stream targets.
    static RUNTIME: tokio::runtime::Runtime = crate::replay::runtime();
}

/// Runs `stage`'s code on `data` as the whole of what a server sends, then checks the outcome.
fn stream(stage: Stage, data: &[u8]) {
    use crate::replay::{replayed, run_activation, run_credssp, run_x224, upgraded_to, violation};
    let out = RUNTIME.with(|runtime| {
        runtime.block_on(async {
            match stage {
                Stage::X224 => run_x224(data).await,
                Stage::Credssp => {
                    let connector = upgraded_to(SecurityProtocol::HYBRID, true);
                    let (client, _server) = replayed(data).await;
                    run_credssp(connector, client).await
                }
                _ => {
                    let connector = upgraded_to(SecurityProtocol::SSL, false);
                    let (client, _server) = replayed(data).await;
                    run_activation(connector, client).await
                }
            }
        })
    });
    if let Some(why) = violation(&out, stage) {
        panic!("{why}");
    }
}

/// Arbitrary bytes as the server's answer to the X.224 Connection Request, through the
/// probe's x224 stage.
pub fn x224_stream(data: &[u8]) {
    stream(Stage::X224, data);
}

/// Arbitrary bytes as everything the server sends in CredSSP (NTLM), through the probe's
/// credssp stage.
pub fn credssp_stream(data: &[u8]) {
    stream(Stage::Credssp, data);
}

/// Arbitrary bytes as everything the server sends after the security upgrade (TLS
/// security), through the probe's activation stages.
pub fn activation_stream(data: &[u8]) {
    stream(Stage::BasicSettings, data);
}
