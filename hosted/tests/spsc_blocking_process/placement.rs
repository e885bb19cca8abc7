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

/// Pins the parent to one allowed CPU and names another for the child (see
/// above); puts the parent's mask back when dropped. Without two CPUs it
/// does nothing.
pub(super) struct Placement {
    restore: Option<ipckit_testkit::pin::Restore>,
    child_cpu: Option<usize>,
}

impl Placement {
    pub(super) fn apart() -> Self {
        use ipckit_testkit::pin::{CpuPair, allowed_cpus, smt_siblings};
        let pair = allowed_cpus()
            .ok()
            .and_then(|cpus| CpuPair::choose(&cpus, smt_siblings));
        let Some(pair) = pair else {
            return Self::anywhere();
        };
        let Ok(restore) = ipckit_testkit::pin::Restore::save() else {
            return Self::anywhere();
        };
        if pair.pin_main().is_err() {
            return Self::anywhere();
        }
        Self {
            restore: Some(restore),
            child_cpu: Some(pair.peer),
        }
    }

    /// No placement: both processes go where the scheduler puts them.
    pub(super) fn anywhere() -> Self {
        Self {
            restore: None,
            child_cpu: None,
        }
    }

    /// Called first thing in the child.
    pub(super) fn enter_child(&self) {
        if let Some(cpu) = self.child_cpu {
            // Unpinned is still correct, only slower on a busy machine.
            let _ = ipckit_testkit::pin::pin_to(cpu);
        }
    }

    pub(super) fn note(&self) -> &'static str {
        if self.restore.is_some() {
            "pinned apart"
        } else {
            "unpinned"
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
