//! Naming a process so that pid reuse is told apart (pid and start time),
//! and telling whether it still runs: how the [liveness
//! block](super::liveness) judges the endpoints it records.

use crate::error::{Error, Result};

/// A process, named so that pid reuse is told apart: pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: start time in clock ticks after boot.
    pub start_time: u64,
}

impl ProcessId {
    /// This process.
    ///
    /// ```
    /// let me = ipckit::channel::ProcessId::current()?;
    /// assert_eq!(me.pid, std::process::id());
    /// assert!(me.is_alive());
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn current() -> Result<Self> {
        let pid = std::process::id();
        match read_stat(pid) {
            Ok(Some((_, start_time))) => Ok(Self { pid, start_time }),
            Ok(None) => Err(Error::os(
                "read",
                "/proc/self/stat",
                std::io::Error::new(std::io::ErrorKind::InvalidData, "unparsable"),
            )),
            Err(e) => Err(Error::os("read", format!("/proc/{pid}/stat"), e)),
        }
    }

    /// `true` if this process still runs: `/proc/<pid>/stat` exists, is not
    /// a zombie, and shows the same start time (a reused pid does not).
    ///
    /// ```
    /// use ipckit::channel::ProcessId;
    /// let gone = ProcessId { pid: std::process::id(), start_time: 1 };
    /// assert!(!gone.is_alive()); // same pid, other start time: another process
    /// ```
    pub fn is_alive(&self) -> bool {
        if self.pid == 0 || self.pid > i32::MAX as u32 {
            return false;
        }
        match read_stat(self.pid) {
            Ok(Some((state, start))) => !matches!(state, 'Z' | 'X') && start == self.start_time,
            Ok(None) => true, // unparsable: never call a process dead on a guess
            Err(_) => {
                // No readable /proc entry: gone, unless /proc hides it from us.
                // SAFETY: `kill` with signal 0 only checks existence and
                // permission; it sends nothing.
                let r = unsafe { libc::kill(self.pid as libc::pid_t, 0) };
                r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
            }
        }
    }
}

/// `(state, start time)` from `/proc/<pid>/stat`; `Ok(None)` if unparsable.
fn read_stat(pid: u32) -> std::io::Result<Option<(char, u64)>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
    // split after the last ')'. Field 3 is the state, field 22 the start
    // time.
    let Some(close) = text.rfind(')') else {
        return Ok(None);
    };
    let mut fields = text[close + 1..].split_whitespace();
    let state = fields.next().and_then(|s| s.chars().next());
    let start = fields.nth(18).and_then(|s| s.parse().ok());
    Ok(state.zip(start))
}

/// `true` if some process has the pid `pid` now (not a zombie); no start
/// time to compare, so a reused pid counts.
pub(crate) fn pid_runs(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false; // not a process: 0 would address our process group
    }
    if pid == std::process::id() {
        return true;
    }
    match read_stat(pid) {
        Ok(Some((state, _))) => !matches!(state, 'Z' | 'X'),
        Ok(None) => true,
        Err(_) => {
            // SAFETY: `kill` with signal 0 only checks existence and
            // permission; it sends nothing. `pid` is positive.
            let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
            r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
    }
}
