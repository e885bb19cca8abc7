//! Keys derived from a file (`ftok(3)`).

use std::ffi::CString;
use std::io;
use std::path::Path;

use crate::error::{Error, OsError, Result};

/// A key for `msgget`/`semget` derived from an existing file and a project
/// byte (`ftok(3)`): the same file and byte give the same key.
pub fn key_from_path(path: &Path, project: u8) -> Result<libc::key_t> {
    let shown = path.display().to_string();
    let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        Error::Os(OsError::new(
            "ftok",
            shown.clone(),
            io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        ))
    })?;
    if project == 0 {
        return Err(Error::Os(OsError::new(
            "ftok",
            shown,
            io::Error::new(io::ErrorKind::InvalidInput, "project byte 0 is reserved"),
        )));
    }
    // SAFETY: `c` is a NUL-terminated path.
    let key = unsafe { libc::ftok(c.as_ptr(), project.into()) };
    if key == -1 {
        return Err(Error::last_os("ftok", shown));
    }
    Ok(key)
}
