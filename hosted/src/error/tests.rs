//! The error's mapping from the core, its predicates and its messages.

use super::*;

#[test]
fn errno_sorting() {
    let mk = |code| Error::os("open", "x", io::Error::from_raw_os_error(code));
    assert!(matches!(mk(libc::ENOENT), Error::NotFound(_)));
    assert!(matches!(mk(libc::EEXIST), Error::AlreadyExists(_)));
    assert!(matches!(mk(libc::EACCES), Error::PermissionDenied(_)));
    assert!(matches!(mk(libc::EPERM), Error::Os(_)));
    assert_eq!(
        mk(libc::ENOMEM).os_error().and_then(OsError::errno),
        Some(libc::ENOMEM)
    );
}

#[test]
fn display_names_the_call_and_target() {
    let e = Error::os("shm_open", "/a", io::Error::from_raw_os_error(libc::ENOENT));
    let s = e.to_string();
    assert!(s.contains("shm_open(/a)"), "{s}");
    assert!(std::error::Error::source(&e).is_some());
    let e = Error::from(CoreError::BadMagic);
    assert_eq!(e.to_string(), CoreError::BadMagic.to_string());
}

#[test]
fn core_flow_conditions_become_top_level_variants() {
    let flow = |e: CoreError| {
        let e = Error::from(e);
        let p = [
            e.is_full(),
            e.is_empty(),
            e.is_timeout(),
            e.is_peer_gone(),
            e.is_busy(),
        ];
        (e, p)
    };
    let (e, p) = flow(CoreError::Full);
    assert!(matches!(e, Error::Full) && p == [true, false, false, false, false]);
    let (e, p) = flow(CoreError::Empty);
    assert!(matches!(e, Error::Empty) && p == [false, true, false, false, false]);
    let (e, p) = flow(CoreError::TimedOut);
    assert!(matches!(e, Error::TimedOut) && p == [false, false, true, false, false]);
    let (e, p) = flow(CoreError::PeerGone);
    assert!(matches!(
        e,
        Error::PeerGone {
            peer: None,
            pid: None
        }
    ));
    assert_eq!(p, [false, false, false, true, false]);
    // Same words as the core's, so a message does not change with the path.
    let (e, p) = flow(CoreError::Busy);
    assert!(matches!(e, Error::Busy) && p == [false, false, false, false, true]);
    for c in [
        CoreError::Full,
        CoreError::Empty,
        CoreError::TimedOut,
        CoreError::Busy,
        CoreError::PeerGone,
    ] {
        assert_eq!(Error::from(c).to_string(), c.to_string());
        assert!(std::error::Error::source(&Error::from(c)).is_none());
        assert_eq!(Error::from(c).core(), None);
    }
    // Faults stay the core's, with no flow predicate.
    for c in [
        CoreError::Corrupted("head"),
        CoreError::TooFewSlots {
            requested: 2,
            available: 1,
        },
    ] {
        let (e, p) = flow(c);
        assert!(matches!(e, Error::Core(f) if f == c), "{e:?}");
        assert_eq!(p, [false; 5]);
        assert!(std::error::Error::source(&e).is_some());
    }
    let os = Error::os("shm_open", "/a", io::Error::from_raw_os_error(libc::ENOENT));
    assert!(!os.is_full() && !os.is_empty() && !os.is_timeout() && !os.is_peer_gone());
    let removed = Error::Removed {
        target: "msqid 5".into(),
    };
    assert!(removed.is_peer_gone());
}

#[test]
fn peer_gone_names_what_is_known() {
    let named = |peer, pid| {
        Error::PeerGone {
            peer: Some(peer),
            pid,
        }
        .to_string()
    };
    assert_eq!(
        named(Role::Producer, Some(7)),
        "peer gone: the producer (pid 7) died"
    );
    assert_eq!(
        named(Role::Consumer, None),
        "peer gone: no consumer is left"
    );
    let pid_only = Error::PeerGone {
        peer: None,
        pid: Some(9),
    };
    assert!(pid_only.to_string().contains("pid 9"), "{pid_only}");
}

#[test]
fn channel_errors_name_the_object_and_a_dead_holder() {
    let e = Error::from(CoreError::RoleTaken(Role::Consumer)).in_channel(|| "ipckit-x".into());
    assert_eq!(e.core(), Some(CoreError::RoleTaken(Role::Consumer)));
    assert!(e.to_string().starts_with("channel ipckit-x: "), "{e}");
    assert!(std::error::Error::source(&e).is_some());
    let dead = Error::Channel {
        name: String::new(),
        error: CoreError::RoleTaken(Role::Producer),
        dead_holder: Some(42),
    }
    .in_channel(|| "ipckit-y".into());
    let s = dead.to_string();
    assert!(
        s.contains("ipckit-y") && s.contains("pid 42") && s.contains("take_over"),
        "{s}"
    );
    // Errors that name their object already pass unchanged.
    let os = Error::os("shm_open", "/a", io::Error::from_raw_os_error(libc::ENOENT));
    assert!(matches!(os.in_channel(|| "b".into()), Error::NotFound(_)));
}
