//! Board support for ipckit's two-core test on QEMU's `mps2-an521`: an
//! SSE-200 subsystem with two Cortex-M33 cores sharing its SRAM (see
//! `README.md` one directory up).
//!
//! - [`cpu_id`]: which core is running (the SSE-200's CPU_IDENTITY block
//!   answers each core with its own number).
//! - [`start_core1`]: core 0 points INITSVTOR1 at core 1's [`VectorTable`]
//!   and clears core 1's bit in CPUWAIT; core 1 comes out of reset there,
//!   with its own stack ([`Stack`]).
//! - [`Verdict`]: how core 1 tells core 0 that it passed or what failed,
//!   through shared memory; core 0 alone ends the run (semihosting exit).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};

/// The SSE-200 system control registers (secure alias).
const SYSCTL: usize = 0x5002_1000;
/// Initial secure vector table address of core 1 (reset value 0x1000_0000,
/// core 0's table).
const INITSVTOR1: *mut u32 = (SYSCTL + 0x114) as *mut u32;
/// Bit `n` set: core `n` is held in reset. Its reset value on the SSE-200
/// is `0b10`: core 0 runs, core 1 waits. Clearing bit 1 starts core 1 at
/// the table INITSVTOR1 names (QEMU: `arm_set_cpu_on_and_reset(1)`).
const CPUWAIT: *mut u32 = (SYSCTL + 0x118) as *mut u32;
/// The CPU_IDENTITY block: its first word reads as the number of the core
/// that reads it.
const CPU_IDENTITY: *const u32 = 0x4001_F000 as *const u32;

/// The number of the core running this code: 0 or 1.
pub fn cpu_id() -> u32 {
    // SAFETY: CPU_IDENTITY is a read-only device register of the SSE-200,
    // always mapped; reading it has no side effect.
    unsafe { CPU_IDENTITY.read_volatile() }
}

/// A stack of `N` bytes for core 1, in `.bss` (core 0's reset handler
/// zeroes it before core 1 exists).
#[repr(C, align(8))]
pub struct Stack<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: only core 1 uses the bytes, as its stack, through its stack
// pointer; Rust code never references them.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Stack<N> {
    /// The stack, zeroed.
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; N]))
    }

    /// The initial stack pointer: one past the last byte (stacks grow down).
    pub const fn top(&'static self) -> *const u8 {
        self.0.get().cast::<u8>().cast_const().wrapping_add(N)
    }
}

impl<const N: usize> Default for Stack<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// An exception handler that never returns.
pub type Handler = extern "C" fn() -> !;

/// The vector table core 1 starts from: its initial stack pointer, its
/// reset handler, and one handler for every other system exception (core 1
/// enables no interrupt). 128-byte aligned, as VTOR requires.
#[repr(C, align(128))]
pub struct VectorTable {
    stack_top: *const u8,
    reset: Handler,
    exceptions: [Handler; 14],
}

// SAFETY: read-only after construction; the stack pointer is an address
// that no Rust code dereferences.
unsafe impl Sync for VectorTable {}

impl VectorTable {
    /// A table that starts core 1 in `reset` on `stack_top`, and sends every
    /// fault (and any other exception) to `fault`.
    pub const fn new(stack_top: *const u8, reset: Handler, fault: Handler) -> Self {
        Self {
            stack_top,
            reset,
            exceptions: [fault; 14],
        }
    }
}

/// Releases core 1 from CPUWAIT: it resets and starts from `table`. Call it
/// once, on core 0, after everything core 1 needs is in place.
pub fn start_core1(table: &'static VectorTable) {
    // SAFETY: INITSVTOR1 and CPUWAIT are registers of the SSE-200's system
    // control block (always mapped, secure, 32-bit); core 0 is the only
    // writer, and core 1 is still held, so it reads the new INITSVTOR1 when
    // it leaves reset.
    unsafe {
        INITSVTOR1.write_volatile(table as *const VectorTable as u32);
        // Everything core 0 wrote (the regions, the verdict) before core 1
        // exists, and the table address before the release.
        cortex_m::asm::dsb();
        CPUWAIT.write_volatile(CPUWAIT.read_volatile() & !0b10);
    }
}

/// Not yet reported.
const RUNNING: u32 = 0;
/// Core 1 checked every item.
const PASSED: u32 = 1;
/// Core 1 found a fault; the message says which.
const FAILED: u32 = 2;
/// Bytes of the failure message.
const MESSAGE: usize = 128;

/// Core 1's verdict, in shared memory: core 1 writes it once, core 0 polls
/// it while it produces and once it is done, then ends the run.
pub struct Verdict {
    state: AtomicU32,
    len: AtomicU32,
    message: [AtomicU32; MESSAGE / 4],
}

/// What [`Verdict::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Core 1 has not reported yet.
    Running,
    /// Core 1 checked every item.
    Passed,
    /// Core 1 found a fault.
    Failed,
}

impl Verdict {
    /// No verdict yet.
    pub const fn new() -> Self {
        Self {
            state: AtomicU32::new(RUNNING),
            len: AtomicU32::new(0),
            message: [const { AtomicU32::new(0) }; MESSAGE / 4],
        }
    }

    /// Core 1: every item was right.
    pub fn pass(&self) {
        self.state.store(PASSED, Ordering::Release);
        Self::signal();
    }

    /// Core 1: reports the failure (the first `MESSAGE` bytes of the
    /// message) and stops.
    pub fn fail(&self, args: fmt::Arguments<'_>) -> ! {
        let mut text = Text {
            buf: [0; MESSAGE],
            len: 0,
        };
        let _ = text.write_fmt(args);
        for (word, bytes) in self.message.iter().zip(text.buf.chunks_exact(4)) {
            let bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
            word.store(u32::from_le_bytes(bytes), Ordering::Relaxed);
        }
        self.len.store(text.len as u32, Ordering::Relaxed);
        self.state.store(FAILED, Ordering::Release);
        Self::signal();
        loop {
            cortex_m::asm::wfe();
        }
    }

    /// Core 0: the verdict so far.
    pub fn poll(&self) -> Status {
        match self.state.load(Ordering::Acquire) {
            RUNNING => Status::Running,
            PASSED => Status::Passed,
            _ => Status::Failed,
        }
    }

    /// Core 0: the failure message (after [`Status::Failed`]) into `out`.
    pub fn message<'b>(&self, out: &'b mut [u8; MESSAGE]) -> &'b str {
        for (word, bytes) in self.message.iter().zip(out.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        let len = (self.len.load(Ordering::Relaxed) as usize).min(MESSAGE);
        match core::str::from_utf8(&out[..len]) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&out[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    /// Wakes core 0 if it sleeps in `WFE`.
    fn signal() {
        cortex_m::asm::dsb();
        cortex_m::asm::sev();
    }
}

impl Default for Verdict {
    fn default() -> Self {
        Self::new()
    }
}

/// A fixed buffer that `write!` fills, cutting what does not fit.
struct Text {
    buf: [u8; MESSAGE],
    len: usize,
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(MESSAGE - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

// The message is stored in whole words; a message cut inside a character is
// returned up to the last whole one.
const _: () = assert!(MESSAGE % 4 == 0);
