//! Anonymous shared mappings, inherited across `fork()`.

use std::io;
use std::ptr::{self, NonNull};

use ipckit_core::Region;

use super::SharedMemory;

/// An anonymous shared mapping: `len` zeroed bytes, readable and writable,
/// shared with every child process `fork()`ed while it exists.
///
/// The memory comes from
/// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)`
/// and is unmapped when the `SharedMapping` is dropped (in each process
/// separately: a child's copy of the mapping stays valid after the parent
/// drops its own). Its base address is page-aligned, which satisfies the
/// alignment of every object in [`ipckit_core`].
///
/// The mapping hands out its bytes only as a [`Region`] (for ipckit objects)
/// and as a raw pointer; it never creates a Rust reference to them, since
/// another process may write them at any time.
///
/// ```
/// use ipckit::shm::SharedMapping;
/// use ipckit::spsc::Ring;
///
/// let capacity = 64;
/// let len = Ring::<u64>::region_len(capacity).expect("valid capacity");
/// let mapping = SharedMapping::anonymous(len)?;
///
/// // The creator initialises the ring; a forked child would `attach` to the
/// // same bytes and claim the consumer role.
/// let ring = Ring::<u64>::init(mapping.region(), capacity)?;
/// let peer = Ring::<u64>::attach(mapping.region())?;
/// let mut tx = ring.producer()?;
/// let mut rx = peer.consumer()?;
/// tx.try_push(7)?;
/// assert_eq!(rx.try_pop()?, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SharedMapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value and belongs to the whole
// process, not to a thread; unmapping it from another thread is fine.
unsafe impl Send for SharedMapping {}
// SAFETY: `&SharedMapping` only reads the immutable `base` and `len` and
// hands out a raw pointer or a `Region` (itself `Sync`); it gives no access
// to the bytes that is not already the caller's own `unsafe` responsibility.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Maps `len` zeroed bytes, shared with the processes that this one
    /// forks afterwards.
    ///
    /// Returns [`io::ErrorKind::InvalidInput`] for `len == 0`, and the
    /// operating system's error if `mmap` fails (say, `ENOMEM`).
    ///
    /// ```
    /// use ipckit::shm::SharedMapping;
    /// use std::io::ErrorKind;
    ///
    /// let mapping = SharedMapping::anonymous(10_000)?;
    /// assert_eq!(mapping.len(), 10_000);
    /// let err = SharedMapping::anonymous(0).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn anonymous(len: usize) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a shared mapping needs at least one byte",
            ));
        }
        // SAFETY: a fresh anonymous mapping at an address the kernel picks
        // (`NULL` hint, no `MAP_FIXED`) cannot overlap or alter any memory
        // this process already uses; the arguments are plain values.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        match NonNull::new(addr.cast::<u8>()) {
            Some(base) => Ok(Self { base, len }),
            None => {
                // Only possible where `vm.mmap_min_addr` is 0; a region at
                // address 0 cannot be described by a `NonNull`, so give it
                // back.
                // SAFETY: `addr..addr + len` is the mapping just created,
                // which nothing refers to yet.
                unsafe { libc::munmap(addr, len) };
                Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    "mmap returned address 0",
                ))
            }
        }
    }

    /// The length in bytes, as requested (the kernel maps whole pages, but
    /// only these bytes belong to the mapping's [`Region`]).
    ///
    /// ```
    /// use ipckit::shm::SharedMapping;
    ///
    /// assert_eq!(SharedMapping::anonymous(100)?.len(), 100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // a mapping is never empty: `anonymous` refuses 0
    pub fn len(&self) -> usize {
        self.len
    }

    /// The base address (page-aligned).
    ///
    /// Reading or writing through it is `unsafe` and the caller's
    /// responsibility: the bytes may be written by another process at any
    /// time, so access them through raw pointers or atomics, never through
    /// `&`/`&mut` references that overlap an access by ipckit handles.
    ///
    /// ```
    /// use ipckit::shm::SharedMapping;
    ///
    /// let mapping = SharedMapping::anonymous(4096)?;
    /// assert_eq!(mapping.as_ptr() as usize % 4096, 0);
    /// // SAFETY: in bounds, and no ipckit handle uses the mapping yet.
    /// let first = unsafe { mapping.as_ptr().read() };
    /// assert_eq!(first, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// The mapping as a [`Region`] to place an ipckit object on (with `init`)
    /// or to find one in (with `attach`).
    ///
    /// The region borrows the mapping, so the mapping cannot be unmapped
    /// while rings or endpoints built on it exist. Every call describes the
    /// same bytes.
    ///
    /// ```
    /// use ipckit::shm::SharedMapping;
    /// use ipckit::{region, spsc, ObjectKind};
    ///
    /// let mapping = SharedMapping::anonymous(spsc::Ring::<u32>::region_len(8).unwrap())?;
    /// spsc::Ring::<u32>::init(mapping.region(), 8)?;
    /// let info = region::inspect(mapping.region())?;
    /// assert_eq!(info.kind, Some(ObjectKind::Spsc));
    /// assert_eq!(info.capacity, 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn region(&self) -> Region<'_> {
        // SAFETY: the contract of `Region::from_raw`, for the lifetime of
        // `&self`, which the returned region carries:
        // - `base..base + len` is mapped readable and writable (`mmap`
        //   succeeded with `PROT_READ | PROT_WRITE` and at least `len`
        //   bytes), and anonymous pages are zero-filled, so every byte is
        //   initialised. It stays mapped until `drop`, which cannot run while
        //   the region borrows `self`.
        // - `SharedMapping` itself never reads or writes the bytes and never
        //   creates a reference to them; other code in this process reaches
        //   them only through `as_ptr`, whose use is that code's own
        //   `unsafe` responsibility. So inside this process only ipckit
        //   handles built on such regions access the bytes.
        // - Forked processes write the same pages at any time: that is what
        //   `from_raw` allows, and ipckit handles validate what they read.
        unsafe { Region::from_raw(self.base, self.len) }
    }
}

impl SharedMemory for SharedMapping {
    fn region(&self) -> Region<'_> {
        SharedMapping::region(self)
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: `base..base + len` is the mapping created in `anonymous`,
        // owned by `self`; every `Region` borrowed from `self` has ended, so
        // nothing in this process uses the bytes any more. `munmap` of a
        // valid mapping cannot fail, and a destructor has no way to report
        // an error anyway.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    use ipckit_core::spsc::Ring;

    /// The unit tests run on the multi-threaded test harness, so a forked
    /// child may only make async-signal-safe calls: atomic stores and
    /// `_exit`, nothing that allocates, locks or panics.
    fn fork_and_wait(child: fn(&SharedMapping), mapping: &SharedMapping) -> libc::c_int {
        // SAFETY: the child runs only `child`, which is restricted to
        // async-signal-safe operations (see above), then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            child(mapping);
            // SAFETY: ends the child at once, without running destructors or
            // the parent's exit handlers; always sound.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        loop {
            // SAFETY: `pid` is our child; `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                return status;
            }
            let err = io::Error::last_os_error();
            assert_eq!(err.kind(), io::ErrorKind::Interrupted, "waitpid: {err}");
        }
    }

    /// The `u32` at `offset`, accessed atomically.
    fn word(mapping: &SharedMapping, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= mapping.len());
        // SAFETY: in bounds and 4-aligned (the base is page-aligned); the
        // tests touch these bytes only atomically, and the mapping outlives
        // the returned reference.
        unsafe { AtomicU32::from_ptr(mapping.as_ptr().add(offset).cast()) }
    }

    #[test]
    fn zero_length_is_invalid_input() {
        let err = SharedMapping::anonymous(0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn absurd_length_is_an_os_error() {
        let err = SharedMapping::anonymous(usize::MAX - 4095).unwrap_err();
        assert!(err.raw_os_error().is_some(), "{err:?}");
    }

    #[test]
    fn mapping_is_zeroed_page_aligned_and_writable() {
        let len = 3 * 4096 + 17; // not a multiple of the page size
        let mapping = SharedMapping::anonymous(len).unwrap();
        assert_eq!(mapping.len(), len);
        assert_eq!(mapping.as_ptr() as usize % 4096, 0);
        let base = mapping.as_ptr();
        for i in 0..len {
            // SAFETY: `i < len`; no other access to the mapping exists.
            assert_eq!(unsafe { base.add(i).read() }, 0, "byte {i}");
        }
        for i in 0..len {
            // SAFETY: as above.
            unsafe { base.add(i).write(i as u8) };
        }
        for i in 0..len {
            // SAFETY: as above.
            assert_eq!(unsafe { base.add(i).read() }, i as u8, "byte {i}");
        }
    }

    #[test]
    fn region_describes_the_mapping() {
        let mapping = SharedMapping::anonymous(1000).unwrap();
        let region = mapping.region();
        assert_eq!(region.len(), 1000);
        assert_eq!(region.as_ptr(), mapping.as_ptr());
    }

    #[test]
    fn child_writes_are_seen_by_the_parent() {
        const VALUE: u32 = 0xC0FF_EE00;
        let mapping = SharedMapping::anonymous(4096).unwrap();
        word(&mapping, 0).store(1, Ordering::SeqCst);
        let status = fork_and_wait(
            |m| {
                // The child sees what the parent wrote before the fork
                // (shared, not copied) and answers through the same page.
                let answer = if word(m, 0).load(Ordering::SeqCst) == 1 {
                    VALUE
                } else {
                    1
                };
                word(m, 4092).store(answer, Ordering::SeqCst);
            },
            &mapping,
        );
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(word(&mapping, 4092).load(Ordering::SeqCst), VALUE);
    }

    #[test]
    fn ring_created_before_fork_carries_items_from_the_child() {
        let len = Ring::<u64>::region_len(16).unwrap();
        let mapping = SharedMapping::anonymous(len).unwrap();
        let ring = Ring::<u64>::init(mapping.region(), 16).unwrap();
        let status = fork_and_wait(
            |m| {
                // No allocation and no panic here: errors just stop early,
                // and the parent sees fewer items.
                let Ok(ring) = Ring::<u64>::attach(m.region()) else {
                    return;
                };
                let Ok(mut tx) = ring.producer() else { return };
                for i in 0..10 {
                    if tx.try_push(i * 3).is_err() {
                        return;
                    }
                }
            },
            &mapping,
        );
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        let mut rx = ring.consumer().unwrap();
        let mut out = [0u64; 16];
        assert_eq!(rx.pop_partial_slice(&mut out).unwrap(), 10);
        assert!(out[..10].iter().copied().eq((0..10).map(|i| i * 3)));
    }
}
