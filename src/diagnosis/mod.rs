//! Diagnosis helpers: protocol code tables used to explain why a connection failed.

pub mod codes;

pub use codes::{
    disconnect_reason, errinfo, lookup_name, neg_failure, ntstatus, CodeInfo, DISCONNECT_REASON,
    ERRINFO, NEG_FAILURE, NTSTATUS, TABLES,
};
