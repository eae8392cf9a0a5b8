//! One connection of the mock server: the scenario's behaviour on the wire.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;

use ironrdp_acceptor::{Acceptor, AcceptorState, DesktopSize};
use ironrdp_connector::Sequence as _;
use ironrdp_core::{encode_vec, WriteBuf};
use ironrdp_pdu::mcs::{DisconnectProviderUltimatum, DisconnectReason, SendDataIndication};

use ironrdp_pdu::rdp::capability_sets::{
    Bitmap, BitmapDrawingFlags, CapabilitySet, General, GeneralExtraFlags, Input, InputFlags,
    MajorPlatformType, MultifragmentUpdate, Order, OrderFlags, OrderSupportExFlags, Pointer,
    VirtualChannel, VirtualChannelFlags,
};
use ironrdp_pdu::rdp::client_info::CompressionType;
use ironrdp_pdu::rdp::headers::{
    CompressionFlags, ShareControlHeader, ShareControlPdu, ShareDataHeader, ShareDataPdu,
    StreamPriority,
};
use ironrdp_pdu::rdp::server_error_info::{ErrorInfo, ServerSetErrorInfoPdu};
use ironrdp_pdu::x224::X224;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{debug, info};

use super::credssp;
use super::fault::{Certificate, End, Fault, Refusal};
use super::wire::{self, close, drain, timed, Config, ConnError};
use crate::Stage;

/// The MCS channel IDs IronRDP's acceptor assigns (MS-RDPBCGR 3.3.1.5 server channel and I/O channel).
const SERVER_CHANNEL_ID: u16 = 1002;
const IO_CHANNEL_ID: u16 = 1003;

pub(crate) const DESKTOP_SIZE: DesktopSize = DesktopSize {
    width: 1024,
    height: 768,
};

/// The stage a connection is in when the acceptor is in `state`, for the close-at-stage
/// scenarios.
fn close_point(state: &AcceptorState) -> Option<Stage> {
    Some(match state {
        AcceptorState::ChannelConnection { .. } => Stage::ChannelConnection,
        AcceptorState::SecureSettingsExchange { .. } => Stage::SecureSettings,
        AcceptorState::MultitransportBootstrapping { .. }
        | AcceptorState::CapabilitiesSendServer { .. } => Stage::Capabilities,
        AcceptorState::ConnectionFinalization { .. } => Stage::Finalization,
        _ => return None,
    })
}

/// A stream that lets the server's first `allowed` CredSSP writes through (the CHALLENGE,
/// the pubKeyAuth answer, the Early User Authorization Result: one write each) and cuts
/// the next one, so that the server closes or goes silent right after reading the client's
/// (`allowed` + 1)-th message.
struct CutCredssp<S> {
    inner: S,
    allowed: usize,
    writes: usize,
    cut: End,
}

impl<S> CutCredssp<S> {
    fn new(inner: S, allowed: usize, cut: End) -> Self {
        Self {
            inner,
            allowed,
            writes: 0,
            cut,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CutCredssp<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CutCredssp<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        if self.writes >= self.allowed {
            return match self.cut {
                End::Close | End::Reset => std::task::Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "closing instead of answering",
                ))),
                // Never woken: the server's CredSSP wait runs into its timeout.
                End::Hold | End::Swallow => std::task::Poll::Pending,
            };
        }
        let written = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, std::task::Poll::Ready(Ok(_))) {
            self.writes += 1;
        }
        written
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    config: &Config,
) -> Result<(), ConnError> {
    stream.set_nodelay(true)?;

    match &config.fault {
        // Nothing listens, so no connection ever gets here.
        Fault::NotListening => Ok(()),
        Fault::Script(script, end) => super::raw::serve(stream, peer, config, script, *end).await,
        // Every other fault strikes in an RDP connection run by IronRDP's acceptor.
        _ => accept(stream, peer, config).await,
    }
}

async fn accept(stream: TcpStream, peer: SocketAddr, config: &Config) -> Result<(), ConnError> {
    let server = &config.server;
    // With TLS only, like a server showing its logon screen, any Client Info credentials do.
    let credentials = server.requires_nla().then(|| {
        let mut credentials = config.credentials.clone();
        if server.wrong_password {
            credentials.password = format!("not {}", credentials.password);
        }
        credentials
    });
    let nla = credentials
        .clone()
        .unwrap_or_else(|| config.credentials.clone());
    let mut acceptor = Acceptor::new(server.security, DESKTOP_SIZE, capabilities(), credentials);
    let mut buf = WriteBuf::new();
    let mut pending = Vec::new();

    let mut framed = crate::framing::framed(stream);
    while acceptor.reached_security_upgrade().is_none() {
        step(&mut framed, &mut acceptor, &mut buf, &mut pending, config).await?;
    }
    flush(&mut framed, &mut pending, config).await?;
    let (stream, leftover) = framed.into_inner();
    if !leftover.is_empty() {
        return Err(ConnError::Rdp(
            "client sent data before the TLS handshake".to_owned(),
        ));
    }
    let (tls, public_key) = upgrade(stream, server.certificate, config).await?;
    acceptor.mark_security_upgrade_as_done();
    debug!(%peer, "TLS handshake completed");

    if let Fault::CredsspCut { after_message, end } = config.fault {
        // After the client's n-th message: in place of the server's n-th write.
        let allowed = usize::from(after_message).saturating_sub(1);
        let mut framed = crate::framing::framed(CutCredssp::new(tls, allowed, end));
        let _ = credssp::accept(
            &mut framed,
            &mut acceptor,
            &nla,
            public_key,
            false,
            config.timeout,
        )
        .await;
        info!(%peer, after_message, ?end, "Cut CredSSP short");
        Box::pin(wire::end(framed.into_inner().0, end, config.timeout)).await;
        return Ok(());
    }
    let mut framed = crate::framing::framed(tls);
    if acceptor.should_perform_credssp() {
        credssp::accept(
            &mut framed,
            &mut acceptor,
            &nla,
            public_key,
            config.fault == Fault::DenyAuthorization,
            config.timeout,
        )
        .await?;
        info!(%peer, "CredSSP completed");
        if let Some(how) = config.fault.ends_at(Stage::BasicSettings) {
            info!(%peer, ?how, "Ending right after CredSSP");
            Box::pin(wire::end(framed.into_inner().0, how, config.timeout)).await;
            return Ok(());
        }
    }
    activate(framed, acceptor, peer, config).await
}

/// The TLS handshake, with the server's certificate or, when the row says so, a new one.
async fn upgrade(
    stream: TcpStream,
    certificate: Certificate,
    config: &Config,
) -> Result<(tokio_rustls::server::TlsStream<TcpStream>, Vec<u8>), ConnError> {
    if certificate == Certificate::Fresh {
        let identity = super::cert::generate()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(super::cert::server_config(&identity)?);
        let public_key = super::cert::subject_public_key(identity.leaf_der()?)?;
        let tls = timed(config.timeout, "TLS handshake", acceptor.accept(stream)).await?;
        return Ok((tls, public_key));
    }
    let tls = timed(config.timeout, "TLS handshake", config.tls.accept(stream)).await?;
    Ok((tls, config.public_key.clone()))
}

/// The connection sequence after the security upgrade, ending where the fault says.
async fn activate(
    mut framed: TokioFramed<tokio_rustls::server::TlsStream<TcpStream>>,
    mut acceptor: Acceptor,
    peer: SocketAddr,
    config: &Config,
) -> Result<(), ConnError> {
    let refusal = match config.fault {
        Fault::Refuse(refusal) => Some(after_client_info(refusal)?),
        _ => None,
    };
    let mut buf = WriteBuf::new();
    let mut pending = Vec::new();
    while acceptor.get_result().is_none() {
        let state = ironrdp_connector::state_downcast::<AcceptorState>(acceptor.state());
        if let Some((stage, how)) = state
            .and_then(close_point)
            .and_then(|stage| config.fault.ends_at(stage).map(|how| (stage, how)))
        {
            flush(&mut framed, &mut pending, config).await?;
            info!(%peer, %stage, ?how, "Ending the connection");
            Box::pin(wire::end(framed.into_inner().0, how, config.timeout)).await;
            return Ok(());
        }
        // The acceptor has just consumed the Client Info PDU.
        let licensing =
            state.is_some_and(|state| matches!(state, AcceptorState::LicensingExchange { .. }));
        if let Some(refusal) = refusal.as_ref().filter(|_| licensing) {
            pending.extend_from_slice(refusal);
            flush(&mut framed, &mut pending, config).await?;
            info!(%peer, "Refused the connection after the Client Info PDU");
            Box::pin(close(framed.into_inner().0, config.timeout)).await;
            return Ok(());
        }
        step(&mut framed, &mut acceptor, &mut buf, &mut pending, config).await?;
    }
    info!(%peer, "Connection sequence completed");
    flush(&mut framed, &mut pending, config).await?;
    // Keep the session up until the client leaves (or the wait runs out).
    // Boxed, as the ends above: the stream moves out of the connection's state once.
    Box::pin(drain(framed.into_inner().0, config.timeout)).await;
    Ok(())
}

/// One acceptor step: flush what is pending and read the PDU it waits for (if any), step,
/// and queue what it produced. Answers the acceptor produces back to back (Synchronize,
/// Control, Font Map) thus go out in one write, as one TLS record.
///
/// When the acceptor fails after encoding a reply (RDP_NEG_FAILURE on a protocol mismatch),
/// the reply is still sent, as a real server does.
async fn step<S>(
    framed: &mut TokioFramed<S>,
    acceptor: &mut Acceptor,
    buf: &mut WriteBuf,
    pending: &mut Vec<u8>,
    config: &Config,
) -> Result<(), ConnError>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin,
{
    buf.clear();
    let result = if let Some(hint) = acceptor.next_pdu_hint() {
        flush(framed, pending, config).await?;
        let state = acceptor.state().name();
        debug!(state, "Wait for PDU");
        let pdu = timed(config.timeout, state, framed.read_by_hint(hint)).await?;
        acceptor.step(&pdu, None, buf)
    } else {
        acceptor.step_no_input(buf)
    };
    match result {
        Ok(written) => {
            pending.extend_from_slice(&buf.filled()[..written.size().unwrap_or(0)]);
            Ok(())
        }
        Err(error) => {
            pending.extend_from_slice(buf.filled());
            let _ = flush(framed, pending, config).await;
            Err(error.into())
        }
    }
}

/// Writes the queued answers (after the slow server's delay).
async fn flush<S>(
    framed: &mut TokioFramed<S>,
    pending: &mut Vec<u8>,
    config: &Config,
) -> Result<(), ConnError>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin,
{
    if pending.is_empty() {
        return Ok(());
    }
    if !config.delay.is_zero() {
        tokio::time::sleep(config.delay).await;
    }
    timed(config.timeout, "reply write", framed.write_all(pending)).await?;
    pending.clear();
    Ok(())
}

/// What the server sends right after the Client Info PDU, before it closes, to refuse the
/// connection there.
fn after_client_info(refusal: Refusal) -> Result<Vec<u8>, ConnError> {
    let encode_err = |e: ironrdp_core::EncodeError| ConnError::Rdp(format!("encode: {e}"));
    Ok(match refusal {
        // Set Error Info with the scenario's ERRINFO code (what a Windows server sends when it
        // refuses a session), then a Disconnect Provider Ultimatum.
        Refusal::ErrorInfo(code) => {
            let error_info = <ErrorInfo as num_traits::FromPrimitive>::from_u32(code)
                .ok_or_else(|| ConnError::Rdp(format!("unknown ERRINFO code 0x{code:x}")))?;
            let share = ShareControlHeader {
                share_id: 0,
                pdu_source: IO_CHANNEL_ID,
                share_control_pdu: ShareControlPdu::Data(ShareDataHeader {
                    share_data_pdu: ShareDataPdu::ServerSetErrorInfo(ServerSetErrorInfoPdu(
                        error_info,
                    )),
                    stream_priority: StreamPriority::Undefined,
                    compression_flags: CompressionFlags::empty(),
                    compression_type: CompressionType::K8,
                }),
            };
            let mut bytes = send_data_indication(encode_vec(&share).map_err(encode_err)?)?;
            let ultimatum =
                DisconnectProviderUltimatum::from_reason(DisconnectReason::ProviderInitiated);
            bytes.extend(encode_vec(&X224(ultimatum)).map_err(encode_err)?);
            bytes
        }
        // A licensing Error Alert (MS-RDPELE 2.2.2.7.1 / MS-RDPBCGR 2.2.1.12.1.3):
        // ERR_NO_LICENSE_SERVER, ST_TOTAL_ABORT, empty BB_ERROR_BLOB.
        Refusal::NoLicenseServer => {
            let mut user_data = Vec::with_capacity(20);
            user_data.extend_from_slice(&0x0080u16.to_le_bytes()); // SEC_LICENSE_PKT
            user_data.extend_from_slice(&0u16.to_le_bytes()); // flagsHi
            user_data.extend_from_slice(&[0xFF, 0x83]); // ERROR_ALERT, PREAMBLE_VERSION_3_0 | EXTENDED_ERROR_MSG_SUPPORTED
            user_data.extend_from_slice(&16u16.to_le_bytes()); // wMsgSize
            user_data.extend_from_slice(&0x06u32.to_le_bytes()); // ERR_NO_LICENSE_SERVER
            user_data.extend_from_slice(&0x01u32.to_le_bytes()); // ST_TOTAL_ABORT
            user_data.extend_from_slice(&0x0004u16.to_le_bytes()); // BB_ERROR_BLOB
            user_data.extend_from_slice(&0u16.to_le_bytes()); // empty blob
            send_data_indication(user_data)?
        }
    })
}

/// An MCS Send Data Indication on the I/O channel carrying `user_data`.
fn send_data_indication(user_data: Vec<u8>) -> Result<Vec<u8>, ConnError> {
    let indication = SendDataIndication {
        initiator_id: SERVER_CHANNEL_ID,
        channel_id: IO_CHANNEL_ID,
        user_data: Cow::Owned(user_data),
    };
    encode_vec(&X224(indication))
        .map_err(|e| ConnError::Rdp(format!("encode Send Data Indication: {e}")))
}

/// The server capability sets of the Demand Active PDU.
pub(crate) fn capabilities() -> Vec<CapabilitySet> {
    vec![
        CapabilitySet::General(General {
            major_platform_type: MajorPlatformType::WINDOWS,
            extra_flags: GeneralExtraFlags::FASTPATH_OUTPUT_SUPPORTED
                | GeneralExtraFlags::NO_BITMAP_COMPRESSION_HDR,
            ..Default::default()
        }),
        CapabilitySet::Bitmap(Bitmap {
            pref_bits_per_pix: 32,
            desktop_width: DESKTOP_SIZE.width,
            desktop_height: DESKTOP_SIZE.height,
            desktop_resize_flag: true,
            drawing_flags: BitmapDrawingFlags::ALLOW_SKIP_ALPHA,
        }),
        CapabilitySet::Order(Order::new(
            OrderFlags::NEGOTIATE_ORDER_SUPPORT | OrderFlags::ZERO_BOUNDS_DELTAS_SUPPORT,
            OrderSupportExFlags::empty(),
            0,
            0,
        )),
        CapabilitySet::Pointer(Pointer {
            color_pointer_cache_size: 25,
            pointer_cache_size: 25,
        }),
        CapabilitySet::Input(Input {
            input_flags: InputFlags::SCANCODES
                | InputFlags::MOUSEX
                | InputFlags::UNICODE
                | InputFlags::FASTPATH_INPUT
                | InputFlags::FASTPATH_INPUT_2,
            keyboard_layout: 0,
            keyboard_type: None,
            keyboard_subtype: 0,
            keyboard_function_key: 0,
            keyboard_ime_filename: String::new(),
        }),
        CapabilitySet::VirtualChannel(VirtualChannel {
            flags: VirtualChannelFlags::NO_COMPRESSION,
            chunk_size: Some(1600),
        }),
        CapabilitySet::MultiFragmentUpdate(MultifragmentUpdate {
            max_request_size: 8 * 1024 * 1024,
        }),
    ]
}
