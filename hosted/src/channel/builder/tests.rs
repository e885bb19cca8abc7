//! The builders in one process: the sizing rules (rounding reported by
//! `capacity()`, `max_message` and `messages` letting their messages
//! through), bad settings as errors naming the channel, the object's mode,
//! every terminal call, and the pairs. (Across real processes:
//! `tests/channel_pairs.rs`.)

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::channel::{self, Builder, ByteKind, Memory, bytes, mpmc, mpsc_bytes, spsc};
use crate::error::{CoreError, Error, Result};
use crate::shm::{MappedFile, Memfd, ShmObject, Trust};

/// A name no other test uses: `ipckit-unit-builder-<pid>-<n>-<what>`.
fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("ipckit-unit-builder-{}-{n}-{what}", std::process::id())
}

/// Removes the object `name` when dropped.
struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = ShmObject::remove(&self.0);
    }
}

/// `true` for the error of a setting no ring takes, naming `what`.
fn is_invalid(e: &Error, what: &str) -> bool {
    matches!(e, Error::Channel { name, error: CoreError::InvalidCapacity, .. } if name.contains(what))
}

/// The permission bits of the object behind `fd`.
fn mode_of(fd: impl AsFd) -> u32 {
    // SAFETY: `stat` is plain data; all zeros is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: an open descriptor and a valid out-pointer.
    assert_eq!(unsafe { libc::fstat(fd.as_fd().as_raw_fd(), &mut st) }, 0);
    st.st_mode & 0o777
}

#[test]
fn item_capacities_round_up_to_what_the_ring_takes() -> Result<()> {
    for (asked, spsc_got, mpmc_got) in [(1, 1, 2), (2, 2, 2), (3, 4, 4), (1000, 1024, 1024)] {
        let (tx, rx) = channel::spsc::<u64>().capacity(asked).pair()?;
        assert_eq!(
            (tx.capacity(), rx.capacity()),
            (spsc_got, spsc_got),
            "spsc {asked}"
        );
        let (tx, rx) = channel::mpmc::<u64>().capacity(asked).pair()?;
        assert_eq!(
            (tx.capacity(), rx.capacity()),
            (mpmc_got, mpmc_got),
            "mpmc {asked}"
        );
    }
    // A ring of one slot: one item fits, the second does not.
    let (mut tx, _rx) = channel::spsc::<u64>().capacity(1).pair()?;
    tx.try_send(1)?;
    assert!(tx.try_send(2).unwrap_err().is_full());
    // The defaults.
    assert_eq!(
        channel::spsc::<u8>().effective_capacity()?,
        channel::DEFAULT_ITEMS
    );
    assert_eq!(
        channel::mpsc_bytes().effective_capacity()?,
        channel::DEFAULT_BYTES
    );
    Ok(())
}

#[test]
fn byte_capacities_round_up_to_a_power_of_two_of_at_least_16() -> Result<()> {
    for (asked, got) in [(1, 16), (16, 16), (17, 32), (4000, 4096)] {
        let (tx, _rx) = channel::bytes().capacity(asked).pair()?;
        assert_eq!(tx.capacity(), got, "bytes {asked}");
        let (tx, _rx) = channel::mpsc_bytes().capacity(asked).pair()?;
        assert_eq!(tx.capacity(), got, "mpsc_bytes {asked}");
    }
    Ok(())
}

#[test]
fn the_old_constructors_round_alike() -> Result<()> {
    let name = unique("old");
    let _guard = Guard(name.clone());
    let tx = spsc::Sender::<u32>::create(&name, 1000)?;
    assert_eq!(tx.capacity(), 1024);
    assert_eq!(
        spsc::Sender::<u32>::object_len(1000),
        Some(channel::spsc::<u32>().capacity(1000).object_len()?)
    );
    assert_eq!(spsc::Sender::<u32>::object_len(0), None);
    Ok(())
}

#[test]
fn settings_no_ring_takes_are_errors_naming_the_channel() {
    let name = unique("bad");
    let too_many = (1usize << 31) + 1;
    let tries: [(&str, Result<spsc::Sender<u64>>); 3] = [
        ("0", channel::spsc().capacity(0).create(&name)),
        ("2^31 + 1", channel::spsc().capacity(too_many).create(&name)),
        (
            "usize::MAX",
            channel::spsc().capacity(usize::MAX).create(&name),
        ),
    ];
    for (what, got) in tries {
        assert!(is_invalid(&got.unwrap_err(), &name), "capacity {what}");
    }
    let got = channel::mpmc::<u64>().capacity((1 << 30) + 1).pair();
    assert!(is_invalid(&got.unwrap_err(), "mpmc pair"));
    let got = channel::bytes().messages(4).pair();
    assert!(
        is_invalid(&got.unwrap_err(), "bytes pair"),
        "messages without max_message"
    );
    let got = channel::bytes().max_message(100).messages(0).pair();
    assert!(is_invalid(&got.unwrap_err(), "bytes pair"), "messages(0)");
    let got = channel::mpsc_bytes().max_message(1 << 30).pair();
    assert!(
        is_invalid(&got.unwrap_err(), "mpsc_bytes pair"),
        "max_message 2^30"
    );
    // Nothing was created.
    assert!(matches!(ShmObject::open(&name), Err(Error::NotFound(_))));
}

/// A channel's two ends as a send and a receive call.
type Ends = (
    Box<dyn FnMut(&[u8]) -> Result<()>>,
    Box<dyn FnMut(&mut [u8]) -> Result<usize>>,
);

/// A message of `len` bytes gets through a channel built with
/// `max_message(len)`, and `k` of them fit at once after the positions
/// were moved by `offset` bytes' worth of records, for each `k`.
fn max_message_fits<K: ByteKind>(
    builder: Builder<K>,
    pair: impl Fn(Builder<K>) -> Result<Ends>,
) -> Result<()> {
    for len in [0, 1, 7, 8, 9, 100, 1500, 4000, 65_536] {
        for k in [1, 2, 3, 5] {
            for skew in [0, 1, 3] {
                let (mut send, mut recv) = pair(builder.max_message(len).messages(k))?;
                let mut buf = vec![0; len.max(8)];
                // Move the positions on by `skew` small records.
                for _ in 0..skew {
                    send(&[1; 5][..len.min(5)])?;
                    recv(&mut buf)?;
                }
                let message: Vec<u8> = (0..len).map(|i| i as u8).collect();
                for i in 0..k {
                    send(&message).inspect_err(|_| {
                        eprintln!("len {len}, k {k}, skew {skew}: message {i} refused");
                    })?;
                }
                for _ in 0..k {
                    assert_eq!(recv(&mut buf)?, len);
                    assert_eq!(buf[..len], message[..]);
                }
            }
        }
    }
    Ok(())
}

#[test]
fn max_message_and_messages_let_their_messages_through() -> Result<()> {
    max_message_fits(channel::bytes(), |b| {
        let (mut tx, mut rx) = b.pair()?;
        assert!(tx.max_frame_len() as u64 >= b.max_message_len());
        Ok((
            Box::new(move |m: &[u8]| tx.try_send(m)),
            Box::new(move |buf: &mut [u8]| rx.try_recv(buf)),
        ))
    })?;
    max_message_fits(channel::mpsc_bytes(), |b| {
        let (tx, mut rx) = b.pair()?;
        assert!(tx.max_frame_len() as u64 >= b.max_message_len());
        Ok((
            Box::new(move |m: &[u8]| tx.try_send(m)),
            Box::new(move |buf: &mut [u8]| rx.try_recv(buf)),
        ))
    })
}

impl<K: ByteKind> Builder<K> {
    /// The `max_message` setting, for the tests.
    fn max_message_len(&self) -> u64 {
        self.max_message.unwrap_or(0)
    }
}

#[test]
fn max_message_sizes_from_the_smallest_ring_up() -> Result<()> {
    // record(100) = 112; 2 records = 224 -> 256.
    assert_eq!(channel::bytes().max_message(100).effective_capacity()?, 256);
    // 9 records of 1512 = 13608 -> 16384.
    let b = channel::bytes().max_message(1500).messages(8);
    assert_eq!(b.effective_capacity()?, 16384);
    // An explicit capacity larger than the messages need stays.
    assert_eq!(b.capacity(1 << 20).effective_capacity()?, 1 << 20);
    Ok(())
}

#[test]
fn created_objects_get_the_mode_asked_for() -> Result<()> {
    let (a, b) = (unique("mode-default"), unique("mode-0640"));
    let (_ga, _gb) = (Guard(a.clone()), Guard(b.clone()));
    let tx: spsc::Sender<u64> = channel::spsc().create(&a)?;
    assert_eq!(mode_of(tx.memory()), 0o600);
    let tx: spsc::Sender<u64> = channel::spsc().mode(0o640).create(&b)?;
    assert_eq!(mode_of(tx.memory()), 0o640);
    // 0640: nobody else may write it, so the default trust opens it.
    let _rx: spsc::Receiver<u64> = channel::spsc().open(&b)?;

    // Writable by the group: refused unless the opener trusts the group.
    let c = unique("mode-0660");
    let _gc = Guard(c.clone());
    let tx: bytes::Sender = channel::bytes().mode(0o660).open_or_create(&c)?;
    assert_eq!(mode_of(tx.memory()), 0o660);
    let refused = channel::bytes().open::<bytes::Receiver>(&c).unwrap_err();
    assert!(matches!(refused, Error::Untrusted { .. }), "{refused}");
    let _rx: bytes::Receiver = channel::bytes().trust(Trust::Group).open(&c)?;

    // A bad mode is an error, and nothing is left.
    let d = unique("mode-bad");
    assert!(
        channel::bytes()
            .mode(0o4600)
            .create::<bytes::Sender>(&d)
            .is_err()
    );
    assert!(matches!(ShmObject::open(&d), Err(Error::NotFound(_))));

    // Files too.
    let path = std::env::temp_dir().join(unique("mode-file"));
    let tx: mpmc::Sender<u32> = channel::mpmc().mode(0o640).on_file(&path)?;
    assert_eq!(mode_of(tx.memory()), 0o640);
    drop(tx);
    MappedFile::remove(&path)
}

#[test]
fn every_terminal_call_by_name() -> Result<()> {
    let name = unique("terminal");
    let _guard = Guard(name.clone());
    let b = channel::spsc::<u64>().capacity(8);
    assert!(matches!(
        b.open::<spsc::Sender<u64>>(&name),
        Err(Error::NotFound(_))
    ));
    let mut tx: spsc::Sender<u64> = b.create(&name)?;
    assert!(matches!(
        b.create::<spsc::Receiver<u64>>(&name),
        Err(Error::AlreadyExists(_))
    ));
    let mut rx: spsc::Receiver<u64> = b.open_or_create(&name)?;
    // The role is held by a live endpoint: take_over refuses it.
    let held = b.take_over::<spsc::Receiver<u64>>(&name).unwrap_err();
    assert_eq!(
        held.core(),
        Some(CoreError::RoleTaken(ipckit_core::Role::Consumer))
    );
    tx.send(3)?;
    assert_eq!(rx.recv()?, 3);
    drop(rx);
    // A closed holder: open again (take_over of a dead holder is in the
    // role_claims test).
    let mut rx: spsc::Receiver<u64> = b.open(&name)?;
    tx.send(4)?;
    assert_eq!(rx.recv()?, 4);
    Ok(())
}

#[test]
fn every_terminal_call_on_memory() -> Result<()> {
    let b = channel::mpsc_bytes().capacity(1024);
    let memfd = Memfd::create("builder-test", b.object_len()?)?;
    let other = Memfd::from_fd(memfd.try_clone_fd()?)?;
    let third = Memfd::from_fd(memfd.try_clone_fd()?)?;
    let mut rx: mpsc_bytes::Receiver = b.init_on(memfd)?;
    let tx: mpsc_bytes::Sender = b.attach(other)?;
    tx.send(b"x")?;
    assert_eq!(rx.recv(&mut [0; 4])?, 1);
    // A second init of the same memory is refused.
    let again = b
        .init_on::<mpsc_bytes::Sender>(Memory::from(third))
        .unwrap_err();
    assert_eq!(again.core(), Some(CoreError::AlreadyInitialized));
    // take_over_on a live receiver: refused.
    let fourth = Memfd::from_fd(tx.memory().as_fd().try_clone_to_owned().unwrap())?;
    let held = b.take_over_on::<mpsc_bytes::Receiver>(fourth).unwrap_err();
    assert!(
        matches!(held.core(), Some(CoreError::RoleTaken(_))),
        "{held}"
    );
    Ok(())
}

#[test]
fn on_file_creates_then_opens() -> Result<()> {
    let path = std::env::temp_dir().join(unique("file"));
    let b = channel::bytes().max_message(64);
    {
        let mut tx: bytes::Sender = b.on_file(&path)?;
        assert!(matches!(tx.memory(), Memory::File(f) if f.was_created()));
        tx.send(b"persisted")?;
    }
    // The file stays; a later process opens it and finds the message.
    let mut rx: bytes::Receiver = b.on_file(&path)?;
    assert!(matches!(rx.memory(), Memory::File(f) if !f.was_created()));
    assert_eq!(rx.try_recv(&mut [0; 64])?, 9);
    drop(rx);
    MappedFile::remove(&path)?;
    // A setting no ring takes leaves no file.
    assert!(
        channel::bytes()
            .capacity(0)
            .on_file::<bytes::Sender>(&path)
            .is_err()
    );
    assert!(!path.exists());
    Ok(())
}

#[test]
fn pair_between_threads() -> Result<()> {
    let (mut tx, mut rx) = channel::spsc::<u64>().capacity(16).pair()?;
    let reader = std::thread::spawn(move || rx.iter().collect::<Result<Vec<u64>>>());
    for i in 0..10_000 {
        tx.send(i)?;
    }
    drop(tx);
    assert_eq!(reader.join().unwrap()?, (0..10_000).collect::<Vec<_>>());

    let (mut rx, tx_end) = channel::bytes().max_message(32).pair_from_child()?;
    let writer = std::thread::spawn(move || -> Result<()> {
        let mut tx = tx_end.claim()?;
        (0..100u32).try_for_each(|i| tx.send(&i.to_le_bytes()))
    });
    let mut buf = [0; 32];
    for i in 0..100u32 {
        assert_eq!(rx.recv(&mut buf)?, 4);
        assert_eq!(buf[..4], i.to_le_bytes());
    }
    writer.join().unwrap()
}

#[test]
fn pairs_live_on_a_sealed_memfd() -> Result<()> {
    let (_tx, rx_end) = channel::mpmc::<u64>().pair_for_child()?;
    let seals = rx_end.memfd().seals()? as i32;
    let want = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    assert_eq!(seals & want, want);
    let (tx, _rx) = channel::spsc::<u64>().pair()?;
    let Memory::Memfd(memfd) = tx.memory() else {
        panic!("not a memfd: {:?}", tx.memory());
    };
    // SAFETY: a plain call on an open descriptor.
    let rc = unsafe { libc::ftruncate(memfd.as_fd().as_raw_fd(), 0) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    Ok(())
}
