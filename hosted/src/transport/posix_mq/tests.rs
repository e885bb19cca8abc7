//! Unit tests of the POSIX queue: limits, sizes, flow, modes, access.

use super::*;

fn name(what: &str) -> String {
    format!("ipckit-unit-mq-{}-{what}", std::process::id())
}

#[test]
fn limits_are_named() {
    let limits = MqLimits::read().unwrap();
    let n = name("limit");
    let e = PosixMq::create(
        &n,
        MqAttr {
            max_messages: limits.msg_max as usize + 1,
            message_size: 16,
        },
    )
    .unwrap_err();
    let detail = LimitExceeded::find(&e).expect("limit error");
    assert_eq!(detail.limit, MSG_MAX_PATH);
    assert!(e.to_string().contains("msg_max"), "{e}");
    assert!(matches!(PosixMq::open(&n), Err(Error::NotFound(_))));
}

#[test]
fn sizes_and_flow() {
    let n = name("sizes");
    let mut q = PosixMq::create(
        &n,
        MqAttr {
            max_messages: 2,
            message_size: 8,
        },
    )
    .unwrap();
    assert!(matches!(
        PosixMq::create(&n, q.attr()),
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(
        q.try_send(&[0; 9]).unwrap_err().core(),
        Some(CoreError::FrameTooLarge { len: 9, max: 8 })
    );
    q.try_send(b"a").unwrap();
    q.try_send(b"bb").unwrap();
    assert!(q.try_send(b"c").unwrap_err().is_full());
    assert!(
        q.send_timeout(b"c", Some(Duration::from_millis(20)))
            .unwrap_err()
            .is_timeout()
    );
    let mut small = [0; 4];
    assert_eq!(
        q.try_recv(&mut small).unwrap_err().core(),
        Some(CoreError::BufferTooSmall { required: 8 })
    );
    let other = PosixMq::open(&n).unwrap();
    assert_eq!(other.attr(), q.attr());
    assert_eq!(other.pending().unwrap(), 2);
    let mut buf = [0; 8];
    assert_eq!(q.try_recv(&mut buf).unwrap(), 1);
    assert_eq!(q.try_recv(&mut buf).unwrap(), 2);
    assert!(q.try_recv(&mut buf).unwrap_err().is_empty());
    PosixMq::unlink(&n).unwrap();
    assert!(matches!(PosixMq::unlink(&n), Err(Error::NotFound(_))));
}

const SMALL: MqAttr = MqAttr {
    max_messages: 2,
    message_size: 8,
};

#[test]
fn created_with_exactly_the_mode_asked_for() {
    let n = name("mode");
    let q = PosixMq::create(&n, SMALL).unwrap();
    assert_eq!(q.mode().unwrap(), 0o600);
    PosixMq::unlink(&n).unwrap();
    // Group and others' write bits are what a umask (022) takes away.
    let q = PosixMq::create_with_mode(&n, SMALL, 0o666).unwrap();
    assert_eq!(q.mode().unwrap(), 0o666);
    PosixMq::unlink(&n).unwrap();
    let e = PosixMq::create_with_mode(&n, SMALL, 0o1666).unwrap_err();
    assert!(e.to_string().contains(q.name()), "{e}");
    assert!(matches!(PosixMq::open(&n), Err(Error::NotFound(_))));
}

#[test]
fn one_direction_opens_refuse_the_other() {
    let n = name("access");
    let q = PosixMq::create(&n, SMALL).unwrap().remove_on_drop();
    let mut reader = PosixMq::open_with(&n, Access::ReadOnly, Trust::Owner).unwrap();
    let mut writer = PosixMq::open_with(&n, Access::WriteOnly, Trust::Owner).unwrap();
    let e = reader.try_send(b"x").unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e}");
    assert!(
        e.to_string().contains(q.name()) && e.to_string().contains("read-only"),
        "{e}"
    );
    let mut buf = [0; 8];
    let e = writer.try_recv(&mut buf).unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e}");
    assert!(e.to_string().contains("write-only"), "{e}");
    writer.try_send(b"ok").unwrap();
    assert_eq!(reader.try_recv(&mut buf).unwrap(), 2);
    assert_eq!(writer.access(), Access::WriteOnly);
}

#[test]
fn a_queue_others_may_write_needs_an_opt_in() {
    let n = name("trust");
    let q = PosixMq::create_with_mode(&n, SMALL, 0o622).unwrap();
    let e = PosixMq::open(&n).unwrap_err();
    assert!(matches!(e, Error::Untrusted { mode: 0o622, .. }), "{e}");
    assert!(e.to_string().contains(q.name()), "{e}");
    assert!(PosixMq::open_with(&n, Access::ReadOnly, Trust::Group).is_err());
    let opened = PosixMq::open_with(&n, Access::ReadWrite, Trust::Anyone).unwrap();
    assert_eq!(opened.attr(), SMALL);
    let guard = crate::object::RemoveOnDrop::new(q);
    drop(guard);
    assert!(matches!(PosixMq::open(&n), Err(Error::NotFound(_))));
}
