//! A CredSSP client the tests drive themselves: sspi's `CredSspClient` (through IronRDP's
//! re-export) over TLS to a server, with the security package and the announced CredSSP
//! version chosen by the test, so that the mocks meet clients the probe never is: NTLM
//! wrapped in SPNEGO (the Negotiate package) and clients older than CredSSP version 3.

use std::sync::Arc;

use ironrdp_connector::sspi::credssp::{
    ClientMode, ClientState, CredSspClient, CredSspMode, EarlyUserAuthResult, TsRequest,
};
use ironrdp_connector::sspi::ntlm::NtlmConfig;
use ironrdp_connector::sspi::{AuthIdentity, Credentials, NegotiateConfig, Username};
use ironrdp_pdu::nego::{ConnectionConfirm, SecurityProtocol};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The security package the client wraps its NTLM messages in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Package {
    /// Bare NTLM messages in the TSRequest negoTokens (mstsc, xfreerdp, IronRDP, impacket).
    Ntlm,
    /// NTLM inside SPNEGO, with mechListMIC (the Negotiate package; aardwolf).
    Negotiate,
}

/// How the client's CredSSP exchange ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The credentials went out and, with HYBRID_EX, the Early User Authorization Result
    /// said success.
    Authenticated,
    /// HYBRID_EX: the Early User Authorization Result said access denied.
    AccessDenied,
    /// The server answered with a TSRequest carrying this errorCode.
    ErrorCode(u32),
    /// The server closed the connection after the client's `after`-th TSRequest.
    Closed { after: usize },
    /// The client gave up on the server's answer (sspi's words).
    ClientError(String),
}

/// One CredSSP exchange with the server at `addr`, as `user` / `password`, announcing
/// CredSSP `version`: X.224 offering TLS, HYBRID and HYBRID_EX, TLS without certificate
/// checks, then CredSSP with `package`.
pub async fn exchange(
    addr: std::net::SocketAddr,
    package: Package,
    version: u32,
    user: &str,
    password: &str,
) -> Outcome {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    tcp.write_all(&super::rdp::connection_request())
        .await
        .expect("send the Connection Request");
    let confirm = read_tpkt(&mut tcp).await.expect("a Connection Confirm");
    let confirm: ironrdp_pdu::x224::X224<ConnectionConfirm> =
        ironrdp_core::decode(&confirm).expect("decode the Connection Confirm");
    let ConnectionConfirm::Response { protocol, .. } = confirm.0 else {
        panic!("the server refused the negotiation: {confirm:?}");
    };
    assert!(
        protocol.intersects(SecurityProtocol::HYBRID | SecurityProtocol::HYBRID_EX),
        "the server did not select NLA: {protocol:?}"
    );

    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("localhost").expect("a name");
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .expect("a server certificate")
        .clone();
    let public_key = {
        use x509_parser::prelude::FromDer as _;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(leaf.as_ref())
            .expect("a parsable certificate");
        cert.public_key().subject_public_key.data.to_vec()
    };

    let identity = AuthIdentity {
        username: Username::new(user, None).expect("a user name"),
        password: password.to_owned().into(),
    };
    let computer = "rdpscope-test".to_owned();
    let mode = match package {
        Package::Ntlm => ClientMode::Ntlm(NtlmConfig::new(computer)),
        Package::Negotiate => ClientMode::Negotiate(NegotiateConfig::new(
            Box::new(NtlmConfig::new(computer.clone())),
            Some("!kerberos,!pku2u,ntlm".to_owned()),
            computer,
        )),
    };
    let mut client = CredSspClient::new_with_version(
        public_key,
        Credentials::AuthIdentity(identity),
        CredSspMode::WithCredentials,
        version,
        mode,
        "TERMSRV/localhost".to_owned(),
    )
    .expect("a CredSSP client");

    let mut request = TsRequest::default();
    let mut sent = 0;
    loop {
        let state = client.process(request).resolve_to_result();
        let (reply, last) = match state {
            Ok(ClientState::ReplyNeeded(reply)) => (reply, false),
            Ok(ClientState::FinalMessage(reply)) => (reply, true),
            Err(error) => return Outcome::ClientError(error.to_string()),
        };
        let mut bytes = Vec::new();
        reply.encode_ts_request(&mut bytes).expect("encode");
        if tls.write_all(&bytes).await.is_err() {
            return Outcome::Closed { after: sent };
        }
        sent += 1;
        if last {
            break;
        }
        let Some(answer) = read_ts_request(&mut tls).await else {
            return Outcome::Closed { after: sent };
        };
        let answer = TsRequest::from_buffer(&answer).expect("a TSRequest");
        if let Some(code) = answer.error_code {
            return Outcome::ErrorCode(code.0);
        }
        request = answer;
    }
    if !protocol.contains(SecurityProtocol::HYBRID_EX) {
        return Outcome::Authenticated;
    }
    let mut result = [0u8; 4];
    if tls.read_exact(&mut result).await.is_err() {
        return Outcome::Closed { after: sent };
    }
    match EarlyUserAuthResult::from_buffer(&result[..]) {
        Ok(EarlyUserAuthResult::Success) => Outcome::Authenticated,
        Ok(_) => Outcome::AccessDenied,
        Err(error) => Outcome::ClientError(error.to_string()),
    }
}

/// One TPKT packet (X.224), or `None` at EOF.
async fn read_tpkt<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut packet = vec![0u8; 4];
    stream.read_exact(&mut packet).await.ok()?;
    let length = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    packet.resize(length.max(4), 0);
    stream.read_exact(&mut packet[4..]).await.ok()?;
    Some(packet)
}

/// One DER TSRequest, or `None` at EOF or on an error.
async fn read_ts_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match TsRequest::read_length(&bytes[..]) {
            Ok(length) if bytes.len() >= length => return Some(bytes),
            Ok(length) => {
                let start = bytes.len();
                bytes.resize(length, 0);
                stream.read_exact(&mut bytes[start..]).await.ok()?;
                return Some(bytes);
            }
            Err(_) => {
                stream.read_exact(&mut byte).await.ok()?;
                bytes.push(byte[0]);
            }
        }
    }
}

/// Accepts any certificate (the tests check CredSSP, not the chain) but still verifies the
/// handshake signatures.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
            &provider().signature_verification_algorithms,
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
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
