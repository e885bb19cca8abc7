//! Race-free byte moves between a region and private memory: loops of
//! relaxed atomic loads and stores of one [`Grain`]. The parent module's
//! docs ("Shared bytes") argue why this makes a concurrent writer harmless.

use core::sync::atomic::Ordering;

// "Shared bytes").

/// The aligned unit through which the bytes of one shared object are
/// accessed (the grain rule of the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Grain {
    /// Single bytes (slots of a type aligned to 1).
    U8,
    /// 2-byte units.
    U16,
    /// 4-byte units: control words and the frame rings' data areas.
    U32,
    /// Machine words (`usize`): slots of a type aligned to a word or more.
    Word,
}

impl Grain {
    /// The grain of a slot of `T`: its alignment, at most a machine word.
    /// A slot of `T` is aligned to and a multiple of `align_of::<T>()`, so
    /// it is made of whole units of this grain.
    pub(crate) const fn of<T>() -> Self {
        let align = align_of::<T>();
        if align >= size_of::<usize>() {
            Grain::Word
        } else if align >= 4 {
            Grain::U32
        } else if align >= 2 {
            Grain::U16
        } else {
            Grain::U8
        }
    }
}

/// One unit of a [`Grain`]: an integer with a relaxed atomic load and store
/// at an aligned address.
trait Unit: Copy {
    /// The unit of zero bytes.
    const ZERO: Self;
    /// Relaxed atomic load.
    ///
    /// # Safety
    /// `p` is aligned to the unit, and the unit is valid for reads.
    unsafe fn load(p: *const u8) -> Self;
    /// Relaxed atomic store.
    ///
    /// # Safety
    /// `p` is aligned to the unit, and the unit is valid for writes.
    unsafe fn store(p: *mut u8, v: Self);
    /// The unit as the low bits of a word.
    fn widen(self) -> usize;
    /// The low bits of a word as a unit.
    fn narrow(word: usize) -> Self;
}

macro_rules! unit {
    ($int:ty, $atomic:ident) => {
        impl Unit for $int {
            const ZERO: Self = 0;
            #[inline(always)]
            unsafe fn load(p: *const u8) -> Self {
                // SAFETY: aligned and valid for reads (caller contract); an
                // atomic view of memory others write concurrently is sound,
                // and the view does not outlive this call.
                unsafe { core::sync::atomic::$atomic::from_ptr(p.cast_mut().cast()) }
                    .load(Ordering::Relaxed)
            }
            #[inline(always)]
            unsafe fn store(p: *mut u8, v: Self) {
                // SAFETY: aligned and valid for writes (caller contract).
                unsafe { core::sync::atomic::$atomic::from_ptr(p.cast()) }
                    .store(v, Ordering::Relaxed)
            }
            #[inline(always)]
            fn widen(self) -> usize {
                self as usize
            }
            #[inline(always)]
            fn narrow(word: usize) -> Self {
                word as Self
            }
        }
    };
}
unit!(u8, AtomicU8);
unit!(u16, AtomicU16);
unit!(u32, AtomicU32);
unit!(usize, AtomicUsize);

/// Machine words moved per iteration of the copy loops: the compiler does
/// not merge atomics, so the unrolling is ours.
const UNROLL: usize = 8;

/// Bytes of a machine word.
const WORD: usize = size_of::<usize>();

/// The shift that places unit `i` of a word (in memory order) in the word's
/// value, for units of `n` bytes: private memory moves in whole words, so a
/// narrow grain costs loads and stores on the shared side only.
#[inline(always)]
const fn shift(i: usize, n: usize) -> usize {
    if cfg!(target_endian = "little") {
        8 * n * i
    } else {
        8 * n * (WORD / n - 1 - i)
    }
}

/// Copies `len` bytes from shared `src` to private `dst` in units of `W`.
///
/// # Safety
/// The `W`-aligned units that contain `src..src + len` are valid for
/// reads; `dst..dst + len` is valid for writes and not shared.
#[inline(always)]
unsafe fn load_units<W: Unit>(src: *const u8, dst: *mut u8, len: usize) {
    let n = size_of::<W>();
    let (mut s, mut d, mut left) = (src, dst, len);
    let skew = s.addr() & (n - 1);
    if skew != 0 && left > 0 {
        // A partial first unit: load it whole, keep the wanted bytes.
        let take = (n - skew).min(left);
        // SAFETY: the unit containing `src` is readable (contract).
        let unit = unsafe { W::load(s.sub(skew)) };
        let bytes = (&raw const unit).cast::<u8>();
        for i in 0..take {
            // SAFETY: `skew + i < n` is inside the local; `i < len` inside `dst`.
            unsafe { d.add(i).write(bytes.add(skew + i).read()) };
        }
        // SAFETY: `take <= left`: still within (or one past) both ranges.
        (s, d, left) = unsafe { (s.add(take), d.add(take), left - take) };
    }
    while left >= UNROLL * WORD {
        // All loads first, assembled into words, then all stores.
        let mut words = [0usize; UNROLL];
        for (j, word) in words.iter_mut().enumerate() {
            for i in 0..WORD / n {
                // SAFETY: `s` is aligned to `n` and `j * WORD + i * n + n <=
                // left`: a whole unit inside the range.
                let unit = unsafe { W::load(s.add(j * WORD + i * n)) };
                *word |= unit.widen() << shift(i, n);
            }
        }
        for (j, word) in words.iter().enumerate() {
            // SAFETY: within `dst`, unaligned writes to private memory.
            unsafe { d.add(j * WORD).cast::<usize>().write_unaligned(*word) };
        }
        // SAFETY: `UNROLL * WORD <= left`.
        (s, d, left) = unsafe {
            (
                s.add(UNROLL * WORD),
                d.add(UNROLL * WORD),
                left - UNROLL * WORD,
            )
        };
    }
    while left >= n {
        // SAFETY: an aligned whole unit inside both ranges.
        unsafe { d.cast::<W>().write_unaligned(W::load(s)) };
        // SAFETY: `n <= left`.
        (s, d, left) = unsafe { (s.add(n), d.add(n), left - n) };
    }
    if left > 0 {
        // A partial last unit, aligned: load it whole.
        // SAFETY: the unit containing the range's end is readable (contract).
        let unit = unsafe { W::load(s) };
        let bytes = (&raw const unit).cast::<u8>();
        for i in 0..left {
            // SAFETY: `i < left < n`; inside the local and inside `dst`.
            unsafe { d.add(i).write(bytes.add(i).read()) };
        }
    }
}

/// Stores `len` bytes from private `src` (zeros if `src` is `None`) to
/// shared `dst` in units of `W`; partial units at either end are loaded,
/// merged and stored whole.
///
/// # Safety
/// The `W`-aligned units that contain `dst..dst + len` are valid for reads
/// and writes and the caller owns them (their bytes outside the range are
/// rewritten with the values just loaded); `src..src + len` is valid for
/// reads and not shared.
#[inline(always)]
unsafe fn store_units<W: Unit>(dst: *mut u8, src: Option<*const u8>, len: usize) {
    let n = size_of::<W>();
    let (mut d, mut left) = (dst, len);
    let mut s = src;
    let byte = |s: Option<*const u8>, i: usize| {
        // SAFETY: every caller passes `s` advanced with `d` and `i` below the
        // bytes left: inside `src..src + len`, private and readable.
        s.map_or(0, |s| unsafe { s.add(i).read() })
    };
    let skew = d.addr() & (n - 1);
    if skew != 0 && left > 0 {
        let take = (n - skew).min(left);
        // SAFETY: the unit containing `dst` is owned (contract).
        let base = unsafe { d.sub(skew) };
        // SAFETY: as above.
        let mut unit = unsafe { W::load(base) };
        let bytes = (&raw mut unit).cast::<u8>();
        for i in 0..take {
            // SAFETY: `skew + i < n` is inside the local; `i < len`.
            unsafe { bytes.add(skew + i).write(byte(s, i)) };
        }
        // SAFETY: as above.
        unsafe { W::store(base, unit) };
        // SAFETY: `take <= left`.
        d = unsafe { d.add(take) };
        // SAFETY: `take <= left`.
        s = s.map(|s| unsafe { s.add(take) });
        left -= take;
    }
    while left >= UNROLL * WORD {
        // Whole private words in, split into units on the way out.
        let mut words = [0usize; UNROLL];
        if let Some(s) = s {
            for (j, word) in words.iter_mut().enumerate() {
                // SAFETY: inside `src`, unaligned reads of private memory.
                *word = unsafe { s.add(j * WORD).cast::<usize>().read_unaligned() };
            }
        }
        for (j, word) in words.iter().enumerate() {
            for i in 0..WORD / n {
                let unit = W::narrow(word >> shift(i, n));
                // SAFETY: `d` is aligned to `n` and `j * WORD + i * n + n <=
                // left`: an owned whole unit.
                unsafe { W::store(d.add(j * WORD + i * n), unit) };
            }
        }
        // SAFETY: `UNROLL * WORD <= left`.
        d = unsafe { d.add(UNROLL * WORD) };
        // SAFETY: `UNROLL * WORD <= left`.
        s = s.map(|s| unsafe { s.add(UNROLL * WORD) });
        left -= UNROLL * WORD;
    }
    while left >= n {
        // SAFETY: inside `src`, unaligned read of private memory.
        let unit = s.map_or(W::ZERO, |s| unsafe { s.cast::<W>().read_unaligned() });
        // SAFETY: an aligned, owned whole unit.
        unsafe { W::store(d, unit) };
        // SAFETY: `n <= left`.
        d = unsafe { d.add(n) };
        // SAFETY: `n <= left`.
        s = s.map(|s| unsafe { s.add(n) });
        left -= n;
    }
    if left > 0 {
        // SAFETY: the unit containing the range's end is owned (contract).
        let mut unit = unsafe { W::load(d) };
        let bytes = (&raw mut unit).cast::<u8>();
        for i in 0..left {
            // SAFETY: `i < left < n`: inside the local.
            unsafe { bytes.add(i).write(byte(s, i)) };
        }
        // SAFETY: as above.
        unsafe { W::store(d, unit) };
    }
}

/// `$f::<U>($args)` with `U` the unit type that `grain` names.
macro_rules! by_unit {
    ($grain:expr, $f:ident($($arg:expr),*)) => {
        match $grain {
            Grain::U8 => $f::<u8>($($arg),*),
            Grain::U16 => $f::<u16>($($arg),*),
            Grain::U32 => $f::<u32>($($arg),*),
            Grain::Word => $f::<usize>($($arg),*),
        }
    };
}

/// Copies `len` shared bytes at `src` to private memory at `dst`, through
/// relaxed atomics of `grain`: race-free against any writer of that grain.
///
/// # Safety
/// The `grain`-aligned units that contain `src..src + len` are valid for
/// reads (the caller's index protocol lets it read them; a hostile writer is
/// allowed). `dst..dst + len` is private memory valid for writes.
#[inline(always)]
pub(crate) unsafe fn load_bytes(src: *const u8, dst: *mut u8, len: usize, grain: Grain) {
    // SAFETY: the caller's contract, for the unit size that `grain` names.
    unsafe { by_unit!(grain, load_units(src, dst, len)) }
}

/// Copies `len` private bytes at `src` into shared memory at `dst` (zeros
/// if `src` is `None`), through relaxed atomics of `grain`.
///
/// # Safety
/// The `grain`-aligned units that contain `dst..dst + len` are valid for
/// reads and writes and the caller owns them by its index protocol (bytes
/// of a partial unit outside the range are stored back as just loaded);
/// `src..src + len` is private memory valid for reads.
#[inline(always)]
pub(crate) unsafe fn store_bytes(dst: *mut u8, src: Option<*const u8>, len: usize, grain: Grain) {
    // SAFETY: the caller's contract, for the unit size that `grain` names.
    unsafe { by_unit!(grain, store_units(dst, src, len)) }
}

/// Copies `dst.len()` shared bytes at `src` into `dst`; see [`load_bytes`].
///
/// # Safety
/// As [`load_bytes`] with `len = dst.len()`.
#[inline(always)]
pub(crate) unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8], grain: Grain) {
    // SAFETY: `dst` is an exclusive slice; the rest is the caller's contract.
    unsafe { load_bytes(src, dst.as_mut_ptr(), dst.len(), grain) }
}

/// Copies `src` into shared memory at `dst`; see [`store_bytes`].
///
/// # Safety
/// As [`store_bytes`] with `len = src.len()`.
#[inline(always)]
pub(crate) unsafe fn copy_to_shared(dst: *mut u8, src: &[u8], grain: Grain) {
    // SAFETY: `src` is a Rust slice, so private and readable; the rest is
    // the caller's contract.
    unsafe { store_bytes(dst, Some(src.as_ptr()), src.len(), grain) }
}

/// Zeroes `len` shared bytes at `dst`; see [`store_bytes`]. (Only the MPSC
/// frame ring zeroes, and it needs compare-and-swap.)
///
/// # Safety
/// As [`store_bytes`].
#[cfg(ipckit_cas)]
#[inline(always)]
pub(crate) unsafe fn zero_shared(dst: *mut u8, len: usize, grain: Grain) {
    // SAFETY: the caller's contract.
    unsafe { store_bytes(dst, None, len, grain) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of a test buffer: room for the largest start and length.
    const LEN: usize = if cfg!(miri) { 80 } else { 216 };

    #[repr(C, align(16))]
    struct Buf([u8; LEN]);

    const GRAINS: [Grain; 4] = [Grain::U8, Grain::U16, Grain::U32, Grain::Word];

    /// Every short length, and lengths around the unrolled loop's step
    /// (8 words) and its multiples. Under miri, where each case costs
    /// tens of milliseconds, a sample that still takes every path: partial
    /// units at either end, the unit loop, the unrolled loop.
    fn lengths() -> impl Iterator<Item = usize> {
        let all = (0..=24).chain([
            31, 32, 33, 63, 64, 65, 66, 67, 71, 72, 127, 128, 129, 131, 136, 200,
        ]);
        all.filter(|len| !cfg!(miri) || [0, 3, 8, 9, 65, 71].contains(len))
    }

    /// Start offsets: every skew against a machine word, twice natively.
    fn starts() -> impl Iterator<Item = usize> {
        (0..16).filter(|start| !cfg!(miri) || [0, 3].contains(start))
    }

    fn pattern(seed: u8) -> Buf {
        let mut buf = Buf([0; LEN]);
        for (i, b) in buf.0.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(seed);
        }
        buf
    }

    #[test]
    fn loads_every_offset_and_length_of_every_grain() {
        // Mutable: a region is memory others write (and miri's borrow
        // tracking wants a writable pointer behind atomic views).
        let mut shared = pattern(1);
        let base = shared.0.as_mut_ptr();
        for grain in GRAINS {
            for start in starts() {
                for len in lengths() {
                    let mut out = [0xAA; LEN];
                    // SAFETY: the units around `start..start + len` lie in
                    // the 16-aligned buffer; nobody writes it.
                    unsafe { copy_from_shared(base.add(start), &mut out[..len], grain) };
                    assert_eq!(
                        out[..len],
                        pattern(1).0[start..start + len],
                        "{grain:?} {start} {len}"
                    );
                    assert!(
                        out[len..].iter().all(|&b| b == 0xAA),
                        "{grain:?} {start} {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn stores_and_zeroes_exactly_the_range() {
        let src = pattern(100);
        for grain in GRAINS {
            for start in starts() {
                for len in lengths() {
                    for zero in [false, true] {
                        let mut shared = pattern(1);
                        let mut expected = pattern(1);
                        let base = shared.0.as_mut_ptr();
                        // SAFETY: the units around `start..start + len` lie
                        // in the buffer, which this thread owns.
                        unsafe {
                            if zero {
                                zero_shared(base.add(start), len, grain);
                            } else {
                                copy_to_shared(base.add(start), &src.0[..len], grain);
                            }
                        }
                        for (i, b) in expected.0[start..start + len].iter_mut().enumerate() {
                            *b = if zero { 0 } else { src.0[i] };
                        }
                        assert_eq!(shared.0, expected.0, "{grain:?} {start} {len} {zero}");
                    }
                }
            }
        }
    }

    #[test]
    fn grain_of_a_slot_type_is_its_alignment_capped_at_a_word() {
        assert_eq!(Grain::of::<u8>(), Grain::U8);
        assert_eq!(Grain::of::<[u8; 3]>(), Grain::U8);
        assert_eq!(Grain::of::<u16>(), Grain::U16);
        assert_eq!(Grain::of::<[u32; 3]>(), Grain::U32);
        assert_eq!(Grain::of::<usize>(), Grain::Word);
        #[repr(C, align(64))]
        struct Line([u8; 64]);
        assert_eq!(Grain::of::<Line>(), Grain::Word);
    }
}
