//! `rdpscope explain CODE [EXTENDED]`: what a Windows / RDP error code means, at which stages
//! it arises, its likely causes ranked, how to confirm each with rdpscope and how to fix it.

use std::fmt::Write as _;

use serde::Serialize;

use super::causes::{cause, Cause};
use super::codes::{self, CodeInfo, CodeTable};
use super::rules::{causes_for_code, stages_for_code};
use crate::Stage;

/// One table row the query matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// The table (JSON: `mstsc_disconnect`, `extended_disconnect`, `errinfo`, `ntstatus`,
    /// `neg_failure` or `disconnect_reason`).
    pub table: CodeTable,
    /// What the table is, for people.
    pub table_title: &'static str,
    /// The row.
    pub row: &'static CodeInfo,
}

/// The answer to `rdpscope explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The query as given.
    pub query: String,
    /// Every row it matched (a small number can be an ERRINFO, an extended reason and an
    /// RDP_NEG_FAILURE code at once: each is shown with its table).
    pub matches: Vec<Match>,
    /// The stages where these codes arise.
    pub stages: Vec<Stage>,
    /// The likely causes, most likely first.
    pub causes: Vec<&'static Cause>,
}

/// Why a query cannot be explained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExplainError {
    /// Not a number or a known symbolic name.
    #[error("`{0}` is not a code: give hex (0x904), decimal (2308) or a name (ERRINFO_SERVER_DENIED_CONNECTION, STATUS_LOGON_FAILURE)")]
    Unparsable(String),
    /// A well-formed code that no table knows.
    #[error("unknown code {0}: it is in none of the tables (mstsc disconnect reasons, extended disconnect reasons, ERRINFO, NTSTATUS, RDP_NEG_FAILURE); rdpscope does not guess")]
    Unknown(String),
}

/// The causes of the best-known codes, ranked by how often they are the answer in practice;
/// other codes rank their causes by the probe-failure rules.
const RANKINGS: &[(u32, Option<u32>, &[&str])] = &[
    (
        0x904,
        Some(0x7),
        &[
            "cert_expired",
            "cert_key_unreadable",
            "middlebox_reset",
            "server_refuses_session",
            "licensing",
        ],
    ),
    (
        0x904,
        None,
        &[
            "cert_key_unreadable",
            "cert_expired",
            "middlebox_reset",
            "server_drop",
            "server_refuses_session",
        ],
    ),
    (
        0x204,
        None,
        &["port_blocked", "service_not_listening", "dns"],
    ),
    (
        0x807,
        None,
        &["wrong_credentials", "account_state", "not_authorized"],
    ),
];

fn ranking(disconnect: u32, extended: Option<u32>) -> Option<Vec<&'static Cause>> {
    RANKINGS
        .iter()
        .find(|(d, e, _)| *d == disconnect && (e.is_none() || *e == extended))
        .map(|(.., ids)| ids.iter().filter_map(|id| cause(id)).collect())
}

enum Query {
    Number(u32),
    Name(CodeTable, &'static CodeInfo),
}

fn parse(text: &str) -> Result<Query, ExplainError> {
    let t = text.trim();
    let number = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u32::from_str_radix(&hex.replace('_', ""), 16).ok()
    } else if t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty() {
        t.parse::<u32>().ok()
    } else if let Some(negative) = t.strip_prefix('-') {
        // NTSTATUS values are sometimes printed as negative 32-bit integers.
        negative
            .parse::<i64>()
            .ok()
            .and_then(|v| u32::try_from((1i64 << 32) - v).ok())
    } else {
        None
    };
    match number {
        Some(n) => Ok(Query::Number(n)),
        None => codes::lookup_name(t)
            .map(|(table, row)| Query::Name(table, row))
            .ok_or_else(|| ExplainError::Unparsable(t.to_owned())),
    }
}

fn number_matches(code: u32, tables: &[CodeTable]) -> Vec<Match> {
    tables
        .iter()
        .filter_map(|&table| {
            table.find(code).map(|row| Match {
                table,
                table_title: table.title(),
                row,
            })
        })
        .collect()
}

/// Tables a bare number is looked up in, in the order matches are shown.
const NUMBER_TABLES: [CodeTable; 5] = [
    CodeTable::MstscDisconnect,
    CodeTable::ExtendedDisconnect,
    CodeTable::Errinfo,
    CodeTable::Ntstatus,
    CodeTable::NegFailure,
];

/// Explains `code`, or the pair `code extended` (also accepted as one string "0x904 0x7").
pub fn explain(code: &str, extended: Option<&str>) -> Result<Explanation, ExplainError> {
    let (code, extended) = match (code.split_once(char::is_whitespace), extended) {
        (Some((first, second)), None) if !second.trim().is_empty() => (first, Some(second.trim())),
        _ => (code, extended),
    };
    let query = match extended {
        Some(e) => format!("{code} {e}"),
        None => code.to_owned(),
    };
    let (matches, disconnect, extended_code) = match extended {
        // The pair form: an mstsc disconnect reason and its extended reason.
        Some(extended_text) => {
            let disconnect = match parse(code)? {
                Query::Number(n) => n,
                Query::Name(_, row) => row.code,
            };
            let extended_value = match parse(extended_text)? {
                Query::Number(n) => n,
                Query::Name(_, row) => row.code,
            };
            let mut matches = number_matches(disconnect, &[CodeTable::MstscDisconnect]);
            if matches.is_empty() {
                return Err(ExplainError::Unknown(format!(
                    "0x{disconnect:X} (as an mstsc disconnect reason)"
                )));
            }
            let extended_matches = number_matches(extended_value, &[CodeTable::ExtendedDisconnect]);
            if extended_matches.is_empty() {
                return Err(ExplainError::Unknown(format!(
                    "0x{extended_value:X} (as an extended disconnect reason)"
                )));
            }
            matches.extend(extended_matches);
            (matches, Some(disconnect), Some(extended_value))
        }
        None => match parse(code)? {
            Query::Number(n) => {
                let matches = number_matches(n, &NUMBER_TABLES);
                if matches.is_empty() {
                    return Err(ExplainError::Unknown(format!("0x{n:X} ({n})")));
                }
                let disconnect = matches
                    .iter()
                    .any(|m| m.table == CodeTable::MstscDisconnect)
                    .then_some(n);
                (matches, disconnect, None)
            }
            Query::Name(table, row) => {
                let disconnect = (table == CodeTable::MstscDisconnect).then_some(row.code);
                (
                    vec![Match {
                        table,
                        table_title: table.title(),
                        row,
                    }],
                    disconnect,
                    None,
                )
            }
        },
    };

    let mut stages: Vec<Stage> = Vec::new();
    let mut causes: Vec<&'static Cause> = disconnect
        .and_then(|d| ranking(d, extended_code))
        .unwrap_or_default();
    for m in &matches {
        for stage in stages_for_code(m.table, m.row.code) {
            if !stages.contains(&stage) {
                stages.push(stage);
            }
        }
        for c in causes_for_code(m.table, m.row.code) {
            if !causes.iter().any(|known| known.id == c.id) {
                causes.push(c);
            }
        }
    }
    stages.sort();
    Ok(Explanation {
        query,
        matches,
        stages,
        causes,
    })
}
/// Renders `rdpscope explain`.
pub fn render_explanation(explanation: &Explanation) -> String {
    let mut out = String::new();
    for m in &explanation.matches {
        let _ = writeln!(
            out,
            "0x{:X} ({}) {}: {}",
            m.row.code, m.row.code, m.row.name, m.table_title
        );
        let _ = writeln!(out, "  meaning: {}", m.row.meaning);
        if m.row.uncertain {
            let _ = writeln!(
                out,
                "  (uncertain: this meaning could not be confirmed against a public source)"
            );
        }
        let _ = writeln!(out, "  source:  {}", m.row.source);
    }
    if !explanation.stages.is_empty() {
        let stages: Vec<&str> = explanation.stages.iter().map(|s| s.name()).collect();
        let _ = writeln!(out, "arises at: {}", stages.join(", "));
    }
    super::causes::render_causes(&mut out, &explanation.causes, usize::MAX);
    out
}
