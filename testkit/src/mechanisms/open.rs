//! How each mechanism is set up: the objects made before the fork, the
//! openers of both sides, and the guards that remove the objects.

use std::sync::Arc;
use std::time::Duration;

use ipckit::channel::{bytes, mpmc, mpsc_bytes, spsc};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::pubsub::{self, Start};
use ipckit::transport::eventfd::{EventFd, EventFdMode};
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use ipckit::transport::file_log::{LogReader, LogWriter};
use ipckit::transport::posix_mq::{MqAttr, MqLimits, PosixMq};
use ipckit::transport::signal::{SignalReceiver, SignalSender, block_signal, rt_signal};
use ipckit::transport::sysv_mq::SysvMq;
use ipckit::transport::unix::{Datagram, SeqPacket, stream_pair};
use ipckit::transport::{pipe, tcp};

use super::adapters::*;
use super::rpc;
use super::{Ends, Mech, Naming, Object, PeerOpen, SIZES, Setup, next_id};

/// [`Mech::setup`]; `name` names its objects.
pub(super) fn setup(
    mech: Mech,
    size: usize,
    naming: &Naming,
    name: impl Fn(&str) -> String,
) -> Result<Setup, String> {
    match mech {
        Mech::ShmSpscBusy => by_size(size, |s| match s {
            8 => shm_spsc::<8>(&name("a"), &name("b"), true, naming),
            64 => shm_spsc::<64>(&name("a"), &name("b"), true, naming),
            4096 => shm_spsc::<4096>(&name("a"), &name("b"), true, naming),
            _ => shm_spsc::<65536>(&name("a"), &name("b"), true, naming),
        }),
        Mech::ShmSpsc => by_size(size, |s| match s {
            8 => shm_spsc::<8>(&name("a"), &name("b"), false, naming),
            64 => shm_spsc::<64>(&name("a"), &name("b"), false, naming),
            4096 => shm_spsc::<4096>(&name("a"), &name("b"), false, naming),
            _ => shm_spsc::<65536>(&name("a"), &name("b"), false, naming),
        }),
        Mech::ShmPubsub => by_size(size, |s| match s {
            8 => shm_pubsub::<8>(&name("a"), &name("b"), naming),
            64 => shm_pubsub::<64>(&name("a"), &name("b"), naming),
            4096 => shm_pubsub::<4096>(&name("a"), &name("b"), naming),
            _ => shm_pubsub::<65536>(&name("a"), &name("b"), naming),
        }),
        Mech::RpcShm => rpc::shm(&name("svc"), size, naming),
        Mech::RpcUnix => rpc::unix(size),
        Mech::ShmMpmc => by_size(size, |s| match s {
            8 => shm_mpmc::<8>(&name("a"), &name("b"), naming),
            64 => shm_mpmc::<64>(&name("a"), &name("b"), naming),
            4096 => shm_mpmc::<4096>(&name("a"), &name("b"), naming),
            _ => shm_mpmc::<65536>(&name("a"), &name("b"), naming),
        }),
        Mech::Rtrb => by_size(size, |s| match s {
            8 => Ok(rtrb_pair::<8>()),
            64 => Ok(rtrb_pair::<64>()),
            4096 => Ok(rtrb_pair::<4096>()),
            _ => Ok(rtrb_pair::<65536>()),
        }),
        Mech::Crossbeam => by_size(size, |s| match s {
            8 => Ok(crossbeam_pair::<8>()),
            64 => Ok(crossbeam_pair::<64>()),
            4096 => Ok(crossbeam_pair::<4096>()),
            _ => Ok(crossbeam_pair::<65536>()),
        }),
        Mech::ShmBytes => shm_bytes(
            (&name("a"), &name("b")),
            size,
            naming,
            (
                |n, c| Ok(BytesTx(bytes::Sender::create(n, c)?)),
                |n, c| Ok(BytesRx(bytes::Receiver::create(n, c)?)),
            ),
            (
                |n| Ok(BytesTx(bytes::Sender::open(n)?)),
                |n| Ok(BytesRx(bytes::Receiver::open(n)?)),
            ),
        ),
        Mech::ShmMpscBytes => shm_bytes(
            (&name("a"), &name("b")),
            size,
            naming,
            (mpsc_bytes::Sender::create, mpsc_bytes::Receiver::create),
            (mpsc_bytes::Sender::open, mpsc_bytes::Receiver::open),
        ),
        Mech::Pipe => pipes(size),
        Mech::Fifo => fifos(&name("a"), &name("b"), size, naming),
        Mech::PosixMq => posix_mq(
            &format!("/{}", name("a")),
            &format!("/{}", name("b")),
            size,
            naming,
        ),
        Mech::SysvMq => sysv_mq(naming),
        Mech::UnixStream => {
            let max = frame_max(size);
            let (a, a2) = stream_pair(max).map_err(|e| e.to_string())?;
            let (b, b2) = stream_pair(max).map_err(|e| e.to_string())?;
            Ok(fd_pairs((a, a2), (b, b2)))
        }
        Mech::UnixDgram => {
            let (a, a2) = Datagram::pair(size.max(64)).map_err(|e| e.to_string())?;
            let (b, b2) = Datagram::pair(size.max(64)).map_err(|e| e.to_string())?;
            Ok(fd_pairs((a, a2), (b, b2)))
        }
        Mech::UnixSeqpacket => {
            let (a, a2) = SeqPacket::pair(size.max(64)).map_err(|e| e.to_string())?;
            let (b, b2) = SeqPacket::pair(size.max(64)).map_err(|e| e.to_string())?;
            Ok(fd_pairs((a, a2), (b, b2)))
        }
        Mech::Tcp => tcp_pairs(size),
        Mech::Eventfd => {
            let e = |_| EventFd::new(0, EventFdMode::Counter);
            let (a, b) = (
                e(0).map_err(|e| e.to_string())?,
                e(0).map_err(|e| e.to_string())?,
            );
            let (a2, b2) = (
                EventFd::from_fd(dup(&a)?).map_err(|e| e.to_string())?,
                EventFd::from_fd(dup(&b)?).map_err(|e| e.to_string())?,
            );
            Ok(fd_pairs((a, a2), (b, b2)))
        }
        Mech::Signal => signals(),
        Mech::FileLog => file_log(size, naming),
        Mech::CacheLine | Mech::Futex | Mech::Memcpy => {
            Err("a floor: measured by its own loop".into())
        }
    }
}

fn by_size(size: usize, f: impl FnOnce(usize) -> Result<Setup, String>) -> Result<Setup, String> {
    if SIZES.contains(&size) {
        f(size)
    } else {
        Err(format!("no typed item of {size} bytes"))
    }
}

pub(super) fn frame_max(size: usize) -> u32 {
    size.max(64) as u32
}

pub(super) fn e2s(e: ipckit::error::Error) -> String {
    e.to_string()
}

fn dup(fd: &impl std::os::fd::AsFd) -> Result<std::os::fd::OwnedFd, String> {
    fd.as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("dup: {e}"))
}

/// Slots of a typed ring for `N`-byte items: about 1 MiB, 16 to 1024.
fn slots(n: usize) -> u32 {
    ((1usize << 20) / n).clamp(16, 1024) as u32
}

fn shm_spsc<const N: usize>(
    a: &str,
    b: &str,
    busy: bool,
    naming: &Naming,
) -> Result<Setup, String> {
    (naming.register)(Object::Shm(a));
    (naming.register)(Object::Shm(b));
    let tx = spsc::Sender::<[u8; N]>::create(a, slots(N)).map_err(e2s)?;
    let rx = spsc::Receiver::<[u8; N]>::create(b, slots(N)).map_err(e2s)?;
    let (a2, b2) = (a.to_owned(), b.to_owned());
    let peer = move |_| -> ipckit::error::Result<Ends> {
        let rx = SpscRx::<N>(spsc::Receiver::open(&a2)?);
        let tx = SpscTx::<N>(spsc::Sender::open(&b2)?);
        Ok(if busy {
            Ends::new(BusyPoll(tx), BusyPoll(rx))
        } else {
            Ends::new(tx, rx)
        })
    };
    let mine = move |_| -> ipckit::error::Result<Ends> {
        let (tx, rx) = (SpscTx::<N>(tx), SpscRx::<N>(rx));
        Ok(if busy {
            Ends::new(BusyPoll(tx), BusyPoll(rx))
        } else {
            Ends::new(tx, rx)
        })
    };
    Ok(process_setup(
        mine,
        peer,
        ShmGuard(vec![a.into(), b.into()]),
    ))
}

fn shm_mpmc<const N: usize>(a: &str, b: &str, naming: &Naming) -> Result<Setup, String> {
    (naming.register)(Object::Shm(a));
    (naming.register)(Object::Shm(b));
    let tx = mpmc::Sender::<[u8; N]>::create(a, slots(N)).map_err(e2s)?;
    let rx = mpmc::Receiver::<[u8; N]>::create(b, slots(N)).map_err(e2s)?;
    let (a2, b2) = (a.to_owned(), b.to_owned());
    let peer = move |_| -> ipckit::error::Result<Ends> {
        let rx = MpmcRx::<N>(mpmc::Receiver::open(&a2)?);
        let tx = MpmcTx::<N>(mpmc::Sender::open(&b2)?);
        Ok(Ends::new(tx, rx))
    };
    let mine = move |_| Ok(Ends::new(MpmcTx::<N>(tx), MpmcRx::<N>(rx)));
    Ok(process_setup(
        mine,
        peer,
        ShmGuard(vec![a.into(), b.into()]),
    ))
}

/// A topic each way: this process creates both; each side opens its
/// publisher and its subscriber after the fork. Both subscribers start at
/// the oldest item: on a fresh topic that is the first one published, also
/// when it was published before the subscriber came.
fn shm_pubsub<const N: usize>(a: &str, b: &str, naming: &Naming) -> Result<Setup, String> {
    (naming.register)(Object::Shm(a));
    (naming.register)(Object::Shm(b));
    let topic = |n: &str| pubsub::topic::<[u8; N]>(n).capacity(slots(N) as usize);
    let ta = topic(a).create().map_err(e2s)?;
    let tb = topic(b).create().map_err(e2s)?;
    let (a2, b2) = (a.to_owned(), b.to_owned());
    let peer = move |_| -> ipckit::error::Result<Ends> {
        let rx = topic(&a2).open()?.subscriber_from(Start::Oldest)?;
        let tx = topic(&b2).open()?.publisher()?;
        Ok(Ends::new(TopicTx::<N>(tx), TopicRx::<N>(rx)))
    };
    let mine = move |_| -> ipckit::error::Result<Ends> {
        let tx = TopicTx::<N>(ta.publisher()?);
        Ok(Ends::new(
            tx,
            TopicRx::<N>(tb.subscriber_from(Start::Oldest)?),
        ))
    };
    Ok(process_setup(
        mine,
        peer,
        ShmGuard(vec![a.into(), b.into()]),
    ))
}

/// A channel end's `create(name, capacity)`.
type Create<T> = fn(&str, u32) -> ipckit::error::Result<T>;
/// A channel end's `open(name)`.
type OpenByName<T> = fn(&str) -> ipckit::error::Result<T>;

/// A byte channel each way: this process creates both by name; the peer
/// opens its ends by name after the fork (a channel endpoint belongs to the
/// process that opened it).
fn shm_bytes<S, R>(
    (a, b): (&str, &str),
    size: usize,
    naming: &Naming,
    (create_tx, create_rx): (Create<S>, Create<R>),
    (open_tx, open_rx): (OpenByName<S>, OpenByName<R>),
) -> Result<Setup, String>
where
    S: MessageSender + 'static,
    R: MessageReceiver + 'static,
{
    (naming.register)(Object::Shm(a));
    (naming.register)(Object::Shm(b));
    let cap: u32 = if size <= 1024 { 64 << 10 } else { 1 << 20 };
    let tx = create_tx(a, cap).map_err(e2s)?;
    let rx = create_rx(b, cap).map_err(e2s)?;
    let (a2, b2) = (a.to_owned(), b.to_owned());
    let peer = move |_| -> ipckit::error::Result<Ends> {
        let rx = open_rx(&a2)?;
        let tx = open_tx(&b2)?;
        Ok(Ends::new(tx, rx))
    };
    let mine = move |_| Ok(Ends::new(tx, rx));
    Ok(process_setup(
        mine,
        peer,
        ShmGuard(vec![a.into(), b.into()]),
    ))
}

/// Removes shm objects when dropped.
pub(super) struct ShmGuard(pub(super) Vec<String>);

impl Drop for ShmGuard {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = ipckit::shm::ShmObject::remove(n);
        }
    }
}

pub(super) fn process_setup(
    mine: impl FnOnce(u32) -> ipckit::error::Result<Ends> + 'static,
    peer: impl FnOnce(u32) -> ipckit::error::Result<Ends> + 'static,
    guard: impl std::any::Any,
) -> Setup {
    Setup {
        mine: Box::new(mine),
        peer: PeerOpen::Process(Box::new(peer)),
        guard: Box::new(guard),
        budget: None,
    }
}

/// Two one-way pairs already open: `a` carries ours to the peer, `b` back.
fn fd_pairs<A, B>((a_tx, a_rx): (A, A), (b_tx, b_rx): (B, B)) -> Setup
where
    A: MessageSender + MessageReceiver + 'static,
    B: MessageSender + MessageReceiver + 'static,
{
    process_setup(
        move |_| Ok(Ends::new(a_tx, b_rx)),
        move |_| Ok(Ends::new(b_tx, a_rx)),
        (),
    )
}

fn pipes(size: usize) -> Result<Setup, String> {
    let (a_tx, a_rx) = pipe::pipe_with_max(frame_max(size)).map_err(e2s)?;
    let (b_tx, b_rx) = pipe::pipe_with_max(frame_max(size)).map_err(e2s)?;
    Ok(process_setup(
        move |_| Ok(Ends::new(a_tx, b_rx)),
        move |_| Ok(Ends::new(b_tx, a_rx)),
        (),
    ))
}

fn fifos(a: &str, b: &str, size: usize, naming: &Naming) -> Result<Setup, String> {
    let dir = &naming.dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (pa, pb) = (dir.join(a), dir.join(b));
    let fa = Fifo::create(&pa).map_err(e2s)?;
    let fb = Fifo::create(&pb).map_err(e2s)?;
    let max = frame_max(size);
    let wait = Some(Duration::from_secs(10));
    let (pa2, pb2) = (pa.clone(), pb.clone());
    let mine = move |_| -> ipckit::error::Result<Ends> {
        let rx = FifoReceiver::open(&pb, max)?;
        let tx = FifoSender::open(&pa, max, wait)?;
        Ok(Ends::new(tx, rx))
    };
    let peer = move |_| -> ipckit::error::Result<Ends> {
        let rx = FifoReceiver::open(&pa2, max)?;
        let tx = FifoSender::open(&pb2, max, wait)?;
        Ok(Ends::new(tx, rx))
    };
    Ok(process_setup(mine, peer, (fa, fb)))
}

fn posix_mq(a: &str, b: &str, size: usize, naming: &Naming) -> Result<Setup, String> {
    let limits = MqLimits::read().map_err(e2s)?;
    let attr = MqAttr {
        max_messages: limits.msg_max.min(10) as usize,
        message_size: size,
    };
    (naming.register)(Object::PosixMq(a));
    (naming.register)(Object::PosixMq(b));
    let qa = PosixMq::create(a, attr).map_err(e2s)?;
    let qb = PosixMq::create(b, attr).map_err(e2s)?;
    let (a2, b2) = (a.to_owned(), b.to_owned());
    let peer = move |_| -> ipckit::error::Result<Ends> {
        Ok(Ends::new(PosixMq::open(&b2)?, PosixMq::open(&a2)?))
    };
    let guard = MqGuard(vec![a.into(), b.into()]);
    Ok(process_setup(move |_| Ok(Ends::new(qa, qb)), peer, guard))
}

/// Unlinks POSIX queues when dropped.
struct MqGuard(Vec<String>);

impl Drop for MqGuard {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = PosixMq::unlink(n);
        }
    }
}

fn sysv_mq(naming: &Naming) -> Result<Setup, String> {
    let qa = SysvMq::create_private().map_err(e2s)?;
    (naming.register)(Object::SysvMq(qa.id()));
    let qb = SysvMq::create_private().map_err(e2s)?;
    (naming.register)(Object::SysvMq(qb.id()));
    let (ia, ib) = (qa.id(), qb.id());
    let peer = move |_| -> ipckit::error::Result<Ends> {
        Ok(Ends::new(SysvMq::from_id(ib)?, SysvMq::from_id(ia)?))
    };
    Ok(process_setup(
        move |_| Ok(Ends::new(qa, qb)),
        peer,
        SysvGuard(vec![ia, ib]),
    ))
}

/// Removes System V queues when dropped.
struct SysvGuard(Vec<i32>);

impl Drop for SysvGuard {
    fn drop(&mut self) {
        for &id in &self.0 {
            let _ = SysvMq::remove_id(id);
        }
    }
}

fn tcp_pairs(size: usize) -> Result<Setup, String> {
    let max = frame_max(size);
    let listener = tcp::TcpListener::bind("127.0.0.1:0", max).map_err(e2s)?;
    let addr = listener.local_addr().map_err(e2s)?;
    let wait = Some(Duration::from_secs(5));
    let conn = || -> Result<_, String> {
        let c = tcp::connect(addr, max, wait).map_err(e2s)?;
        let s = listener.accept(wait).map_err(e2s)?;
        Ok((c, s))
    };
    let a = conn()?;
    let b = conn()?;
    Ok(fd_pairs(a, b))
}

/// Blocks the benchmark's signal in the calling thread (and so in every
/// thread and child started after).
pub fn block_bench_signal() -> Result<(), String> {
    block_signal(rt_signal(3).map_err(e2s)?).map_err(e2s)
}

fn signals() -> Result<Setup, String> {
    let signo = rt_signal(3).map_err(e2s)?;
    // Blocked before the fork (and before any thread: see `run`), so the
    // child inherits the mask and a signal that arrives before its
    // signalfd exists stays pending.
    block_signal(signo).map_err(e2s)?;
    let mine = move |peer_pid: u32| -> ipckit::error::Result<Ends> {
        Ok(Ends::new(
            SignalSender::new(peer_pid, signo),
            SignalReceiver::new(signo)?,
        ))
    };
    let peer = move |parent: u32| -> ipckit::error::Result<Ends> {
        Ok(Ends::new(
            SignalSender::new(parent, signo),
            SignalReceiver::new(signo)?,
        ))
    };
    Ok(process_setup(mine, peer, ()))
}

fn file_log(size: usize, naming: &Naming) -> Result<Setup, String> {
    let dir = &naming.dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let n = next_id();
    let (pa, pb) = (
        dir.join(naming.name(&format!("log-{n}-a"))),
        dir.join(naming.name(&format!("log-{n}-b"))),
    );
    let max = frame_max(size);
    let wa = LogWriter::create(&pa, max).map_err(e2s)?;
    drop(LogWriter::create(&pb, max).map_err(e2s)?);
    let rb = LogReader::open(&pb, max).map_err(e2s)?;
    let (pa2, pb2) = (pa.clone(), pb.clone());
    let peer = move |_| -> ipckit::error::Result<Ends> {
        Ok(Ends::new(
            LogWriter::open(&pb2, max)?,
            LogReader::open(&pa2, max)?,
        ))
    };
    let mut setup = process_setup(
        move |_| Ok(Ends::new(wa, rb)),
        peer,
        FileGuard(vec![pa, pb]),
    );
    setup.budget = Some(64 << 20);
    Ok(setup)
}

/// Removes files when dropped.
struct FileGuard(Vec<std::path::PathBuf>);

impl Drop for FileGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn thread_setup(
    mine: impl FnOnce(u32) -> ipckit::error::Result<Ends> + 'static,
    peer: impl FnOnce() -> ipckit::error::Result<Ends> + Send + 'static,
) -> Setup {
    Setup {
        mine: Box::new(mine),
        peer: PeerOpen::Thread(Box::new(peer)),
        guard: Box::new(()),
        budget: None,
    }
}

fn rtrb_pair<const N: usize>() -> Setup {
    let (a_tx, a_rx) = rtrb::RingBuffer::<[u8; N]>::new(slots(N) as usize);
    let (b_tx, b_rx) = rtrb::RingBuffer::<[u8; N]>::new(slots(N) as usize);
    thread_setup(
        move |_| Ok(Ends::new(BusyPoll(RtrbTx(a_tx)), BusyPoll(RtrbRx(b_rx)))),
        move || Ok(Ends::new(BusyPoll(RtrbTx(b_tx)), BusyPoll(RtrbRx(a_rx)))),
    )
}

fn crossbeam_pair<const N: usize>() -> Setup {
    let a = Arc::new(crossbeam_queue::ArrayQueue::<[u8; N]>::new(
        slots(N) as usize
    ));
    let b = Arc::new(crossbeam_queue::ArrayQueue::<[u8; N]>::new(
        slots(N) as usize
    ));
    let (a2, b2) = (a.clone(), b.clone());
    thread_setup(
        move |_| Ok(Ends::new(BusyPoll(Crossbeam(a)), BusyPoll(Crossbeam(b)))),
        move || Ok(Ends::new(BusyPoll(Crossbeam(b2)), BusyPoll(Crossbeam(a2)))),
    )
}
