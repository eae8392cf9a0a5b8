//! Smoke tests: a minimal IronRDP client against every mock scenario.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ironrdp_connector::credssp::CredsspSequence;
use ironrdp_connector::sspi::generator::NetworkRequest;
use ironrdp_connector::{
    ClientConnector, ClientConnectorState, ConnectorError, ConnectorErrorKind, ConnectorResult,
    Credentials, DesktopSize, Sequence as _, ServerName, State as _,
};
use ironrdp_core::WriteBuf;
use ironrdp_pdu::gcc;
use ironrdp_pdu::mcs::{DisconnectProviderUltimatum, SendDataIndication};
use ironrdp_pdu::nego;
use ironrdp_pdu::rdp::capability_sets::MajorPlatformType;
use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};
use ironrdp_pdu::rdp::headers::{ShareControlHeader, ShareControlPdu, ShareDataPdu};
use ironrdp_pdu::x224::X224;
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use rdpscope::mock::{Expected, MockServer, MockServerHandle, Scenario, MOCK_PASSWORD, MOCK_USER};
use rdpscope::{FailureKind, Stage};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use x509_parser::prelude::{FromDer as _, X509Certificate};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------
// A minimal stepwise client
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum ClientError {
    Connector(ConnectorError),
    Io(io::Error),
    Timeout,
    /// A Set Error Info PDU with this ERRINFO code (only with `peek_error_info`).
    ServerErrorInfo(u32),
}

impl From<ConnectorError> for ClientError {
    fn from(e: ConnectorError) -> Self {
        ClientError::Connector(e)
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Where the client stopped: the connector state it was in, and why.
#[derive(Debug)]
struct Failure {
    state: &'static str,
    error: ClientError,
}

async fn timed<T, E: Into<ClientError>>(
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ClientError> {
    match tokio::time::timeout(CLIENT_TIMEOUT, fut).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(ClientError::Timeout),
    }
}

struct NoNetwork;

impl ironrdp_tokio::NetworkClient for NoNetwork {
    async fn send(&mut self, _request: &NetworkRequest) -> ConnectorResult<Vec<u8>> {
        Err(ironrdp_connector::general_err!("no network in tests"))
    }
}

#[derive(Debug)]
struct AcceptAnyCert;

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_config(user: &str, password: &str, enable_credssp: bool) -> ironrdp_connector::Config {
    ironrdp_connector::Config {
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
        enable_credssp,
        enable_standard_rdp_security: false,
        credentials: Credentials::UsernamePassword {
            username: user.to_owned(),
            password: password.to_owned(),
        },
        domain: None,
        client_build: 0,
        client_name: "rdpscope-test".to_owned(),
        keyboard_type: gcc::KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: 0,
        connection_type: gcc::ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: None,
        dig_product_id: String::new(),
        client_dir: String::new(),
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
    }
}

struct Session {
    framed: TokioFramed<TlsStream<TcpStream>>,
    connector: ClientConnector,
}

#[derive(Clone, Copy)]
struct Options {
    credssp: bool,
    /// Stop once the Client Info PDU is sent.
    stop_after_client_info: bool,
    /// Look at every server PDU after the security upgrade for Set Error Info before the
    /// connector does (the connector mis-parses it during licensing).
    peek_error_info: bool,
}

const DEFAULT: Options = Options {
    credssp: true,
    stop_after_client_info: false,
    peek_error_info: false,
};

/// Runs the connection sequence, stepping the connector and noting its state before each step.
async fn run_client(
    addr: SocketAddr,
    user: &str,
    password: &str,
    stop_after_client_info: bool,
) -> Result<Session, Failure> {
    let options = Options {
        stop_after_client_info,
        ..DEFAULT
    };
    run_client_with(addr, user, password, options).await
}

/// The ERRINFO code if `pdu` is a Set Error Info PDU.
fn set_error_info(pdu: &[u8]) -> Option<u32> {
    let indication = ironrdp_core::decode::<X224<SendDataIndication<'_>>>(pdu)
        .ok()?
        .0;
    let share = ironrdp_core::decode::<ShareControlHeader>(indication.user_data.as_ref()).ok()?;
    let ShareControlPdu::Data(data) = share.share_control_pdu else {
        return None;
    };
    let ShareDataPdu::ServerSetErrorInfo(_) = data.share_data_pdu else {
        return None;
    };
    let tail = indication.user_data.len().checked_sub(4)?;
    let code = indication.user_data.get(tail..)?;
    Some(u32::from_le_bytes(code.try_into().ok()?))
}

async fn run_client_with(
    addr: SocketAddr,
    user: &str,
    password: &str,
    options: Options,
) -> Result<Session, Failure> {
    let fail = |state: &'static str| move |error: ClientError| Failure { state, error };
    let config = client_config(user, password, options.credssp);

    let stream = timed(TcpStream::connect(addr)).await.map_err(fail("Tcp"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| fail("Tcp")(e.into()))?;
    let local = stream.local_addr().map_err(|e| fail("Tcp")(e.into()))?;

    let mut framed = TokioFramed::new(stream);
    let mut connector = ClientConnector::new(config, local);
    let mut buf = WriteBuf::new();

    while !connector.should_perform_security_upgrade() {
        let state = connector.state.name();
        timed(ironrdp_tokio::single_sequence_step(
            &mut framed,
            &mut connector,
            &mut buf,
        ))
        .await
        .map_err(fail(state))?;
    }

    let (stream, leftover) = framed.into_inner();
    let tls_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AcceptAnyCert))
    .with_no_client_auth();
    let tls_connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let server_name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    let tls = timed(tls_connector.connect(server_name, stream))
        .await
        .map_err(fail("EnhancedSecurityUpgrade"))?;

    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .expect("server certificate")
        .to_vec();
    let (_, cert) = X509Certificate::from_der(&leaf).expect("valid certificate");
    let public_key = cert.public_key().subject_public_key.data.to_vec();

    connector.mark_security_upgrade_as_done();
    let mut framed = TokioFramed::new_with_leftover(tls, leftover);

    if let ClientConnectorState::Credssp { selected_protocol } = connector.state {
        let (sequence, ts_request) = CredsspSequence::init(
            connector.config.credentials.clone(),
            connector.config.domain.as_deref(),
            selected_protocol,
            ServerName::new("localhost"),
            public_key,
            None,
        )
        .map_err(|e| fail("Credssp")(e.into()))?;
        timed(ironrdp_tokio::perform_credssp(
            &mut framed,
            &mut NoNetwork,
            &mut buf,
            sequence,
            ts_request,
        ))
        .await
        .map_err(fail("Credssp"))?;
        connector.mark_credssp_as_done();
    }

    loop {
        if connector.state.take_outcome().is_some() {
            return Ok(Session { framed, connector });
        }
        if options.stop_after_client_info
            && matches!(
                connector.state,
                ClientConnectorState::ConnectTimeAutoDetection { .. }
            )
        {
            return Ok(Session { framed, connector });
        }
        let state = connector.state.name();
        if options.peek_error_info {
            if let Some(hint) = connector.next_pdu_hint() {
                let pdu = timed(framed.read_by_hint(hint))
                    .await
                    .map_err(fail(state))?;
                if let Some(code) = set_error_info(&pdu) {
                    return Err(fail(state)(ClientError::ServerErrorInfo(code)));
                }
                buf.clear();
                let written = connector
                    .step(&pdu, None, &mut buf)
                    .map_err(|e| fail(state)(e.into()))?;
                if let Some(len) = written.size() {
                    timed(framed.write_all(&buf.filled()[..len]))
                        .await
                        .map_err(fail(state))?;
                }
                continue;
            }
        }
        timed(ironrdp_tokio::single_sequence_step(
            &mut framed,
            &mut connector,
            &mut buf,
        ))
        .await
        .map_err(fail(state))?;
    }
}

async fn start(scenario: Scenario) -> MockServerHandle {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    MockServer::builder()
        .scenario(scenario)
        .start()
        .await
        .expect("mock server starts")
}

fn is_eof(error: &ClientError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = match error {
        ClientError::Io(e) => return e.kind() == io::ErrorKind::UnexpectedEof,
        ClientError::Connector(e) => Some(e),
        ClientError::Timeout | ClientError::ServerErrorInfo(_) => None,
    };
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::UnexpectedEof {
                return true;
            }
        }
        source = e.source();
    }
    false
}

fn x224_connection_request() -> Vec<u8> {
    let request = nego::ConnectionRequest {
        nego_data: Some(nego::NegoRequestData::cookie("rdpscope".to_owned())),
        flags: nego::RequestFlags::empty(),
        protocol: nego::SecurityProtocol::SSL
            | nego::SecurityProtocol::HYBRID
            | nego::SecurityProtocol::HYBRID_EX,
        correlation_info: None,
    };
    ironrdp_core::encode_vec(&X224(request)).expect("encode connection request")
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn success_scenarios_reach_connected() {
    for scenario in [
        Scenario::SuccessTls,
        Scenario::SuccessHybrid,
        Scenario::SuccessHybridEx,
    ] {
        assert_eq!(scenario.expected().stage, Stage::Connected);
        let server = start(scenario).await;
        let result = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false).await;
        let session =
            result.unwrap_or_else(|f| panic!("{scenario}: failed in {}: {:?}", f.state, f.error));
        assert!(
            session.connector.state.name() == "Consumed" || session.connector.state.is_terminal()
        );
        drop(session);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn selected_protocols_match_the_scenario() {
    for (scenario, expected) in [
        (Scenario::SuccessTls, nego::SecurityProtocol::SSL),
        (Scenario::SuccessHybrid, nego::SecurityProtocol::HYBRID),
        (Scenario::SuccessHybridEx, nego::SecurityProtocol::HYBRID_EX),
    ] {
        let server = start(scenario).await;
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream.write_all(&x224_connection_request()).await.unwrap();
        let mut framed = TokioFramed::new(stream);
        let bytes = framed.read_by_hint(&ironrdp_pdu::X224_HINT).await.unwrap();
        let confirm = ironrdp_core::decode::<X224<nego::ConnectionConfirm>>(&bytes)
            .unwrap()
            .0;
        match confirm {
            nego::ConnectionConfirm::Response { protocol, .. } => {
                assert_eq!(protocol, expected, "{scenario}")
            }
            other => panic!("{scenario}: unexpected {other:?}"),
        }
        server.shutdown().await;
    }
}

#[tokio::test]
async fn wrong_password_fails_credssp_with_logon_failure() {
    for scenario in [Scenario::SuccessHybrid, Scenario::SuccessHybridEx] {
        let server = start(scenario).await;
        let failure = run_client(server.addr(), MOCK_USER, "wrong-password", false)
            .await
            .err()
            .unwrap_or_else(|| panic!("{scenario}: connected with a wrong password"));
        assert_eq!(failure.state, "Credssp", "{scenario}: {failure:?}");
        let ClientError::Connector(error) = &failure.error else {
            panic!("{scenario}: unexpected {failure:?}");
        };
        let ConnectorErrorKind::Credssp(sspi_error) = error.kind() else {
            panic!("{scenario}: unexpected {error:?}");
        };
        assert_eq!(
            sspi_error.nstatus.map(|s| s.0),
            Some(0xC000_006D),
            "{scenario}: {sspi_error:?}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn negotiation_failure_sends_each_code() {
    let scenarios: Vec<Scenario> = Scenario::ALL
        .iter()
        .copied()
        .filter(|s| matches!(s, Scenario::NegotiationFailure(_)))
        .collect();
    assert_eq!(scenarios.len(), 6);

    for scenario in scenarios {
        let expected = scenario.expected();
        assert_eq!(
            (expected.stage, expected.kind),
            (Stage::X224, Some(FailureKind::NegotiationFailure))
        );
        let code = expected.neg_failure_code.unwrap();
        let server = start(scenario).await;

        // Raw: encode a Connection Request, decode the RDP_NEG_FAILURE, then EOF.
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream.write_all(&x224_connection_request()).await.unwrap();
        let mut framed = TokioFramed::new(stream);
        let bytes = framed.read_by_hint(&ironrdp_pdu::X224_HINT).await.unwrap();
        let confirm = ironrdp_core::decode::<X224<nego::ConnectionConfirm>>(&bytes)
            .unwrap()
            .0;
        match confirm {
            nego::ConnectionConfirm::Failure { code: got } => assert_eq!(u32::from(got), code),
            other => panic!("{scenario}: unexpected {other:?}"),
        }
        let (mut stream, leftover) = framed.into_inner();
        assert!(leftover.is_empty());
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());

        // IronRDP client: ConnectorErrorKind::Negotiation with the code.
        let failure = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false)
            .await
            .err()
            .unwrap();
        assert_eq!(failure.state, "ConnectionInitiationWaitResponse");
        match &failure.error {
            ClientError::Connector(e) => match e.kind() {
                ConnectorErrorKind::Negotiation(f) => assert_eq!(u32::from(f.code()), code),
                other => panic!("{scenario}: unexpected {other:?}"),
            },
            other => panic!("{scenario}: unexpected {other:?}"),
        }
        server.shutdown().await;
    }
}

#[tokio::test]
async fn close_after_credssp_closes_during_basic_settings() {
    let scenario = Scenario::CloseAfterCredssp;
    assert_eq!(scenario.expected().stage, Stage::BasicSettings);
    let server = start(scenario).await;
    let failure = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false)
        .await
        .err()
        .unwrap();
    assert!(
        failure.state.starts_with("BasicSettingsExchange"),
        "{failure:?}"
    );
    assert!(is_eof(&failure.error), "{failure:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn black_hole_never_answers() {
    let server = start(Scenario::BlackHole).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(&x224_connection_request()).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await;
    assert!(read.is_err(), "black hole answered: {read:?}");
    // Shutdown closes the held connection and does not hang.
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown does not hang");
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
}

#[tokio::test]
async fn close_after_connection_request_closes_without_answer() {
    let server = start(Scenario::CloseAfterConnectionRequest).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream.write_all(&x224_connection_request()).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("server closes")
        .unwrap();
    assert!(rest.is_empty());

    let failure = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false)
        .await
        .err()
        .unwrap();
    assert_eq!(failure.state, "ConnectionInitiationWaitResponse");
    assert!(is_eof(&failure.error), "{failure:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn server_error_info_denied_connection_after_client_info() {
    let scenario = Scenario::ServerErrorInfoDeniedConnection;
    assert_eq!(scenario.expected().errinfo, Some(7));
    let server = start(scenario).await;

    let mut session = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, true)
        .await
        .unwrap_or_else(|f| panic!("failed in {}: {:?}", f.state, f.error));

    // Set Error Info on the I/O channel.
    let (_, frame) = timed(session.framed.read_pdu()).await.unwrap();
    let indication = ironrdp_core::decode::<X224<SendDataIndication<'_>>>(&frame)
        .unwrap()
        .0;
    assert_eq!(indication.channel_id, 1003);
    let share = ironrdp_core::decode::<ShareControlHeader>(indication.user_data.as_ref()).unwrap();
    let ShareControlPdu::Data(data) = share.share_control_pdu else {
        panic!("unexpected {share:?}");
    };
    let ShareDataPdu::ServerSetErrorInfo(info) = data.share_data_pdu else {
        panic!("unexpected {data:?}");
    };
    assert_eq!(
        info.0,
        ironrdp_pdu::rdp::server_error_info::ErrorInfo::ProtocolIndependentCode(
            ironrdp_pdu::rdp::server_error_info::ProtocolIndependentCode::ServerDeniedConnection
        )
    );

    // Then Disconnect Provider Ultimatum, then EOF.
    let (_, frame) = timed(session.framed.read_pdu()).await.unwrap();
    ironrdp_core::decode::<X224<DisconnectProviderUltimatum>>(&frame).unwrap();
    let eof = timed(session.framed.read_pdu()).await.unwrap_err();
    assert!(is_eof(&eof), "{eof:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn server_error_info_against_the_stock_connector() {
    // What a plain ClientConnector makes of it: it fails right after the Client Info PDU.
    let server = start(Scenario::ServerErrorInfoDeniedConnection).await;
    let failure = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false)
        .await
        .err()
        .unwrap();
    eprintln!("stock connector: {} {:?}", failure.state, failure.error);
    assert!(
        matches!(
            failure.state,
            "ConnectTimeAutoDetection" | "LicensingExchange"
        ),
        "{failure:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn keeps_serving_after_junk_and_mid_handshake_disconnects() {
    let server = start(Scenario::SuccessHybridEx).await;

    // Junk that is not TPKT.
    let mut junk = TcpStream::connect(server.addr()).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), junk.read_to_end(&mut rest))
        .await
        .expect("server drops junk");

    // A TPKT header announcing more than is ever sent, then a disconnect.
    let mut partial = TcpStream::connect(server.addr()).await.unwrap();
    partial
        .write_all(&[0x03, 0x00, 0x00, 0x2c, 0x27])
        .await
        .unwrap();
    drop(partial);

    // A disconnect right after the Connection Request (mid-handshake).
    let mut mid = TcpStream::connect(server.addr()).await.unwrap();
    mid.write_all(&x224_connection_request()).await.unwrap();
    let mut framed = TokioFramed::new(mid);
    let _ = framed.read_by_hint(&ironrdp_pdu::X224_HINT).await.unwrap();
    drop(framed);

    // A disconnect in the middle of the TLS handshake.
    let mut tls_mid = TcpStream::connect(server.addr()).await.unwrap();
    tls_mid.write_all(&x224_connection_request()).await.unwrap();
    let mut framed = TokioFramed::new(tls_mid);
    let _ = framed.read_by_hint(&ironrdp_pdu::X224_HINT).await.unwrap();
    framed
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01])
        .await
        .unwrap();
    drop(framed);

    // Still serves a full connection.
    let session = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false)
        .await
        .unwrap_or_else(|f| panic!("failed in {}: {:?}", f.state, f.error));
    drop(session);
    server.shutdown().await;
}

#[tokio::test]
async fn concurrent_connections_and_drop_shuts_down() {
    let server = start(Scenario::SuccessTls).await;
    let addr = server.addr();
    assert!(!server.certificate_der().is_empty());
    let clients: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                run_client(addr, MOCK_USER, MOCK_PASSWORD, false)
                    .await
                    .map(drop)
            })
        })
        .collect();
    for client in clients {
        let result = client.await.unwrap();
        assert!(result.is_ok(), "{:?}", result.err());
    }
    drop(server);
    // The listener is gone.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn servers_share_one_certificate_and_bind_real_ports() {
    let a = start(Scenario::SuccessTls).await;
    let b = start(Scenario::BlackHole).await;
    assert_ne!(a.addr().port(), 0);
    assert_ne!(a.addr().port(), b.addr().port());
    assert_eq!(a.certificate_der(), b.certificate_der());
    let (_, cert) = X509Certificate::from_der(a.certificate_der()).unwrap();
    assert_eq!(cert.validity().not_after.to_datetime().year(), 9999);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn hybrid_server_refuses_a_tls_only_client_with_rdp_neg_failure() {
    // The acceptor encodes RDP_NEG_FAILURE and returns Err: the mock must still send it.
    for scenario in [Scenario::SuccessHybrid, Scenario::SuccessHybridEx] {
        let server = start(scenario).await;
        let options = Options {
            credssp: false,
            ..DEFAULT
        };
        let failure = run_client_with(server.addr(), MOCK_USER, MOCK_PASSWORD, options)
            .await
            .err()
            .unwrap();
        match &failure.error {
            ClientError::Connector(e) => match e.kind() {
                ConnectorErrorKind::Negotiation(f) => {
                    assert_eq!(
                        f.code(),
                        nego::FailureCode::HYBRID_REQUIRED_BY_SERVER,
                        "{scenario}"
                    )
                }
                other => panic!("{scenario}: unexpected {other:?}"),
            },
            other => panic!("{scenario}: unexpected {other:?}"),
        }
        server.shutdown().await;
    }
}

/// Where a connector state sits in the stage vocabulary. `ConnectTimeAutoDetection` waits for
/// the server's first answer to the Client Info PDU, so it belongs to secure settings.
fn stage_of(state: &str) -> Stage {
    match state {
        "Tcp" => Stage::Tcp,
        s if s.starts_with("ConnectionInitiation") => Stage::X224,
        "EnhancedSecurityUpgrade" => Stage::Tls,
        "Credssp" => Stage::Credssp,
        s if s.starts_with("BasicSettingsExchange") => Stage::BasicSettings,
        "ChannelConnection" => Stage::ChannelConnection,
        "SecureSettingsExchange" | "ConnectTimeAutoDetection" => Stage::SecureSettings,
        "LicensingExchange" => Stage::Licensing,
        "MultitransportBootstrapping" | "CapabilitiesExchange" => Stage::Capabilities,
        _ => Stage::Finalization,
    }
}

fn kind_of(error: &ClientError) -> (FailureKind, Option<u32>, Option<u32>, Option<u32>) {
    match error {
        ClientError::Timeout => (FailureKind::Timeout, None, None, None),
        ClientError::ServerErrorInfo(code) => {
            (FailureKind::ServerErrorInfo, None, None, Some(*code))
        }
        ClientError::Connector(e) => match e.kind() {
            ConnectorErrorKind::Negotiation(f) => (
                FailureKind::NegotiationFailure,
                Some(u32::from(f.code())),
                None,
                None,
            ),
            ConnectorErrorKind::Credssp(e) => (
                FailureKind::LogonFailure,
                None,
                e.nstatus.map(|s| s.0),
                None,
            ),
            _ if is_eof(error) => (FailureKind::ClosedByPeer, None, None, None),
            _ => (FailureKind::ProtocolError, None, None, None),
        },
        ClientError::Io(_) if is_eof(error) => (FailureKind::ClosedByPeer, None, None, None),
        ClientError::Io(_) => (FailureKind::Internal, None, None, None),
    }
}

#[tokio::test]
async fn every_scenario_meets_its_expectation() {
    let options = Options {
        peek_error_info: true,
        ..DEFAULT
    };
    for scenario in Scenario::ALL {
        let expected = scenario.expected();
        let server = start(*scenario).await;
        let result = run_client_with(server.addr(), MOCK_USER, MOCK_PASSWORD, options).await;
        let observed = match &result {
            Ok(_) => Expected {
                stage: Stage::Connected,
                kind: None,
                neg_failure_code: None,
                ntstatus: None,
                errinfo: None,
            },
            Err(failure) => {
                let (kind, neg_failure_code, ntstatus, errinfo) = kind_of(&failure.error);
                Expected {
                    stage: stage_of(failure.state),
                    kind: Some(kind),
                    neg_failure_code,
                    ntstatus,
                    errinfo,
                }
            }
        };
        assert_eq!(observed, expected, "{scenario}: {:?}", result.err());
        server.shutdown().await;
    }
}

#[tokio::test]
async fn custom_certificate_is_served_and_bound_by_credssp() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mock.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cert_der = cert.der().to_vec();
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybridEx)
        .certificate(cert_der.clone(), key.serialize_der())
        .start()
        .await
        .unwrap();
    assert_eq!(server.certificate_der(), cert_der.as_slice());
    let session = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false)
        .await
        .unwrap_or_else(|f| panic!("failed in {}: {:?}", f.state, f.error));
    drop(session);
    server.shutdown().await;

    let err = MockServer::builder()
        .certificate(cert_der, b"not a key".to_vec())
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn custom_credentials_are_enforced() {
    let server = MockServer::builder()
        .scenario(Scenario::SuccessHybrid)
        .credentials("alice", Some("CORP"), "s3cret")
        .start()
        .await
        .unwrap();
    let ok = run_client(server.addr(), "alice", "s3cret", false).await;
    assert!(ok.is_ok(), "{:?}", ok.err());
    let failure = run_client(server.addr(), MOCK_USER, MOCK_PASSWORD, false)
        .await
        .err()
        .unwrap();
    // An unknown user is a logon failure too (STATUS_LOGON_FAILURE).
    let (kind, _, ntstatus, _) = kind_of(&failure.error);
    assert_eq!(
        (kind, ntstatus),
        (FailureKind::LogonFailure, Some(0xC000_006D)),
        "{failure:?}"
    );
    assert_eq!(failure.state, "Credssp");
    server.shutdown().await;
}
