//! Property test of the stream codec: random frames, encoded and
//! concatenated, cut at random boundaries, decode to the same frames; an
//! oversized prefix anywhere is refused after exactly the frames before it;
//! a stream cut anywhere reports the bytes it lacks.

use ipckit_core::Error;
use ipckit_core::frame::codec::{Decoder, Encoder, PREFIX_LEN};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        // Miri runs every case about a thousand times slower: a handful of
        // cases still checks the paths for UB; coverage comes from the native
        // run.
        cases: if cfg!(miri) { 4 } else { 1024 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Up to 24 frames of up to `max` bytes, zero-length ones included.
fn frames(max: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=max), 0..24)
}

fn encode_all(encoder: Encoder, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for frame in frames {
        let start = wire.len();
        wire.resize(start + PREFIX_LEN + frame.len(), 0);
        let n = encoder.encode(frame, &mut wire[start..]).unwrap();
        assert_eq!(n, PREFIX_LEN + frame.len());
    }
    wire
}

/// Chunk lengths from `seeds`: mostly short (to cut prefixes and payloads
/// often), sometimes empty, sometimes long (many frames at once).
fn chunks(wire: &[u8], seeds: &[u16]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut at = 0;
    for (i, &seed) in seeds.iter().cycle().enumerate() {
        if at >= wire.len() && i >= seeds.len() {
            break;
        }
        let len = match seed % 8 {
            0 => 0,
            1..=5 => usize::from(seed >> 3) % 7 + 1,
            _ => usize::from(seed >> 3) % 200 + 1,
        };
        // Past the seeds, every chunk takes a byte at least, so this ends.
        let len = if i >= seeds.len() { len.max(1) } else { len };
        let end = (at + len).min(wire.len());
        ranges.push(at..end);
        at = end;
    }
    ranges
}

/// Feeds `wire` in `ranges`; returns the frames and the first error with the
/// stream offset just after the bytes the decoder consumed until then.
fn decode(
    decoder: &mut Decoder<Vec<u8>>,
    wire: &[u8],
    ranges: &[std::ops::Range<usize>],
) -> (Vec<Vec<u8>>, Option<(Error, usize)>) {
    let max = decoder.max_frame_len() as usize;
    let mut frames = Vec::new();
    for range in ranges {
        let mut input = &wire[range.clone()];
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max);
                    frames.push(frame.to_vec());
                }
                Ok(None) => {
                    assert!(input.is_empty());
                    break;
                }
                Err(e) => return (frames, Some((e, range.end - input.len()))),
            }
        }
    }
    (frames, None)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn round_trip_at_any_boundaries(
        max in 0usize..64,
        frames in frames(63),
        seeds in prop::collection::vec(any::<u16>(), 1..64),
    ) {
        let frames: Vec<Vec<u8>> = frames.into_iter().map(|mut f| { f.truncate(max); f }).collect();
        let wire = encode_all(Encoder::new(max as u32), &frames);
        let ranges = chunks(&wire, &seeds);
        let mut decoder = Decoder::new(vec![0u8; max]);
        let (got, error) = decode(&mut decoder, &wire, &ranges);
        prop_assert_eq!(error, None);
        prop_assert_eq!(got, frames);
        prop_assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn oversized_prefix_is_refused_after_the_frames_before_it(
        max in 0u32..64,
        frames in frames(63),
        at in any::<prop::sample::Index>(),
        excess in prop_oneof![1u32..4, 1u32..=u32::MAX],
        seeds in prop::collection::vec(any::<u16>(), 1..64),
    ) {
        let frames: Vec<Vec<u8>> =
            frames.into_iter().map(|mut f| { f.truncate(max as usize); f }).collect();
        let before = at.index(frames.len() + 1);
        let len = max.saturating_add(excess);
        let mut wire = encode_all(Encoder::new(max), &frames[..before]);
        let bad_end = wire.len() + PREFIX_LEN;
        wire.extend_from_slice(&len.to_le_bytes());
        wire.extend_from_slice(&encode_all(Encoder::new(max), &frames[before..]));
        let ranges = chunks(&wire, &seeds);
        let mut decoder = Decoder::new(vec![0u8; max as usize]);
        let (got, error) = decode(&mut decoder, &wire, &ranges);
        let want = Error::FrameTooLarge { len, max };
        prop_assert_eq!(&got[..], &frames[..before]);
        prop_assert_eq!(error, Some((want, bad_end)));
        prop_assert_eq!(decoder.decode(&mut &wire[..]), Err(want));
        prop_assert_eq!(decoder.finish(), Err(want));
        // The encoder refuses the same length.
        prop_assert_eq!(Encoder::new(max).encode_prefix(len as usize), Err(want));
    }

    #[test]
    fn truncation_reports_what_is_missing(
        frames in frames(40),
        cut in any::<prop::sample::Index>(),
        seeds in prop::collection::vec(any::<u16>(), 1..64),
    ) {
        let wire = encode_all(Encoder::new(40), &frames);
        let cut = cut.index(wire.len() + 1);
        let ranges = chunks(&wire[..cut], &seeds);
        let mut decoder = Decoder::new([0u8; 40]);
        let mut got = Vec::new();
        for range in ranges {
            let mut input = &wire[range];
            while let Some(frame) = decoder.decode(&mut input).unwrap() {
                got.push(frame.to_vec());
            }
        }
        // Walk the frames to find the one the cut falls in.
        let mut start = 0;
        let mut complete = 0;
        let mut want = Ok(());
        for frame in &frames {
            let end = start + PREFIX_LEN + frame.len();
            if end <= cut {
                complete += 1;
            } else if start < cut {
                let missing = if cut - start < PREFIX_LEN { PREFIX_LEN - (cut - start) } else { end - cut };
                want = Err(Error::Truncated { missing });
                break;
            } else {
                break;
            }
            start = end;
        }
        prop_assert_eq!(&got[..], &frames[..complete]);
        prop_assert_eq!(decoder.finish(), want);
    }
}
