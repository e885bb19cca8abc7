//! The SPSC variants: two rings (`ping` to the child, `pong` back), waking
//! with blocking `push`/`pop` (`spsc/futex`, `spsc/adaptive`), or not waking
//! with blocking calls on the `Spin` notifier (`spsc/spin`) or `try_` loops
//! (`spsc/busy_poll`).

use std::hint::spin_loop;

use ipckit::CoreError;
use ipckit::shm::SharedMapping;
use ipckit::spsc::{Consumer, Options, Producer, Ring};
use ipckit::wait::Notify;

use crate::child::{Child, EXIT_OK, EXIT_RING_ERROR, Stall, fork_pinned};
use crate::session::{Pinger, check_reply, leaked_mapping};
use crate::{STOP, WAIT_SLICE};

/// Slots of every ring (one message is in flight at a time).
const CAPACITY: u32 = 8;

/// A ring of [`CAPACITY`] `u64` slots on `mapping`, waking or not.
fn ring_on(mapping: &'static SharedMapping, wakes: bool) -> Result<Ring<'static, u64>, String> {
    let options = Options::new(CAPACITY).waking(wakes);
    Ring::<u64>::init_with(mapping.region(), options).map_err(|e| format!("ring init: {e}"))
}

/// Two SPSC rings: the parent's producer of `ping`, consumer of `pong`.
pub struct SpscPinger<N: Notify> {
    tx: Producer<'static, u64, N>,
    rx: Consumer<'static, u64, N>,
    /// Blocking `push`/`pop` (with [`WAIT_SLICE`] timeouts), or `try_` loops.
    blocking: bool,
}

/// The child's side of the SPSC variants.
fn spsc_echo<N: Notify + Copy>(
    ping: &Ring<'static, u64>,
    pong: &Ring<'static, u64>,
    notify: N,
    blocking: bool,
) -> i32 {
    let (Ok(mut rx), Ok(mut tx)) = (ping.consumer_with(notify), pong.producer_with(notify)) else {
        return EXIT_RING_ERROR;
    };
    loop {
        let v = if blocking {
            match rx.pop_timeout(Some(WAIT_SLICE)) {
                Ok(v) => v,
                // The parent is alive (or this process would be dead): it is
                // between samples.
                Err(CoreError::TimedOut) => continue,
                Err(_) => return EXIT_RING_ERROR,
            }
        } else {
            match rx.try_pop() {
                Ok(v) => v,
                Err(CoreError::Empty) => {
                    spin_loop();
                    continue;
                }
                Err(_) => return EXIT_RING_ERROR,
            }
        };
        if v == STOP {
            return EXIT_OK;
        }
        let pushed = if blocking {
            tx.push_timeout(v, Some(WAIT_SLICE))
        } else {
            tx.try_push(v)
        };
        if pushed.is_err() {
            return EXIT_RING_ERROR;
        }
    }
}

impl<N: Notify + Copy> SpscPinger<N> {
    pub fn start(notify: N, wakes: bool, blocking: bool) -> Result<(Self, Child), String> {
        let len = Ring::<u64>::region_len(CAPACITY).map_err(|_| "bad capacity")?;
        let ping = ring_on(leaked_mapping(len)?, wakes)?;
        let pong = ring_on(leaked_mapping(len)?, wakes)?;
        let tx = ping
            .producer_with(notify)
            .map_err(|e| format!("ping producer: {e}"))?;
        let rx = pong
            .consumer_with(notify)
            .map_err(|e| format!("pong consumer: {e}"))?;
        // SAFETY: `spsc_echo` makes atomic accesses to the rings and, through
        // the notifier, futex and clock system calls; it neither allocates
        // nor panics.
        let child = unsafe { fork_pinned(|| spsc_echo(&ping, &pong, notify, blocking))? };
        Ok((Self { tx, rx, blocking }, child))
    }
}

impl<N: Notify> Pinger for SpscPinger<N> {
    #[inline]
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String> {
        let mut stall = Stall::new();
        let v = if self.blocking {
            // Never full: one message is in flight at a time.
            self.tx
                .push_timeout(seq, Some(WAIT_SLICE))
                .map_err(|e| format!("push: {e}"))?;
            loop {
                match self.rx.pop_timeout(Some(WAIT_SLICE)) {
                    Ok(v) => break v,
                    Err(CoreError::TimedOut) => stall.check(child)?,
                    Err(e) => return Err(format!("pop: {e}")),
                }
            }
        } else {
            self.tx.try_push(seq).map_err(|e| format!("push: {e}"))?;
            loop {
                match self.rx.try_pop() {
                    Ok(v) => break v,
                    Err(CoreError::Empty) => stall.poll(child)?,
                    Err(e) => return Err(format!("pop: {e}")),
                }
            }
        };
        check_reply(seq, v)
    }

    fn stop(&mut self) -> Result<(), String> {
        self.tx
            .try_push(STOP)
            .map_err(|e| format!("push stop: {e}"))
    }
}
