//! The message type id of the `Pod` item channels (SPSC, MPMC): stated by
//! default from the item type's path, size and alignment, refused at open
//! when it differs (naming the channel and both ids, the refused opener
//! leaving no trace), overridden by `.type_id(id)`, opted out of by
//! `.type_id(0)` on either side, and a channel that states none (an older
//! build, a C peer) still opened. (Across real processes:
//! `tests/typed_process.rs`, "Pod type id".)

use std::sync::atomic::{AtomicU32, Ordering};

use crate::channel::liveness::{pod_type_id, type_id_of};
use crate::channel::{self, mpmc, spsc};
use crate::error::{CoreError, Error, Result};
use crate::shm::{SharedMemory, ShmObject};

/// A name no other test uses, removed when dropped.
struct Name(String);

impl Name {
    fn new(what: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!(
            "ipckit-unit-type-id-{}-{n}-{what}",
            std::process::id()
        ))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = ShmObject::remove(&self.0);
    }
}

/// The id the channel `name` records.
fn recorded(name: &str) -> u64 {
    channel::inspect(name).expect("inspect").message_type_id
}

/// `r` is the type mismatch of the channel `name`: ours `ours`, recorded
/// `theirs`.
fn is_mismatch<T>(r: Result<T>, name: &str, ours: u64, theirs: u64) -> bool {
    match r {
        Err(Error::TypeMismatch {
            channel,
            ours: o,
            theirs: t,
        }) => channel == name && o == ours && t == theirs,
        _ => false,
    }
}

#[test]
fn another_path_of_the_same_size_and_alignment_is_refused_at_open() -> Result<()> {
    let name = Name::new("spsc");
    let (n, u64_id, arr_id) = (&name.0, pod_type_id::<u64>(), pod_type_id::<[u64; 1]>());
    let mut tx: spsc::Sender<u64> = channel::spsc().create(n)?;
    assert_eq!(recorded(n), u64_id);
    let refused = channel::spsc::<[u64; 1]>().open::<spsc::Receiver<_>>(n);
    assert!(is_mismatch(refused, n, arr_id, u64_id));
    let refused = channel::spsc::<i64>().open::<spsc::Receiver<_>>(n);
    assert!(is_mismatch(refused, n, pod_type_id::<i64>(), u64_id));
    // No trace: no peer came and went, the id is the creator's.
    assert_eq!((tx.peers_joined(), recorded(n)), (0, u64_id));
    assert!(tx.peer_gone().is_none());
    let mut rx: spsc::Receiver<u64> = channel::spsc().open(n)?;
    tx.send(7)?;
    assert_eq!(rx.recv()?, 7);

    let name = Name::new("mpmc");
    let n = &name.0;
    let _rx: mpmc::Receiver<u64> = channel::mpmc().create(n)?;
    let refused = channel::mpmc::<[u64; 1]>().open::<mpmc::Sender<_>>(n);
    assert!(is_mismatch(refused, n, arr_id, u64_id));
    let tx: mpmc::Sender<u64> = channel::mpmc().open(n)?;
    assert_eq!(tx.peers_joined(), 1);
    Ok(())
}

#[test]
fn another_size_or_alignment_is_refused_by_the_header_first() -> Result<()> {
    let name = Name::new("sizes");
    let n = &name.0;
    let _tx: spsc::Sender<u64> = channel::spsc().create(n)?;
    let element = |r: Result<spsc::Receiver<_>>| matches!(r, Err(Error::Channel { name, error: CoreError::ElementMismatch { .. }, .. }) if name == *n);
    // `[u8; 8]`: the size of a `u64`, alignment 1.
    assert_ne!(pod_type_id::<[u8; 8]>(), pod_type_id::<u64>());
    assert!(element(channel::spsc::<[u8; 8]>().open(n)));
    // Equal ids do not make the header agree.
    assert!(element(
        channel::spsc::<[u8; 8]>()
            .type_id(pod_type_id::<u64>())
            .open(n)
    ));
    let r = channel::spsc::<u32>().open::<spsc::Receiver<_>>(n);
    assert!(matches!(
        r,
        Err(Error::Channel {
            error: CoreError::ElementMismatch { .. },
            ..
        })
    ));
    assert_eq!(recorded(n), pod_type_id::<u64>());
    Ok(())
}

#[test]
fn equal_explicit_ids_on_different_types_are_accepted() -> Result<()> {
    let name = Name::new("explicit");
    let (n, pose) = (&name.0, type_id_of("robot/Pose v1"));
    let mut tx: spsc::Sender<u64> = channel::spsc().type_id(pose).create(n)?;
    assert_eq!(recorded(n), pose);
    // The default id of the same type is another one now.
    let refused = channel::spsc::<u64>().open::<spsc::Receiver<_>>(n);
    assert!(is_mismatch(refused, n, pod_type_id::<u64>(), pose));
    let mut rx: spsc::Receiver<i64> = channel::spsc().type_id(pose).open(n)?;
    tx.send(u64::MAX)?;
    assert_eq!(rx.recv()?, -1);
    // A pair and a child's end state the builder's id.
    let b = channel::mpmc::<u32>().type_id(pose);
    let (tx, rx_end) = b.pair_for_child()?;
    assert_eq!(b.stated_type_id(), pose);
    let rx = rx_end.claim()?;
    tx.send(3)?;
    assert_eq!(rx.recv()?, 3);
    Ok(())
}

#[test]
fn id_zero_opts_out_on_either_side() -> Result<()> {
    // The creator opts out: nothing recorded; the first opener that states
    // an id records it, and an opener of another path is refused after it.
    let name = Name::new("zero-creator");
    let n = &name.0;
    let _tx: spsc::Sender<u64> = channel::spsc().type_id(0).create(n)?;
    assert_eq!(recorded(n), 0);
    let rx: spsc::Receiver<[u64; 1]> = channel::spsc().open(n)?;
    assert_eq!(recorded(n), pod_type_id::<[u64; 1]>());
    drop(rx);
    let refused = channel::spsc::<u64>().open::<spsc::Receiver<_>>(n);
    assert!(is_mismatch(
        refused,
        n,
        pod_type_id::<u64>(),
        pod_type_id::<[u64; 1]>()
    ));

    // The opener opts out: it opens whatever is recorded, changing nothing.
    let name = Name::new("zero-opener");
    let n = &name.0;
    let _tx: mpmc::Sender<u64> = channel::mpmc().create(n)?;
    let _rx: mpmc::Receiver<[u64; 1]> = channel::mpmc().type_id(0).open(n)?;
    assert_eq!(recorded(n), pod_type_id::<u64>());
    Ok(())
}

#[test]
fn a_channel_stating_no_id_keeps_opening() -> Result<()> {
    // A channel as an older build or a C peer leaves it: the field 0
    // (written here by a creator that opts out, then cleared by hand as
    // a foreign creator would leave it).
    let name = Name::new("foreign");
    let n = &name.0;
    let tx: spsc::Sender<u64> = channel::spsc().create(n)?;
    let mem = tx.memory();
    let core_len = channel::core_region_len(&mem.inspect()?).expect("core length");
    let at = channel::liveness_offset(core_len).expect("offset") + channel::TYPE_ID_AT;
    // SAFETY: `at + 8` lies inside the mapping (the block is 4096 bytes
    // from `liveness_offset`), 8-aligned; the field is only accessed
    // atomically.
    let field = unsafe { &*mem.as_ptr().add(at).cast::<std::sync::atomic::AtomicU64>() };
    field.store(0, Ordering::Release);
    drop(tx);
    let _rx: spsc::Receiver<u64> = channel::spsc().open(n)?;
    assert_eq!(recorded(n), pod_type_id::<u64>());
    let _tx: spsc::Sender<u64> = channel::spsc().open(n)?;
    Ok(())
}
