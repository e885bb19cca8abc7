use std::collections::BTreeSet;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::message::MessageSender;
use crate::transport::eventfd::{EventFd, EventFdMode};
use crate::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use crate::transport::pipe::raw_pipe;
use crate::transport::stream::Framed;
use crate::transport::unix::{Datagram, stream_pair};

const LONG: Option<Duration> = Some(Duration::from_secs(5));

/// One watched source of the mixed test (pipe, eventfd, Unix datagram
/// socket, Unix stream socket, FIFO) and how to make it ready.
enum Kind {
    Pipe {
        read: OwnedFd,
        write: std::fs::File,
    },
    Event(EventFd),
    Dgram {
        watched: Datagram,
        peer: Datagram,
    },
    Fifo {
        rx: FifoReceiver,
        tx: FifoSender,
        _node: Fifo,
    },
    Stream {
        watched: Framed<UnixStream>,
        peer: Framed<UnixStream>,
    },
}

impl Kind {
    fn new(i: usize) -> Self {
        match i % 5 {
            0 => {
                let (read, write) = raw_pipe().unwrap();
                Kind::Pipe {
                    read,
                    write: write.into(),
                }
            }
            1 => Kind::Event(EventFd::new(0, EventFdMode::Counter).unwrap()),
            2 => {
                let (watched, peer) = Datagram::pair(64).unwrap();
                Kind::Dgram { watched, peer }
            }
            3 => {
                let (watched, peer) = stream_pair(64).unwrap();
                Kind::Stream { watched, peer }
            }
            _ => {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path =
                    std::env::temp_dir().join(format!("ipckit-waitset-{}-{n}", std::process::id()));
                let node = Fifo::create(&path).unwrap(); // unlinked when dropped
                let rx = FifoReceiver::open(&path, 64).unwrap();
                let tx = FifoSender::open(&path, 64, LONG).unwrap();
                Kind::Fifo {
                    rx,
                    tx,
                    _node: node,
                }
            }
        }
    }

    fn watched(&self) -> BorrowedFd<'_> {
        match self {
            Kind::Pipe { read, .. } => read.as_fd(),
            Kind::Event(e) => e.as_fd(),
            Kind::Dgram { watched, .. } => watched.as_fd(),
            Kind::Fifo { rx, .. } => rx.as_fd(),
            Kind::Stream { watched, .. } => watched.as_fd(),
        }
    }

    fn make_ready(&mut self) {
        match self {
            Kind::Pipe { write, .. } => write.write_all(b"x").unwrap(),
            Kind::Event(e) => e.notify(1).unwrap(),
            Kind::Dgram { peer, .. } => peer.send(b"x").unwrap(),
            Kind::Fifo { tx, .. } => tx.send(b"x").unwrap(),
            Kind::Stream { peer, .. } => peer.send(b"x").unwrap(),
        }
    }
}

/// Every token reported by one wait (asserting each is readable only).
fn readable_tokens(set: &mut WaitSet) -> BTreeSet<Token> {
    let ready = set.wait(LONG).unwrap();
    ready
        .iter()
        .map(|(t, r)| {
            assert!(
                r.readable && !r.writable && !r.hangup && !r.error,
                "{t}: {r:?}"
            );
            assert_eq!(r.timer_ticks, 0);
            t
        })
        .collect()
}

#[test]
fn reports_exactly_the_ready_subset_of_64_mixed_descriptors() {
    let mut set = WaitSet::new().unwrap();
    // Random subsets (xorshift, fixed seed); each round on fresh sources in
    // the same set, the previous round's removed first.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..3 {
        let mut sources: Vec<Kind> = (0..64).map(Kind::new).collect();
        let tokens: Vec<Token> = sources
            .iter()
            .map(|s| set.add(&s.watched(), Interest::READABLE).unwrap())
            .collect();
        assert_eq!(set.len(), 64);
        assert!(set.wait(Some(Duration::ZERO)).unwrap().is_empty());
        let mut chosen = BTreeSet::new();
        for (i, source) in sources.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 3 == 0 || i == 63 {
                source.make_ready();
                chosen.insert(tokens[i]);
            }
        }
        assert_eq!(readable_tokens(&mut set), chosen, "round {round}");
        // Level-triggered: still ready until consumed.
        assert_eq!(readable_tokens(&mut set), chosen, "round {round}, again");
        for t in tokens {
            set.remove(t).unwrap();
        }
        assert!(set.is_empty());
    }
}

#[test]
fn writable_interest_reports_room_and_a_full_pipe_reports_none() {
    let (read, write) = raw_pipe().unwrap();
    let mut set = WaitSet::new().unwrap();
    let w = set.add(&write, Interest::WRITABLE).unwrap();
    let r = set
        .add(&read, Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    let ready = set.wait(LONG).unwrap();
    assert_eq!(ready.len(), 1, "{ready:?}");
    let got = ready.get(w).unwrap();
    assert!(got.writable && !got.readable);
    // Fill the pipe (non-blocking): then the write end is not writable, and
    // the read end readable (never writable: it is a read end).
    // SAFETY: our open descriptor.
    unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut file = std::fs::File::from(write.try_clone().unwrap());
    while file.write(&[0; 4096]).is_ok() {}
    let ready = set.wait(LONG).unwrap();
    assert_eq!(ready.iter().map(|(t, _)| t).collect::<Vec<_>>(), [r]);
    assert!(ready.get(r).unwrap().readable && !ready.get(r).unwrap().writable);
}

#[test]
fn one_shot_timer_ticks_once_and_periodic_counts_missed_periods() {
    let mut set = WaitSet::new().unwrap();
    let start = Instant::now();
    let once = set
        .add_timer(Timer::after(Duration::from_millis(20)))
        .unwrap();
    let ready = set.wait(LONG).unwrap();
    assert_eq!(ready.get(once).map(|r| r.timer_ticks), Some(1));
    assert!(start.elapsed() >= Duration::from_millis(20));
    // Read by the set: not reported again, and a one-shot timer never
    // ticks again.
    assert!(
        set.wait(Some(Duration::from_millis(50)))
            .unwrap()
            .is_empty()
    );

    let every = set
        .add_timer(Timer::every(Duration::from_millis(10)))
        .unwrap();
    assert_eq!(set.wait(LONG).unwrap().get(every).unwrap().timer_ticks, 1);
    // Late by 10+ periods: one report with the count.
    std::thread::sleep(Duration::from_millis(120));
    let ready = set.wait(LONG).unwrap();
    let r = ready.get(every).unwrap();
    assert!(r.timer_ticks >= 10, "{r:?}");
    assert!(!r.readable && !r.writable && !r.hangup && !r.error);
    set.remove(every).unwrap();
    set.remove(once).unwrap();
    assert!(
        set.wait(Some(Duration::from_millis(30)))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn zero_period_is_refused_and_zero_delay_fires_at_once() {
    let mut set = WaitSet::new().unwrap();
    let e = set.add_timer(Timer::every(Duration::ZERO)).unwrap_err();
    assert!(e.to_string().contains("period above zero"), "{e}");
    let t = set.add_timer(Timer::after(Duration::ZERO)).unwrap();
    assert_eq!(set.wait(LONG).unwrap().get(t).unwrap().timer_ticks, 1);
}

#[test]
fn timeout_with_nothing_ready_returns_empty_after_the_timeout() {
    let efd = EventFd::new(0, EventFdMode::Counter).unwrap();
    let mut set = WaitSet::new().unwrap();
    set.add(&efd, Interest::READABLE).unwrap();
    for timeout in [
        Duration::ZERO,
        Duration::from_micros(300),
        Duration::from_millis(30),
    ] {
        let start = Instant::now();
        assert!(set.wait(Some(timeout)).unwrap().is_empty());
        let took = start.elapsed();
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(1),
            "{took:?}"
        );
    }
    // An empty set may sleep for a time, not forever.
    let mut empty = WaitSet::new().unwrap();
    assert!(
        empty
            .wait(Some(Duration::from_millis(1)))
            .unwrap()
            .is_empty()
    );
    let e = empty.wait(None).unwrap_err();
    assert!(
        e.to_string().contains("empty and there is no timeout"),
        "{e}"
    );
}

#[test]
fn remove_stops_reports_and_unknown_tokens_are_named() {
    let a = EventFd::new(1, EventFdMode::Counter).unwrap();
    let b = EventFd::new(1, EventFdMode::Counter).unwrap();
    let mut set = WaitSet::new().unwrap();
    let ta = set.add(&a, Interest::READABLE).unwrap();
    let tb = set.add(&b, Interest::READABLE).unwrap();
    assert_eq!(set.wait(LONG).unwrap().len(), 2);
    set.remove(ta).unwrap();
    let ready = set.wait(LONG).unwrap();
    assert_eq!(ready.iter().map(|(t, _)| t).collect::<Vec<_>>(), [tb]);
    let e = set.remove(ta).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert!(
        e.to_string().contains(&format!("token {}", ta.get())),
        "{e}"
    );
    // The same open file twice is refused.
    assert!(matches!(
        set.add(&b, Interest::READABLE),
        Err(Error::AlreadyExists(_))
    ));
    // A source closed before its remove: the token is forgotten anyway.
    drop(b);
    set.remove(tb).unwrap();
    assert!(set.is_empty());
}

#[test]
fn a_source_closed_before_remove_while_its_file_lives_is_an_error_not_a_spin() {
    let efd = EventFd::new(1, EventFdMode::Counter).unwrap();
    let dup = efd.as_fd().try_clone_to_owned().unwrap();
    let live = EventFd::new(0, EventFdMode::Counter).unwrap();
    let mut set = WaitSet::new().unwrap();
    let stale = set.add(&efd, Interest::READABLE).unwrap();
    let tl = set.add(&live, Interest::READABLE).unwrap();
    // Closed without remove: the duplicate keeps the registration alive.
    drop(efd);
    assert!(set.wait(LONG).unwrap().get(stale).is_some());
    // DEL on the closed number fails (EBADF); the token goes regardless.
    set.remove(stale).unwrap();
    // Another source ready: reported, the leftover dropped.
    live.notify(1).unwrap();
    let ready = set.wait(LONG).unwrap();
    assert_eq!(ready.iter().map(|(t, _)| t).collect::<Vec<_>>(), [tl]);
    live.wait().unwrap();
    // Nothing else: an error naming the removed token, at once.
    let start = Instant::now();
    let e = set.wait(LONG).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    let text = e.to_string();
    assert!(
        text.contains(&stale.to_string()) && text.contains("closed before"),
        "{text}"
    );
    // Also with no live source left in the set.
    set.remove(tl).unwrap();
    assert!(set.wait(LONG).is_err());
    // The last reference gone, the kernel drops it: waits work again.
    drop(dup);
    assert!(
        set.wait(Some(Duration::from_millis(20)))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn peer_close_is_reported_as_hangup() {
    let (read, write) = raw_pipe().unwrap();
    let (sock, peer) = crate::transport::unix::SeqPacket::pair(64).unwrap();
    let mut set = WaitSet::new().unwrap();
    let tp = set.add(&read, Interest::READABLE).unwrap();
    let ts = set.add(&sock, Interest::READABLE).unwrap();
    assert!(set.wait(Some(Duration::ZERO)).unwrap().is_empty());
    drop(write);
    drop(peer);
    let ready = set.wait(LONG).unwrap();
    // Both closes happened before the wait: both are reported.
    assert!(ready.get(tp).unwrap().hangup, "{ready:?}");
    assert!(ready.get(ts).unwrap().hangup, "{ready:?}");
    // A pipe's write end with no reader left: an error condition.
    let (read, write) = raw_pipe().unwrap();
    let tw = set.add(&write, Interest::WRITABLE).unwrap();
    drop(read);
    let r = set.wait(LONG).unwrap().get(tw).unwrap();
    assert!(r.error, "{r:?}");
    set.remove(tw).unwrap();
}

#[test]
fn a_set_nests_in_another_through_its_descriptor() {
    let efd = EventFd::new(0, EventFdMode::Counter).unwrap();
    let mut inner = WaitSet::new().unwrap();
    let ti = inner.add(&efd, Interest::READABLE).unwrap();
    let mut outer = WaitSet::new().unwrap();
    let to = outer.add(&inner, Interest::READABLE).unwrap();
    assert!(outer.wait(Some(Duration::ZERO)).unwrap().is_empty());
    efd.notify(1).unwrap();
    assert!(outer.wait(LONG).unwrap().get(to).unwrap().readable);
    assert!(inner.wait(Some(Duration::ZERO)).unwrap().get(ti).is_some());
}

extern "C" fn ignore_signal(_: libc::c_int) {}

#[test]
fn a_signal_does_not_end_the_wait_early() {
    // A no-op handler for SIGURG (default action: ignored, so this changes
    // nothing for other tests) makes the signal interrupt epoll_wait.
    // SAFETY: a zeroed sigaction with a valid handler; installing it is
    // process-wide, and the handler does nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        assert_eq!(libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut()), 0);
    }
    let timeout = Duration::from_millis(200);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        // SAFETY: plain call.
        tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut set = WaitSet::new().unwrap();
        let efd = EventFd::new(0, EventFdMode::Counter).unwrap();
        set.add(&efd, Interest::READABLE).unwrap();
        let start = Instant::now();
        let empty = set.wait(Some(timeout)).unwrap().is_empty();
        (empty, start.elapsed())
    });
    let thread = rx.recv().unwrap();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(20));
        // SAFETY: the thread lives until it has waited `timeout`, longer
        // than these 100 ms.
        unsafe { libc::pthread_kill(thread, libc::SIGURG) };
    }
    let (empty, took) = waiter.join().unwrap();
    assert!(empty);
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(1),
        "{took:?}"
    );
}

#[test]
fn a_framed_pipe_needs_draining_after_a_report() {
    use crate::message::MessageReceiver;
    use crate::transport::pipe::pipe;
    let (mut tx, mut rx) = pipe().unwrap();
    let mut set = WaitSet::new().unwrap();
    let t = set.add(&rx, Interest::READABLE).unwrap();
    tx.send(b"one").unwrap();
    tx.send(b"two").unwrap();
    assert!(set.wait(LONG).unwrap().get(t).unwrap().readable);
    let mut buf = [0; 8];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), 3);
    // The reader took both frames in one read: the second waits in its
    // buffer, and the descriptor is no longer readable.
    assert!(set.wait(Some(Duration::ZERO)).unwrap().is_empty());
    assert_eq!(rx.try_recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"two");
    assert!(rx.try_recv(&mut buf).unwrap_err().is_empty());
}
