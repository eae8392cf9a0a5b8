//! Known hosts: trust on first use (TOFU), as ssh's `known_hosts` and FreeRDP's
//! `known_hosts2` do it.
//!
//! The file records, per host and port, the leaf certificate seen at first contact. A later
//! probe that sees another certificate gets a `certificate_changed` error finding with both
//! thumbprints, and is told whether the new certificate copies the old one's subject and
//! issuer with another key: the mark of an interception proxy cloning the certificate.
//!
//! One line per host and port, fields separated by spaces:
//!
//! ```text
//! HOST PORT sha1:HEX sha256:HEX spki-sha256:HEX SUBJECT ISSUER FIRST-SEEN
//! ```
//!
//! `SUBJECT` and `ISSUER` are the DER of the names in base64 (exact, and free of spaces),
//! `FIRST-SEEN` is RFC 3339. Lines starting with `#` and blank lines are kept as they are.
//! To accept a changed certificate, delete its line.
//!
//! Concurrent probes, in one process or many, may share a file: every update holds an
//! exclusive lock on `FILE.lock` while it reads the file and replaces it atomically (a
//! temporary file in the same directory, synced, then renamed over it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha1::Digest as _;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::{finding, FindingCode};
use crate::report::{Finding, Severity};

/// The file under the user's configuration directory that `--tofu` uses.
pub fn default_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("rdpscope").join("known_hosts"))
}

/// What the file records about one host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The host as probed (names in lower case).
    pub host: String,
    /// The port.
    pub port: u16,
    /// SHA-1 thumbprint of the leaf, upper-case hex (as certlm.msc shows it).
    pub sha1: String,
    /// SHA-256 fingerprint of the leaf, upper-case hex.
    pub sha256: String,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo, upper-case hex.
    pub spki_sha256: String,
    /// DER of the subject name.
    pub subject: Vec<u8>,
    /// DER of the issuer name.
    pub issuer: Vec<u8>,
    /// When the certificate was first seen (RFC 3339).
    pub first_seen: String,
}

impl Entry {
    /// The entry for `leaf_der` at `host:port`; `None` when the leaf is not X.509.
    pub fn new(host: &str, port: u16, leaf_der: &[u8], now: time::OffsetDateTime) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(leaf_der).ok()?;
        Some(Self {
            host: host.to_ascii_lowercase(),
            port,
            sha1: hex::encode_upper(sha1::Sha1::digest(leaf_der)),
            sha256: hex::encode_upper(sha2::Sha256::digest(leaf_der)),
            spki_sha256: hex::encode_upper(sha2::Sha256::digest(cert.public_key().raw)),
            subject: cert.subject().as_raw().to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
            first_seen: super::rfc3339(now),
        })
    }

    pub(crate) fn line(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "{} {} sha1:{} sha256:{} spki-sha256:{} {} {} {}",
            self.host,
            self.port,
            self.sha1,
            self.sha256,
            self.spki_sha256,
            b64.encode(&self.subject),
            b64.encode(&self.issuer),
            self.first_seen
        )
    }

    fn parse(line: &str) -> Result<Self, String> {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [host, port, sha1, sha256, spki, subject, issuer, first_seen] = fields[..] else {
            return Err(format!("expected 8 fields, found {}", fields.len()));
        };
        let hash = |field: &str, prefix: &str, len: usize| {
            field
                .strip_prefix(prefix)
                .filter(|h| h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_uppercase)
                .ok_or_else(|| format!("invalid field `{field}` (expected {prefix}HEX)"))
        };
        let b64 = |field: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(field)
                .map_err(|_| format!("invalid base64 name `{field}`"))
        };
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port: port.parse().map_err(|_| format!("invalid port `{port}`"))?,
            sha1: hash(sha1, "sha1:", 40)?,
            sha256: hash(sha256, "sha256:", 64)?,
            spki_sha256: hash(spki, "spki-sha256:", 64)?,
            subject: b64(subject)?,
            issuer: b64(issuer)?,
            first_seen: first_seen.to_owned(),
        })
    }

    fn is_for(&self, host: &str, port: u16) -> bool {
        self.port == port && self.host.eq_ignore_ascii_case(host)
    }
}

/// What the file says about the certificate a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// First contact: the certificate was recorded.
    Added(Entry),
    /// The certificate is the one recorded.
    Matched(Entry),
    /// Another certificate was recorded: (recorded, presented).
    Changed(Box<(Entry, Entry)>),
}

impl Check {
    /// The finding for the certificate stage.
    pub fn finding(&self, file: &Path) -> Finding {
        match self {
            Check::Added(new) => finding(
                Severity::Info,
                FindingCode::KnownHostAdded,
                format!(
                    "first contact: recorded sha256:{} for {} port {} in {} (trust on first use)",
                    new.sha256,
                    new.host,
                    new.port,
                    file.display()
                ),
            ),
            Check::Matched(old) => finding(
                Severity::Info,
                FindingCode::KnownHostMatched,
                format!(
                    "the certificate is the one recorded for {} port {} on {} ({})",
                    old.host,
                    old.port,
                    old.first_seen,
                    file.display()
                ),
            ),
            Check::Changed(pair) => {
                let (old, new) = pair.as_ref();
                let how = if old.spki_sha256 == new.spki_sha256 {
                    "the key is the same, so most likely the certificate was renewed with its key"
                } else if old.subject == new.subject && old.issuer == new.issuer {
                    "the new certificate copies the old one's subject and issuer with a different key: the mark of an interception proxy cloning the certificate (or of a renewal with a new key, as Windows renews its self-signed RDP certificate: compare the thumbprint on the server, certlm.msc > Remote Desktop)"
                } else {
                    "subject and issuer differ too: a replaced certificate, or another server answering"
                };
                finding(
                    Severity::Error,
                    FindingCode::CertificateChanged,
                    format!(
                        "certificate changed since {}: {} records sha1:{} (sha256:{}) for {} port {}, the server presented sha1:{} (sha256:{}); {how}; if the change is expected, delete that line",
                        old.first_seen,
                        file.display(),
                        old.sha1,
                        old.sha256,
                        old.host,
                        old.port,
                        new.sha1,
                        new.sha256
                    ),
                )
            }
        }
    }
}

/// Checks `entry` against `file`, recording it at first contact. The file and its
/// directory are created if missing.
pub fn check(file: &Path, entry: Entry) -> io::Result<Check> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(file))?;
    lock.lock()?;
    let result = check_locked(file, entry);
    let _ = lock.unlock();
    result
}

fn lock_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn check_locked(file: &Path, entry: Entry) -> io::Result<Check> {
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    for old in parse(&text)? {
        if old.is_for(&entry.host, entry.port) {
            return Ok(if old.sha256 == entry.sha256 {
                Check::Matched(old)
            } else {
                Check::Changed(Box::new((old, entry)))
            });
        }
    }
    let mut updated = text;
    if updated.is_empty() {
        updated.push_str("# rdpscope known hosts (trust on first use); delete a line to accept a changed certificate\n# HOST PORT SHA1 SHA256 SPKI-SHA256 SUBJECT-DER-BASE64 ISSUER-DER-BASE64 FIRST-SEEN\n");
    } else if !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(&entry.line());
    updated.push('\n');
    replace(file, updated.as_bytes())?;
    Ok(Check::Added(entry))
}

/// Every entry of a known-hosts file's text; an error names the first malformed line.
pub fn parse(text: &str) -> io::Result<Vec<Entry>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(index, line)| {
            Entry::parse(line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {}: {e}", index + 1),
                )
            })
        })
        .collect()
}

/// Reads and checks a known-hosts file; a missing file is an empty one.
pub fn read(file: &Path) -> io::Result<Vec<Entry>> {
    match fs::read_to_string(file) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Replaces `file` with `contents` atomically: readers see the old file or the new one.
fn replace(file: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut out = File::create(&temporary)?;
        out.write_all(contents)?;
        out.sync_all()?;
        fs::rename(&temporary, file)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(host: &str, der: &[u8]) -> Entry {
        Entry::new(host, 3389, der, time::OffsetDateTime::UNIX_EPOCH).expect("entry")
    }

    fn cert(cn: &str) -> Vec<u8> {
        let mut params =
            rcgen::CertificateParams::new(vec!["rdp.example".to_owned()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn lines_round_trip() {
        let e = entry("RDP.Example", &cert("rdp.example"));
        assert_eq!(e.host, "rdp.example");
        assert_eq!(Entry::parse(&e.line()), Ok(e));
    }

    #[test]
    fn first_contact_records_then_matches_then_flags_a_clone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sub").join("known_hosts");
        let first = cert("rdp.example");
        let clone = cert("rdp.example");
        assert!(matches!(
            check(&file, entry("rdp.example", &first)),
            Ok(Check::Added(_))
        ));
        assert!(matches!(
            check(&file, entry("RDP.example", &first)),
            Ok(Check::Matched(_))
        ));
        let changed = check(&file, entry("rdp.example", &clone)).expect("check");
        let Check::Changed(_) = &changed else {
            panic!("{changed:?}");
        };
        let message = changed.finding(&file).message;
        assert!(
            message.contains("copies the old one's subject and issuer"),
            "{message}"
        );
        // Another name is another entry.
        assert!(matches!(
            check(&file, entry("other.example", &clone)),
            Ok(Check::Added(_))
        ));
        assert_eq!(read(&file).expect("read").len(), 2);
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        let e = parse("# comment\n\nhost 3389 sha1:00\n").expect_err("malformed");
        assert!(e.to_string().contains("line 3"), "{e}");
    }
}
