//! Property test: random sequences of MPMC operations, through several
//! producer and consumer handles, against a `VecDeque` of the same capacity,
//! starting next to `u32::MAX` so the position wrap happens inside most runs.

use std::collections::VecDeque;
use std::ptr::NonNull;

use ipckit_core::{AlignedBytes, Error, Region, mpmc};
use proptest::prelude::*;

/// Handles of each kind the test cycles through: all of them see one queue.
const HANDLES: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// `try_push` through producer `handle`.
    Push { handle: usize, value: u32 },
    /// `push` (blocking) through producer `handle`, only when the model has
    /// room, so that it returns at once.
    PushBlocking { handle: usize, value: u32 },
    /// `try_pop` through consumer `handle`.
    Pop { handle: usize },
    /// `pop` (blocking), only when the model has an item.
    PopBlocking { handle: usize },
    /// A fresh attach of the same bytes, which must see the same state.
    Reattach,
}

fn op() -> impl Strategy<Value = Op> {
    let handle = 0..HANDLES;
    prop_oneof![
        4 => (handle.clone(), any::<u32>()).prop_map(|(handle, value)| Op::Push { handle, value }),
        1 => (handle.clone(), any::<u32>())
            .prop_map(|(handle, value)| Op::PushBlocking { handle, value }),
        4 => handle.clone().prop_map(|handle| Op::Pop { handle }),
        1 => handle.prop_map(|handle| Op::PopBlocking { handle }),
        1 => Just(Op::Reattach),
    ]
}

type Handles<'a> = (Vec<mpmc::Producer<'a, u32>>, Vec<mpmc::Consumer<'a, u32>>);

fn handles<'a>(ring: &mpmc::Ring<'a, u32>) -> Handles<'a> {
    let txs = (0..HANDLES).map(|_| ring.producer().unwrap()).collect();
    let rxs = (0..HANDLES).map(|_| ring.consumer().unwrap()).collect();
    (txs, rxs)
}

fn start() -> impl Strategy<Value = u32> {
    prop_oneof![
        u32::MAX - 70..=u32::MAX,
        any::<u32>(),
        (1u32 << 31) - 40..(1u32 << 31) + 40
    ]
}

/// Operations per case; miri runs each about a thousand times slower, so
/// its few cases are short (they check the unsafe paths for UB; coverage
/// comes from the native run).
const MAX_OPS: usize = if cfg!(miri) { 30 } else { 160 };

fn config() -> ProptestConfig {
    ProptestConfig {
        // Miri runs every case about a thousand times slower: a handful of
        // cases still checks the unsafe paths for UB; full coverage comes from
        // the native run.
        cases: if cfg!(miri) { 4 } else { 512 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matches_a_vecdeque(
        cap_log in 1u32..6,
        position in start(),
        ops in prop::collection::vec(op(), 1..MAX_OPS),
    ) {
        let capacity = 1u32 << cap_log;
        let mut bytes = Box::new(AlignedBytes::<{ 384 + 32 * 8 }>::new());
        // The creator and every later attach need their own view of the
        // bytes: raw regions (a `from_slice` region is used once).
        let (base, len) = (NonNull::from(&mut bytes[..]).cast::<u8>(), bytes.len());
        // SAFETY: `bytes` is zeroed, lives until the end of the case (after
        // every handle) and is touched only through these regions.
        let region = || unsafe { Region::from_raw(base, len) };
        let mut ring = mpmc::Ring::<u32>::init_at(region(), capacity, position).unwrap();
        let (mut txs, mut rxs) = handles(&ring);
        let mut model: VecDeque<u32> = VecDeque::new();
        let cap = capacity as usize;

        for op in ops {
            match op {
                Op::Push { handle, value } => {
                    let r = txs[handle].try_push(value);
                    if model.len() < cap {
                        prop_assert_eq!(r, Ok(()));
                        model.push_back(value);
                    } else {
                        prop_assert_eq!(r, Err(Error::Full));
                    }
                }
                Op::PushBlocking { handle, value } => {
                    if model.len() < cap {
                        prop_assert_eq!(txs[handle].push(value), Ok(()));
                        model.push_back(value);
                    }
                }
                Op::Pop { handle } => match rxs[handle].try_pop() {
                    Ok(v) => prop_assert_eq!(Some(v), model.pop_front()),
                    Err(e) => {
                        prop_assert_eq!(e, Error::Empty);
                        prop_assert!(model.is_empty());
                    }
                },
                Op::PopBlocking { handle } => {
                    if let Some(expected) = model.pop_front() {
                        prop_assert_eq!(rxs[handle].pop(), Ok(expected));
                    }
                }
                Op::Reattach => {
                    ring = mpmc::Ring::<u32>::attach(region()).unwrap();
                    (txs, rxs) = handles(&ring);
                }
            }
            prop_assert_eq!(ring.len(), model.len());
            prop_assert_eq!(ring.stalled(), None);
        }
        // Drain what is left, in order.
        while let Some(expected) = model.pop_front() {
            prop_assert_eq!(rxs[0].try_pop(), Ok(expected));
        }
        prop_assert_eq!(rxs[1].try_pop(), Err(Error::Empty));
    }
}
