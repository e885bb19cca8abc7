//! The process scaffolding of the cross-process tests and benches, now in
//! the `ipckit-testkit` crate: this shim keeps the `support::` paths the
//! test files use. Each test binary includes it with `mod support;`.
//!
//! `allowed_cpus`, `pin_to` and `median` stay here until the pinning moves
//! to `ipckit_testkit::pin` (the benches use them).
#![allow(dead_code, unused_imports)]

use std::io;

pub use ipckit_testkit::messages::{self, Rng};
pub use ipckit_testkit::objects::*;
pub use ipckit_testkit::process::*;
pub use ipckit_testkit::runner::{Note, Suite, TestFn};

// ---------------------------------------------------------------------------
// CPUs and statistics (benches).

/// The CPUs this process may run on, in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a valid, writable
    // `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: `cpu < max`, the number of bits in `set`.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to `cpu`. One system call (async-signal-safe),
/// so a child forked from a multi-threaded process may call it.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` came from `allowed_cpus`, so it is below the number of
    // bits in `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid `cpu_set_t` of
    // the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The median of `v` (sorted in place; the mean of the middle two for an
/// even length). `v` must not be empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}
