//! Modes, trust and removal of the kernel semaphores.

use super::*;
use crate::error::Error;
use crate::object::Remove;
use crate::shm::Trust;

fn name(what: &str) -> String {
    format!("ipckit-unit-sem-{}-{what}", std::process::id())
}

#[test]
fn named_mode_is_exact_and_others_writable_needs_an_opt_in() {
    let n = name("mode");
    let sem = NamedSemaphore::create(&n, 0).unwrap().remove_on_drop();
    assert_eq!(sem.mode().unwrap(), 0o600);
    assert!(NamedSemaphore::open(&n).is_ok());
    sem.remove().unwrap();
    // 0o666 is what a umask of 022 would cut to 0o644.
    let sem = NamedSemaphore::create_with_mode(&n, 1, 0o666)
        .unwrap()
        .remove_on_drop();
    assert_eq!(sem.mode().unwrap(), 0o666);
    let e = NamedSemaphore::open(&n).unwrap_err();
    assert!(matches!(e, Error::Untrusted { mode: 0o666, .. }), "{e}");
    assert!(e.to_string().contains(sem.name()), "{e}");
    let opened = NamedSemaphore::open_with(&n, Trust::Anyone).unwrap();
    assert_eq!(opened.value().unwrap(), 1);
    drop(sem);
    assert!(matches!(NamedSemaphore::open(&n), Err(Error::NotFound(_))));
    let e = NamedSemaphore::create_with_mode(&n, 0, 0o2600).unwrap_err();
    assert!(e.to_string().contains(&n), "{e}");
    assert!(matches!(NamedSemaphore::open(&n), Err(Error::NotFound(_))));
}

#[test]
fn sysv_mode_is_exact_and_others_writable_needs_an_opt_in() {
    let key = 0x5e40_0000 | (std::process::id() as libc::key_t & 0xffff);
    let set = SysvSemaphoreSet::create(key, 1).unwrap().remove_on_drop();
    assert_eq!(set.mode().unwrap(), 0o600);
    assert_eq!(SysvSemaphoreSet::open(key).unwrap().id(), set.id());
    set.remove().unwrap();
    let set = SysvSemaphoreSet::create_with_mode(key, 2, 0o660)
        .unwrap()
        .remove_on_drop();
    assert_eq!(set.mode().unwrap(), 0o660);
    let e = SysvSemaphoreSet::open(key).unwrap_err();
    assert!(matches!(e, Error::Untrusted { mode: 0o660, .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("semid {}", set.id())),
        "{e}"
    );
    // Our own group: accepted by Trust::Group.
    assert_eq!(
        SysvSemaphoreSet::open_with(key, Trust::Group)
            .unwrap()
            .len(),
        2
    );
    let id = set.id();
    drop(set);
    assert!(matches!(
        SysvSemaphoreSet::from_id(id),
        Err(Error::NotFound(_))
    ));
}
