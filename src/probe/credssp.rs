//! The credssp stage: CredSSP / NLA with NTLM, including the Early User Authorization Result.

use ironrdp_connector::credssp::{CredsspProcessGenerator, CredsspSequence};
use ironrdp_connector::sspi::credssp::{ClientState, TsRequest};
use ironrdp_connector::sspi::generator::GeneratorState;
use ironrdp_connector::{
    ClientConnector, ClientConnectorState, ConnectorError, ConnectorErrorKind, ServerName,
};
use ironrdp_core::WriteBuf;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use super::io::io_within;
use super::{Facts, Failure, ProbeOptions, Recorder, Stop};
use crate::diagnosis::{codes, Code};
use crate::report::CredsspInfo;
use crate::target::Target;
use crate::{ntlm, FailureKind, Stage, Step};

/// Runs CredSSP to completion or to the first failure.
pub(crate) async fn run<S>(
    framed: &mut TokioFramed<S>,
    connector: &mut ClientConnector,
    target: &Target,
    server_public_key: Option<Vec<u8>>,
    options: &ProbeOptions,
    rec: &mut Recorder,
    facts: &mut Facts,
) -> Result<(), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + Sync,
{
    let ClientConnectorState::Credssp { selected_protocol } = connector.state else {
        return Err(Failure::new(
            Stage::Credssp,
            FailureKind::Internal,
            "connector is not at the CredSSP state",
        )
        .into());
    };
    let early_user_authorization =
        selected_protocol.contains(ironrdp_pdu::nego::SecurityProtocol::HYBRID_EX);
    let mut info = CredsspInfo {
        package: "NTLM".to_owned(),
        result: "not started".to_owned(),
        early_user_authorization,
    };
    let Some(credentials) = options.credentials.as_ref() else {
        info.result = "no credentials".to_owned();
        facts.credssp = Some(info);
        return Err(Failure::new(
            Stage::Credssp,
            FailureKind::CredentialsRequired,
            "the server requires NLA (CredSSP) and no credentials were given: pass --user and RDPSCOPE_PASSWORD or --password-stdin",
        )
        .into());
    };

    let result = match server_public_key {
        Some(key) => {
            let mut sent = Sent::default();
            let result = exchange(
                framed,
                credentials,
                selected_protocol,
                target,
                key,
                rec,
                &mut sent,
            )
            .await;
            facts.credentials_sent = sent.authenticate;
            result
        }
        None => Err(Failure::new(
            Stage::Credssp,
            FailureKind::Certificate,
            "the server certificate cannot be parsed, so CredSSP cannot bind to its public key",
        )),
    };
    info.result = match &result {
        Ok(()) => "success".to_owned(),
        Err(failure) => failure.0.kind.name().to_owned(),
    };
    let who = match &credentials.domain {
        Some(domain) => format!("{domain}\\{}", credentials.user),
        None => credentials.user.clone(),
    };
    let eua = if early_user_authorization {
        "; Early User Authorization Result expected"
    } else {
        ""
    };
    rec.detail(
        Stage::Credssp,
        format!("NTLM as {who}: {}{eua}", info.result),
    );
    facts.credssp = Some(info);
    result.map_err(Stop::Failed)
}

/// What the client has sent so far.
#[derive(Default)]
struct Sent {
    /// The NTLM AUTHENTICATE message: from here on something derived from the password
    /// has left the client.
    authenticate: bool,
}

/// Logs what an outgoing TSRequest carries (the NTLM message type, whether it holds the
/// pubKeyAuth or the TSCredentials, its size), never its content.
fn describe_outgoing(bytes: &[u8], sent: &mut Sent) {
    let Ok(request) = TsRequest::from_buffer(bytes) else {
        debug!(bytes = bytes.len(), "Sending a CredSSP message");
        return;
    };
    let ntlm = request.nego_tokens.as_deref().and_then(ntlm::message_type);
    if ntlm == Some(ntlm::MessageType::Authenticate) || request.auth_info.is_some() {
        sent.authenticate = true;
    }
    debug!(
        bytes = bytes.len(),
        version = request.version,
        ntlm = ntlm.map_or("none", ntlm::MessageType::name),
        pub_key_auth = request.pub_key_auth.is_some(),
        ts_credentials = request.auth_info.is_some(),
        "Sending a TSRequest"
    );
}

/// Logs what the server's TSRequest carries: its CredSSP version, the NTLM message type,
/// and for a CHALLENGE what it reveals about the server (names, version, clock).
fn describe_incoming(request: &TsRequest) {
    let ntlm = request.nego_tokens.as_deref();
    let challenge = ntlm.and_then(ntlm::Challenge::parse);
    match challenge {
        Some(c) => debug!(
            version = request.version,
            flags = format_args!("0x{:08X}", c.flags),
            target_name = c.target_name.as_deref().unwrap_or(""),
            netbios_computer = c.netbios_computer.as_deref().unwrap_or(""),
            netbios_domain = c.netbios_domain.as_deref().unwrap_or(""),
            dns_computer = c.dns_computer.as_deref().unwrap_or(""),
            dns_domain = c.dns_domain.as_deref().unwrap_or(""),
            os_version = %c.version.map(|v| v.to_string()).unwrap_or_default(),
            server_time = %c.server_time().map(crate::cert::rfc3339).unwrap_or_default(),
            "Received the NTLM CHALLENGE"
        ),
        None => debug!(
            version = request.version,
            ntlm = ntlm
                .and_then(ntlm::message_type)
                .map_or("none", ntlm::MessageType::name),
            pub_key_auth = request.pub_key_auth.is_some(),
            error_code = request.error_code.map(|c| c.0),
            "Received a TSRequest"
        ),
    }
}

async fn exchange<S>(
    framed: &mut TokioFramed<S>,
    credentials: &super::Credentials,
    selected_protocol: ironrdp_pdu::nego::SecurityProtocol,
    target: &Target,
    server_public_key: Vec<u8>,
    rec: &Recorder,
    sent: &mut Sent,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + Sync,
{
    let (mut sequence, mut ts_request) = CredsspSequence::init(
        ironrdp_connector::Credentials::UsernamePassword {
            username: credentials.user.clone(),
            password: credentials.password.expose().to_owned(),
        },
        credentials.domain.as_deref(),
        selected_protocol,
        ServerName::new(target.host.clone()),
        server_public_key,
        None,
    )
    .map_err(|e| connector_failure(&e))?;
    let mut buf = WriteBuf::new();

    loop {
        let server_key = ts_request.pub_key_auth.is_some();
        let client_state = {
            let mut generator = sequence.process_ts_request(ts_request);
            resolve(&mut generator)?
        };
        if server_key {
            // sspi accepted the server's pubKeyAuth: the server derived the session key
            // from the password, so it accepted the credentials.
            rec.step(Step::ServerKeyVerified, None);
        }
        buf.clear();
        let written = sequence
            .handle_process_result(client_state, &mut buf)
            .map_err(|e| connector_failure(&e))?;
        if let Some(len) = written.size() {
            describe_outgoing(&buf[..len], sent);
            let message = "sending a CredSSP message";
            io_within(
                rec,
                Stage::Credssp,
                message,
                message,
                framed.write_all(&buf[..len]),
            )
            .await
            .map_err(|failure| closed_after(failure, rec))?;
        }

        let Some(hint) = sequence.next_pdu_hint() else {
            return Ok(());
        };
        let answer = "the server's CredSSP answer";
        let pdu = io_within(
            rec,
            Stage::Credssp,
            answer,
            "during CredSSP",
            framed.read_by_hint(hint),
        )
        .await
        .map_err(|failure| closed_after(failure, rec))?;
        match sequence
            .decode_server_message(&pdu)
            .map_err(|e| connector_failure(&e))?
        {
            Some(next) => {
                describe_incoming(&next);
                check_server_message(&next)?;
                ts_request = next;
            }
            None => {
                debug!("Received the Early User Authorization Result");
                return Ok(());
            }
        }
    }
}

/// A close during CredSSP, said by the step it followed: whether the server had the
/// password to check decides what it most likely means.
fn closed_after(mut failure: Failure, rec: &Recorder) -> Failure {
    if failure.0.kind != FailureKind::ClosedByPeer {
        return failure;
    }
    let message = match rec.trail().last_step() {
        Some(Step::NegotiateSent) => {
            "the server closed the connection right after the NTLM NEGOTIATE message, before it challenged: its CredSSP (NTLM) provider failed or refused the client; the password was not sent, so this is not a credential problem"
        }
        Some(Step::ChallengeReceived) => {
            "the server closed the connection after its NTLM CHALLENGE, before the client answered: not a credential problem (the password was not sent)"
        }
        Some(Step::AuthenticateSent) => {
            "the server closed the connection right after the NTLM AUTHENTICATE message (the password was checked here): it most likely rejected the credentials (wrong password, unknown or locked user); servers that send no errorCode (older Windows, xrdp, FreeRDP) refuse a logon this way"
        }
        Some(Step::ServerKeyVerified | Step::CredentialsSent) => {
            "the server closed the connection after it accepted the credentials (its pubKeyAuth verified), before the connection sequence: it refused or failed the logon afterwards"
        }
        _ => return failure,
    };
    failure.0.message = message.to_owned();
    failure
}

/// The size of an NTLM message signature (MS-NLMP 2.2.2.9), which starts every sealed
/// message such as pubKeyAuth.
const NTLM_SIGNATURE_LEN: usize = 16;

/// Rejects what sspi cannot take from a server without panicking: a pubKeyAuth shorter than
/// the signature it must start with (sspi splits it at 16 bytes unchecked).
fn check_server_message(request: &TsRequest) -> Result<(), Failure> {
    match &request.pub_key_auth {
        Some(auth) if auth.len() < NTLM_SIGNATURE_LEN => Err(Failure::new(
            Stage::Credssp,
            FailureKind::ProtocolError,
            format!(
                "invalid CredSSP message: the server's pubKeyAuth is {} bytes, shorter than the {NTLM_SIGNATURE_LEN}-byte signature it must start with",
                auth.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// Runs the CredSSP generator; NTLM never needs the network (only Kerberos would).
fn resolve(generator: &mut CredsspProcessGenerator<'_>) -> Result<ClientState, Failure> {
    match generator.start() {
        GeneratorState::Completed(result) => result.map_err(|e| sspi_failure(&e)),
        GeneratorState::Suspended(_) => Err(Failure::new(
            Stage::Credssp,
            FailureKind::CredsspError,
            "CredSSP asked for a Kerberos network exchange, which rdpscope does not perform",
        )),
    }
}

fn connector_failure(error: &ConnectorError) -> Failure {
    match error.kind() {
        ConnectorErrorKind::Credssp(e) => sspi_failure(e),
        ConnectorErrorKind::AccessDenied => Failure::new(
            Stage::Credssp,
            FailureKind::AccessDenied,
            "access denied by the server's Early User Authorization Result: the account authenticated but may not log on remotely (Remote Desktop Users group, \"Allow log on through Remote Desktop Services\")",
        ),
        _ => Failure::new(Stage::Credssp, FailureKind::ProtocolError, format!("invalid CredSSP message: {error}")),
    }
}

fn sspi_failure(error: &ironrdp_connector::sspi::Error) -> Failure {
    if let Some(status) = error.nstatus {
        let code = status.0;
        let name = codes::ntstatus(code).map(|c| c.name);
        let meaning = codes::ntstatus_summary(code);
        let mut failure = Failure::new(
            Stage::Credssp,
            FailureKind::LogonFailure,
            format!(
                "{meaning} (0x{code:08X} {})",
                name.unwrap_or("unknown NTSTATUS")
            ),
        );
        failure.0.code = Some(Code::Ntstatus(code));
        return failure;
    }
    // Without an NTSTATUS, the SSPI error kind is a SEC_E code.
    let code = error.error_type as u32;
    let name = codes::ntstatus(code).map(|c| c.name);
    let mut failure = Failure::new(
        Stage::Credssp,
        FailureKind::CredsspError,
        format!(
            "CredSSP failed: {} (0x{code:08X} {})",
            error.description,
            name.unwrap_or("SEC_E")
        ),
    );
    failure.0.code = Some(Code::Ntstatus(code));
    failure
}
