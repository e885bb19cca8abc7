//! The stream and socket transports across real processes: pipes (forked
//! and handed to a spawned child), child-process pipes (popen), FIFOs,
//! Unix stream, seqpacket and datagram sockets (filesystem, abstract and
//! socketpair), TCP.
//!
//! For each: the order and content of 100 000 messages of random lengths
//! (0 and the maximum included), the maximum-size message, a peer that
//! exits (at a frame boundary: `PeerGone`; inside a frame: `Truncated`; a
//! reader gone: the sender's `PeerGone`), an oversized message refused
//! with nothing lost, timeouts with frames larger than the kernel's buffer,
//! and cleanup (no FIFO or socket file left behind). Every wait has a
//! deadline. What every transport keeps in one process (small-message
//! timeouts, a full buffer, a too-small receive buffer, an empty message)
//! is the message contract's (`message_contract.rs`).
//!
//! `cargo test -p ipckit --test transport_streams [-- <filter>]`.
//!
//! The binary is also its own peer for the spawned-child tests: with
//! `IPCKIT_TS_CHILD=<mode>` in its environment it runs that child mode.

mod support;

#[path = "transport_streams/pipes.rs"]
mod pipes;
#[path = "transport_streams/scenarios.rs"]
mod scenarios;
#[path = "transport_streams/sockets.rs"]
mod sockets;

use pipes::*;
use scenarios::*;
use sockets::*;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use ipckit::transport::pipe::{PipeReceiver, PipeSender, pipe_with_max};
use ipckit::transport::popen::{Popen, child_stdio};
use ipckit::transport::tcp;
use ipckit::transport::unix::{
    self, Datagram, SeqPacket, SeqPacketListener, UnixAddr, UnixStreamListener,
};
use support::messages::{check, ferr, fill, msg_len, receive_sequence, send_sequence, serr};
use support::{
    Backoff, ChildFail, DEADLINE, EXIT_CHECK, EXIT_OK, Rng, child_main, fail, fork_child,
    unique_name,
};
use support::{Suite, TestFn, temp_path};

pub(crate) type TestResult = Result<(), String>;

/// Messages of the order test.
pub(crate) const MESSAGES: u64 = 100_000;
/// The maximum message length of the order tests.
pub(crate) const ORDER_MAX: usize = 16 << 10;
/// The environment variable that selects a child mode.
pub(crate) const CHILD_ENV: &str = "IPCKIT_TS_CHILD";
/// The environment variable that carries an inherited descriptor number.
pub(crate) const FD_ENV: &str = "IPCKIT_TS_FD";

// ---------------------------------------------------------------------------
// Child modes (spawned: this binary with IPCKIT_TS_CHILD set).

fn child_mode(mode: &str) -> i32 {
    child_main(|| match mode {
        "echo" => {
            let (mut rx, mut tx) = child_stdio(1 << 20).map_err(|e| ferr("stdio", e))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
                    Ok(n) => tx
                        .send_timeout(&buf[..n], Some(DEADLINE))
                        .map_err(|e| ferr("echo send", e))?,
                    Err(e) if e.is_peer_gone() => return Ok(()),
                    Err(e) => return Err(ferr("echo recv", e)),
                }
            }
        }
        "exit7" => std::process::exit(7),
        "truncate" => {
            let (_rx, mut tx) = child_stdio(1024).map_err(|e| ferr("stdio", e))?;
            tx.write_raw(&CUT, Some(DEADLINE))
                .map(|_| ())
                .map_err(|e| ferr("write", e))
        }
        "stubborn" => {
            // Ignores the end of its input; only SIGKILL ends it.
            std::thread::sleep(DEADLINE);
            Ok(())
        }
        "pipe_reader" => {
            let fd: i32 = std::env::var(FD_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| fail(EXIT_CHECK, "no fd"))?;
            // SAFETY: the parent handed this descriptor to us (into_child)
            // and nothing else in this process owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut rx =
                PipeReceiver::from_fd(fd, ORDER_MAX as u32).map_err(|e| ferr("from_fd", e))?;
            receive_all(&mut rx, MESSAGES, ORDER_MAX, End::PeerGone)
        }
        _ => Err(fail(EXIT_CHECK, format!("unknown child mode {mode}"))),
    })
}

// ---------------------------------------------------------------------------

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        std::process::exit(child_mode(&mode));
    }
    let tests: &[(&str, TestFn<()>)] = &[
        ("pipe_order", pipe_order),
        ("pipe_max", pipe_max),
        ("pipe_writer_exits", pipe_writer_exits),
        ("pipe_reader_exits", pipe_reader_exits),
        ("pipe_timeouts", pipe_timeouts),
        ("pipe_capacity", pipe_capacity),
        ("pipe_spawned_child", pipe_spawned_child),
        ("fifo_order", fifo_order),
        ("fifo_max", fifo_max),
        ("fifo_peers_exit", fifo_peers_exit),
        ("fifo_open_rules", fifo_open_rules),
        ("fifo_timeouts", fifo_timeouts),
        ("unix_stream_order", unix_stream_order),
        ("unix_stream_max", unix_stream_max),
        ("unix_stream_peers_exit", unix_stream_peers_exit),
        ("unix_stream_timeouts", unix_stream_timeouts),
        ("unix_credentials_and_fds", unix_credentials_and_fds),
        ("unix_addresses", unix_addresses),
        ("unix_server_trust", unix_server_trust),
        ("seqpacket_order", seqpacket_order),
        ("seqpacket_max", seqpacket_max),
        ("seqpacket_peers_exit", seqpacket_peers_exit),
        ("datagram_order", datagram_order),
        ("datagram_max", datagram_max),
        ("datagram_peers_exit", datagram_peers_exit),
        ("tcp_order", tcp_order),
        ("tcp_max", tcp_max),
        ("tcp_peers_exit", tcp_peers_exit),
        ("tcp_nodelay", tcp_nodelay),
        ("popen_order", popen_order),
        ("popen_max_and_exit_status", popen_max_and_exit_status),
        ("popen_drop_policy", popen_drop_policy),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}
