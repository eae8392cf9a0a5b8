//! The mock server's TLS identity: a self-signed certificate generated once per process.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// A certificate and its private key, both DER.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) cert_der: Vec<u8>,
    pub(crate) key_der: Vec<u8>,
}

static DEFAULT_IDENTITY: OnceLock<Identity> = OnceLock::new();

/// The process-wide default identity: CN / SAN `localhost`, IP SANs 127.0.0.1 and ::1, valid
/// until 9999-12-31.
pub(crate) fn default_identity() -> io::Result<Identity> {
    if let Some(identity) = DEFAULT_IDENTITY.get() {
        return Ok(identity.clone());
    }
    let generated = generate()?;
    // Another thread may have won the race: either identity is fine, keep the stored one.
    Ok(DEFAULT_IDENTITY.get_or_init(|| generated).clone())
}

fn generate() -> io::Result<Identity> {
    let rcgen_err =
        |e: rcgen::Error| io::Error::other(format!("certificate generation failed: {e}"));

    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).map_err(rcgen_err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(9999, 12, 31);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];

    let key = rcgen::KeyPair::generate().map_err(rcgen_err)?;
    let cert = params.self_signed(&key).map_err(rcgen_err)?;

    Ok(Identity {
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

/// The subjectPublicKey bits of the certificate's SPKI: what CredSSP binds to.
pub(crate) fn subject_public_key(cert_der: &[u8]) -> io::Result<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(cert_der).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid certificate: {e}"),
        )
    })?;
    Ok(cert.public_key().subject_public_key.data.to_vec())
}

/// A rustls server configuration serving `identity`.
pub(crate) fn server_config(identity: &Identity) -> io::Result<Arc<rustls::ServerConfig>> {
    let invalid = |e: rustls::Error| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid TLS identity: {e}"),
        )
    };

    let key = PrivateKeyDer::try_from(identity.key_der.clone()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid private key: {e}"),
        )
    })?;
    let cert = CertificateDer::from(identity.cert_der.clone());

    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(invalid)?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .map_err(invalid)?;
    // CredSSP binds to the TLS channel: no session tickets or resumption needed.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;

    Ok(Arc::new(config))
}
