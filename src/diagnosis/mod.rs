//! Diagnosis helpers: protocol code tables used to explain why a connection failed.

pub mod codes;

pub use codes::{
    disconnect_reason, errinfo, extended_disconnect, lookup_name, mstsc_disconnect, neg_failure,
    ntstatus, CodeInfo, DISCONNECT_REASON, ERRINFO, EXTENDED_DISCONNECT, EXTENDED_PROTOCOL_RANGE,
    MSTSC_DISCONNECT, NEG_FAILURE, NTSTATUS, TABLES,
};
