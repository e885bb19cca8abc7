//! Memory that the test hands out as a *raw* region, so that it can play a
//! faulty peer and write words while ring handles are alive (the `no_std`
//! counterpart of the core's unit-test `PeerMemory`).

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use ipckit_core::{AlignedBytes, Region};

/// Bytes of every [`PeerMemory`].
pub const MEM: usize = 2048;

/// Caller-provided bytes, reached only through regions and [`word`](Self::word).
pub struct PeerMemory<'a> {
    base: NonNull<u8>,
    _bytes: PhantomData<&'a mut AlignedBytes<MEM>>,
}

impl<'a> PeerMemory<'a> {
    /// Zeroes `bytes` and takes them over for `'a`.
    pub fn new(bytes: &'a mut AlignedBytes<MEM>) -> Self {
        bytes.0.fill(0);
        Self {
            base: NonNull::from(bytes).cast(),
            _bytes: PhantomData,
        }
    }

    /// A region over the first `len` bytes.
    pub fn region(&self, len: usize) -> Region<'_> {
        assert!(len <= MEM);
        // SAFETY: the bytes are exclusively borrowed for `'a` (so for the
        // region's lifetime), zero-initialised, and only accessed through
        // regions and `word` (atomics).
        unsafe { Region::from_raw(self.base, len) }
    }

    /// The `u32` at `offset`, as the peer sees it.
    pub fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= MEM);
        // SAFETY: aligned (the base is 128-aligned, `offset` a multiple of
        // 4), in bounds, and only ever accessed atomically or by ipckit.
        unsafe { self.base.add(offset).cast::<AtomicU32>().as_ref() }
    }

    /// Copies the first `out.len()` bytes (a multiple of 4) out, word by
    /// word, in memory order.
    pub fn read(&self, out: &mut [u8]) {
        assert!(out.len() % 4 == 0);
        for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
            let w = self.word(4 * i).load(Ordering::SeqCst);
            chunk.copy_from_slice(&w.to_ne_bytes());
        }
    }

    /// Writes `bytes` (a multiple of 4) at offset 0, word by word.
    pub fn write(&self, bytes: &[u8]) {
        assert!(bytes.len() % 4 == 0 && bytes.len() <= MEM);
        for (i, chunk) in bytes.chunks_exact(4).enumerate() {
            let w = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            self.word(4 * i).store(w, Ordering::SeqCst);
        }
    }
}
