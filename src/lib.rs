//! rdpscope: stage-exact RDP connection diagnostics.
//!
//! The library performs a real client-side RDP connection with IronRDP and reports the
//! exact stage where it fails ([`Stage`]), the kind of failure ([`FailureKind`]) and timing
//! for every stage.
//!
//! The API another crate's tests need: [`probe`] with [`ProbeOptions`] returns a [`Report`]
//! ([`Stage`], [`FailureKind`], [`report`]); [`mock`] starts loopback RDP servers for every
//! failure class; [`fixtures`] are the certificate situations with their expected
//! findings; [`cert`] analyses a chain on its own; [`diagnosis`] is the knowledge base
//! behind `rdpscope explain`. Enums and report structs that will grow are
//! `#[non_exhaustive]`. The hidden modules (`bench`, `demo`, `logging`) serve the
//! `rdpscope` binary and are not a stable API.

#![warn(missing_docs)]

/// For `Copy` types with a `const fn name(self) -> &'static str`: the name is the one
/// spelling everywhere: serialised as it, displayed as it (honouring width and alignment),
/// and comparable with text.
macro_rules! named {
    ($($ty:ty),+ $(,)?) => {$(
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.name())
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.name() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.name() == *other
            }
        }
    )+};
}

// Support for the `rdpscope` binary, not a stable API.
#[doc(hidden)]
pub mod affinity;
#[doc(hidden)]
pub mod bench;
pub mod capture;
pub mod cert;
pub mod check;
#[doc(hidden)]
pub mod demo;
pub mod diagnosis;
pub mod expect;
mod failure;
pub mod fixtures;
mod framing;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod logging;
pub mod mock;
pub(crate) mod ntlm;
pub mod options;
mod probe;
pub mod rdpfile;
#[cfg(any(test, feature = "fuzzing"))]
mod replay;
#[cfg(test)]
mod replay_tests;
pub mod report;
pub mod scan;
mod stage;
pub mod suite;
pub mod target;
pub mod tasks;
pub mod text;

pub use failure::FailureKind;
pub use stage::{Stage, Step, UnknownStage};

pub use probe::{probe, probe_with_capture, Credentials, ProbeOptions, Secret, SecurityProtocols};
pub use report::Report;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
