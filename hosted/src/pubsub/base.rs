//! What typed and byte topics share: the ring and liveness block on a
//! mapping ([`Base`]), made from a builder's [`Settings`]; the publisher's
//! claim; a subscriber's record, table entry and receive loop
//! ([`Reading`]); the release of table entries no live subscriber owns
//! ([`Base::release_orphans`], the protocol in [`super::reliable`]). Each
//! is written once, generic over the core ring ([`TopicRing`]: the Pod
//! ring of `T`, or the frame ring).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipckit_core::broadcast::frames::{FrameMember, FrameRing, FrameSlots, FrameSubscriber};
use ipckit_core::broadcast::{self, FREE, Options, Ring};
use ipckit_core::intent::Intent;
use ipckit_core::{Pod, Region, place};

use super::reliable::JOINING;
use super::{Policy, Start};
use crate::channel::liveness::{Block, Membership};
use crate::channel::{
    Look, MAX_ENDPOINTS, Memory, Mode, Object, Placement, blocking, blocking_recovering,
    created_name, empty_or_closed, named_with, object_len, placed_and_block, undo_on_error,
};
use crate::error::{CoreError, Error, Result, Role};
use crate::futex::Futex;

/// How often a `try_` publication that finds the ring full judges the
/// members holding it back (`/proc` reads): a caller spinning on `Full`
/// costs a few loads per call between judgements.
const JUDGE_EVERY: Duration = Duration::from_millis(1);

/// A core broadcast ring a topic lives on: what the shared set-up, claim,
/// join and release need of it.
pub(crate) trait TopicRing: Placement + Clone + 'static {
    /// The core's claim-free subscriber (lossy topic).
    type Lossy;
    /// The core's table member (reliable topic).
    type Member;
    /// The policy the header records.
    fn policy(&self) -> Policy;
    /// A lossy subscriber at `start`.
    fn subscriber_with(&self, n: Futex, start: Start) -> ipckit_core::Result<Self::Lossy>;
    /// A member of the table at `start`.
    fn join_with(&self, n: Futex, start: Start) -> ipckit_core::Result<Self::Member>;
    /// The table entry `member` holds.
    fn index(member: &Self::Member) -> u32;
    /// Table entry `e`'s state and ticket (`None` while it changes).
    fn table_ticket(&self, e: u32) -> ipckit_core::Result<Option<(u32, u32)>>;
    /// Frees table entry `e` if its ticket is still `observed`: `true` if
    /// it did.
    fn release_entry(&self, e: u32, observed: u32, n: &Futex) -> ipckit_core::Result<bool>;
    /// Frees the publisher claim.
    ///
    /// # Safety
    /// As the core's `release_producer_claim`: its holder is dead.
    unsafe fn release_publisher(&self);
}

/// Implements [`TopicRing`] for a core ring type by naming its calls.
macro_rules! topic_ring {
    ([$($g:tt)*] $ring:ty, $lossy:ty, $member:ty) => {
        impl<$($g)*> TopicRing for $ring {
            type Lossy = $lossy;
            type Member = $member;
            fn policy(&self) -> Policy {
                <$ring>::policy(self)
            }
            fn subscriber_with(&self, n: Futex, start: Start) -> ipckit_core::Result<$lossy> {
                <$ring>::subscriber_with(self, n, start)
            }
            fn join_with(&self, n: Futex, start: Start) -> ipckit_core::Result<$member> {
                <$ring>::join_with(self, n, start)
            }
            fn index(member: &$member) -> u32 {
                member.index()
            }
            fn table_ticket(&self, e: u32) -> ipckit_core::Result<Option<(u32, u32)>> {
                <$ring>::table_ticket(self, e)
            }
            fn release_entry(&self, e: u32, observed: u32, n: &Futex) -> ipckit_core::Result<bool> {
                <$ring>::release_entry(self, e, observed, n)
            }
            unsafe fn release_publisher(&self) {
                // SAFETY: the caller's contract is the core's.
                unsafe { self.placed().release_producer_claim() }
            }
        }
    };
}

topic_ring!([T: Pod] Ring<'static, T>, broadcast::Subscriber<'static, T, Futex>,
    broadcast::Member<'static, T, Futex>);
topic_ring!([] FrameRing<'static>, FrameSubscriber<'static, Futex>, FrameMember<'static, Futex>);

impl Placement for FrameRing<'static> {
    type Layout = FrameSlots;
    fn init_with(region: Region<'static>, options: Options) -> ipckit_core::Result<Self> {
        FrameRing::init_with(region, options)
    }
    fn attach(region: Region<'static>) -> ipckit_core::Result<Self> {
        FrameRing::attach(region)
    }
    fn placed(&self) -> &place::Placed<'static, FrameSlots> {
        self
    }
}

/// A topic's ring and liveness block on its mapping (each end keeps the
/// mapping alive on its own). Cloning it is cheap.
pub(crate) struct Base<R> {
    // No drop order to keep: the ring and block are views of `mem`.
    pub(super) ring: R,
    pub(super) block: Block,
    pub(super) mem: Arc<Memory>,
}

impl<R: Clone> Clone for Base<R> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            block: self.block,
            mem: Arc::clone(&self.mem),
        }
    }
}

impl<R: TopicRing> Base<R> {
    /// The topic on `mem`: initialised (`Mode::Init`; the type id
    /// `type_id` stated in the block before the header is published) or
    /// attached and validated (then the type id compared). A created
    /// object is removed again if the set-up fails.
    pub(super) fn set_up_with(
        mem: Memory,
        mode: Mode,
        options: Options,
        type_id: u64,
    ) -> Result<Self> {
        let cleanup = created_name(&mem, mode);
        // A take-over is the publisher's business: the topic is attached.
        let mode = match mode {
            Mode::Init => Mode::Init,
            _ => Mode::Attach,
        };
        let placed = placed_and_block::<R>(&mem, mode, options, type_id)
            .and_then(|(ring, block)| {
                // Entries are recorded in the consumer slots' intents: a
                // longer table (another creator's) has entries no record
                // can name.
                match ring.placed().table_len() <= MAX_ENDPOINTS {
                    true => Ok((ring, block)),
                    false => Err(CoreError::InvalidCapacity.into()),
                }
            })
            .map_err(|e| e.in_channel(|| mem.describe()));
        let (ring, block) = undo_on_error(placed, cleanup)?;
        Ok(Self {
            ring,
            block,
            mem: Arc::new(mem),
        })
    }

    /// `Ok` unless the topic records another policy than `policy` or
    /// another table size than `table` (each `None`: not stated): the
    /// error names the topic.
    fn expect(&self, policy: Option<Policy>, table: Option<u32>) -> Result<()> {
        let error = if policy.is_some_and(|p| p != self.ring.policy()) {
            CoreError::PolicyMismatch
        } else if table.is_some_and(|n| n != self.table_len()) {
            CoreError::InvalidCapacity
        } else {
            return Ok(());
        };
        Err(self.named(error.into()))
    }

    /// The subscriber table's entries the topic records (0: none).
    pub(super) fn table_len(&self) -> u32 {
        self.ring.placed().table_len()
    }

    /// The topic, for error messages.
    pub(super) fn describe(&self) -> String {
        self.mem.describe()
    }

    /// A core error (as the hosted one) naming the topic.
    pub(super) fn named(&self, e: Error) -> Error {
        e.in_channel(|| self.describe())
    }

    /// Claims the publisher role (either policy's publisher, made by
    /// `make`): the liveness slot first, then the core's claim, taken over
    /// from a dead holder with `take_over`. Errors name the topic.
    pub(super) fn claim_publisher<E>(
        &self,
        take_over: bool,
        make: impl Fn(&R, Futex) -> ipckit_core::Result<E>,
    ) -> Result<(E, Membership)> {
        let claimed = crate::channel::claim_single(
            self.block,
            Role::Producer,
            take_over,
            &self.ring,
            make,
            |r| {
                // SAFETY: `claim_single` calls this only after it found the
                // role's recorded holder dead (pid and start time; one
                // killed while claiming by its pid, which no process has
                // any more) and won its liveness slot: the dead process
                // never publishes again, and this process held no publisher
                // (the slot would name our own, live, pid). Every
                // publisher, of either policy, takes the slot before the
                // core's claim, so nobody else holds that claim.
                unsafe { r.release_publisher() }
            },
        );
        claimed.map_err(|e| self.named(e))
    }

    /// The table entries that are not free and whose ticket is the one in
    /// `tickets` (all of them when `first`, recording their tickets), as a
    /// bit set: an entry is held by the *same* generation across a
    /// judgement's scans (the table has at most 64 entries: the builder's
    /// rule; a longer one's tail is ignored). An entry whose ticket changed
    /// across the load of its state is not counted (it is changing hands).
    fn held(&self, tickets: &mut [u32; 64], first: bool) -> ipckit_core::Result<u64> {
        let mut mask = 0;
        for e in 0..self.table_len().min(64) {
            let Some((state, ticket)) = self.ring.table_ticket(e)? else {
                continue;
            };
            let slot = &mut tickets[e as usize];
            if state != FREE && (first || *slot == ticket) {
                *slot = ticket;
                mask |= 1 << e;
            }
        }
        Ok(mask)
    }

    /// Releases the entries of the table that are not free and that no
    /// live subscriber recorded in the block owns (the [`super::reliable`]
    /// docs), waking a waiting publisher through `notify`: `true` if it
    /// released any. Judged twice (entries, owners, entries, owners): an
    /// entry freed by a leaving owner and claimed by a newcomer during the
    /// first judgement is seen owned in the second, or with a new ticket.
    /// Each release names the ticket the judgement saw: if the entry
    /// changed hands since (another judge released it and a newcomer
    /// joined), it releases nothing (`ipckit_core::broadcast`'s ticket).
    pub(super) fn release_orphans(&self, notify: &Futex) -> ipckit_core::Result<bool> {
        let mut tickets = [0u32; 64];
        let mut orphans = self.held(&mut tickets, true)?;
        for _ in 0..2 {
            if orphans == 0 {
                return Ok(false);
            }
            let Some(owned) = owned(&self.block) else {
                return Ok(false);
            };
            orphans &= !owned & self.held(&mut tickets, false)?;
        }
        let Some(owned) = owned(&self.block) else {
            return Ok(false);
        };
        orphans &= !owned;
        let mut released = false;
        for e in 0..64 {
            if orphans & (1 << e) != 0 {
                // No live subscriber's record names entry `e`, and none is
                // joining: the generation judged (its ticket) belongs to a
                // process that died or left the table. A ticket that moved
                // on since releases nothing.
                released |= self.ring.release_entry(e, tickets[e as usize], notify)?;
            }
        }
        Ok(released)
    }

    /// [`release_orphans`](Self::release_orphans) for the publisher
    /// recorded by `member`, the error naming the topic.
    pub(super) fn release_dead(&self, member: &Membership) -> Result<bool> {
        self.release_orphans(&member.notifier())
            .map_err(|e| self.named(e.into()))
    }
}

/// The entries live subscribers own (their slots' intents), or `None`
/// while a live subscriber is joining (it may own any entry).
fn owned(block: &Block) -> Option<u64> {
    let me = std::process::id();
    let mut mask = 0u64;
    for i in 0..block.slots() {
        let (entry, span) = block.intent(Role::Consumer, i).read();
        if span == 0 {
            continue; // no entry: no `/proc` read
        }
        if !block.snapshot(Role::Consumer, i).alive(me) {
            continue; // closed or dead: it owns nothing any more
        }
        match entry {
            JOINING => return None,
            e if e < 64 => mask |= 1 << e,
            _ => {} // a forged intent: names no entry
        }
    }
    Some(mask)
}

/// The settings a topic builder has besides the ring's size: the name,
/// the object's mode and trust, the table and the policy.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(super) name: String,
    /// The subscriber table's entries, if stated.
    pub(super) subscribers: Option<usize>,
    /// The policy, if stated.
    pub(super) policy: Option<Policy>,
}

impl Settings {
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            subscribers: None,
            policy: None,
        }
    }

    /// `InvalidCapacity` naming the topic.
    pub(super) fn invalid(&self) -> Error {
        Error::Channel {
            name: self.name.clone(),
            error: CoreError::InvalidCapacity,
            dead_holder: None,
        }
    }

    /// The core's creation options for a ring of `capacity` (`InvalidCapacity`
    /// naming the topic for a table past the liveness records).
    pub(super) fn options(&self, capacity: u32) -> Result<Options> {
        let policy = self.policy.unwrap_or_default();
        let entries = match (self.subscribers, policy) {
            (Some(n), _) => u32::try_from(n)
                .ok()
                .filter(|&n| (1..=MAX_ENDPOINTS).contains(&n))
                .ok_or_else(|| self.invalid())?,
            (None, Policy::Reliable) => MAX_ENDPOINTS,
            (None, Policy::Lossy) => 0,
        };
        Ok(Options::new(capacity)
            .subscribers(entries)
            .policy(policy)
            .waking(true))
    }

    /// The topic, created (with `options`) and/or opened; the opener
    /// takes what the topic records, unless it stated another.
    pub(super) fn named<R: TopicRing>(
        &self,
        create: bool,
        open: bool,
        options: Options,
        object: Object,
        type_id: u64,
    ) -> Result<Base<R>> {
        let len = match create {
            true => place::region_len_with::<R::Layout>(&options)
                .ok()
                .and_then(object_len)
                .ok_or_else(|| self.invalid())?,
            false => 0,
        };
        let (mem, mode) = named_with(&self.name, len, create, open, object)?;
        let base = Base::<R>::set_up_with(mem, mode, options, type_id)?;
        let table = self.subscribers.map(|_| options.table());
        base.expect(self.policy, table)?;
        Ok(base)
    }
}

/// The core end of a subscriber: a claim-free subscriber (lossy topic) or
/// a table member (reliable topic).
pub(crate) enum Reader<R: TopicRing> {
    Lossy(R::Lossy),
    Member(R::Member),
}

/// Dispatches `$call` to the reader's core end.
macro_rules! reader {
    ($reader:expr, $end:ident => $call:expr) => {
        match $reader {
            $crate::pubsub::base::Reader::Lossy($end) => $call,
            $crate::pubsub::base::Reader::Member($end) => $call,
        }
    };
}
pub(crate) use reader;

/// The record of a member's table entry: its liveness slot's intent
/// (`docs/LAYOUT.md` section 18), cleared when dropped, after the member
/// left the table.
struct Record(Option<&'static Intent>);

impl Drop for Record {
    fn drop(&mut self) {
        if let Some(intent) = self.0 {
            intent.clear();
        }
    }
}

/// A subscriber's state: the core end, the record of its table entry and
/// its liveness slot. Drop order: the core end (a member frees its table
/// entry), then the record of that entry, then the liveness slot closes;
/// the subscriber keeps the mapping in a field after this one.
pub(crate) struct Reading<R: TopicRing> {
    pub(super) end: Reader<R>,
    _record: Record,
    pub(super) member: Membership,
}

impl<R: TopicRing> Reading<R> {
    /// A subscriber of `base` at `start`, recorded in a free, closed or
    /// dead subscriber slot; on a reliable topic also a member of the
    /// table, its entry recorded in the slot's intent.
    pub(super) fn new(base: &Base<R>, start: Start) -> Result<Self> {
        let member =
            Membership::claim_any(base.block, Role::Consumer).map_err(|e| base.named(e))?;
        let (end, record) = match base.ring.policy() {
            Policy::Lossy => {
                let end = base
                    .ring
                    .subscriber_with(member.notifier(), start)
                    .map_err(|e| base.named(e.into()))?;
                (Reader::Lossy(end), Record(None))
            }
            Policy::Reliable => {
                let end = join(base, &member, start).map_err(|e| base.named(e))?;
                (Reader::Member(end), Record(Some(member.intent())))
            }
        };
        Ok(Self {
            end,
            _record: record,
            member,
        })
    }

    /// `op` once, without waiting: `Empty` becomes `PeerGone` once the
    /// publisher closed and a second `op` finds nothing either.
    #[inline]
    pub(super) fn try_with<X>(
        &mut self,
        mut op: impl FnMut(&mut Reader<R>) -> ipckit_core::Result<X>,
    ) -> Result<X> {
        match op(&mut self.end) {
            Err(CoreError::Empty) => empty_or_closed(&self.member, || op(&mut self.end)),
            other => Ok(other?),
        }
    }

    /// `op` (the core's blocking receive, waiting at most its argument:
    /// `None` no limit) through the channels' blocking loop: `PeerGone`
    /// once the publisher closed or died and nothing is left.
    pub(super) fn wait_with<X>(
        &mut self,
        timeout: Option<Duration>,
        mut op: impl FnMut(&mut Reader<R>, Option<Duration>) -> ipckit_core::Result<X>,
    ) -> Result<X> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(timeout, |t| op(end, t), || member.peer_gone())
    }
}

/// Joins the table of `base` for the subscriber recorded by `member`:
/// announces `JOINING` in its intent, joins, then records the entry. A
/// full table is judged once (entries no live subscriber owns are
/// released) before the join is tried again; still full:
/// `RoleTaken(Consumer)`.
fn join<R: TopicRing>(base: &Base<R>, member: &Membership, start: Start) -> Result<R::Member> {
    let intent = member.intent();
    let attempt = || {
        // Before the claim (its compare-and-swap releases this store): a
        // survivor that sees the claimed entry sees the announcement.
        intent.announce(JOINING, 1);
        let joined = base.ring.join_with(member.notifier(), start);
        match &joined {
            Ok(m) => intent.announce(R::index(m), 1),
            Err(_) => intent.clear(),
        }
        joined
    };
    match attempt() {
        Err(CoreError::Full) => {}
        other => return Ok(other?),
    }
    base.release_orphans(&member.notifier())?;
    match attempt() {
        Err(CoreError::Full) => Err(CoreError::RoleTaken(Role::Consumer).into()),
        other => Ok(other?),
    }
}

/// When a reliable publisher's `try_` calls last judged the table.
#[derive(Debug, Default)]
pub(crate) struct Judge(Option<Instant>);

impl Judge {
    /// After a `try_` call found the ring full: releases the entries of
    /// dead subscribers if the table was not judged in the last
    /// [`JUDGE_EVERY`]; `true` if it released any (try again).
    pub(super) fn release_if_due<R: TopicRing>(
        &mut self,
        base: &Base<R>,
        member: &Membership,
    ) -> Result<bool> {
        let now = Instant::now();
        if self.0.is_some_and(|t| now.duration_since(t) < JUDGE_EVERY) {
            return Ok(false);
        }
        self.0 = Some(now);
        base.release_dead(member)
    }

    /// A reliable publisher's `try_` call: `op`, and if it finds the ring
    /// full, once more after [`release_if_due`](Self::release_if_due)
    /// released entries; errors name the topic.
    pub(super) fn try_twice<R: TopicRing, X>(
        &mut self,
        base: &Base<R>,
        member: &Membership,
        mut op: impl FnMut() -> ipckit_core::Result<X>,
    ) -> Result<X> {
        match op() {
            Err(CoreError::Full) => {}
            other => return other.map_err(|e| base.named(e.into())),
        }
        if !self.release_if_due(base, member)? {
            return Err(Error::Full);
        }
        op().map_err(|e| base.named(e.into()))
    }
}

/// A reliable publisher's blocking call: `op` (the core's, waiting at
/// most its argument) through the channels' blocking loop, releasing the
/// entries of dead subscribers (`release`) whenever a wait ends without
/// room.
pub(super) fn publish_waiting<S, X>(
    s: &mut S,
    timeout: Option<Duration>,
    op: impl FnMut(&mut S, Option<Duration>) -> ipckit_core::Result<X>,
    release: impl Fn(&S) -> Result<bool>,
) -> Result<X> {
    blocking_recovering(
        s,
        timeout,
        op,
        // Subscribers leaving is no reason to stop: the publisher then
        // publishes freely.
        |_| None,
        |s, _| match release(s)? {
            true => Ok(Look::Recovered),
            false => Ok(Look::Nothing),
        },
    )
}
