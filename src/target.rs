//! Parsing of probe targets (`HOST[:PORT]`, `[V6]:PORT`) and durations.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// The default RDP port.
pub const DEFAULT_PORT: u16 = 3389;

/// A host and port to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Error returned for an unparsable target or duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The target is not `HOST[:PORT]` or `[IPV6]:PORT`.
    #[error("invalid target `{0}`: expected HOST[:PORT] or [IPV6]:PORT")]
    Target(String),
    /// The port is not a number in 1..=65535.
    #[error("invalid port `{0}`")]
    Port(String),
    /// The duration is not like `10s`, `500ms`, `2m` or a number of seconds.
    #[error("invalid duration `{0}`: expected e.g. 10s, 500ms, 2m")]
    Duration(String),
}

impl Target {
    /// The host as an IP address, when it is an address literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl From<std::net::SocketAddr> for Target {
    fn from(addr: std::net::SocketAddr) -> Self {
        Target {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(s: &str) -> Result<u16, InputError> {
    match s.parse::<u16>() {
        Ok(0) | Err(_) => Err(InputError::Port(s.to_owned())),
        Ok(port) => Ok(port),
    }
}

impl FromStr for Target {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || InputError::Target(s.to_owned());
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(bad());
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            let port = match after {
                "" => DEFAULT_PORT,
                _ => parse_port(after.strip_prefix(':').ok_or_else(bad)?)?,
            };
            (host.to_owned(), port)
        } else if s.matches(':').count() > 1 {
            // A bare IPv6 literal without a port.
            s.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (s.to_owned(), DEFAULT_PORT)
        } else if let Some((host, port)) = s.split_once(':') {
            (host.to_owned(), parse_port(port)?)
        } else {
            (s.to_owned(), DEFAULT_PORT)
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Target { host, port })
    }
}

/// Parses a duration such as `10s`, `250ms`, `2m` or `1.5` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, InputError> {
    let bad = || InputError::Duration(s.to_owned());
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value <= 0.0 || value * scale > 86_400.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t: Target = "host.example".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("host.example", 3389));
        let t: Target = "10.0.0.1:3390".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.1", 3390));
        let t: Target = "[::1]:3389".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 3389));
        assert_eq!(t.to_string(), "[::1]:3389");
        let t: Target = "::1".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 3389));
        let t: Target = "[fe80::1]".parse().unwrap();
        assert_eq!(t.port, 3389);
        for bad in [
            "",
            ":3389",
            "host:0",
            "host:99999",
            "host:x",
            "[::1",
            "[nothost]:1",
            "a b",
            "[::1]x",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        for bad in ["", "abc", "-1s", "0", "10h", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
