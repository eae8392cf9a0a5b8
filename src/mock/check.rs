//! A scenario's expectation as an [`Expectation`] (used by `demo`, suites and the tests).

use super::Expected;
use crate::expect::Expectation;
use crate::report::Outcome;
use crate::Report;

impl Expected {
    /// This expectation in the form suites and the demo compare reports with: the stage,
    /// kind and code exactly (no code when the scenario sends none) and the finding.
    pub fn expectation(&self) -> Expectation {
        let mut expectation = Expectation::default();
        match self.kind {
            None => expectation.outcome = Some(Outcome::Connected),
            Some(kind) => {
                expectation.outcome = Some(Outcome::Failed);
                expectation.stage = Some(self.stage);
                expectation.kind = Some(kind);
                expectation.code = Some(self.code);
            }
        }
        expectation.findings.extend(self.finding);
        expectation
    }

    /// Checks that `report` is what a correct probe reports for this expectation.
    ///
    /// Returns a short description of every mismatch.
    pub fn check(&self, report: &Report) -> Result<(), String> {
        let mismatches = self.expectation().mismatches(report);
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(mismatches.join("; "))
        }
    }

    /// `stage/kind` as the demo table shows it (`connected` on success).
    pub fn summary(&self) -> String {
        self.expectation().summary(None)
    }
}
