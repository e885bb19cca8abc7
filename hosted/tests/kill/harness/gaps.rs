//! Gaps by receiver death: which missing messages the receivers killed
//! inside a receive call may have taken with them, at most one each
//! (the documented outcome of a receiver's death), and a check of that
//! rule on hand-made runs.

use std::collections::BTreeSet;

/// A receiver killed inside a receive call, as the harness saw it then.
pub struct CallKill {
    /// The kill's number in the run (for reports).
    pub kill: u64,
    /// Per producer: the next number the receiver's worker expected from
    /// it (one past the last it recorded), and the producer's `SENT`.
    pub per: Vec<(u64, u64)>,
}

/// Whether the receiver killed at `at` may have taken message `s` of
/// producer `p` with it: a message its producer had begun to send by then
/// (`s < SENT`), and
/// - with several receivers (`one == false`), any number from the one the
///   killed receiver's worker expected next on (another receiver may have
///   taken the ones in between);
/// - with one receiver, which reads each producer's messages in order, the
///   first message of `p` no receiver got before it: every number from the
///   one expected next up to `s` was never received. Those were in flight
///   at a producer's kill and never committed, or taken by an earlier
///   receiver killed in its call: a receiver that dies records nothing, so
///   its successor expects the same number, and two receivers killed in a
///   row lose two messages behind one expectation (each matched to its
///   own kill by [`match_gaps`]).
pub fn fits(
    at: &CallKill,
    (p, s): (usize, u64),
    one: bool,
    received: impl Fn(u64) -> bool,
) -> bool {
    let (next, sent) = at.per[p];
    if s < next || s >= sent {
        return false;
    }
    !one || (next..s).all(|n| !received(n))
}

/// Removes from `missing` the messages killed receivers may have taken
/// ([`fits`]), at most one per kill, and returns how many: a maximum
/// matching (augmenting paths), so the count does not depend on the order
/// of the kills. `received(p, s)`: message `s` of producer `p` was
/// received.
pub fn match_gaps(
    missing: &mut BTreeSet<(usize, u64)>,
    kills: &[CallKill],
    one: bool,
    received: impl Fn(usize, u64) -> bool,
) -> usize {
    let list: Vec<(usize, u64)> = missing.iter().copied().collect();
    let edges: Vec<Vec<usize>> = list
        .iter()
        .map(|&(p, s)| {
            (0..kills.len())
                .filter(|&k| fits(&kills[k], (p, s), one, |n| received(p, n)))
                .collect()
        })
        .collect();
    // owner[k]: the missing message matched to kill k.
    let mut owner: Vec<Option<usize>> = vec![None; kills.len()];
    fn augment(
        m: usize,
        edges: &[Vec<usize>],
        owner: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for &k in &edges[m] {
            if !seen[k] {
                seen[k] = true;
                if owner[k].is_none_or(|o| augment(o, edges, owner, seen)) {
                    owner[k] = Some(m);
                    return true;
                }
            }
        }
        false
    }
    let mut gaps = 0;
    for m in 0..list.len() {
        let mut seen = vec![false; kills.len()];
        if augment(m, &edges, &mut owner, &mut seen) {
            gaps += 1;
        }
    }
    for m in owner.into_iter().flatten() {
        missing.remove(&list[m]);
    }
    gaps
}

/// The matching on hand-made runs of one producer and one receiver (the
/// `gap_matching` entry of the suite): what a receiver's death may
/// explain, and what it must not.
pub fn self_check() -> Result<String, String> {
    let kill = |kill, next, sent| CallKill {
        kill,
        per: vec![(next, sent)],
    };
    // (what, kills, received, missing, left unexplained)
    type Case = (&'static str, Vec<CallKill>, Vec<u64>, Vec<u64>, Vec<u64>);
    let cases: Vec<Case> = vec![
        (
            // The kill suite's run with IPCKIT_KILL_SEED=0xef30c1cf73c3df8e
            // (kills 553 and 554): a receiver killed in its call after it
            // took 10, its successor killed in its first call after it
            // took 11; neither recorded anything.
            "two receivers killed in a row",
            vec![kill(1, 10, 20), kill(2, 10, 20)],
            vec![12, 13],
            vec![10, 11],
            vec![],
        ),
        (
            "one death explains one message",
            vec![kill(1, 10, 20)],
            vec![12],
            vec![10, 11],
            vec![11],
        ),
        (
            "a message behind a received one",
            vec![kill(1, 10, 20)],
            vec![10, 12],
            vec![11],
            vec![11],
        ),
        (
            "behind sends that never arrived",
            vec![kill(1, 10, 20)],
            vec![13],
            vec![12],
            vec![],
        ),
        (
            "a message sent after the kill",
            vec![kill(1, 10, 12)],
            vec![10, 11],
            vec![12],
            vec![12],
        ),
        (
            "a message before the expected one",
            vec![kill(1, 10, 20)],
            vec![10],
            vec![9],
            vec![9],
        ),
    ];
    let n = cases.len();
    for (what, kills, received, missing, left) in cases {
        let mut set: BTreeSet<(usize, u64)> = missing.iter().map(|&s| (0, s)).collect();
        let gaps = match_gaps(&mut set, &kills, true, |_, s| received.contains(&s));
        let got: Vec<u64> = set.iter().map(|&(_, s)| s).collect();
        if got != left || gaps != missing.len() - left.len() {
            return Err(format!(
                "{what}: kills {:?}, missing {missing:?}: {gaps} gaps, unexplained {got:?}; \
                 expected unexplained {left:?}",
                kills.iter().map(|k| (k.kill, k.per[0])).collect::<Vec<_>>()
            ));
        }
    }
    Ok(format!("{n} hand-made runs matched as documented"))
}
