//! The mechanisms `ipckit bench` measures, and which metrics and sizes each
//! carries (and why not the others). They are opened by
//! `ipckit_testkit::mechanisms`, the one place that sets up every
//! mechanism for the benchmarks, the tests and this command; here they get
//! the run's names and its Ctrl-C cleanup.

use ipckit::transport::posix_mq::MqLimits;
pub use ipckit_testkit::mechanisms::{Mech, SIZES, block_bench_signal};
use ipckit_testkit::mechanisms::{Naming, Object, Setup};

use super::cleanup;

/// Round-trip latency or one-way throughput.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum Metric {
    Rtt,
    Throughput,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Rtt => "rtt",
            Metric::Throughput => "throughput",
        }
    }
}

/// Why `metric` at `size` is not measured for `mech`, if it is not.
pub fn why_not(mech: Mech, metric: Metric, size: usize) -> Option<String> {
    match (mech, metric) {
        (Mech::Memcpy, Metric::Rtt) => return Some("a copy has no round trip".into()),
        (Mech::CacheLine | Mech::Futex, Metric::Throughput) => {
            return Some("a latency floor: one word, no message stream".into());
        }
        (Mech::ShmPubsub, Metric::Throughput) => {
            return Some(
                "a lossy topic: the publisher never waits, so a stream laps the subscriber \
                 (Lagged); round trip only"
                    .into(),
            );
        }
        (Mech::RpcShm | Mech::RpcUnix, Metric::Throughput) => {
            return Some(
                "a call is a round trip; its transport's stream is the shm-bytes / unix-stream row"
                    .into(),
            );
        }
        (Mech::Eventfd, Metric::Throughput) => {
            return Some(
                "writes add up in one counter: a reader sees their sum, not a stream of messages"
                    .into(),
            );
        }
        _ => {}
    }
    match mech {
        Mech::PosixMq => {
            let max = MqLimits::read().map(|l| l.msgsize_max).unwrap_or(8192);
            (size as u64 > max)
                .then(|| format!("message size above msgsize_max ({max} B, /proc/sys/fs/mqueue)"))
        }
        Mech::SysvMq => {
            let max = read_proc("/proc/sys/kernel/msgmax").unwrap_or(8192);
            (size as u64 > max)
                .then(|| format!("message size above msgmax ({max} B, /proc/sys/kernel)"))
        }
        _ => None,
    }
}

/// Makes `mech` ready for one measurement of `size`-byte messages, its
/// objects named for this run and registered for its cleanup.
pub fn setup(mech: Mech, size: usize) -> Result<Setup, String> {
    let naming = Naming {
        prefix: cleanup::prefix().to_owned(),
        dir: cleanup::dir(),
        register,
    };
    mech.setup(size, &naming)
}

fn register(object: Object<'_>) {
    match object {
        Object::Shm(name) => cleanup::register_shm(name),
        Object::PosixMq(name) => cleanup::register_mq(name),
        Object::SysvMq(id) => cleanup::register_sysv(id),
    }
}

fn read_proc(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
