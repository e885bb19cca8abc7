//! Every mechanism, opened as two [`Ends`] (a sender and a receiver each
//! side) through the one message interface: its name, what it is, and how
//! it is set up for one measurement or one test. The CLI's `ipckit bench`,
//! the `transports` benchmark and the tests open mechanisms here, so a
//! mechanism is set up one way everywhere.
//!
//! A [`Setup`] holds what was made before the peer exists (named objects,
//! descriptors a forked child inherits) and two openers: the measuring
//! side's, run in this process, and the peer's, run in a forked child (or,
//! for the in-process queues, a thread). Each direction has its own object
//! where the mechanism is one-way (a request/response client or server is
//! one object both ways, shared by its [`Ends::duplex`]); the
//! [`Setup::guard`] removes every named
//! object when dropped. [`Naming`] says where names go and who hears of
//! them (the CLI registers them for its Ctrl-C cleanup).
//!
//! ```no_run
//! use ipckit_testkit::mechanisms::{Mech, Naming, PeerOpen};
//!
//! let setup = Mech::Pipe.setup(64, &Naming::temp("doc"))?;
//! let PeerOpen::Process(peer) = setup.peer else { unreachable!() };
//! // Fork; the child runs `peer(parent_pid)`, this process `(setup.mine)(child_pid)`.
//! # drop(peer);
//! # Ok::<_, String>(())
//! ```

mod adapters;
mod open;
mod rpc;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipckit::error::Result;
use ipckit::message::{MessageReceiver, MessageSender};

pub use adapters::*;
pub use open::block_bench_signal;
pub use rpc::{Answerer, Answers, CALL_PATIENCE, Caller};

/// One side's two directions.
pub struct Ends {
    /// Towards the other side.
    pub tx: Box<dyn MessageSender>,
    /// From the other side.
    pub rx: Box<dyn MessageReceiver>,
}

impl Ends {
    /// Boxes a sender and a receiver.
    pub fn new(tx: impl MessageSender + 'static, rx: impl MessageReceiver + 'static) -> Self {
        Self {
            tx: Box::new(tx),
            rx: Box::new(rx),
        }
    }

    /// Both directions on one object (a request/response client or
    /// server), shared by the two halves.
    pub fn duplex(link: impl MessageSender + MessageReceiver + 'static) -> Self {
        let link = std::rc::Rc::new(std::cell::RefCell::new(link));
        Self::new(rpc::Shared(link.clone()), rpc::Shared(link))
    }
}

/// Both directions as one value, for code that holds a side as one
/// endpoint.
impl MessageSender for Ends {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.tx.send_timeout(msg, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.tx.max_message_len()
    }
    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.tx.flush(timeout)
    }
}

impl MessageReceiver for Ends {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.rx.recv_timeout(buf, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.rx.max_message_len()
    }
}

/// Opens one side's ends, given the other side's pid (0 for a thread).
pub type Open = Box<dyn FnOnce(u32) -> Result<Ends>>;

/// How the peer gets its ends.
pub enum PeerOpen {
    /// In a forked child, given the parent's pid.
    Process(Open),
    /// In a thread of this process.
    Thread(Box<dyn FnOnce() -> Result<Ends> + Send>),
}

/// A mechanism made ready for one measurement.
pub struct Setup {
    /// Opens the measuring side's ends, given the peer's pid (0 for a
    /// thread). Runs after the fork.
    pub mine: Open,
    /// Opens the peer's ends.
    pub peer: PeerOpen,
    /// Dropped after the measurement (objects removed on drop).
    pub guard: Box<dyn Any>,
    /// Most bytes to move in one direction (file logs grow on disk).
    pub budget: Option<u64>,
}

/// A named object a setup is about to create.
#[derive(Clone, Copy, Debug)]
pub enum Object<'a> {
    /// A shared-memory object.
    Shm(&'a str),
    /// A POSIX message queue.
    PosixMq(&'a str),
    /// A System V message queue, by id (created just before).
    SysvMq(i32),
}

/// Where a setup names its objects, and who hears of them.
pub struct Naming {
    /// The start of every name (`ipckit-bench-<pid>`).
    pub prefix: String,
    /// The directory for FIFOs and log files (created when needed).
    pub dir: PathBuf,
    /// Told of each named object (the CLI registers them for Ctrl-C).
    pub register: fn(Object<'_>),
}

impl Naming {
    /// Names `<prefix>-<pid>-…` in the temp directory, told to no one.
    pub fn temp(prefix: &str) -> Self {
        Self {
            prefix: format!("{prefix}-{}", std::process::id()),
            dir: std::env::temp_dir(),
            register: |_| {},
        }
    }

    /// `<prefix>-<what>`.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }
}

/// One mechanism: the rows of `ipckit bench`.
#[allow(missing_docs)] // each variant is described by `Mech::describe`
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum Mech {
    ShmSpscBusy,
    ShmSpsc,
    ShmMpmc,
    ShmBytes,
    ShmPubsub,
    RpcShm,
    RpcUnix,
    /// Not in [`Mech::ALL`] (not a row of `ipckit bench` yet).
    ShmMpscBytes,
    Pipe,
    Fifo,
    PosixMq,
    SysvMq,
    UnixStream,
    UnixDgram,
    UnixSeqpacket,
    Tcp,
    Eventfd,
    Signal,
    FileLog,
    Rtrb,
    Crossbeam,
    CacheLine,
    Futex,
    Memcpy,
}

/// The message sizes the typed (`[u8; N]`) mechanisms are built for.
pub const SIZES: [usize; 4] = [8, 64, 4096, 65536];

impl Mech {
    /// The rows of `ipckit bench`, in its order.
    pub const ALL: [Mech; 23] = [
        Mech::ShmSpscBusy,
        Mech::ShmSpsc,
        Mech::ShmMpmc,
        Mech::ShmBytes,
        Mech::ShmPubsub,
        Mech::RpcShm,
        Mech::RpcUnix,
        Mech::Pipe,
        Mech::Fifo,
        Mech::PosixMq,
        Mech::SysvMq,
        Mech::UnixStream,
        Mech::UnixDgram,
        Mech::UnixSeqpacket,
        Mech::Tcp,
        Mech::Eventfd,
        Mech::Signal,
        Mech::FileLog,
        Mech::Rtrb,
        Mech::Crossbeam,
        Mech::CacheLine,
        Mech::Futex,
        Mech::Memcpy,
    ];

    /// Every mechanism: the rows of [`Mech::ALL`], then those not in it.
    pub fn every() -> impl Iterator<Item = Mech> {
        Mech::ALL.into_iter().chain([Mech::ShmMpscBytes])
    }

    /// Whether it is one of ipckit's own mechanisms, not an in-process
    /// peer or a floor (there to compare with).
    pub fn is_ipckit(self) -> bool {
        !matches!(
            self,
            Mech::Rtrb | Mech::Crossbeam | Mech::CacheLine | Mech::Futex | Mech::Memcpy
        )
    }

    /// The name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mech::ShmSpscBusy => "shm-spsc-busy",
            Mech::ShmSpsc => "shm-spsc",
            Mech::ShmMpmc => "shm-mpmc",
            Mech::ShmBytes => "shm-bytes",
            Mech::ShmPubsub => "shm-pubsub",
            Mech::RpcShm => "rpc-shm",
            Mech::RpcUnix => "rpc-unix",
            Mech::ShmMpscBytes => "shm-mpsc-bytes",
            Mech::Pipe => "pipe",
            Mech::Fifo => "fifo",
            Mech::PosixMq => "posix-mq",
            Mech::SysvMq => "sysv-mq",
            Mech::UnixStream => "unix-stream",
            Mech::UnixDgram => "unix-dgram",
            Mech::UnixSeqpacket => "unix-seqpacket",
            Mech::Tcp => "tcp",
            Mech::Eventfd => "eventfd",
            Mech::Signal => "signal",
            Mech::FileLog => "file-log",
            Mech::Rtrb => "rtrb",
            Mech::Crossbeam => "crossbeam",
            Mech::CacheLine => "cache-line",
            Mech::Futex => "futex",
            Mech::Memcpy => "memcpy",
        }
    }

    /// One line on what is measured.
    pub fn describe(self) -> &'static str {
        match self {
            Mech::ShmSpscBusy => {
                "ipckit SPSC channel of [u8; N] by name, busy-polling try_send/try_recv"
            }
            Mech::ShmSpsc => "ipckit SPSC channel of [u8; N], blocking (spin, then futex)",
            Mech::ShmMpmc => "ipckit MPMC channel of [u8; N], blocking, one sender one receiver",
            Mech::ShmBytes => "ipckit byte channel (SPSC frame ring), blocking",
            Mech::ShmPubsub => {
                "ipckit pub/sub topics of [u8; N], one each way, blocking (round trip only)"
            }
            Mech::RpcShm => {
                "ipckit rpc::shm call, echoed by a server in the peer (round trip only)"
            }
            Mech::RpcUnix => {
                "ipckit rpc call over a Unix stream socket pair, echoed (round trip only)"
            }
            Mech::ShmMpscBytes => "ipckit MPSC byte channel (MPSC frame ring), blocking",
            Mech::Pipe => "anonymous pipes, length-prefixed frames",
            Mech::Fifo => "named FIFOs, length-prefixed frames",
            Mech::PosixMq => "POSIX message queues",
            Mech::SysvMq => "System V message queues",
            Mech::UnixStream => "Unix stream socket pairs, length-prefixed frames",
            Mech::UnixDgram => "Unix datagram socket pairs",
            Mech::UnixSeqpacket => "Unix seqpacket socket pairs",
            Mech::Tcp => "TCP over loopback (TCP_NODELAY), length-prefixed frames",
            Mech::Eventfd => "eventfd counters (the 8-byte value is the message)",
            Mech::Signal => "sigqueue real-time signals received with signalfd (4-byte payload)",
            Mech::FileLog => "append-only log files (OFD locks), readers poll",
            Mech::Rtrb => "rtrb ring of [u8; N], two threads, busy-polling (in-process peer)",
            Mech::Crossbeam => {
                "crossbeam ArrayQueue of [u8; N], two threads, busy-polling (in-process peer)"
            }
            Mech::CacheLine => "floor: two atomics on separate cache lines, spinning",
            Mech::Futex => "floor: raw FUTEX_WAIT/FUTEX_WAKE on shared words",
            Mech::Memcpy => "floor: single-threaded cold memcpy of each message",
        }
    }

    /// The mechanism called `s`.
    pub fn parse(s: &str) -> Option<Mech> {
        Mech::every().find(|m| m.name() == s)
    }

    /// The size of the only message the mechanism carries, if fixed.
    pub fn fixed_size(self) -> Option<usize> {
        match self {
            Mech::Signal | Mech::CacheLine | Mech::Futex => Some(4),
            Mech::Eventfd => Some(8),
            _ => None,
        }
    }

    /// Whether every message arrives as one `[u8; size]` item (the `size`
    /// of [`Mech::setup`]), a shorter one padded with zeros: the typed
    /// rings and queues.
    pub fn pads(self) -> bool {
        matches!(
            self,
            Mech::ShmSpscBusy
                | Mech::ShmSpsc
                | Mech::ShmMpmc
                | Mech::ShmPubsub
                | Mech::Rtrb
                | Mech::Crossbeam
        )
    }

    /// Whether the round trips busy-poll (then the reference is the
    /// cache-line floor; for sleeping ones the futex floor).
    pub fn busy(self) -> bool {
        matches!(
            self,
            Mech::ShmSpscBusy | Mech::Rtrb | Mech::Crossbeam | Mech::CacheLine
        )
    }

    /// Makes the mechanism ready for one measurement of `size`-byte
    /// messages, naming its objects as `naming` says.
    pub fn setup(self, size: usize, naming: &Naming) -> std::result::Result<Setup, String> {
        let n = next_id();
        let name = |side: &str| naming.name(&format!("{}-{n}-{side}", self.name()));
        open::setup(self, size, naming, name)
    }
}

fn next_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
