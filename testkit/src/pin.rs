//! CPU pinning: which CPUs this thread may use, pinning to one, and the two
//! CPUs a measuring side and its peer run on.
//!
//! A spinning peer only helps while the side it waits for runs on another
//! CPU, and a cross-core measurement means something only when the two
//! sides stay put; so the benchmarks, the CLI and the tests that spin pin
//! the measuring side to one CPU and its peer to another. [`pair`] chooses
//! them once per process (a forked child inherits the choice) and says
//! whether they are SMT siblings (two hardware threads of one core, which
//! share caches and execution units: numbers between siblings are not
//! cross-core numbers).
//!
//! Every pinning call is one system call on the calling thread, so a child
//! forked from a multi-threaded process may make it (async-signal-safe).

use std::io;
use std::sync::OnceLock;

/// The number of CPUs a `cpu_set_t` holds.
const SET_BITS: usize = 8 * size_of::<libc::cpu_set_t>();

/// The CPUs the calling thread may run on, in ascending order.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a valid, writable
    // `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `cpu < SET_BITS`, the number of bits in `set`.
    Ok((0..SET_BITS)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Lets the calling thread run on `cpus` only (all of them, for a mask
/// saved with [`allowed_cpus`]). One system call.
pub fn set_allowed(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= SET_BITS {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: `cpu < SET_BITS`, checked above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid `cpu_set_t` of
    // the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Pins the calling thread to `cpu` (in a forked child: the process).
pub fn pin_to(cpu: usize) -> io::Result<()> {
    set_allowed(&[cpu])
}

/// The SMT siblings of `cpu` (itself included) as the kernel lists them in
/// `/sys/devices/system/cpu/cpu<N>/topology/thread_siblings_list`; `None`
/// where the file is missing or unreadable (containers, other kernels).
pub fn smt_siblings(cpu: usize) -> Option<Vec<usize>> {
    let path = format!("/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list");
    parse_cpu_list(std::fs::read_to_string(path).ok()?.trim())
}

/// Parses the kernel's CPU list format: `0-3,8,10-11` (`None` if malformed).
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi): (usize, usize) = (lo.parse().ok()?, hi.parse().ok()?);
                if lo > hi {
                    return None;
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// The two CPUs of a measurement: the measuring side's and its peer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuPair {
    /// The measuring side's CPU.
    pub main: usize,
    /// The peer's CPU.
    pub peer: usize,
    /// Whether the two are hardware threads of one core (`None`: unknown).
    pub siblings: Option<bool>,
}

impl CpuPair {
    /// Chooses from `allowed` (ascending): the first CPU, and the first
    /// other one that is not its SMT sibling (by `siblings_of`), else the
    /// second. `None` with fewer than two CPUs.
    pub fn choose(
        allowed: &[usize],
        siblings_of: impl Fn(usize) -> Option<Vec<usize>>,
    ) -> Option<Self> {
        let (&main, rest) = allowed.split_first()?;
        let first_other = *rest.first()?;
        let Some(siblings) = siblings_of(main) else {
            return Some(Self {
                main,
                peer: first_other,
                siblings: None,
            });
        };
        let apart = rest.iter().copied().find(|c| !siblings.contains(c));
        Some(Self {
            main,
            peer: apart.unwrap_or(first_other),
            siblings: Some(apart.is_none()),
        })
    }

    /// Pins the calling thread to the measuring side's CPU.
    pub fn pin_main(&self) -> io::Result<()> {
        pin_to(self.main)
    }

    /// Pins the calling thread (or forked child) to the peer's CPU.
    pub fn pin_peer(&self) -> io::Result<()> {
        pin_to(self.peer)
    }

    /// How the two relate, for a report line: `"SMT siblings"`, `"different
    /// cores"` or `"topology unknown"`.
    pub fn relation(&self) -> &'static str {
        match self.siblings {
            Some(true) => "SMT siblings",
            Some(false) => "different cores",
            None => "topology unknown",
        }
    }
}

/// This process's pair, chosen from the CPUs allowed at the first call
/// (call it before pinning anything); `None` with fewer than two CPUs.
pub fn pair() -> Option<CpuPair> {
    static PAIR: OnceLock<Option<CpuPair>> = OnceLock::new();
    *PAIR.get_or_init(|| CpuPair::choose(&allowed_cpus().ok()?, smt_siblings))
}

/// Where the two sides of [`pair`] run, for a report line: `"{main} on CPU
/// 0, {peer} on CPU 1 (different cores)"`, or that they are not pinned.
pub fn placement(main: &str, peer: &str) -> String {
    match pair() {
        Some(p) => format!(
            "{main} on CPU {}, {peer} on CPU {} ({})",
            p.main,
            p.peer,
            p.relation()
        ),
        None => format!("{main} and {peer} not pinned (fewer than two CPUs)"),
    }
}

/// Pins the calling thread to [`pair`]'s measuring CPU, if there is a pair.
/// Failure leaves it unpinned, which is still correct (only noisier).
pub fn pin_main() -> Option<CpuPair> {
    let pair = pair()?;
    pair.pin_main().ok().map(|()| pair)
}

/// Pins the calling thread (or forked child) to [`pair`]'s peer CPU, if
/// there is a pair; failure leaves it unpinned.
pub fn pin_peer() {
    if let Some(pair) = pair() {
        let _ = pair.pin_peer();
    }
}

/// Restores the calling thread's allowed CPUs when dropped (for a test that
/// pins itself for a while).
pub struct Restore(Vec<usize>);

impl Restore {
    /// Saves the calling thread's allowed CPUs.
    pub fn save() -> io::Result<Self> {
        allowed_cpus().map(Self)
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = set_allowed(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0,4"), Some(vec![0, 4]));
        assert_eq!(parse_cpu_list("0-1,8-9"), Some(vec![0, 1, 8, 9]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn pair_prefers_another_core() {
        // CPUs 0 and 1 are one core, 2 and 3 another.
        let smt = |c: usize| Some(if c < 2 { vec![0, 1] } else { vec![2, 3] });
        let p = CpuPair::choose(&[0, 1, 2, 3], smt).expect("four CPUs");
        assert_eq!((p.main, p.peer, p.siblings), (0, 2, Some(false)));
        let p = CpuPair::choose(&[0, 1], smt).expect("two CPUs");
        assert_eq!((p.main, p.peer, p.siblings), (0, 1, Some(true)));
        let p = CpuPair::choose(&[0, 1], |_| None).expect("two CPUs");
        assert_eq!((p.main, p.peer, p.siblings), (0, 1, None));
        let one_each = |c: usize| Some(vec![c]);
        let p = CpuPair::choose(&[3, 5], one_each).expect("two CPUs");
        assert_eq!((p.main, p.peer, p.siblings), (3, 5, Some(false)));
        assert_eq!(CpuPair::choose(&[0], smt), None);
        assert_eq!(CpuPair::choose(&[], smt), None);
    }

    #[test]
    fn pinning_moves_the_thread_and_restore_puts_it_back() {
        let before = allowed_cpus().expect("sched_getaffinity");
        std::thread::spawn(move || {
            let restore = Restore::save().expect("save");
            pin_to(before[0]).expect("pin");
            assert_eq!(allowed_cpus().expect("allowed"), vec![before[0]]);
            drop(restore);
            assert_eq!(allowed_cpus().expect("allowed"), before);
        })
        .join()
        .expect("thread");
        assert!(pin_to(SET_BITS).is_err(), "a CPU beyond the set is refused");
    }
}
