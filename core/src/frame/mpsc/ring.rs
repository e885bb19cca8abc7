//! The ring handle: placement on a region, the init protocol, endpoints.

use super::*;

/// An MPSC frame ring placed on a region: the handle from which producers and
/// the consumer are made.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (a, b, mut rx) = (ring.producer()?, ring.producer()?, ring.consumer()?);
/// a.try_send(b"one")?;
/// b.try_send(b"two")?;
/// let mut buf = [0; 8];
/// let n = rx.try_recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"one");
/// let n = rx.try_recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"two");
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Ring<'a> {
    pub(super) control: NonNull<Control>,
    pub(super) data: Data,
    pub(super) capacity: u32,
    pub(super) wakes: bool,
    #[cfg(ipckit_loom)]
    pub(super) backing: std::sync::Arc<dyn core::any::Any>,
    pub(super) _region: PhantomData<&'a Control>,
}

// SAFETY: the handle points into a region valid for `'a` that is built for
// use from several threads, processes and cores: every shared word is an
// atomic, and payload bytes are accessed only by the endpoint that the
// protocol gives them to.
unsafe impl Send for Ring<'_> {}
// SAFETY: as above; `&Ring` offers only atomic operations and claims.
unsafe impl Sync for Ring<'_> {}

impl Clone for Ring<'_> {
    fn clone(&self) -> Self {
        Self {
            control: self.control,
            data: self.data,
            capacity: self.capacity,
            wakes: self.wakes,
            #[cfg(ipckit_loom)]
            backing: self.backing.clone(),
            _region: PhantomData,
        }
    }
}

impl fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Ring")
            .field("capacity", &self.capacity)
            .field("wakes", &self.wakes)
            .finish_non_exhaustive()
    }
}

impl<'a> Ring<'a> {
    /// The number of bytes a region needs for a data area of `capacity`
    /// bytes: `512 + capacity`, or `None` if `capacity` is not a power of
    /// two in [`MIN_CAPACITY`](crate::frame::MIN_CAPACITY)`..=`[`MAX_CAPACITY`](crate::frame::MAX_CAPACITY).
    pub const fn region_len(capacity: u32) -> Option<usize> {
        if capacity_ok(capacity) {
            Some(DATA_OFFSET + capacity as usize)
        } else {
            None
        }
    }

    /// Creates a ring with a data area of `capacity` bytes in `region` and
    /// publishes its header; positions start at 0. On a region from
    /// [`Region::from_slice`] a stale header is reset first; on a raw region
    /// exactly one of several racing creators succeeds
    /// ([`Error::AlreadyInitialized`]). The region's base must be 8-aligned.
    #[cfg(not(ipckit_loom))]
    pub fn init(region: Region<'a>, capacity: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity))
    }

    /// Like [`init`](Self::init), positions starting at `position` (a
    /// multiple of 8).
    #[cfg(not(ipckit_loom))]
    pub fn init_at(region: Region<'a>, capacity: u32, position: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity).start_at(position))
    }

    /// Creates a ring as `options` say; see [`init`](Self::init).
    #[cfg(not(ipckit_loom))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        let len = Self::region_len(options.capacity).ok_or(Error::InvalidCapacity)?;
        if options.position % RECORD_ALIGN != 0 {
            return Err(Error::InvalidCapacity);
        }
        region.check(len, RECORD_ALIGN as usize)?;
        let exclusive = region.is_exclusive();
        let ring = Self::on_region(region, options.capacity, options.wakes);
        ring.write_fresh(exclusive, options)?;
        Ok(ring)
    }

    /// Attaches to a ring another side created in `region`, after validating
    /// every header field and the region's length and alignment.
    #[cfg(not(ipckit_loom))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let info = region.header()?.read_info()?;
        info.expect(ObjectKind::FrameMpsc, 1, RECORD_ALIGN)?;
        let capacity = info.capacity;
        let len = Self::region_len(capacity).ok_or(Error::Corrupted("capacity in header"))?;
        if info.data_offset as usize != DATA_OFFSET {
            return Err(Error::Corrupted("data offset in header"));
        }
        region.check(len, RECORD_ALIGN as usize)?;
        let wakes = match info.flags {
            0 => false,
            FLAG_WAKES => true,
            _ => return Err(Error::Corrupted("flags in header")),
        };
        Ok(Self::on_region(region, capacity, wakes))
    }

    #[cfg(not(ipckit_loom))]
    fn on_region(region: Region<'a>, capacity: u32, wakes: bool) -> Self {
        let base = region.as_ptr();
        Self {
            // SAFETY: the region's base is non-null.
            control: unsafe { NonNull::new_unchecked(base.cast::<Control>()) },
            data: Data {
                // SAFETY: `region.check` proved `DATA_OFFSET + capacity`
                // bytes, so this in-bounds offset of a non-null base is
                // non-null.
                base: unsafe { NonNull::new_unchecked(base.add(DATA_OFFSET)) },
            },
            capacity,
            wakes,
            _region: PhantomData,
        }
    }

    /// The init protocol of [`crate::region`]; the data area must be zero
    /// (fresh memory) or is zeroed here for an exclusive region.
    fn write_fresh(&self, exclusive: bool, options: Options) -> Result<()> {
        let c = self.control();
        c.header.begin_init(exclusive)?;
        let flags = if options.wakes { FLAG_WAKES } else { 0 };
        c.header.write_fields(
            ObjectKind::FrameMpsc,
            1,
            RECORD_ALIGN,
            options.capacity,
            DATA_OFFSET as u32,
            flags,
        );
        let p = options.position;
        c.producer.tail.store(p, Ordering::Relaxed);
        c.producer.consumer_waiting.store(0, Ordering::Relaxed);
        c.producer.doorbell.store(0, Ordering::Relaxed);
        c.consumer.head.store(p, Ordering::Relaxed);
        c.consumer.claim.store(0, Ordering::Relaxed);
        c.consumer.producers_waiting.store(0, Ordering::Relaxed);
        c.consumer.erasing.position.store(0, Ordering::Relaxed);
        c.consumer.erasing.span.store(0, Ordering::Relaxed);
        c.stats.skipped_records.store(0, Ordering::Relaxed);
        c.stats.skipped_bytes_lo.store(0, Ordering::Relaxed);
        c.stats.skipped_bytes_hi.store(0, Ordering::Relaxed);
        // Every header of the first lap must read "not written". A region
        // that only we can see may hold old bytes: clear it. A shared region
        // is fresh memory (the `Region::from_raw` contract: zeroed).
        if exclusive {
            // SAFETY: nobody else can see the region; the whole data area is
            // in bounds.
            unsafe { self.data.zero(0, self.capacity) };
        }
        c.header.publish();
        Ok(())
    }

    /// A ring on the heap for the loom models: the same control block and
    /// algorithm, the data area as loom-tracked units.
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled(capacity: u32, position: u32) -> Result<Ring<'static>> {
        Self::new_modelled_with(Options::new(capacity).start_at(position))
    }

    /// [`new_modelled`](Self::new_modelled) with all [`Options`].
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Ring<'static>> {
        use std::boxed::Box;
        use std::sync::Arc;
        use std::vec::Vec;

        if !capacity_ok(options.capacity) || options.position % RECORD_ALIGN != 0 {
            return Err(Error::InvalidCapacity);
        }
        let control = Box::new(Control {
            header: Header::new(),
            producer: ProducerLine {
                tail: AtomicU32::new(0),
                consumer_waiting: AtomicU32::new(0),
                doorbell: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
            consumer: ConsumerLine {
                head: AtomicU32::new(0),
                claim: AtomicU32::new(0),
                producers_waiting: AtomicU32::new(0),
                erasing: Journal::new(),
                _reserved: Reserved::new(),
            },
            stats: StatsLine {
                skipped_records: AtomicU32::new(0),
                skipped_bytes_lo: AtomicU32::new(0),
                skipped_bytes_hi: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
        });
        let mut units: Box<[Unit]> = (0..options.capacity / 8)
            .map(|_| Unit {
                w0: AtomicU32::new(0),
                w1: AtomicU32::new(0),
                bytes: crate::sync::SlotCell::new(0),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let ring = Ring {
            control: NonNull::from(&*control),
            data: Data {
                base: NonNull::new(units.as_mut_ptr()).expect("boxed slice is non-null"),
            },
            capacity: options.capacity,
            wakes: options.wakes,
            // Only kept alive here; every access goes through the handle's
            // pointers (the ring is `Send + Sync` by its own contract).
            #[allow(clippy::arc_with_non_send_sync)]
            backing: Arc::new((control, units)),
            _region: PhantomData,
        };
        // Fresh units are zero already: no need to zero them (`exclusive`
        // false skips that, and loom then has fewer operations to explore).
        ring.write_fresh(false, options)?;
        Ok(ring)
    }

    pub(super) fn control(&self) -> &Control {
        // SAFETY: `control` points to the start of a region valid for `'a`
        // (or to the loom backing this handle keeps alive), long and aligned
        // enough for `Control` (checked in `init`/`attach`). Every field is
        // an atomic or an `UnsafeCell`.
        unsafe { self.control.as_ref() }
    }

    /// The size of the data area in bytes.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The largest frame this ring carries:
    /// [`max_frame_len`](crate::frame::max_frame_len)`(capacity)`.
    pub fn max_frame_len(&self) -> u32 {
        self.capacity / 2 - crate::frame::RECORD_HEADER_LEN
    }

    /// `true` if the ring was created for sleeping waiters
    /// ([`Options::waking`]).
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    /// A producer with the spinning notifier [`Spin`] and claimant id 0;
    /// see [`producer_with`](Self::producer_with). Any number may exist.
    pub fn producer(&self) -> Result<Producer<'a>> {
        self.producer_with(Spin::new())
    }

    /// A producer whose blocking calls sleep through `notify`, and whose
    /// commits wake a sleeping consumer through it. `N::WAKES` must match the
    /// ring ([`Error::NotifyMismatch`]). Its claimant id is 0 until set with
    /// [`Producer::with_id`].
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        Ok(Producer {
            ring: self.clone(),
            notify,
            id: 0,
            intent: None,
        })
    }

    /// Claims the consumer role with the spinning notifier [`Spin`]; see
    /// [`consumer_with`](Self::consumer_with).
    pub fn consumer(&self) -> Result<Consumer<'a>> {
        self.consumer_with(Spin::new())
    }

    /// Claims the consumer role (one at a time: [`Error::RoleTaken`]) with
    /// the notifier `notify`. Validates `head` and `tail` first
    /// ([`Error::Corrupted`], and the role is given back), then finishes the
    /// erase of a record that a previous holder was killed in (module docs,
    /// "A consumer that dies mid-erase"; [`Error::Corrupted`] if the erase
    /// journal names more than the published range).
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        let c = self.control();
        claim(&c.consumer.claim, Role::Consumer)?;
        // Our own index as the previous holder published it (the claim's
        // Acquire orders this load after that holder's release).
        let head = c.consumer.head.load(Ordering::Relaxed);
        let tail = c.producer.tail.load(Ordering::Acquire);
        if (head | tail) % RECORD_ALIGN != 0 || tail.wrapping_sub(head) > self.capacity {
            release_claim(&c.consumer.claim);
            return Err(Error::Corrupted(
                "head is not a record position within a capacity of tail",
            ));
        }
        let mut consumer = Consumer {
            ring: self.clone(),
            notify,
            head,
            cached_tail: tail,
            stall_timeout: None,
        };
        // An erase the previous holder was killed in (module docs). On an
        // error, dropping `consumer` gives the role back.
        consumer.finish_erase()?;
        Ok(consumer)
    }

    /// Frees the consumer role in the shared header **without** a
    /// [`Consumer`] being dropped: the recovery step for a holder that died
    /// holding it. The next consumer resumes at the published `head`: a
    /// frame the dead holder read but never released is delivered again.
    ///
    /// A holder killed while it was erasing a record (between reading it and
    /// publishing the new `head`) left the record named in the erase
    /// journal: the next consumer finishes the erase and goes on (module
    /// docs, "A consumer that dies mid-erase"), so the record is not
    /// delivered again. Producers are not affected: they never wait for a
    /// consumer claim.
    ///
    /// # Safety
    /// No [`Consumer`] of this ring may be used again after this call, in
    /// any thread or process (two consumers zeroing and publishing the same
    /// bytes would hand space to producers twice). Releasing the claim of a
    /// process known to have died fulfils this.
    pub unsafe fn release_consumer_claim(&self) {
        release_claim(&self.control().consumer.claim);
    }

    /// Wakes a sleeping consumer after a commit or discard: the waker's half
    /// of the event count, on the doorbell (module docs).
    #[inline(always)]
    pub(super) fn ring_doorbell<N: Notify>(&self, notify: &N) {
        if !N::WAKES {
            return;
        }
        let c = self.control();
        fence(Ordering::SeqCst);
        if c.producer.consumer_waiting.load(Ordering::Relaxed) != 0 {
            doorbell_slow(notify, &c.producer.doorbell);
        }
    }
}

#[cold]
fn doorbell_slow<N: Notify>(notify: &N, doorbell: &AtomicU32) {
    // Release: a consumer whose doorbell read sees this bump (then an
    // Acquire fence) sees our commit in its re-check.
    doorbell.fetch_add(1, Ordering::Release);
    notify.wake_one(doorbell);
}
