//! Everything a run creates carries the run's prefix and is registered
//! here, and removed at the end of its measurement, at the end of the run,
//! and from the Ctrl-C handler (a thread of the `ctrlc` crate, so the
//! removal runs as ordinary code, not in a signal handler).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use ipckit::shm::ShmObject;
use ipckit::transport::posix_mq::PosixMq;
use ipckit::transport::sysv_mq::SysvMq;

#[derive(Default)]
struct Registry {
    shm: Vec<String>,
    mq: Vec<String>,
    sysv: Vec<i32>,
    children: Vec<libc::pid_t>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    shm: Vec::new(),
    mq: Vec::new(),
    sysv: Vec::new(),
    children: Vec::new(),
});

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ipckit-bench-<pid>`: the start of every name this run creates.
pub fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("ipckit-bench-{}", std::process::id()))
}

/// The run's directory for FIFOs and log files.
pub fn dir() -> PathBuf {
    std::env::temp_dir().join(prefix())
}

pub fn register_shm(name: &str) {
    registry().shm.push(name.to_owned());
}

pub fn register_mq(name: &str) {
    registry().mq.push(name.to_owned());
}

pub fn register_sysv(id: i32) {
    registry().sysv.push(id);
}

pub fn register_child(pid: libc::pid_t) {
    registry().children.push(pid);
}

pub fn unregister_child(pid: libc::pid_t) {
    registry().children.retain(|&p| p != pid);
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Removes every registered object and anything else with the run's
/// prefix in /dev/shm, and the run's directory; kills registered children.
/// Returns how many objects it removed.
pub fn clean() -> usize {
    let mut reg = registry();
    let mut removed = 0;
    for pid in reg.children.drain(..) {
        // SAFETY: a child of ours not yet reaped (unregistered when
        // reaped), so the pid is not reused; SIGKILL then reap.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    for name in reg.shm.drain(..) {
        removed += usize::from(ShmObject::remove(&name).is_ok());
    }
    for name in reg.mq.drain(..) {
        removed += usize::from(PosixMq::unlink(&name).is_ok());
    }
    for id in reg.sysv.drain(..) {
        removed += usize::from(SysvMq::remove_id(id).is_ok());
    }
    drop(reg);
    if let Ok(entries) = std::fs::read_dir("/dev/shm") {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(prefix()) {
                removed += usize::from(ShmObject::remove(&n).is_ok());
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/dev/mqueue") {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(prefix()) {
                removed += usize::from(PosixMq::unlink(&format!("/{n}")).is_ok());
            }
        }
    }
    if std::fs::remove_dir_all(dir()).is_ok() {
        removed += 1;
    }
    removed
}

/// Installs the Ctrl-C (and SIGTERM) handler: clean up, then exit 130.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::Relaxed);
        let n = clean();
        eprintln!("\nipckit bench: interrupted; removed {n} object(s) of this run");
        std::process::exit(130);
    });
}
