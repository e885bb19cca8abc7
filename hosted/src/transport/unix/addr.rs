//! Socket addresses: a filesystem path or an abstract name.

use std::mem;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The address of a Unix domain socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A socket file in the filesystem (at most 107 bytes of path).
    Path(PathBuf),
    /// A name in Linux's abstract namespace (at most 107 bytes; no file;
    /// visible to every process of the network namespace).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// A filesystem address.
    pub fn path(path: impl AsRef<Path>) -> Self {
        UnixAddr::Path(path.as_ref().to_path_buf())
    }

    /// An abstract address.
    pub fn abstract_name(name: impl AsRef<[u8]>) -> Self {
        UnixAddr::Abstract(name.as_ref().to_vec())
    }

    pub(super) fn describe(&self) -> String {
        match self {
            UnixAddr::Path(p) => p.display().to_string(),
            UnixAddr::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
        }
    }

    /// The `sockaddr_un` and its length.
    pub(super) fn to_sockaddr(&self) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
        // SAFETY: `sockaddr_un` is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_un = unsafe { mem::zeroed() };
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let (bytes, offset) = match self {
            UnixAddr::Path(p) => (p.as_os_str().as_bytes(), 0),
            UnixAddr::Abstract(n) => (&n[..], 1),
        };
        // A path needs a terminating NUL; an abstract name a leading one.
        let room = sa.sun_path.len() - 1;
        if bytes.is_empty() || bytes.len() > room || bytes.contains(&0) && offset == 0 {
            return Err(Error::InvalidName {
                name: self.describe(),
                reason: "a socket address has 1 to 107 bytes (and a path no NUL)",
            });
        }
        for (dst, &src) in sa.sun_path[offset..].iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let base = mem::size_of::<libc::sa_family_t>();
        let len = base + offset + bytes.len() + (1 - offset);
        Ok((sa, len as libc::socklen_t))
    }
}
