//! The ping-pong every mechanism runs through: the measuring process sends
//! a message, its peer (this program started again as `peer ...`, on
//! another CPU) sends it straight back, and the measuring side times the
//! round trips. Only the [`Link`] differs between mechanisms.
//!
//! A message is `words` `u64`s (64 B or 64 KiB); the first carries the
//! sequence number (from 1), and [`STOP`] ends the peer's loop. Every side
//! of every mechanism does the same work: it receives each message into
//! its own buffer and sends from a buffer (one copy in, one copy out). No
//! mechanism's zero-copy path is used: iceoryx2 could answer from the
//! received sample, and ipckit's byte channel from a `recv_ref` frame,
//! which would save one copy per hop at 64 KiB.
//!
//! # One turn
//! The measuring side creates both directions' objects, starts the peer,
//! waits for the peer's `ready` line on its stdout (the peer has opened
//! its ends), sends a first message until it is answered (a mechanism may
//! connect late), warms up, then times [`BATCH`] round trips at a time for
//! the turn's time. The turn's value is the median of the batches' mean
//! round trips (one clock read per batch: a clock read per round trip
//! would cost 20-40 ns on a VM, a tenth of the fastest rows).
//!
//! # Nothing hangs
//! A receive that finds nothing for a while (a slice: 100 ms blocking,
//! some 2^16 polls busy) returns `Ok(false)`; the measuring side then
//! looks at the peer (`try_wait`) and fails the turn after [`STALL`] or at
//! once if the peer exited. The peer dies with its parent
//! (`PR_SET_PDEATHSIG`) and is killed and reaped if a turn fails.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use ipckit_testkit::bench::median;

/// The sequence number that makes the peer leave its loop.
pub const STOP: u64 = u64::MAX;
/// How long a blocking receive waits before it returns `Ok(false)`.
pub const SLICE: Duration = Duration::from_millis(100);
/// Polls of a busy receive before it returns `Ok(false)`.
pub const POLLS: u32 = 1 << 16;
/// Round trips timed together (one clock read per batch).
pub const BATCH: usize = 16;
/// Round trips before the timed ones.
const WARM_UP: u64 = 200;
/// The fewest batches a turn times, however long they take.
const MIN_BATCHES: usize = 8;
/// A peer that answers nothing for this long fails the turn.
const STALL: Duration = Duration::from_secs(5);
/// How long the peer may take to start and open its ends.
const READY: Duration = Duration::from_secs(10);

/// One side's two ends of a ping-pong: it sends on one direction and
/// receives on the other.
pub trait Link {
    /// Sends `msg` (blocking, where the mechanism blocks).
    fn send(&mut self, msg: &[u64]) -> Result<(), String>;

    /// Receives the next message into `msg`: `Ok(true)`, or `Ok(false)` when
    /// none came within a slice ([`SLICE`] or [`POLLS`]).
    fn recv(&mut self, msg: &mut [u64]) -> Result<bool, String>;

    /// Called once the peer said it is ready (a channel removes its names
    /// here).
    fn joined(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// What the measuring side starts as its peer.
pub struct PeerSpec<'a> {
    /// The mechanism's command-line name.
    pub mechanism: &'a str,
    /// Message length in `u64`s.
    pub words: usize,
    /// The turn's object or service name.
    pub name: &'a str,
    /// The CPU the peer pins itself to, if any.
    pub cpu: Option<usize>,
    /// How long the turn times round trips.
    pub turn: Duration,
}

/// The peer process; killed and reaped when dropped before it exited.
struct Peer {
    child: Child,
    reaped: bool,
}

impl Peer {
    fn start(spec: &PeerSpec<'_>) -> Result<(Self, ChildStdout), String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("peer")
            .arg(spec.mechanism)
            .arg(spec.words.to_string())
            .arg(spec.name)
            .arg(spec.cpu.map_or("-".into(), |c| c.to_string()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: spawning the peer: {e}", spec.mechanism))?;
        let out = child
            .stdout
            .take()
            .ok_or("the peer's stdout was not piped")?;
        Ok((
            Self {
                child,
                reaped: false,
            },
            out,
        ))
    }

    /// `Err` if the peer has exited.
    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.reaped = true;
                Err(format!("the peer exited ({status})"))
            }
            Err(e) => Err(format!("waiting for the peer: {e}")),
        }
    }

    /// Waits up to `patience` for the peer to exit by itself.
    fn finish(&mut self, patience: Duration) -> Result<(), String> {
        let until = Instant::now() + patience;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                self.reaped = true;
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!("the peer failed ({status})"))
                };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Err("the peer did not stop".into())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for the peer's `ready` line, at most [`READY`]: `poll` on the
/// pipe, so a peer that hangs before printing cannot hang us.
fn wait_ready(out: ChildStdout, peer: &mut Peer) -> Result<(), String> {
    let mut pfd = libc::pollfd {
        fd: out.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid `pollfd` on a descriptor we own for the
    // duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, READY.as_millis() as i32) };
    if n <= 0 {
        peer.check_alive()?;
        return Err(format!("the peer was not ready within {READY:?}"));
    }
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| format!("reading the peer's ready line: {e}"))?;
    if line.trim() == "ready" {
        Ok(())
    } else {
        peer.check_alive()?;
        Err(format!("the peer said {line:?} instead of ready"))
    }
}

/// One turn of the measuring side over `link`: starts the peer, measures,
/// stops the peer. Returns the median of the batches' mean round trips, in
/// nanoseconds.
pub fn drive(link: &mut dyn Link, spec: &PeerSpec<'_>) -> Result<f64, String> {
    let (mut peer, out) = Peer::start(spec)?;
    wait_ready(out, &mut peer)?;
    link.joined()?;
    let mut msg = vec![0u64; spec.words];
    let measured = measure(link, &mut peer, &mut msg, spec.turn);
    // Stop the peer whatever happened (a failed send leaves it to the kill).
    msg[0] = STOP;
    if link.send(&msg).is_ok() {
        let stopped = peer.finish(Duration::from_secs(2));
        if measured.is_ok() {
            stopped?;
        }
    }
    measured
}

fn measure(
    link: &mut dyn Link,
    peer: &mut Peer,
    msg: &mut [u64],
    turn: Duration,
) -> Result<f64, String> {
    let mut seq = 1;
    // The first message is sent again until answered: a mechanism that
    // connects a publisher to a subscriber lazily may drop it.
    while !round_trip(link, peer, msg, seq, true)? {}
    for _ in 0..WARM_UP {
        seq += 1;
        round_trip(link, peer, msg, seq, false)?;
    }
    let mut batches = Vec::new();
    let started = Instant::now();
    while batches.len() < MIN_BATCHES || started.elapsed() < turn {
        let t0 = Instant::now();
        for _ in 0..BATCH {
            seq += 1;
            round_trip(link, peer, msg, seq, false)?;
        }
        batches.push(t0.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    median(&batches).ok_or_else(|| "no batch timed".into())
}

/// Sends `seq` and waits for its answer; older answers (of a resent first
/// message) are skipped. With `once`, returns `Ok(false)` after one silent
/// slice instead of waiting on.
fn round_trip(
    link: &mut dyn Link,
    peer: &mut Peer,
    msg: &mut [u64],
    seq: u64,
    once: bool,
) -> Result<bool, String> {
    msg[0] = seq;
    link.send(msg)?;
    let mut silent_since = None;
    loop {
        if link.recv(msg)? {
            match msg[0] {
                s if s == seq => return Ok(true),
                s if s < seq => continue,
                s => return Err(format!("answer {s} to request {seq}")),
            }
        }
        peer.check_alive()?;
        if once {
            return Ok(false);
        }
        let since = *silent_since.get_or_insert_with(Instant::now);
        if since.elapsed() > STALL {
            return Err(format!("no answer to request {seq} for {STALL:?}"));
        }
    }
}

/// The peer's side over `link`: says `ready`, then echoes until [`STOP`]
/// (or until its parent is gone).
pub fn serve(link: &mut dyn Link, words: usize) -> Result<(), String> {
    use std::io::Write;
    let mut msg = vec![0u64; words];
    // SAFETY: `getppid` has no arguments and cannot fail.
    let parent = unsafe { libc::getppid() };
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    loop {
        if link.recv(&mut msg)? {
            if msg[0] == STOP {
                return Ok(());
            }
            link.send(&msg)?;
        // SAFETY: as above.
        } else if unsafe { libc::getppid() } != parent {
            return Err("the measuring process is gone".into());
        }
    }
}

/// Spins on `f` until it gives `Some`, at most [`POLLS`] times (the busy
/// receives' slice); `Ok(None)` after that.
pub fn poll<T>(mut f: impl FnMut() -> Result<Option<T>, String>) -> Result<Option<T>, String> {
    for _ in 0..POLLS {
        if let Some(v) = f()? {
            return Ok(Some(v));
        }
        core::hint::spin_loop();
    }
    Ok(None)
}

/// Pins the peer and makes it die with its parent.
pub fn peer_setup(cpu: Option<usize>) {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if let Some(cpu) = cpu {
        let _ = ipckit_testkit::pin::pin_to(cpu);
    }
}
