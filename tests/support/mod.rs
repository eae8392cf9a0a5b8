//! Shared helpers for integration tests. Each test binary uses a different subset.
#![allow(dead_code)]

pub mod cli;
pub mod credssp;
pub mod rdp;
pub mod tools;
pub mod tshark;
pub mod xfreerdp;
pub mod xrdp;
