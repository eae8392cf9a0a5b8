//! Connection settings as a user writes them (the command line's options, a suite file's
//! case and its defaults, a `.rdp` file), and the one way they become [`ProbeOptions`]:
//! files read, defaults filled in. `probe`, `check`, `bench` and `suite` share it.

use std::path::PathBuf;
use std::time::Duration;

use crate::cert::{read_pem_certificates, CertPolicy, Pin, TrustStore};
use crate::probe::{Credentials, ProbeOptions, Secret, SecurityProtocols};
use crate::rdpfile::RdpFile;
use crate::target::Target;
use crate::Stage;

/// Connection settings, each unset until a user sets it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectSettings {
    /// User name for NLA.
    pub user: Option<String>,
    /// Domain for NLA.
    pub domain: Option<String>,
    /// The password (from an environment variable or standard input, never a file).
    pub password: Option<Secret>,
    /// Protocols to offer.
    pub security: Option<SecurityProtocols>,
    /// Timeout for each stage.
    pub timeout: Option<Duration>,
    /// Timeout for the TCP connect (default: the stage timeout).
    pub connect_timeout: Option<Duration>,
    /// Stop successfully once this stage is reached.
    pub until: Option<Stage>,
    /// Certificate policy.
    pub cert_policy: Option<CertPolicy>,
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Name to check the certificate against.
    pub server_name: Option<String>,
    /// Warn when the certificate expires in fewer days than this.
    pub expiry_warning_days: Option<i64>,
    /// The pinned leaf certificate.
    pub pin: Option<Pin>,
    /// A known-hosts file (trust on first use).
    pub known_hosts: Option<PathBuf>,
}

impl ConnectSettings {
    /// These settings, with every one left unset taken from `fallback`.
    #[must_use]
    pub fn or(self, fallback: ConnectSettings) -> ConnectSettings {
        ConnectSettings {
            user: self.user.or(fallback.user),
            domain: self.domain.or(fallback.domain),
            password: self.password.or(fallback.password),
            security: self.security.or(fallback.security),
            timeout: self.timeout.or(fallback.timeout),
            connect_timeout: self.connect_timeout.or(fallback.connect_timeout),
            until: self.until.or(fallback.until),
            cert_policy: self.cert_policy.or(fallback.cert_policy),
            ca_file: self.ca_file.or(fallback.ca_file),
            server_name: self.server_name.or(fallback.server_name),
            expiry_warning_days: self.expiry_warning_days.or(fallback.expiry_warning_days),
            pin: self.pin.or(fallback.pin),
            known_hosts: self.known_hosts.or(fallback.known_hosts),
        }
    }

    /// These settings, with what a `.rdp` file asks for where they leave a gap (the user
    /// and domain, the security offer, the certificate policy).
    #[must_use]
    pub fn or_file(self, file: &RdpFile) -> ConnectSettings {
        self.or(ConnectSettings {
            user: file.username.clone(),
            domain: file.domain.clone(),
            security: file.security,
            cert_policy: file.cert_policy,
            ..ConnectSettings::default()
        })
    }

    /// The probe options: `base` for every setting left unset, the CA file and the
    /// known-hosts file read now (so that a bad file is an error before anything is
    /// sent). Credentials need both a user and a password.
    pub fn options(&self, base: &ProbeOptions) -> Result<ProbeOptions, SettingError> {
        let trust = match &self.ca_file {
            Some(path) => Some(trust_store(path)?),
            None => base.trust.clone(),
        };
        if let Some(path) = &self.known_hosts {
            crate::cert::known_hosts::read(path).map_err(|e| SettingError {
                setting: "known_hosts",
                message: format!("cannot read the known hosts file {}: {e}", path.display()),
            })?;
        }
        let credentials = match (&self.user, &self.password) {
            (Some(user), Some(password)) => Some(Credentials {
                user: user.clone(),
                domain: self.domain.clone(),
                password: password.clone(),
            }),
            _ => base.credentials.clone(),
        };
        let stage_timeout = self.timeout.unwrap_or(base.stage_timeout);
        let connect_timeout = match (self.connect_timeout, self.timeout) {
            (Some(connect), _) => connect,
            (None, Some(stage)) => stage,
            (None, None) => base.connect_timeout,
        };
        Ok(ProbeOptions {
            credentials,
            security: self.security.unwrap_or(base.security),
            stage_timeout,
            connect_timeout: Duration::max(connect_timeout, Duration::from_millis(1)),
            until: self.until.or(base.until),
            cert_policy: self.cert_policy.unwrap_or(base.cert_policy),
            trust,
            server_name: self
                .server_name
                .clone()
                .or_else(|| base.server_name.clone()),
            expiry_warning_days: self.expiry_warning_days.unwrap_or(base.expiry_warning_days),
            pin: self.pin.clone().or_else(|| base.pin.clone()),
            known_hosts: self
                .known_hosts
                .clone()
                .or_else(|| base.known_hosts.clone()),
        })
    }
}

/// A setting whose file cannot be used: which setting (`ca_file`, `known_hosts`; the
/// command line spells it `--ca-file`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The setting's name as a suite file writes it.
    pub setting: &'static str,
    /// Why, in one line.
    pub message: String,
}

impl SettingError {
    /// The setting as the command line spells it: `--ca-file`.
    pub fn flag(&self) -> String {
        format!("--{}", self.setting.replace('_', "-"))
    }
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.setting, self.message)
    }
}

/// The trust store of a CA file (`ca_file`, `--ca-file`): the system roots and the file's
/// certificates (PEM).
pub fn trust_store(path: &std::path::Path) -> Result<TrustStore, SettingError> {
    let extra = read_pem_certificates(path).map_err(|e| SettingError {
        setting: "ca_file",
        message: format!("cannot read the CA file {}: {e}", path.display()),
    })?;
    Ok(TrustStore::with_extra(&extra))
}

/// Where a probe goes and with what: `HOST[:PORT]`, or a `.rdp` file's target with its
/// settings under `settings` (which win), and what of the file cannot be honoured.
pub fn resolve(
    target: &str,
    settings: ConnectSettings,
) -> Result<(Target, ConnectSettings, Vec<String>), String> {
    if !is_rdp_file(target) {
        let target = target.parse().map_err(|e| format!("{e}"))?;
        return Ok((target, settings, Vec::new()));
    }
    let file = crate::rdpfile::read(std::path::Path::new(target))?;
    for note in &file.notes {
        tracing::debug!(
            file = target,
            note = note.as_str(),
            "Read the connection file"
        );
    }
    let settings = settings.or_file(&file);
    Ok((file.target, settings, file.unsupported))
}

/// Whether `target` names a `.rdp` connection file (by its extension).
pub fn is_rdp_file(target: &str) -> bool {
    std::path::Path::new(target)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("rdp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_settings_win_and_gaps_fall_back() {
        let case = ConnectSettings {
            timeout: Some(Duration::from_secs(2)),
            user: Some("alice".to_owned()),
            ..ConnectSettings::default()
        };
        let defaults = ConnectSettings {
            timeout: Some(Duration::from_secs(9)),
            cert_policy: Some(CertPolicy::Ignore),
            ..ConnectSettings::default()
        };
        let merged = case.or(defaults);
        assert_eq!(merged.timeout, Some(Duration::from_secs(2)));
        assert_eq!(merged.cert_policy, Some(CertPolicy::Ignore));
        let options = merged.options(&ProbeOptions::default()).expect("options");
        // The stage timeout bounds the connect too unless it is set apart.
        assert_eq!(options.connect_timeout, Duration::from_secs(2));
        // A user without a password gives no credentials.
        assert!(options.credentials.is_none());
        assert_eq!(options.cert_policy, CertPolicy::Ignore);
    }

    #[test]
    fn a_missing_ca_file_is_an_error_naming_it() {
        let settings = ConnectSettings {
            ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..ConnectSettings::default()
        };
        let error = settings.options(&ProbeOptions::default()).unwrap_err();
        assert_eq!(error.flag(), "--ca-file");
        assert!(
            error
                .to_string()
                .starts_with("`ca_file`: cannot read the CA file /nonexistent/ca.pem"),
            "{error}"
        );
    }
}
