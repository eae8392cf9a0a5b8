//! Redacting credentials inside recorded TLS records: with the session's own secrets (the
//! key log), decrypt each record the client sent, blank what can crack or replay the
//! password (the NTLM AUTHENTICATE message's responses, session key and MIC; the
//! TSCredentials), and encrypt it again under the same key and sequence number. The records
//! keep their lengths, so the capture's TCP stream stays consistent and Wireshark decrypts
//! every record with the embedded secrets and shows the redacted ones as zeros.
//!
//! TLS 1.3 (RFC 8446 7.1-7.3, 5.2-5.3) and TLS 1.2 AEAD suites (RFC 5246 6.3, 5288, 7905):
//! the suites rustls offers. Anything else, or any record that does not decrypt, makes
//! [`redact_client_records`] fail: the caller then leaves the secrets out.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{hkdf, hmac};

use crate::ntlm;

/// One line of a key log (NSS key log format).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeyLine {
    pub(crate) label: String,
    pub(crate) client_random: Vec<u8>,
    pub(crate) secret: Vec<u8>,
}

impl std::fmt::Debug for KeyLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLine")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl KeyLine {
    /// The line as SSLKEYLOGFILE writes it.
    pub(crate) fn to_line(&self) -> String {
        format!(
            "{} {} {}\n",
            self.label,
            hex::encode(&self.client_random),
            hex::encode(&self.secret)
        )
    }
}

/// A TLS record of a byte stream: where it starts and its header fields.
#[derive(Debug, Clone, Copy)]
struct Record {
    start: usize,
    content_type: u8,
    len: usize,
}

/// The TLS records of `stream` from `from` on (up to the last whole one).
fn records(stream: &[u8], from: usize) -> Vec<Record> {
    let mut out = Vec::new();
    let mut at = from;
    while let Some(header) = stream.get(at..at + 5) {
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if at + 5 + len > stream.len() {
            break;
        }
        out.push(Record {
            start: at,
            content_type: header[0],
            len,
        });
        at += 5 + len;
    }
    out
}

/// Where the TLS records of a stream start: after the X.224 TPKT frames.
pub(crate) fn tls_start(stream: &[u8]) -> usize {
    let mut at = 0;
    while stream.get(at) == Some(&0x03) {
        let Some(len) = stream
            .get(at + 2..at + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            break;
        };
        if len < 4 {
            break;
        }
        at += len;
    }
    at
}

/// The first handshake message of type `kind` in the plaintext handshake records.
fn handshake_message(stream: &[u8], kind: u8) -> Option<&[u8]> {
    for record in records(stream, tls_start(stream)) {
        if record.content_type != 22 {
            continue;
        }
        let body = &stream[record.start + 5..record.start + 5 + record.len];
        if body.first() == Some(&kind) && body.len() >= 4 {
            return Some(&body[4..]);
        }
    }
    None
}

/// The random and the cipher suite of a ServerHello, and its version (supported_versions).
fn server_hello(stream: &[u8]) -> Option<([u8; 32], u16, u16)> {
    let hello = crate::probe::hello::ServerHello::parse(handshake_message(stream, 2)?)?;
    Some((hello.random, hello.suite, hello.version.0))
}

/// The AEAD and hash of a cipher suite rustls can negotiate.
fn suite(id: u16) -> Option<(&'static aead::Algorithm, Hash)> {
    Some(match id {
        0x1301 | 0xC02B | 0xC02F => (&aead::AES_128_GCM, Hash::Sha256),
        0x1302 | 0xC02C | 0xC030 => (&aead::AES_256_GCM, Hash::Sha384),
        0x1303 | 0xCCA8 | 0xCCA9 => (&aead::CHACHA20_POLY1305, Hash::Sha256),
        _ => return None,
    })
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            Hash::Sha256 => hkdf::HKDF_SHA256,
            Hash::Sha384 => hkdf::HKDF_SHA384,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha384 => hmac::HMAC_SHA384,
        }
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", len) (RFC 8446 7.1).
fn expand_label(hash: Hash, secret: &[u8], label: &[u8], len: usize) -> Option<Vec<u8>> {
    let prk = hkdf::Prk::new_less_safe(hash.hkdf(), secret);
    let length = u16::try_from(len).ok()?.to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).ok()?];
    let info: [&[u8]; 5] = [&length, &label_len, b"tls13 ", label, &[0]];
    let mut out = vec![0; len];
    prk.expand(&info, Len(len)).ok()?.fill(&mut out).ok()?;
    Some(out)
}

/// The TLS 1.2 PRF: P_hash(secret, label + seed) (RFC 5246 5).
fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(hash.hmac(), secret);
    let label_seed = [label, seed].concat();
    let mut a = hmac::sign(&key, &label_seed).as_ref().to_vec();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        out.extend_from_slice(hmac::sign(&key, &[a.as_slice(), &label_seed].concat()).as_ref());
        a = hmac::sign(&key, &a).as_ref().to_vec();
    }
    out.truncate(len);
    out
}

/// The client's write key for one epoch, and how its records are sealed.
struct Epoch {
    key: LessSafeKey,
    iv: Vec<u8>,
    tls12: bool,
    /// TLS 1.2 AES-GCM: an 8-byte explicit nonce precedes each record's ciphertext.
    explicit_nonce: bool,
}

impl Epoch {
    fn new(
        algorithm: &'static aead::Algorithm,
        key: &[u8],
        iv: Vec<u8>,
        tls12: bool,
    ) -> Option<Self> {
        let explicit_nonce = tls12 && iv.len() == 4;
        Some(Self {
            key: LessSafeKey::new(UnboundKey::new(algorithm, key).ok()?),
            iv,
            tls12,
            explicit_nonce,
        })
    }

    fn nonce(&self, seq: u64, explicit: &[u8]) -> Option<Nonce> {
        let mut nonce = [0u8; 12];
        if self.explicit_nonce {
            nonce[..4].copy_from_slice(&self.iv);
            nonce[4..].copy_from_slice(explicit);
        } else {
            nonce.copy_from_slice(self.iv.get(..12)?);
            for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                *n ^= s;
            }
        }
        Some(Nonce::assume_unique_for_key(nonce))
    }

    fn aad(&self, header: &[u8], seq: u64, plaintext_len: usize) -> Option<Vec<u8>> {
        Some(if self.tls12 {
            let mut aad = seq.to_be_bytes().to_vec();
            aad.extend_from_slice(&header[..3]);
            aad.extend_from_slice(&u16::try_from(plaintext_len).ok()?.to_be_bytes());
            aad
        } else {
            header.to_vec()
        })
    }

    /// Decrypts `record` (header and body) at `seq`; returns the plaintext.
    fn open(&self, record: &[u8], seq: u64) -> Option<Vec<u8>> {
        let (header, body) = record.split_at(5);
        let (explicit, sealed) = body.split_at(if self.explicit_nonce { 8 } else { 0 });
        let plaintext_len = sealed.len().checked_sub(16)?;
        let mut in_out = sealed.to_vec();
        let aad = self.aad(header, seq, plaintext_len)?;
        let plain = self
            .key
            .open_in_place(self.nonce(seq, explicit)?, Aad::from(aad), &mut in_out)
            .ok()?;
        Some(plain.to_vec())
    }

    /// Encrypts `plaintext` into `record` (same header, same explicit nonce) at `seq`.
    fn seal(&self, record: &mut [u8], seq: u64, plaintext: &[u8]) -> Option<()> {
        let explicit_len = if self.explicit_nonce { 8 } else { 0 };
        let aad = self.aad(&record[..5], seq, plaintext.len())?;
        let nonce = self.nonce(seq, &record[5..5 + explicit_len])?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(aad), &mut in_out)
            .ok()?;
        let body = record.get_mut(5 + explicit_len..)?;
        if body.len() != in_out.len() {
            return None;
        }
        body.copy_from_slice(&in_out);
        Some(())
    }
}

fn secret<'a>(keys: &'a [KeyLine], label: &str) -> Result<&'a [u8], String> {
    keys.iter()
        .find(|k| k.label == label)
        .map(|k| k.secret.as_slice())
        .ok_or_else(|| format!("no {label} in the key log"))
}

/// Blanks the password material in the plaintext stream the client sent: every NTLM
/// AUTHENTICATE message's responses, session key and MIC, and every TSRequest's
/// TSCredentials. Returns how many secrets it blanked, or `None` when an AUTHENTICATE message
/// is there and cannot be located field by field.
pub(crate) fn redact_plaintext(content: &mut [u8]) -> Option<usize> {
    // Until a pass finds nothing left to blank: blanking one message's fields must not
    // reveal, move or hide another's (overlapping or malformed messages). Our own client's
    // messages settle in one pass; anything that does not settle is refused.
    let blanked = blank(content)?;
    for _ in 0..4 {
        let before = content.to_vec();
        blank(content)?;
        if content[..] == before[..] {
            return Some(blanked);
        }
    }
    None
}

/// One redaction pass; returns how many secrets it blanked.
fn blank(content: &mut [u8]) -> Option<usize> {
    let mut blanked = 0;
    const AUTHENTICATE: &[u8] = b"NTLMSSP\0\x03\0\0\0";
    let mut from = 0;
    while let Some(found) = content[from..]
        .windows(AUTHENTICATE.len())
        .position(|w| w == AUTHENTICATE)
    {
        let at = from + found;
        let secrets = ntlm::authenticate_secrets(&content[at..])?;
        for range in secrets.ranges() {
            content[at + range.start..at + range.end].fill(0);
            blanked += 1;
        }
        from = at + AUTHENTICATE.len();
    }
    // The TSRequests one after the other (DER SEQUENCEs), up to the first thing that is not
    // one (the connection sequence after CredSSP).
    let mut at = 0;
    while content.get(at) == Some(&0x30) {
        let rest = &content[at..];
        let Some(len) = crate::probe::trail::pdu::length(
            crate::probe::trail::Layer::Plain,
            crate::Stage::Credssp,
            rest,
        )
        .filter(|&len| len <= rest.len()) else {
            break;
        };
        if let Ok(request) = ironrdp_connector::sspi::credssp::TsRequest::from_buffer(&rest[..len])
        {
            if let Some(auth_info) = request.auth_info.filter(|a| !a.is_empty()) {
                let inside = rest[..len]
                    .windows(auth_info.len())
                    .position(|w| w == auth_info.as_slice())?;
                content[at + inside..at + inside + auth_info.len()].fill(0);
                blanked += 1;
            }
        }
        at += len;
    }
    Some(blanked)
}

/// Which end wrote a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// A decrypted record: where it is in its stream, its inner content type, its plaintext
/// content, and the key and sequence number that open and seal it.
pub(crate) struct Opened {
    pub(crate) start: usize,
    pub(crate) content_type: u8,
    pub(crate) content: Vec<u8>,
    epoch: usize,
    seq: u64,
    /// TLS 1.3: the padding after the content type (kept as it was).
    padding: usize,
}

/// One side's write keys and how its records are protected.
pub(crate) struct Keys {
    epochs: Vec<Epoch>,
    tls13: bool,
}

impl Keys {
    /// The write keys of `side`, from the key log and the ServerHello in `server`.
    pub(crate) fn derive(side: Side, server: &[u8], keys: &[KeyLine]) -> Result<Self, String> {
        let (server_random, suite_id, version) =
            server_hello(server).ok_or("no ServerHello in the capture")?;
        let (algorithm, hash) = suite(suite_id)
            .ok_or_else(|| format!("cipher suite 0x{suite_id:04X} not supported"))?;
        let key_len = algorithm.key_len();
        if version == 0x0304 {
            let epoch = |label: &str| -> Result<Epoch, String> {
                let secret = secret(keys, label)?;
                let key =
                    expand_label(hash, secret, b"key", key_len).ok_or("key derivation failed")?;
                let iv = expand_label(hash, secret, b"iv", 12).ok_or("key derivation failed")?;
                Epoch::new(algorithm, &key, iv, false).ok_or_else(|| "bad key".to_owned())
            };
            let (handshake, application) = match side {
                Side::Client => ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"),
                Side::Server => ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"),
            };
            return Ok(Self {
                epochs: vec![epoch(handshake)?, epoch(application)?],
                tls13: true,
            });
        }
        let master = secret(keys, "CLIENT_RANDOM")?;
        let client_random = keys
            .iter()
            .find(|k| k.label == "CLIENT_RANDOM")
            .map(|k| k.client_random.clone())
            .unwrap_or_default();
        let gcm = !std::ptr::eq(algorithm, &aead::CHACHA20_POLY1305);
        let iv_len = if gcm { 4 } else { 12 };
        let block = prf(
            hash,
            master,
            b"key expansion",
            &[server_random.as_slice(), &client_random].concat(),
            2 * key_len + 2 * iv_len,
        );
        let (key, iv) = match side {
            Side::Client => (&block[..key_len], &block[2 * key_len..2 * key_len + iv_len]),
            Side::Server => (
                &block[key_len..2 * key_len],
                &block[2 * key_len + iv_len..2 * key_len + 2 * iv_len],
            ),
        };
        let epoch = Epoch::new(algorithm, key, iv.to_vec(), true).ok_or("bad key")?;
        Ok(Self {
            epochs: vec![epoch],
            tls13: false,
        })
    }

    /// Decrypts every protected record of `stream`. TLS 1.3: the `application_data` records,
    /// under the handshake key until one does not open, then under the application key.
    /// TLS 1.2: every record after the side's ChangeCipherSpec.
    pub(crate) fn open_all(&self, stream: &[u8]) -> Result<Vec<Opened>, String> {
        let all = records(stream, tls_start(stream));
        let protected: Vec<Record> = if self.tls13 {
            all.into_iter().filter(|r| r.content_type == 23).collect()
        } else {
            all.into_iter()
                .skip_while(|r| r.content_type != 20)
                .skip(1)
                .collect()
        };
        let mut opened = Vec::with_capacity(protected.len());
        let (mut epoch, mut seq) = (0, 0u64);
        for record in protected {
            let bytes = &stream[record.start..record.start + 5 + record.len];
            let plain = match self.epochs[epoch].open(bytes, seq) {
                Some(plain) => plain,
                None if epoch + 1 < self.epochs.len() => {
                    epoch += 1;
                    seq = 0;
                    self.epochs[epoch]
                        .open(bytes, seq)
                        .ok_or("a record does not decrypt with the key log")?
                }
                None => return Err("a record does not decrypt with the key log".to_owned()),
            };
            let (content_type, content_len, padding) = if self.tls13 {
                let at = plain.iter().rposition(|&b| b != 0).ok_or("empty record")?;
                (plain[at], at, plain.len() - at - 1)
            } else {
                (record.content_type, plain.len(), 0)
            };
            opened.push(Opened {
                start: record.start,
                content_type,
                content: plain[..content_len].to_vec(),
                epoch,
                seq,
                padding,
            });
            seq += 1;
        }
        Ok(opened)
    }

    /// Encrypts `opened`'s (changed) content back into its record in `stream`.
    pub(crate) fn seal(&self, stream: &mut [u8], opened: &Opened) -> Result<(), String> {
        let mut plain = opened.content.clone();
        if self.tls13 {
            plain.push(opened.content_type);
            plain.extend(std::iter::repeat_n(0, opened.padding));
        }
        let len = usize::from(u16::from_be_bytes([
            stream[opened.start + 3],
            stream[opened.start + 4],
        ]));
        let record = &mut stream[opened.start..opened.start + 5 + len];
        self.epochs[opened.epoch]
            .seal(record, opened.seq, &plain)
            .ok_or_else(|| "a redacted record could not be encrypted again".to_owned())
    }
}

/// Redacts the records the client sent (its stream `client`), with the session's key log
/// and the server's stream (for the ServerHello). The plaintext of all its records is
/// redacted as one stream (a message may span records); each record whose content changed
/// is encrypted again. Returns the number of secrets blanked.
pub(crate) fn redact_client_records(
    client: &mut [u8],
    server: &[u8],
    keys: &[KeyLine],
) -> Result<usize, String> {
    if records(client, tls_start(client)).is_empty() {
        return Ok(0);
    }
    let session = Keys::derive(Side::Client, server, keys)?;
    let mut opened = session.open_all(client)?;
    let application: Vec<usize> = (0..opened.len())
        .filter(|&i| opened[i].content_type == 23)
        .collect();
    let mut plain: Vec<u8> = application
        .iter()
        .flat_map(|&i| opened[i].content.iter().copied())
        .collect();
    let blanked =
        redact_plaintext(&mut plain).ok_or("an NTLM AUTHENTICATE message could not be parsed")?;
    let mut at = 0;
    for &i in &application {
        let record = &mut opened[i];
        let redacted = &plain[at..at + record.content.len()];
        at += record.content.len();
        if redacted != record.content.as_slice() {
            record.content = redacted.to_vec();
            session.seal(client, record)?;
        }
    }
    Ok(blanked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8448 3 (Simple 1-RTT Handshake): the client's application traffic key and IV.
    #[test]
    fn derives_the_rfc_8448_traffic_keys() {
        let secret =
            hex::decode("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")
                .expect("hex");
        let key = expand_label(Hash::Sha256, &secret, b"key", 16).expect("key");
        let iv = expand_label(Hash::Sha256, &secret, b"iv", 12).expect("iv");
        assert_eq!(hex::encode(key), "17422dda596ed5d9acd890e3c63f5051");
        assert_eq!(hex::encode(iv), "5b78923dee08579033e523d9");
    }

    /// The TLS 1.2 PRF with SHA-256 (the test vector circulated on the IETF TLS list).
    #[test]
    fn the_tls12_prf_matches_its_test_vector() {
        let secret = hex::decode("9bbe436ba940f017b17652849a71db35").expect("hex");
        let seed = hex::decode("a0ba9f936cda311827a6f796ffd5198c").expect("hex");
        let out = prf(Hash::Sha256, &secret, b"test label", &seed, 100);
        assert_eq!(
            hex::encode(&out[..32]),
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
        );
    }

    #[test]
    fn a_tls12_gcm_record_with_an_explicit_nonce_seals_and_opens() {
        let epoch = Epoch::new(&aead::AES_128_GCM, &[3; 16], vec![5; 4], true).expect("epoch");
        let plain = b"TSRequest".to_vec();
        // Header, 8-byte explicit nonce, ciphertext and tag.
        let mut record = vec![23, 3, 3, 0, 33];
        record.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        record.extend(vec![0; 25]);
        epoch.seal(&mut record, 1, &plain).expect("seal");
        assert_eq!(epoch.open(&record, 1).as_deref(), Some(plain.as_slice()));
        assert_eq!(epoch.open(&record, 2), None);
    }

    /// An AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) with recognisable payloads, inside some
    /// bytes around it.
    fn authenticate() -> (Vec<u8>, usize) {
        let payloads: [(&[u8], usize); 6] = [
            (&[0x11; 24], 12),     // LmChallengeResponse
            (&[0x22; 40], 20),     // NtChallengeResponse
            (b"d\0o\0m\0", 28),    // DomainName
            (b"u\0s\0e\0r\0", 36), // UserName
            (b"W\0S\0", 44),       // Workstation
            (&[0x33; 16], 52),     // EncryptedRandomSessionKey
        ];
        let mut message = b"NTLMSSP\0\x03\0\0\0".to_vec();
        message.resize(88, 0);
        message[72..88].fill(0x44); // MIC
        for (payload, field) in payloads {
            let offset = message.len() as u32;
            let len = payload.len() as u16;
            message[field..field + 2].copy_from_slice(&len.to_le_bytes());
            message[field + 2..field + 4].copy_from_slice(&len.to_le_bytes());
            message[field + 4..field + 8].copy_from_slice(&offset.to_le_bytes());
            message.extend_from_slice(payload);
        }
        let mut content = b"\x30\x82prefix".to_vec();
        let at = content.len();
        content.extend(message);
        content.extend_from_slice(b"suffix");
        (content, at)
    }

    #[test]
    fn redaction_blanks_the_responses_the_session_key_and_the_mic_only() {
        let (mut content, at) = authenticate();
        let original = content.clone();
        assert_eq!(redact_plaintext(&mut content), Some(4));
        for secret in [0x11, 0x22, 0x33, 0x44] {
            assert!(!content.contains(&secret), "{secret:#x} left");
        }
        // Names, lengths, offsets and the bytes around stay.
        assert!(content.windows(8).any(|w| w == b"u\0s\0e\0r\0"));
        assert_eq!(content[..at + 72], original[..at + 72]);
        assert!(content.ends_with(b"suffix"));
        assert_eq!(content.len(), original.len());
        // A message whose fields point outside it is refused, not passed through.
        let (mut broken, at) = authenticate();
        broken[at + 24..at + 28].copy_from_slice(&0xFFFFu32.to_le_bytes());
        assert_eq!(redact_plaintext(&mut broken), None);
    }

    #[test]
    fn a_sealed_record_opens_again_with_the_same_sequence_number() {
        let epoch = Epoch::new(&aead::AES_128_GCM, &[7; 16], vec![9; 12], false).expect("epoch");
        let plain = b"hello\x17".to_vec();
        let mut record = vec![23, 3, 3, 0, 22];
        record.extend(vec![0; 22]);
        epoch.seal(&mut record, 3, &plain).expect("seal");
        assert_eq!(epoch.open(&record, 3).as_deref(), Some(plain.as_slice()));
        assert_eq!(epoch.open(&record, 4), None);
    }
}
