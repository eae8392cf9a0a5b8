//! The tls and certificate stages.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::io::{io_failure, within};
use super::{Facts, Failure, ProbeOptions, Recorder, Stop};
use crate::cert::{self, CertPolicy, TrustStore};
use crate::report::TlsInfo;
use crate::target::Target;
use crate::{FailureKind, Stage};

/// The TLS stream and the leaf's public key (for CredSSP's public key binding).
pub(crate) struct Upgraded {
    pub(crate) stream: TlsStream<TcpStream>,
    /// `None` when the leaf cannot be parsed (only CredSSP needs it).
    pub(crate) server_public_key: Option<Vec<u8>>,
}

/// Accepts any certificate chain during the handshake (the chain is judged afterwards, in
/// the certificate stage, so that every finding is reported) but verifies the handshake
/// signatures, so the server must hold the key of the certificate it presents.
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RecordingVerifier {
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The probe's TLS configuration, built once per process: TLS 1.2 and 1.3, no resumption.
pub(crate) fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = ClientConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .expect("the ring provider supports TLS 1.2 and 1.3")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(RecordingVerifier { provider }))
                .with_no_client_auth();
            config.resumption = rustls::client::Resumption::disabled();
            config.enable_sni = true;
            Arc::new(config)
        })
        .clone()
}

/// Performs the TLS handshake (tls stage), then judges the certificate (certificate stage).
pub(crate) async fn upgrade(
    tcp: TcpStream,
    target: &Target,
    options: &ProbeOptions,
    rec: &mut Recorder,
    facts: &mut Facts,
) -> Result<Upgraded, Stop> {
    rec.enter(Stage::Tls).map_err(Stop::Reached)?;
    let server_name = match target.ip() {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => ServerName::try_from(target.host.clone()).map_err(|_| {
            Failure::new(
                Stage::Tls,
                FailureKind::Internal,
                format!("invalid TLS server name `{}`", target.host),
            )
        })?,
    };
    let connector = tokio_rustls::TlsConnector::from(client_config());
    let handshake = within(
        rec,
        Stage::Tls,
        "the TLS handshake",
        connector.connect(server_name, tcp),
    )
    .await?;
    let stream = handshake.map_err(|e| tls_failure(&e))?;

    let (_, session) = stream.get_ref();
    let chain: Vec<CertificateDer<'static>> = session
        .peer_certificates()
        .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let version = session
        .protocol_version()
        .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}"));
    let suite = session
        .negotiated_cipher_suite()
        .map_or_else(|| "unknown".to_owned(), |s| format!("{:?}", s.suite()));
    rec.detail(Stage::Tls, format!("{version}, {suite}"));
    facts.tls = Some(TlsInfo {
        version,
        cipher_suite: suite,
        chain_length: chain.len(),
    });

    // Certificate stage.
    let server_public_key = leaf_public_key(&chain);
    if options.cert_policy == CertPolicy::Ignore {
        rec.skip(Stage::Certificate, "not analysed (--cert-policy ignore)")
            .map_err(Stop::Reached)?;
    } else {
        rec.enter(Stage::Certificate).map_err(Stop::Reached)?;
        let name = options.server_name.as_deref().unwrap_or(&target.host);
        let trust = options.trust.clone().unwrap_or_else(TrustStore::system);
        let info = cert::analyze(
            &chain,
            name,
            &trust,
            options.cert_policy,
            time::OffsetDateTime::now_utc(),
        );
        let fails = options.cert_policy.fails(&info.findings);
        let summary = if info.findings.is_empty() {
            format!("{}; no findings", info.subject)
        } else {
            let codes: Vec<&str> = info.findings.iter().map(|f| f.code.as_str()).collect();
            format!("{}; findings: {}", info.subject, codes.join(", "))
        };
        rec.detail(Stage::Certificate, summary);
        let failure = fails.then(|| {
            let worst: Vec<&str> = info
                .findings
                .iter()
                .filter(|f| {
                    options.cert_policy == CertPolicy::Strict
                        || f.severity == crate::report::Severity::Error
                })
                .map(|f| f.message.as_str())
                .collect();
            Failure::new(
                Stage::Certificate,
                FailureKind::Certificate,
                format!(
                    "{} (policy {}; credentials were not sent)",
                    worst.join("; "),
                    options.cert_policy.name()
                ),
            )
        });
        facts.certificate = Some(info);
        if let Some(failure) = failure {
            return Err(failure.into());
        }
    }
    Ok(Upgraded {
        stream,
        server_public_key,
    })
}

/// The subjectPublicKey bits of the leaf's SPKI, which CredSSP binds to.
fn leaf_public_key(chain: &[CertificateDer<'_>]) -> Option<Vec<u8>> {
    let leaf = chain.first()?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

/// Classifies a failed TLS handshake.
fn tls_failure(error: &std::io::Error) -> Failure {
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::AlertReceived(alert)) => {
            let mut failure = Failure::new(
                Stage::Tls,
                FailureKind::TlsAlert,
                format!("the server sent the TLS alert {alert:?} during the handshake"),
            );
            failure.0.tls_alert = Some(format!("{alert:?}"));
            failure
        }
        Some(rustls::Error::PeerIncompatible(why)) => Failure::new(
            Stage::Tls,
            FailureKind::TlsError,
            format!("no common TLS parameters with the server ({why:?}); rdpscope speaks TLS 1.2 and 1.3, a TLS 1.0/1.1-only server cannot be probed"),
        ),
        Some(rustls::Error::InvalidCertificate(why)) => Failure::new(
            Stage::Tls,
            FailureKind::TlsError,
            format!(
                "the server's handshake signature does not verify with its certificate's key ({why}): a weak or unsupported key (e.g. RSA shorter than 2048 bits) or a certificate that does not match the private key"
            ),
        ),
        Some(rustls::Error::InvalidMessage(why)) => Failure::new(
            Stage::Tls,
            FailureKind::TlsError,
            format!("the server sent an invalid TLS message ({why:?})"),
        ),
        Some(other) => Failure::new(Stage::Tls, FailureKind::TlsError, format!("TLS handshake failed: {other}")),
        None => {
            let mut failure = io_failure(Stage::Tls, error, "during the TLS handshake");
            if failure.0.kind == FailureKind::ClosedByPeer {
                failure.0.message = "the server closed the connection during the TLS handshake (typical when the RDP service cannot use its certificate's private key)".to_owned();
            }
            failure
        }
    }
}
