//! rdpscope: stage-exact RDP connection diagnostics.
//!
//! The library performs a real client-side RDP connection with IronRDP and reports the
//! exact stage where it fails ([`Stage`]), the kind of failure ([`FailureKind`]) and timing
//! for every stage.

#![warn(missing_docs)]

pub mod bench;
pub mod cert;
pub mod demo;
pub mod diagnosis;
mod failure;
pub mod fixtures;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod logging;
pub mod mock;
pub mod ntlm;
mod probe;
#[cfg(any(test, feature = "fuzzing"))]
mod replay;
#[cfg(test)]
mod replay_tests;
pub mod report;
mod stage;
pub mod target;
pub mod text;

pub use failure::FailureKind;
pub use stage::{Stage, UnknownStage};

pub use probe::{probe, Credentials, ProbeOptions, Secret, SecurityProtocols};
pub use report::Report;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
