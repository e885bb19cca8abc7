//! Names and kernel objects of a test run: every name starts with
//! `ipckit-test-<pid>-`, guards remove what a test created when they drop
//! (in the parent: forked children leave by `_exit` and never drop them),
//! and the leftover checks find what a run left behind in `/dev/shm`, the
//! temp directory, `/dev/mqueue` and System V.

static NAME_COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The prefix of every name this test process creates:
/// `ipckit-test-<pid>-`.
pub fn run_prefix() -> String {
    format!("ipckit-test-{}-", std::process::id())
}

/// A name unique to this run and call: `ipckit-test-<pid>-<n>-<what>`.
pub fn unique_name(what: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}{n}-{what}", run_prefix())
}

/// A unique shared-memory name, removed when the guard drops (in the
/// parent: forked children leave by `_exit` and never drop it).
pub struct ShmGuard(pub String);

impl ShmGuard {
    /// A guard for a fresh [`unique_name`].
    pub fn new(what: &str) -> Self {
        Self(unique_name(what))
    }
}

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = ipckit::shm::ShmObject::remove(&self.0);
    }
}

/// A fresh [`unique_name`] in the temp directory.
pub fn temp_path(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(unique_name(what))
}

/// A file removed when the guard drops.
pub struct FileGuard(pub std::path::PathBuf);

impl FileGuard {
    /// A guard for a fresh [`temp_path`].
    pub fn new(what: &str) -> Self {
        Self(temp_path(what))
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Everything of this run still in `/dev/shm` or the temp directory.
pub fn leftovers() -> Vec<std::path::PathBuf> {
    let prefix = run_prefix();
    let mut found = Vec::new();
    for dir in [std::path::PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

/// Ids of System V objects of `kind` (`"msg"`, `"sem"`, `"shm"`) that exist
/// now, from `/proc/sysvipc/<kind>` (what `ipcs` reads).
pub fn sysv_ids(kind: &str) -> Vec<i32> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// POSIX message queues and named semaphores of this run still present:
/// `/dev/mqueue/<prefix>*` (when mqueue is mounted there) and
/// `/dev/shm/sem.<prefix>*`.
pub fn queue_leftovers() -> Vec<std::path::PathBuf> {
    let prefix = run_prefix();
    let mut found = Vec::new();
    for (dir, lead) in [("/dev/mqueue", ""), ("/dev/shm", "sem.")] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name
                    .strip_prefix(lead)
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

/// Removes a System V object by id when dropped (in the parent).
pub struct SysvGuard {
    /// The object's id.
    pub id: i32,
    /// `true` for a semaphore set, `false` for a message queue.
    pub sem: bool,
}

impl Drop for SysvGuard {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer; a removed id fails harmlessly.
        unsafe {
            if self.sem {
                libc::semctl(self.id, 0, libc::IPC_RMID);
            } else {
                libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }
}

/// A unique name for a POSIX queue or named semaphore, unlinked (both
/// kinds tried) when the guard drops in the parent.
pub struct QueueNameGuard(pub String);

impl QueueNameGuard {
    /// A guard for a fresh [`unique_name`].
    pub fn new(what: &str) -> Self {
        Self(unique_name(what))
    }
}

impl Drop for QueueNameGuard {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(format!("/{}", self.0)) {
            // SAFETY: `c` is a NUL-terminated name; a missing one fails
            // harmlessly.
            unsafe {
                libc::mq_unlink(c.as_ptr());
                libc::sem_unlink(c.as_ptr());
            }
        }
    }
}
