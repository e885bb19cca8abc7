//! Byte topics in one process: frames of every length across the wrap,
//! the errors that name the topic and lose nothing, loans, lag counts,
//! the reliable policy's back-pressure and release of orphaned entries,
//! kind mismatches. (Across real processes: `tests/pubsub_bytes_process.rs`.)

use std::time::Duration;

use super::{BytesTopic, ReliableBytesPublisher, bytes};
use crate::error::{CoreError, Error, Result, Role};
use crate::pubsub::tests::Name;
use crate::pubsub::{Policy, Start, topic};
use crate::shm::SharedMemory;

/// The frame of length `len` at position `i`: bytes that tell both.
fn frame(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (i * 31 + k * 7) as u8).collect()
}

/// The core error in an error naming `what`.
fn named(e: Error, what: &str) -> CoreError {
    assert!(e.to_string().contains(what), "{e} does not name {what}");
    match e {
        Error::Channel { error, .. } => error,
        other => panic!("not a channel error: {other}"),
    }
}

#[test]
fn frames_of_every_length_across_the_wrap() -> Result<()> {
    let name = Name::new("lengths");
    // 4 slots of 64: frames of up to 56 bytes; 57 lengths wrap 14 times.
    let t = bytes(&name.0).capacity(256).max_frame(56).create()?;
    assert_eq!((t.max_frame(), t.slots(), t.capacity()), (56, 4, 256));
    let (mut tx, mut rx) = (t.publisher()?, t.subscriber()?);
    let mut buf = vec![0; 56];
    for round in 0..2 {
        for len in 0..=56 {
            let want = frame(round * 57 + len, len);
            match len % 3 {
                0 => tx.publish(&want)?,
                1 => {
                    let mut loan = tx.loan(len)?;
                    assert_eq!(loan.len(), len);
                    loan.copy_from_slice(&want)?;
                    loan.publish();
                }
                _ => {
                    // A loan of the largest frame, published short.
                    let mut loan = tx.loan(56)?;
                    for (k, b) in want.iter().enumerate().rev() {
                        loan.write_at(k, &[*b])?;
                    }
                    loan.publish_first(len)?;
                }
            }
            let got = match round {
                0 => rx.try_recv_into(&mut buf)?,
                _ => rx.try_read_with(|f| f.copy_to(&mut buf).map(|()| f.len()))??,
            };
            assert_eq!(&buf[..got], &want[..], "length {len}");
        }
    }
    Ok(())
}

#[test]
fn the_object_is_the_frame_ring_padding_and_the_block() -> Result<()> {
    // LAYOUT.md section 18.2's examples.
    let name = Name::new("layout");
    let t = bytes(&name.0).capacity(65536).max_frame(1016).create()?;
    assert_eq!((t.slots(), t.memory().len()), (64, 73728));
    let table = Name::new("layout-table");
    let t = bytes(&table.0).capacity(65536).subscribers(64).create()?;
    assert_eq!(t.memory().len(), 77824 + 4096);
    Ok(())
}

#[test]
fn a_frame_too_long_names_the_topic_and_publishes_nothing() -> Result<()> {
    let name = Name::new("too-long");
    let t = bytes(&name.0).capacity(256).max_frame(56).create()?;
    let (mut tx, mut rx) = (t.publisher()?, t.subscriber()?);
    let long = named(tx.publish(&[1; 57]).unwrap_err(), "too-long");
    assert_eq!(long, CoreError::FrameTooLarge { len: 57, max: 56 });
    let loan = named(tx.loan(57).unwrap_err(), "too-long");
    assert_eq!(loan, CoreError::FrameTooLarge { len: 57, max: 56 });
    let mut loan = tx.loan(4)?;
    let past = named(loan.write_at(2, b"abc").unwrap_err(), "too-long");
    assert_eq!(past, CoreError::OutOfRange { end: 5, len: 4 });
    let short = named(loan.publish_first(5).unwrap_err(), "too-long");
    assert_eq!(short, CoreError::OutOfRange { end: 5, len: 4 });
    assert_eq!((tx.position(), t.tail()), (0, 0));
    assert!(rx.try_recv_into(&mut [0; 56]).unwrap_err().is_empty());
    tx.publish(b"ok")?;
    assert_eq!(rx.try_recv_into(&mut [0; 56])?, 2);
    // An opener that needs longer frames than the topic has is refused.
    let bigger = bytes(&name.0).max_frame(57).open().unwrap_err();
    assert_eq!(named(bigger, "too-long"), CoreError::InvalidCapacity);
    assert_eq!(bytes(&name.0).max_frame(56).open()?.max_frame(), 56);
    Ok(())
}

#[test]
fn a_buffer_too_small_says_what_it_needs_and_loses_nothing() -> Result<()> {
    let name = Name::new("short-buffer");
    let t = bytes(&name.0).capacity(256).max_frame(56).create()?;
    let (mut tx, mut rx) = (t.publisher()?, t.subscriber()?);
    tx.publish(&frame(1, 40))?;
    for tries in [rx.try_recv_into(&mut [0; 39]), rx.recv_into(&mut [0; 8])] {
        let e = named(tries.unwrap_err(), "short-buffer");
        assert_eq!(e, CoreError::BufferTooSmall { required: 40 });
    }
    let mut buf = Vec::new();
    assert_eq!(rx.recv(&mut buf)?, 40);
    assert_eq!(buf, frame(1, 40));
    Ok(())
}

#[test]
fn a_dropped_loan_publishes_nothing() -> Result<()> {
    let name = Name::new("dropped-loan");
    let t = bytes(&name.0).capacity(256).max_frame(56).create()?;
    let (mut tx, mut rx) = (t.publisher()?, t.subscriber()?);
    let mut loan = tx.loan(5)?;
    loan.copy_from_slice(b"never")?;
    drop(loan);
    assert_eq!(tx.position(), 0);
    assert!(rx.try_recv_into(&mut [0; 56]).unwrap_err().is_empty());
    let slow = rx.recv_into_timeout(&mut [0; 56], Duration::from_millis(20));
    assert!(matches!(slow, Err(Error::TimedOut)));
    tx.publish(b"next")?;
    let mut buf = Vec::new();
    assert_eq!((rx.recv(&mut buf)?, &buf[..]), (4, &b"next"[..]));
    Ok(())
}

#[test]
fn a_blocking_read_in_place_waits_for_a_frame() -> Result<()> {
    let name = Name::new("read-with");
    let t = bytes(&name.0).capacity(256).max_frame(56).create()?;
    let (mut tx, mut rx) = (t.publisher()?, t.subscriber()?);
    let short = Duration::from_millis(20);
    let empty = rx.read_with_timeout(short, |_| unreachable!("no frame"));
    assert!(matches!(empty, Err(Error::TimedOut)));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            tx.publish(b"").unwrap(); // an empty frame: taken by the wait
            tx.publish(&frame(7, 33)).unwrap();
        });
        let second = Duration::from_secs(5);
        assert_eq!(rx.read_with_timeout(second, |f| f.len()).unwrap(), 0);
        let got = rx.read_with_timeout(second, |f| {
            let mut b = vec![0; f.len()];
            f.copy_to(&mut b).map(|()| b)
        });
        assert_eq!(got.unwrap().unwrap(), frame(7, 33));
    });
    drop(tx);
    assert!(
        rx.read_with_timeout(short, |f| f.len())
            .unwrap_err()
            .is_peer_gone()
    );
    Ok(())
}

#[test]
fn lag_counts_every_frame_lost() -> Result<()> {
    let name = Name::new("lag");
    let t = bytes(&name.0).capacity(256).max_frame(56).create()?;
    let mut tx = t.publisher()?;
    let mut rx = t.subscriber()?;
    for i in 0..10 {
        tx.publish(&frame(i, i))?;
    }
    let mut buf = [0u8; 56];
    assert!(matches!(rx.try_recv_into(&mut buf), Err(Error::Lagged(6))));
    for i in 6..10 {
        assert_eq!(rx.try_recv_into(&mut buf)?, i);
        assert_eq!(&buf[..i], &frame(i, i)[..]);
    }
    // A subscriber from the oldest frame still there.
    assert_eq!(
        t.subscriber_from(Start::Oldest)?.try_recv_into(&mut buf)?,
        6
    );
    // The publisher leaves: drained, then `PeerGone`.
    tx.publish(b"last")?;
    drop(tx);
    assert_eq!(rx.recv_into(&mut buf)?, 4);
    assert!(rx.try_recv_into(&mut buf).unwrap_err().is_peer_gone());
    assert!(rx.try_read_with(|_| ()).unwrap_err().is_peer_gone());
    // A new publisher: the same subscriber goes on.
    t.publisher()?.publish(b"again")?;
    assert_eq!(rx.try_recv_into(&mut buf)?, 5);
    Ok(())
}

#[test]
fn the_reliable_policy_holds_the_publisher_back() -> Result<()> {
    let name = Name::new("reliable");
    let t = reliable(&name, 128, 24)?;
    assert!(t.publisher().is_err()); // a lossy publisher on a reliable topic
    let mut tx = t.reliable_publisher()?;
    let mut rx = t.subscriber()?;
    for i in 0..4 {
        tx.try_publish(&frame(i, i))?;
    }
    assert!(tx.try_publish(b"x").unwrap_err().is_full());
    assert!(tx.try_loan(1).unwrap_err().is_full());
    let slow = tx.publish_timeout(b"x", Duration::from_millis(20));
    assert!(matches!(slow, Err(Error::TimedOut)));
    assert!(tx.loan_timeout(1, Duration::from_millis(20)).is_err());
    let mut buf = Vec::new();
    assert_eq!(rx.recv(&mut buf)?, 0);
    tx.try_loan(3)?.copy_from_slice(b"abc")?; // opened and dropped: nothing
    let mut loan = tx.loan(3)?;
    loan.copy_from_slice(b"abc")?;
    loan.publish();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..1000 {
                let f = frame(i, i % 25);
                match i % 2 {
                    0 => tx.publish(&f).unwrap(),
                    _ => {
                        let mut loan = tx.loan(f.len()).unwrap();
                        loan.copy_from_slice(&f).unwrap();
                        loan.publish();
                    }
                }
            }
        });
        for i in 1..4 {
            assert_eq!(rx.recv(&mut buf).unwrap(), i);
        }
        assert_eq!(rx.recv(&mut buf).unwrap(), 3); // "abc"
        for i in 0..1000 {
            rx.recv(&mut buf).unwrap();
            assert_eq!(buf, frame(i, i % 25), "frame {i}");
        }
    });
    Ok(())
}

/// A reliable topic of `capacity` bytes, frames up to `max_frame`, 2
/// table entries.
fn reliable(name: &Name, capacity: usize, max_frame: usize) -> Result<BytesTopic> {
    bytes(&name.0)
        .capacity(capacity)
        .max_frame(max_frame)
        .subscribers(2)
        .policy(Policy::Reliable)
        .create()
}

/// Leaves an orphan in the table of `t` (a member no subscriber record
/// names, as one killed before it recorded its entry), then fills the
/// ring of 4 slots with `tx`.
fn orphan_and_fill(t: &BytesTopic, tx: &mut ReliableBytesPublisher) -> Result<()> {
    let orphan = t
        .base
        .ring
        .join_with(crate::futex::Futex::new(), Start::Next)?;
    std::mem::forget(orphan);
    for i in 0..4 {
        tx.try_publish(&[i])?;
    }
    Ok(())
}

#[test]
fn entries_no_live_subscriber_owns_are_released() -> Result<()> {
    let name = Name::new("orphans");
    let t = reliable(&name, 64, 8)?;
    let mut tx = t.reliable_publisher()?;
    orphan_and_fill(&t, &mut tx)?;
    // Full: the first `try_publish` judges and releases the orphan.
    tx.try_publish(&[4])?;
    // The same through `try_loan`: full once, judged on the next call.
    std::thread::sleep(Duration::from_millis(2)); // judged at most once a millisecond
    for i in 5..8 {
        tx.try_publish(&[i])?;
    }
    orphan_and_fill(&t, &mut tx)?;
    assert!(tx.try_loan(1).unwrap_err().is_full());
    tx.try_loan(1)?.publish();
    Ok(())
}

#[test]
fn a_typed_topic_is_no_byte_topic_and_back() -> Result<()> {
    let typed = Name::new("typed");
    let _t = topic::<u64>(&typed.0).create()?;
    let e = named(bytes(&typed.0).open().unwrap_err(), "typed");
    assert!(
        matches!(
            e,
            CoreError::KindMismatch {
                found: 7,
                expected: 8
            }
        ),
        "{e}"
    );
    let frames = Name::new("frames");
    let _b = bytes(&frames.0).create()?;
    let e = named(topic::<u64>(&frames.0).open().unwrap_err(), "frames");
    assert!(
        matches!(
            e,
            CoreError::KindMismatch {
                found: 8,
                expected: 7
            }
        ),
        "{e}"
    );
    // `ipckit ls` lists it with its kind and its ends (the liveness block
    // found behind the frame ring and its table).
    let info = crate::channel::inspect(&frames.0)?;
    assert_eq!(info.kind, Some(crate::ObjectKind::BroadcastFrames));
    // A table that moves the liveness block a page on: 256 + 2048 bytes
    // of ring, 16 entries of 128.
    let table = Name::new("table");
    let t = bytes(&table.0)
        .capacity(2048)
        .max_frame(24)
        .subscribers(16)
        .policy(Policy::Reliable)
        .create()?;
    for (name, t) in [(&frames.0, _b), (&table.0, t)] {
        let (_tx, _rx) = match t.policy() {
            Policy::Lossy => (Some(t.publisher()?), t.subscriber()?),
            Policy::Reliable => (None, t.subscriber()?),
        };
        let _rtx = t.reliable_publisher().ok();
        let info = crate::channel::inspect(name)?;
        let roles: Vec<_> = info.endpoints.iter().map(|e| e.role).collect();
        assert_eq!(roles, [Role::Producer, Role::Consumer], "{:?}", t.policy());
    }
    Ok(())
}
