//! The evidence of one probe: the steps inside each stage, the PDU trail, and, when a capture
//! is asked for, the bytes on the wire. The stage code adds steps through the [`Recorder`];
//! the stream [`Tap`]s see every byte and cut it into PDUs, which [`pdu`] names.
//!
//! Nothing here keeps a secret: PDU names show what a message is and how big, never what
//! the credentials in it are (see [`pdu::name`]); the wire bytes kept for a capture are
//! what any packet capture would see (TLS records, encrypted), and the capture redacts the
//! credentials before it embeds the TLS secrets (see `capture`).
//!
//! [`Recorder`]: super::Recorder

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::report::{Direction, StepRecord, TraceEntry};
use crate::{Stage, Step};

pub(crate) mod pdu;

/// The layer a [`Tap`] sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    /// The TCP byte stream: X.224, then TLS records.
    Wire,
    /// The plaintext inside TLS: CredSSP, then the RDP connection sequence.
    Plain,
}

/// Bytes that went one way at one moment, as the socket saw them.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) at: Instant,
    pub(crate) direction: Direction,
    pub(crate) bytes: Vec<u8>,
}

/// The shared evidence of one probe. Cloning shares it.
#[derive(Clone)]
pub(crate) struct Trail(Arc<Mutex<Log>>);

struct Log {
    started: Instant,
    stage: Stage,
    last_step: Option<Step>,
    steps: Vec<(Stage, StepRecord)>,
    trace: Vec<TraceEntry>,
    /// Bytes seen but not yet a whole PDU, per layer and direction.
    pending: [[Vec<u8>; 2]; 2],
    /// Whether the plaintext layer is tapped (the TLS handshake is over): from then on the
    /// wire's TLS records are not named, their content is.
    inside_tls: bool,
    /// The wire bytes, when a capture is asked for.
    wire: Option<Vec<Chunk>>,
    /// The TLS secrets, when a capture is asked for.
    keys: Vec<crate::capture::KeyLine>,
    /// When TCP connected, the client's and the server's address.
    connected: Option<(Instant, std::net::SocketAddr, std::net::SocketAddr)>,
}

/// A PDU buffer that grows past this without making a whole PDU is named as unrecognised
/// bytes and dropped (a server sending garbage must not make the trail grow without bound).
const MAX_PENDING: usize = 1 << 20;

impl Trail {
    /// An empty trail; `capture` keeps the wire bytes too.
    pub(crate) fn new(started: Instant, capture: bool) -> Self {
        Self(Arc::new(Mutex::new(Log {
            started,
            stage: Stage::Dns,
            last_step: None,
            steps: Vec::with_capacity(32),
            trace: Vec::with_capacity(32),
            pending: Default::default(),
            inside_tls: false,
            wire: capture.then(Vec::new),
            keys: Vec::new(),
            connected: None,
        })))
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic elsewhere cannot leave the log half-written in a way that matters here.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stage the probe is in from now on.
    pub(crate) fn set_stage(&self, stage: Stage) {
        self.log().stage = stage;
    }

    /// Records `step` of the current stage at `at`; its detail is [escaped](crate::text::escape).
    pub(crate) fn step_at(&self, at: Instant, step: Step, detail: Option<String>) {
        let mut log = self.log();
        let stage = log.stage;
        let detail = detail.map(|d| crate::text::escape_owned(d).into());
        log.push_step(stage, at, step, detail);
    }

    /// The last step recorded, if any.
    pub(crate) fn last_step(&self) -> Option<Step> {
        self.log().last_step
    }

    /// What a reader sees of the last step recorded (`MCS Connect Initial sent`), if any.
    pub(crate) fn last_step_label(&self) -> Option<String> {
        self.log().steps.last().map(|(_, step)| step.label())
    }

    /// Whether the wire bytes and TLS secrets are kept for a capture.
    pub(crate) fn capturing(&self) -> bool {
        self.log().wire.is_some()
    }

    /// Keeps a TLS secret for the capture (only when capturing).
    pub(crate) fn key(&self, line: crate::capture::KeyLine) {
        let mut log = self.log();
        if log.wire.is_some() {
            log.keys.push(line);
        }
    }

    /// Records that TCP connected `client` to `server`, now.
    pub(crate) fn connected(&self, client: std::net::SocketAddr, server: std::net::SocketAddr) {
        self.log().connected = Some((Instant::now(), client, server));
    }

    /// Marks the end of the TLS handshake: the plaintext layer is tapped from now on.
    pub(crate) fn enter_tls(&self) {
        self.log().inside_tls = true;
    }

    /// Wraps `inner` so that every byte through it reaches this trail.
    pub(crate) fn tap<S>(&self, inner: S, layer: Layer) -> Tap<S> {
        Tap {
            inner,
            trail: self.clone(),
            layer,
        }
    }

    fn observe(&self, layer: Layer, direction: Direction, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let at = Instant::now();
        let mut log = self.log();
        if layer == Layer::Wire {
            if let Some(wire) = log.wire.as_mut() {
                wire.push(Chunk {
                    at,
                    direction,
                    bytes: bytes.to_vec(),
                });
            }
        }
        // Once TLS is up the wire carries the ciphertext of what the plaintext layer names.
        if layer == Layer::Plain || !log.inside_tls {
            log.cut(layer, direction, at, bytes);
        }
    }

    /// The steps per stage, the trail, and the wire bytes if kept.
    pub(crate) fn finish(&self) -> Finished {
        let mut log = self.log();
        Finished {
            steps: std::mem::take(&mut log.steps),
            trace: std::mem::take(&mut log.trace),
            wire: log.wire.take(),
            keys: std::mem::take(&mut log.keys),
            connected: log.connected,
        }
    }
}

/// What a trail holds at the end of a probe.
pub(crate) struct Finished {
    pub(crate) steps: Vec<(Stage, StepRecord)>,
    pub(crate) trace: Vec<TraceEntry>,
    /// `None` when no capture was asked for.
    pub(crate) wire: Option<Vec<Chunk>>,
    pub(crate) keys: Vec<crate::capture::KeyLine>,
    pub(crate) connected: Option<(Instant, std::net::SocketAddr, std::net::SocketAddr)>,
}

impl Log {
    fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.started).as_secs_f64() * 1000.0
    }

    fn push_step(&mut self, stage: Stage, at: Instant, step: Step, detail: Option<pdu::Name>) {
        let at_ms = self.ms(at);
        self.steps.push((
            stage,
            StepRecord {
                step,
                at_ms,
                detail,
            },
        ));
        self.last_step = Some(step);
    }

    /// Cuts what arrived into whole PDUs and names each.
    fn cut(&mut self, layer: Layer, direction: Direction, at: Instant, bytes: &[u8]) {
        let (l, d) = (layer as usize, direction as usize);
        // Most reads and writes are whole PDUs: name them where they are, without a copy.
        let mut pending = std::mem::take(&mut self.pending[l][d]);
        let owned;
        let mut rest: &[u8] = if pending.is_empty() {
            bytes
        } else {
            pending.extend_from_slice(bytes);
            owned = pending;
            pending = Vec::new();
            &owned
        };
        loop {
            let stage = self.stage;
            let len = match pdu::length(layer, stage, rest) {
                Some(len) if len <= rest.len() => len,
                Some(_) if rest.len() < MAX_PENDING => break,
                None if rest.is_empty() => break,
                // Not a PDU rdpscope can frame, or a frame that never completes: name what
                // arrived as it is.
                _ => rest.len(),
            };
            let (frame, after) = rest.split_at(len);
            self.name(layer, direction, stage, at, frame);
            rest = after;
        }
        pending.extend_from_slice(rest);
        self.pending[l][d] = pending;
    }

    fn name(
        &mut self,
        layer: Layer,
        direction: Direction,
        stage: Stage,
        at: Instant,
        frame: &[u8],
    ) {
        let named = pdu::name(layer, direction, stage, frame);
        // Once TLS is up, the wire's records are the ciphertext of what the plaintext layer
        // names.
        if layer == Layer::Wire && self.inside_tls && named.encrypted {
            return;
        }
        if let Some(step) = named.step {
            self.push_step(stage, at, step, named.step_detail.map(Into::into));
        } else if stage >= Stage::BasicSettings {
            let step = match direction {
                Direction::Sent => Step::Sent,
                Direction::Received => Step::Received,
            };
            self.push_step(stage, at, step, Some(named.name.clone()));
        }
        let at_ms = self.ms(at);
        self.trace.push(TraceEntry {
            at_ms,
            direction,
            stage,
            step: self.last_step,
            // pdu.rs builds names from fixed text, numbers, table names and escaped server
            // text only (the `trail` fuzz target checks it).
            name: named.name,
            size: frame.len(),
        });
    }
}

/// A stream whose every byte read or written reaches a [`Trail`].
pub(crate) struct Tap<S> {
    inner: S,
    trail: Trail,
    layer: Layer,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.trail
                .observe(self.layer, Direction::Received, &buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.trail.observe(self.layer, Direction::Sent, &buf[..n]);
        }
        polled
    }

    /// Passed on whole, so that records written together (rustls's ChangeCipherSpec and
    /// Finished) leave in one system call and one segment, as from a plain socket.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(written)) = polled {
            let mut left = written;
            for buf in bufs {
                if left == 0 {
                    break;
                }
                let n = left.min(buf.len());
                self.trail.observe(self.layer, Direction::Sent, &buf[..n]);
                left -= n;
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
