//! CPU pinning: the measuring side on one CPU, its peer on another.

use std::sync::OnceLock;

/// The CPUs used: `(measuring side, peer)`; `None` with fewer than two.
pub fn pair() -> Option<(usize, usize)> {
    static PAIR: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    *PAIR.get_or_init(|| {
        let cpus = allowed();
        (cpus.len() >= 2).then(|| (cpus[0], cpus[1]))
    })
}

/// The CPUs this thread may run on.
pub fn allowed() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; `set` is a valid out-pointer of the
    // size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, the number of bits in `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpu` (one system call: safe in a forked
/// child). Failure leaves it unpinned, which is still correct.
pub fn pin(cpu: usize) {
    // SAFETY: as in `allowed`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from `allowed`, below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid set of the size passed.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
}

/// Pins the calling thread to the measuring CPU.
pub fn pin_main() {
    if let Some((cpu, _)) = pair() {
        pin(cpu);
    }
}

/// Pins the calling thread to the peer's CPU.
pub fn pin_peer() {
    if let Some((_, cpu)) = pair() {
        pin(cpu);
    }
}
