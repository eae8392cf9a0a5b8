//! The causes behind RDP connection failures: what each one is, how to confirm it with
//! rdpscope, and how to fix it. Data, one row per cause; the rest of the knowledge base refers
//! to causes by id.

use std::fmt::Write as _;

use serde::Serialize;

/// Who has to act on a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Side {
    /// The RDP server (or its administrator).
    Server,
    /// The client machine or the user.
    Client,
    /// Firewalls, routing, DNS, gateways in between.
    Network,
    /// Active Directory / the domain.
    Directory,
}

named!(Side);

impl Side {
    /// The stable name, as JSON writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
            Side::Network => "network",
            Side::Directory => "directory",
        }
    }
}

/// One remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// Who acts.
    pub side: Side,
    /// What to do.
    pub action: &'static str,
}

/// A cause of RDP connection failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// Stable identifier.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// The rdpscope command that confirms it (HOST and USER are placeholders).
    pub confirm: &'static str,
    /// What that command shows when this is the cause.
    pub shows: &'static str,
    /// How to fix it.
    pub fixes: &'static [Fix],
}

const fn fix(side: Side, action: &'static str) -> Fix {
    Fix { side, action }
}

use Side::{Client, Directory, Network, Server};

const PROBE: &str = "rdpscope probe HOST";
const PROBE_NLA: &str = "RDPSCOPE_PASSWORD=... rdpscope probe HOST --user USER";

/// Every cause, by id.
pub static CAUSES: &[Cause] = &[
    Cause {
        id: "dns",
        title: "the host name does not resolve",
        confirm: PROBE,
        shows: "failed at dns: cannot resolve `HOST`",
        fixes: &[
            fix(Client, "check the spelling; try the FQDN or the IP address"),
            fix(Network, "check the DNS record (nslookup HOST) and the client's DNS servers / VPN split DNS"),
        ],
    },
    Cause {
        id: "port_blocked",
        title: "TCP 3389 is blocked by a firewall on the way or on the server",
        confirm: "rdpscope probe HOST --connect-timeout 5s",
        shows: "failed at tcp: timeout (\"filtered\": no answer to the SYN), refused (a reset), or unreachable with the ICMP answer (administratively prohibited, port unreachable, ...) and the address of the router or host that sent it; if another port on the host answers, it is a filter",
        fixes: &[
            fix(Server, "enable the inbound rules \"Remote Desktop - User Mode (TCP-In)\" and \"(UDP-In)\" for TCP/UDP 3389 (Windows Defender Firewall)"),
            fix(Network, "allow TCP 3389 (and UDP 3389) through network firewalls, security groups and NAT; for RDP over WebSocket / RD Gateway allow TCP 443"),
            fix(Client, "off-site, connect through the VPN or the RD Gateway the organisation provides"),
        ],
    },
    Cause {
        id: "host_unreachable",
        title: "the host is down, or no route leads to it (wrong address, VPN not connected, missing route)",
        confirm: "rdpscope probe HOST --connect-timeout 5s",
        shows: "failed at tcp: unreachable with no route from this machine, or host / network unreachable from a router; or timeout on every port of the host",
        fixes: &[
            fix(Client, "check that the name resolves to the right address and that the VPN (or the route to the site) is up"),
            fix(Network, "follow the path (tracert / traceroute -T -p 3389 HOST) to the router that answers or stops; check its routes and the host's subnet"),
            fix(Server, "check that the host is running and its network interface is up, with the expected address"),
        ],
    },
    Cause {
        id: "service_not_listening",
        title: "nothing listens on the port: Remote Desktop disabled, TermService stopped, or another port configured",
        confirm: PROBE,
        shows: "failed at tcp: connection refused",
        fixes: &[
            fix(Server, "enable Remote Desktop (System > Remote Desktop, or fDenyTSConnections=0) and start the Remote Desktop Services (TermService) service"),
            fix(Server, "check the listener port: HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp\\PortNumber, and `netstat -ano | findstr LISTENING`"),
        ],
    },
    Cause {
        id: "wrong_service",
        title: "another service answers on the port (web server, SSH, RD Gateway)",
        confirm: PROBE,
        shows: "failed at x224: not_rdp, naming what answered (HTTP, SSH, TLS-first)",
        fixes: &[
            fix(Client, "use the RDP port of the host (3389 unless changed); an RD Gateway on 443 is used through the client's gateway settings, not as the target"),
            fix(Network, "check port forwards and load balancer pools that map the port"),
        ],
    },
    Cause {
        id: "middlebox_reset",
        title: "a firewall, IPS or proxy resets or drops RDP traffic after inspecting it",
        confirm: PROBE,
        shows: "failed at x224 or tls: reset or closed_by_peer right after the request, while TCP connected",
        fixes: &[
            fix(Network, "check IPS/application-control policies and SSL inspection for RDP; exempt the server"),
            fix(Server, "compare with a probe from the server's own subnet to locate the device"),
        ],
    },
    Cause {
        id: "service_hung",
        title: "the RDP service accepts connections but does not answer (hung or overloaded)",
        confirm: "rdpscope probe HOST --timeout 30s",
        shows: "failed at x224: timeout, although TCP connected",
        fixes: &[
            fix(Server, "restart Remote Desktop Services (TermService); check the System and TerminalServices-* event logs and the server's load"),
            fix(Network, "rule out a middlebox that swallows traffic: probe from the server's subnet"),
        ],
    },
    Cause {
        id: "client_refused_before_negotiation",
        title: "the server refuses the client before negotiating (connection limit, address restrictions)",
        confirm: PROBE,
        shows: "failed at x224: the server closed the connection without answering the X.224 Connection Request",
        fixes: &[
            fix(Server, "check \"Limit number of connections\", IP restrictions (firewall scope, IPsec) and the RemoteConnectionManager event log"),
        ],
    },
    Cause {
        id: "security_layer_mismatch",
        title: "client and server share no security protocol (Security Layer / NLA settings)",
        confirm: "rdpscope probe HOST --security tls,hybrid,hybrid_ex",
        shows: "failed at x224: negotiation_failure with the RDP_NEG_FAILURE code, or unsupported_security",
        fixes: &[
            fix(Server, "set \"Require use of specific security layer for remote (RDP) connections\" to SSL (TLS) or Negotiate, not RDP (Group Policy > Remote Desktop Session Host > Security)"),
            fix(Client, "offer what the server requires: enable NLA (CredSSP) on the client if the server requires it"),
        ],
    },
    Cause {
        id: "nla_required",
        title: "the server requires Network Level Authentication and the client does not do it or gave no credentials",
        confirm: PROBE_NLA,
        shows: "failed at x224: RDP_NEG_FAILURE 5 HYBRID_REQUIRED_BY_SERVER (without NLA), or credssp: credentials_required",
        fixes: &[
            fix(Client, "enable NLA in the client (mstsc: enablecredsspsupport:i:1) and provide credentials"),
            fix(Server, "only if needed: untick \"Allow connections only from computers running Remote Desktop with Network Level Authentication\""),
        ],
    },
    Cause {
        id: "legacy_server",
        title: "the server speaks only Standard RDP Security or old TLS",
        confirm: PROBE,
        shows: "failed at x224: unsupported_security (Standard RDP Security), or tls: tls_error (TLS 1.0/1.1 only)",
        fixes: &[
            fix(Server, "install the updates that enable TLS 1.2 (Windows Server 2008 R2 / Windows 7: KB3080079) and set the Security Layer to SSL"),
            fix(Server, "enable TLS 1.2 in SCHANNEL (HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\Server, Enabled=1)"),
        ],
    },
    Cause {
        id: "tls_mismatch",
        title: "no common TLS version or cipher suite",
        confirm: PROBE,
        shows: "failed at tls: tls_alert (handshake_failure / protocol_version) or tls_error",
        fixes: &[
            fix(Server, "enable TLS 1.2 and ECDHE-AES-GCM cipher suites (SCHANNEL protocols, the \"SSL Cipher Suite Order\" policy, IIS Crypto templates)"),
            fix(Client, "do not disable TLS 1.2 on the client"),
        ],
    },
    Cause {
        id: "cert_key_unreadable",
        title: "the RDP service cannot use its certificate: the private key is unreadable by NETWORK SERVICE, or the certificate was deleted",
        confirm: PROBE,
        shows: "failed at tls: closed_by_peer during the TLS handshake (mstsc: 0x904 / extended 0x7), or x224: RDP_NEG_FAILURE 3",
        fixes: &[
            fix(Server, "certlm.msc > Remote Desktop (or Personal) > the RDP certificate > All Tasks > Manage Private Keys: give NETWORK SERVICE Read"),
            fix(Server, "check C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys permissions; or delete the self-signed certificate from the Remote Desktop store and restart TermService to regenerate it"),
            fix(Server, "make sure the listener's SSLCertificateSHA1Hash points at an existing certificate (Win32_TSGeneralSetting, see cert_expired)"),
        ],
    },
    Cause {
        id: "cert_expired",
        title: "the RDP certificate expired (or is not yet valid) and was not renewed",
        confirm: PROBE,
        shows: "failed at certificate: finding expired (with the date); `--cert-policy warn` connects",
        fixes: &[
            fix(Server, "self-signed: delete the expired certificate in certlm.msc > Remote Desktop > Certificates and restart TermService; a new one is generated"),
            fix(Server, "CA-issued: re-enrol from the RDP template (auto-enrolment GPO \"Server authentication certificate template\") and check that auto-enrolment works"),
            fix(Server, "bind the new certificate to the listener: `wmic /namespace:\\\\root\\cimv2\\TerminalServices PATH Win32_TSGeneralSetting Set SSLCertificateSHA1Hash=\"THUMBPRINT\"` (the SHA-1 thumbprint rdpscope prints)"),
            fix(Client, "check the client clock if the certificate is 'not yet valid'"),
        ],
    },
    Cause {
        id: "cert_identity",
        title: "the certificate does not prove the server's identity (self-signed, untrusted CA, wrong name, incomplete chain)",
        confirm: "rdpscope probe HOST --cert-policy strict --ca-file CORP-CA.pem",
        shows: "certificate findings self_signed, untrusted_issuer, name_mismatch or chain_incomplete (mstsc shows a certificate warning)",
        fixes: &[
            fix(Server, "issue the RDP certificate from a CA the clients trust, with the FQDN clients use in the subject alternative names, and send the intermediate certificates"),
            fix(Client, "connect with the name in the certificate; deploy the CA to the clients' trusted roots"),
        ],
    },
    Cause {
        id: "cert_unusable",
        title: "the certificate cannot be used for RDP (wrong EKU or key usage, weak key or signature, bad signature)",
        confirm: PROBE,
        shows: "failed at certificate: eku_not_server_auth, key_usage_missing, weak_key, weak_signature or bad_signature",
        fixes: &[
            fix(Server, "re-issue from a template with Server Authentication or Remote Desktop Authentication EKU, digitalSignature key usage, RSA 2048+ or ECDSA, SHA-256"),
        ],
    },
    Cause {
        id: "cert_changed",
        title: "the server's certificate changed (regenerated, replaced, or a man in the middle)",
        confirm: "rdpscope probe HOST --pin sha256:KNOWN-FINGERPRINT, or --tofu on every probe",
        shows: "failed at certificate: certificate changed (pin_mismatch or certificate_changed), with the old and new fingerprints",
        fixes: &[
            fix(Server, "confirm the new thumbprint on the server (certlm.msc, Win32_TSGeneralSetting SSLCertificateSHA1Hash) before trusting it"),
            fix(Network, "a new certificate with the old subject and issuer but another key, on a server nobody touched, is an interception proxy: probe from another network path and compare"),
            fix(Client, "once the new certificate is confirmed, delete the host's line from the known hosts file (or update --pin)"),
        ],
    },
    Cause {
        id: "wrong_credentials",
        title: "wrong user name or password, or stale saved credentials on the client",
        confirm: PROBE_NLA,
        shows: "failed at credssp: logon failure (0xC000006D STATUS_LOGON_FAILURE), or closed_by_peer right after the NTLM AUTHENTICATE message (servers that send no errorCode)",
        fixes: &[
            fix(Client, "remove saved credentials for the host (Credential Manager > Windows Credentials > TERMSRV/HOST) and type them again"),
            fix(Client, "use DOMAIN\\user or user@domain.fqdn; check Caps Lock and keyboard layout"),
        ],
    },
    Cause {
        id: "account_state",
        title: "the account is locked out, disabled, expired, or its password expired / must change",
        confirm: PROBE_NLA,
        shows: "failed at credssp: logon_failure with the NTSTATUS (STATUS_ACCOUNT_LOCKED_OUT, STATUS_PASSWORD_EXPIRED, ...)",
        fixes: &[
            fix(Directory, "unlock, enable or extend the account; reset the password (Active Directory Users and Computers / Get-ADUser)"),
            fix(Client, "NLA cannot change an expired password: change it elsewhere (Ctrl+Alt+Del on a domain PC, a password portal) and retry"),
        ],
    },
    Cause {
        id: "not_authorized",
        title: "the user authenticates but may not log on remotely",
        confirm: PROBE_NLA,
        shows: "failed at credssp: access_denied (Early User Authorization) or logon_failure STATUS_LOGON_TYPE_NOT_GRANTED, or secure_settings: ERRINFO 0x9",
        fixes: &[
            fix(Server, "add the user to Remote Desktop Users (or the group in \"Allow log on through Remote Desktop Services\"); check \"Deny log on through Remote Desktop Services\" (secpol.msc > User Rights Assignment)"),
        ],
    },
    Cause {
        id: "auth_backend",
        title: "the server cannot complete authentication (domain controller unreachable, CredSSP provider failing)",
        confirm: PROBE_NLA,
        shows: "failed at credssp: closed_by_peer after the NTLM AUTHENTICATE message, or credssp_error",
        fixes: &[
            fix(Server, "check the secure channel to the domain (Test-ComputerSecureChannel), DC reachability and time sync; read the Security and System event logs"),
        ],
    },
    Cause {
        id: "server_refuses_session",
        title: "the server refuses the session after authentication (policy, connection limit, session host state)",
        confirm: PROBE_NLA,
        shows: "failed at secure_settings: server_error_info ERRINFO_SERVER_DENIED_CONNECTION (0x7), or a close after authentication",
        fixes: &[
            fix(Server, "read Microsoft-Windows-TerminalServices-LocalSessionManager/Operational and RemoteConnectionManager logs for the refusal"),
            fix(Server, "check \"Limit number of connections\", \"Restrict Remote Desktop Services users to a single session\", the session host's drain mode, and that Remote Desktop is not disabled by Group Policy"),
            fix(Server, "on an RD Session Host, check RD Licensing (see licensing)"),
        ],
    },
    Cause {
        id: "fresh_credentials",
        title: "the server demands typed credentials and refuses saved ones",
        confirm: PROBE_NLA,
        shows: "failed at secure_settings: ERRINFO 0xA ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED",
        fixes: &[
            fix(Client, "type the password at connect time instead of using saved credentials"),
            fix(Server, "\"Always prompt for password upon connection\" is enabled by policy"),
        ],
    },
    Cause {
        id: "licensing",
        title: "RD Session Host licensing: no license server reachable or the grace period ended",
        confirm: PROBE_NLA,
        shows: "failed at licensing: licensing_error (ERR_NO_LICENSE_SERVER)",
        fixes: &[
            fix(Server, "configure the licensing mode and server (Get-RDLicenseConfiguration / Set-RDLicenseConfiguration, lsdiag.msc), install CALs, or remove the RD Session Host role if only admin access is needed"),
        ],
    },
    Cause {
        id: "server_drop",
        title: "the server drops the connection after authentication without saying why (crash, broken add-in, session creation failed)",
        confirm: PROBE_NLA,
        shows: "failed at basic_settings .. finalization: closed_by_peer, at the exact stage",
        fixes: &[
            fix(Server, "read the System, Application and TerminalServices-* event logs at the time of the probe; check third-party RDP add-ins, virtual channel drivers and the Winlogon/profile services"),
        ],
    },
    Cause {
        id: "admin_disconnect",
        title: "an administrator or a tool disconnected or logged off the session",
        confirm: PROBE_NLA,
        shows: "failed with server_error_info ERRINFO 0x1 / 0x2",
        fixes: &[fix(Server, "check who ended the session (TerminalServices-LocalSessionManager log)")],
    },
    Cause {
        id: "slow_network",
        title: "the server or the path is too slow for the client's timeouts",
        confirm: "rdpscope probe HOST --timeout 30s",
        shows: "a stage that takes seconds in the timing column; timeout with the default 10 s",
        fixes: &[
            fix(Network, "check latency and loss on the path (VPN, Wi-Fi), MTU issues that stall TLS"),
            fix(Server, "check the server's CPU and disk load"),
        ],
    },
    Cause {
        id: "broker_redirect",
        title: "a connection broker redirects the client to another host",
        confirm: PROBE,
        shows: "failed with redirected",
        fixes: &[fix(Client, "connect through the broker with a client that follows redirection, or probe the session host directly")],
    },
];

/// The cause with this id.
pub fn cause(id: &str) -> Option<&'static Cause> {
    CAUSES.iter().find(|c| c.id == id)
}

/// Writes the likely causes, most likely first, with how to confirm and fix each (at most `limit`).
pub fn render_causes(out: &mut String, causes: &[&Cause], limit: usize) {
    if causes.is_empty() {
        return;
    }
    let _ = writeln!(out, "likely causes:");
    for (rank, cause) in causes.iter().take(limit).enumerate() {
        let _ = writeln!(out, "  {}. {}", rank + 1, cause.title);
        let _ = writeln!(out, "     confirm: {}", cause.confirm);
        let _ = writeln!(out, "     it shows: {}", cause.shows);
        for fix in cause.fixes {
            let _ = writeln!(out, "     fix ({}): {}", fix.side.name(), fix.action);
        }
    }
    if causes.len() > limit {
        let _ = writeln!(
            out,
            "  (+{} less likely; --json lists all)",
            causes.len() - limit
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_cause_has_a_fix() {
        let mut ids = std::collections::HashSet::new();
        for cause in CAUSES {
            assert!(ids.insert(cause.id), "duplicate {}", cause.id);
            assert!(!cause.fixes.is_empty(), "{}", cause.id);
            assert!(
                cause.confirm.starts_with("rdpscope ")
                    || cause.confirm.starts_with("RDPSCOPE_PASSWORD"),
                "{}",
                cause.id
            );
        }
    }
}
