//! `try_clone` across processes: a child's sender and its clone; dropping
//! one must not make the receiver (the parent) see `PeerGone` while the
//! other lives, and dropping the last must.

use super::*;

/// How long the child waits between dropping the first endpoint and
/// sending through its clone: several liveness slices of the blocked
/// receiver.
const BETWEEN: Duration = Duration::from_millis(300);

/// The parent's side of the scenario: waits until the child dropped its
/// first sender (word 0), then `recv` must bring the clone's item, not
/// `PeerGone`; after word 1 is set the child drops the clone and `recv`
/// must end in `PeerGone`.
fn parent_side<T: PartialEq + std::fmt::Debug>(
    words: &SharedWords,
    child: &mut Child,
    want: T,
    mut recv: impl FnMut() -> Result<T, Error>,
) -> Result<String, String> {
    ensure!(words.wait_for(0, 1, PATIENCE), "the child never opened");
    let got = recv();
    ensure!(
        matches!(&got, Ok(v) if *v == want),
        "with the clone alive: {got:?} (PeerGone means the first drop closed the process's record)"
    );
    words.word(1).store(1, Ordering::Release);
    let started = Instant::now();
    let end = recv();
    ensure!(
        end.as_ref().is_err_and(Error::is_peer_gone),
        "after the last clone dropped: {end:?}"
    );
    let took = started.elapsed();
    wait_ok(child)?;
    Ok(format!("PeerGone {took:.0?} after the last clone"))
}

pub(super) fn mpmc_clones_across_processes() -> Result<String, String> {
    let g = ShmGuard::new("mpmc-clones");
    let rx = mpmc::Receiver::<u64>::create(&g.0, 64).ctx("create")?;
    let words = SharedWords::new();
    let (name, w) = (g.0.clone(), &words);
    let mut child = fork_child(move || {
        child_main(|| {
            let tx = cf(mpmc::Sender::<u64>::open(&name), "open")?;
            let clone = cf(tx.try_clone(), "try_clone")?;
            drop(tx);
            w.word(0).store(1, Ordering::Release);
            std::thread::sleep(BETWEEN);
            cf(clone.send(42), "send through the clone")?;
            if !w.wait_for(1, 1, PATIENCE) {
                return Err(fail(EXIT_CHECK, "the parent never received"));
            }
            Ok(())
        })
    })?;
    parent_side(&words, &mut child, 42, || rx.recv_timeout(PATIENCE))
}

pub(super) fn mpsc_bytes_clones_across_processes() -> Result<String, String> {
    let g = ShmGuard::new("mpsc-clones");
    let mut rx = mpsc_bytes::Receiver::create(&g.0, 4096).ctx("create")?;
    let words = SharedWords::new();
    let (name, w) = (g.0.clone(), &words);
    let mut child = fork_child(move || {
        child_main(|| {
            let tx = cf(mpsc_bytes::Sender::open(&name), "open")?;
            let clone = cf(tx.try_clone(), "try_clone")?;
            drop(tx);
            w.word(0).store(1, Ordering::Release);
            std::thread::sleep(BETWEEN);
            cf(clone.send(b"clone"), "send through the clone")?;
            if !w.wait_for(1, 1, PATIENCE) {
                return Err(fail(EXIT_CHECK, "the parent never received"));
            }
            Ok(())
        })
    })?;
    let mut buf = [0u8; 64];
    parent_side(&words, &mut child, b"clone".to_vec(), || {
        let n = rx.recv_timeout(&mut buf, PATIENCE)?;
        Ok(buf[..n].to_vec())
    })
}
