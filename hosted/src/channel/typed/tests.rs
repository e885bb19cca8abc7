//! Unit tests of the typed endpoints in one process (the cross-process
//! tests are `hosted/tests/typed_process.rs`).

use serde::{Deserialize, Serialize};

use super::*;
use crate::channel::{bytes, mpsc_bytes};
use crate::error::{Error, Result};
use crate::shm::{Memfd, SharedMemory};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Foo {
    a: u32,
    s: String,
}
impl MessageType for Foo {}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Bar(u32, String);
impl MessageType for Bar {}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Anything(u32, String);
impl MessageType for Anything {
    fn message_type_id() -> u64 {
        0
    }
}

fn memfd_bytes() -> Result<Memfd> {
    Memfd::create("typed-test", bytes::Sender::object_len(4096).unwrap())
}

fn memfd_mpsc() -> Result<Memfd> {
    Memfd::create("typed-test", mpsc_bytes::Sender::object_len(4096).unwrap())
}

/// A second endpoint on the same memory (a duplicate descriptor).
fn again(mem: &crate::channel::Memory) -> Result<Memfd> {
    use std::os::fd::AsFd;
    Memfd::from_fd(
        mem.as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::os("dup", "memfd", e))?,
    )
}

#[test]
fn ids_differ_by_type_and_are_stable_for_std_types() {
    assert_ne!(Foo::message_type_id(), Bar::message_type_id());
    assert_eq!(u64::message_type_id(), type_id_of("u64"));
    assert_eq!(String::message_type_id(), type_id_of("String"));
    assert_ne!(Vec::<u8>::message_type_id(), Vec::<u16>::message_type_id());
    assert_ne!(
        Vec::<u8>::message_type_id(),
        Option::<u8>::message_type_id()
    );
    assert_eq!(Vec::<Anything>::message_type_id(), 0);
    assert_ne!(
        <(u8, u16)>::message_type_id(),
        <(u16, u8)>::message_type_id()
    );
    assert_eq!(<(u8, Anything, u16)>::message_type_id(), 0);
}

#[test]
fn the_creator_records_the_id_and_a_mismatch_names_both() -> Result<()> {
    let tx = Sender::<Foo>::init_on(memfd_bytes()?, 4096)?;
    let block = tx.as_bytes().membership().block();
    assert_eq!(block.state_type_id(Foo::message_type_id()), Ok(()));
    let err = Receiver::<Bar>::attach(again(tx.as_bytes().memory())?).unwrap_err();
    match err {
        Error::TypeMismatch {
            ref channel,
            ours,
            theirs,
        } => {
            assert!(channel.starts_with("memfd"), "{channel}");
            assert_eq!(ours, Bar::message_type_id());
            assert_eq!(theirs, Foo::message_type_id());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("{:#018x}", Bar::message_type_id()))
    );
    // Refused before its claim: the consumer slot was never used, so the
    // sender does not see a receiver that came and went.
    assert!(tx.as_bytes().peer_gone().is_none());
    let mut rx = Receiver::<Foo>::attach(again(tx.as_bytes().memory())?)?;
    let mut tx = tx;
    tx.send(&Foo {
        a: 1,
        s: "x".into(),
    })?;
    assert_eq!(
        rx.recv()?,
        Foo {
            a: 1,
            s: "x".into()
        }
    );
    Ok(())
}

#[test]
fn id_zero_opts_out_and_an_unstated_channel_takes_the_first_id() -> Result<()> {
    // An untyped creator: the field stays 0 (an old object looks alike).
    let raw = bytes::Sender::init_on(memfd_bytes()?, 4096)?;
    let mem = raw.memory();
    let _opt_out = Receiver::<Anything>::attach(again(mem)?)?;
    assert_eq!(raw.membership().block().state_type_id(1), Ok(()));
    drop(_opt_out);
    // ... and the first typed endpoint records its id (here: 1 was stated
    // above, so Foo is refused and an opt-out endpoint still opens).
    assert!(matches!(
        Receiver::<Foo>::attach(again(mem)?),
        Err(Error::TypeMismatch { theirs: 1, .. })
    ));
    assert!(Receiver::<Anything>::attach(again(mem)?).is_ok());
    Ok(())
}

#[test]
fn oversize_is_refused_and_nothing_queued_is_lost() -> Result<()> {
    let mut tx = MpscSender::<Vec<u8>>::init_on(memfd_mpsc()?, 4096)?;
    let mut rx = MpscReceiver::<Vec<u8>>::attach(again(tx.as_bytes().memory())?)?;
    let max = tx.max_frame_len() as usize;
    tx.send(&vec![1; 10])?;
    // A Vec<u8> of n bytes encodes as a varint length (2 bytes here) + n.
    let err = tx.send(&vec![2; max - 1]).unwrap_err();
    assert!(
        matches!(err, Error::MessageTooLarge { max: m, .. } if m as usize == max),
        "{err}"
    );
    assert!(err.to_string().contains("memfd"), "{err}");
    tx.send(&vec![3; max - 2])?;
    assert_eq!(rx.recv()?, vec![1; 10]);
    assert_eq!(rx.recv()?, vec![3; max - 2]);
    assert!(rx.try_recv().unwrap_err().is_empty());
    Ok(())
}

#[test]
fn garbage_is_a_decode_error_and_consumed() -> Result<()> {
    let mut rx = Receiver::<Foo>::init_on(memfd_bytes()?, 4096)?;
    let mut raw = bytes::Sender::attach(again(rx.as_bytes().memory())?)?;
    raw.send(&[0xff; 12])?; // a varint that never ends
    raw.send(&[1, 0, 7])?; // a whole Foo (1, "") and a byte too many
    let good = Foo {
        a: 5,
        s: "ok".into(),
    };
    raw.send(&postcard::to_allocvec(&good).unwrap())?;
    for len in [12, 3] {
        match rx.try_recv().unwrap_err() {
            Error::Decode {
                channel, len: l, ..
            } => {
                assert!(channel.starts_with("memfd"));
                assert_eq!(l, len);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(rx.try_recv()?, good);
    Ok(())
}

#[test]
fn a_message_longer_than_the_buffer_grows_it() -> Result<()> {
    let mut tx = Sender::<String>::init_on(memfd_bytes()?, 4096)?;
    let mut rx = Receiver::<String>::attach(again(tx.as_bytes().memory())?)?;
    let long = "y".repeat(1500);
    tx.send(&long)?;
    tx.send(&"short".to_owned())?;
    assert_eq!(rx.recv()?, long);
    assert_eq!(rx.recv()?, "short");
    Ok(())
}

#[test]
fn the_block_keeps_the_id_at_its_documented_offset() -> Result<()> {
    let tx = Sender::<Foo>::init_on(memfd_bytes()?, 4096)?;
    let mem = tx.as_bytes().memory();
    let at = crate::channel::liveness_offset(4096 + 384).unwrap() + crate::channel::TYPE_ID_AT;
    let mut word = [0u8; 8];
    // SAFETY: `at + 8` lies inside the mapping (the liveness block's first
    // 64 bytes); nobody writes it meanwhile.
    unsafe { std::ptr::copy_nonoverlapping(mem.as_ptr().add(at), word.as_mut_ptr(), 8) };
    assert_eq!(u64::from_le_bytes(word), Foo::message_type_id());
    Ok(())
}

/// Random frames from a raw sender, each followed by a valid message: a
/// random frame is either some `Foo` or a decode error (never a panic or
/// another error), and the valid message behind it always arrives intact.
#[test]
fn random_frames_never_panic_or_lose_the_next_message() -> Result<()> {
    let mut rx = MpscReceiver::<Foo>::init_on(memfd_mpsc()?, 4096)?;
    let mem = again(rx.as_bytes().memory())?;
    let raw = mpsc_bytes::Sender::attach(mem)?;
    let mut tx = MpscSender::<Foo>::attach(again(rx.as_bytes().memory())?)?;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut decoded, mut refused) = (0, 0);
    for i in 0..2000u32 {
        let len = (next() % 40) as usize;
        let frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        raw.try_send(&frame)?;
        let good = Foo {
            a: i,
            s: format!("m{i}"),
        };
        tx.try_send(&good)?;
        match rx.try_recv() {
            Ok(_) => decoded += 1,
            Err(Error::Decode { len: l, .. }) if l == len => refused += 1,
            Err(e) => panic!("frame {frame:?}: {e}"),
        }
        assert_eq!(rx.try_recv()?, good);
    }
    assert!(
        decoded > 0 && refused > 1000,
        "{decoded} decoded, {refused} refused"
    );
    Ok(())
}
