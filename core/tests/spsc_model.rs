//! Property test: random sequences of every SPSC operation against a
//! `VecDeque` of the same capacity, starting next to `u32::MAX` so the index
//! wrap happens inside most runs.

use std::collections::VecDeque;

use ipckit_core::{AlignedBytes, Error, Region, spsc};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Push(u32),
    PushSlice(Vec<u32>),
    WriteChunk {
        want: usize,
        values: Vec<u32>,
        commit: usize,
    },
    Pop,
    PopSlice(usize),
    ReadChunk {
        want: usize,
        commit: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u32>().prop_map(Op::Push),
        prop::collection::vec(any::<u32>(), 0..20).prop_map(Op::PushSlice),
        (
            0usize..20,
            prop::collection::vec(any::<u32>(), 0..20),
            0usize..20
        )
            .prop_map(|(want, values, commit)| Op::WriteChunk {
                want,
                values,
                commit
            }),
        Just(Op::Pop),
        (0usize..20).prop_map(Op::PopSlice),
        (0usize..20, 0usize..20).prop_map(|(want, commit)| Op::ReadChunk { want, commit }),
    ]
}

fn start() -> impl Strategy<Value = u32> {
    prop_oneof![
        u32::MAX - 40..=u32::MAX,
        any::<u32>(),
        (1u32 << 31) - 20..(1u32 << 31) + 20
    ]
}

/// Operations per case; miri runs each about a thousand times slower, so
/// its few cases are short (they check the unsafe paths for UB; coverage
/// comes from the native run).
const MAX_OPS: usize = if cfg!(miri) { 30 } else { 120 };

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
    fn matches_a_vecdeque(cap_log in 0u32..5, position in start(), ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        let capacity = 1u32 << cap_log;
        let mut bytes = Box::new(AlignedBytes::<{ 384 + 16 * 4 }>::new());
        let ring = spsc::Ring::<u32>::init_at(Region::from_slice(&mut bytes[..]), capacity, position).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let mut model: VecDeque<u32> = VecDeque::new();
        let cap = capacity as usize;

        for op in ops {
            match op {
                Op::Push(v) => {
                    let r = tx.try_push(v);
                    if model.len() < cap {
                        prop_assert_eq!(r, Ok(()));
                        model.push_back(v);
                    } else {
                        prop_assert_eq!(r, Err(Error::Full));
                    }
                }
                Op::PushSlice(values) => {
                    let n = tx.push_partial_slice(&values).unwrap();
                    prop_assert_eq!(n, values.len().min(cap - model.len()));
                    model.extend(&values[..n]);
                }
                Op::WriteChunk { want, values, commit } => {
                    let chunk = tx.write_chunk_up_to(want).unwrap();
                    let len = want.min(cap - model.len());
                    prop_assert_eq!(chunk.len(), len);
                    if commit % 2 == 0 {
                        let n = chunk.fill_from_iter(values.iter().copied());
                        prop_assert_eq!(n, len.min(values.len()));
                        model.extend(&values[..n]);
                    } else {
                        let n = chunk.copy_partial_from_slice(&values);
                        prop_assert_eq!(n, len.min(values.len()));
                        model.extend(&values[..n]);
                    }
                }
                Op::Pop => match rx.try_pop() {
                    Ok(v) => prop_assert_eq!(Some(v), model.pop_front()),
                    Err(e) => {
                        prop_assert_eq!(e, Error::Empty);
                        prop_assert!(model.is_empty());
                    }
                },
                Op::PopSlice(n) => {
                    let mut out = vec![0; n];
                    let got = rx.pop_partial_slice(&mut out).unwrap();
                    prop_assert_eq!(got, n.min(model.len()));
                    let expected: Vec<u32> = model.drain(..got).collect();
                    prop_assert_eq!(&out[..got], &expected[..]);
                }
                Op::ReadChunk { want, commit } => {
                    let chunk = rx.read_chunk_up_to(want).unwrap();
                    let len = want.min(model.len());
                    prop_assert_eq!(chunk.len(), len);
                    prop_assert!(chunk.iter().eq(model.iter().copied().take(len)));
                    for i in 0..=len {
                        prop_assert_eq!(chunk.get(i), model.get(i).copied().filter(|_| i < len));
                    }
                    // An exact commit: past the chunk it hands nothing back.
                    if commit <= len {
                        prop_assert_eq!(chunk.commit(commit), Ok(()));
                        model.drain(..commit);
                    } else {
                        let too_few = Error::TooFewSlots { requested: commit, available: len };
                        prop_assert_eq!(chunk.commit(commit), Err(too_few));
                    }
                }
            }
            prop_assert_eq!(rx.len(), model.len());
            prop_assert_eq!(tx.free_slots(), cap - model.len());
        }
    }
}
