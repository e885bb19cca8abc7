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
