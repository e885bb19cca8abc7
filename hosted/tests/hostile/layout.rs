//! Where the adversary writes: the control words of each kind, from the
//! documented layouts (the region header in `ipckit::region`, the control
//! lines in the module docs of `spsc`, `mpmc`, `frame::spsc`,
//! `frame::mpsc` and `semaphore`, the broadcast ring and its subscriber
//! table in `broadcast` (docs/LAYOUT.md sections 17, 17.1 and 18), the
//! liveness block in `ipckit::channel::liveness`), and header sizes that
//! overflow.

use ipckit::channel::LIVENESS_LEN;

use crate::Kind;

/// What a control word holds, for choosing values.
#[derive(Clone, Copy)]
pub enum Word {
    /// A position (`tail`, `head`): `peer` is the other position's offset,
    /// `unit` the step of one item (1) or of record alignment (8).
    Index { peer: usize, unit: u32 },
    /// A claim or waiting flag.
    Flag,
    /// An event count, doorbell or statistics counter.
    Counter,
    /// The semaphore's count.
    Count,
    /// A topic's subscriber-table length (ring offset 144; at most 1024).
    TableLen,
}

/// The control words of each kind (module docs of the rings).
pub fn control_words(kind: Kind) -> &'static [(usize, Word)] {
    const TYPED: u32 = 1;
    const FRAMES: u32 = 8;
    match kind {
        Kind::Spsc => &[
            (
                128,
                Word::Index {
                    peer: 256,
                    unit: TYPED,
                },
            ),
            (132, Word::Flag),
            (136, Word::Flag),
            (
                256,
                Word::Index {
                    peer: 128,
                    unit: TYPED,
                },
            ),
            (260, Word::Flag),
            (264, Word::Flag),
        ],
        Kind::Bytes => &[
            (
                128,
                Word::Index {
                    peer: 256,
                    unit: FRAMES,
                },
            ),
            (132, Word::Flag),
            (136, Word::Flag),
            (
                256,
                Word::Index {
                    peer: 128,
                    unit: FRAMES,
                },
            ),
            (260, Word::Flag),
            (264, Word::Flag),
        ],
        Kind::Mpmc => &[
            (
                128,
                Word::Index {
                    peer: 256,
                    unit: TYPED,
                },
            ),
            (132, Word::Counter),
            (
                256,
                Word::Index {
                    peer: 128,
                    unit: TYPED,
                },
            ),
            (260, Word::Counter),
        ],
        Kind::MpscBytes => &[
            (
                128,
                Word::Index {
                    peer: 256,
                    unit: FRAMES,
                },
            ),
            (132, Word::Flag),
            (136, Word::Counter),
            (
                256,
                Word::Index {
                    peer: 128,
                    unit: FRAMES,
                },
            ),
            (260, Word::Flag),
            (264, Word::Counter),
            (384, Word::Counter),
            (388, Word::Counter),
            (392, Word::Counter),
        ],
        Kind::Semaphore => &[(128, Word::Count), (132, Word::Counter)],
        // The broadcast ring (LAYOUT.md section 17): `tail`, the publisher
        // claim, subscribers waiting, `first`, `table_len`, publisher
        // waiting, `progress`.
        Kind::Pubsub | Kind::PubsubReliable => &[
            (
                128,
                Word::Index {
                    peer: 140,
                    unit: TYPED,
                },
            ),
            (132, Word::Flag),
            (136, Word::Counter),
            (
                140,
                Word::Index {
                    peer: 128,
                    unit: TYPED,
                },
            ),
            (144, Word::TableLen),
            (148, Word::Flag),
            (152, Word::Counter),
        ],
    }
}

/// Sizes for the header's `elem_size`, `elem_align`, `capacity`,
/// `data_offset` whose sums and products overflow or exceed the object
/// (issue 13 item 1): `None` stands for the honest value.
pub const SIZE_PRESETS: [[Option<u32>; 4]; 10] = [
    // data_offset + capacity x stride = 2^64 - 1 for MPMC.
    [Some(8), Some(0x8000_0000), Some(u32::MAX), Some(u32::MAX)],
    // 2^30 slots on a small object.
    [None, None, Some(1 << 30), None],
    [
        Some(u32::MAX),
        Some(u32::MAX),
        Some(u32::MAX),
        Some(u32::MAX),
    ],
    [None, None, Some(0x8000_0000), None],
    [Some(0), Some(0), Some(0), Some(0)],
    [None, None, None, Some(0)],
    [None, None, None, Some(385)],
    [None, Some(4096), None, None],
    [Some(0x7fff_ffff), None, Some(2), None],
    [None, Some(3), Some(3), None],
];

/// What the forger knows about the object it writes.
#[derive(Clone, Copy)]
pub struct Layout {
    /// The kind.
    pub kind: Kind,
    /// The mapped length.
    pub len: usize,
    /// The honest header words, once the creator published them.
    pub header: Option<[u32; 10]>,
    /// A topic's `table_len` (ring offset 144) as read when the header
    /// was learnt (honest, unless already forged).
    pub table_len: u32,
}

impl Layout {
    /// The capacity: slots, data bytes, or the semaphore's maximum.
    pub fn cap(&self) -> Option<u32> {
        let semaphore = self.kind == Kind::Semaphore;
        self.header
            .map(|h| h[7])
            .filter(|&c| c.is_power_of_two() || (semaphore && c > 0))
    }

    pub fn data(&self) -> Option<usize> {
        self.header.map(|h| h[8] as usize)
    }

    /// A topic's slot stride: a stamp, the item at `A = max(4, align)`,
    /// rounded up to `A` (the MPMC stride, LAYOUT.md section 9).
    pub fn stride(&self) -> usize {
        let h = self.header.unwrap_or_default();
        let a = h[6].max(4) as usize;
        (a + h[5] as usize).div_ceil(a) * a
    }

    /// A topic's subscriber table: its offset `T` (after the slots,
    /// rounded up to 128) and the entries that fit in the mapping, of the
    /// `table_len` read now (LAYOUT.md section 17.1).
    pub fn table(&self, table_len: u32) -> Option<(usize, usize)> {
        let (data, cap) = (self.data()?, self.cap()? as usize);
        let at = (data + cap * self.stride()).next_multiple_of(128);
        let end = self.live().unwrap_or(self.len);
        let room = end.saturating_sub(at) / 128;
        let n = (table_len as usize).min(room).min(64);
        (self.kind.is_topic() && n > 0).then_some((at, n))
    }

    /// The liveness block: the last 4096 bytes of a channel object.
    pub fn live(&self) -> Option<usize> {
        (self.kind != Kind::Semaphore && self.len >= 2 * LIVENESS_LEN)
            .then(|| self.len - LIVENESS_LEN)
    }
}

/// Field 22 of `/proc/<pid>/stat` (the start time), if readable.
pub fn start_time(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}
