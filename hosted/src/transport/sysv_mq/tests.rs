//! A private queue in this process.

use std::time::Duration;

use super::*;
use crate::error::{CoreError, Error};
use crate::message::{MessageReceiver, MessageSender};
use crate::transport::limits::LimitExceeded;

#[test]
fn too_small_leaves_the_message_queued() {
    let mut q = SysvMq::create_private().unwrap();
    q.send_typed(5, &[7; 100], None).unwrap();
    let mut small = [0; 10];
    assert_eq!(
        q.try_recv(&mut small).unwrap_err().core(),
        Some(CoreError::BufferTooSmall {
            required: q.max_message_len()
        })
    );
    assert_eq!(q.pending().unwrap(), 1);
    let mut buf = [0; 100];
    assert_eq!(q.recv_typed(5, &mut buf, None).unwrap(), (100, 5));
    assert_eq!(buf, [7; 100]);
    assert!(q.try_recv(&mut buf).unwrap_err().is_empty());
    assert!(
        q.recv_timeout(&mut buf, Some(Duration::from_millis(5)))
            .unwrap_err()
            .is_timeout()
    );
    let big = vec![0; q.max_message_len() + 1];
    assert!(matches!(
        q.try_send(&big).unwrap_err().core(),
        Some(CoreError::FrameTooLarge { .. })
    ));
    assert!(q.send_typed(0, b"x", None).is_err());
    let id = q.id();
    q.remove().unwrap();
    assert!(matches!(SysvMq::from_id(id), Err(Error::NotFound(_))));
}

#[test]
fn capacity_limit_is_named() {
    let mut q = SysvMq::create_private().unwrap();
    let limits = SysvMqLimits::read().unwrap();
    let e = q.set_capacity(limits.msgmnb as usize + 1).unwrap_err();
    assert_eq!(LimitExceeded::find(&e).unwrap().limit, MSGMNB_PATH);
    q.set_capacity(64).unwrap();
    assert_eq!(q.capacity().unwrap(), 64);
    q.try_send(&[1; 64]).unwrap();
    assert!(q.try_send(&[1; 1]).unwrap_err().is_full());
    let e = q.try_send(&[1; 65]).unwrap_err();
    assert_eq!(LimitExceeded::find(&e).unwrap().limit, QBYTES_LIMIT);
    assert!(e.to_string().contains(&format!("msqid {}", q.id())), "{e}");
    q.remove().unwrap();
}

#[test]
fn mode_is_exact_and_an_open_by_key_checks_it() {
    let key = 0x1c4e_0000 | (std::process::id() as libc::key_t & 0xffff);
    let q = SysvMq::create(key).unwrap();
    assert_eq!(q.mode().unwrap(), 0o600);
    assert_eq!(SysvMq::open(key).unwrap().id(), q.id());
    q.remove().unwrap();
    let q = crate::object::Remove::remove_on_drop(SysvMq::create_with_mode(key, 0o622).unwrap());
    assert_eq!(q.mode().unwrap(), 0o622);
    let e = SysvMq::open(key).unwrap_err();
    assert!(matches!(e, Error::Untrusted { mode: 0o622, .. }), "{e}");
    assert!(e.to_string().contains(&q.target()), "{e}");
    assert!(SysvMq::open_with(key, crate::shm::Trust::Group).is_err());
    let id = q.id();
    assert_eq!(
        SysvMq::open_with(key, crate::shm::Trust::Anyone)
            .unwrap()
            .id(),
        id
    );
    let e = SysvMq::create_with_mode(key + 1, 0o4600).unwrap_err();
    assert!(e.to_string().contains(&format!("{:#x}", key + 1)), "{e}");
    drop(q); // the guard removes the queue
    assert!(matches!(SysvMq::from_id(id), Err(Error::NotFound(_))));
}
