//! The suite file (TOML): its raw form as serde reads it (every value that needs checking
//! keeps its place in the file), and the checks that turn it into [`Case`]s. Every error
//! names the file and line: `FILE:LINE: why`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Case, CaseTarget, Suite};
use crate::diagnosis::{Code, CodeTable};
use crate::expect::Expectation;
use crate::mock::Scenario;
use crate::options::ConnectSettings;
use crate::report::Outcome;
use crate::{ProbeOptions, Secret};

/// The file: an optional name, defaults, cases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    defaults: Option<Spanned<RawCase>>,
    #[serde(default, rename = "case")]
    cases: Vec<Spanned<RawCase>>,
}

/// A `[[case]]`, and `[defaults]` (which may not name a case or its target).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: Option<Spanned<String>>,
    target: Option<Spanned<String>>,
    scenario: Option<Spanned<String>>,
    rdp_file: Option<Spanned<String>>,
    user: Option<String>,
    domain: Option<String>,
    password_env: Option<Spanned<String>>,
    /// Refused with a reason: a password never goes in a suite file.
    password: Option<Spanned<toml::Value>>,
    security: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    cert_policy: Option<Spanned<String>>,
    ca_file: Option<String>,
    server_name: Option<String>,
    expiry_warning_days: Option<Spanned<i64>>,
    pin: Option<Spanned<String>>,
    known_hosts: Option<String>,
    expect: Option<RawExpect>,
}

/// A case's `expect` table.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    outcome: Option<Spanned<String>>,
    stage: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    ntstatus: Option<Spanned<CodeValue>>,
    neg_failure: Option<Spanned<CodeValue>>,
    errinfo: Option<Spanned<CodeValue>>,
    findings: Option<Vec<Spanned<String>>>,
    absent_findings: Option<Vec<Spanned<String>>>,
    credentials_sent: Option<bool>,
    protocol: Option<Spanned<String>>,
    max_time: Option<Spanned<String>>,
    stage_max_time: Option<Spanned<BTreeMap<String, String>>>,
}

/// A protocol code as written: a number (`0xC000006D`) or a name (`STATUS_LOGON_FAILURE`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum CodeValue {
    Number(i64),
    Name(String),
}

/// Where the file's errors point.
struct Place<'a> {
    file: &'a str,
    text: &'a str,
}

impl Place<'_> {
    fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// `FILE:LINE: why` for what sits at `span`.
    fn error<T>(
        &self,
        span: std::ops::Range<usize>,
        why: impl std::fmt::Display,
    ) -> Result<T, String> {
        Err(format!("{}:{}: {why}", self.file, self.line(span.start)))
    }

    /// A value parsed by its `FromStr`, the error naming the key.
    fn parse<T>(&self, key: &str, value: &Spanned<String>) -> Result<T, String>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match value.get_ref().parse() {
            Ok(parsed) => Ok(parsed),
            Err(e) => self.error(value.span(), format_args!("`{key}`: {e}")),
        }
    }

    /// An optional value parsed by its `FromStr`.
    fn parse_opt<T>(&self, key: &str, value: &Option<Spanned<String>>) -> Result<Option<T>, String>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        value.as_ref().map(|v| self.parse(key, v)).transpose()
    }

    /// An optional duration (`500ms`, `2s`).
    fn duration_opt(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
    ) -> Result<Option<Duration>, String> {
        value.as_ref().map(|v| self.duration(key, v)).transpose()
    }

    fn duration(&self, key: &str, value: &Spanned<String>) -> Result<Duration, String> {
        match crate::target::parse_duration(value.get_ref()) {
            Ok(duration) => Ok(duration),
            Err(e) => self.error(value.span(), format_args!("`{key}`: {e}")),
        }
    }
}

/// Reads a suite file's text. `file` names it in errors; relative paths in it (`rdp_file`,
/// `ca_file`, `known_hosts`) are taken from `dir`; `env` looks up the environment variables
/// that `password_env` names. Nothing is sent: every case is checked first.
pub fn parse(
    file: &str,
    text: &str,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Suite, String> {
    let place = Place { file, text };
    let raw: RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let message = e.message().trim_end_matches('\n').to_owned();
            return match e.span() {
                Some(span) => place.error(span, message),
                None => Err(format!("{file}: {message}")),
            };
        }
    };
    let (defaults, default_expect) = match &raw.defaults {
        None => (ConnectSettings::default(), RawExpect::default()),
        Some(defaults) => {
            let span = defaults.span();
            let d = defaults.get_ref();
            for (key, named) in [
                ("name", &d.name),
                ("target", &d.target),
                ("scenario", &d.scenario),
                ("rdp_file", &d.rdp_file),
            ] {
                if let Some(value) = named {
                    return place.error(
                        value.span(),
                        format_args!("`{key}` belongs in a [[case]], not in [defaults]"),
                    );
                }
            }
            let _ = span;
            (
                settings(&place, d, dir, env)?,
                d.expect.clone().unwrap_or_default(),
            )
        }
    };
    if raw.cases.is_empty() {
        return Err(format!("{file}: no [[case]]"));
    }
    let mut cases = Vec::with_capacity(raw.cases.len());
    let mut names = std::collections::HashMap::new();
    // Read once for the whole suite and shared by the cases (a trust store holds a copy of
    // the system roots): the options scenario cases start from, and each CA file's store.
    let mut scenario_base: Option<ProbeOptions> = None;
    let mut stores: std::collections::HashMap<PathBuf, crate::cert::TrustStore> =
        std::collections::HashMap::new();
    for spanned in &raw.cases {
        let span = spanned.span();
        let line = place.line(span.start);
        let raw_case = spanned.get_ref();
        let Some(name) = &raw_case.name else {
            return place.error(span, "a [[case]] needs a `name`");
        };
        if name.get_ref().trim().is_empty() {
            return place.error(name.span(), "`name` is empty");
        }
        if let Some(first) = names.insert(name.get_ref().clone(), line) {
            return place.error(
                name.span(),
                format_args!(
                    "a case named `{}` is already on line {first}",
                    name.get_ref()
                ),
            );
        }
        let case_settings = settings(&place, raw_case, dir, env)?;
        let targets = [&raw_case.target, &raw_case.scenario, &raw_case.rdp_file];
        let (target, label, settings, base, not_honoured) = match targets {
            [Some(target), None, None] => {
                let parsed = place.parse::<crate::target::Target>("target", target)?;
                let label = parsed.to_string();
                (
                    CaseTarget::Address(parsed),
                    label,
                    case_settings.or(defaults.clone()),
                    ProbeOptions::default(),
                    Vec::new(),
                )
            }
            [None, Some(scenario), None] => {
                let parsed = place.parse::<Scenario>("scenario", scenario)?;
                let label = format!("scenario {}", parsed.name());
                (
                    CaseTarget::Scenario(parsed),
                    label,
                    case_settings.or(defaults.clone()),
                    scenario_base
                        .get_or_insert_with(crate::demo::demo_options)
                        .clone(),
                    Vec::new(),
                )
            }
            [None, None, Some(path)] => {
                let full = dir.join(path.get_ref());
                let rdp = match crate::rdpfile::read(&full) {
                    Ok(rdp) => rdp,
                    Err(e) => return place.error(path.span(), format_args!("`rdp_file`: {e}")),
                };
                let label = format!("{} ({})", rdp.target, path.get_ref());
                // The case's own settings, then the file's, then the defaults.
                let settings = case_settings.or_file(&rdp).or(defaults.clone());
                (
                    CaseTarget::Address(rdp.target.clone()),
                    label,
                    settings,
                    ProbeOptions::default(),
                    rdp.unsupported,
                )
            }
            _ => {
                return place.error(
                    span,
                    format_args!(
                        "case `{}` needs exactly one of `target`, `scenario` or `rdp_file`",
                        name.get_ref()
                    ),
                )
            }
        };
        let (settings, base) = match shared_trust(settings, base, &mut stores) {
            Ok(shared) => shared,
            Err(e) => return place.error(span, format_args!("case `{}`: {e}", name.get_ref())),
        };
        let options = match settings.options(&base) {
            Ok(options) => options,
            Err(e) => return place.error(span, format_args!("case `{}`: {e}", name.get_ref())),
        };
        let expect = merge(raw_case.expect.clone().unwrap_or_default(), &default_expect);
        let mut expectation = expectation(&place, &expect)?;
        if let CaseTarget::Scenario(scenario) = target {
            let verdict_set = expectation.outcome.is_some()
                || expectation.stage.is_some()
                || expectation.kind.is_some()
                || expectation.code.is_some();
            if !verdict_set {
                let mut catalogue = scenario.expected().expectation();
                // A probe told to stop early reaches its stage unless the scenario fails
                // before it.
                if let Some(until) = options.until {
                    if catalogue.stage.is_none_or(|failed| failed > until) {
                        catalogue = Expectation::default();
                        catalogue.outcome = Some(Outcome::Reached);
                    }
                }
                expectation.outcome = catalogue.outcome;
                expectation.stage = catalogue.stage;
                expectation.kind = catalogue.kind;
                expectation.code = catalogue.code;
                expectation.findings.extend(catalogue.findings);
            }
        }
        if expectation.outcome.is_some_and(|o| o != Outcome::Failed)
            && (expectation.stage.is_some()
                || expectation.kind.is_some()
                || matches!(expectation.code, Some(Some(_))))
        {
            return place.error(
                span,
                format_args!(
                    "case `{}` expects the outcome {} but names a failure (stage, kind or code)",
                    name.get_ref(),
                    outcome_name(expectation.outcome)
                ),
            );
        }
        cases.push(Case {
            name: crate::text::escaped(name.get_ref()),
            line,
            target,
            label: crate::text::escape_owned(label),
            options,
            expectation,
            not_honoured,
        });
    }
    let name = raw.name.unwrap_or_else(|| {
        Path::new(file)
            .file_stem()
            .map_or_else(|| "suite".to_owned(), |s| s.to_string_lossy().into_owned())
    });
    Ok(Suite { name, cases })
}

/// The settings and base options with the CA file's trust store read once per file and
/// shared: the base carries it, the settings no longer name the file.
fn shared_trust(
    mut settings: ConnectSettings,
    mut base: ProbeOptions,
    stores: &mut std::collections::HashMap<PathBuf, crate::cert::TrustStore>,
) -> Result<(ConnectSettings, ProbeOptions), String> {
    let Some(path) = settings.ca_file.take() else {
        return Ok((settings, base));
    };
    let store = match stores.get(&path) {
        Some(store) => store.clone(),
        None => {
            let store = crate::options::trust_store(&path).map_err(|e| e.to_string())?;
            stores.insert(path, store.clone());
            store
        }
    };
    base.trust = Some(store);
    Ok((settings, base))
}

fn outcome_name(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Connected) => "connected",
        Some(Outcome::Reached) => "reached",
        _ => "failed",
    }
}

/// The connection settings of a case or of the defaults; the password from the
/// environment variable `password_env` names.
fn settings(
    place: &Place<'_>,
    raw: &RawCase,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnectSettings, String> {
    if let Some(password) = &raw.password {
        return place.error(
            password.span(),
            "a password never goes in a suite file: name the environment variable that holds it with `password_env`",
        );
    }
    let path = |p: &Option<String>| p.as_ref().map(|p| -> PathBuf { dir.join(p) });
    let password = match &raw.password_env {
        None => None,
        Some(variable) => match env(variable.get_ref()).filter(|p| !p.is_empty()) {
            Some(password) => Some(Secret::new(password)),
            None => {
                return place.error(
                    variable.span(),
                    format_args!(
                        "`password_env`: the environment variable {} holds no password",
                        variable.get_ref()
                    ),
                )
            }
        },
    };
    let expiry_warning_days = match &raw.expiry_warning_days {
        Some(days) if !(0..=36_500).contains(days.get_ref()) => {
            return place.error(days.span(), "`expiry_warning_days` must be 0 to 36500")
        }
        days => days.as_ref().map(|d| *d.get_ref()),
    };
    Ok(ConnectSettings {
        user: raw.user.clone(),
        domain: raw.domain.clone(),
        password,
        security: place.parse_opt("security", &raw.security)?,
        timeout: place.duration_opt("timeout", &raw.timeout)?,
        connect_timeout: place.duration_opt("connect_timeout", &raw.connect_timeout)?,
        until: place.parse_opt("until", &raw.until)?,
        cert_policy: place.parse_opt("cert_policy", &raw.cert_policy)?,
        ca_file: path(&raw.ca_file),
        server_name: raw.server_name.clone(),
        expiry_warning_days,
        pin: place.parse_opt("pin", &raw.pin)?,
        known_hosts: path(&raw.known_hosts),
    })
}

/// A case's `expect`, each key it leaves out taken from the defaults' `expect`.
fn merge(case: RawExpect, defaults: &RawExpect) -> RawExpect {
    let d = defaults.clone();
    RawExpect {
        outcome: case.outcome.or(d.outcome),
        stage: case.stage.or(d.stage),
        kind: case.kind.or(d.kind),
        ntstatus: case.ntstatus.or(d.ntstatus),
        neg_failure: case.neg_failure.or(d.neg_failure),
        errinfo: case.errinfo.or(d.errinfo),
        findings: case.findings.or(d.findings),
        absent_findings: case.absent_findings.or(d.absent_findings),
        credentials_sent: case.credentials_sent.or(d.credentials_sent),
        protocol: case.protocol.or(d.protocol),
        max_time: case.max_time.or(d.max_time),
        stage_max_time: case.stage_max_time.or(d.stage_max_time),
    }
}

/// The checked expectation.
fn expectation(place: &Place<'_>, raw: &RawExpect) -> Result<Expectation, String> {
    let mut expectation = Expectation::default();
    if let Some(outcome) = &raw.outcome {
        expectation.outcome = Some(match outcome.get_ref().as_str() {
            "connected" => Outcome::Connected,
            "failed" => Outcome::Failed,
            "reached" => Outcome::Reached,
            other => {
                return place.error(
                    outcome.span(),
                    format_args!("`outcome`: `{other}` is not one of connected, failed, reached"),
                )
            }
        });
    }
    expectation.stage = place.parse_opt("stage", &raw.stage)?;
    if let Some(kind) = &raw.kind {
        let parsed =
            serde::de::value::StrDeserializer::<serde::de::value::Error>::new(kind.get_ref());
        match crate::FailureKind::deserialize(parsed) {
            Ok(parsed) => expectation.kind = Some(parsed),
            Err(_) => {
                return place.error(
                    kind.span(),
                    format_args!("`kind`: unknown failure kind `{}`", kind.get_ref()),
                )
            }
        }
    }
    let codes = [
        (
            "ntstatus",
            &raw.ntstatus,
            CodeTable::Ntstatus,
            Code::Ntstatus as fn(u32) -> Code,
        ),
        (
            "neg_failure",
            &raw.neg_failure,
            CodeTable::NegFailure,
            Code::NegFailure,
        ),
        ("errinfo", &raw.errinfo, CodeTable::Errinfo, Code::Errinfo),
    ];
    for (key, value, table, make) in codes {
        let Some(value) = value else { continue };
        if expectation.code.is_some() {
            return place.error(
                value.span(),
                "a failure carries one code: give one of `ntstatus`, `neg_failure`, `errinfo`",
            );
        }
        let number = match value.get_ref() {
            CodeValue::Number(n) => u32::try_from(*n).ok(),
            CodeValue::Name(name) => parse_code(name, table),
        };
        match number {
            Some(number) => expectation.code = Some(Some(make(number))),
            None => return place.error(value.span(), format_args!("`{key}`: not a {} code (a number such as 0xC000006D, or a name from `rdpscope explain`)", table.name())),
        }
    }
    let findings = |key: &str, list: &Option<Vec<Spanned<String>>>| -> Result<Vec<_>, String> {
        list.iter().flatten().map(|v| place.parse(key, v)).collect()
    };
    expectation.findings = findings("findings", &raw.findings)?;
    expectation.absent_findings = findings("absent_findings", &raw.absent_findings)?;
    expectation.credentials_sent = raw.credentials_sent;
    if let Some(protocol) = &raw.protocol {
        const PROTOCOLS: [&str; 4] = ["rdp", "tls", "hybrid", "hybrid_ex"];
        if !PROTOCOLS.contains(&protocol.get_ref().as_str()) {
            return place.error(
                protocol.span(),
                "`protocol`: one of rdp, tls, hybrid, hybrid_ex",
            );
        }
        expectation.protocol = Some(protocol.get_ref().clone());
    }
    expectation.max_time = place.duration_opt("max_time", &raw.max_time)?;
    if let Some(limits) = &raw.stage_max_time {
        for (stage, limit) in limits.get_ref() {
            let stage = match stage.parse::<crate::Stage>() {
                Ok(stage) => stage,
                Err(e) => return place.error(limits.span(), format_args!("`stage_max_time`: {e}")),
            };
            let limit = match crate::target::parse_duration(limit) {
                Ok(limit) => limit,
                Err(e) => {
                    return place
                        .error(limits.span(), format_args!("`stage_max_time.{stage}`: {e}"))
                }
            };
            expectation.stage_max_time.push((stage, limit));
        }
        expectation.stage_max_time.sort_by_key(|(stage, _)| *stage);
    }
    Ok(expectation)
}

/// A code given as text: a name from the table (`STATUS_LOGON_FAILURE`, or without its
/// prefix) or a number in hex (`0xC000006D`) or decimal.
fn parse_code(text: &str, table: CodeTable) -> Option<u32> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    if let Ok(number) = text.parse::<u32>() {
        return Some(number);
    }
    crate::diagnosis::lookup_name(text)
        .filter(|(found, _)| *found == table)
        .map(|(_, row)| row.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stage;

    fn read(text: &str) -> Result<Suite, String> {
        parse("s.toml", text, Path::new("/nonexistent"), &|var| {
            (var == "PW").then(|| "secret".to_owned())
        })
    }

    #[test]
    fn defaults_fill_what_a_case_leaves_out() {
        let suite = read(
            "[defaults]\ntimeout = \"3s\"\nuser = \"alice\"\npassword_env = \"PW\"\n[defaults.expect]\nmax_time = \"2s\"\n\
             [[case]]\nname = \"a\"\ntarget = \"h:3390\"\ntimeout = \"1s\"\n[case.expect]\nmax_time = \"500ms\"\n\
             [[case]]\nname = \"b\"\ntarget = \"h\"\n",
        )
        .expect("parses");
        let [a, b] = &suite.cases[..] else {
            panic!("two cases")
        };
        assert_eq!(suite.name, "s");
        assert_eq!((a.line, b.line), (7, 13));
        assert_eq!(a.options.stage_timeout, Duration::from_secs(1));
        assert_eq!(b.options.stage_timeout, Duration::from_secs(3));
        assert_eq!(a.expectation.max_time, Some(Duration::from_millis(500)));
        assert_eq!(b.expectation.max_time, Some(Duration::from_secs(2)));
        let credentials = b.options.credentials.as_ref().expect("credentials");
        assert_eq!(credentials.user, "alice");
        assert_eq!(b.expectation.effective_outcome(None), Outcome::Connected);
    }

    #[test]
    fn a_scenario_case_without_a_verdict_takes_the_scenario_s() {
        let suite = read(
            "[[case]]\nname = \"a\"\nscenario = \"wrong_password\"\n\
             [[case]]\nname = \"b\"\nscenario = \"wrong_password\"\nuntil = \"tls\"\n\
             [[case]]\nname = \"c\"\nscenario = \"certificate_expired\"\n[case.expect]\nmax_time = \"1s\"\n",
        )
        .expect("parses");
        let [a, b, c] = &suite.cases[..] else {
            panic!("three cases")
        };
        assert_eq!(a.expectation.stage, Some(Stage::Credssp));
        assert_eq!(a.expectation.code, Some(Some(Code::Ntstatus(0xC000_006D))));
        // Told to stop at tls, it never reaches the failing credssp stage.
        assert_eq!(b.expectation.outcome, Some(Outcome::Reached));
        assert_eq!(c.expectation.stage, Some(Stage::Certificate));
        assert_eq!(c.expectation.findings, [crate::cert::FindingCode::Expired]);
        assert_eq!(c.expectation.max_time, Some(Duration::from_secs(1)));
    }

    #[test]
    fn codes_by_name_or_number_in_their_own_table() {
        assert_eq!(
            parse_code("STATUS_LOGON_FAILURE", CodeTable::Ntstatus),
            Some(0xC000_006D)
        );
        assert_eq!(
            parse_code("0xc000006d", CodeTable::Ntstatus),
            Some(0xC000_006D)
        );
        assert_eq!(
            parse_code("HYBRID_REQUIRED_BY_SERVER", CodeTable::NegFailure),
            Some(5)
        );
        assert_eq!(
            parse_code("HYBRID_REQUIRED_BY_SERVER", CodeTable::Ntstatus),
            None
        );
        assert_eq!(parse_code("7", CodeTable::Errinfo), Some(7));
        let error = read(
            "[[case]]\nname = \"a\"\ntarget = \"h\"\n[case.expect]\nntstatus = 1\nerrinfo = 2\n",
        )
        .unwrap_err();
        assert!(
            error.starts_with("s.toml:6: a failure carries one code"),
            "{error}"
        );
    }

    #[test]
    fn stage_limits_name_real_stages() {
        let error = read("[[case]]\nname = \"a\"\ntarget = \"h\"\n[case.expect]\nstage_max_time = { tsl = \"1s\" }\n")
            .unwrap_err();
        assert!(
            error.starts_with("s.toml:5: `stage_max_time`: unknown stage `tsl`"),
            "{error}"
        );
        let suite = read("[[case]]\nname = \"a\"\ntarget = \"h\"\n[case.expect]\nstage_max_time = { tls = \"1s\", tcp = \"200ms\" }\n")
            .expect("parses");
        assert_eq!(
            suite.cases[0].expectation.stage_max_time,
            [
                (Stage::Tcp, Duration::from_millis(200)),
                (Stage::Tls, Duration::from_secs(1))
            ]
        );
    }
}
