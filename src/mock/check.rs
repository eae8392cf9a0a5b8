//! Comparing a probe report with a scenario's expectation (used by `demo` and the tests).

use super::Expected;
use crate::report::Outcome;
use crate::Report;

impl Expected {
    /// Checks that `report` is what a correct probe reports for this expectation.
    ///
    /// Returns a short description of every mismatch.
    pub fn check(&self, report: &Report) -> Result<(), String> {
        let mut mismatches = Vec::new();
        match (self.kind, &report.error) {
            (None, _) if report.outcome != Outcome::Connected => {
                mismatches.push(format!("expected connected, got {}", report.verdict()));
            }
            (None, _) => {}
            (Some(_), None) => {
                mismatches.push(format!("expected a failure, got {}", report.verdict()))
            }
            (Some(kind), Some(error)) => {
                if error.stage != self.stage {
                    mismatches.push(format!("stage {} instead of {}", error.stage, self.stage));
                }
                if error.kind != kind {
                    mismatches.push(format!("kind {} instead of {kind}", error.kind));
                }
                if error.code != self.code {
                    mismatches.push(format!(
                        "code {:#x?} instead of {:#x?}",
                        error.code, self.code
                    ));
                }
                if let Some(finding) = self.finding {
                    let found = report
                        .certificate
                        .as_ref()
                        .is_some_and(|c| c.findings.iter().any(|f| f.code == finding));
                    if !found {
                        mismatches.push(format!("no `{finding}` certificate finding"));
                    }
                }
            }
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(mismatches.join("; "))
        }
    }

    /// `stage/kind` as the demo table shows it (`connected` on success).
    pub fn summary(&self) -> String {
        match self.kind {
            None => "connected".to_owned(),
            Some(kind) => format!("{}/{kind}", self.stage),
        }
    }
}
