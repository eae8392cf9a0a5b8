//! The mock server's TLS identity: a self-signed certificate generated once per process, or
//! any certificate chain and key the caller gives.
//!
//! *ring* cannot load or sign with RSA keys under 2048 bits; such keys are signed with the
//! `rsa` crate instead ([`RsaTlsKey`]), so that weak-key certificates can be served too.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use tracing::debug;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// A certificate chain (leaf first) and the leaf's private key, all DER.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) chain_der: Vec<Vec<u8>>,
    pub(crate) key_der: Vec<u8>,
}

impl Identity {
    /// The leaf certificate (the chain is never empty once [`server_config`] accepted it).
    pub(crate) fn leaf_der(&self) -> io::Result<&[u8]> {
        self.chain_der
            .first()
            .map(Vec::as_slice)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty certificate chain"))
    }
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

/// A new self-signed identity (CN / SAN `localhost`, IP SANs 127.0.0.1 and ::1).
pub(crate) fn generate() -> io::Result<Identity> {
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
        chain_der: vec![cert.der().to_vec()],
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

/// A rustls server configuration serving `identity`: the whole chain, signed with the
/// leaf's key (by *ring*, or by the `rsa` crate for RSA keys *ring* rejects).
pub(crate) fn server_config(identity: &Identity) -> io::Result<Arc<rustls::ServerConfig>> {
    let invalid = |e: rustls::Error| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid TLS identity: {e}"),
        )
    };

    identity.leaf_der()?;
    let key = PrivateKeyDer::try_from(identity.key_der.clone()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid private key: {e}"),
        )
    })?;
    let chain: Vec<CertificateDer<'static>> = identity
        .chain_der
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing_key = match provider.key_provider.load_private_key(key.clone_key()) {
        Ok(signing_key) => signing_key,
        Err(ring_error) => match RsaTlsKey::from_der(&key) {
            Some(rsa_key) => {
                debug!(
                    bits = rsa_key.bits(),
                    %ring_error,
                    "Ring rejected the RSA key, signing with the rsa crate"
                );
                Arc::new(rsa_key)
            }
            None => return Err(invalid(ring_error)),
        },
    };
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => return Err(invalid(e)),
    }

    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    // CredSSP binds to the TLS channel: no session tickets or resumption needed.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;

    Ok(Arc::new(config))
}

/// An RSA private key signing TLS handshakes with the `rsa` crate: RSA-PSS (SHA-256/384/512)
/// when offered, which TLS 1.3 requires, else PKCS#1 v1.5 (TLS 1.2).
struct RsaTlsKey {
    key: Arc<rsa::RsaPrivateKey>,
}

impl std::fmt::Debug for RsaTlsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No private key material.
        f.debug_struct("RsaTlsKey")
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

impl RsaTlsKey {
    /// The key if `key` is an RSA key (PKCS#8 or PKCS#1) the `rsa` crate can use.
    fn from_der(key: &PrivateKeyDer<'_>) -> Option<Self> {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let key = match key {
            PrivateKeyDer::Pkcs8(der) => {
                rsa::RsaPrivateKey::from_pkcs8_der(der.secret_pkcs8_der()).ok()?
            }
            PrivateKeyDer::Pkcs1(der) => {
                rsa::RsaPrivateKey::from_pkcs1_der(der.secret_pkcs1_der()).ok()?
            }
            _ => return None,
        };
        Some(Self { key: Arc::new(key) })
    }

    fn bits(&self) -> usize {
        use rsa::traits::PublicKeyParts as _;
        self.key.size() * 8
    }
}

/// Signature schemes in order of preference.
const RSA_SCHEMES: [SignatureScheme; 6] = [
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];

impl rustls::sign::SigningKey for RsaTlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        // rustls passes only the TLS 1.3 schemes (no PKCS#1 v1.5) in a TLS 1.3 handshake.
        // PSS with a salt as long as the hash needs 2 * hash + 2 bytes of encoded message:
        // a 1024-bit key cannot do RSA-PSS-SHA512.
        let encoded_len = self.bits().saturating_sub(1).div_ceil(8);
        let fits = |scheme: &SignatureScheme| match scheme {
            SignatureScheme::RSA_PSS_SHA256 => encoded_len >= 2 * 32 + 2,
            SignatureScheme::RSA_PSS_SHA384 => encoded_len >= 2 * 48 + 2,
            SignatureScheme::RSA_PSS_SHA512 => encoded_len >= 2 * 64 + 2,
            _ => true,
        };
        let scheme = RSA_SCHEMES
            .into_iter()
            .find(|scheme| offered.contains(scheme) && fits(scheme))?;
        Some(Box::new(RsaTlsSigner {
            key: Arc::clone(&self.key),
            scheme,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        use rsa::pkcs8::EncodePublicKey as _;
        let spki = self.key.to_public_key().to_public_key_der().ok()?;
        Some(SubjectPublicKeyInfoDer::from(spki.into_vec()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

struct RsaTlsSigner {
    key: Arc<rsa::RsaPrivateKey>,
    scheme: SignatureScheme,
}

impl std::fmt::Debug for RsaTlsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaTlsSigner")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl RsaTlsSigner {
    fn pss<D>(&self, message: &[u8]) -> Result<Vec<u8>, rsa::signature::Error>
    where
        D: rsa::sha2::Digest + rsa::sha2::digest::FixedOutputReset,
    {
        use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
        rsa::pss::BlindedSigningKey::<D>::new(rsa::RsaPrivateKey::clone(&self.key))
            .try_sign_with_rng(&mut rsa::rand_core::OsRng, message)
            .map(|signature| signature.to_vec())
    }

    fn pkcs1<D>(&self, message: &[u8]) -> Result<Vec<u8>, rsa::signature::Error>
    where
        D: rsa::sha2::Digest + rsa::pkcs8::AssociatedOid,
    {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        rsa::pkcs1v15::SigningKey::<D>::new(rsa::RsaPrivateKey::clone(&self.key))
            .try_sign(message)
            .map(|signature| signature.to_vec())
    }
}

impl rustls::sign::Signer for RsaTlsSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        use rsa::sha2::{Sha256, Sha384, Sha512};
        let signature = match self.scheme {
            SignatureScheme::RSA_PSS_SHA256 => self.pss::<Sha256>(message),
            SignatureScheme::RSA_PSS_SHA384 => self.pss::<Sha384>(message),
            SignatureScheme::RSA_PSS_SHA512 => self.pss::<Sha512>(message),
            SignatureScheme::RSA_PKCS1_SHA256 => self.pkcs1::<Sha256>(message),
            SignatureScheme::RSA_PKCS1_SHA384 => self.pkcs1::<Sha384>(message),
            SignatureScheme::RSA_PKCS1_SHA512 => self.pkcs1::<Sha512>(message),
            other => {
                return Err(rustls::Error::General(format!(
                    "unsupported signature scheme {other:?}"
                )))
            }
        };
        signature.map_err(|e| rustls::Error::General(format!("rsa signing failed: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
