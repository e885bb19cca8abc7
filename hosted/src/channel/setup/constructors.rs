//! The constructors every endpoint type shares, as macros: thin forms of
//! its kind's [`Builder`](crate::channel::Builder).

/// The constructors every channel endpoint has (thin forms of its
/// kind's [`Builder`](super::Builder), which holds the logic), and
/// `memory` and `peer_gone`; each method's doc comments come from the
/// invocation, in a section `name { /// docs }`. `open` makes `(memory,
/// endpoint, membership)` from `(memory, mode, capacity, type_id)`: the builder
/// reaches it through `set_up_on`. The optional `take_over` section adds
/// `take_over` and `take_over_on`.
macro_rules! endpoint_constructors {
    (
        open: $open:expr;
        object_len { $(#[$object_len:meta])* }
        create { $(#[$create:meta])* }
        open { $(#[$open_name:meta])* }
        $(take_over { $(#[$take_over:meta])* })?
        init_on { $(#[$init_on:meta])* }
        attach { $(#[$attach:meta])* }
        memory { $(#[$memory:meta])* }
        peer_gone { $(#[$peer_gone:meta])* }
    ) => {
        /// This kind's builder with the default settings.
        fn builder() -> $crate::channel::Builder<<Self as $crate::channel::Endpoint>::Kind> {
            $crate::channel::Builder::new()
        }

        $(#[$object_len])*
        pub fn object_len(capacity: u32) -> Option<usize> {
            Self::builder().capacity(capacity as usize).object_len().ok()
        }

        $(#[$create])*
        ///
        /// The same as `Builder::capacity(capacity).create(name)` (see
        /// [`Builder`](crate::channel::Builder) for the other settings).
        pub fn create(name: &str, capacity: u32) -> $crate::error::Result<Self> {
            Self::builder().capacity(capacity as usize).create(name)
        }

        $(#[$open_name])*
        pub fn open(name: &str) -> $crate::error::Result<Self> {
            Self::builder().open(name)
        }

        /// Opens `name`, or creates it with `capacity` (rounded up as
        /// [`create`](Self::create) does) if it does not exist (`capacity`
        /// only matters when creating).
        pub fn open_or_create(name: &str, capacity: u32) -> $crate::error::Result<Self> {
            Self::builder().capacity(capacity as usize).open_or_create(name)
        }

        $(
            $(#[$take_over])*
            pub fn take_over(name: &str) -> $crate::error::Result<Self> {
                Self::builder().take_over(name)
            }

            /// [`take_over`](Self::take_over) on memory the caller opened.
            pub fn take_over_on(
                mem: impl Into<$crate::channel::Memory>,
            ) -> $crate::error::Result<Self> {
                Self::builder().take_over_on(mem)
            }
        )?

        $(#[$init_on])*
        pub fn init_on(
            mem: impl Into<$crate::channel::Memory>,
            capacity: u32,
        ) -> $crate::error::Result<Self> {
            Self::builder().capacity(capacity as usize).init_on(mem)
        }

        $(#[$attach])*
        pub fn attach(mem: impl Into<$crate::channel::Memory>) -> $crate::error::Result<Self> {
            Self::builder().attach(mem)
        }

        /// The end a child process was handed by
        /// [`ChildEnd::pass_to`](crate::channel::ChildEnd::pass_to): maps
        /// the memfd whose descriptor number the parent put in the
        /// environment variable `var` (checking its seals, as
        /// [`Memfd::from_fd`](crate::shm::Memfd::from_fd) does), attaches
        /// (validating the channel as any attach does) and claims this end
        /// for this process. Example: [`ChildEnd`](crate::channel::ChildEnd).
        ///
        /// # Safety
        /// As [`Memfd::from_env`](crate::shm::Memfd::from_env): the
        /// descriptor named by `var` must be owned by nothing else in this
        /// process. A child spawned with `pass_to` that calls this once per
        /// variable fulfils that.
        pub unsafe fn from_inherited(var: &str) -> $crate::error::Result<Self> {
            // SAFETY: the caller's contract, forwarded.
            unsafe { $crate::channel::pair::inherited(var) }
        }

        /// Sets up this end on `mem` in `mode`, stating the message type
        /// id `type_id` (the builder's way in).
        pub(crate) fn set_up_on(
            mem: $crate::channel::Memory,
            mode: $crate::channel::Mode,
            capacity: u32,
            type_id: u64,
        ) -> $crate::error::Result<Self> {
            let (mem, end, member) = ($open)(mem, mode, capacity, type_id)?;
            // `.into()`: an `Arc<Memory>` for kinds whose endpoints
            // `try_clone`.
            Ok(Self {
                member,
                end,
                mem: mem.into(),
            })
        }

        $(#[$memory])*
        pub fn memory(&self) -> &$crate::channel::Memory {
            &self.mem
        }

        $(#[$peer_gone])*
        pub fn peer_gone(&self) -> Option<$crate::error::Error> {
            self.member.peer_gone()
        }

        /// How many endpoints of the other side have ever joined this
        /// channel (claiming, active or since closed), from the shared
        /// state words alone (no system call): 0 until the first peer
        /// comes.
        pub fn peers_joined(&self) -> u32 {
            self.member.peers_joined()
        }

        /// Waits (at most `timeout`) until `peers` endpoints of the other
        /// side have joined the channel, then removes its name (the object
        /// in `/dev/shm`, or the file; nothing for a memfd): the kernel
        /// frees the memory when the last endpoint leaves, whether it drops,
        /// exits or is killed, and nobody can open the channel by name any
        /// more. [`Error::TimedOut`](crate::Error::TimedOut) leaves the name
        /// in place. See the [channel docs](crate::channel#removing-the-name).
        pub fn remove_name_after(
            &self,
            peers: u32,
            timeout: std::time::Duration,
        ) -> $crate::error::Result<()> {
            $crate::channel::lifetime::remove_name_after(&self.mem, &self.member, peers, timeout)
        }
    };
}
pub(crate) use endpoint_constructors;

/// [`endpoint_constructors`] for an endpoint of an SPSC kind (one holder a
/// role, claimed with [`open_single`], taken over from a dead holder): the
/// sections every such endpoint documents alike are here, the three that
/// name the capacity's unit come from the invocation.
macro_rules! single_constructors {
    (
        role: $role:expr, claim: $claim:expr;
        object_len { $(#[$object_len:meta])* }
        create { $(#[$create:meta])* }
        init_on { $(#[$init_on:meta])* }
    ) => {
        $crate::channel::endpoint_constructors! {
            open: |mem, mode, capacity, type_id| {
                $crate::channel::open_single(mem, mode, capacity, type_id, $role, $claim)
            };
            object_len { $(#[$object_len])* }
            create { $(#[$create])* }
            open {
                /// Opens the existing channel `name` and claims this end
                /// ([`CoreError::RoleTaken`] if another endpoint holds it; see
                /// [`take_over`](Self::take_over) for a dead holder).
            }
            take_over {
                /// Opens the existing channel `name` and claims this end, taking it
                /// over if its recorded holder is a dead process (checked by pid
                /// and start time). The new endpoint resumes at the published
                /// position. [`CoreError::RoleTaken`] if the holder lives.
            }
            init_on { $(#[$init_on])* }
            attach {
                /// Attaches to the channel in `mem` (validating header, sizes and
                /// liveness block) and claims this end.
            }
            memory {
                /// The memory the channel lives in (to pass a memfd on, to flush a
                /// file).
            }
            peer_gone {
                /// `Some(error)` ([`Error::PeerGone`]) if the other end was opened
                /// once and has since closed or died; `None` while it lives or
                /// before it first came. Reads `/proc` for a recorded peer.
            }
        }
    };
}
pub(crate) use single_constructors;
