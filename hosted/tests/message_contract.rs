//! The message contract ([`ipckit_testkit::contract`]) run against every
//! [`MessageSender`] / [`MessageReceiver`] pair ipckit ships: the two
//! shared-memory byte channels, a pipe, a FIFO, a POSIX and a System V
//! message queue, Unix stream, seqpacket and datagram sockets, TCP on the
//! loopback, and the file log. Each test is `<transport>: <case>`.
//!
//! Not here, with the reason: `Popen` (one object that is both ends, the
//! peer a child program: its own tests in `transport_streams`), `EventFd`
//! (a counter: messages add up) and the signal transport (fixed 4-byte
//! payloads; the kernel merges standard signals): they implement the traits
//! for the interface's sake, not its message contract.
//!
//! The last test shows that the contract catches a transport that loses
//! messages: a pipe whose sender drops every third message must fail it.
//!
//! `cargo test -p ipckit --test message_contract [-- <filter>]`.

mod support;

use std::time::Duration;

use ipckit::channel::{bytes, mpsc_bytes};
use ipckit::error::Result as IpcResult;
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::{fifo, file_log, pipe, posix_mq, sysv_mq, tcp, unix};
use ipckit_testkit::contract::{CASES, Pair, Transport};
use support::{FileGuard, QueueNameGuard, ShmGuard, Suite, SysvGuard, temp_path};

/// The longest message of the transports whose maximum is chosen.
const MAX: u32 = 4096;
/// The data area of the shared-memory channels (largest message 16 376).
const CAPACITY: u32 = 32 << 10;

fn err(what: &str) -> impl FnOnce(ipckit::error::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn pair(
    tx: impl MessageSender + 'static,
    rx: impl MessageReceiver + 'static,
    keep: impl std::any::Any,
) -> Pair {
    Pair {
        tx: Box::new(tx),
        rx: Box::new(rx),
        keep: Box::new(keep),
    }
}

fn shm_bytes() -> Result<Pair, String> {
    let guard = ShmGuard::new("contract-bytes");
    let tx = bytes::Sender::create(&guard.0, CAPACITY).map_err(err("create"))?;
    let rx = bytes::Receiver::open(&guard.0).map_err(err("open"))?;
    Ok(pair(tx, rx, guard))
}

fn shm_mpsc_bytes() -> Result<Pair, String> {
    let guard = ShmGuard::new("contract-mpsc");
    let rx = mpsc_bytes::Receiver::create(&guard.0, CAPACITY).map_err(err("create"))?;
    let tx = mpsc_bytes::Sender::open(&guard.0).map_err(err("open"))?;
    Ok(pair(tx, rx, guard))
}

fn pipe() -> Result<Pair, String> {
    let (tx, rx) = pipe::pipe_with_max(MAX).map_err(err("pipe"))?;
    Ok(pair(tx, rx, ()))
}

fn fifo() -> Result<Pair, String> {
    let f = fifo::Fifo::create(temp_path("contract-fifo")).map_err(err("mkfifo"))?;
    let rx = fifo::FifoReceiver::open(f.path(), MAX).map_err(err("open reader"))?;
    let tx = fifo::FifoSender::open(f.path(), MAX, Some(Duration::from_secs(5)))
        .map_err(err("open writer"))?;
    Ok(pair(tx, rx, f))
}

fn posix_mq() -> Result<Pair, String> {
    let guard = QueueNameGuard::new("contract-mq");
    let attr = posix_mq::MqAttr {
        max_messages: 10,
        message_size: MAX as usize,
    };
    let tx = posix_mq::PosixMq::create(&guard.0, attr).map_err(err("mq_open create"))?;
    let rx = posix_mq::PosixMq::open(&guard.0).map_err(err("mq_open"))?;
    Ok(pair(tx, rx, guard))
}

fn sysv_mq() -> Result<Pair, String> {
    let tx = sysv_mq::SysvMq::create_private().map_err(err("msgget"))?;
    let guard = SysvGuard {
        id: tx.id(),
        sem: false,
    };
    let rx = sysv_mq::SysvMq::from_id(tx.id()).map_err(err("from_id"))?;
    Ok(pair(tx, rx, guard))
}

fn unix_stream() -> Result<Pair, String> {
    let (a, b) = unix::stream_pair(MAX).map_err(err("socketpair"))?;
    Ok(pair(a, b, ()))
}

fn seqpacket() -> Result<Pair, String> {
    let (a, b) = unix::SeqPacket::pair(MAX as usize).map_err(err("socketpair"))?;
    Ok(pair(a, b, ()))
}

fn datagram() -> Result<Pair, String> {
    let (a, b) = unix::Datagram::pair(MAX as usize).map_err(err("socketpair"))?;
    Ok(pair(a, b, ()))
}

fn tcp() -> Result<Pair, String> {
    let listener = tcp::TcpListener::bind("127.0.0.1:0", MAX).map_err(err("bind"))?;
    let addr = listener.local_addr().map_err(err("local_addr"))?;
    let tx = tcp::connect(addr, MAX, Some(Duration::from_secs(5))).map_err(err("connect"))?;
    let rx = listener
        .accept(Some(Duration::from_secs(5)))
        .map_err(err("accept"))?;
    Ok(pair(tx, rx, listener))
}

fn file_log() -> Result<Pair, String> {
    let guard = FileGuard::new("contract-log");
    let tx = file_log::LogWriter::create(&guard.0, MAX).map_err(err("create"))?;
    let rx = file_log::LogReader::open(&guard.0, MAX).map_err(err("open"))?;
    Ok(pair(tx, rx, guard))
}

/// Every transport under the contract, with what each documents.
const TRANSPORTS: &[Transport] = &[
    Transport::new("shm bytes", shm_bytes),
    Transport::new("shm mpsc_bytes", shm_mpsc_bytes),
    Transport::new("pipe", pipe),
    Transport::new("fifo", fifo),
    Transport::new("posix mq", posix_mq)
        .ends_unaware()
        .fixed_receive_size(),
    Transport::new("sysv mq", sysv_mq)
        .ends_unaware()
        .fixed_receive_size(),
    Transport::new("unix stream", unix_stream),
    Transport::new("unix seqpacket", seqpacket),
    Transport::new("unix datagram", datagram).receiver_unaware(),
    Transport::new("tcp", tcp),
    Transport::new("file log", file_log)
        .ends_unaware()
        .unbounded(),
];

/// A broken transport: a pipe whose sender drops every third message and
/// still answers `Ok`.
struct Lossy {
    inner: pipe::PipeSender,
    sent: u64,
}

impl MessageSender for Lossy {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> IpcResult<()> {
        self.sent += 1;
        if self.sent % 3 == 0 {
            return Ok(());
        }
        self.inner.send_timeout(msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.inner.max_message_len()
    }

    fn flush(&mut self, timeout: Option<Duration>) -> IpcResult<bool> {
        self.inner.flush(timeout)
    }
}

fn lossy_pipe() -> Result<Pair, String> {
    let (tx, rx) = pipe::pipe_with_max(MAX).map_err(err("pipe"))?;
    Ok(pair(Lossy { inner: tx, sent: 0 }, rx, ()))
}

/// The contract's order case fails on [`Lossy`], naming the first message
/// that did not arrive as sent.
fn catches_lost_messages() -> Result<String, String> {
    let lossy = Transport::new("lossy pipe", lossy_pipe);
    let (_, order) = CASES
        .iter()
        .find(|(name, _)| *name == "order")
        .ok_or("no order case")?;
    match order(&lossy) {
        Err(msg) => Ok(format!("caught: {msg}")),
        Ok(()) => Err("the order case passed a sender that drops every third message".into()),
    }
}

fn main() {
    let mut suite = Suite::new();
    for t in TRANSPORTS {
        for &(case, check) in CASES {
            suite = suite.test(format!("{}: {case}", t.name), move || check(t));
        }
    }
    suite
        .test("contract catches a lossy sender", catches_lost_messages)
        .leftovers_checked()
        .queue_leftovers_checked()
        .run()
        .exit();
}
