//! Handing descriptors over: `SCM_RIGHTS` and inheritance.

use super::*;

// Sub-tests: handing descriptors over.

/// SCM_RIGHTS to a forked child over a socket pair.
pub(super) fn scm_rights_fork() -> Result<String, String> {
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
pub(super) fn scm_rights_unrelated() -> Result<String, String> {
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

pub(super) fn role_recv_scm() -> Result<i32, String> {
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
pub(super) fn inherited_fd() -> Result<String, String> {
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

pub(super) fn role_inherited() -> Result<i32, String> {
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

pub(super) fn role_not_inherited() -> Result<i32, String> {
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
