//! CPU placement of the two processes for the spinning notifiers.

use super::*;

// CPU placement.
//
// A spinning waiter only helps while its peer runs on another CPU. When the
// machine is busy and the scheduler puts both processes on one CPU, every
// blocked call of an adaptive end spins its whole budget while the peer it
// waits for cannot run (100 000 adaptive round trips took 33-40 s instead of
// about 1 s here, in a debug build). Runs with an adaptive end therefore pin
// the parent and the child to two different CPUs, when there are two.

/// This thread's CPU affinity mask.
pub(super) fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a valid, writable
    // `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    (rc == 0).then_some(set)
}

pub(super) fn set_affinity(set: &libc::cpu_set_t) -> bool {
    // SAFETY: pid 0 is the calling thread; `set` is a valid `cpu_set_t` of
    // the size passed.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) == 0 }
}

pub(super) fn only(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: as in `affinity`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the number of bits in `set` (it came from one).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// Pins the parent to one allowed CPU and names another for the child (see
/// above); puts the parent's mask back when dropped. Without two CPUs it
/// does nothing.
pub(super) struct Placement {
    saved: Option<libc::cpu_set_t>,
    child_cpu: Option<usize>,
}

impl Placement {
    pub(super) fn apart() -> Self {
        let none = Self {
            saved: None,
            child_cpu: None,
        };
        let Some(saved) = affinity() else { return none };
        let max = 8 * size_of::<libc::cpu_set_t>();
        // SAFETY: `cpu < max`, the number of bits in `saved`.
        let cpus: Vec<usize> = (0..max)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &saved) })
            .collect();
        if cpus.len() < 2 || !set_affinity(&only(cpus[0])) {
            return none;
        }
        Self {
            saved: Some(saved),
            child_cpu: Some(cpus[1]),
        }
    }

    /// No placement: both processes go where the scheduler puts them.
    pub(super) fn anywhere() -> Self {
        Self {
            saved: None,
            child_cpu: None,
        }
    }

    /// Called first thing in the child.
    pub(super) fn enter_child(&self) {
        if let Some(cpu) = self.child_cpu {
            // Unpinned is still correct, only slower on a busy machine.
            set_affinity(&only(cpu));
        }
    }

    pub(super) fn note(&self) -> &'static str {
        if self.child_cpu.is_some() {
            "pinned apart"
        } else {
            "unpinned"
        }
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            set_affinity(saved);
        }
    }
}

/// [`Placement::apart`] if either end spins, else [`Placement::anywhere`].
pub(super) fn placement(a: Futex, b: Futex) -> Placement {
    use ipckit::wait::Notify;
    if a.spin_budget() > 0 || b.spin_budget() > 0 {
        Placement::apart()
    } else {
        Placement::anywhere()
    }
}
