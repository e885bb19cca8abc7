//! Topics in one process: the builder's terminal calls, bad input as
//! errors naming the topic, lag accounting, blocking and wake-ups, the
//! publisher's close. (Across real processes, with kills:
//! `tests/pubsub_process.rs`.)

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Start, topic};
use crate::channel::{self, Builder};
use crate::error::{CoreError, Error, Result, Role};
use crate::shm::{SharedMemory, ShmObject};

/// A topic name no other test uses, removed when the guard drops.
pub(crate) struct Name(pub(crate) String);

impl Name {
    pub(crate) fn new(what: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!("unit-pubsub/{}-{n}/{what}", std::process::id()))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = super::remove(&self.0);
    }
}

#[test]
fn terminal_calls_and_names() -> Result<()> {
    let name = Name::new("terminals");
    let missing = topic::<u64>(&name.0).open().unwrap_err();
    assert!(matches!(missing, Error::NotFound(_)), "{missing}");
    let created = topic::<u64>(&name.0).capacity(100).open_or_create()?;
    assert_eq!(created.capacity(), 128);
    let again = topic::<u64>(&name.0).create().unwrap_err();
    assert!(matches!(again, Error::AlreadyExists(_)), "{again}");
    let opened = topic::<u64>(&name.0).capacity(4).open_or_create()?;
    assert_eq!(opened.capacity(), 128); // as created
    // The channels' naming: the prefix and the escaped slashes.
    let info = channel::inspect(&name.0)?;
    assert_eq!(info.channel, name.0);
    assert_eq!(info.kind, Some(crate::ObjectKind::Broadcast));
    let _tx = opened.publisher()?;
    let _rx = created.subscriber()?;
    let roles: Vec<_> = channel::inspect(&name.0)?
        .endpoints
        .iter()
        .map(|e| e.role)
        .collect();
    assert_eq!(roles, [Role::Producer, Role::Consumer]);
    super::remove(&name.0)?;
    assert!(matches!(
        topic::<u64>(&name.0).open(),
        Err(Error::NotFound(_))
    ));
    Ok(())
}

#[test]
fn another_type_is_refused_naming_the_topic() -> Result<()> {
    let name = Name::new("types");
    let _t = topic::<u64>(&name.0).create()?;
    // Same size and alignment: only the type id tells them apart.
    match topic::<i64>(&name.0).open() {
        Err(Error::TypeMismatch {
            channel,
            ours,
            theirs,
        }) => {
            assert!(channel.contains("types"), "{channel}");
            assert_ne!(ours, theirs);
        }
        other => panic!("{other:?}"),
    }
    // Another size: the core header refuses it first.
    match topic::<u32>(&name.0).open() {
        Err(Error::Channel { name: n, .. }) => assert!(n.contains("types"), "{n}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn the_type_id_is_the_pod_default_or_the_stated_one() -> Result<()> {
    use crate::channel::liveness::{pod_type_id, type_id_of};
    let name = Name::new("ids");
    let _t = topic::<u64>(&name.0).create()?;
    assert_eq!(
        channel::inspect(&name.0)?.message_type_id,
        pod_type_id::<u64>()
    );
    // The opener opts out: accepted, nothing changed.
    let _i = topic::<i64>(&name.0).type_id(0).open()?;
    assert_eq!(
        channel::inspect(&name.0)?.message_type_id,
        pod_type_id::<u64>()
    );
    // Equal stated ids on different types are accepted; the default of
    // the creator's own type is refused then.
    let other = Name::new("stated");
    let pose = type_id_of("robot/Pose v1");
    let t = topic::<u64>(&other.0).type_id(pose).create()?;
    let i = topic::<i64>(&other.0).type_id(pose).open()?;
    assert!(matches!(
        topic::<u64>(&other.0).open(),
        Err(Error::TypeMismatch { ours, theirs, .. })
            if ours == pod_type_id::<u64>() && theirs == pose
    ));
    let mut rx = i.subscriber()?;
    t.publisher()?.publish(u64::MAX);
    assert_eq!(rx.try_recv()?, -1);
    // A creator that opts out records nothing: the first opener's id counts.
    let loose = Name::new("loose");
    let _t = topic::<u64>(&loose.0).type_id(0).create()?;
    let _i = topic::<i64>(&loose.0).open()?;
    assert_eq!(
        channel::inspect(&loose.0)?.message_type_id,
        pod_type_id::<i64>()
    );
    assert!(topic::<u64>(&loose.0).open().is_err());
    Ok(())
}

#[test]
fn a_corrupted_header_is_refused_naming_the_topic() -> Result<()> {
    let name = Name::new("corrupt");
    let t = topic::<u64>(&name.0).create()?;
    let obj = ShmObject::open(channel::object_name(&name.0)?.as_str())?;
    // SAFETY: the first word of the live mapping (the header's magic),
    // written atomically as every shared word.
    let magic = unsafe { &*obj.as_ptr().cast::<AtomicU32>() };
    magic.store(0xdead_beef, Ordering::Relaxed);
    match topic::<u64>(&name.0).open() {
        Err(e @ Error::Channel { .. }) => assert!(e.to_string().contains("corrupt"), "{e}"),
        other => panic!("{other:?}"),
    }
    drop(t);
    Ok(())
}

#[test]
fn one_publisher_at_a_time_and_resuming() -> Result<()> {
    let name = Name::new("role");
    let t = topic::<u32>(&name.0).capacity(8).create()?;
    let mut rx = t.subscriber()?;
    let mut tx = t.publisher()?;
    let taken = t.publisher().unwrap_err();
    assert_eq!(taken.core(), Some(CoreError::RoleTaken(Role::Producer)));
    assert!(taken.to_string().contains("role"), "{taken}");
    // A live holder is not taken over.
    assert!(t.take_over_publisher().is_err());
    tx.publish(1);
    drop(tx);
    let mut tx = t.publisher()?; // resumes at the published position
    assert_eq!(tx.position(), 1);
    tx.publish(2);
    assert_eq!((rx.try_recv()?, rx.try_recv()?), (1, 2));
    Ok(())
}

#[test]
fn lags_are_counted_exactly_and_iterated() -> Result<()> {
    let (mut tx, mut rx) = Builder::<super::Lossy<u64>>::new().capacity(4).pair()?;
    for v in 0..10 {
        tx.publish(v);
    }
    assert!(matches!(rx.try_recv(), Err(Error::Lagged(6))));
    let now: Vec<_> = rx.try_iter().collect::<Result<_>>()?;
    assert_eq!(now, [6, 7, 8, 9]);
    for v in 10..20 {
        tx.publish(v);
    }
    drop(tx);
    let rest: Vec<_> = rx.iter().collect();
    assert!(matches!(rest[0], Err(Error::Lagged(6))), "{rest:?}");
    assert_eq!(
        rest[1..]
            .iter()
            .map(|r| *r.as_ref().unwrap())
            .collect::<Vec<_>>(),
        [16, 17, 18, 19]
    );
    assert!(rx.peer_gone().is_some());
    Ok(())
}

/// Three subscriber threads block in `recv` while the publisher publishes
/// 20,000 items with pauses: each accounts for every item (received plus
/// lost, in order), and sees `PeerGone` once the publisher drops.
#[test]
fn sleeping_subscribers_account_for_every_item() -> Result<()> {
    const N: u64 = 20_000;
    let name = Name::new("threads");
    let t = topic::<u64>(&name.0).capacity(64).create()?;
    let mut tx = t.publisher()?;
    let total = AtomicU64::new(0);
    std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..3 {
            let mut rx = t.subscriber_from(Start::Oldest)?;
            let total = &total;
            handles.push(s.spawn(move || {
                let (mut next, mut received) = (0u64, 0u64);
                loop {
                    match rx.recv_timeout(Duration::from_secs(10)) {
                        Ok(v) => {
                            assert_eq!(v, next, "in order");
                            next += 1;
                            received += 1;
                        }
                        Err(Error::Lagged(n)) => next += n,
                        Err(e) if e.is_peer_gone() => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                assert_eq!(next, N, "received + lost == published");
                total.fetch_add(received, Ordering::Relaxed);
            }));
        }
        for v in 0..N {
            tx.publish(v);
            if v % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(1)); // let them sleep
            }
        }
        drop(tx);
        for h in handles {
            h.join().unwrap();
        }
        Ok(())
    })?;
    assert!(total.load(Ordering::Relaxed) > 0);
    Ok(())
}

#[test]
fn a_subscriber_waits_for_the_first_publisher_and_times_out() -> Result<()> {
    let name = Name::new("first");
    let t = topic::<u8>(&name.0).create()?;
    let mut rx = t.subscriber()?;
    let start = Instant::now();
    assert!(
        rx.recv_timeout(Duration::from_millis(30))
            .unwrap_err()
            .is_timeout()
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(rx.try_recv().unwrap_err().is_empty()); // no publisher ever: not gone
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            t.publisher().unwrap().publish(9);
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 9);
    });
    // That publisher dropped: drained, then gone; a second one comes.
    assert!(rx.recv().unwrap_err().is_peer_gone());
    assert!(rx.try_recv().unwrap_err().is_peer_gone());
    t.publisher()?.publish(10);
    assert_eq!(rx.try_recv()?, 10);
    let copy = rx.try_clone()?;
    assert_eq!(copy.position(), rx.position());
    Ok(())
}

#[cfg(test)]
#[path = "tests_reliable.rs"]
mod reliable;
