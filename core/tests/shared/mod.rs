//! Checks that run unchanged on the host (`core/tests/layout_golden.rs`,
//! `core/tests/bad_input_shared.rs`, on x86_64 and i686) and in the Cortex-M
//! firmware (`firmware/`, which includes this directory by `#[path]`). So
//! they are `no_std`, allocate nothing, and report a [`Failure`] instead of
//! panicking.
#![allow(dead_code)] // each includer uses its own part

pub mod bad_input;
pub mod golden;
pub mod golden_frames;
pub mod peer;

use core::fmt;

use ipckit_core::Error;

/// What a shared check found wrong: a message, the error involved if any,
/// and the source line of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// What was checked.
    pub what: &'static str,
    /// The error the library returned, if that is what was wrong.
    pub error: Option<Error>,
    /// Source line of the check.
    pub line: u32,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)?;
        if let Some(e) = self.error {
            write!(f, " ({e:?})")?;
        }
        Ok(())
    }
}

/// The result of a shared check.
pub type Outcome = core::result::Result<(), Failure>;

/// Fails the enclosing check with `what` unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $what:expr) => {
        if !$cond {
            return Err($crate::shared::Failure {
                what: $what,
                error: None,
                line: line!(),
            });
        }
    };
}
pub(crate) use ensure;

/// Unwraps an ipckit `Result`, or fails the enclosing check with `what` and
/// the error.
macro_rules! must {
    ($result:expr, $what:expr) => {
        match $result {
            Ok(v) => v,
            Err(e) => {
                return Err($crate::shared::Failure {
                    what: $what,
                    error: Some(e),
                    line: line!(),
                })
            }
        }
    };
}
pub(crate) use must;
