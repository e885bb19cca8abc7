//! The control block every placed ring starts with: the [`Header`], then a
//! ring's control lines, each one [`LINE`] of `u32` words.
//!
//! One generic shape serves every ring: a ring names its words
//! ([`Word::at`]`(line, index)`) instead of declaring a struct per line, so
//! the loom placement and the compile-time static placement build any
//! ring's control block without knowing its fields. Words a ring does not
//! name are zero, written by nobody (the "reserved" rows of the layout
//! tables); they are atomics like the rest, so a peer that writes them
//! anyway breaks nothing here.

use crate::region::{Header, LINE};
use crate::sync::{AtomicU32, Ordering};

/// `u32` words per line a ring can name. In production the whole line
/// (the layout's spacing); under loom only the first few, because every
/// modelled atomic costs the model checker and no ring names more.
#[cfg(not(ipckit_loom))]
const WORDS: usize = LINE / 4;
#[cfg(ipckit_loom)]
const WORDS: usize = 8;

/// One control line: written by one side (module docs of each ring).
#[repr(C)]
pub struct Line {
    words: [AtomicU32; WORDS],
}

impl Line {
    /// Word `index` of the line (an entry of a table of lines).
    #[inline(always)]
    #[cfg_attr(not(ipckit_cas), allow(dead_code))] // the broadcast table's
    pub(crate) fn word(&self, index: usize) -> &AtomicU32 {
        &self.words[index]
    }

    /// Stores 0 in every word.
    pub(crate) fn clear(&self) {
        for word in &self.words {
            word.store(0, Ordering::Relaxed);
        }
    }

    /// An all-zero line, for the loom models.
    #[cfg(ipckit_loom)]
    pub(crate) fn modelled() -> Self {
        Line {
            words: core::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

/// `K` control lines after the header: `LINE * (1 + K)` bytes, 4-aligned.
#[repr(C)]
pub struct Control<const K: usize> {
    header: Header,
    lines: [Line; K],
}

#[cfg(not(ipckit_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Line>() == LINE);
    assert!(offset_of!(Control<2>, header) == 0);
    assert!(offset_of!(Control<2>, lines) == LINE);
    assert!(size_of::<Control<1>>() == 2 * LINE);
    assert!(size_of::<Control<2>>() == 3 * LINE);
    assert!(size_of::<Control<3>>() == 4 * LINE);
    assert!(align_of::<Control<3>>() == 4);
};

/// A named word of a control block: word `index` of line `line`, at byte
/// offset `LINE * (1 + line) + 4 * index` from the region base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word {
    line: usize,
    index: usize,
}

impl Word {
    /// Word `index` of control line `line` (line 0 follows the header).
    pub(crate) const fn at(line: usize, index: usize) -> Self {
        assert!(index < LINE / 4, "a line holds 32 words");
        Self { line, index }
    }

    /// The byte offset from the region base.
    pub(crate) const fn offset(self) -> usize {
        LINE * (1 + self.line) + 4 * self.index
    }

    /// This word, checked at compile time to lie at byte `offset` (the
    /// layout table's): what [`words!`] declares each word with.
    pub(crate) const fn pinned_at(self, offset: usize) -> Self {
        assert!(self.offset() == offset, "a word off the layout table");
        self
    }
}

/// Declares a ring's control words: each one's docs, its line and index,
/// and the byte offset the layout table gives it (checked at compile time).
///
/// ```ignore
/// place::words! {
///     /// Consumers about to sleep on `tail`.
///     pub(crate) CONSUMER_WAITING = (0, 2) at 136;
/// }
/// ```
macro_rules! words {
    ($($(#[$doc:meta])* $vis:vis $name:ident = ($line:expr, $index:expr) at $offset:expr;)*) => {
        $(
            $(#[$doc])*
            $vis const $name: $crate::place::Word =
                $crate::place::Word::at($line, $index).pinned_at($offset);
        )*
    };
}

pub(crate) use words;

// The positions, where every ring keeps them: each ring's `words!` names
// the rest of its control block around these two.
words! {
    /// `tail`, the writing side's position: the next position written (or
    /// claimed for writing), first on the writers' line.
    pub(crate) TAIL = (0, 0) at 128;
    /// `head`, the reading side's position in a ring with one: the next
    /// position read (or claimed for reading), first on the readers' line.
    pub(crate) HEAD = (1, 0) at 256;
}

/// `Layout::POSITIONS` of a ring with a `tail` and a `head`: a fresh one
/// starts with both at the options' start.
pub(crate) const TAIL_AND_HEAD: &[Word] = &[TAIL, HEAD];

/// What the placement layer needs of a control block (sealed: only
/// [`Control`] implements it).
pub trait Block: super::sealed::Sealed + Sized {
    /// Bytes of the block in a region (loom's atomics are larger).
    const LEN: usize;

    /// The header at the base of the block.
    fn header(&self) -> &Header;

    /// The atomic at `word`.
    fn word(&self, word: Word) -> &AtomicU32;

    /// Stores 0 in every control word (reserved ones included): what a
    /// fresh ring starts from before its layout sets its positions.
    fn clear_words(&self);

    /// An all-zero block on the heap, for the loom models.
    #[cfg(ipckit_loom)]
    fn modelled() -> crate::sync::heap::Box<Self>;
}

impl<const K: usize> super::sealed::Sealed for Control<K> {}

impl<const K: usize> Block for Control<K> {
    const LEN: usize = LINE * (1 + K);

    #[inline(always)]
    fn header(&self) -> &Header {
        &self.header
    }

    #[inline(always)]
    fn word(&self, word: Word) -> &AtomicU32 {
        &self.lines[word.line].words[word.index]
    }

    fn clear_words(&self) {
        for word in self.lines.iter().flat_map(|line| &line.words) {
            word.store(0, Ordering::Relaxed);
        }
    }

    #[cfg(ipckit_loom)]
    fn modelled() -> crate::sync::heap::Box<Self> {
        crate::sync::heap::Box::new(Control {
            header: Header::new(),
            lines: core::array::from_fn(|_| Line::modelled()),
        })
    }
}
