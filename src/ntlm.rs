//! Just enough of NTLM (MS-NLMP 2.2) to say which message went by and what a server's
//! CHALLENGE reveals, without ever holding a secret: the message type of any NTLM message,
//! and the names, flags, version and time of a CHALLENGE_MESSAGE. AUTHENTICATE messages
//! are never decoded (their response can be cracked offline; they are not logged either).
//!
//! Every string here comes from the server and is [escaped](crate::text::escape).

/// The signature every NTLM message starts with.
const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NTLMSSP_NEGOTIATE_UNICODE: strings are UTF-16LE, else OEM (taken as Latin-1 here).
const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
/// NTLMSSP_NEGOTIATE_VERSION: the Version field is present.
const NEGOTIATE_VERSION: u32 = 0x0200_0000;

/// The three NTLM message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// NEGOTIATE_MESSAGE (1), client to server.
    Negotiate,
    /// CHALLENGE_MESSAGE (2), server to client.
    Challenge,
    /// AUTHENTICATE_MESSAGE (3), client to server: carries the response to the challenge.
    Authenticate,
}

impl MessageType {
    /// The name as MS-NLMP writes it.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Negotiate => "NEGOTIATE",
            MessageType::Challenge => "CHALLENGE",
            MessageType::Authenticate => "AUTHENTICATE",
        }
    }
}

/// The type of the NTLM message in `bytes`, if it is one.
pub fn message_type(bytes: &[u8]) -> Option<MessageType> {
    if !bytes.starts_with(SIGNATURE) {
        return None;
    }
    match u32_at(bytes, 8)? {
        1 => Some(MessageType::Negotiate),
        2 => Some(MessageType::Challenge),
        3 => Some(MessageType::Authenticate),
        _ => None,
    }
}

/// The OS version a CHALLENGE carries (MS-NLMP 2.2.2.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// ProductMajorVersion, e.g. 10.
    pub major: u8,
    /// ProductMinorVersion, e.g. 0.
    pub minor: u8,
    /// ProductBuild, e.g. 20348.
    pub build: u16,
    /// NTLMRevisionCurrent (15 for NTLMv2-capable servers).
    pub revision: u8,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// What a server's CHALLENGE_MESSAGE says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// NegotiateFlags.
    pub flags: u32,
    /// TargetName (the domain or server name).
    pub target_name: Option<String>,
    /// MsvAvNbComputerName.
    pub netbios_computer: Option<String>,
    /// MsvAvNbDomainName.
    pub netbios_domain: Option<String>,
    /// MsvAvDnsComputerName.
    pub dns_computer: Option<String>,
    /// MsvAvDnsDomainName.
    pub dns_domain: Option<String>,
    /// MsvAvDnsTreeName (the forest).
    pub dns_tree: Option<String>,
    /// MsvAvTimestamp: the server's clock as a FILETIME (100 ns since 1601-01-01 UTC).
    pub timestamp: Option<u64>,
    /// The Version field, when NTLMSSP_NEGOTIATE_VERSION is set.
    pub version: Option<Version>,
}

impl Challenge {
    /// Parses a CHALLENGE_MESSAGE; `None` when `bytes` is not one or its fixed part is
    /// truncated. Payload fields that point outside the message are left out, not an error.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if message_type(bytes)? != MessageType::Challenge {
            return None;
        }
        let flags = u32_at(bytes, 20)?;
        let unicode = flags & NEGOTIATE_UNICODE != 0;
        let mut challenge = Challenge {
            flags,
            target_name: field(bytes, 12).map(|raw| string(raw, unicode)),
            ..Challenge::default()
        };
        if flags & NEGOTIATE_VERSION != 0 {
            challenge.version = bytes.get(48..56).map(|v| Version {
                major: v[0],
                minor: v[1],
                build: u16::from_le_bytes([v[2], v[3]]),
                revision: v[7],
            });
        }
        let mut info = field(bytes, 40).unwrap_or_default();
        // AV_PAIRs (MS-NLMP 2.2.2.1): AvId, AvLen, Value; MsvAvEOL ends the list.
        while info.len() >= 4 {
            let id = u16::from_le_bytes([info[0], info[1]]);
            let len = usize::from(u16::from_le_bytes([info[2], info[3]]));
            let Some(value) = info.get(4..4 + len) else {
                break;
            };
            let text = || Some(string(value, true));
            match id {
                0 => break,
                1 => challenge.netbios_computer = text(),
                2 => challenge.netbios_domain = text(),
                3 => challenge.dns_computer = text(),
                4 => challenge.dns_domain = text(),
                5 => challenge.dns_tree = text(),
                7 => {
                    challenge.timestamp = value
                        .try_into()
                        .ok()
                        .map(|b: [u8; 8]| u64::from_le_bytes(b));
                }
                _ => {}
            }
            info = &info[4 + len..];
        }
        Some(challenge)
    }

    /// The server's clock minus ours, in seconds, when the CHALLENGE carries its clock.
    pub fn clock_skew_seconds(&self) -> Option<i64> {
        self.server_time()
            .map(|time| (time - time::OffsetDateTime::now_utc()).whole_seconds())
    }

    /// The server's clock, when the CHALLENGE carries it.
    pub fn server_time(&self) -> Option<time::OffsetDateTime> {
        // FILETIME counts 100 ns intervals since 1601-01-01; Unix time starts 11644473600 s later.
        const UNIX_EPOCH_AS_FILETIME_SECONDS: i128 = 11_644_473_600;
        let nanos =
            i128::from(self.timestamp?) * 100 - UNIX_EPOCH_AS_FILETIME_SECONDS * 1_000_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
    }
}

/// Where an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) keeps what can be cracked or replayed:
/// the LM and NT challenge responses and the encrypted session key, as byte ranges of
/// `bytes`, and the MIC. Only positions and sizes: nothing here reads their content. `None`
/// when `bytes` is not an AUTHENTICATE message, or one of those fields is not empty and
/// points outside it.
pub fn authenticate_secrets(bytes: &[u8]) -> Option<AuthenticateSecrets> {
    if message_type(bytes)? != MessageType::Authenticate {
        return None;
    }
    let range = |at: usize| {
        let len = usize::from(u16_at(bytes, at)?);
        let offset = usize::try_from(u32_at(bytes, at + 4)?).ok()?;
        let end = offset.checked_add(len)?;
        (end <= bytes.len()).then_some(offset..end)
    };
    // The MIC follows the Version field; it is present when the payload starts after it.
    let payload_start = [12, 20, 28, 36, 44, 52]
        .into_iter()
        .filter_map(|at| range(at).filter(|r| !r.is_empty()).map(|r| r.start))
        .min()
        .unwrap_or(bytes.len());
    let mic = (payload_start >= 88 && bytes.len() >= 88).then_some(72..88);
    // A secret field that points outside the message may still sit somewhere in it: a
    // message whose secrets cannot all be located is not one to vouch for.
    let located = |at: usize| match u16_at(bytes, at)? {
        0 => Some(None),
        _ => range(at).map(Some),
    };
    Some(AuthenticateSecrets {
        lm_response: located(12)?,
        nt_response: located(20)?,
        session_key: located(52)?,
        mic,
        ntlmv2: range(20).is_some_and(|r| r.len() > 24),
    })
}

/// The positions of an AUTHENTICATE message's secrets (see [`authenticate_secrets`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateSecrets {
    /// LmChallengeResponse.
    pub lm_response: Option<std::ops::Range<usize>>,
    /// NtChallengeResponse: crackable offline with the CHALLENGE's server challenge.
    pub nt_response: Option<std::ops::Range<usize>>,
    /// EncryptedRandomSessionKey.
    pub session_key: Option<std::ops::Range<usize>>,
    /// The MIC.
    pub mic: Option<std::ops::Range<usize>>,
    /// Whether the NT response is an NTLMv2 one (longer than the 24 bytes of NTLMv1).
    pub ntlmv2: bool,
}

impl AuthenticateSecrets {
    /// Every range, for redaction.
    pub fn ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        [
            &self.lm_response,
            &self.nt_response,
            &self.session_key,
            &self.mic,
        ]
        .into_iter()
        .flatten()
        .cloned()
    }

    /// How the trail shows the response: `[NTLMv2 response, 310 bytes]`.
    pub fn describe(&self) -> String {
        let len = self.nt_response.as_ref().map_or(0, |r| r.len());
        let kind = if self.ntlmv2 { "NTLMv2" } else { "NTLM" };
        format!("[{kind} response, {len} bytes]")
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The payload a Len / MaxLen / BufferOffset field at `at` points to.
fn field(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16_at(bytes, at)?);
    let offset = usize::try_from(u32_at(bytes, at + 4)?).ok()?;
    bytes.get(offset..offset.checked_add(len)?)
}

/// A server string: UTF-16LE or OEM (Latin-1), lossy, escaped.
fn string(raw: &[u8], unicode: bool) -> String {
    let text: String = if unicode {
        char::decode_utf16(
            raw.chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    crate::text::escaped(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A CHALLENGE_MESSAGE as a Windows Server 2022 sends it (values made up).
    fn challenge() -> Vec<u8> {
        let target = utf16("CORP");
        let mut info = Vec::new();
        for (id, value) in [
            (2u16, utf16("CORP")),
            (1, utf16("RDS01")),
            (4, utf16("corp.example")),
            (3, utf16("rds01.corp.example")),
            (5, utf16("corp.example")),
            (7, 0x01DB_1234_5678_9ABCu64.to_le_bytes().to_vec()),
        ] {
            info.extend_from_slice(&id.to_le_bytes());
            info.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_le_bytes());
            info.extend(value);
        }
        info.extend_from_slice(&[0, 0, 0, 0]);
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&2u32.to_le_bytes());
        let target_offset = 56u32;
        let info_offset = target_offset + u32::try_from(target.len()).unwrap_or(0);
        m.extend_from_slice(&u16::try_from(target.len()).unwrap_or(0).to_le_bytes());
        m.extend_from_slice(&u16::try_from(target.len()).unwrap_or(0).to_le_bytes());
        m.extend_from_slice(&target_offset.to_le_bytes());
        m.extend_from_slice(&(NEGOTIATE_UNICODE | NEGOTIATE_VERSION | 0x0080_0000).to_le_bytes());
        m.extend_from_slice(&[0x11; 8]); // ServerChallenge
        m.extend_from_slice(&[0; 8]); // Reserved
        m.extend_from_slice(&u16::try_from(info.len()).unwrap_or(0).to_le_bytes());
        m.extend_from_slice(&u16::try_from(info.len()).unwrap_or(0).to_le_bytes());
        m.extend_from_slice(&info_offset.to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x7C, 0x4F, 0, 0, 0, 15]); // 10.0.20348, revision 15
        m.extend(target);
        m.extend(info);
        m
    }

    #[test]
    fn parses_what_a_challenge_reveals() {
        let c = Challenge::parse(&challenge()).expect("challenge");
        assert_eq!(c.target_name.as_deref(), Some("CORP"));
        assert_eq!(c.netbios_computer.as_deref(), Some("RDS01"));
        assert_eq!(c.dns_computer.as_deref(), Some("rds01.corp.example"));
        assert_eq!(c.dns_domain.as_deref(), Some("corp.example"));
        assert_eq!(c.dns_tree.as_deref(), Some("corp.example"));
        assert_eq!(
            c.version.map(|v| v.to_string()).as_deref(),
            Some("10.0.20348")
        );
        assert_eq!(c.version.map(|v| v.revision), Some(15));
        assert!(c.server_time().is_some());
        assert_eq!(message_type(&challenge()), Some(MessageType::Challenge));
    }

    #[test]
    fn truncated_or_foreign_input_is_not_a_challenge_and_never_panics() {
        let full = challenge();
        for len in 0..full.len() {
            let _ = Challenge::parse(&full[..len]);
            let _ = message_type(&full[..len]);
        }
        assert_eq!(Challenge::parse(&full[..20]), None);
        assert_eq!(Challenge::parse(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let mut m = challenge();
        // "CORP" -> "C\nRP" in the TargetName.
        let at = 56 + 2;
        m[at] = b'\n';
        let c = Challenge::parse(&m).expect("challenge");
        assert_eq!(c.target_name.as_deref(), Some("C\\u{a}RP"));
    }
}
