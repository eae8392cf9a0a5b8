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
use super::trail::Tap;
use super::{Facts, Failure, ProbeOptions, Recorder, Stop};
use crate::cert::{self, CertPolicy, TrustStore};
use crate::diagnosis::Code;
use crate::report::TlsInfo;
use crate::target::Target;
use crate::{FailureKind, Stage, Step};

/// The TLS stream and the server's leaf certificate.
pub(crate) struct Upgraded {
    pub(crate) stream: TlsStream<Tap<TcpStream>>,
    pub(crate) leaf: Option<CertificateDer<'static>>,
}

/// The subjectPublicKey bits of the leaf's SPKI, which CredSSP binds to; `None` when the leaf
/// cannot be parsed (only CredSSP needs it, so only CredSSP parses it).
pub(crate) fn public_key(leaf: Option<&CertificateDer<'_>>) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(leaf?.as_ref()).ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

/// The chain a server presented, and when it arrived.
#[derive(Default)]
struct Presented {
    chain: Vec<CertificateDer<'static>>,
    at: Option<std::time::Instant>,
}

tokio::task_local! {
    /// The trail of the probe running in this task, which keeps the TLS secrets when it
    /// captures (one shared TLS configuration serves every probe).
    static KEY_LOG: super::trail::Trail;
}

/// Runs `fut` (a probe) with its TLS secrets going to `trail` when it captures.
///
/// A plain function returning the scoped future: an `async fn` here would hold `fut` twice
/// (its argument and the scope), doubling every probe's state (49 KB instead of 25 KB).
pub(crate) fn with_key_log<F: std::future::Future>(
    trail: super::trail::Trail,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    KEY_LOG.scope(trail, fut)
}

/// rustls's key log: the secrets of a capturing probe's session go to its trail; other
/// probes log nothing (and rustls computes nothing for them).
#[derive(Debug)]
struct TrailKeyLog;

impl rustls::KeyLog for TrailKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let _ = KEY_LOG.try_with(|trail| {
            trail.key(crate::capture::KeyLine {
                label: label.to_owned(),
                client_random: client_random.to_vec(),
                secret: secret.to_vec(),
            });
        });
    }

    fn will_log(&self, _label: &str) -> bool {
        KEY_LOG
            .try_with(super::trail::Trail::capturing)
            .unwrap_or(false)
    }
}

tokio::task_local! {
    /// The chain the server presented, recorded by [`RecordingVerifier`] for the probe whose
    /// handshake is running in this task (one shared TLS configuration serves every probe).
    static PRESENTED: std::cell::RefCell<Presented>;
}

/// Accepts any certificate chain during the handshake (the chain is judged afterwards, in
/// the certificate stage, so that every finding is reported), records it for the running
/// probe, and verifies the handshake signatures, so the server must hold the key of the
/// certificate it presents.
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Outside a probe's handshake (no task-local) there is nothing to record.
        let _ = PRESENTED.try_with(|presented| {
            *presented.borrow_mut() = Presented {
                chain: std::iter::once(end_entity)
                    .chain(intermediates)
                    .map(|c| c.clone().into_owned())
                    .collect(),
                at: Some(std::time::Instant::now()),
            };
        });
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
        .or_else(|e| weak_rsa::verify(message, cert, dss).ok_or(e))
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
        .or_else(|e| weak_rsa::verify(message, cert, dss).ok_or(e))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Handshake signatures by RSA keys shorter than 2048 bits, which *ring* refuses to verify.
///
/// The signature is still checked (with the RustCrypto `rsa` crate), so the server must hold
/// the key; the certificate stage then reports the key as `weak_key`, which fails it under
/// every policy but `warn` and `ignore`.
mod weak_rsa {
    use rsa::signature::Verifier as _;
    use rsa::{pkcs1v15, pss, BigUint, RsaPublicKey};
    use rustls::client::danger::HandshakeSignatureValid;
    use rustls::pki_types::CertificateDer;
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use x509_parser::prelude::{FromDer as _, X509Certificate};
    use x509_parser::public_key::PublicKey;

    /// `Some` when `cert` has a short RSA key and the signature verifies with it.
    pub(super) fn verify(
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Option<HandshakeSignatureValid> {
        let (_, cert) = X509Certificate::from_der(cert.as_ref()).ok()?;
        let Ok(PublicKey::RSA(rsa)) = cert.public_key().parsed() else {
            return None;
        };
        if rsa.key_size() >= 2048 {
            return None;
        }
        let key = RsaPublicKey::new(
            BigUint::from_bytes_be(rsa.modulus),
            BigUint::from_bytes_be(rsa.exponent),
        )
        .ok()?;
        let signature = dss.signature();
        let verified = match dss.scheme {
            SignatureScheme::RSA_PKCS1_SHA256 => pkcs1(
                pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key),
                message,
                signature,
            ),
            SignatureScheme::RSA_PKCS1_SHA384 => pkcs1(
                pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key),
                message,
                signature,
            ),
            SignatureScheme::RSA_PKCS1_SHA512 => pkcs1(
                pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key),
                message,
                signature,
            ),
            SignatureScheme::RSA_PSS_SHA256 => pss_verify(
                pss::VerifyingKey::<sha2::Sha256>::new(key),
                message,
                signature,
            ),
            SignatureScheme::RSA_PSS_SHA384 => pss_verify(
                pss::VerifyingKey::<sha2::Sha384>::new(key),
                message,
                signature,
            ),
            SignatureScheme::RSA_PSS_SHA512 => pss_verify(
                pss::VerifyingKey::<sha2::Sha512>::new(key),
                message,
                signature,
            ),
            _ => false,
        };
        verified.then(HandshakeSignatureValid::assertion)
    }

    fn pkcs1<D>(key: pkcs1v15::VerifyingKey<D>, message: &[u8], signature: &[u8]) -> bool
    where
        D: sha2::Digest + rsa::pkcs8::AssociatedOid,
    {
        pkcs1v15::Signature::try_from(signature).is_ok_and(|s| key.verify(message, &s).is_ok())
    }

    fn pss_verify<D>(key: pss::VerifyingKey<D>, message: &[u8], signature: &[u8]) -> bool
    where
        D: sha2::Digest + sha2::digest::FixedOutputReset,
    {
        pss::Signature::try_from(signature).is_ok_and(|s| key.verify(message, &s).is_ok())
    }
}

/// The TLS configuration of every probe (TLS 1.2 and 1.3, no resumption), built once; the
/// benchmark's raw TLS baseline uses it too, so both make the same signature checks.
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
            config.key_log = Arc::new(TrailKeyLog);
            Arc::new(config)
        })
        .clone()
}

/// Performs the TLS handshake (tls stage), then judges the certificate (certificate stage).
/// `peer` is the server's address and the protocol it selected, for the version check after
/// a handshake that failed for want of common parameters.
pub(crate) async fn upgrade(
    tcp: Tap<TcpStream>,
    peer: (std::net::SocketAddr, ironrdp_pdu::nego::SecurityProtocol),
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
    let (handshake, presented) = PRESENTED
        .scope(std::cell::RefCell::default(), async {
            let handshake = within(
                rec,
                Stage::Tls,
                "the TLS handshake",
                connector.connect(server_name, tcp),
            )
            .await;
            (handshake, PRESENTED.with(std::cell::RefCell::take))
        })
        .await;
    let chain = presented.chain;
    if let Some(at) = presented.at {
        rec.trail().step_at(
            at,
            Step::CertificateReceived,
            Some(format!("{} certificate(s)", chain.len())),
        );
    }
    let stream = match handshake? {
        Ok(stream) => stream,
        Err(e) => {
            // Whatever the server presented before the handshake failed is still worth
            // analysing: it is often why the handshake failed.
            if !chain.is_empty() && options.cert_policy != CertPolicy::Ignore {
                facts.certificate = Some(analyze(&chain, target, options));
            }
            let mut failure = tls_failure(&e);
            if lacks_common_parameters(&e) {
                let server_name = options.server_name.as_deref().unwrap_or(&target.host);
                // Boxed: its ClientHello buffers would otherwise sit in every probe's
                // state, though only a failed handshake needs them.
                Box::pin(name_what_the_server_speaks(
                    &mut failure,
                    peer,
                    server_name,
                    rec.deadline(),
                ))
                .await;
            }
            return Err(failure.into());
        }
    };

    let (_, session) = stream.get_ref();
    let version = session
        .protocol_version()
        .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}"));
    let suite = session
        .negotiated_cipher_suite()
        .map_or_else(|| "unknown".to_owned(), |s| format!("{:?}", s.suite()));
    rec.detail(Stage::Tls, format!("{version}, {suite}"));
    rec.step(Step::HandshakeDone, Some(format!("{version}, {suite}")));
    rec.trail().enter_tls();
    facts.tls = Some(TlsInfo {
        version,
        cipher_suite: suite,
        chain_length: chain.len(),
    });

    certificate_stage(&chain, target, options, rec, facts)?;
    Ok(Upgraded {
        stream,
        leaf: chain.into_iter().next(),
    })
}

/// Whether the certificate analysis consults the system roots: it analyses the chain (the
/// policy is not `ignore`), with no `--ca-file` store and no pin to decide instead.
pub(super) fn needs_system_roots(options: &ProbeOptions) -> bool {
    options.cert_policy != CertPolicy::Ignore && options.trust.is_none() && options.pin.is_none()
}

fn analyze(
    chain: &[CertificateDer<'_>],
    target: &Target,
    options: &ProbeOptions,
) -> crate::report::CertificateInfo {
    let trust = match &options.trust {
        Some(trust) => trust.clone(),
        None if needs_system_roots(options) => TrustStore::system(),
        // A pin decides the stage by itself: no store is loaded for it.
        None => TrustStore::unconsulted(),
    };
    let info = cert::cache::analyze(
        chain,
        &cert::AnalysisOptions {
            server_name: options.server_name.as_deref().unwrap_or(&target.host),
            trust: &trust,
            policy: options.cert_policy,
            now: time::OffsetDateTime::now_utc(),
            expiry_warning_days: options.expiry_warning_days,
            pin: options.pin.as_ref(),
        },
    );
    crate::report::CertificateInfo::clone(&info)
}

/// The known-hosts finding for the leaf (recorded at first contact). A file that cannot be
/// read or written is a local problem: an internal failure of the stage.
fn known_host(
    file: &std::path::Path,
    chain: &[CertificateDer<'_>],
    target: &Target,
) -> Result<Option<crate::report::Finding>, Failure> {
    let Some(entry) = chain.first().and_then(|leaf| {
        cert::known_hosts::Entry::new(
            &target.host,
            target.port,
            leaf.as_ref(),
            time::OffsetDateTime::now_utc(),
        )
    }) else {
        // No certificate, or not X.509: the analysis has said so already.
        return Ok(None);
    };
    cert::known_hosts::check(file, entry)
        .map(|check| Some(check.finding(file)))
        .map_err(|e| {
            Failure::new(
                Stage::Certificate,
                FailureKind::Internal,
                format!("cannot use the known hosts file {}: {e}", file.display()),
            )
        })
}

/// The certificate stage: analyse the chain and apply the policy (or the pin).
fn certificate_stage(
    chain: &[CertificateDer<'_>],
    target: &Target,
    options: &ProbeOptions,
    rec: &mut Recorder,
    facts: &mut Facts,
) -> Result<(), Stop> {
    if options.cert_policy == CertPolicy::Ignore && options.pin.is_none() {
        return rec
            .skip(Stage::Certificate, "not analysed (--cert-policy ignore)")
            .map_err(Stop::Reached);
    }
    rec.enter(Stage::Certificate).map_err(Stop::Reached)?;
    let mut info = analyze(chain, target, options);
    if let Some(file) = &options.known_hosts {
        info.findings.extend(known_host(file, chain, target)?);
        info.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    let summary = if info.findings.is_empty() {
        format!("{}; {}; no findings", info.subject, info.key)
    } else {
        let codes: Vec<&str> = info.findings.iter().map(|f| f.code.name()).collect();
        format!(
            "{}; {}; findings: {}",
            info.subject,
            info.key,
            codes.join(", ")
        )
    };
    rec.detail(Stage::Certificate, summary);
    let decisive = cert::decisive(&info, options.cert_policy);
    let failure = (!decisive.is_empty()).then(|| {
        let rule = match info.pin_matched {
            Some(_) => "--pin".to_owned(),
            None => format!("policy {}", options.cert_policy.name()),
        };
        let messages: Vec<&str> = decisive.iter().map(|f| f.message.as_str()).collect();
        let mut failure = Failure::new(
            Stage::Certificate,
            FailureKind::Certificate,
            format!(
                "{} ({rule}; credentials were not sent)",
                messages.join("; ")
            ),
        );
        failure.0.finding = decisive.first().map(|f| f.code);
        failure
    });
    facts.certificate = Some(info);
    match failure {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}

/// Classifies a failed TLS handshake.
/// Whether a handshake failed the way a server does that shares no TLS version or cipher
/// suite with rustls: a protocol_version, handshake_failure or insufficient_security alert,
/// an incompatible ServerHello, or a close right after the ClientHello.
fn lacks_common_parameters(error: &std::io::Error) -> bool {
    use rustls::AlertDescription as A;
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(
            A::ProtocolVersion | A::HandshakeFailure | A::InsufficientSecurity,
        ))
        | Some(rustls::Error::PeerIncompatible(_)) => true,
        Some(_) => false,
        None => matches!(
            error.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
    }
}

/// Offers the server one TLS version at a time with hand-built ClientHellos (as `scan` does;
/// no cryptography, 1.0 and 1.1 included) and says in `failure` what it speaks.
async fn name_what_the_server_speaks(
    failure: &mut Failure,
    (addr, carrier): (std::net::SocketAddr, ironrdp_pdu::nego::SecurityProtocol),
    server_name: &str,
    deadline: std::time::Instant,
) {
    use super::hello::{suite_name, versions_spoken, Version};
    // Within what is left of the tls stage's deadline, like every wait of the probe.
    let spoken = versions_spoken(addr, carrier, server_name, deadline).await;
    let chosen: Vec<String> = spoken
        .iter()
        .map(|(version, suite)| format!("{} with {}", version.name(), suite_name(*suite)))
        .collect();
    let what = if spoken.is_empty() {
        "offered one TLS version at a time (1.0 to 1.3), the server chose none of them".to_owned()
    } else if spoken.iter().all(|(version, _)| *version < Version::TLS12) {
        format!(
            "the server speaks only {} (offered one version at a time, it chose {}): rustls and current Windows clients require TLS 1.2 or later; enable TLS 1.2 on the server (on Windows 7 / Server 2008 R2: KB3080079 and the SCHANNEL TLS 1.2 keys)",
            spoken
                .iter()
                .map(|(version, _)| version.name())
                .collect::<Vec<_>>()
                .join(" and "),
            chosen.join(", ")
        )
    } else {
        format!(
            "offered one version at a time, the server chose {}: the versions match, so the cipher suites or the key exchange do not",
            chosen.join(", ")
        )
    };
    failure.0.message = format!("{}; {what}", failure.0.message);
}

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
            failure.0.code = Some(Code::TlsAlert(u8::from(*alert)));
            failure
        }
        Some(rustls::Error::PeerIncompatible(why)) => Failure::new(
            Stage::Tls,
            FailureKind::TlsError,
            format!("no common TLS parameters with the server ({why:?}): rdpscope's TLS (rustls) speaks TLS 1.2 and 1.3"),
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
