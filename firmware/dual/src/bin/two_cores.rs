//! Two Cortex-M33 cores share ipckit objects: core 0 produces, core 1
//! consumes and checks every item.
//!
//! QEMU's `mps2-an521` models the SSE-200: two Cortex-M33 cores and one
//! SRAM. Core 0 boots this ELF, zeroes and initialises four objects in the
//! `NOLOAD` section `.ipc_shared` (which neither core's reset path
//! touches), claims the producing ends, and releases core 1 through the
//! SSE-200's CPUWAIT register; core 1 starts from its own vector table (its
//! own stack), attaches to the same objects by address and claims the
//! consuming ends. Then, in parallel:
//!
//! - **SPSC ring** of 64 [`Item`]s (16 bytes: the sequence number and three
//!   words derived from it), indices starting just below `u32::MAX`. Core 0
//!   pushes with `try_push`, `push_partial_slice` and `write_chunk_up_to`;
//!   core 1 pops with `try_pop`, `pop_partial_slice` and `read_chunk_up_to`
//!   and checks that every item is exactly the next one, whole.
//! - **SPSC frame ring** of 1 KiB: frame `n` has a length from 0 to 200
//!   bytes and bytes derived from `n`; sent with `try_send` or a zero-copy
//!   grant, received with `try_recv` or in place; every byte is checked.
//! - **A counter guarded by a semaphore** of maximum 1 (a mutex): the stock
//!   of items. Core 0 adds one (load, store), core 1 takes one (load,
//!   store), each holding the lock; each side checks that the stock equals
//!   produced minus consumed. Without mutual exclusion, the two read-modify-
//!   write sequences lose updates and the check fails.
//!
//! A lost, duplicated, reordered or corrupted item fails the run: core 1
//! reports through the shared [`Verdict`]; core 0 prints it and exits with
//! status 1 (semihosting). Core 0 alone ends the run. `.ci/embedded` runs
//! QEMU under `timeout`, so a hang fails too.
//!
//! QEMU runs the two cores in two host threads at once (multi-threaded
//! TCG, `-accel tcg,thread=multi`, QEMU's default for this guest; QEMU
//! 7.2 with `-name x,debug-threads=on` shows the threads `CPU 0/TCG` and
//! `CPU 1/TCG`, where single-threaded TCG has one, `ALL CPUs/TCG`): the
//! cores really race. On an x86 host, TCG gives the guest the host's strong
//! memory order and models no caches, so this does not catch a missing
//! barrier (the loom models do); it proves the hand-off between two real
//! cores: claims, attach by address, index publication, wrap-around, the
//! semaphore's compare-and-swap.
#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use ipckit_core::semaphore::{Handle, Semaphore};
use ipckit_core::{AlignedBytes, Error, frame, spsc};
use ipckit_firmware::{Shared, XorShift, check, fail, pass};
use ipckit_firmware_dual::{Stack, Status, VectorTable, Verdict, cpu_id, start_core1};

/// Items through the SPSC ring.
const ITEMS: u32 = 2_000_000;
/// Frames through the frame ring.
const FRAMES: u32 = 500_000;
/// Units through the semaphore-guarded counter.
const UNITS: u32 = 200_000;

const RING_CAPACITY: u32 = 64;
const FRAME_CAPACITY: u32 = 1024;
const MAX_FRAME: usize = 200;
const STOCK_LIMIT: u32 = 16;
/// Both rings' positions start here (a multiple of 8, as frame positions
/// must be), so they wrap early in the run.
const START: u32 = u32::MAX - 1023;

/// One ring item: its sequence number and three words derived from it, so
/// a torn or stale slot is seen.
type Item = [u32; 4];

fn item(seq: u32) -> Item {
    [
        seq,
        !seq,
        seq.wrapping_mul(0x9E37_79B9),
        seq.rotate_left(13) ^ 0xA5A5_A5A5,
    ]
}

/// The counter the semaphore guards: the stock, and how many units each
/// side moved (so each side can check the stock under the lock).
struct Stock {
    stock: AtomicU32,
    produced: AtomicU32,
    consumed: AtomicU32,
}

// The shared objects: typed, uninitialised storage in the `NOLOAD`
// section. Core 0 initialises each (`init`), core 1 attaches.
#[unsafe(link_section = ".ipc_shared")]
static RING: Shared<spsc::StaticRing<Item, { RING_CAPACITY as usize }>> = Shared::uninit();
#[unsafe(link_section = ".ipc_shared")]
static FRAME_RING: Shared<frame::spsc::StaticRing<{ FRAME_CAPACITY as usize }>> = Shared::uninit();
#[unsafe(link_section = ".ipc_shared")]
static LOCK: Shared<AlignedBytes<{ Semaphore::region_len() }>> = Shared::uninit();
#[unsafe(link_section = ".ipc_shared")]
static STOCK: Shared<Stock> = Shared::uninit();
#[unsafe(link_section = ".ipc_shared")]
static VERDICT: Shared<Verdict> = Shared::uninit();

/// Core 1's stack and the vector table it starts from.
static CORE1_STACK: Stack<16384> = Stack::new();
static CORE1_VECTORS: VectorTable = VectorTable::new(CORE1_STACK.top(), core1_reset, core1_fault);

#[entry]
fn main() -> ! {
    check!(cpu_id() == 0, "core 0 reads CPU id {}", cpu_id());
    // SAFETY: core 1 is held in CPUWAIT until `start_core1` below, so
    // nothing else uses the storage yet, and this is its only `init`.
    let verdict = unsafe { VERDICT.init(Verdict::new()) };
    // SAFETY: as for `VERDICT`: core 1 still waits; the only `init`.
    let stock = unsafe {
        STOCK.init(Stock {
            stock: AtomicU32::new(0),
            produced: AtomicU32::new(0),
            consumed: AtomicU32::new(0),
        })
    };
    let options = spsc::Options::new(RING_CAPACITY).start_at(START);
    // SAFETY: as for `VERDICT`: core 1 still waits, and `RING` is
    // zeroed and initialised here only.
    let ring = spsc::Ring::<Item>::init_with(unsafe { RING.zeroed() }, options)
        .unwrap_or_else(|e| fail(format_args!("init ring: {e}")));
    let options = frame::spsc::Options::new(FRAME_CAPACITY).start_at(START);
    // SAFETY: as for `VERDICT`: core 1 still waits, and `FRAME_RING` is
    // zeroed and initialised here only.
    let frames = frame::spsc::Ring::init_with(unsafe { FRAME_RING.zeroed() }, options)
        .unwrap_or_else(|e| fail(format_args!("init frame ring: {e}")));
    check!(
        frames.max_frame_len() as usize >= MAX_FRAME,
        "largest frame"
    );
    // SAFETY: as for `VERDICT`: core 1 still waits, and `LOCK` is
    // zeroed and initialised here only.
    let sem = Semaphore::init(unsafe { LOCK.zeroed() }, 1, 1)
        .unwrap_or_else(|e| fail(format_args!("init semaphore: {e}")));
    let mut tx = ring
        .producer()
        .unwrap_or_else(|e| fail(format_args!("producer: {e}")));
    let mut ftx = frames
        .producer()
        .unwrap_or_else(|e| fail(format_args!("frame producer: {e}")));
    let lock = sem
        .handle()
        .unwrap_or_else(|e| fail(format_args!("semaphore: {e}")));

    start_core1(&CORE1_VECTORS);

    let (mut items, mut sent, mut units) = (0u32, 0u32, 0u32);
    let mut rng = XorShift(0x2C0E_5EED);
    let mut buf = [0u8; MAX_FRAME];
    while items < ITEMS || sent < FRAMES || units < UNITS {
        let r = rng.next_u32();
        if items < ITEMS {
            items += push_items(&mut tx, items, r);
        }
        if sent < FRAMES && send_frame(&mut ftx, sent, r, &mut buf) {
            sent += 1;
        }
        if units < UNITS && add_unit(&lock, stock) {
            units += 1;
        }
        if verdict.poll() != Status::Running {
            break;
        }
    }
    // Core 1 reports once it has checked everything (or at its first fault).
    while verdict.poll() == Status::Running {
        cortex_m::asm::wfe();
    }
    if verdict.poll() == Status::Failed {
        let mut text = [0; 128];
        fail(format_args!("core 1: {}", verdict.message(&mut text)));
    }
    hprintln!(
        "two_cores: core 1 checked {} ring items, {} frames of 0..={} bytes and {} counter units from core 0",
        items,
        sent,
        MAX_FRAME,
        units
    );
    pass("two_cores")
}

/// Core 0: pushes up to 8 items from `next` on, with one of three producer
/// calls; returns how many went in.
fn push_items(tx: &mut spsc::Producer<'_, Item>, next: u32, r: u32) -> u32 {
    let k = (r % 8 + 1).min(ITEMS - next);
    let pushed = match (r >> 3) % 3 {
        0 => {
            let mut n = 0;
            while n < k {
                match tx.try_push(item(next + n)) {
                    Ok(()) => n += 1,
                    Err(Error::Full) => break,
                    Err(e) => fail(format_args!("try_push {}: {e}", next + n)),
                }
            }
            Ok(n as usize)
        }
        1 => {
            let mut batch = [[0; 4]; 8];
            for (i, slot) in batch[..k as usize].iter_mut().enumerate() {
                *slot = item(next + i as u32);
            }
            tx.push_partial_slice(&batch[..k as usize])
        }
        _ => tx
            .write_chunk_up_to(k as usize)
            .map(|chunk| chunk.fill_from_iter((next..next + k).map(item))),
    };
    match pushed {
        Ok(n) => n as u32,
        Err(Error::Full) => 0,
        Err(e) => fail(format_args!("push at {next}: {e}")),
    }
}

/// The length of frame `n`: every length from 0 to `MAX_FRAME` occurs.
fn frame_len(n: u32) -> usize {
    (n.wrapping_mul(37) % (MAX_FRAME as u32 + 1)) as usize
}

/// Byte `i` of frame `n`.
fn frame_byte(n: u32, i: usize) -> u8 {
    (n.wrapping_mul(0x9E37_79B9) >> 24) as u8 ^ (i as u8).wrapping_mul(7) ^ (n as u8)
}

/// Core 0: sends frame `n` (copying or through a grant); `false` when the
/// ring is full.
fn send_frame(tx: &mut frame::spsc::Producer<'_>, n: u32, r: u32, buf: &mut [u8]) -> bool {
    let len = frame_len(n);
    for (i, b) in buf[..len].iter_mut().enumerate() {
        *b = frame_byte(n, i);
    }
    let sent = if r & 0x100 == 0 {
        tx.try_send(&buf[..len])
    } else {
        tx.try_grant(len).and_then(|mut grant| {
            grant.copy_from_slice(&buf[..len])?;
            grant.commit(len)
        })
    };
    match sent {
        Ok(()) => true,
        Err(Error::Full) => false,
        Err(e) => fail(format_args!("send frame {n}: {e}")),
    }
}

/// Core 0: adds one unit to the stock under the lock, unless the lock is
/// held or the stock is at its limit.
fn add_unit(lock: &Handle<'_>, s: &Stock) -> bool {
    match lock.try_wait() {
        Ok(()) => {}
        Err(Error::Empty) => return false,
        Err(e) => fail(format_args!("lock: {e}")),
    }
    let (stock, produced, consumed) = (
        s.stock.load(Ordering::Relaxed),
        s.produced.load(Ordering::Relaxed),
        s.consumed.load(Ordering::Relaxed),
    );
    check!(
        stock == produced.wrapping_sub(consumed),
        "core 0 under the lock: stock {stock}, produced {produced}, consumed {consumed}"
    );
    let added = stock < STOCK_LIMIT;
    if added {
        s.stock.store(stock + 1, Ordering::Relaxed);
        s.produced.store(produced + 1, Ordering::Relaxed);
    }
    lock.post()
        .unwrap_or_else(|e| fail(format_args!("unlock: {e}")));
    added
}

/// Core 1 starts here (from `CORE1_VECTORS`, on its own stack).
extern "C" fn core1_reset() -> ! {
    // SAFETY: core 0 initialised the verdict before it released core 1.
    let verdict = unsafe { VERDICT.get() };
    if let Err(e) = core1_main() {
        verdict.fail(format_args!("{e}"));
    }
    verdict.pass();
    loop {
        cortex_m::asm::wfe();
    }
}

/// Core 1: any exception is a fault.
extern "C" fn core1_fault() -> ! {
    // SAFETY: as in `core1_reset`.
    unsafe { VERDICT.get() }.fail(format_args!("core 1 took a fault"))
}

/// What core 1 found wrong.
enum Fault {
    Ipc(&'static str, Error),
    Item {
        seq: u32,
        got: Item,
    },
    Frame {
        n: u32,
        len: usize,
    },
    Stock {
        stock: u32,
        produced: u32,
        consumed: u32,
    },
    Unit {
        consumed: u32,
        expected: u32,
    },
    Leftover(&'static str),
    NotCore1(u32),
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fault::Ipc(what, e) => write!(f, "{what}: {e}"),
            Fault::Item { seq, got } => write!(f, "item {seq}: got {got:x?}"),
            Fault::Frame { n, len } => write!(f, "frame {n}: wrong length or bytes ({len} bytes)"),
            Fault::Stock {
                stock,
                produced,
                consumed,
            } => write!(
                f,
                "under the lock: stock {stock}, produced {produced}, consumed {consumed}"
            ),
            Fault::Unit { consumed, expected } => {
                write!(f, "consumed count {consumed}, core 1 took {expected}")
            }
            Fault::Leftover(what) => write!(f, "{what} after the last one"),
            Fault::NotCore1(id) => write!(f, "core 1 reads CPU id {id}"),
        }
    }
}

fn ipc<T>(what: &'static str, r: Result<T, Error>) -> Result<T, Fault> {
    r.map_err(|e| Fault::Ipc(what, e))
}

/// Core 1: attaches, then takes and checks everything core 0 sends.
fn core1_main() -> Result<(), Fault> {
    if cpu_id() != 1 {
        return Err(Fault::NotCore1(cpu_id()));
    }
    // SAFETY: core 0 zeroed and initialised every object before it released
    // core 1; from here on they are reached through regions only.
    let (ring, frames, sem, stock) = unsafe {
        (
            ipc("attach ring", spsc::Ring::<Item>::attach(RING.region()))?,
            ipc(
                "attach frame ring",
                frame::spsc::Ring::attach(FRAME_RING.region()),
            )?,
            ipc("attach semaphore", Semaphore::attach(LOCK.region()))?,
            STOCK.get(),
        )
    };
    let mut rx = ipc("consumer", ring.consumer())?;
    let mut frx = ipc("frame consumer", frames.consumer())?;
    let lock = ipc("semaphore handle", sem.handle())?;

    let (mut items, mut frames_in, mut units) = (0u32, 0u32, 0u32);
    let mut rng = XorShift(0xC0DE_0001);
    let mut batch = [[0u32; 4]; 8];
    let mut buf = [0u8; MAX_FRAME + 8];
    while items < ITEMS || frames_in < FRAMES || units < UNITS {
        let r = rng.next_u32();
        if items < ITEMS {
            items += pop_items(&mut rx, items, r, &mut batch)?;
        }
        if frames_in < FRAMES && recv_frame(&mut frx, frames_in, r, &mut buf)? {
            frames_in += 1;
        }
        if units < UNITS && take_unit(&lock, stock, units)? {
            units += 1;
        }
    }
    if rx.try_pop() != Err(Error::Empty) {
        return Err(Fault::Leftover("a ring item"));
    }
    if frx.try_recv(&mut buf) != Err(Error::Empty) {
        return Err(Fault::Leftover("a frame"));
    }
    if stock.stock.load(Ordering::Relaxed) != 0 {
        return Err(Fault::Leftover("a counter unit"));
    }
    Ok(())
}

/// Core 1: takes up to 8 items with one of three consumer calls and checks
/// that they are `next`, `next + 1`, ...; returns how many.
fn pop_items(
    rx: &mut spsc::Consumer<'_, Item>,
    next: u32,
    r: u32,
    batch: &mut [Item; 8],
) -> Result<u32, Fault> {
    let k = (r % 8 + 1).min(ITEMS - next) as usize;
    let mut n = 0u32;
    let mut expect = |got: Item| {
        let seq = next + n;
        n += 1;
        if got == item(seq) {
            Ok(())
        } else {
            Err(Fault::Item { seq, got })
        }
    };
    match (r >> 4) % 3 {
        0 => {
            for _ in 0..k {
                match rx.try_pop() {
                    Ok(got) => expect(got)?,
                    Err(Error::Empty) => break,
                    Err(e) => return Err(Fault::Ipc("try_pop", e)),
                }
            }
        }
        1 => {
            let got = ipc("pop_partial_slice", rx.pop_partial_slice(&mut batch[..k]))?;
            for &v in &batch[..got] {
                expect(v)?;
            }
        }
        _ => {
            let chunk = ipc("read_chunk_up_to", rx.read_chunk_up_to(k))?;
            for v in chunk.iter() {
                expect(v)?;
            }
            chunk.commit_all();
        }
    }
    Ok(n)
}

/// Core 1: receives frame `n` if there is one and checks its every byte.
fn recv_frame(
    rx: &mut frame::spsc::Consumer<'_>,
    n: u32,
    r: u32,
    buf: &mut [u8],
) -> Result<bool, Fault> {
    let got = if r & 0x200 == 0 {
        rx.try_recv(buf)
    } else {
        rx.try_read().and_then(|f| {
            let len = f.copy_to(buf)?;
            f.release();
            Ok(len)
        })
    };
    let len = match got {
        Ok(len) => len,
        Err(Error::Empty) => return Ok(false),
        Err(e) => return Err(Fault::Ipc("receive frame", e)),
    };
    let right = len == frame_len(n)
        && buf[..len]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == frame_byte(n, i));
    if right {
        Ok(true)
    } else {
        Err(Fault::Frame { n, len })
    }
}

/// Core 1: takes one unit from the stock under the lock, if there is one;
/// `taken` is how many core 1 took before.
fn take_unit(lock: &Handle<'_>, s: &Stock, taken: u32) -> Result<bool, Fault> {
    match lock.try_wait() {
        Ok(()) => {}
        Err(Error::Empty) => return Ok(false),
        Err(e) => return Err(Fault::Ipc("lock", e)),
    }
    let (stock, produced, consumed) = (
        s.stock.load(Ordering::Relaxed),
        s.produced.load(Ordering::Relaxed),
        s.consumed.load(Ordering::Relaxed),
    );
    if stock != produced.wrapping_sub(consumed) {
        return Err(Fault::Stock {
            stock,
            produced,
            consumed,
        });
    }
    if consumed != taken {
        return Err(Fault::Unit {
            consumed,
            expected: taken,
        });
    }
    let took = stock > 0;
    if took {
        s.stock.store(stock - 1, Ordering::Relaxed);
        s.consumed.store(consumed + 1, Ordering::Relaxed);
    }
    ipc("unlock", lock.post())?;
    Ok(took)
}
