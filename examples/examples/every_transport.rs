//! The same messages over every transport, through the one message
//! interface.
//!
//! For each mechanism the parent opens its end, starts the peer (this
//! program re-executed with `peer <transport> ...`, which opens the other
//! end), and the *same* two generic functions do the work:
//! [`send_all`] over `impl MessageSender` in the parent and [`recv_all`]
//! over `impl MessageReceiver` in the peer, which checks every message's
//! length and content. The parent prints one line per transport: messages,
//! payload bytes, and the time from the first send until the peer has
//! checked the last message and exited.
//!
//! The messages: 1000 of varied lengths, from 0 to the transport's
//! maximum, both included (64 KiB on the streams, sockets, the file log and
//! the shared-memory rings; the queue limits on POSIX and System V message
//! queues, 8 KiB by default). Two mechanisms carry one word, not bytes:
//! - eventfd: 8-byte messages. In semaphore mode each receive takes 1 from
//!   the counter, so the *count* of messages is kept but every message is
//!   the value 1 (in counter mode sends before a receive add up into one);
//! - signals: 4-byte messages (the `sigqueue` integer), and only 100 of
//!   them: each is a kernel queue entry charged to `RLIMIT_SIGPENDING`
//!   and costs a signal delivery; a notification, not a bulk transport.
//!
//! Every object it creates (shared memory, FIFO, queues, socket files, the
//! log file) is removed, also when a transport fails; the last line checks
//! that nothing is left.
//!
//! Run: `cargo run --release -p ipckit-examples --example every_transport`

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipckit::channel::{bytes, mpsc_bytes};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::shm::{ShmObject, inherit_fd};
use ipckit::transport::eventfd::{EventFd, EventFdMode};
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use ipckit::transport::file_log::{LogReader, LogWriter};
use ipckit::transport::pipe::{PipeReceiver, pipe_with_max};
use ipckit::transport::popen::{Popen, child_stdio};
use ipckit::transport::posix_mq::{MqAttr, MqLimits, PosixMq};
use ipckit::transport::signal::{SignalReceiver, SignalSender, rt_signal};
use ipckit::transport::sysv_mq::SysvMq;
use ipckit::transport::tcp;
use ipckit::transport::unix::{self, Datagram, SeqPacket, SeqPacketListener, UnixAddr};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Messages per transport (signals: [`SIGNAL_COUNT`]).
const COUNT: u64 = 1000;
/// Messages over signals.
const SIGNAL_COUNT: u64 = 100;
/// The maximum message of the streams, sockets and the file log.
const MAX: usize = 64 << 10;
/// The data area of the shared-memory rings: the largest message is half
/// of it less 8 bytes (65 528).
const SHM_CAPACITY: u32 = 128 << 10;
/// The longest any call waits: a broken peer fails the run, never hangs it.
const WAIT: Option<Duration> = Some(Duration::from_secs(30));

// ---------------------------------------------------------------------------
// The messages.

/// What the messages of a transport look like.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Byte messages of 0 to `max` bytes.
    Bytes(usize),
    /// eventfd in semaphore mode: the 8-byte value 1.
    One,
    /// Signals: the 4-byte integer `i + 1`.
    Int,
}

impl Shape {
    fn to_arg(self) -> String {
        match self {
            Shape::Bytes(max) => format!("bytes:{max}"),
            Shape::One => "one".into(),
            Shape::Int => "int".into(),
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "one" => Shape::One,
            "int" => Shape::Int,
            _ => match s.strip_prefix("bytes:") {
                Some(max) => Shape::Bytes(max.parse()?),
                None => return Err(format!("unknown shape {s}").into()),
            },
        })
    }

    /// Message `i`, into `out`.
    fn fill(self, i: u64, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Shape::Bytes(max) => {
                let len = match i % 100 {
                    0 => max,
                    1 => 0,
                    50 => (i as usize).wrapping_mul(7919) % (max + 1),
                    _ => ((i as usize) * 37 % 512).min(max),
                };
                out.extend((0..len).map(|j| (i.wrapping_mul(131) as usize ^ (j * 7)) as u8));
            }
            Shape::One => out.extend_from_slice(&1u64.to_ne_bytes()),
            Shape::Int => out.extend_from_slice(&(i as i32 + 1).to_ne_bytes()),
        }
    }
}

// ---------------------------------------------------------------------------
// The work: the same two functions for every transport.

/// Sends the `count` messages of `shape`, then flushes (a stream transport
/// may hold the rest of a frame); returns the payload bytes.
fn send_all(tx: &mut impl MessageSender, shape: Shape, count: u64) -> Result<u64> {
    if let Shape::Bytes(max) = shape {
        if tx.max_message_len() < max {
            return Err(format!("carries {} bytes, {max} needed", tx.max_message_len()).into());
        }
    }
    let mut msg = Vec::new();
    let mut total = 0;
    for i in 0..count {
        shape.fill(i, &mut msg);
        tx.send_timeout(&msg, WAIT)?;
        total += msg.len() as u64;
    }
    if !tx.flush(WAIT)? {
        return Err("a frame still pending after flush".into());
    }
    Ok(total)
}

/// Receives the `count` messages of `shape` and checks each.
fn recv_all(rx: &mut impl MessageReceiver, shape: Shape, count: u64) -> Result<()> {
    let mut buf = vec![0u8; rx.max_message_len().min(16 << 20)];
    let mut expected = Vec::new();
    for i in 0..count {
        let n = rx.recv_timeout(&mut buf, WAIT)?;
        shape.fill(i, &mut expected);
        if buf[..n] != expected[..] {
            return Err(format!("message {i}: {n} bytes, not the {} sent", expected.len()).into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The transports.

#[derive(Debug, Clone, Copy)]
enum Transport {
    ShmBytes,
    ShmMpsc,
    Pipe,
    Fifo,
    PosixMq,
    SysvMq,
    UnixStream,
    UnixDatagram,
    UnixSeqPacket,
    Tcp,
    FileLog,
    EventFd,
    Signal,
    Popen,
}

impl Transport {
    const ALL: [Transport; 14] = [
        Transport::ShmBytes,
        Transport::ShmMpsc,
        Transport::Pipe,
        Transport::Fifo,
        Transport::PosixMq,
        Transport::SysvMq,
        Transport::UnixStream,
        Transport::UnixDatagram,
        Transport::UnixSeqPacket,
        Transport::Tcp,
        Transport::FileLog,
        Transport::EventFd,
        Transport::Signal,
        Transport::Popen,
    ];

    /// The name on the command line and in the table.
    fn key(self) -> &'static str {
        match self {
            Transport::ShmBytes => "shm-bytes",
            Transport::ShmMpsc => "shm-mpsc-bytes",
            Transport::Pipe => "pipe",
            Transport::Fifo => "fifo",
            Transport::PosixMq => "posix-mq",
            Transport::SysvMq => "sysv-mq",
            Transport::UnixStream => "unix-stream",
            Transport::UnixDatagram => "unix-datagram",
            Transport::UnixSeqPacket => "unix-seqpacket",
            Transport::Tcp => "tcp-loopback",
            Transport::FileLog => "file-log",
            Transport::EventFd => "eventfd",
            Transport::Signal => "signal",
            Transport::Popen => "popen",
        }
    }

    fn from_key(key: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.key() == key)
            .ok_or_else(|| format!("unknown transport {key}").into())
    }
}

/// The prefix of every name this run creates.
fn prefix() -> String {
    format!("ipckit-every-{}-", std::process::id())
}

/// A name for this run's object `what`.
fn name(what: &str) -> String {
    format!("{}{what}", prefix())
}

fn temp_path(what: &str) -> PathBuf {
    std::env::temp_dir().join(name(what))
}

/// Runs its closure when dropped: removes what a transport created, on
/// success and on error alike.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// The peer process; killed and reaped if dropped before it was waited
/// for.
struct Peer(Child);

impl Peer {
    /// Waits for the peer and fails unless it exited with success.
    fn finish(mut self) -> Result<()> {
        let status = self.0.wait()?;
        if !status.success() {
            return Err(format!("peer: {status}").into());
        }
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The command that runs this program as the peer of `t`.
fn peer_cmd(t: Transport, shape: Shape, count: u64) -> Result<Command> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["peer", t.key(), &count.to_string(), &shape.to_arg()]);
    Ok(cmd)
}

/// Spawns the peer and waits until it says its end is open (`ready` on its
/// stdout). Takes `cmd` so that descriptors registered on it close here.
fn spawn_ready(mut cmd: Command) -> Result<Peer> {
    let mut peer = Peer(cmd.stdout(Stdio::piped()).spawn()?);
    drop(cmd);
    let out = peer.0.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    if line.trim() != "ready" {
        return Err(format!("peer did not start: {line:?}").into());
    }
    Ok(peer)
}

/// Sends over `tx` to `peer` and waits until it checked everything:
/// `(payload bytes, time)`.
fn timed(
    mut tx: impl MessageSender,
    peer: Peer,
    shape: Shape,
    count: u64,
) -> Result<(u64, Duration)> {
    let t0 = Instant::now();
    let total = send_all(&mut tx, shape, count)?;
    peer.finish()?;
    Ok((total, t0.elapsed()))
}

/// One transport, parent side: `(messages, payload bytes, time)`.
fn run(t: Transport) -> Result<(u64, u64, Duration)> {
    let bytes_shape = Shape::Bytes(MAX);
    let (count, (total, time)) = match t {
        Transport::ShmBytes => {
            let name = name("bytes");
            let tx = bytes::Sender::create(&name, SHM_CAPACITY)?;
            let _rm = OnDrop(|| drop(ShmObject::remove(&name)));
            let shape = Shape::Bytes(tx.max_frame_len() as usize);
            let mut cmd = peer_cmd(t, shape, COUNT)?;
            cmd.arg(&name);
            let peer = spawn_ready(cmd)?;
            (COUNT, timed(tx, peer, shape, COUNT)?)
        }
        Transport::ShmMpsc => {
            let name = name("mpsc");
            let tx = mpsc_bytes::Sender::create(&name, SHM_CAPACITY)?;
            let _rm = OnDrop(|| drop(ShmObject::remove(&name)));
            let shape = Shape::Bytes(tx.max_frame_len() as usize);
            let mut cmd = peer_cmd(t, shape, COUNT)?;
            cmd.arg(&name);
            let peer = spawn_ready(cmd)?;
            (COUNT, timed(tx, peer, shape, COUNT)?)
        }
        Transport::Pipe => {
            let (tx, rx) = pipe_with_max(MAX as u32)?;
            tx.set_capacity(1 << 20)?; // fewer wake-ups for 64 KiB messages
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            let fd = rx.into_child(&mut cmd)?;
            cmd.arg(fd.to_string());
            let peer = spawn_ready(cmd)?;
            (COUNT, timed(tx, peer, bytes_shape, COUNT)?)
        }
        Transport::Fifo => {
            let fifo = Fifo::create(temp_path("fifo"))?; // removed when dropped
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            cmd.arg(fifo.path());
            let peer = spawn_ready(cmd)?;
            let tx = FifoSender::open(fifo.path(), MAX as u32, WAIT)?;
            (COUNT, timed(tx, peer, bytes_shape, COUNT)?)
        }
        Transport::PosixMq => {
            let name = name("mq");
            let limits = MqLimits::read()?;
            let attr = MqAttr {
                max_messages: limits.msg_max.min(10) as usize,
                message_size: limits.msgsize_max.min(8192) as usize,
            };
            let tx = PosixMq::create(&name, attr)?;
            let _rm = OnDrop(|| drop(PosixMq::unlink(&name)));
            let shape = Shape::Bytes(attr.message_size);
            let mut cmd = peer_cmd(t, shape, COUNT)?;
            cmd.arg(&name);
            let peer = spawn_ready(cmd)?;
            (COUNT, timed(tx, peer, shape, COUNT)?)
        }
        Transport::SysvMq => {
            let tx = SysvMq::create_private()?;
            let id = tx.id();
            let _rm = OnDrop(|| drop(SysvMq::remove_id(id)));
            let shape = Shape::Bytes(tx.max_message_len());
            let mut cmd = peer_cmd(t, shape, COUNT)?;
            cmd.arg(id.to_string());
            let peer = spawn_ready(cmd)?;
            (COUNT, timed(tx, peer, shape, COUNT)?)
        }
        Transport::UnixStream => {
            let path = temp_path("stream.sock");
            // The socket file goes when the listener drops.
            let listener = unix::UnixStreamListener::bind(&UnixAddr::path(&path), MAX as u32)?;
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            cmd.arg(&path);
            let peer = spawn_ready(cmd)?;
            let tx = listener.accept(WAIT)?;
            (COUNT, timed(tx, peer, bytes_shape, COUNT)?)
        }
        Transport::UnixDatagram => {
            // The peer binds (and removes) the socket file; this side
            // removes it too, should the peer fail first.
            let path = temp_path("dgram.sock");
            let _rm = OnDrop(|| drop(std::fs::remove_file(&path)));
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            cmd.arg(&path);
            let peer = spawn_ready(cmd)?;
            let tx = Datagram::connect(&UnixAddr::path(&path), MAX)?;
            (COUNT, timed(tx, peer, bytes_shape, COUNT)?)
        }
        Transport::UnixSeqPacket => {
            let path = temp_path("seqpacket.sock");
            let listener = SeqPacketListener::bind(&UnixAddr::path(&path), MAX)?;
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            cmd.arg(&path);
            let peer = spawn_ready(cmd)?;
            let tx = listener.accept(WAIT)?;
            (COUNT, timed(tx, peer, bytes_shape, COUNT)?)
        }
        Transport::Tcp => {
            let listener = tcp::TcpListener::bind("127.0.0.1:0", MAX as u32)?;
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            cmd.arg(listener.local_addr()?.to_string());
            let peer = spawn_ready(cmd)?;
            let tx = listener.accept(WAIT)?;
            (COUNT, timed(tx, peer, bytes_shape, COUNT)?)
        }
        Transport::FileLog => {
            let path = temp_path("log");
            let tx = LogWriter::create(&path, MAX as u32)?;
            let _rm = OnDrop(|| drop(LogWriter::remove(&path)));
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            cmd.arg(&path);
            let peer = spawn_ready(cmd)?;
            (COUNT, timed(tx, peer, bytes_shape, COUNT)?)
        }
        Transport::EventFd => {
            let tx = EventFd::new(0, EventFdMode::Semaphore)?;
            let mut cmd = peer_cmd(t, Shape::One, COUNT)?;
            let fd = inherit_fd(&mut cmd, tx.as_fd())?;
            cmd.arg(fd.to_string());
            let peer = spawn_ready(cmd)?;
            (COUNT, timed(tx, peer, Shape::One, COUNT)?)
        }
        Transport::Signal => {
            let signo = rt_signal(2)?;
            let mut cmd = peer_cmd(t, Shape::Int, SIGNAL_COUNT)?;
            cmd.arg(signo.to_string());
            // The peer blocks the signal before it says `ready`: a signal
            // sent earlier would kill it.
            let peer = spawn_ready(cmd)?;
            let tx = SignalSender::new(peer.0.id(), signo);
            (SIGNAL_COUNT, timed(tx, peer, Shape::Int, SIGNAL_COUNT)?)
        }
        Transport::Popen => {
            let mut cmd = peer_cmd(t, bytes_shape, COUNT)?;
            let mut child = Popen::spawn(&mut cmd, MAX as u32)?;
            let t0 = Instant::now();
            let total = send_all(&mut child, bytes_shape, COUNT)?;
            child.close_stdin()?;
            match child.wait_timeout(WAIT)? {
                Some(s) if s.success() => {}
                other => return Err(format!("popen child: {other:?}").into()),
            }
            (COUNT, (total, t0.elapsed()))
        }
    };
    Ok((count, total, time))
}

// ---------------------------------------------------------------------------
// The peer.

/// Tells the parent that this end is open.
fn ready() -> Result<()> {
    let mut out = std::io::stdout();
    writeln!(out, "ready")?;
    out.flush()?;
    Ok(())
}

/// Takes over the inherited descriptor number `arg`.
fn inherited(arg: &str) -> Result<OwnedFd> {
    let fd: i32 = arg.parse()?;
    // SAFETY: the parent registered this descriptor for inheritance
    // (`inherit_fd`/`into_child`) and passed its number: it is open in
    // this process and nothing else here owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The peer side of `t`: opens the receiving end named by `arg`, says
/// `ready` and receives everything.
fn peer(t: Transport, shape: Shape, count: u64, arg: &str) -> Result<()> {
    match t {
        Transport::ShmBytes => {
            let mut rx = bytes::Receiver::open(arg)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::ShmMpsc => {
            let mut rx = mpsc_bytes::Receiver::open(arg)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::Pipe => {
            let mut rx = PipeReceiver::from_fd(inherited(arg)?, MAX as u32)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::Fifo => {
            let mut rx = FifoReceiver::open(arg, MAX as u32)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::PosixMq => {
            let mut rx = PosixMq::open(arg)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::SysvMq => {
            let mut rx = SysvMq::from_id(arg.parse()?)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::UnixStream => {
            let mut rx = unix::connect_stream(&UnixAddr::path(arg), MAX as u32)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::UnixDatagram => {
            let mut rx = Datagram::bind(&UnixAddr::path(arg), MAX)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::UnixSeqPacket => {
            let mut rx = SeqPacket::connect(&UnixAddr::path(arg), MAX)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::Tcp => {
            let mut rx = tcp::connect(arg, MAX as u32, WAIT)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::FileLog => {
            let mut rx = LogReader::open(arg, MAX as u32)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::EventFd => {
            let mut rx = EventFd::from_fd(inherited(arg)?)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::Signal => {
            // First: block the signal (this process has no other thread).
            let mut rx = SignalReceiver::new(arg.parse()?)?;
            ready()?;
            recv_all(&mut rx, shape, count)
        }
        Transport::Popen => {
            // Frames come on stdin; nothing to announce.
            let (mut rx, _tx) = child_stdio(MAX as u32)?;
            recv_all(&mut rx, shape, count)
        }
    }
}

// ---------------------------------------------------------------------------

/// Objects of this run still present: `/dev/shm`, `/dev/mqueue`, the temp
/// directory.
fn leftovers() -> Vec<PathBuf> {
    let prefix = prefix();
    let mut found = Vec::new();
    for dir in [
        PathBuf::from("/dev/shm"),
        PathBuf::from("/dev/mqueue"),
        std::env::temp_dir(),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("peer") {
        let [_, key, count, shape, rest @ ..] = &args[..] else {
            return Err("usage: peer <transport> <count> <shape> [arg]".into());
        };
        let arg = rest.first().map_or("", String::as_str);
        let t = Transport::from_key(key)?;
        return peer(t, Shape::parse(shape)?, count.parse()?, arg)
            .map_err(|e| format!("peer {key}: {e}").into());
    }

    println!(
        "{:<16} {:>8} {:>12} {:>10} {:>10}",
        "transport", "messages", "bytes", "time", "MB/s"
    );
    let mut failed = 0;
    for t in Transport::ALL {
        match run(t) {
            Ok((count, total, time)) => println!(
                "{:<16} {:>8} {:>12} {:>7.1} ms {:>10.1}",
                t.key(),
                count,
                total,
                time.as_secs_f64() * 1e3,
                total as f64 / time.as_secs_f64() / 1e6
            ),
            Err(e) => {
                println!("{:<16} FAILED: {e}", t.key());
                failed += 1;
            }
        }
    }
    let left = leftovers();
    if left.is_empty() {
        println!("cleanup: nothing left behind");
    } else {
        println!("cleanup: left behind {left:?}");
        failed += 1;
    }
    if failed > 0 {
        return Err(format!("{failed} failure(s)").into());
    }
    Ok(())
}
