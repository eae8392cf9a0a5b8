//! Remote Desktop connection files (`.rdp`, as mstsc writes them: UTF-16LE with a BOM, or
//! UTF-8): the target and the options a probe can honour, and plainly what it cannot. The
//! `key:type:value` lines are read by IronRDP's `ironrdp-rdpfile`; this module decodes the
//! file and maps the settings. A saved password (`password 51:b:`) is never read.

use ironrdp_propertyset::PropertySet;

use crate::cert::CertPolicy;
use crate::probe::SecurityProtocols;
use crate::target::Target;

/// What a `.rdp` file asks for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RdpFile {
    /// `full address` (or `alternate full address`), with `server port` when the address
    /// names none.
    pub target: Target,
    /// `username`, without a `DOMAIN\` prefix.
    pub username: Option<String>,
    /// `domain`, or the `DOMAIN\` of `username`.
    pub domain: Option<String>,
    /// From `enablecredsspsupport` and `negotiate security layer`: what mstsc would offer.
    pub security: Option<SecurityProtocols>,
    /// From `authentication level`: how mstsc treats a certificate it cannot verify.
    pub cert_policy: Option<CertPolicy>,
    /// Settings read and what they mean for the probe, one line each.
    pub notes: Vec<String>,
    /// Settings the probe cannot honour, said plainly in the report.
    pub unsupported: Vec<String>,
}

/// The text of a `.rdp` file: UTF-16LE or UTF-16BE with a BOM, or UTF-8 (BOM optional).
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |le: bool| -> Result<String, String> {
        if !bytes.len().is_multiple_of(2) {
            return Err("odd length for UTF-16".to_owned());
        }
        let units = bytes[2..].chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if le {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|e| format!("invalid UTF-16: {e}"))
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        _ => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            String::from_utf8(bytes.to_vec())
                .map_err(|_| "neither UTF-16 with a BOM nor UTF-8".to_owned())
        }
    }
}

/// Reads the settings of a `.rdp` file's text. `name` names the file in errors, which give
/// the line: `FILE:LINE: why`.
pub fn parse(name: &str, text: &str) -> Result<RdpFile, String> {
    let mut properties = PropertySet::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        // Binary values (a saved password, `password 51:b:`) are not for us to read.
        if line.split(':').nth(1) == Some("b") {
            continue;
        }
        if let Err(errors) = ironrdp_rdpfile::load(&mut properties, line) {
            let why = errors.first().map_or_else(String::new, |e| match &e.kind {
                ironrdp_rdpfile::ErrorKind::UnknownType { key, ty } => {
                    format!("unknown type `{ty}` for `{key}`")
                }
                ironrdp_rdpfile::ErrorKind::InvalidValue { key, .. } => {
                    format!("`{key}` is not a number")
                }
                ironrdp_rdpfile::ErrorKind::MalformedLine => {
                    "not a `key:type:value` line".to_owned()
                }
            });
            return Err(crate::text::escaped(&format!(
                "{name}:{}: {why}",
                index + 1
            )));
        }
    }
    let string = |key: &str| -> Option<String> {
        properties
            .get::<&str>(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let int = |key: &str| properties.get::<i64>(key);
    let mut notes = Vec::new();
    let mut unsupported = Vec::new();

    let (address, key) = match (string("alternate full address"), string("full address")) {
        (Some(alternate), _) => (alternate, "alternate full address"),
        (None, Some(full)) => (full, "full address"),
        (None, None) => return Err(format!("{name}: no `full address`")),
    };
    let mut target: Target = address
        .parse()
        .map_err(|e| crate::text::escaped(&format!("{name}: `{key}`: {e}")))?;
    let has_port = address.rsplit_once(':').is_some_and(|(host, _)| {
        !host.contains(':') || host.ends_with(']') // IPv6 only with brackets and a port
    });
    if let Some(port) = int("server port") {
        if !has_port {
            target.port = u16::try_from(port)
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{name}: `server port` {port} is not a TCP port"))?;
        }
    }
    notes.push(format!("target {target} (from `{key}`)"));

    let (domain_from_user, username) = match string("username") {
        Some(user) => match user.split_once('\\') {
            Some((domain, user)) => (Some(domain.to_owned()), Some(user.to_owned())),
            None => (None, Some(user)),
        },
        None => (None, None),
    };
    let domain = string("domain").or(domain_from_user);

    let credssp = int("enablecredsspsupport").unwrap_or(1) != 0;
    let negotiate = int("negotiate security layer").unwrap_or(1) != 0;
    let security = match (negotiate, credssp) {
        (false, _) => {
            notes.push(
                "offers Standard RDP Security only (`negotiate security layer:i:0`)".to_owned(),
            );
            Some("rdp")
        }
        (true, false) => {
            notes.push(
                "offers TLS and Standard RDP Security, no NLA (`enablecredsspsupport:i:0`)"
                    .to_owned(),
            );
            Some("rdp,tls")
        }
        (true, true) => None,
    }
    .map(|list| list.parse().unwrap_or_default());

    let cert_policy = match int("authentication level") {
        Some(0) => {
            notes.push("`authentication level:i:0`: connect whatever the certificate (policy warn: findings reported, never fatal)".to_owned());
            Some(CertPolicy::Warn)
        }
        Some(1) => {
            notes.push("`authentication level:i:1`: do not connect when the server cannot be authenticated (policy strict)".to_owned());
            Some(CertPolicy::Strict)
        }
        Some(2) => {
            notes.push(
                "`authentication level:i:2`: warn and let the user choose (policy default)"
                    .to_owned(),
            );
            Some(CertPolicy::Default)
        }
        Some(3) => {
            notes.push(
                "`authentication level:i:3`: no authentication requirement (policy warn)"
                    .to_owned(),
            );
            Some(CertPolicy::Warn)
        }
        Some(other) => {
            return Err(format!(
                "{name}: `authentication level` {other} is not 0 to 3"
            ))
        }
        None => None,
    };

    if let Some(cookie) = string("loadbalanceinfo") {
        unsupported.push(format!(
            "`loadbalanceinfo` ({}) is not sent: a Connection Broker or load balancer may route this probe elsewhere than mstsc",
            crate::text::escaped(&cookie)
        ));
    }
    let gateway = string("gatewayhostname");
    let gateway_used = matches!(int("gatewayusagemethod"), Some(1 | 2));
    if let (Some(gateway), true) = (&gateway, gateway_used) {
        unsupported.push(format!(
            "the RD Gateway {} is not used (`gatewayusagemethod:i:{}`): rdpscope connects directly to {target}, which may be unreachable from here or take another path than mstsc",
            crate::text::escaped(gateway),
            int("gatewayusagemethod").unwrap_or_default()
        ));
    }
    Ok(RdpFile {
        target,
        username,
        domain,
        security,
        cert_policy,
        notes,
        unsupported,
    })
}

/// Reads the `.rdp` file at `path`.
pub fn read(path: &std::path::Path) -> Result<RdpFile, String> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let text = decode(&bytes).map_err(|e| format!("{name}: {e}"))?;
    parse(&name, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    /// A file as mstsc saves it (abridged), CRLF, UTF-16LE with a BOM.
    const MSTSC: &str = "screen mode id:i:2\r\nuse multimon:i:0\r\ndesktopwidth:i:1920\r\nfull address:s:rdp01.corp.example\r\nserver port:i:3390\r\nusername:s:CORP\\alice\r\nauthentication level:i:2\r\nenablecredsspsupport:i:1\r\nprompt for credentials:i:0\r\ngatewayhostname:s:gw.corp.example\r\ngatewayusagemethod:i:4\r\npassword 51:b:01000000D08C9DDF0115D1118C7A00C04FC297EB\r\n\r\n";

    #[test]
    fn reads_a_file_as_mstsc_writes_it() {
        let text = decode(&utf16le(MSTSC)).expect("decodes");
        let file = parse("a.rdp", &text).expect("parses");
        assert_eq!(file.target.to_string(), "rdp01.corp.example:3390");
        assert_eq!(file.username.as_deref(), Some("alice"));
        assert_eq!(file.domain.as_deref(), Some("CORP"));
        assert_eq!(file.cert_policy, Some(CertPolicy::Default));
        assert_eq!(file.security, None);
        // gatewayusagemethod 4: no gateway for this address.
        assert!(file.unsupported.is_empty(), "{:?}", file.unsupported);
        // UTF-8, with a BOM or without, reads the same.
        let utf8 = parse("a.rdp", &decode(MSTSC.as_bytes()).expect("utf-8")).expect("parses");
        assert_eq!(utf8, file);
        let bom = [b"\xEF\xBB\xBF".as_slice(), MSTSC.as_bytes()].concat();
        assert_eq!(
            parse("a.rdp", &decode(&bom).expect("bom")).expect("parses"),
            file
        );
    }

    #[test]
    fn says_what_it_cannot_honour_and_maps_security() {
        let text = "full address:s:10.0.0.5:3391\nserver port:i:3389\nenablecredsspsupport:i:0\nauthentication level:i:0\nloadbalanceinfo:s:tsv://MS Terminal Services Plugin.1.Desktops\ngatewayhostname:s:gw.example\ngatewayusagemethod:i:1\n";
        let file = parse("b.rdp", text).expect("parses");
        // A port in the address wins over `server port`.
        assert_eq!(file.target.to_string(), "10.0.0.5:3391");
        assert_eq!(file.security, Some("rdp,tls".parse().expect("list")));
        assert_eq!(file.cert_policy, Some(CertPolicy::Warn));
        assert_eq!(file.unsupported.len(), 2, "{:?}", file.unsupported);
        assert!(file.unsupported[0].contains("loadbalanceinfo"));
        assert!(file.unsupported[1].contains("RD Gateway gw.example"));

        let alternate = parse(
            "c.rdp",
            "full address:s:a.example\nalternate full address:s:b.example\n",
        )
        .expect("parses");
        assert_eq!(alternate.target.to_string(), "b.example:3389");
    }

    #[test]
    fn refuses_a_broken_file_naming_the_line() {
        assert_eq!(
            parse("d.rdp", "full address:s:x\nserver port:i:abc\n").unwrap_err(),
            "d.rdp:2: `server port` is not a number"
        );
        assert_eq!(
            parse("d.rdp", "full address:s:x\njust text\n").unwrap_err(),
            "d.rdp:2: not a `key:type:value` line"
        );
        assert_eq!(
            parse("d.rdp", "username:s:bob\n").unwrap_err(),
            "d.rdp: no `full address`"
        );
        assert!(decode(&[0xFF, 0xFE, 0x41]).is_err());
        assert!(decode(b"\xC3\x28").is_err());
        assert!(parse("d.rdp", "full address:s:x\nauthentication level:i:7\n").is_err());
    }
}
