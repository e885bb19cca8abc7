//! C peers written from `docs/LAYOUT.md` alone (`foreign_c/*.c`, with
//! `foreign_c/channel.h`) talk to Rust channel endpoints: the proof that the
//! document suffices.
//!
//! The tests compile the peers with the system C compiler (`$CC`, else
//! `cc`) and skip, saying why, when there is none.
//!
//! `spsc_peer.c` (typed channels, kind 1): the Rust side creates two SPSC
//! channels of `u64` (capacity 64); the C peer opens both by name, records
//! itself in their liveness blocks, and echoes the complement of every item
//! it receives: 100,000 items each way, both sides blocking in shared
//! futexes whenever the ring is empty or full. Then 100 ping-pongs in which
//! each side waits for the other: the C peer waits 2 ms before each reply,
//! so the Rust receiver is asleep in its futex and only the C peer's wake
//! gets it out before its 50 ms liveness slice; the Rust sender waits 1 ms
//! before each ping, so the C peer sleeps and only the Rust side's wake gets
//! it out (it sleeps without a timeout). When the C peer has closed its
//! liveness slots and exited, the Rust receiver reports `PeerGone`.
//!
//! `frame_peer.c` (byte channels, kind 4): 100,000 frames of 0 to 120
//! bytes each way through rings of 256 bytes, so that records wrap behind
//! padding records every few frames; the peer echoes each frame with its
//! bytes complemented.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ipckit::channel::bytes;
use ipckit::channel::spsc::{Receiver, Sender};
use ipckit::shm::ShmObject;

const ITEMS: u64 = 100_000;
const PINGS: u64 = 100;
const REPLY_DELAY_US: u64 = 2000;
/// Any single receive or send: far above every honest wait of this test.
const PATIENCE: Duration = Duration::from_secs(10);

/// The compiled peer `name` (`foreign_c/<name>.c`), or `None` (with the
/// reason printed) without a C compiler.
fn compile_peer(name: &str) -> Option<PathBuf> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let source = PathBuf::from(dir).join(format!("tests/foreign_c/{name}.c"));
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("ipckit_{name}"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let output = Command::new(&cc)
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&source)
        .arg("-lrt")
        .output();
    match output {
        Err(e) => {
            println!("SKIPPED: no C compiler ({cc}: {e})");
            None
        }
        Ok(out) => {
            assert!(
                out.status.success(),
                "{cc} failed on {}:\n{}",
                source.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            Some(exe)
        }
    }
}

/// Removes the channel names and kills the peer, whatever happens.
struct Cleanup {
    names: [String; 2],
    child: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in &self.names {
            let _ = ShmObject::remove(name);
        }
    }
}

#[test]
fn a_c_peer_from_the_layout_doc_exchanges_items_with_rust() {
    let Some(peer) = compile_peer("spsc_peer") else {
        return;
    };
    let started = Instant::now();
    let pid = std::process::id();
    let names = [
        format!("ipckit-test-foreign-c-{pid}-to-c"),
        format!("ipckit-test-foreign-c-{pid}-from-c"),
    ];
    let mut cleanup = Cleanup {
        names: names.clone(),
        child: None,
    };
    let mut tx = Sender::<u64>::create(&names[0], 64).expect("create the channel to C");
    let mut rx = Receiver::<u64>::create(&names[1], 64).expect("create the channel from C");
    let child = Command::new(&peer)
        .args([&names[0], &names[1]])
        .arg((ITEMS).to_string())
        .arg(PINGS.to_string())
        .arg(REPLY_DELAY_US.to_string())
        .spawn()
        .expect("spawn the C peer");
    let child = cleanup.child.insert(child);

    // 100,000 each way: a thread sends while this one receives.
    let sender = std::thread::spawn(move || {
        for i in 0..ITEMS {
            let item = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            tx.send_timeout(item, PATIENCE).expect("send to C");
        }
        tx
    });
    for i in 0..ITEMS {
        let item = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let got = rx.recv_timeout(PATIENCE).expect("receive from C");
        assert_eq!(got, !item, "item {i}");
    }
    let mut tx = sender.join().expect("sender thread");
    let bulk = started.elapsed();

    // Ping-pong: each side sleeps in its futex and the other must wake it.
    let pinging = Instant::now();
    for k in 0..PINGS {
        std::thread::sleep(Duration::from_millis(1));
        tx.send_timeout(k, PATIENCE).expect("ping");
        assert_eq!(rx.recv_timeout(PATIENCE).expect("pong"), !k);
    }
    let pings = pinging.elapsed();

    let status = child.wait().expect("wait for the C peer");
    cleanup.child = None;
    assert!(status.success(), "the C peer failed: {status}");
    // The peer closed its liveness slot: the receiver learns it at once
    // (nothing queued), the sender as soon as it would block.
    let gone = rx.recv_timeout(PATIENCE).expect_err("nothing more comes");
    assert!(gone.is_peer_gone(), "{gone}");
    println!(
        "C peer: {ITEMS} items each way in {bulk:?}; {PINGS} ping-pongs in {pings:?} \
         ({:?} each, {REPLY_DELAY_US} us of it the peer's delay)",
        pings / PINGS as u32
    );
    // Without the C peer's wake, each pong would wait out the Rust side's
    // 50 ms liveness slice: 100 × 50 ms = 5 s.
    assert!(
        pings < Duration::from_millis(2500),
        "ping-pongs took {pings:?}: the C peer's futex wake does not reach the Rust receiver"
    );
}

/// Frame `i` of the byte-channel test: 0 to 120 bytes.
fn frame(i: u64, buf: &mut [u8]) -> &[u8] {
    let len = (i * 7 % 121) as usize;
    for (j, b) in buf[..len].iter_mut().enumerate() {
        *b = (i as usize + j) as u8;
    }
    &buf[..len]
}

#[test]
fn a_c_frame_peer_from_the_layout_doc_exchanges_frames_with_rust() {
    let Some(peer) = compile_peer("frame_peer") else {
        return;
    };
    let started = Instant::now();
    let pid = std::process::id();
    let names = [
        format!("ipckit-test-foreign-c-{pid}-frames-to-c"),
        format!("ipckit-test-foreign-c-{pid}-frames-from-c"),
    ];
    let mut cleanup = Cleanup {
        names: names.clone(),
        child: None,
    };
    let mut tx = bytes::Sender::create(&names[0], 256).expect("create the channel to C");
    let mut rx = bytes::Receiver::create(&names[1], 256).expect("create the channel from C");
    assert_eq!(tx.max_frame_len(), 120);
    let child = Command::new(&peer)
        .args([&names[0], &names[1]])
        .arg(ITEMS.to_string())
        .spawn()
        .expect("spawn the C peer");
    let child = cleanup.child.insert(child);
    let sender = std::thread::spawn(move || {
        let mut buf = [0; 120];
        for i in 0..ITEMS {
            tx.send_timeout(frame(i, &mut buf), PATIENCE)
                .expect("send to C");
        }
        tx
    });
    let (mut want, mut got) = ([0; 120], [0; 128]);
    for i in 0..ITEMS {
        let want = frame(i, &mut want);
        let n = rx.recv_timeout(&mut got, PATIENCE).expect("receive from C");
        assert_eq!(n, want.len(), "frame {i}: length");
        assert!(
            got[..n].iter().zip(want).all(|(g, w)| *g == !*w),
            "frame {i}: bytes"
        );
    }
    let _tx = sender.join().expect("sender thread");
    let status = child.wait().expect("wait for the C peer");
    cleanup.child = None;
    assert!(status.success(), "the C peer failed: {status}");
    let gone = rx
        .recv_timeout(&mut got, PATIENCE)
        .expect_err("nothing more comes");
    assert!(gone.is_peer_gone(), "{gone}");
    println!(
        "C frame peer: {ITEMS} frames each way in {:?}",
        started.elapsed()
    );
}
