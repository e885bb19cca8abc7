//! The process scaffolding of the cross-process tests and benches, now in
//! the `ipckit-testkit` crate: this shim keeps the `support::` paths the
//! test files use. Each test binary includes it with `mod support;`.
#![allow(dead_code, unused_imports)]

pub use ipckit_testkit::messages::{self, Rng};
pub use ipckit_testkit::objects::*;
pub use ipckit_testkit::process::*;
pub use ipckit_testkit::runner::{Note, Suite, TestFn};

pub use ipckit_testkit::pin::{allowed_cpus, pin_to};
