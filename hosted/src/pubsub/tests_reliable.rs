//! Reliable topics in one process: the policy and table recorded and
//! checked, back-pressure, the release of entries no live subscriber owns,
//! a full table. (Across processes, with kills:
//! `tests/pubsub_reliable_process.rs`.)

use std::time::Duration;

use super::Name;
use crate::channel;
use crate::error::{CoreError, Error, Result, Role};
use crate::pubsub::{Policy, Start, topic};
use crate::shm::SharedMemory;

fn reliable(name: &Name, capacity: usize, subscribers: usize) -> Result<crate::pubsub::Topic<u64>> {
    topic::<u64>(&name.0)
        .capacity(capacity)
        .subscribers(subscribers)
        .policy(Policy::Reliable)
        .create()
}

/// The core error of an `Error::Channel` naming `what`.
fn channel_error(e: Error, what: &str) -> CoreError {
    match e {
        Error::Channel { name, error, .. } if name.contains(what) => error,
        other => panic!("{other:?}"),
    }
}

#[test]
fn policy_and_table_are_recorded_and_checked() -> Result<()> {
    let name = Name::new("recorded");
    let created = reliable(&name, 16, 4)?;
    assert_eq!(
        (created.policy(), created.subscribers()),
        (Policy::Reliable, 4)
    );
    let opened = topic::<u64>(&name.0).open()?;
    assert_eq!(
        (opened.policy(), opened.subscribers()),
        (Policy::Reliable, 4)
    );
    let same = topic::<u64>(&name.0)
        .subscribers(4)
        .policy(Policy::Reliable)
        .open()?;
    assert_eq!(same.subscribers(), 4);
    let lossy = topic::<u64>(&name.0)
        .policy(Policy::Lossy)
        .open()
        .unwrap_err();
    assert_eq!(channel_error(lossy, "recorded"), CoreError::PolicyMismatch);
    let eight = topic::<u64>(&name.0).subscribers(8).open().unwrap_err();
    assert_eq!(channel_error(eight, "recorded"), CoreError::InvalidCapacity);
    // The lossy publisher is refused; the reliable one is the role.
    let wrong = created.publisher().unwrap_err();
    assert_eq!(channel_error(wrong, "recorded"), CoreError::PolicyMismatch);
    let _tx = opened.reliable_publisher()?;
    let _rx = created.subscriber()?;
    // The liveness block is found after the table (`ls`).
    let roles: Vec<_> = channel::inspect(&name.0)?
        .endpoints
        .iter()
        .map(|e| e.role)
        .collect();
    assert_eq!(roles, [Role::Producer, Role::Consumer]);
    // Past the consumer slots: refused before anything is created.
    let big = Name::new("big");
    let e = topic::<u64>(&big.0).subscribers(65).create().unwrap_err();
    assert_eq!(channel_error(e, "big"), CoreError::InvalidCapacity);
    assert!(matches!(
        topic::<u64>(&big.0).open(),
        Err(Error::NotFound(_))
    ));
    // A lossy topic has no reliable publisher; a reliable default table.
    let plain = Name::new("plain");
    let t = topic::<u64>(&plain.0).create()?;
    assert_eq!((t.policy(), t.subscribers()), (Policy::Lossy, 0));
    let e = t.reliable_publisher().unwrap_err();
    assert_eq!(channel_error(e, "plain"), CoreError::PolicyMismatch);
    let dflt = Name::new("default");
    let t = topic::<u64>(&dflt.0)
        .capacity(16)
        .policy(Policy::Reliable)
        .create()?;
    assert_eq!(t.subscribers(), 64);
    // 64 entries (8 KiB) after 512 bytes of ring: the block moves from
    // 4096 to 12288; an opener and `ls` find it there.
    assert_eq!(t.memory().len(), 12288 + 4096);
    let _rx = topic::<u64>(&dflt.0).open()?.subscriber()?;
    let info = channel::inspect(&dflt.0)?;
    assert_eq!(info.endpoints.len(), 1, "{info:?}");
    Ok(())
}

#[test]
fn back_pressure_and_no_lag() -> Result<()> {
    let name = Name::new("pressure");
    let t = reliable(&name, 4, 2)?;
    let mut tx = t.reliable_publisher()?;
    let mut rx = t.subscriber()?;
    for v in 0..4 {
        tx.try_publish(v)?;
    }
    assert!(tx.try_publish(4).unwrap_err().is_full());
    assert!(matches!(
        tx.publish_timeout(4, Duration::from_millis(20)),
        Err(Error::TimedOut)
    ));
    let mut copy = rx.try_clone()?;
    assert_eq!(copy.position(), rx.position());
    std::thread::scope(|s| {
        s.spawn(|| {
            for v in 4..2000 {
                tx.publish(v).unwrap();
            }
        });
        for v in 0..2000 {
            assert_eq!(rx.recv().unwrap(), v);
            assert_eq!(copy.recv().unwrap(), v);
        }
    });
    Ok(())
}

#[test]
fn entries_no_live_subscriber_owns_are_released() -> Result<()> {
    let name = Name::new("orphans");
    let t = reliable(&name, 4, 2)?;
    let mut tx = t.reliable_publisher()?;
    // A member no consumer slot records (as one killed before it recorded
    // its entry, or a foreign one): an orphan.
    let orphan = t
        .base
        .ring
        .join_with(crate::futex::Futex::new(), Start::Next)?;
    std::mem::forget(orphan);
    let mut rx = t.subscriber()?;
    for v in 0..4 {
        tx.try_publish(v)?;
    }
    for v in 0..4 {
        assert_eq!(rx.try_recv()?, v);
    }
    // The first full `try_publish` judges: the orphan goes, rx has read.
    tx.try_publish(4)?;
    assert_eq!(t.base.ring.table_entry(0)?.0, ipckit_core::broadcast::FREE);
    // A full table: a joiner releases orphans once, then gives up.
    let second = t
        .base
        .ring
        .join_with(crate::futex::Futex::new(), Start::Next)?;
    std::mem::forget(second);
    let _rx2 = t.subscriber()?; // took the orphan's entry
    let e = t.subscriber().unwrap_err();
    assert_eq!(
        channel_error(e, "orphans"),
        CoreError::RoleTaken(Role::Consumer)
    );
    // The blocking publish releases them too: a fresh orphan, rx behind.
    drop(rx);
    Ok(())
}
