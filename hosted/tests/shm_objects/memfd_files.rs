//! memfd objects (seals, `from_fd` checks) and mapped files.

use super::*;

// Sub-tests: memfd.

pub(super) fn memfd_sealed() -> Result<String, String> {
    let memfd = Memfd::create("ipckit-test-sealed", 2 * 4096).ctx("create")?;
    let seals = memfd.seals().ctx("seals")? as i32;
    let want = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    ensure!(seals & want == want, "seals {seals:#x}");
    word(&memfd, 2 * 4096 - 4).store(0x5EA1, Ordering::Relaxed);
    let fd = memfd.as_fd().as_raw_fd();
    for size in [0, 4096, 3 * 4096] {
        // SAFETY: plain call on an open descriptor.
        let rc = unsafe { libc::ftruncate(fd, size) };
        let errno = io::Error::last_os_error().raw_os_error();
        ensure!(
            rc == -1 && errno == Some(libc::EPERM),
            "ftruncate({size}) on a sealed memfd: rc {rc}, errno {errno:?}"
        );
    }
    // SAFETY: plain call on an open descriptor.
    let rc = unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_WRITE) };
    ensure!(rc == -1, "added a seal after F_SEAL_SEAL");
    // The mapping is intact, up to its last byte.
    ensure!(
        word(&memfd, 2 * 4096 - 4).load(Ordering::Relaxed) == 0x5EA1,
        "mapping changed"
    );
    ensure!(memfd.len() == 2 * 4096, "len");
    ensure!(
        matches!(
            Memfd::create("bad\0name", 4096),
            Err(Error::InvalidName { .. })
        ),
        "NUL in a memfd name"
    );
    ensure!(
        matches!(Memfd::create("x", 1), Err(Error::TooSmall { .. })),
        "tiny memfd"
    );
    Ok("ftruncate shrink/grow -> EPERM, F_ADD_SEALS refused, mapping intact".into())
}

/// Raw `memfd_create` with optional seals, sized `size`.
pub(super) fn raw_memfd(size: libc::off_t, seals: libc::c_int) -> Result<OwnedFd, String> {
    // SAFETY: plain call with a NUL-terminated name.
    let raw =
        unsafe { libc::memfd_create(c"raw".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    ensure!(raw >= 0, "memfd_create: {}", io::Error::last_os_error());
    // SAFETY: fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: plain calls on an open descriptor.
    let ok = unsafe {
        libc::ftruncate(raw, size) == 0
            && (seals == 0 || libc::fcntl(raw, libc::F_ADD_SEALS, seals) == 0)
    };
    ensure!(ok, "size/seal: {}", io::Error::last_os_error());
    Ok(fd)
}

/// `from_fd` refuses descriptors whose size a peer could still change.
pub(super) fn memfd_from_fd_checks() -> Result<String, String> {
    let unsealed = raw_memfd(4096, 0)?;
    match Memfd::from_fd(unsealed) {
        Err(Error::NotSealed { missing: 6 }) => {}
        other => return Err(format!("unsealed memfd: {other:?}")),
    }
    let shrink_only = raw_memfd(4096, libc::F_SEAL_SHRINK)?;
    match Memfd::from_fd(shrink_only) {
        Err(Error::NotSealed { missing: 4 }) => {}
        other => return Err(format!("memfd without F_SEAL_GROW: {other:?}")),
    }
    let file = FileGuard::new("not-memfd");
    std::fs::write(&file.0, [0u8; 4096]).ctx("write file")?;
    let fd = OwnedFd::from(std::fs::File::open(&file.0).ctx("open file")?);
    ensure!(
        matches!(Memfd::from_fd(fd), Err(Error::NotSealed { .. })),
        "regular file accepted"
    );
    let shm = ShmGuard::new("not-memfd");
    let obj = ShmObject::create(&shm.0, 4096).ctx("create")?;
    let fd = obj.as_fd().try_clone_to_owned().ctx("dup")?;
    ensure!(
        matches!(Memfd::from_fd(fd), Err(Error::NotSealed { .. })),
        "shm_open object accepted as a memfd"
    );
    let empty_sealed = raw_memfd(0, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW)?;
    ensure!(
        matches!(
            Memfd::from_fd(empty_sealed),
            Err(Error::TooSmall { size: 0, .. })
        ),
        "empty sealed memfd"
    );
    let msg = Error::NotSealed { missing: 6 }.to_string();
    Ok(format!(
        "NotSealed for unsealed memfd, regular file, shm object; \"{msg}\""
    ))
}

// Sub-tests: mapped files.

pub(super) fn mapped_file_persists() -> Result<String, String> {
    let file = FileGuard::new("persist.ring");
    let path = file.0.clone();
    // Process 1 creates the file and a ring, produces, and exits.
    let p = path.clone();
    let mut writer = fork_role(move || {
        let f = MappedFile::create(&p, ring_len()).ctx("create")?;
        ensure!(f.was_created(), "was_created");
        fill_ring(&f)?;
        f.flush().ctx("flush")?;
        Ok(0)
    })?;
    expect_ok(writer.wait(deadline())?, "writer")?;
    // Process 2, started after process 1 ended, reopens and consumes.
    let p = path.clone();
    let mut reader = fork_role(move || {
        let f = MappedFile::open(&p).ctx("open")?;
        drain_ring(&f)?;
        f.flush_async().ctx("flush_async")?;
        Ok(0)
    })?;
    expect_ok(reader.wait(deadline())?, "reader")?;
    // Both are gone; the file still holds a valid, now empty ring.
    let f = MappedFile::open(&path).ctx("reopen")?;
    let info = f.expect_kind(ObjectKind::Spsc).ctx("header after reopen")?;
    ensure!(info.capacity == CAPACITY, "capacity {}", info.capacity);
    let ring = Ring::<u64>::attach(f.region()).ctx("attach")?;
    ensure!(
        ring.consumer().ctx("consumer")?.try_pop() == Err(CoreError::Empty),
        "not empty"
    );
    f.check_size().ctx("check_size")?;
    let mode = mode_of(f.as_fd())?;
    ensure!(mode == 0o600, "mode {mode:o}");
    ensure!(
        matches!(
            MappedFile::create(&path, 4096),
            Err(Error::AlreadyExists(_))
        ),
        "create over an existing file"
    );
    // A file too short to hold a header.
    let short = FileGuard::new("short.ring");
    std::fs::write(&short.0, [1u8; 10]).ctx("write")?;
    ensure!(
        matches!(
            MappedFile::open(&short.0),
            Err(Error::TooSmall { size: 10, .. })
        ),
        "short file"
    );
    drop(f);
    MappedFile::remove(&path).ctx("remove")?;
    ensure!(!path.exists(), "file still there");
    Ok("ring written by one process, read by a later one, valid after both ended".into())
}
