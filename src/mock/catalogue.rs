//! `rdpscope scenarios`: the catalogue of mock scenarios as a reader sees it, each with what
//! a correct client reports for it.

use std::fmt::Write as _;

use serde::Serialize;

use super::Scenario;
use crate::cert::FindingCode;
use crate::diagnosis::Code;
use crate::{FailureKind, Stage};

/// One scenario of the catalogue: its name, what the server does, the real-world cause it
/// stands for, and the expected probe result.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueEntry {
    /// The scenario's name (`rdpscope serve --scenario NAME`).
    pub name: &'static str,
    /// What the server does on the wire.
    pub description: &'static str,
    /// The real-world cause it reproduces.
    pub cause: &'static str,
    /// The stage a correct probe stops at (`connected` on success).
    pub expected_stage: Stage,
    /// The failure kind a correct probe reports, `None` when it connects.
    pub expected_kind: Option<FailureKind>,
    /// The RDP_NEG_FAILURE code expected.
    pub neg_failure_code: Option<u32>,
    /// The NTSTATUS expected.
    pub ntstatus: Option<u32>,
    /// The ERRINFO code expected.
    pub errinfo: Option<u32>,
    /// The certificate finding expected.
    pub finding: Option<FindingCode>,
}

/// Every scenario of [`Scenario::ALL`], in order.
pub fn catalogue() -> Vec<CatalogueEntry> {
    Scenario::ALL
        .iter()
        .map(|s| {
            let expected = s.expected();
            CatalogueEntry {
                name: s.name(),
                description: s.description(),
                cause: s.cause(),
                expected_stage: expected.stage,
                expected_kind: expected.kind,
                neg_failure_code: match expected.code {
                    Some(Code::NegFailure(code)) => Some(code),
                    _ => None,
                },
                ntstatus: match expected.code {
                    Some(Code::Ntstatus(code)) => Some(code),
                    _ => None,
                },
                errinfo: match expected.code {
                    Some(Code::Errinfo(code)) => Some(code),
                    _ => None,
                },
                finding: expected.finding,
            }
        })
        .collect()
}

/// The catalogue for a terminal: per scenario, its name and expected result, what the server
/// does and the cause.
pub fn render_catalogue(entries: &[CatalogueEntry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let summary = entry.expected_kind.map_or_else(
            || "connected".to_owned(),
            |kind| format!("{}/{kind}", entry.expected_stage),
        );
        let _ = writeln!(out, "{:<58} {summary}", entry.name);
        let _ = writeln!(out, "    what:  {}", entry.description);
        let _ = writeln!(out, "    cause: {}", entry.cause);
    }
    out
}
