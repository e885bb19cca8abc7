//! The `IPCKIT_MPMC_COUNT=<variant>:<n>` mode of the MPMC bench (its
//! module docs): items through one queue on one thread, for instruction
//! counts per item under callgrind, a figure the machine's load does not
//! move.

use super::{BATCH, Idle, Pop, Push, Queues, expected_sum};

/// The `IPCKIT_MPMC_COUNT` mode (module docs): `n` items through one
/// queue on this thread, 64 pushed then 64 popped.
pub fn count_instructions(spec: &str) {
    let (which, n) = spec
        .split_once(':')
        .expect("IPCKIT_MPMC_COUNT=<variant>:<n>");
    let n: u64 = n.parse().expect("a number of items");
    let queues = Queues::new();
    let rounds = n / BATCH as u64;
    let ring = queues.ipckit_tx[0].0.ring();
    let bare = (
        ring.producer().expect("producer"),
        ring.consumer().expect("consumer"),
    );
    let mut sum = 0u64;
    for r in 0..rounds {
        let items = r * BATCH as u64..(r + 1) * BATCH as u64;
        sum = sum.wrapping_add(match which {
            "ipckit" => {
                queues.ipckit_tx[0].0.push_all(items, Idle::Spin);
                queues.ipckit_rx[0].0.pop_n(BATCH as u64, Idle::Spin)
            }
            "ipckit_bare" => {
                bare.0.push_all(items, Idle::Spin);
                bare.1.pop_n(BATCH as u64, Idle::Spin)
            }
            "ipckit_batch" => {
                queues.ipckit_batch_tx.0.push_all(items, Idle::Spin);
                queues.ipckit_batch_rx.0.pop_n(BATCH as u64, Idle::Spin)
            }
            "crossbeam" => {
                queues.crossbeam_tx[0].0.push_all(items, Idle::Spin);
                queues.crossbeam_rx[0].0.pop_n(BATCH as u64, Idle::Spin)
            }
            other => panic!("unknown variant {other}"),
        });
    }
    assert_eq!(sum, expected_sum(rounds * BATCH as u64));
}
