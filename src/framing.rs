//! IronRDP's framing, as the probe and the mock servers use it: a read buffer that holds a
//! whole ordinary PDU from the start. `TokioFramed::new` starts with an empty buffer, which
//! tokio fills 64 bytes at a time, so every PDU longer than that took a second read (a
//! boxed future and a reallocation each; through TLS no system call, the plaintext is
//! already decrypted).

use ironrdp_tokio::bytes::BytesMut;
use ironrdp_tokio::TokioFramed;

/// The first read buffer's size: the connection sequence's PDUs (MCS Connect Initial and
/// Response, Client Info, Demand and Confirm Active, TSRequests) are a few hundred bytes;
/// a larger one grows the buffer as before.
const FIRST_BUFFER: usize = 1024;

/// `stream` framed for IronRDP, its read buffer sized for a whole PDU.
pub(crate) fn framed<S>(stream: S) -> TokioFramed<S>
where
    S: Send + Sync + Unpin,
{
    TokioFramed::new_with_leftover(stream, BytesMut::with_capacity(FIRST_BUFFER))
}
