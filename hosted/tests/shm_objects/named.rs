//! Named POSIX objects: create and open across processes, races, bad
//! names and objects, permissions, truncation.

use super::*;

// Sub-tests: named POSIX objects.

/// Created in the parent, opened by name in a forked child: the child sees
/// the parent's items, and the parent sees the child's answer.
pub(super) fn named_fork() -> Result<String, String> {
    let guard = ShmGuard::new("named-fork");
    let len = ring_len() + 4096;
    let obj = ShmObject::create(&guard.0, len).ctx("create")?;
    ensure!(obj.was_created() && obj.len() == len, "len {}", obj.len());
    ensure!(obj.name().as_str() == format!("/{}", guard.0), "name");
    fill_ring(&obj)?;
    let name = guard.0.clone();
    let mut child = fork_role(move || {
        // A fresh mapping by name, not the inherited one.
        let peer = ShmObject::open(&name).ctx("open")?;
        ensure!(!peer.was_created(), "open says created");
        ensure!(peer.len() == len, "child sees {} bytes", peer.len());
        drain_ring(&peer)?;
        word(&peer, len - 4).store(0xFEED_F00D, Ordering::Release);
        Ok(0)
    })?;
    expect_ok(child.wait(deadline())?, "child")?;
    let answer = word(&obj, len - 4).load(Ordering::Acquire);
    ensure!(answer == 0xFEED_F00D, "parent sees {answer:#x}");
    Ok(format!(
        "{ITEMS} items parent -> child by name, answer back"
    ))
}

/// Created here, opened by name in a spawned (unrelated) process.
pub(super) fn named_spawn() -> Result<String, String> {
    let guard = ShmGuard::new("named-spawn");
    let obj = ShmObject::create(&guard.0, ring_len()).ctx("create")?;
    fill_ring(&obj)?;
    let mut cmd = self_command("open-named")?;
    cmd.env(NAME_VAR, &guard.0);
    expect_ok(spawn(cmd)?.wait()?, "spawned child")?;
    // The child drained the ring and released its consumer role.
    let ring = Ring::<u64>::attach(obj.region()).ctx("attach")?;
    let mut rx = ring.consumer().ctx("consumer after child")?;
    ensure!(rx.try_pop() == Err(CoreError::Empty), "items left");
    Ok("spawned process opened the object by name and drained the ring".into())
}

pub(super) fn role_open_named() -> Result<i32, String> {
    let name = std::env::var(NAME_VAR).ctx(NAME_VAR)?;
    let obj = ShmObject::open(&name).ctx("open")?;
    drain_ring(&obj)?;
    Ok(0)
}

/// Several forked processes race to create one name: exactly one wins.
pub(super) fn create_race() -> Result<String, String> {
    const RACERS: usize = 6;
    const ROUNDS: usize = 10;
    const WON: i32 = 0;
    const LOST: i32 = 10;
    let start = SharedMapping::anonymous(4096).ctx("mmap")?;
    for round in 0..ROUNDS {
        let guard = ShmGuard::new("race");
        word(&start, 0).store(0, Ordering::SeqCst);
        let mut children = Vec::new();
        for _ in 0..RACERS {
            let (name, start) = (guard.0.clone(), &start);
            children.push(fork_role(move || {
                let deadline = Instant::now() + DEADLINE;
                while word(start, 0).load(Ordering::Acquire) == 0 {
                    ensure!(Instant::now() < deadline, "no start signal");
                    std::hint::spin_loop();
                }
                match ShmObject::create(&name, 4096) {
                    Ok(_) => Ok(WON),
                    Err(Error::AlreadyExists(_)) => Ok(LOST),
                    Err(e) => Err(format!("create: {e}")),
                }
            })?);
        }
        word(&start, 0).store(1, Ordering::Release);
        let mut exits = Vec::new();
        for c in &mut children {
            exits.push(c.wait(deadline())?);
        }
        let won = exits.iter().filter(|&&e| e == Exit::Code(WON)).count();
        let lost = exits.iter().filter(|&&e| e == Exit::Code(LOST)).count();
        ensure!(
            won == 1 && lost == RACERS - 1,
            "round {round}: {exits:?} (0 = won, 10 = AlreadyExists)"
        );
        // The winner's object is complete.
        let obj = ShmObject::open(&guard.0).ctx("open winner's object")?;
        ensure!(obj.len() == 4096, "winner's object has {} bytes", obj.len());
    }
    Ok(format!(
        "{ROUNDS} rounds of {RACERS} racers: one winner each, the rest AlreadyExists"
    ))
}

/// Missing objects, invalid names.
pub(super) fn missing_and_bad_names() -> Result<String, String> {
    let name = unique_name("missing");
    match ShmObject::open(&name) {
        Err(Error::NotFound(e)) => {
            ensure!(
                e.call == "shm_open" && e.target == format!("/{name}"),
                "{e}"
            )
        }
        other => return Err(format!("open missing: {other:?}")),
    }
    ensure!(
        matches!(ShmObject::remove(&name), Err(Error::NotFound(_))),
        "remove missing"
    );
    let path = temp_path("missing-file");
    ensure!(
        matches!(MappedFile::open(&path), Err(Error::NotFound(_))),
        "open missing file"
    );
    for bad in ["a/b", "", "/", "//x", "x\0y", ".."] {
        for (what, r) in [
            ("create", ShmObject::create(bad, 4096).map(drop)),
            ("open", ShmObject::open(bad).map(drop)),
            (
                "open_or_create",
                ShmObject::open_or_create(bad, 4096).map(drop),
            ),
            ("remove", ShmObject::remove(bad)),
        ] {
            ensure!(
                matches!(r, Err(Error::InvalidName { .. })),
                "{what}({bad:?}): {r:?}"
            );
        }
    }
    let long = format!("ipckit-test-{}", "x".repeat(300));
    ensure!(
        matches!(
            ShmObject::create(&long, 4096),
            Err(Error::InvalidName { .. })
        ),
        "long name accepted"
    );
    let msg = ShmObject::open("a/b").unwrap_err().to_string();
    ensure!(msg.contains("a/b") && msg.contains('/'), "message: {msg}");
    Ok(format!("NotFound and InvalidName; e.g. \"{msg}\""))
}

/// Raw `shm_open` + `ftruncate`, bypassing the checks, to make bad objects.
pub(super) fn raw_object(name: &str, size: libc::off_t) -> Result<(), String> {
    let c = std::ffi::CString::new(format!("/{name}")).ctx("name")?;
    // SAFETY: plain call with a NUL-terminated name.
    let fd = unsafe {
        libc::shm_open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o600,
        )
    };
    ensure!(fd >= 0, "shm_open: {}", io::Error::last_os_error());
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain call on an open descriptor.
    let rc = unsafe { libc::ftruncate(fd.as_raw_fd(), size) };
    ensure!(rc == 0, "ftruncate: {}", io::Error::last_os_error());
    Ok(())
}

/// Too small, unsized, wrong kind, corrupt header: clear errors, no SIGBUS.
pub(super) fn bad_objects() -> Result<String, String> {
    // Unsized (size 0) and too short for a header.
    let empty = ShmGuard::new("empty");
    raw_object(&empty.0, 0)?;
    match ShmObject::open(&empty.0) {
        Err(Error::TooSmall { size: 0, .. }) => {}
        other => return Err(format!("open unsized: {other:?}")),
    }
    let started = Instant::now();
    match ShmObject::open_or_create(&empty.0, 4096) {
        Err(Error::TooSmall { size: 0, .. }) => {}
        other => return Err(format!("open_or_create unsized: {other:?}")),
    }
    let waited = started.elapsed();
    let short = ShmGuard::new("short");
    raw_object(&short.0, 16)?;
    match ShmObject::open(&short.0) {
        Err(Error::TooSmall {
            size: 16, required, ..
        }) if required == MIN_LEN as u64 => {}
        other => return Err(format!("open short: {other:?}")),
    }
    ensure!(
        matches!(
            ShmObject::create(&unique_name("tiny"), 16),
            Err(Error::TooSmall { .. })
        ),
        "create below a header"
    );

    // open_or_create: existing but smaller than asked.
    let small = ShmGuard::new("small");
    ShmObject::create(&small.0, 4096).ctx("create small")?;
    match ShmObject::open_or_create(&small.0, 8192) {
        Err(Error::TooSmall {
            size: 4096,
            required: 8192,
            ..
        }) => {}
        other => return Err(format!("open_or_create smaller: {other:?}")),
    }
    let again = ShmObject::open_or_create(&small.0, 4096).ctx("open_or_create existing")?;
    ensure!(
        !again.was_created(),
        "open_or_create created an existing one"
    );

    // No header yet, wrong kind, corrupt header.
    let guard = ShmGuard::new("kind");
    let obj = ShmObject::create(&guard.0, ring_len()).ctx("create")?;
    match obj.inspect() {
        Err(Error::Core(CoreError::NotInitialized)) => {}
        other => return Err(format!("inspect of a fresh object: {other:?}")),
    }
    Ring::<u64>::init(obj.region(), CAPACITY).ctx("init")?;
    let peer = ShmObject::open(&guard.0).ctx("open")?;
    match peer.expect_kind(ObjectKind::Mpmc) {
        Err(Error::Core(CoreError::KindMismatch { .. })) => {}
        other => return Err(format!("expect_kind(Mpmc): {other:?}")),
    }
    ensure!(
        mpmc::Ring::<u64>::attach(peer.region()).is_err(),
        "an MPMC ring attached to an SPSC region"
    );
    match Ring::<u32>::attach(peer.region()) {
        Err(CoreError::ElementMismatch { .. }) => {}
        other => return Err(format!("attach with the wrong element: {:?}", other.err())),
    }
    // Scribble on the magic word, then the version.
    word(&obj, 0).store(0xDEAD_BEEF, Ordering::Relaxed);
    match peer.inspect() {
        Err(Error::Core(CoreError::BadMagic)) => {}
        other => return Err(format!("inspect after corrupting magic: {other:?}")),
    }
    word(&obj, 0).store(ipckit::region::MAGIC, Ordering::Relaxed);
    word(&obj, 4).store(999, Ordering::Relaxed);
    match peer.expect_kind(ObjectKind::Spsc) {
        Err(Error::Core(CoreError::VersionMismatch { found: 999, .. })) => {}
        other => return Err(format!("after corrupting version: {other:?}")),
    }
    ensure!(
        Ring::<u64>::attach(peer.region()).is_err(),
        "attach to a corrupt header"
    );
    Ok(format!(
        "TooSmall (0 and 16 bytes; open_or_create gave up on the unsized object after {waited:.0?}), \
         NotInitialized, KindMismatch, ElementMismatch, BadMagic, VersionMismatch"
    ))
}

/// Mode bits are exact (umask does not reduce them), and a user the mode
/// excludes gets PermissionDenied. As root (who bypasses permission checks)
/// a forked child drops to `nobody` first.
pub(super) fn permissions() -> Result<String, String> {
    // SAFETY: plain calls.
    let (old_umask, euid) = unsafe { (libc::umask(0o077), libc::geteuid()) };
    let guard = ShmGuard::new("mode");
    let created = ShmObject::create_with_mode(&guard.0, 4096, 0o640);
    // SAFETY: plain call, restores the umask.
    unsafe { libc::umask(old_umask) };
    let obj = created.ctx("create_with_mode")?;
    let mode = mode_of(obj.as_fd())?;
    ensure!(mode == 0o640, "mode {mode:o}");

    let private = ShmGuard::new("private");
    ShmObject::create(&private.0, 4096).ctx("create 0600")?;
    let readonly = ShmGuard::new("readonly");
    ShmObject::create_with_mode(&readonly.0, 4096, 0o400).ctx("create 0400")?;
    if euid != 0 {
        match ShmObject::open(&readonly.0) {
            Err(Error::PermissionDenied(e)) => {
                return Ok(format!("mode 0640 exact; 0400 opened read-write: {e}"));
            }
            other => return Err(format!("open of a 0400 object: {other:?}")),
        }
    }
    // Root: mode 0400 does not stop us (CAP_DAC_OVERRIDE)...
    ShmObject::open(&readonly.0).ctx("root opening a 0400 object")?;
    // ...so another user tries.
    let (a, b) = (private.0.clone(), readonly.0.clone());
    let mut child = fork_role(move || {
        // SAFETY: plain calls that change this child's credentials.
        let dropped = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
        if !dropped {
            return Ok(77); // cannot switch users here
        }
        for name in [&a, &b] {
            match ShmObject::open(name) {
                Err(Error::PermissionDenied(_)) => {}
                other => return Err(format!("nobody opening {name}: {other:?}")),
            }
        }
        Ok(0)
    })?;
    match child.wait(deadline())? {
        Exit::Code(0) => Ok(
            "mode 0640 exact under umask 077; as root: a child switched to nobody got \
             PermissionDenied for 0600 and 0400 objects (root itself may open 0400)"
                .into(),
        ),
        Exit::Code(77) => Ok("mode exact; PermissionDenied NOT checked: cannot setuid".into()),
        other => Err(format!("child: {other:?}")),
    }
}

/// A plain shm object shrunk under a live mapping: the other process's next
/// access past the new end dies of SIGBUS; `check_size` sees it first.
pub(super) fn plain_truncation() -> Result<String, String> {
    let guard = ShmGuard::new("truncate");
    let obj = ShmObject::create(&guard.0, 2 * 4096).ctx("create")?;
    let flags = SharedMapping::anonymous(4096).ctx("mmap")?;
    let name = guard.0.clone();
    let flags_ref = &flags;
    let mut child = fork_role(move || {
        let peer = ShmObject::open(&name).ctx("open")?;
        word(flags_ref, 0).store(1, Ordering::Release); // mapped
        let deadline = Instant::now() + DEADLINE;
        while word(flags_ref, 4).load(Ordering::Acquire) == 0 {
            ensure!(Instant::now() < deadline, "no go signal");
            std::thread::yield_now();
        }
        match peer.check_size() {
            Err(Error::TooSmall { size: 0, .. }) => {}
            other => return Err(format!("check_size after truncation: {other:?}")),
        }
        // Touch the second page, past the new end: SIGBUS kills us here.
        word(&peer, 4096).store(1, Ordering::Relaxed);
        Ok(3)
    })?;
    let deadline = Instant::now() + DEADLINE;
    while word(&flags, 0).load(Ordering::Acquire) == 0 {
        ensure!(Instant::now() < deadline, "child never mapped");
        std::thread::yield_now();
    }
    // SAFETY: plain call on our open descriptor: shrink to 0.
    let rc = unsafe { libc::ftruncate(obj.as_fd().as_raw_fd(), 0) };
    ensure!(rc == 0, "ftruncate: {}", io::Error::last_os_error());
    ensure!(
        matches!(
            obj.check_size(),
            Err(Error::TooSmall {
                size: 0,
                required: 8192,
                ..
            })
        ),
        "check_size in the parent"
    );
    word(&flags, 4).store(1, Ordering::Release);
    let exit = child.wait(Instant::now() + DEADLINE)?;
    ensure!(
        exit == Exit::Signal(libc::SIGBUS),
        "child ended with {exit:?}, expected SIGBUS"
    );
    Ok("shrunk under a live mapping: check_size -> TooSmall, access -> SIGBUS (why memfds are sealed)".into())
}
