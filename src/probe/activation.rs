//! The stages after the security upgrade: basic_settings, channel_connection,
//! secure_settings, licensing, capabilities and finalization.
//!
//! The connector is stepped one PDU at a time. Each incoming PDU is classified before the
//! connector sees it, so that a Set Error Info PDU or an MCS Disconnect Provider Ultimatum
//! is reported as such (IronRDP would mis-parse them) and so that the stage named in the
//! report is the one the server was in, even where IronRDP's state absorbs the next
//! stage's first PDU.

use std::net::SocketAddr;

use ironrdp_connector::{
    ClientConnector, ClientConnectorState, ConnectorError, Credentials, DesktopSize, Sequence as _,
};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::gcc;
use ironrdp_pdu::mcs::{self, DisconnectReason, McsMessage};
use ironrdp_pdu::rdp::capability_sets::MajorPlatformType;
use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};
use ironrdp_pdu::x224::{X224Data, X224};
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::io::{AsyncRead, AsyncWrite};

use super::io::io_within;
use super::{Failure, ProbeOptions, Recorder, Stop};
use crate::diagnosis::{codes, Code};
use crate::{FailureKind, Stage};

/// Builds the IronRDP connector for a probe. Every security protocol is enabled in the
/// configuration; the offer itself is chosen in the x224 stage.
pub(crate) fn new_connector(options: &ProbeOptions, client_addr: SocketAddr) -> ClientConnector {
    let (username, domain) = match &options.credentials {
        Some(c) => (c.user.clone(), c.domain.clone()),
        None => (String::new(), None),
    };
    let config = ironrdp_connector::Config {
        desktop_size: DesktopSize {
            width: 1024,
            height: 768,
        },
        monitor_layout: None,
        desktop_scale_factor: 0,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: None,
        relative_mouse_input: false,
        enable_tls: true,
        enable_credssp: true,
        enable_standard_rdp_security: true,
        // The password is handed to CredSSP only (see the credssp stage); the Client Info
        // PDU carries the user name alone.
        credentials: Credentials::UsernamePassword {
            username,
            password: String::new(),
        },
        domain,
        client_build: 0,
        client_name: "rdpscope".to_owned(),
        keyboard_type: gcc::KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: 0x0409,
        connection_type: gcc::ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: None,
        dig_product_id: String::new(),
        client_dir: "C:\\Windows\\System32\\mstscax.dll".to_owned(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: false,
        rail_support_level: ironrdp_pdu::rdp::capability_sets::RailSupportLevel::empty(),
        platform: MajorPlatformType::UNIX,
        hardware_id: None,
        request_data: None,
        autologon: false,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        enable_server_pointer: false,
        pointer_software_rendering: true,
        multitransport_flags: None,
        support_dyn_vc_gfx_protocol: false,
    };
    ClientConnector::new(config, client_addr)
}

/// The stage the connector's state belongs to. `answered` says whether the server has
/// answered the Client Info PDU yet (the first PDU after it ends secure_settings).
fn stage_of(state: &ClientConnectorState, answered: bool) -> Option<Stage> {
    Some(match state {
        ClientConnectorState::BasicSettingsExchangeSendInitial { .. }
        | ClientConnectorState::BasicSettingsExchangeWaitResponse { .. } => Stage::BasicSettings,
        ClientConnectorState::ChannelConnection { .. } => Stage::ChannelConnection,
        ClientConnectorState::SecureSettingsExchange { .. } => Stage::SecureSettings,
        ClientConnectorState::ConnectTimeAutoDetection { .. }
        | ClientConnectorState::LicensingExchange { .. } => {
            if answered {
                Stage::Licensing
            } else {
                Stage::SecureSettings
            }
        }
        ClientConnectorState::MultitransportBootstrapping { .. }
        | ClientConnectorState::MultitransportPending { .. }
        | ClientConnectorState::CapabilitiesExchange { .. } => Stage::Capabilities,
        ClientConnectorState::ConnectionFinalization { .. } => Stage::Finalization,
        ClientConnectorState::Connected { .. } => Stage::Connected,
        _ => return None,
    })
}

/// What an incoming PDU is, as far as the probe cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A Set Error Info PDU with its ERRINFO code.
    ErrorInfo(u32),
    /// An MCS Disconnect Provider Ultimatum.
    Ultimatum(DisconnectReason),
    /// A licensing Error Alert with a code other than STATUS_VALID_CLIENT.
    LicenseError(u32),
    /// A licensing Error Alert with STATUS_VALID_CLIENT: no licensing needed.
    LicenseValidClient,
    /// An MCS Connect Response whose Server Security Data demands Standard RDP Security
    /// encryption (MS-RDPBCGR 2.2.1.4.3): `encryptionMethod` and `encryptionLevel`.
    EncryptionRequired { method: u32, level: u32 },
    /// Anything else, for the connector.
    Other,
}

use super::trail::pdu::{
    ERROR_ALERT, PDUTYPE2_SET_ERROR_INFO_PDU, PDUTYPE_DATAPDU, SEC_LICENSE_PKT, STATUS_VALID_CLIENT,
};

pub(crate) fn classify(pdu: &[u8]) -> Incoming {
    if let Some(incoming) = connect_response_security(pdu) {
        return incoming;
    }
    match ironrdp_core::decode::<X224<McsMessage<'_>>>(pdu) {
        Ok(X224(McsMessage::DisconnectProviderUltimatum(ultimatum))) => {
            Incoming::Ultimatum(ultimatum.reason)
        }
        Ok(X224(McsMessage::SendDataIndication(data))) => classify_user_data(&data.user_data),
        _ => Incoming::Other,
    }
}

/// The Server Security Data of an MCS Connect Response, when it asks for more than the
/// enhanced security (TLS, CredSSP) the client negotiated: no encryption method and level
/// None is all such a client can satisfy (MS-RDPBCGR 5.4.1).
fn connect_response_security(pdu: &[u8]) -> Option<Incoming> {
    let security = server_security_data(pdu)?;
    (security != gcc::ServerSecurityData::no_security()).then(|| Incoming::EncryptionRequired {
        method: security.encryption_method.bits(),
        level: security.encryption_level as u32,
    })
}

/// The Server Security Data (MS-RDPBCGR 2.2.1.4.3) of an MCS Connect Response frame (TPKT,
/// X.224 Data), if the frame is one.
pub(crate) fn server_security_data(pdu: &[u8]) -> Option<gcc::ServerSecurityData> {
    let data = ironrdp_core::decode::<X224<X224Data<'_>>>(pdu).ok()?.0.data;
    let response = ironrdp_core::decode::<mcs::ConnectResponse>(&data).ok()?;
    Some(
        response
            .conference_create_response
            .into_gcc_blocks()
            .security,
    )
}

pub(crate) fn classify_user_data(data: &[u8]) -> Incoming {
    let u16_at = |i: usize| data.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |i: usize| {
        data.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    // Share Control Header (6) + Share Data Header (12) + errorInfo (4), MS-RDPBCGR 2.2.5.1.1.
    if u16_at(2).map(|t| t & 0xF) == Some(PDUTYPE_DATAPDU)
        && data.get(14) == Some(&PDUTYPE2_SET_ERROR_INFO_PDU)
    {
        if let Some(code) = u32_at(18) {
            return Incoming::ErrorInfo(code);
        }
    }
    // Basic Security Header (4) + licensing preamble (4) + dwErrorCode, MS-RDPELE 2.2.1.12.
    if u16_at(0).is_some_and(|flags| flags & SEC_LICENSE_PKT != 0)
        && data.get(4) == Some(&ERROR_ALERT)
    {
        if let Some(code) = u32_at(8) {
            return if code == STATUS_VALID_CLIENT {
                Incoming::LicenseValidClient
            } else {
                Incoming::LicenseError(code)
            };
        }
    }
    Incoming::Other
}

fn license_error_name(code: u32) -> &'static str {
    codes::license_error(code).map_or("unknown licensing error", |row| row.name)
}

/// Failure for an incoming PDU that ends the connection, if it is one.
pub(crate) fn incoming_failure(stage: Stage, incoming: &Incoming) -> Option<Failure> {
    match *incoming {
        Incoming::ErrorInfo(0) | Incoming::LicenseValidClient | Incoming::Other => None,
        Incoming::ErrorInfo(code) => {
            let info = codes::errinfo(code);
            let name = info.map_or("unknown ERRINFO code", |i| i.name);
            let meaning = info.map_or("the server reported an error", |i| i.meaning);
            let mut failure = Failure::new(
                stage,
                FailureKind::ServerErrorInfo,
                format!("{meaning} (Set Error Info 0x{code:08X} {name})"),
            );
            failure.0.code = Some(Code::Errinfo(code));
            Some(failure)
        }
        Incoming::Ultimatum(reason) => Some(Failure::new(
            stage,
            FailureKind::ClosedByPeer,
            format!(
                "the server disconnected with an MCS Disconnect Provider Ultimatum ({})",
                codes::disconnect_reason(reason as u32).map_or("unknown reason", |i| i.name)
            ),
        )),
        Incoming::EncryptionRequired { method, level } => Some(Failure::new(
            stage,
            FailureKind::UnsupportedSecurity,
            format!(
                "the server requires Standard RDP Security encryption (encryption method 0x{method:X} {}, level {level} {}), which rdpscope does not implement",
                encryption_method_name(method),
                encryption_level_name(level),
            ),
        )),
        Incoming::LicenseError(code) => Some(Failure::new(
            stage,
            FailureKind::LicensingError,
            format!(
                "the server sent a licensing error (0x{code:02X} {}): check the RD Licensing configuration",
                license_error_name(code)
            ),
        )),
    }
}

fn step_failure(stage: Stage, error: &ConnectorError) -> Failure {
    Failure::new(
        stage,
        FailureKind::ProtocolError,
        format!("unexpected or invalid message from the server: {error}"),
    )
}

/// Steps the connector from the basic settings exchange to the end of finalization.
pub(crate) async fn run<S>(
    framed: &mut TokioFramed<S>,
    connector: &mut ClientConnector,
    rec: &mut Recorder,
) -> Result<(), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + Sync,
{
    let mut buf = WriteBuf::new();
    // PDUs the client sends back to back (e.g. Confirm Active, Synchronize, Control, Font
    // List) go out in one write, and so in one TLS record, just before the next read.
    let mut pending = Outgoing::default();
    let mut joins = None;
    let mut answered_client_info = false;
    loop {
        if matches!(connector.state, ClientConnectorState::Connected { .. }) {
            pending.flush(framed, rec).await?;
        }
        if let Some(end) = ended(connector, rec) {
            return end;
        }
        let stage = stage_of(&connector.state, answered_client_info).ok_or_else(|| {
            Failure::new(
                rec.current().unwrap_or(Stage::BasicSettings),
                FailureKind::Internal,
                format!(
                    "unexpected connector state {}",
                    ironrdp_connector::State::name(&connector.state)
                ),
            )
        })?;
        rec.enter(stage).map_err(Stop::Reached)?;

        if connector.should_perform_multitransport() {
            buf.clear();
            let written = connector
                .skip_multitransport(&mut buf)
                .map_err(|e| step_failure(stage, &e))?;
            pending.queue(&buf, written.size(), stage);
            continue;
        }

        buf.clear();
        let (stage, written) = match connector.next_pdu_hint() {
            None => (stage, connector.step_no_input(&mut buf)),
            Some(hint) => {
                pending.flush(framed, rec).await?;
                let pdu = io_within(
                    rec,
                    stage,
                    waiting_for(stage),
                    during(stage),
                    framed.read_by_hint(hint),
                )
                .await?;
                let Some(stage) = received(&pdu, stage, &mut answered_client_info, rec)? else {
                    continue;
                };
                (stage, connector.step(&pdu, framed.last_read_at(), &mut buf))
            }
        };
        let written = written.map_err(|e| step_failure(stage, &e))?;
        pending.queue(&buf, written.size(), stage);
        describe_progress(connector, &mut joins, rec);
    }
}

/// The end of the sequence, if the connector has reached it: connected (with what the
/// last stages taught us), or redirected to another host (a failure at the current stage).
fn ended(connector: &ClientConnector, rec: &mut Recorder) -> Option<Result<(), Stop>> {
    match &connector.state {
        ClientConnectorState::Connected { result } => {
            rec.detail(
                Stage::Finalization,
                "Synchronize, Control (Cooperate, Granted Control) and Font Map received",
            );
            rec.detail(
                Stage::Capabilities,
                format!(
                    "desktop {}x{}, share id 0x{:08X}",
                    result.desktop_size.width, result.desktop_size.height, result.share_id
                ),
            );
            Some(Ok(()))
        }
        ClientConnectorState::Redirected { .. } => {
            let stage = rec.current().unwrap_or(Stage::Capabilities);
            Some(Err(Failure::new(
                stage,
                FailureKind::Redirected,
                "the server sent a Server Redirection PDU: a connection broker redirects the client to another host",
            )
            .into()))
        }
        _ => None,
    }
}

/// What a PDU the server sent at `stage` means: the stage it belongs to (the first answer
/// to the Client Info PDU ends secure_settings and starts licensing, unless it is the
/// server refusing the connection), a failure (Set Error Info, Disconnect Provider
/// Ultimatum, a licensing error), or `None` for a PDU to skip (Set Error Info with
/// ERRINFO_NONE).
fn received(
    pdu: &[u8],
    stage: Stage,
    answered_client_info: &mut bool,
    rec: &mut Recorder,
) -> Result<Option<Stage>, Stop> {
    let incoming = classify(pdu);
    let stage = if stage == Stage::SecureSettings
        && !matches!(incoming, Incoming::ErrorInfo(1..) | Incoming::Ultimatum(_))
    {
        *answered_client_info = true;
        rec.enter(Stage::Licensing).map_err(Stop::Reached)?;
        if let Incoming::LicenseValidClient = incoming {
            rec.detail(
                Stage::Licensing,
                "no licensing required (STATUS_VALID_CLIENT)",
            );
        }
        Stage::Licensing
    } else {
        stage
    };
    if let Some(failure) = incoming_failure(stage, &incoming) {
        return Err(failure.into());
    }
    Ok((incoming != Incoming::ErrorInfo(0)).then_some(stage))
}

/// Records what a completed step taught us, keyed on the state the connector moved to;
/// `joins` keeps how many channels the channel connection joins (0: both sides support
/// SKIP_CHANNELJOIN, so none).
fn describe_progress(connector: &ClientConnector, joins: &mut Option<usize>, rec: &mut Recorder) {
    match &connector.state {
        ClientConnectorState::ChannelConnection {
            io_channel_id,
            channel_connection,
        } => {
            // The user channel is joined too, once attached.
            joins.get_or_insert_with(|| {
                channel_connection
                    .channel_ids
                    .as_ref()
                    .map_or(0, |ids| ids.len() + 1)
            });
            let message = connector.message_channel_id.map_or_else(
                || "no message channel".to_owned(),
                |id| format!("message channel {id}"),
            );
            rec.detail(
                Stage::BasicSettings,
                format!(
                    "MCS Connect Response: I/O channel {io_channel_id}, {message}, {} static channel(s)",
                    connector.static_channels.values().count()
                ),
            );
        }
        ClientConnectorState::SecureSettingsExchange {
            io_channel_id,
            user_channel_id,
        } => rec.detail(
            Stage::ChannelConnection,
            match *joins {
                Some(0) => format!(
                    "user channel {user_channel_id} attached; channel joins skipped (SKIP_CHANNELJOIN)"
                ),
                Some(n) => format!(
                    "user channel {user_channel_id} attached; {n} channel(s) joined: the user channel, I/O channel {io_channel_id}{}",
                    if n > 2 { format!(" and {} more", n - 2) } else { String::new() }
                ),
                None => format!("user channel {user_channel_id} attached"),
            },
        ),
        ClientConnectorState::ConnectTimeAutoDetection { .. } => rec.detail(
            Stage::SecureSettings,
            "Client Info PDU sent (user name only, no password)",
        ),
        ClientConnectorState::MultitransportBootstrapping { .. } => {
            rec.detail(Stage::Licensing, "licensing completed");
        }
        _ => {}
    }
}

/// Client PDUs waiting to be written, and the stage of the first of them.
#[derive(Default)]
struct Outgoing {
    bytes: Vec<u8>,
    stage: Option<Stage>,
}

impl Outgoing {
    fn queue(&mut self, buf: &WriteBuf, size: Option<usize>, stage: Stage) {
        if let Some(len) = size {
            self.bytes.extend_from_slice(&buf[..len]);
            self.stage.get_or_insert(stage);
        }
    }

    async fn flush<S>(&mut self, framed: &mut TokioFramed<S>, rec: &Recorder) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + Sync,
    {
        if let Some(stage) = self.stage.take() {
            io_within(
                rec,
                stage,
                "sending to the server",
                during(stage),
                framed.write_all(&self.bytes),
            )
            .await?;
            self.bytes.clear();
        }
        Ok(())
    }
}

fn waiting_for(stage: Stage) -> &'static str {
    match stage {
        Stage::BasicSettings => "the MCS Connect Response",
        Stage::ChannelConnection => "the MCS Attach User / Channel Join Confirm",
        Stage::SecureSettings => "the server's answer to the Client Info PDU",
        Stage::Licensing => "the licensing exchange",
        Stage::Capabilities => "the Demand Active PDU",
        Stage::Finalization => "the finalization PDUs (Synchronize, Control, Font Map)",
        _ => "the server",
    }
}

fn during(stage: Stage) -> &'static str {
    match stage {
        Stage::BasicSettings => "during the MCS basic settings exchange",
        Stage::ChannelConnection => "during channel connection",
        Stage::SecureSettings => "after the Client Info PDU",
        Stage::Licensing => "during licensing",
        Stage::Capabilities => "during the capabilities exchange",
        Stage::Finalization => "during connection finalization",
        _ => "",
    }
}

/// The names of the bits of `encryptionMethod` (MS-RDPBCGR 2.2.1.4.3).
pub(crate) fn encryption_method_name(method: u32) -> String {
    let names: Vec<String> = [
        (0x01, "40BIT_ENCRYPTION_FLAG"),
        (0x02, "128BIT_ENCRYPTION_FLAG"),
        (0x08, "56BIT_ENCRYPTION_FLAG"),
        (0x10, "FIPS_ENCRYPTION_FLAG"),
    ]
    .into_iter()
    .filter(|(bit, _)| method & bit != 0)
    .map(|(_, name)| name.to_owned())
    .collect();
    let unknown = method & !0x1B;
    match (method, unknown) {
        (0, _) => "ENCRYPTION_METHOD_NONE".to_owned(),
        (_, 0) => names.join("|"),
        _ => names
            .into_iter()
            .chain([format!("unknown bits 0x{unknown:X}")])
            .collect::<Vec<_>>()
            .join("|"),
    }
}

/// The name of an `encryptionLevel` (MS-RDPBCGR 2.2.1.4.3).
pub(crate) fn encryption_level_name(level: u32) -> &'static str {
    match level {
        0 => "ENCRYPTION_LEVEL_NONE",
        1 => "ENCRYPTION_LEVEL_LOW",
        2 => "ENCRYPTION_LEVEL_CLIENT_COMPATIBLE",
        3 => "ENCRYPTION_LEVEL_HIGH",
        4 => "ENCRYPTION_LEVEL_FIPS",
        _ => "unknown level",
    }
}

#[cfg(test)]
/// An MCS Connect Response frame for tests (TPKT, X.224 Data) with this Server Security Data.
pub(crate) fn connect_response(security: gcc::ServerSecurityData) -> Vec<u8> {
    let blocks = gcc::ServerGccBlocks {
        core: gcc::ServerCoreData {
            version: gcc::RdpVersion::V10_12,
            optional_data: gcc::ServerCoreOptionalData::default(),
        },
        network: gcc::ServerNetworkData {
            channel_ids: Vec::new(),
            io_channel: 1003,
        },
        security,
        message_channel: None,
        multi_transport_channel: None,
    };
    let response = mcs::ConnectResponse {
        conference_create_response: gcc::ConferenceCreateResponse::new(1002, blocks)
            .expect("gcc blocks"),
        called_connect_id: 1,
        domain_parameters: mcs::DomainParameters::target(),
    };
    let data = ironrdp_core::encode_vec(&response).expect("encode");
    ironrdp_core::encode_vec(&X224(X224Data { data: data.into() })).expect("encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_set_error_info() {
        // Share Control Header: totalLength 22, PDUTYPE_DATAPDU | version, pduSource 0x03EA.
        let mut data = vec![22, 0, 0x17, 0, 0xEA, 0x03];
        // Share Data Header: shareId, pad, streamId, uncompressedLength, pduType2, ctype, clen.
        data.extend_from_slice(&[0, 0, 0, 0, 0, 1, 8, 0, PDUTYPE2_SET_ERROR_INFO_PDU, 0, 0, 0]);
        data.extend_from_slice(&7u32.to_le_bytes());
        assert_eq!(classify_user_data(&data), Incoming::ErrorInfo(7));
        assert_eq!(classify_user_data(&data[..20]), Incoming::Other);
    }

    #[test]
    fn classifies_license_errors() {
        let mut data = vec![0x80, 0, 0, 0, ERROR_ALERT, 3, 16, 0];
        data.extend_from_slice(&6u32.to_le_bytes());
        data.extend_from_slice(&2u32.to_le_bytes());
        assert_eq!(classify_user_data(&data), Incoming::LicenseError(6));
        data[8] = STATUS_VALID_CLIENT as u8;
        assert_eq!(classify_user_data(&data), Incoming::LicenseValidClient);
    }

    /// What IronRDP's connector refuses by its error text ("can't satisfy server security
    /// settings") the probe recognises in the PDU itself, and names what the server wants.
    #[test]
    fn classifies_a_connect_response_that_demands_standard_rdp_security() {
        assert_eq!(
            classify(&connect_response(gcc::ServerSecurityData::no_security())),
            Incoming::Other
        );
        let rc4 = gcc::ServerSecurityData {
            encryption_method: gcc::EncryptionMethod::BIT_128,
            encryption_level: gcc::EncryptionLevel::ClientCompatible,
            server_random: Some([7; 32]),
            server_cert: vec![1, 2, 3],
        };
        let incoming = classify(&connect_response(rc4));
        assert_eq!(
            incoming,
            Incoming::EncryptionRequired {
                method: 2,
                level: 2
            }
        );
        let failure = incoming_failure(Stage::BasicSettings, &incoming).expect("a failure");
        assert_eq!(failure.0.kind, FailureKind::UnsupportedSecurity);
        assert!(
            failure.0.message.contains("128BIT_ENCRYPTION_FLAG")
                && failure
                    .0
                    .message
                    .contains("ENCRYPTION_LEVEL_CLIENT_COMPATIBLE"),
            "{}",
            failure.0.message
        );
    }

    #[test]
    fn classify_never_panics_on_short_input() {
        for len in 0..24 {
            let data = vec![0xFF; len];
            let _ = classify_user_data(&data);
            let _ = classify(&data);
        }
    }
}
