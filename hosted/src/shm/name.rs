//! Names of POSIX shared-memory objects.
//!
//! `shm_open(3)` takes a name of the form `/something`: on Linux the object
//! appears as `/dev/shm/something`. [`ShmName`] checks a name once, before
//! any system call, and keeps it in that canonical form.
//!
//! # Rules
//! - The leading `/` is optional on input and added by us: `"jobs"` and
//!   `"/jobs"` are the same object, and [`ShmName::as_str`] returns `"/jobs"`.
//!   Exactly one leading `/` is accepted (`"//jobs"` is refused, since
//!   other libraries disagree on what it means).
//! - After that slash: not empty, no further `/` (it would name a
//!   subdirectory of `/dev/shm`, which `shm_open` refuses), no NUL byte (the
//!   name is passed as a C string), not `.` or `..`.
//! - At most [`MAX_NAME_LEN`] (255) bytes *including* the leading slash.
//!   glibc allows 255 bytes after the slash; the stricter limit keeps names
//!   valid on systems that count the slash too.

use std::ffi::CString;
use std::fmt;

use crate::error::{Error, Result};

/// The longest accepted name in bytes, the leading `/` included
/// (`NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// A validated shared-memory name in its canonical `/name` form.
///
/// - The leading `/` is optional on input and added by us: `"jobs"` and
///   `"/jobs"` name the same object, and [`ShmName::as_str`] returns
///   `"/jobs"`. Only one leading `/` is accepted.
/// - After it: not empty, no further `/` (`shm_open` refuses
///   subdirectories), no NUL byte, not `.` or `..`.
/// - At most [`MAX_NAME_LEN`] (255) bytes *including* the leading `/`.
///
/// Every function that takes a name validates it like this before any
/// system call and returns [`Error::InvalidName`] naming the broken rule.
///
/// ```
/// use ipckit::shm::ShmName;
/// use ipckit::Error;
///
/// assert_eq!(ShmName::new("jobs")?.as_str(), "/jobs");
/// assert_eq!(ShmName::new("/jobs")?.as_str(), "/jobs");
/// assert!(matches!(ShmName::new("a/b"), Err(Error::InvalidName { .. })));
/// assert!(matches!(ShmName::new(""), Err(Error::InvalidName { .. })));
/// assert!(ShmName::new(&"x".repeat(254)).is_ok());
/// assert!(ShmName::new(&"x".repeat(255)).is_err()); // 256 with the slash
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShmName {
    /// `/name`, with a terminating NUL for the system calls.
    c: CString,
}

impl ShmName {
    /// Validates `name` (see [`ShmName`] for the rules).
    ///
    /// Returns [`Error::InvalidName`] naming the broken rule.
    pub fn new(name: &str) -> Result<Self> {
        let invalid = |reason| {
            // Keep an absurdly long name from flooding logs.
            let shown: String = name.chars().take(64).collect();
            Err(Error::InvalidName {
                name: if shown.len() < name.len() {
                    format!("{shown}...")
                } else {
                    shown
                },
                reason,
            })
        };
        let bare = name.strip_prefix('/').unwrap_or(name);
        if bare.is_empty() {
            return invalid("empty name");
        }
        if bare.contains('/') {
            return invalid("contains '/' after the optional leading one");
        }
        if bare.contains('\0') {
            return invalid("contains a NUL byte");
        }
        if bare == "." || bare == ".." {
            return invalid("'.' and '..' are not object names");
        }
        if bare.len() + 1 > MAX_NAME_LEN {
            return invalid("longer than 255 bytes including the leading '/'");
        }
        let mut canonical = String::with_capacity(bare.len() + 1);
        canonical.push('/');
        canonical.push_str(bare);
        match CString::new(canonical) {
            Ok(c) => Ok(Self { c }),
            Err(_) => invalid("contains a NUL byte"),
        }
    }

    /// The canonical name, with its leading `/`.
    pub fn as_str(&self) -> &str {
        // The bytes came from a `&str` plus a `/`, so they are UTF-8.
        self.c.to_str().unwrap_or("")
    }

    /// The name as a C string, for `shm_open` and `shm_unlink`.
    pub(crate) fn as_c(&self) -> &std::ffi::CStr {
        &self.c
    }
}

impl fmt::Display for ShmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ShmName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> &'static str {
        match ShmName::new(name) {
            Err(Error::InvalidName { reason, .. }) => reason,
            other => panic!("{name:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn canonical_form() {
        assert_eq!(ShmName::new("a").unwrap().as_str(), "/a");
        assert_eq!(ShmName::new("/a").unwrap().as_str(), "/a");
        assert_eq!(ShmName::new("/a").unwrap(), ShmName::new("a").unwrap());
        assert_eq!(
            ShmName::new("ipckit-x.1_2").unwrap().to_string(),
            "/ipckit-x.1_2"
        );
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(reason(""), "empty name");
        assert_eq!(reason("/"), "empty name");
        assert!(reason("a/b").contains('/'));
        assert!(reason("//a").contains('/'));
        assert!(reason("a/").contains('/'));
        assert!(reason("a\0b").contains("NUL"));
        assert!(reason("..").contains(".."));
        assert!(reason(".").contains(".."));
    }

    #[test]
    fn length_limit_counts_the_slash() {
        assert!(ShmName::new(&"n".repeat(254)).is_ok());
        assert!(ShmName::new(&format!("/{}", "n".repeat(254))).is_ok());
        assert!(reason(&"n".repeat(255)).contains("255"));
        // The shown name is cut short.
        match ShmName::new(&"n".repeat(10_000)) {
            Err(Error::InvalidName { name, .. }) => assert!(name.len() < 80),
            other => panic!("{other:?}"),
        }
    }
}
