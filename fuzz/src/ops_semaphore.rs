//! Fuzz target `ops_semaphore`: two handles of the counting semaphore, one
//! posting, one waiting, driven by the input, against a model, with forged
//! writes between their calls (see [`crate::ops`]).

use ipckit_core::semaphore::{self, Semaphore};
use ipckit_core::{Error, Result};

use crate::frame_ring::Input;
use crate::ops::{
    Forger, HEADER_WORDS, MAX_STEPS, Targets, expect, flow_or_corrupted, refused_region, timed,
    timed_flow_or_corrupted, timed_out, timeout,
};
use crate::shared::Shared;

/// `count`, `waiters`.
const CONTROL_WORDS: [usize; 2] = [128, 132];

type Handle<'a> = semaphore::Handle<'a, Forger<'a>>;

/// A handle that posts and one that waits, with `forger` as their
/// notifier.
fn handles<'a>(sem: &Semaphore<'a>, forger: &Forger<'a>) -> Result<[Handle<'a>; 2]> {
    Ok([
        sem.handle_with(forger.clone())?,
        sem.handle_with(forger.clone())?,
    ])
}

/// Fuzz target `ops_semaphore`.
///
/// Input: byte 0 picks the maximum (1..=8) and byte 1 the initial count
/// (up to the maximum); then operations, one selector byte each followed
/// by their arguments: `post`, `post_n` (0 to the maximum + 1),
/// `try_wait`, `wait_timeout`, `value` of a handle and of the semaphore,
/// forged writes (`count` and `waiters` by name, values around the
/// maximum), and fresh handles from a fresh `attach`. Before any forged
/// write the count is exactly the model's: `Full` when a post would pass
/// the maximum, `Empty` at 0; after one, every call returns, and a count
/// reported is never above the maximum.
pub fn ops_semaphore(data: &[u8]) {
    run(data, true);
}

/// [`ops_semaphore`], with forged writes applied (`forging`) or skipped.
pub(crate) fn run(data: &[u8], forging: bool) {
    let mut input = Input(data);
    let max = u32::from(input.byte() % 8) + 1;
    let mut count = u32::from(input.byte()) % (max + 1);
    let mem = Shared::new(Semaphore::region_len());
    let options = semaphore::Options::new(max).initial(count);
    let mut sem = Semaphore::init_with(mem.region(), options).unwrap();
    let forger = Forger::new(&mem, forging);
    let mut hs = handles(&sem, &forger).unwrap();
    let targets = |count: u32| Targets {
        words: HEADER_WORDS.iter().chain(&CONTROL_WORDS).copied().collect(),
        positions: vec![count, max],
        capacity: max,
    };
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        let h = &hs[usize::from(input.byte() % 2)];
        match input.byte() % 8 {
            0 | 1 => {
                let n = if input.byte() & 1 == 0 {
                    1
                } else {
                    u32::from(input.byte()) % (max + 2)
                };
                let want = if count + n > max {
                    Err(Error::Full)
                } else {
                    Ok(())
                };
                let got = if n == 1 { h.post() } else { h.post_n(n) };
                let tainted = forger.tainted();
                expect(tainted, "post_n", &got, &want, flow_or_corrupted);
                if got.is_ok() && !tainted {
                    count += n;
                }
            }
            2 | 3 => {
                let want = if count == 0 {
                    Err(Error::Empty)
                } else {
                    Ok(())
                };
                let (what, got, want) = if input.byte() & 1 == 0 {
                    let t = timeout(&mut input);
                    forger.queue(&mut input, &targets(count));
                    let got = timed(t, || h.wait_timeout(Some(t)));
                    forger.clear();
                    ("wait_timeout", got, timed_out(&want))
                } else {
                    ("try_wait", h.try_wait(), want)
                };
                let tainted = forger.tainted();
                expect(tainted, what, &got, &want, timed_flow_or_corrupted);
                if got.is_ok() && !tainted {
                    count -= 1;
                }
            }
            4 => {
                let tainted = forger.tainted();
                // Each against its own maximum: a fresh `attach` may have
                // read another one from a forged header.
                for (got, max) in [(h.value(), h.max()), (sem.value(), sem.max())] {
                    expect(tainted, "value", &got, &Ok(count), flow_or_corrupted);
                    if let Ok(v) = got {
                        assert!(v <= max, "a count of {v} above {max}");
                    }
                }
            }
            5 | 6 => forger.forge(&mut input, &targets(count)),
            _ => match Semaphore::attach(mem.region()) {
                Ok(fresh) => {
                    sem = fresh;
                    let tainted = forger.tainted();
                    if !tainted {
                        assert_eq!(sem.max(), max, "max after attach");
                    }
                    match handles(&sem, &forger) {
                        Ok(fresh) => hs = fresh,
                        Err(e) => assert!(tainted && refused_region(&e), "handles: {e:?}"),
                    }
                }
                Err(e) => assert!(forger.tainted() && refused_region(&e), "re-attach: {e:?}"),
            },
        }
    }
    if !forger.tainted() {
        for _ in 0..count {
            assert_eq!(hs[1].try_wait(), Ok(()), "drain");
        }
        assert_eq!(hs[1].try_wait(), Err(Error::Empty), "drained");
    }
}
