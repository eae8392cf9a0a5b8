//! The knowledge base: protocol code tables, the causes of failures with their fixes, and the
//! rules that tie a probe failure (stage, kind, code) or a Windows error code to both.
//!
//! One knowledge base serves the probe report (what mstsc would have shown, the likely
//! causes, the fix) and `rdpscope explain`; renderers only display what is here.

mod causes;
pub mod codes;
mod explain;
mod rules;

pub use causes::{cause, render_causes, Cause, Fix, Side, CAUSES};
pub use codes::{
    disconnect_reason, errinfo, extended_disconnect, lookup_name, mstsc_disconnect, neg_failure,
    ntstatus, CodeInfo, CodeTable, DISCONNECT_REASON, ERRINFO, EXTENDED_DISCONNECT,
    MSTSC_DISCONNECT, NEG_FAILURE, NTSTATUS, TABLES,
};
pub use explain::{explain, render_explanation, ExplainError, Explanation, Match};
pub use rules::{diagnose, Code, Diagnosis, FailureKey, MstscCode};
