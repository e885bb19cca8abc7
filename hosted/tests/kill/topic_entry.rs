//! Why a reliable subscriber lagged after its join: its table entry, read
//! from the object's bytes (docs/LAYOUT.md sections 12, 17.1 and 18.1).
//!
//! A reliable member lags after its join only if its entry was freed
//! under it: then its entry is no longer its own (its state is not
//! active, or another live subscriber's intent names it too). That was a
//! judge's late release (`release_orphans` decided from its scans, then
//! stored `FREE`, while another judge had released the entry and a
//! newcomer joined into it: about once per 1,000-kill run, 100 times with
//! a 2 ms sleep before the release). The entries' tickets (LAYOUT.md
//! section 17.1) rule it out: a release names the generation it judged.
//! Either kind of lag fails the run; this reader names which it was.

use std::sync::atomic::{AtomicU32, Ordering};

use ipckit::shm::ShmObject;

/// The liveness block's consumer slots and intents (offsets in the block).
const CONSUMER_SLOTS: usize = 1088;
const CONSUMER_INTENTS: usize = 2624;
const SLOTS: usize = 64;

struct Words(ShmObject);

impl Words {
    fn at(&self, off: usize) -> u32 {
        if off % 4 != 0 || off + 4 > self.0.len() {
            return 0;
        }
        // SAFETY: 4-aligned and inside the mapping (checked), which lives
        // as long as `self`; the object's words are only read atomically
        // here.
        unsafe { AtomicU32::from_ptr(self.0.region().as_ptr().add(off).cast()) }
            .load(Ordering::Acquire)
    }
}

/// State (bits 0..=1) and pid (bits 2..=23) of a slot's state word.
fn slot(word: u32) -> (u32, u32) {
    (word & 3, (word >> 2) & 0x3f_ffff)
}

fn alive(pid: u32) -> bool {
    pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// `Ok(why)` if this process's table entry of topic `name` was freed
/// under it (not active, or named by another live subscriber too);
/// `Err(what)` with what it shows otherwise.
pub fn freed_under_us(name: &str) -> Result<String, String> {
    let obj = ShmObject::open(name).map_err(|e| format!("open: {e}"))?;
    let w = Words(obj);
    let len = w.0.len();
    let live = len.checked_sub(4096).ok_or("object too small")?;
    // The table: after the slots, rounded up to 128 (section 17).
    let (size, align, cap) = (w.at(20) as usize, w.at(24) as usize, w.at(28) as usize);
    let a = align.max(4);
    let stride = (a + size).div_ceil(a) * a;
    let table = (256 + cap * stride).next_multiple_of(128);
    let entries = w.at(144) as usize;
    let me = std::process::id();
    let mine = (0..SLOTS)
        .find(|&i| slot(w.at(live + CONSUMER_SLOTS + 16 * i)) == (2, me))
        .ok_or("no active consumer slot names this process")?;
    let intent = |i: usize| {
        let at = live + CONSUMER_INTENTS + 8 * i;
        (w.at(at), w.at(at + 4))
    };
    let (e, span) = intent(mine);
    if span != 1 || e as usize >= entries {
        return Err(format!(
            "slot {mine}: intent ({e:#x}, {span}) names no entry"
        ));
    }
    let state = w.at(table + 128 * e as usize);
    let position = w.at(table + 128 * e as usize + 4);
    let others: Vec<usize> = (0..SLOTS)
        .filter(|&i| i != mine && intent(i) == (e, 1))
        .filter(|&i| {
            let (s, pid) = slot(w.at(live + CONSUMER_SLOTS + 16 * i));
            (s == 1 || s == 2) && alive(pid)
        })
        .collect();
    let what = format!(
        "slot {mine} holds entry {e}: state {state}, position {position}; other live slots \
         naming it {others:?}"
    );
    if state != 2 || !others.is_empty() {
        Ok(what)
    } else {
        Err(what)
    }
}
