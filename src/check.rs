//! `rdpscope check`: a monitoring plugin in the Nagios / Icinga / Centreon convention
//! (Monitoring Plugins Development Guidelines): one status line with performance data,
//! the stage table as long output, and the status as the exit code. A probe's report is
//! turned into a status here; thresholds are Nagios ranges (parsed by `nagios-range`).

use std::fmt::Write as _;
use std::time::Duration;

use ironrdp_pdu::nego::SecurityProtocol;
use nagios_range::NagiosRange;

use crate::report::{Report, StageStatus};
use crate::target::Target;

/// A plugin status, as the exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// 0.
    Ok,
    /// 1.
    Warning,
    /// 2.
    Critical,
    /// 3: bad arguments or an internal error only.
    Unknown,
}

impl Status {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// A threshold as given (`-w 2`, `-c @1:5`): kept as text for the performance data.
#[derive(Debug, Clone)]
pub struct Threshold {
    text: String,
    range: NagiosRange,
}

impl std::str::FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let range = NagiosRange::from(text).map_err(|e| format!("not a Nagios range: {e}"))?;
        Ok(Threshold {
            text: text.to_owned(),
            range,
        })
    }
}

impl Threshold {
    /// Whether `value` raises the alert.
    pub fn alerts(&self, value: f64) -> bool {
        self.range.check(value)
    }
}

/// What `check` compares the probe with.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// `-w`: the total connection time (seconds) that warns.
    pub warning: Option<Threshold>,
    /// `-c`: the total connection time (seconds) that is critical.
    pub critical: Option<Threshold>,
    /// Certificate days left below which it warns.
    pub warn_days: Option<i64>,
    /// Certificate days left below which it is critical.
    pub crit_days: Option<i64>,
    /// Whether the server must refuse a client that offers no NLA.
    pub expect_nla: bool,
}

/// The result of a check.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The status.
    pub status: Status,
    /// The first line, without the performance data.
    pub summary: String,
    /// The performance data, `'label'=value[UOM];warn;crit;min;max` separated by spaces.
    pub perfdata: String,
    /// The long output: the probe's report.
    pub long: String,
}

impl CheckResult {
    /// The plugin's output: `RDP STATUS - summary | perfdata`, then the long output.
    pub fn render(&self) -> String {
        format!(
            "RDP {} - {} | {}\n{}",
            self.status.name(),
            self.summary,
            self.perfdata,
            self.long
        )
    }
}

/// Whether the server requires NLA: it answers RDP_NEG_FAILURE to a client offering only
/// TLS. `Err` when that could not be found out (a close, a timeout, another selection).
pub async fn nla_required(target: &Target, timeout: Duration) -> Result<bool, String> {
    use crate::scan::Verdict;
    let addr = crate::scan::resolve(target, timeout).await?;
    let offer = crate::scan::offer_only(addr, SecurityProtocol::SSL, "tls", timeout).await;
    match offer.verdict {
        Verdict::Accepted => Ok(false),
        Verdict::Refused => Ok(true),
        Verdict::Downgraded => Err(format!(
            "offered only TLS, the server selected {}",
            offer.selected.unwrap_or_default()
        )),
        _ => Err(format!(
            "offered only TLS: {}",
            offer.detail.unwrap_or_default()
        )),
    }
}

/// The check's verdict on a probe `report`; `nla` is the answer of [`nla_required`] when
/// `--expect-nla` asked for it.
pub fn evaluate(
    report: &Report,
    options: &CheckOptions,
    nla: Option<&Result<bool, String>>,
) -> CheckResult {
    let mut status = Status::Ok;
    let mut problems: Vec<String> = Vec::new();
    let mut raise = |to: Status, why: String, problems: &mut Vec<String>| {
        status = status.max(to);
        problems.push(why);
    };
    let total = report.total_ms / 1000.0;
    if let Some(error) = &report.error {
        raise(
            Status::Critical,
            format!("failed at {}: {}", error.stage, error.message),
            &mut problems,
        );
    } else {
        for (threshold, level) in [
            (&options.critical, Status::Critical),
            (&options.warning, Status::Warning),
        ] {
            if let Some(t) = threshold.as_ref().filter(|t| t.alerts(total)) {
                raise(
                    level,
                    format!("connection took {total:.3} s (threshold {})", t.text),
                    &mut problems,
                );
                break;
            }
        }
    }
    let days = report.certificate.as_ref().map(|c| c.days_remaining);
    let expiry = |days: i64| match days {
        0.. => format!("the certificate expires in {days} days"),
        _ => format!("the certificate expired {} days ago", -days),
    };
    if let Some(days) = days {
        if options.crit_days.is_some_and(|limit| days < limit) {
            raise(Status::Critical, expiry(days), &mut problems);
        } else if options.warn_days.is_some_and(|limit| days < limit) {
            raise(Status::Warning, expiry(days), &mut problems);
        }
    }
    match nla {
        Some(Ok(false)) => raise(
            Status::Critical,
            "NLA is not required: the server accepted a client offering only TLS".to_owned(),
            &mut problems,
        ),
        Some(Err(why)) => raise(
            Status::Critical,
            format!("cannot tell whether NLA is required: {why}"),
            &mut problems,
        ),
        _ => {}
    }
    let summary = if problems.is_empty() {
        let mut line = format!("connected in {total:.3} s");
        if let Some(days) = days {
            let _ = write!(line, "; {}", expiry(days));
        }
        if nla == Some(&Ok(true)) {
            line.push_str("; NLA required");
        }
        line
    } else {
        problems.join("; ")
    };
    CheckResult {
        status,
        // `|` starts the performance data: none may come from the server's text.
        summary: crate::text::escaped(&summary).replace('|', "/"),
        perfdata: perfdata(report, options, total, days),
        long: crate::report::render_human(report),
    }
}

/// `'label'=value[UOM];warn;crit;min;max` for the total, each stage that ran, and the
/// certificate's days left; C-locale decimals.
fn perfdata(report: &Report, options: &CheckOptions, total: f64, days: Option<i64>) -> String {
    let text = |t: &Option<Threshold>| t.as_ref().map_or("", |t| t.text.as_str()).to_owned();
    let mut items = vec![format!(
        "'time'={total:.6}s;{};{};0;",
        text(&options.warning),
        text(&options.critical)
    )];
    for stage in &report.stages {
        if let (StageStatus::Ok | StageStatus::Failed, Some(ms)) = (stage.status, stage.elapsed_ms)
        {
            items.push(format!("'{}'={:.6}s;;;0;", stage.stage, ms / 1000.0));
        }
    }
    if let Some(days) = days {
        let limit = |d: Option<i64>| d.map_or_else(String::new, |d| format!("{d}:"));
        items.push(format!(
            "'certificate_days'={days};{};{};;",
            limit(options.warn_days),
            limit(options.crit_days)
        ));
    }
    items.join(" ")
}
