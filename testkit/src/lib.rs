//! The scaffolding that ipckit's tests, benchmarks, examples and CLI share,
//! written once: child processes and deadlines, CPU pinning, the code that
//! opens every mechanism, and the harness for interleaved same-run ratios.
//! Not published; nothing in the libraries depends on it.
//!
//! For the tests: [`process`] (fork, children, deadlines), [`objects`]
//! (names, guards, leftover checks), [`messages`] (checkable message
//! contents), [`runner`] (libtest's command line on one thread, for
//! binaries that fork) and [`contract`] (what every message transport
//! keeps).

pub mod bench;
pub mod contract;
pub mod mechanisms;
pub mod messages;
pub mod objects;
pub mod pin;
pub mod process;
pub mod runner;
