//! The command's error: one line on stderr and an exit code.

use std::fmt;

/// Exit code for a failed operation.
pub const FAILED: u8 = 1;
/// Exit code for bad usage (as clap uses).
pub const USAGE: u8 = 2;

/// What went wrong, said in one line, and the exit code.
#[derive(Debug)]
pub struct Fail {
    pub msg: String,
    pub code: u8,
}

impl Fail {
    /// A failed operation (exit 1).
    pub fn new(msg: impl fmt::Display) -> Self {
        Self {
            msg: msg.to_string(),
            code: FAILED,
        }
    }

    /// Bad usage (exit 2).
    pub fn usage(msg: impl fmt::Display) -> Self {
        Self {
            msg: msg.to_string(),
            code: USAGE,
        }
    }

    /// Prints `ipckit: <msg>` on one line.
    pub fn print(&self) {
        if self.msg.is_empty() {
            return;
        }
        eprintln!("ipckit: {}", one_line(&self.msg));
    }
}

/// `msg` with its line breaks replaced by "; ".
pub fn one_line(msg: &str) -> String {
    msg.trim().lines().collect::<Vec<_>>().join("; ")
}

impl From<ipckit::error::Error> for Fail {
    fn from(e: ipckit::error::Error) -> Self {
        Self::new(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Self::new(e)
    }
}

/// This crate's results.
pub type Result<T> = std::result::Result<T, Fail>;

/// A panic prints one line instead of a message and a backtrace hint.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("ipckit: internal error: {}{at}", one_line(&what));
    }));
}
