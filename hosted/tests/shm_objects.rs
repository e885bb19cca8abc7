//! Shared-memory objects across real processes: named POSIX objects, sealed
//! memfds, mapped files, and handing descriptors to other processes.
//!
//! Built with `harness = false`: the children are `fork()`ed from a
//! single-threaded process (checked before every fork), so they may allocate
//! and use the whole API; some sub-tests instead *spawn* this binary again,
//! with `IPCKIT_SHM_TEST_ROLE` naming what the child does, to be an
//! unrelated process that opens by name, receives over a socket or inherits
//! a descriptor.
//!
//! Cleanup: every name is unique (`ipckit-test-<pid>-<n>-<test>`), and a
//! drop guard in the parent removes it even when a sub-test fails or
//! panics. At the end the binary looks for anything of this run left in
//! `/dev/shm` or the temp directory, removes it, and fails if it found any.
//! Children never remove what the parent created.

mod support;

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error};
use ipckit::shm::{
    MIN_LEN, MappedFile, Memfd, SharedMapping, SharedMemory, ShmObject, recv_fd, send_fd, send_fds,
};
use ipckit::spsc::Ring;
use ipckit::{ObjectKind, mpmc};
use support::{Child, Ctx, Exit, FileGuard, ShmGuard, Suite, fork_child, temp_path, unique_name};

const ROLE_VAR: &str = "IPCKIT_SHM_TEST_ROLE";
const NAME_VAR: &str = "IPCKIT_SHM_TEST_NAME";
const MEMFD_VAR: &str = "IPCKIT_SHM_TEST_MEMFD";
const DEADLINE: Duration = Duration::from_secs(30);
const CAPACITY: u32 = 128;
const ITEMS: u64 = 100;

// ---------------------------------------------------------------------------
// Small helpers.

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn item(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5
}

fn ring_len() -> usize {
    Ring::<u64>::region_len(CAPACITY).expect("valid capacity")
}

/// Initialises an SPSC ring on `mem` and pushes `ITEMS` items.
fn fill_ring(mem: &impl SharedMemory) -> Result<(), String> {
    let ring = Ring::<u64>::init(mem.region(), CAPACITY).ctx("init")?;
    let mut tx = ring.producer().ctx("producer")?;
    for i in 0..ITEMS {
        tx.try_push(item(i)).ctx("push")?;
    }
    Ok(())
}

/// Attaches to the ring on `mem` and checks that it holds exactly the items
/// of [`fill_ring`].
fn drain_ring(mem: &impl SharedMemory) -> Result<(), String> {
    mem.expect_kind(ObjectKind::Spsc).ctx("expect_kind")?;
    let ring = Ring::<u64>::attach(mem.region()).ctx("attach")?;
    let mut rx = ring.consumer().ctx("consumer")?;
    for i in 0..ITEMS {
        let v = rx.try_pop().ctx("pop")?;
        ensure!(v == item(i), "item {i}: {v:#x}");
    }
    ensure!(
        rx.try_pop() == Err(CoreError::Empty),
        "more items than pushed"
    );
    Ok(())
}

/// The `u32` at `offset` of a mapping, accessed atomically.
fn word(mem: &impl SharedMemory, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mem.len());
    // SAFETY: in bounds and 4-aligned (page-aligned base); these tests touch
    // such words only atomically, and the mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mem.as_ptr().add(offset).cast()) }
}

/// The permission bits of an open object.
fn mode_of(fd: std::os::fd::BorrowedFd<'_>) -> Result<u32, String> {
    // SAFETY: `libc::stat` is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: an open descriptor and a valid out-pointer.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    ensure!(rc == 0, "fstat: {}", io::Error::last_os_error());
    Ok(st.st_mode & 0o777)
}

// ---------------------------------------------------------------------------
// Processes.

/// Forks; the child `_exit`s with the code `body` returns (1, with the
/// message on stderr, for an `Err`). Never returns in the child.
fn fork_role(body: impl FnOnce() -> Result<i32, String>) -> Result<Child, String> {
    fork_child(|| {
        body().unwrap_or_else(|msg| {
            eprintln!("  child: {msg}");
            1
        })
    })
}

fn deadline() -> Instant {
    Instant::now() + DEADLINE
}

/// A spawned copy of this binary, killed if dropped while running.
struct Spawned(std::process::Child);

impl Spawned {
    fn wait(&mut self) -> Result<Exit, String> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.0.try_wait().ctx("try_wait")? {
                return Ok(match status.signal() {
                    Some(s) => Exit::Signal(s),
                    None => Exit::Code(status.code().unwrap_or(-1)),
                });
            }
            ensure!(Instant::now() < deadline, "spawned child timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// This binary, with `role` to play.
fn self_command(role: &str) -> Result<Command, String> {
    let mut cmd = Command::new(std::env::current_exe().ctx("current_exe")?);
    cmd.env(ROLE_VAR, role);
    Ok(cmd)
}

fn spawn(mut cmd: Command) -> Result<Spawned, String> {
    cmd.spawn().map(Spawned).ctx("spawn")
}

fn expect_ok(exit: Exit, who: &str) -> Result<(), String> {
    ensure!(exit == Exit::Code(0), "{who} ended with {exit:?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Sub-tests: named POSIX objects.

/// Created in the parent, opened by name in a forked child: the child sees
/// the parent's items, and the parent sees the child's answer.
fn named_fork() -> Result<String, String> {
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
fn named_spawn() -> Result<String, String> {
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

fn role_open_named() -> Result<i32, String> {
    let name = std::env::var(NAME_VAR).ctx(NAME_VAR)?;
    let obj = ShmObject::open(&name).ctx("open")?;
    drain_ring(&obj)?;
    Ok(0)
}

/// Several forked processes race to create one name: exactly one wins.
fn create_race() -> Result<String, String> {
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
fn missing_and_bad_names() -> Result<String, String> {
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
fn raw_object(name: &str, size: libc::off_t) -> Result<(), String> {
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
fn bad_objects() -> Result<String, String> {
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
fn permissions() -> Result<String, String> {
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
fn plain_truncation() -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// Sub-tests: memfd.

fn memfd_sealed() -> Result<String, String> {
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
fn raw_memfd(size: libc::off_t, seals: libc::c_int) -> Result<OwnedFd, String> {
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
fn memfd_from_fd_checks() -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// Sub-tests: mapped files.

fn mapped_file_persists() -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// Sub-tests: handing descriptors over.

/// SCM_RIGHTS to a forked child over a socket pair.
fn scm_rights_fork() -> Result<String, String> {
    let (parent_end, child_end) = UnixStream::pair().ctx("socketpair")?;
    let memfd = Memfd::create("ipckit-test-scm", ring_len()).ctx("create")?;
    fill_ring(&memfd)?;
    let mut child = fork_role(move || {
        let fd = recv_fd(&child_end).ctx("recv_fd")?;
        // SAFETY: plain query on an open descriptor.
        let fd_flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        ensure!(fd_flags & libc::FD_CLOEXEC != 0, "received fd not CLOEXEC");
        let peer = Memfd::from_fd(fd).ctx("from_fd")?;
        drain_ring(&peer)?;
        Ok(0)
    })?;
    send_fd(&parent_end, memfd.as_fd()).ctx("send_fd")?;
    expect_ok(child.wait(deadline())?, "child")?;
    // The child drained the same memory.
    let ring = Ring::<u64>::attach(memfd.region()).ctx("attach")?;
    ensure!(
        ring.consumer().ctx("consumer")?.try_pop() == Err(CoreError::Empty),
        "child did not drain"
    );
    Ok("memfd sent to a forked child, sealed and drained there".into())
}

/// SCM_RIGHTS to an unrelated (spawned) process over an abstract socket.
fn scm_rights_unrelated() -> Result<String, String> {
    let sock_name = unique_name("scm-sock");
    let addr = SocketAddr::from_abstract_name(sock_name.as_bytes()).ctx("address")?;
    let listener = UnixListener::bind_addr(&addr).ctx("bind")?;
    let memfd = Memfd::create("ipckit-test-scm-unrelated", ring_len()).ctx("create")?;
    fill_ring(&memfd)?;
    let mut cmd = self_command("recv-scm")?;
    cmd.env(NAME_VAR, &sock_name);
    let mut child = spawn(cmd)?;
    listener.set_nonblocking(true).ctx("nonblocking")?;
    let deadline = Instant::now() + DEADLINE;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                ensure!(Instant::now() < deadline, "child never connected");
                if let Ok(Some(status)) = child.0.try_wait() {
                    return Err(format!("child ended before connecting: {status}"));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream.set_nonblocking(false).ctx("blocking")?;
    send_fd(&stream, memfd.as_fd()).ctx("send_fd")?;
    expect_ok(child.wait()?, "spawned receiver")?;

    // Misuse on an in-process pair: an unsealed memfd is refused by the
    // receiver; two descriptors at once are refused (truncated control
    // data) and closed; a closed peer is an error, not a hang.
    let (a, b) = UnixStream::pair().ctx("socketpair")?;
    send_fd(&a, raw_memfd(4096, 0)?.as_fd()).ctx("send unsealed")?;
    ensure!(
        matches!(
            Memfd::from_fd(recv_fd(&b).ctx("recv")?),
            Err(Error::NotSealed { .. })
        ),
        "unsealed memfd accepted after SCM_RIGHTS"
    );
    // Two fit in the control buffer (it is padded to 8 bytes): refused as
    // more than one. Four do not: truncated control data. Both close what
    // arrived.
    for (n, why) in [(2, "more than one"), (4, "truncated")] {
        let fds = vec![memfd.as_fd(); n];
        send_fds(&a, &fds).ctx("send several")?;
        let r = recv_fd(&b);
        ensure!(
            r.as_ref().is_err_and(|e| e.to_string().contains(why)),
            "{n} descriptors: {r:?}"
        );
    }
    drop(a);
    let eof = recv_fd(&b);
    ensure!(
        matches!(&eof, Err(e) if e.os_error().is_some_and(|o| o.source.kind() == io::ErrorKind::UnexpectedEof)),
        "closed peer: {eof:?}"
    );
    Ok(
        "memfd sent to a spawned process over an abstract socket; unsealed, two-fd and EOF refused"
            .into(),
    )
}

fn role_recv_scm() -> Result<i32, String> {
    let name = std::env::var(NAME_VAR).ctx(NAME_VAR)?;
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).ctx("address")?;
    let stream = UnixStream::connect_addr(&addr).ctx("connect")?;
    let peer = Memfd::from_fd(recv_fd(&stream).ctx("recv_fd")?).ctx("from_fd")?;
    let seals = peer.seals().ctx("seals")? as i32;
    ensure!(
        seals & (libc::F_SEAL_SHRINK | libc::F_SEAL_GROW) != 0,
        "seals {seals:#x}"
    );
    ensure!(peer.len() == ring_len(), "len {}", peer.len());
    drain_ring(&peer)?;
    Ok(0)
}

/// A memfd inherited by a spawned child, its number in the environment.
fn inherited_fd() -> Result<String, String> {
    let memfd = Memfd::create("ipckit-test-inherit", ring_len()).ctx("create")?;
    fill_ring(&memfd)?;
    let mut cmd = self_command("inherited")?;
    memfd
        .pass_to_child(&mut cmd, MEMFD_VAR)
        .ctx("pass_to_child")?;
    expect_ok(spawn(cmd)?.wait()?, "spawned child")?;
    // The parent's descriptor is still close-on-exec.
    // SAFETY: plain query on an open descriptor.
    let flags = unsafe { libc::fcntl(memfd.as_fd().as_raw_fd(), libc::F_GETFD) };
    ensure!(flags & libc::FD_CLOEXEC != 0, "parent's fd lost FD_CLOEXEC");
    // A child spawned without pass_to_child does not get it.
    let mut cmd = self_command("not-inherited")?;
    cmd.env(MEMFD_VAR, memfd.as_fd().as_raw_fd().to_string());
    expect_ok(spawn(cmd)?.wait()?, "child without the descriptor")?;
    Ok("memfd inherited by a spawned child (FD_CLOEXEC cleared in the child only)".into())
}

fn role_inherited() -> Result<i32, String> {
    // SAFETY: the parent passed this descriptor for us alone; nothing else in
    // this process owns it.
    let memfd = unsafe { Memfd::from_env(MEMFD_VAR) }.ctx("from_env")?;
    // SAFETY: plain query on an open descriptor.
    let flags = unsafe { libc::fcntl(memfd.as_fd().as_raw_fd(), libc::F_GETFD) };
    ensure!(
        flags & libc::FD_CLOEXEC != 0,
        "not CLOEXEC again after from_env"
    );
    drain_ring(&memfd)?;
    Ok(0)
}

fn role_not_inherited() -> Result<i32, String> {
    let fd: i32 = std::env::var(MEMFD_VAR).ctx("var")?.parse().ctx("parse")?;
    // SAFETY: plain query of a descriptor number.
    let rc = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if rc >= 0 {
        // Some other descriptor may sit at that number; it must not be a
        // sealed memfd of our size.
        // SAFETY: plain query.
        let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
        ensure!(
            seals <= 0,
            "fd {fd} leaked into a child that was not given it"
        );
    }
    Ok(0)
}

// ---------------------------------------------------------------------------

fn run_role(role: &str) -> ! {
    let result = match role {
        "open-named" => role_open_named(),
        "recv-scm" => role_recv_scm(),
        "inherited" => role_inherited(),
        "not-inherited" => role_not_inherited(),
        _ => Err(format!("unknown role {role:?}")),
    };
    let code = match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("  spawned child ({role}): {msg}");
            1
        }
    };
    std::process::exit(code)
}

fn main() {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        run_role(&role);
    }
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("named: create, open in a forked child", named_fork),
        ("named: open in a spawned process", named_spawn),
        ("named: creators racing", create_race),
        (
            "named: missing objects, invalid names",
            missing_and_bad_names,
        ),
        ("bad objects: size, kind, header", bad_objects),
        ("permissions", permissions),
        ("plain shm truncated under a mapping", plain_truncation),
        ("memfd: sealed against resizing", memfd_sealed),
        ("memfd: from_fd checks", memfd_from_fd_checks),
        (
            "mapped file: persists across processes",
            mapped_file_persists,
        ),
        ("SCM_RIGHTS to a forked child", scm_rights_fork),
        ("SCM_RIGHTS to an unrelated process", scm_rights_unrelated),
        ("inherited fd in a spawned child", inherited_fd),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}
