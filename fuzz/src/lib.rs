//! Fuzz target bodies for `ipckit-core`.
//!
//! Each public function takes the fuzzer's bytes and panics only on a bug in
//! the core: the files in `fuzz_targets/` are one-line `libfuzzer-sys`
//! wrappers around them, built by `cargo +nightly fuzz run <target>`. The
//! same bodies run on stable without libFuzzer:
//!
//! - `cargo test --manifest-path fuzz/Cargo.toml --release` runs every body a
//!   few thousand times on generated inputs (a seeded xorshift generator, so a
//!   failure repeats), then on every file in `fuzz/regressions/<target>/` and
//!   in the committed corpus `fuzz/corpus/<target>/`;
//! - `cargo run --manifest-path fuzz/Cargo.toml --bin <target> -- FILE...`
//!   replays single inputs, such as a crash from `fuzz/artifacts/`.
//!
//! A crash found by the fuzzer gets its input saved in
//! `fuzz/regressions/<target>/` and a unit test beside the code in the core.
//!
//! The targets: [`decode_stream`] and [`codec_round_trip`] (the stream
//! codec), [`read_frame_region`] and [`read_mpsc_region`] (a consumer
//! reading a frame ring whose bytes were overwritten), and the
//! structure-aware `ops_*` targets ([`ops_frame_spsc`], [`ops_frame_mpsc`],
//! [`ops_spsc`], [`ops_mpmc`], [`ops_semaphore`]): operation sequences of
//! live endpoints of each kind against a model, with forged writes between
//! and inside their calls (the module `ops` describes the oracle).

use ipckit_core::Error;
use ipckit_core::frame::codec::{Decoder, Encoder, PREFIX_LEN};

mod frame_ring;
mod mpsc_ring;
mod ops;
mod ops_frame_mpsc;
mod ops_frame_spsc;
mod ops_mpmc;
mod ops_semaphore;
mod ops_spsc;
mod shared;

pub use frame_ring::read_frame_region;
pub use mpsc_ring::read_mpsc_region;
pub use ops_frame_mpsc::ops_frame_mpsc;
pub use ops_frame_spsc::ops_frame_spsc;
pub use ops_mpmc::ops_mpmc;
pub use ops_semaphore::ops_semaphore;
pub use ops_spsc::ops_spsc;

/// Replays each file named on the command line through `target`: the
/// `main` of every fuzz target built without libFuzzer.
pub fn replay_files(target: fn(&[u8])) {
    let mut count = 0;
    for path in std::env::args_os().skip(1) {
        let data = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.to_string_lossy()));
        target(&data);
        count += 1;
    }
    eprintln!("{count} inputs replayed without a failure");
}

/// A small deterministic generator (xorshift64*), seeded from input bytes so
/// that the fuzzer steers chunk boundaries too.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0 is replaced: xorshift stays at 0).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Splits `stream` into chunks whose lengths `rng` draws from a range that
/// `style` picks: one byte, up to 3, up to 16, up to 300, or all at once;
/// empty chunks happen too.
fn chunk_lengths(style: u8, rng: &mut XorShift, stream_len: usize) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut left = stream_len;
    while left > 0 {
        let len = match style % 5 {
            0 => 1,
            1 => rng.below(4),
            2 => rng.below(17),
            3 => rng.below(301),
            _ => left,
        }
        .min(left);
        lengths.push(len);
        left -= len;
    }
    lengths
}

/// What a stream decodes to: its frames and how it ends.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    frames: Vec<Vec<u8>>,
    end: Result<(), Error>,
}

/// The codec's specification, as plainly as possible: the whole stream at
/// once, prefix by prefix.
fn reference_decode(stream: &[u8], max: u32) -> Decoded {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let rest = &stream[at..];
        let Some(prefix) = rest.get(..PREFIX_LEN) else {
            let missing = PREFIX_LEN - rest.len();
            return Decoded {
                frames,
                end: Err(Error::Truncated { missing }),
            };
        };
        let len = u32::from_le_bytes(prefix.try_into().unwrap());
        if len > max {
            return Decoded {
                frames,
                end: Err(Error::FrameTooLarge { len, max }),
            };
        }
        let payload = &rest[PREFIX_LEN..];
        let Some(frame) = payload.get(..len as usize) else {
            let missing = len as usize - payload.len();
            return Decoded {
                frames,
                end: Err(Error::Truncated { missing }),
            };
        };
        frames.push(frame.to_vec());
        at += PREFIX_LEN + len as usize;
    }
    Decoded {
        frames,
        end: Ok(()),
    }
}

/// Decodes `stream` in chunks of `lengths` with `decoder`, checking the
/// decoder's contract on the way: `None` only once a chunk is used up, no
/// frame above the maximum, an error that sticks.
fn decode_chunked(decoder: &mut Decoder<&mut [u8]>, stream: &[u8], lengths: &[usize]) -> Decoded {
    let max = decoder.max_frame_len() as usize;
    let mut frames = Vec::new();
    let mut at = 0;
    for &len in lengths {
        let mut input = &stream[at..at + len];
        at += len;
        loop {
            let before = input.len();
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max, "frame of {} > max {max}", frame.len());
                    assert!(before - input.len() <= PREFIX_LEN + frame.len());
                    frames.push(frame.to_vec());
                }
                Ok(None) => {
                    assert!(input.is_empty(), "None with {} bytes left", input.len());
                    break;
                }
                Err(e) => {
                    assert!(matches!(e, Error::FrameTooLarge { .. }), "{e:?}");
                    // Failed for good: the same error, nothing consumed.
                    let left = input.len();
                    assert_eq!(decoder.decode(&mut input), Err(e));
                    assert_eq!(input.len(), left);
                    assert_eq!(decoder.decode(&mut &stream[..]), Err(e));
                    assert_eq!(decoder.finish(), Err(e));
                    return Decoded {
                        frames,
                        end: Err(e),
                    };
                }
            }
        }
    }
    Decoded {
        frames,
        end: decoder.finish(),
    }
}

/// Fuzz target `decode_stream`: arbitrary bytes into the stream decoder.
///
/// Input: byte 0 picks the maximum frame length (0..=255) and byte 1 the
/// chunking style; bytes 2..10 seed the chunk lengths; the rest is the
/// stream. The decoder must not panic, must yield no frame above the
/// maximum, and must decode exactly what [`reference_decode`] does on the
/// whole stream at once, whatever the chunk boundaries.
pub fn decode_stream(data: &[u8]) {
    let Some((&[max, style], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (seed, stream) = match rest.split_first_chunk::<8>() {
        Some((seed, stream)) => (u64::from_le_bytes(*seed), stream),
        None => (0, rest),
    };
    let max = u32::from(max);
    let mut rng = XorShift::new(seed);
    let lengths = chunk_lengths(style, &mut rng, stream.len());
    // A buffer longer than the maximum: the maximum, not the buffer, bounds
    // the frames.
    let mut buf = [0u8; 300];
    let mut decoder = Decoder::with_max_frame_len(&mut buf[..], max).unwrap();
    let got = decode_chunked(&mut decoder, stream, &lengths);
    assert_eq!(got, reference_decode(stream, max));
}

/// Fuzz target `codec_round_trip`: frames derived from the input, encoded,
/// then decoded at chunk boundaries derived from the input, come back
/// unchanged; the encoder refuses a frame above its maximum.
///
/// Input: byte 0 picks the maximum frame length and byte 1 the chunking
/// style; bytes 2..10 seed the chunk lengths; then frames, each a length
/// byte (taken modulo maximum + 1; 255 asks for one byte too many) and that
/// many payload bytes (fewer at the end of the input).
pub fn codec_round_trip(data: &[u8]) {
    let Some((&[max, style], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (seed, mut rest) = match rest.split_first_chunk::<8>() {
        Some((seed, frames)) => (u64::from_le_bytes(*seed), frames),
        None => (0, rest),
    };
    let encoder = Encoder::new(u32::from(max));
    let mut frames: Vec<&[u8]> = Vec::new();
    let mut wire = Vec::new();
    while let Some((&len_byte, tail)) = rest.split_first() {
        if len_byte == 255 && max < 255 {
            let too_long = usize::from(max) + 1;
            let payload = vec![0u8; too_long];
            let mut out = vec![0u8; PREFIX_LEN + too_long];
            let want = Error::FrameTooLarge {
                len: too_long as u32,
                max: u32::from(max),
            };
            assert_eq!(encoder.encode(&payload, &mut out), Err(want));
            assert_eq!(encoder.encode_prefix(too_long), Err(want));
            rest = tail;
            continue;
        }
        let len = (usize::from(len_byte) % (usize::from(max) + 1)).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        let start = wire.len();
        wire.resize(start + PREFIX_LEN + len, 0);
        let n = encoder.encode(payload, &mut wire[start..]).unwrap();
        assert_eq!(n, PREFIX_LEN + len);
        assert_eq!(
            wire[start..start + PREFIX_LEN],
            encoder.encode_prefix(len).unwrap()
        );
        // One byte short of room: refused, nothing written.
        let mut short = vec![0xA5u8; n - 1];
        assert_eq!(
            encoder.encode(payload, &mut short),
            Err(Error::BufferTooSmall { required: n })
        );
        assert!(short.iter().all(|&b| b == 0xA5));
        frames.push(payload);
        rest = tail;
    }
    let mut rng = XorShift::new(seed);
    let lengths = chunk_lengths(style, &mut rng, wire.len());
    // A reassembly buffer of exactly the maximum.
    let mut buf = vec![0u8; usize::from(max)];
    let mut decoder = Decoder::new(&mut buf[..]);
    let got = decode_chunked(&mut decoder, &wire, &lengths);
    let want: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
    assert_eq!(got.end, Ok(()));
    assert_eq!(got.frames, want);
}

#[cfg(test)]
mod tests;
