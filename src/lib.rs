//! rdpscope: stage-exact RDP connection diagnostics.
//!
//! The library performs a real client-side RDP connection with IronRDP and reports the
//! exact stage where it fails ([`Stage`]), the kind of failure ([`FailureKind`]) and timing
//! for every stage.

#![warn(missing_docs)]

pub mod diagnosis;
mod failure;
mod stage;

pub use failure::FailureKind;
pub use stage::{Stage, UnknownStage};
