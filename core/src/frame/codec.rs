//! Length-prefixed frames for byte streams: pipes, sockets, files.
//!
//! A byte stream keeps no message boundaries, so each frame travels as a
//! 4-byte length prefix followed by its payload:
//!
//! | offset | width | field |
//! |-------:|------:|-------|
//! | 0 | u32, little-endian | `len`: payload bytes (the prefix not included) |
//! | 4 | `len` bytes | payload |
//!
//! The byte order is fixed, whatever the host's, because a stream may cross
//! machines over TCP. There is no magic, version or checksum: a stream
//! transport carries exactly this, frame after frame, and a zero-length frame
//! is a valid frame.
//!
//! - [`Encoder`] writes a frame into a caller buffer ([`Encoder::encode`]),
//!   or only its prefix ([`Encoder::encode_prefix`]), so that a hosted
//!   writer can hand prefix and payload to one `writev` without copying.
//! - [`Decoder`] takes chunks of the stream as they arrive, cut anywhere
//!   (one byte at a time, or many frames at once), and yields complete
//!   frames. A frame that lies wholly inside a chunk is returned as a slice of
//!   that chunk (no copy); one that spans chunks is reassembled in a buffer
//!   the caller provides, so the decoder never allocates.
//!
//! # Maximum frame size
//! Both sides have one. The decoder checks every length prefix against its
//! maximum *before* it buffers a byte of the payload, so a peer cannot make
//! it hold more than the maximum, whatever the prefix says
//! ([`Error::FrameTooLarge`]). The encoder checks the same bound, so a
//! sender configured like its receiver fails locally, with the frame still
//! in hand, instead of the receiver tearing the stream down.
//!
//! # Errors are final
//! A length-prefixed stream has no marker to resynchronise on: once one
//! prefix is refused, every later byte is of unknown meaning. After an error
//! the decoder stays failed and returns the same error from every later
//! call; close the stream, and [`Decoder::reset`] the decoder only for a new
//! one. At the end of a stream, [`Decoder::finish`] tells a clean end (at a
//! frame boundary) from a stream cut inside a frame ([`Error::Truncated`]).
//!
//! # Example: frames over a `Read`
//! A hosted reader reads whatever the stream has into a chunk buffer and
//! hands each chunk to the decoder; here a `&[u8]` reader stands in for a
//! pipe or a socket, and reads of 7 bytes cut frames anywhere.
//! ```
//! use std::io::Read;
//! use ipckit_core::frame::codec::{Decoder, Encoder};
//!
//! // The sending side.
//! let encoder = Encoder::new(1024);
//! let mut wire = Vec::new();
//! for message in [&b"hello"[..], b"", b"a somewhat longer frame"] {
//!     wire.extend_from_slice(&encoder.encode_prefix(message.len())?);
//!     wire.extend_from_slice(message);
//! }
//!
//! // The receiving side: a reassembly buffer of the maximum frame size.
//! let mut stream = &wire[..];
//! let mut decoder = Decoder::new([0u8; 1024]);
//! let mut chunk = [0u8; 7];
//! let mut received = Vec::new();
//! loop {
//!     let n = stream.read(&mut chunk)?;
//!     if n == 0 {
//!         decoder.finish()?; // Err(Truncated) if the peer stopped mid-frame
//!         break;
//!     }
//!     let mut input = &chunk[..n];
//!     while let Some(frame) = decoder.decode(&mut input)? {
//!         received.push(frame.to_vec());
//!     }
//! }
//! assert_eq!(received, [&b"hello"[..], b"", b"a somewhat longer frame"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use crate::error::{Error, Result};

/// The bytes of a frame's length prefix.
pub const PREFIX_LEN: usize = 4;

/// Encodes frames for a byte stream, refusing those longer than its maximum.
///
/// `Encoder` is a small `Copy` configuration; it holds no state between
/// frames.
///
/// ```
/// use ipckit_core::{frame::codec::Encoder, Error};
///
/// let encoder = Encoder::new(16);
/// let mut out = [0u8; 32];
/// let n = encoder.encode(b"abc", &mut out)?;
/// assert_eq!(&out[..n], &[3, 0, 0, 0, b'a', b'b', b'c']);
/// assert_eq!(
///     encoder.encode(&[0; 17], &mut out),
///     Err(Error::FrameTooLarge { len: 17, max: 16 })
/// );
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encoder {
    max_frame_len: u32,
}

impl Encoder {
    /// An encoder of frames of at most `max_frame_len` payload bytes. The
    /// format itself carries up to `u32::MAX`.
    pub const fn new(max_frame_len: u32) -> Self {
        Self { max_frame_len }
    }

    /// The largest payload this encoder accepts.
    pub const fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// The length prefix of a frame of `len` payload bytes, for a writer
    /// that sends the prefix and the payload from separate buffers (one
    /// `writev`, no copy of the payload).
    ///
    /// [`Error::FrameTooLarge`] if `len` exceeds the maximum; its `len`
    /// field saturates at `u32::MAX` for payloads of 4 GiB or more.
    pub const fn encode_prefix(&self, len: usize) -> Result<[u8; PREFIX_LEN]> {
        // `u32::MAX as usize` truncates only where `usize` is narrower than
        // `u32`, and there no `len` exceeds it: the comparison is exact.
        if len > u32::MAX as usize {
            return Err(Error::FrameTooLarge {
                len: u32::MAX,
                max: self.max_frame_len,
            });
        }
        let len = len as u32;
        if len > self.max_frame_len {
            return Err(Error::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        Ok(len.to_le_bytes())
    }

    /// Writes the frame of `payload` (prefix, then payload) to the start of
    /// `out` and returns the bytes written, `PREFIX_LEN + payload.len()`.
    ///
    /// [`Error::FrameTooLarge`] if the payload exceeds the maximum,
    /// [`Error::BufferTooSmall`] (with the bytes needed) if `out` is
    /// shorter than the frame; on an error nothing is written.
    ///
    /// ```
    /// use ipckit_core::{frame::codec::Encoder, Error};
    ///
    /// let encoder = Encoder::new(64);
    /// let mut out = [0u8; 8];
    /// assert_eq!(encoder.encode(b"", &mut out)?, 4);
    /// assert_eq!(encoder.encode(b"12345", &mut out), Err(Error::BufferTooSmall { required: 9 }));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn encode(&self, payload: &[u8], out: &mut [u8]) -> Result<usize> {
        let prefix = self.encode_prefix(payload.len())?;
        // No overflow: a slice holds at most `isize::MAX` bytes.
        let total = PREFIX_LEN + payload.len();
        let Some(frame) = out.get_mut(..total) else {
            return Err(Error::BufferTooSmall { required: total });
        };
        let (head, body) = frame.split_at_mut(PREFIX_LEN);
        head.copy_from_slice(&prefix);
        body.copy_from_slice(payload);
        Ok(total)
    }
}

/// Where the decoder stands in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames, or inside a prefix: `got < PREFIX_LEN` bytes of it are
    /// in `bytes`.
    Prefix { got: usize, bytes: [u8; PREFIX_LEN] },
    /// The prefix of a `len`-byte frame is read (and `len` is within the
    /// maximum, so within the buffer); `got < len` payload bytes are in the
    /// buffer.
    Payload { len: usize, got: usize },
    /// A prefix was refused: the stream cannot be resynchronised.
    Failed(Error),
}

impl State {
    const START: State = State::Prefix {
        got: 0,
        bytes: [0; PREFIX_LEN],
    };
}

/// An incremental, allocation-free decoder of a length-prefixed stream.
///
/// Feed it the stream in chunks of any size with [`decode`](Self::decode);
/// it yields each frame once complete. `B` is the reassembly buffer for
/// frames that span chunks, any `AsMut<[u8]>`: a borrowed `&mut [u8]`, an
/// owned `[u8; N]` (no lifetime, fits in a `static`), or a `Vec<u8>` in a
/// hosted program. The buffer's length bounds the maximum frame size.
///
/// ```
/// use ipckit_core::frame::codec::{Decoder, Encoder};
///
/// let mut wire = [0u8; 64];
/// let n = Encoder::new(64).encode(b"ping", &mut wire)?;
///
/// let mut scratch = [0u8; 64];
/// let mut decoder = Decoder::new(&mut scratch[..]);
/// // The frame arrives in two pieces: the second completes it.
/// let (first, second) = wire[..n].split_at(3);
/// assert_eq!(decoder.decode(&mut &first[..])?, None);
/// assert_eq!(decoder.decode(&mut &second[..])?, Some(&b"ping"[..]));
/// decoder.finish()?;
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Decoder<B> {
    buf: B,
    max_frame_len: u32,
    state: State,
}

impl<B: AsMut<[u8]>> Decoder<B> {
    /// A decoder that reassembles frames in `buf` and accepts frames up to
    /// `buf`'s length (or `u32::MAX`, if smaller). Pass a shorter slice for a
    /// smaller maximum, or use [`with_max_frame_len`](Self::with_max_frame_len).
    ///
    /// `B::as_mut` must return the same slice every time, as every standard
    /// buffer type does.
    pub fn new(mut buf: B) -> Self {
        let len = buf.as_mut().len();
        let max_frame_len = u32::try_from(len).unwrap_or(u32::MAX);
        Self {
            buf,
            max_frame_len,
            state: State::START,
        }
    }

    /// A decoder that accepts frames up to `max_frame_len` bytes and
    /// reassembles them in `buf`. [`Error::TooSmall`] if `buf` is shorter
    /// than `max_frame_len`.
    pub fn with_max_frame_len(mut buf: B, max_frame_len: u32) -> Result<Self> {
        let actual = buf.as_mut().len();
        // Compared in `u64`: exact for every width of `usize` up to 64 bits.
        if (max_frame_len as u64) > (actual as u64) {
            return Err(Error::TooSmall {
                required: max_frame_len as usize,
                actual,
            });
        }
        Ok(Self {
            buf,
            max_frame_len,
            state: State::START,
        })
    }

    /// Decodes from the front of `*input`, advancing it past the bytes
    /// used, until one frame is complete.
    ///
    /// - `Ok(Some(frame))`: a complete frame. `*input` now starts right after
    ///   it and may hold more frames: call again. The frame is a slice of the
    ///   input if it lay wholly in it, otherwise of the reassembly buffer.
    /// - `Ok(None)`: all of `*input` is consumed (it is now empty) and kept
    ///   as the start of a frame: feed the next chunk.
    /// - `Err(`[`Error::FrameTooLarge`]`)`: a length prefix exceeds the
    ///   maximum. Nothing of the payload was buffered; the decoder stays
    ///   failed and returns this error from every later call.
    ///
    /// A frame is never longer than [`max_frame_len`](Self::max_frame_len).
    /// Nothing the input holds makes this panic.
    ///
    /// ```
    /// use ipckit_core::{frame::codec::Decoder, Error};
    ///
    /// // Two frames and the first byte of a third, in one chunk.
    /// let chunk = [1, 0, 0, 0, b'x', 0, 0, 0, 0, 200];
    /// let mut decoder = Decoder::new([0u8; 100]);
    /// let mut input = &chunk[..];
    /// assert_eq!(decoder.decode(&mut input)?, Some(&b"x"[..]));
    /// assert_eq!(decoder.decode(&mut input)?, Some(&b""[..]));
    /// assert_eq!(decoder.decode(&mut input)?, None);
    /// assert!(input.is_empty());
    /// // The third prefix says 200 bytes: more than the maximum of 100.
    /// let err = Error::FrameTooLarge { len: 200, max: 100 };
    /// assert_eq!(decoder.decode(&mut &[0, 0, 0][..]), Err(err));
    /// assert_eq!(decoder.decode(&mut &[1, 2, 3][..]), Err(err));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn decode<'o, 'i: 'o>(&'o mut self, input: &mut &'i [u8]) -> Result<Option<&'o [u8]>> {
        loop {
            match self.state {
                State::Failed(e) => return Err(e),
                State::Prefix { mut got, mut bytes } => {
                    let take = (PREFIX_LEN - got).min(input.len());
                    let (head, rest) = input.split_at(take);
                    bytes[got..got + take].copy_from_slice(head);
                    *input = rest;
                    got += take;
                    if got < PREFIX_LEN {
                        // `input` is empty: the prefix continues in the next chunk.
                        self.state = State::Prefix { got, bytes };
                        return Ok(None);
                    }
                    let len = u32::from_le_bytes(bytes);
                    if len > self.max_frame_len {
                        let e = Error::FrameTooLarge {
                            len,
                            max: self.max_frame_len,
                        };
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                    // `len <= max_frame_len <= buf.len()`: fits in `usize`.
                    self.state = State::Payload {
                        len: len as usize,
                        got: 0,
                    };
                }
                State::Payload { len, got } => {
                    if got == 0 && input.len() >= len {
                        // The whole payload lies in this chunk: no copy.
                        let (frame, rest) = input.split_at(len);
                        *input = rest;
                        self.state = State::START;
                        return Ok(Some(frame));
                    }
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = (len - got).min(input.len());
                    let (head, rest) = input.split_at(take);
                    *input = rest;
                    let buf = self.buf.as_mut();
                    buf[got..got + take].copy_from_slice(head);
                    if got + take < len {
                        self.state = State::Payload {
                            len,
                            got: got + take,
                        };
                        return Ok(None);
                    }
                    self.state = State::START;
                    return Ok(Some(&self.buf.as_mut()[..len]));
                }
            }
        }
    }

    /// Forgets any partial frame and any error, for a new stream. (A stream
    /// that failed cannot be resumed: its next bytes are of unknown meaning.)
    pub fn reset(&mut self) {
        self.state = State::START;
    }
}

impl<B> Decoder<B> {
    /// The largest frame this decoder accepts.
    pub fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Checks the end of the stream: `Ok` if it ended between frames,
    /// [`Error::Truncated`] if it stopped inside one, or the error the
    /// decoder failed with.
    ///
    /// `missing` counts the bytes of the frame, prefix included, that never
    /// arrived. When the stream stopped inside a prefix the payload length is
    /// unknown, and `missing` counts only the rest of the prefix.
    pub fn finish(&self) -> Result<()> {
        match self.state {
            State::Prefix { got: 0, .. } => Ok(()),
            State::Prefix { got, .. } => Err(Error::Truncated {
                missing: PREFIX_LEN - got,
            }),
            State::Payload { len, got } => Err(Error::Truncated { missing: len - got }),
            State::Failed(e) => Err(e),
        }
    }

    /// `true` between frames: the stream may end here cleanly (what
    /// [`finish`](Self::finish) checks), and no error occurred.
    pub fn is_between_frames(&self) -> bool {
        matches!(self.state, State::Prefix { got: 0, .. })
    }

    /// Gives the reassembly buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

impl<B> fmt::Debug for Decoder<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The buffer's stale bytes are noise (and may be large): left out.
        f.debug_struct("codec::Decoder")
            .field("max_frame_len", &self.max_frame_len)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
