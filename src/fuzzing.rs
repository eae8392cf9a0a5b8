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
