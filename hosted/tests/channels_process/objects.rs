//! Take-over of a dead endpoint, creators racing, stale objects.

use super::*;

// Take-over.

pub(super) fn take_over_receiver() -> Result<String, String> {
    const ITEMS: u64 = 50;
    let g = ShmGuard::new("takeover");
    let mut tx = spsc::Sender::<u64>::create(&g.0, 64).ctx("create")?;
    for i in 0..ITEMS {
        tx.send(item(i)).ctx("send")?;
    }
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = idle_child(&words, || {
        let mut rx = spsc::Receiver::<u64>::open(&name).map_err(|e| e.to_string())?;
        for i in 0..5 {
            if rx.recv().map_err(|e| e.to_string())? != item(i) {
                return Err(format!("item {i}"));
            }
        }
        Ok(Box::new(rx))
    })?;
    let role_taken = |r: Result<spsc::Receiver<u64>, Error>| matches!(r, Err(e) if e.core() == Some(CoreError::RoleTaken(Role::Consumer)));
    ensure!(
        role_taken(spsc::Receiver::open(&g.0)),
        "open while the holder lives"
    );
    ensure!(
        role_taken(spsc::Receiver::take_over(&g.0)),
        "take_over while the holder lives"
    );
    child.kill();
    ensure!(
        role_taken(spsc::Receiver::open(&g.0)),
        "open after the holder died"
    );
    let mut rx = spsc::Receiver::<u64>::take_over(&g.0).ctx("take_over")?;
    for i in 5..ITEMS {
        ensure!(
            rx.recv().ctx("recv")? == item(i),
            "item {i} after take-over"
        );
    }
    // And the new receiver is a normal one: the sender still sees it.
    tx.send(item(ITEMS)).ctx("send")?;
    ensure!(rx.recv().ctx("recv")? == item(ITEMS), "new item");
    ensure!(
        tx.peer_gone().is_none(),
        "the sender thinks the receiver is gone"
    );

    // The same for the sender of a byte channel.
    let g2 = ShmGuard::new("takeover-bytes");
    let mut brx = bytes::Receiver::create(&g2.0, 4096).ctx("create bytes")?;
    let words = SharedWords::new();
    let name = g2.0.clone();
    let mut child = idle_child(&words, || {
        let mut tx = bytes::Sender::open(&name).map_err(|e| e.to_string())?;
        tx.send(b"before").map_err(|e| e.to_string())?;
        Ok(Box::new(tx))
    })?;
    child.kill();
    let mut btx = bytes::Sender::take_over(&g2.0).ctx("take_over bytes")?;
    btx.send(b"after").ctx("send")?;
    let mut buf = [0u8; 16];
    let n = brx.recv(&mut buf).ctx("recv")?;
    ensure!(&buf[..n] == b"before", "first message");
    let n = brx.recv(&mut buf).ctx("recv")?;
    ensure!(&buf[..n] == b"after", "second message");
    Ok(
        "a killed receiver's role taken over (items resume in order), refused while it lived; \
        same for a byte sender"
            .into(),
    )
}

// Creators racing, stale objects.

pub(super) fn creators_race() -> Result<String, String> {
    const RACERS: usize = 4;
    const WON: i32 = 0;
    const LOST: i32 = 20;
    let mut rounds = 0;
    for _ in 0..20 {
        let g = ShmGuard::new("race");
        let words = SharedWords::new();
        let mut children = Vec::new();
        for _ in 0..RACERS {
            let (name, words) = (&g.0, &words);
            children.push(fork_child(move || {
                words.word(1).fetch_add(1, Ordering::AcqRel);
                if !words.wait_for(0, 1, PATIENCE) {
                    return EXIT_CHECK;
                }
                match spsc::Sender::<u64>::create(name, 64) {
                    Ok(mut tx) => match tx.send(42) {
                        Ok(()) => WON,
                        Err(_) => EXIT_RING_ERROR,
                    },
                    Err(Error::AlreadyExists(_)) => LOST,
                    Err(e) => {
                        eprintln!("  child: {e}");
                        EXIT_RING_ERROR
                    }
                }
            })?);
        }
        ensure!(
            words.wait_for(1, RACERS as u64, PATIENCE),
            "racers not ready"
        );
        words.word(0).store(1, Ordering::Release);
        let mut won = 0;
        for child in &mut children {
            match child.wait(Instant::now() + PATIENCE)? {
                Exit::Code(WON) => won += 1,
                Exit::Code(LOST) => {}
                other => return Err(format!("racer: {other}")),
            }
        }
        ensure!(won == 1, "{won} creators won");
        let mut rx = spsc::Receiver::<u64>::open(&g.0).ctx("open the winner's channel")?;
        ensure!(rx.recv().ctx("recv")? == 42, "the winner's item");
        rounds += 1;
    }
    Ok(format!(
        "{rounds} rounds of {RACERS} racing creators: exactly one won each time"
    ))
}

pub(super) fn stale_removal() -> Result<String, String> {
    let (dead, live, idle) = (
        ShmGuard::new("stale-dead"),
        ShmGuard::new("stale-live"),
        ShmGuard::new("stale-idle"),
    );
    // `dead`: created by a child that is then killed; nobody else opened it.
    // `live`: the same, but this process holds its receiver.
    let words = SharedWords::new();
    let (d, l) = (dead.0.clone(), live.0.clone());
    let mut child = idle_child(&words, || {
        let a = spsc::Sender::<u64>::create(&d, 8).map_err(|e| e.to_string())?;
        let b = bytes::Sender::create(&l, 64).map_err(|e| e.to_string())?;
        Ok(Box::new((a, b)))
    })?;
    let _live_rx = bytes::Receiver::open(&live.0).ctx("open live")?;
    drop(spsc::Sender::<u64>::create(&idle.0, 8).ctx("create idle")?);
    let before = channel::inspect(&dead.0).ctx("inspect")?;
    ensure!(
        before.status == ChannelStatus::Live,
        "dead before the kill: {:?}",
        before.status
    );
    child.kill();

    let status = |name: &str| {
        channel::inspect(name)
            .map(|i| i.status)
            .map_err(|e| e.to_string())
    };
    ensure!(
        status(&dead.0) == Ok(ChannelStatus::Stale),
        "dead: {:?}",
        status(&dead.0)
    );
    ensure!(
        status(&live.0) == Ok(ChannelStatus::Live),
        "live: {:?}",
        status(&live.0)
    );
    ensure!(
        status(&idle.0) == Ok(ChannelStatus::Idle),
        "idle: {:?}",
        status(&idle.0)
    );
    let listed = channel::list().ctx("list")?;
    let entry = listed
        .iter()
        .find(|c| c.name == dead.0)
        .ok_or("dead channel not listed")?;
    ensure!(
        entry.endpoints.len() == 1
            && entry.endpoints[0].process.pid == child.pid as u32
            && !entry.endpoints[0].alive,
        "endpoints of the dead channel: {:?}",
        entry.endpoints
    );

    let removed = channel::remove_stale().ctx("remove_stale")?;
    ensure!(removed.contains(&dead.0), "not removed: {removed:?}");
    ensure!(
        !removed.contains(&live.0) && !removed.contains(&idle.0),
        "removed too much: {removed:?}"
    );
    let exists = |name: &str| std::path::Path::new("/dev/shm").join(name).exists();
    ensure!(!exists(&dead.0), "the dead channel is still in /dev/shm");
    ensure!(
        exists(&live.0) && exists(&idle.0),
        "a kept channel vanished"
    );
    Ok(format!(
        "{} listed; stale one removed, live and idle ones kept",
        listed.len()
    ))
}

// Removing the name once the peers joined.

/// `remove_name_after`: the name goes once the peers joined (two receiver
/// processes of an MPMC channel, opened by name), the channel works on
/// without it, nobody can open it by name any more; with too few peers the
/// call times out and the name stays.
pub(super) fn name_removed_after_peers_join() -> Result<String, String> {
    const ITEMS: u64 = 100;
    let g = ShmGuard::new("remove-name");
    let path = std::path::Path::new("/dev/shm").join(&g.0);
    let tx = mpmc::Sender::<u64>::create(&g.0, 64).ctx("create")?;
    let started = Instant::now();
    let waited = tx.remove_name_after(1, Duration::from_millis(30));
    ensure!(
        matches!(waited, Err(Error::TimedOut)),
        "no peer yet: {waited:?}"
    );
    ensure!(
        started.elapsed() >= Duration::from_millis(30),
        "returned early"
    );
    ensure!(path.exists(), "the name went although no peer joined");
    let mut children = Vec::new();
    for _ in 0..2 {
        let name = g.0.clone();
        children.push(fork_child(move || {
            let rx = match mpmc::Receiver::<u64>::open(&name) {
                Ok(rx) => rx,
                Err(e) => {
                    eprintln!("  child: open: {e}");
                    return EXIT_RING_ERROR;
                }
            };
            loop {
                match rx.recv() {
                    Ok(i) if i < ITEMS => {}
                    Ok(_) => return EXIT_CORRUPTED_ITEM,
                    Err(e) if e.is_peer_gone() => return 0,
                    Err(_) => return EXIT_RING_ERROR,
                }
            }
        })?);
    }
    tx.remove_name_after(2, PATIENCE).ctx("remove_name_after")?;
    ensure!(!path.exists(), "the name is still in /dev/shm");
    ensure!(
        matches!(mpmc::Receiver::<u64>::open(&g.0), Err(Error::NotFound(_))),
        "opened by name after the removal"
    );
    for i in 0..ITEMS {
        tx.send(i).ctx("send")?;
    }
    drop(tx);
    for child in &mut children {
        child.expect_ok(Instant::now() + PATIENCE)?;
    }
    Ok(format!(
        "timed out with no peer (name kept); removed once 2 receiver processes joined; \
        {ITEMS} items delivered after"
    ))
}
