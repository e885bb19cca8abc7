//! Property test: random sequences of MPSC frame ring operations (sends and
//! grants through several producers, grants committed out of order, shorter
//! than granted, too long or dropped; reads, zero-copy reads, too-small
//! buffers, reattaching) against a model of claimed records, starting next
//! to `u32::MAX` so the position wrap happens inside most runs.

use std::collections::VecDeque;

use ipckit_core::frame::{self, mpsc};
use ipckit_core::{AlignedBytes, Error, Region};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// `try_send` of a frame of `len` bytes through producer `handle`.
    Send { handle: usize, len: u32 },
    /// `try_grant(len)`, held open.
    Grant { handle: usize, len: u32 },
    /// Resolve open grant `which` (modulo the number open): commit
    /// `n % (len + 2)` bytes (so sometimes one too many), or drop it.
    Finish { which: usize, n: u32, drop: bool },
    /// `try_recv` into a buffer of `cap` bytes.
    Recv { cap: u32 },
    /// `try_read`, then `release` (or drop the view).
    Read { release: bool },
    /// Drop the consumer and attach a new one, through a fresh attach.
    Reattach,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..600u32).prop_map(|(handle, len)| Op::Send { handle, len }),
        2 => (0..3usize, 0..600u32).prop_map(|(handle, len)| Op::Grant { handle, len }),
        2 => (any::<usize>(), any::<u32>(), prop::bool::weighted(0.2))
            .prop_map(|(which, n, drop)| Op::Finish { which, n, drop }),
        4 => (0..700u32).prop_map(|cap| Op::Recv { cap }),
        1 => any::<bool>().prop_map(|release| Op::Read { release }),
        1 => Just(Op::Reattach),
    ]
}

fn start() -> impl Strategy<Value = u32> {
    prop_oneof![
        (u32::MAX - 2048..=u32::MAX).prop_map(|p| p & !7),
        any::<u32>().prop_map(|p| p & !7),
    ]
}

/// Operations per case; miri runs each about a thousand times slower, so
/// its few cases are short (they check the unsafe paths for UB; coverage
/// comes from the native run).
const MAX_OPS: usize = if cfg!(miri) { 30 } else { 200 };

fn config() -> ProptestConfig {
    ProptestConfig {
        // Miri is about a thousand times slower: a handful of cases still
        // checks the unsafe paths for UB.
        cases: if cfg!(miri) { 3 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A claimed record in the model: a frame to come, or nothing (discarded).
#[derive(Debug)]
struct Slot {
    /// The frame once committed; `None` while open.
    frame: Option<Option<Vec<u8>>>,
    id: usize,
}

fn bytes_of(tag: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (tag as usize * 7 + i) as u8).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matches_a_model(
        cap_log in 6u32..12,
        position in start(),
        ops in prop::collection::vec(op(), 1..MAX_OPS),
    ) {
        let cap = 1u32 << cap_log;
        let max = frame::max_frame_len(cap).unwrap();
        let mut bytes = Box::new(AlignedBytes::<{ 512 + 2048 }>::new());
        let region = Region::from_slice(&mut bytes[..]);
        let ring = mpsc::Ring::init_at(region, cap, position).unwrap();
        let producers: Vec<_> = (0..3)
            .map(|i| ring.producer().unwrap().with_id(i).unwrap())
            .collect();
        let mut rx = ring.consumer().unwrap();
        // Claimed records in claim order; open grants point into it by id.
        let mut model: VecDeque<Slot> = VecDeque::new();
        let mut open: Vec<(usize, mpsc::Grant<'_, '_>, u32)> = Vec::new();
        let mut next_id = 0usize;
        let mut tag = 0u32;
        for op in ops {
            match op {
                Op::Send { handle, len } => {
                    tag += 1;
                    let f = bytes_of(tag, len as usize);
                    match producers[handle].try_send(&f) {
                        Ok(()) => {
                            model.push_back(Slot { frame: Some(Some(f)), id: next_id });
                            next_id += 1;
                        }
                        Err(Error::Full) => {}
                        Err(Error::FrameTooLarge { len: l, max: m }) => {
                            prop_assert!(len > max && l == len && m == max);
                        }
                        Err(e) => prop_assert!(false, "send: {e}"),
                    }
                }
                Op::Grant { handle, len } => match producers[handle].try_grant(len as usize) {
                    Ok(mut g) => {
                        tag += 1;
                        g.copy_from_slice(&bytes_of(tag, len as usize)).unwrap();
                        model.push_back(Slot { frame: None, id: next_id });
                        open.push((next_id, g, tag));
                        next_id += 1;
                    }
                    Err(Error::Full) => {}
                    Err(Error::FrameTooLarge { .. }) => prop_assert!(len > max),
                    Err(e) => prop_assert!(false, "grant: {e}"),
                },
                Op::Finish { which, n, drop } => {
                    if open.is_empty() {
                        continue;
                    }
                    let (id, g, t) = open.remove(which % open.len());
                    let len = g.len();
                    let result = if drop {
                        std::mem::drop(g);
                        None
                    } else {
                        let n = n as usize % (len + 2);
                        match g.commit(n) {
                            Ok(()) => Some(bytes_of(t, len)[..n].to_vec()),
                            Err(Error::OutOfRange { end, len: l }) => {
                                prop_assert!(n > len && end == n && l == len);
                                None
                            }
                            Err(e) => return Err(TestCaseError::fail(format!("commit: {e}"))),
                        }
                    };
                    let slot = model.iter_mut().find(|s| s.id == id).unwrap();
                    slot.frame = Some(result);
                }
                Op::Recv { cap: bufcap } => {
                    // Discarded records at the front are invisible.
                    while matches!(model.front(), Some(Slot { frame: Some(None), .. })) {
                        model.pop_front();
                    }
                    let mut buf = vec![0u8; bufcap as usize];
                    let got = rx.try_recv(&mut buf);
                    match model.front() {
                        Some(Slot { frame: Some(Some(f)), .. }) => {
                            if f.len() > buf.len() {
                                prop_assert_eq!(got, Err(Error::BufferTooSmall { required: f.len() }));
                            } else {
                                prop_assert_eq!(got, Ok(f.len()));
                                prop_assert_eq!(&buf[..f.len()], &f[..]);
                                model.pop_front();
                            }
                        }
                        _ => prop_assert_eq!(got, Err(Error::Empty)),
                    }
                }
                Op::Read { release } => {
                    while matches!(model.front(), Some(Slot { frame: Some(None), .. })) {
                        model.pop_front();
                    }
                    match (rx.try_read(), model.front()) {
                        (Ok(view), Some(Slot { frame: Some(Some(f)), .. })) => {
                            let mut out = vec![0; view.len()];
                            prop_assert_eq!(view.copy_to(&mut out), Ok(f.len()));
                            prop_assert_eq!(&out, f);
                            if release {
                                view.release();
                                model.pop_front();
                            }
                        }
                        (Err(Error::Empty), front) => {
                            let ready = matches!(front, Some(Slot { frame: Some(Some(_)), .. }));
                            prop_assert!(!ready, "a committed frame was not read");
                        }
                        (other, front) => {
                            return Err(TestCaseError::fail(format!("{other:?} vs {front:?}")));
                        }
                    }
                }
                Op::Reattach => {
                    std::mem::drop(rx);
                    rx = ring.consumer().unwrap();
                }
            }
        }
        // Resolve every open grant, then drain.
        for (id, g, t) in open.drain(..) {
            let len = g.len();
            g.commit(len).unwrap();
            let slot = model.iter_mut().find(|s| s.id == id).unwrap();
            slot.frame = Some(Some(bytes_of(t, len)));
        }
        let mut buf = vec![0u8; max as usize];
        for slot in model {
            if let Some(Some(f)) = slot.frame {
                prop_assert_eq!(rx.try_recv(&mut buf), Ok(f.len()));
                prop_assert_eq!(&buf[..f.len()], &f[..]);
            }
        }
        prop_assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    }
}
