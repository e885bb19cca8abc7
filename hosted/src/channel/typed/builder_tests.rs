//! The typed builder (`typed::spsc()`, `typed::mpsc()`): the byte
//! builder's settings and terminal calls making typed ends, the type id of
//! `T` by default, `.type_id(id)` overriding it (0 opting out), and the
//! old constructors as its thin forms.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use super::{MessageType, MpscReceiver, MpscSender, Receiver, Sender, type_id_of};
use crate::channel::{self, Builder, Bytes};
use crate::error::{CoreError, Error, Result};
use crate::shm::ShmObject;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Foo(u32, String);
impl MessageType for Foo {}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Bar(u32, String);
impl MessageType for Bar {}

/// A name no other test uses, removed when dropped.
struct Name(String);

impl Name {
    fn new(what: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!(
            "ipckit-unit-typed-b-{}-{n}-{what}",
            std::process::id()
        ))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = ShmObject::remove(&self.0);
    }
}

fn foo(i: u32) -> Foo {
    Foo(i, "x".repeat(i as usize))
}

#[test]
fn settings_and_terminal_calls_make_typed_ends() -> Result<()> {
    let name = Name::new("terminals");
    let n = &name.0;
    let b = super::spsc::<Foo>()
        .max_message(300)
        .messages(3)
        .mode(0o600);
    assert_eq!(b.stated_type_id(), Foo::message_type_id());
    let mut tx: Sender<Foo> = b.open_or_create(n)?;
    assert!(tx.max_frame_len() >= 300);
    assert!(matches!(
        super::spsc::<Bar>().open::<Receiver<Bar>>(n),
        Err(Error::TypeMismatch { ours, theirs, .. })
            if ours == Bar::message_type_id() && theirs == Foo::message_type_id()
    ));
    // The refused receiver left no trace.
    assert_eq!(tx.as_bytes().peers_joined(), 0);
    let mut rx: Receiver<Foo> = b.open(n)?;
    for i in 0..3 {
        tx.try_send(&foo(i * 90))?; // three messages of up to 300 bytes fit
    }
    for i in 0..3 {
        assert_eq!(rx.try_recv()?, foo(i * 90));
    }
    // A created object of a refused creator is removed again.
    let other = Name::new("exists");
    let _tx: Sender<Foo> = super::spsc().create(&other.0)?;
    assert!(matches!(
        super::spsc::<Foo>().create::<Sender<Foo>>(&other.0),
        Err(Error::AlreadyExists(_))
    ));
    // A setting no ring takes: named.
    let bad = super::spsc::<Foo>().capacity(0).create::<Sender<Foo>>(n);
    assert!(matches!(
        bad,
        Err(Error::Channel {
            error: CoreError::InvalidCapacity,
            ..
        })
    ));
    Ok(())
}

#[test]
fn pairs_and_child_ends() -> Result<()> {
    let (mut tx, mut rx) = super::spsc::<Foo>().capacity(1024).pair()?;
    tx.send(&foo(1))?;
    assert_eq!(rx.recv()?, foo(1));
    let (mut rx, tx_end) = super::mpsc::<Foo>().pair_from_child()?;
    let mut tx: MpscSender<Foo> = tx_end.claim()?;
    tx.send(&foo(2))?;
    assert_eq!(rx.recv()?, foo(2));
    // The child end states the builder's id: a stated id on both types.
    let id = type_id_of("ipckit/test Foo-or-Bar");
    let (mut tx, rx_end) = Builder::<super::Typed<Foo, Bytes>>::new()
        .type_id(id)
        .pair_for_child()?;
    let mut rx = rx_end.claim()?;
    tx.send(&foo(3))?;
    assert_eq!(rx.recv()?, foo(3));
    Ok(())
}

#[test]
fn the_type_id_setting_overrides_and_zero_opts_out() -> Result<()> {
    let name = Name::new("ids");
    let n = &name.0;
    let id = type_id_of("ipckit/test Foo-or-Bar");
    let mut rx: MpscReceiver<Foo> = super::mpsc().type_id(id).create(n)?;
    assert_eq!(channel::inspect(n)?.message_type_id, id);
    // Bar's default is refused, Bar stating the same id accepted.
    assert!(super::mpsc::<Bar>().open::<MpscSender<Bar>>(n).is_err());
    let mut bar: MpscSender<Bar> = super::mpsc().type_id(id).open(n)?;
    bar.send(&Bar(4, "four".into()))?;
    assert_eq!(rx.recv()?, Foo(4, "four".into()));
    // 0 opts out: any type opens, nothing changes.
    let mut loose: MpscSender<Bar> = super::mpsc().type_id(0).open(n)?;
    loose.send(&Bar(5, String::new()))?;
    assert_eq!(rx.recv()?, Foo(5, String::new()));
    assert_eq!(channel::inspect(n)?.message_type_id, id);
    Ok(())
}

#[test]
fn the_constructors_are_the_builder() -> Result<()> {
    let name = Name::new("ctors");
    let n = &name.0;
    // Rounded up as the byte builder rounds.
    let tx = Sender::<Foo>::create(n, 3000)?;
    assert_eq!(tx.as_bytes().capacity(), 4096);
    assert_eq!(channel::inspect(n)?.message_type_id, Foo::message_type_id());
    let _rx = Receiver::<Foo>::open(n)?;
    assert!(Receiver::<Bar>::open(n).is_err());
    drop(_rx);
    let _rx = Receiver::<Foo>::take_over(n)?;
    Ok(())
}
