//! Unit tests of the stream codec: every way a few frames can be cut into
//! chunks, the bounds of the maximum, oversized prefixes cut anywhere, and
//! streams that stop inside a frame.

use std::vec;
use std::vec::Vec;

use super::*;

/// The frames of the tests, with a decoder maximum of [`MAX`]: empty frames
/// (leading, consecutive, trailing), a one-byte frame, and one of exactly the
/// maximum.
const MAX: usize = 9;
const FRAMES: [&[u8]; 6] = [b"", b"a", b"", b"hello", &[0xAB; MAX], b""];

fn encode_all(frames: &[&[u8]]) -> Vec<u8> {
    let encoder = Encoder::new(u32::MAX);
    let mut wire = Vec::new();
    for frame in frames {
        wire.extend_from_slice(&encoder.encode_prefix(frame.len()).unwrap());
        wire.extend_from_slice(frame);
    }
    wire
}

/// Decodes `wire` cut at `cuts` (ascending offsets), checks that each frame
/// lying wholly inside one chunk came back without a copy, and returns the
/// frames.
fn decode_cut(decoder: &mut Decoder<&mut [u8]>, wire: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let max = decoder.max_frame_len() as usize;
    let mut frames = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([wire.len()]) {
        let chunk = &wire[start..end];
        let mut input = chunk;
        loop {
            let before = input.len();
            match decoder.decode(&mut input).unwrap() {
                Some(frame) => {
                    let consumed = before - input.len();
                    let chunk_range = chunk.as_ptr_range();
                    let in_chunk =
                        chunk_range.contains(&frame.as_ptr()) || frame.as_ptr() == chunk_range.end;
                    // The frame lay wholly in this chunk iff its prefix and
                    // payload were consumed by this call, and this call
                    // started at a frame boundary.
                    if frame.len() + PREFIX_LEN == consumed && !frame.is_empty() {
                        assert!(in_chunk, "a frame inside one chunk was copied");
                    }
                    if consumed < frame.len() {
                        assert!(!in_chunk, "a split frame was not reassembled");
                    }
                    assert!(frame.len() <= max);
                    frames.push(frame.to_vec());
                }
                None => {
                    assert!(input.is_empty(), "None before the chunk was used up");
                    break;
                }
            }
        }
        start = end;
    }
    frames
}

fn expected(frames: &[&[u8]]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.to_vec()).collect()
}

#[test]
fn prefix_is_little_endian() {
    let encoder = Encoder::new(u32::MAX);
    assert_eq!(encoder.encode_prefix(0), Ok([0, 0, 0, 0]));
    assert_eq!(encoder.encode_prefix(0x0102_0304), Ok([4, 3, 2, 1]));
    assert_eq!(
        encoder.encode_prefix(u32::MAX as usize),
        Ok([0xFF, 0xFF, 0xFF, 0xFF])
    );
    let mut out = [0u8; 8];
    assert_eq!(encoder.encode(&[7, 8], &mut out), Ok(6));
    assert_eq!(out, [2, 0, 0, 0, 7, 8, 0, 0]);
}

#[test]
fn encoder_refuses_without_writing() {
    let encoder = Encoder::new(4);
    let mut out = [0xEEu8; 16];
    assert_eq!(
        encoder.encode(&[1; 5], &mut out),
        Err(Error::FrameTooLarge { len: 5, max: 4 })
    );
    assert_eq!(
        encoder.encode(&[1; 4], &mut out[..7]),
        Err(Error::BufferTooSmall { required: 8 })
    );
    assert_eq!(out, [0xEE; 16]);
    // A frame of exactly the maximum, into a buffer of exactly its size.
    assert_eq!(encoder.encode(&[1; 4], &mut out[..8]), Ok(8));
    assert_eq!(encoder.encode_prefix(4), Ok([4, 0, 0, 0]));
    assert_eq!(Encoder::new(0).encode_prefix(0), Ok([0; 4]));
    assert_eq!(
        Encoder::new(0).encode_prefix(1),
        Err(Error::FrameTooLarge { len: 1, max: 0 })
    );
}

#[cfg(target_pointer_width = "64")]
#[test]
fn encoder_saturates_lengths_beyond_the_format() {
    let len = u32::MAX as usize + 1;
    assert_eq!(
        Encoder::new(u32::MAX).encode_prefix(len),
        Err(Error::FrameTooLarge {
            len: u32::MAX,
            max: u32::MAX
        })
    );
    assert_eq!(
        Encoder::new(10).encode_prefix(usize::MAX),
        Err(Error::FrameTooLarge {
            len: u32::MAX,
            max: 10
        })
    );
}

#[test]
fn whole_stream_in_one_chunk_is_zero_copy() {
    let wire = encode_all(&FRAMES);
    let mut buf = [0u8; MAX];
    let mut decoder = Decoder::new(&mut buf[..]);
    assert_eq!(decode_cut(&mut decoder, &wire, &[]), expected(&FRAMES));
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn one_byte_at_a_time() {
    let wire = encode_all(&FRAMES);
    let cuts: Vec<usize> = (1..wire.len()).collect();
    let mut buf = [0u8; MAX];
    let mut decoder = Decoder::new(&mut buf[..]);
    assert_eq!(decode_cut(&mut decoder, &wire, &cuts), expected(&FRAMES));
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn every_split_into_two_and_three_chunks() {
    let wire = encode_all(&FRAMES);
    let n = wire.len();
    let step = if cfg!(miri) { 5 } else { 1 };
    let mut buf = [0u8; MAX];
    for i in 0..=n {
        for j in (i..=n).step_by(step) {
            let mut decoder = Decoder::new(&mut buf[..]);
            let got = decode_cut(&mut decoder, &wire, &[i, j]);
            assert_eq!(got, expected(&FRAMES), "cuts at {i} and {j}");
            assert_eq!(decoder.finish(), Ok(()));
        }
    }
}

#[test]
fn empty_chunks_change_nothing() {
    let wire = encode_all(&FRAMES);
    let mut buf = [0u8; MAX];
    let mut decoder = Decoder::new(&mut buf[..]);
    // Empty chunks at every position, between one-byte chunks.
    let mut cuts = Vec::new();
    for i in 0..=wire.len() {
        cuts.push(i);
        cuts.push(i);
    }
    assert_eq!(decode_cut(&mut decoder, &wire, &cuts), expected(&FRAMES));
    assert_eq!(decoder.decode(&mut &[][..]), Ok(None));
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn many_zero_length_frames() {
    let frames = [&b""[..]; 50];
    let wire = encode_all(&frames);
    let mut decoder = Decoder::new([0u8; 0]);
    assert_eq!(decoder.max_frame_len(), 0);
    let mut input = &wire[..];
    let mut count = 0;
    while let Some(frame) = decoder.decode(&mut input).unwrap() {
        assert!(frame.is_empty());
        count += 1;
    }
    assert_eq!(count, 50);
    assert_eq!(decoder.finish(), Ok(()));
    // Cut inside prefixes, the empty frame completes with its last prefix byte.
    let mut decoder = Decoder::new([0u8; 0]);
    assert_eq!(decoder.decode(&mut &[0, 0, 0][..]), Ok(None));
    let mut input = &[0u8][..];
    assert_eq!(decoder.decode(&mut input), Ok(Some(&[][..])));
    assert!(input.is_empty());
}

#[test]
fn max_size_frame_split_anywhere_is_reassembled() {
    let payload: Vec<u8> = (0..=255).collect();
    let wire = encode_all(&[&payload]);
    let step = if cfg!(miri) { 37 } else { 1 };
    for cut in (0..=wire.len()).step_by(step) {
        let mut buf = vec![0u8; 256];
        let mut decoder = Decoder::new(&mut buf[..]);
        assert_eq!(
            decode_cut(&mut decoder, &wire, &[cut]),
            vec![payload.clone()]
        );
    }
    // One byte more than the buffer: refused.
    let mut decoder = Decoder::new([0u8; 255]);
    assert_eq!(
        decoder.decode(&mut &wire[..]),
        Err(Error::FrameTooLarge { len: 256, max: 255 })
    );
}

#[test]
fn max_frame_len_below_the_buffer() {
    let mut decoder = Decoder::with_max_frame_len([0u8; 16], 3).unwrap();
    assert_eq!(decoder.max_frame_len(), 3);
    assert_eq!(
        decoder.decode(&mut &[3, 0, 0, 0, 1, 2, 3][..]),
        Ok(Some(&[1, 2, 3][..]))
    );
    assert_eq!(
        decoder.decode(&mut &[4, 0, 0, 0, 1, 2, 3, 4][..]),
        Err(Error::FrameTooLarge { len: 4, max: 3 })
    );
    assert_eq!(
        Decoder::with_max_frame_len([0u8; 16], 17).err(),
        Some(Error::TooSmall {
            required: 17,
            actual: 16
        })
    );
    assert!(Decoder::with_max_frame_len([0u8; 16], 16).is_ok());
    assert!(Decoder::with_max_frame_len([0u8; 0], 0).is_ok());
}

/// After `prefix_frames` good frames, a prefix one byte over the maximum
/// (then payload bytes that must never be buffered), cut at every position:
/// the good frames come out, then `FrameTooLarge` exactly when the fourth
/// prefix byte arrives, then the same error forever.
#[test]
fn oversized_prefix_at_every_split() {
    let good = encode_all(&[b"ok", b""]);
    for len in [MAX as u32 + 1, 1 << 16, u32::MAX] {
        let mut wire = good.clone();
        wire.extend_from_slice(&len.to_le_bytes());
        wire.extend_from_slice(&[0x55; 32]);
        let bad_prefix_end = good.len() + PREFIX_LEN;
        let step = if cfg!(miri) { 4 } else { 1 };
        for cut in (0..=wire.len()).step_by(step) {
            let mut buf = [0u8; MAX];
            let mut decoder = Decoder::new(&mut buf[..]);
            let mut frames = Vec::new();
            let mut error = None;
            let mut offset = 0;
            for chunk in [&wire[..cut], &wire[cut..]] {
                let mut input = chunk;
                loop {
                    match decoder.decode(&mut input) {
                        Ok(Some(frame)) => frames.push(frame.to_vec()),
                        Ok(None) => break,
                        Err(e) => {
                            error.get_or_insert((e, offset + chunk.len() - input.len()));
                            break;
                        }
                    }
                }
                offset += chunk.len();
            }
            let want = Error::FrameTooLarge {
                len,
                max: MAX as u32,
            };
            assert_eq!(frames, expected(&[b"ok", b""]), "cut {cut}");
            // The error comes as the prefix completes, before any payload byte.
            assert_eq!(error, Some((want, bad_prefix_end)), "cut {cut}");
            assert_eq!(decoder.decode(&mut &[0u8; 4][..]), Err(want));
            assert_eq!(decoder.decode(&mut &[][..]), Err(want));
            assert_eq!(decoder.finish(), Err(want));
            assert!(!decoder.is_between_frames());
        }
    }
}

#[test]
fn a_failed_decoder_consumes_nothing_more() {
    let mut decoder = Decoder::new([0u8; 2]);
    let mut input = &[3, 0, 0, 0, 1, 2, 3][..];
    assert!(decoder.decode(&mut input).is_err());
    assert_eq!(input, &[1, 2, 3]);
    assert!(decoder.decode(&mut input).is_err());
    assert_eq!(input, &[1, 2, 3]);
    decoder.reset();
    assert!(decoder.is_between_frames());
    assert_eq!(decoder.finish(), Ok(()));
}

/// The stream stops at every offset: complete frames before the cut come
/// out, and `finish` reports the bytes still due of the frame cut.
#[test]
fn truncated_stream_at_every_offset() {
    let wire = encode_all(&FRAMES);
    // (start, end) of each frame in the wire, prefix included.
    let mut bounds = Vec::new();
    let mut at = 0;
    for frame in FRAMES {
        bounds.push((at, at + PREFIX_LEN + frame.len()));
        at += PREFIX_LEN + frame.len();
    }
    for cut in 0..=wire.len() {
        let mut buf = [0u8; MAX];
        let mut decoder = Decoder::new(&mut buf[..]);
        let got = decode_cut(&mut decoder, &wire[..cut], &[]);
        let complete = bounds.iter().filter(|&&(_, end)| end <= cut).count();
        assert_eq!(got, expected(&FRAMES[..complete]), "cut {cut}");
        let want = match bounds
            .iter()
            .find(|&&(start, end)| start < cut && cut < end)
        {
            None => Ok(()),
            Some(&(start, _)) if cut - start < PREFIX_LEN => Err(Error::Truncated {
                missing: PREFIX_LEN - (cut - start),
            }),
            Some(&(_, end)) => Err(Error::Truncated { missing: end - cut }),
        };
        assert_eq!(decoder.finish(), want, "cut {cut}");
        assert_eq!(decoder.is_between_frames(), want.is_ok());
    }
}

#[test]
fn buffers_of_every_kind() {
    let wire = encode_all(&[b"abc", b"defg"]);
    let (first, second) = wire.split_at(5);

    let mut array = Decoder::new([0u8; 4]);
    assert_eq!(array.decode(&mut &first[..]), Ok(None));
    assert_eq!(array.decode(&mut &second[..3]), Ok(Some(&b"abc"[..])));

    let mut owned = Decoder::new(vec![0u8; 4]);
    let mut input = &wire[..];
    assert_eq!(owned.decode(&mut input), Ok(Some(&b"abc"[..])));
    assert_eq!(owned.decode(&mut input), Ok(Some(&b"defg"[..])));
    assert_eq!(owned.into_inner().len(), 4);

    let mut storage = [0u8; 4];
    let mut by_ref = Decoder::new(&mut storage);
    assert_eq!(by_ref.decode(&mut &first[..]), Ok(None));
    assert_eq!(by_ref.decode(&mut &second[..3]), Ok(Some(&b"abc"[..])));
}

#[test]
fn debug_leaves_the_buffer_out() {
    let decoder = Decoder::new([0x5Au8; 64]);
    let text = std::format!("{decoder:?}");
    assert!(text.contains("max_frame_len: 64"), "{text}");
    assert!(!text.contains("90"), "{text}");
}

/// The getters and the documented errors of each method (formerly one
/// doctest each).
#[test]
fn getters_and_documented_errors() {
    assert_eq!(Encoder::new(64).encode_prefix(3).unwrap().len(), PREFIX_LEN);
    assert_eq!(Encoder::new(4096).max_frame_len(), 4096);
    assert_eq!(Encoder::new(u32::MAX).max_frame_len(), u32::MAX);
    let encoder = Encoder::new(1000);
    assert_eq!(encoder.encode_prefix(258), Ok([2, 1, 0, 0]));
    assert_eq!(
        encoder.encode_prefix(1001),
        Err(Error::FrameTooLarge {
            len: 1001,
            max: 1000
        })
    );

    assert_eq!(Decoder::new([0u8; 256]).max_frame_len(), 256);
    let mut buf = [0u8; 100];
    assert_eq!(Decoder::new(&mut buf[..10]).max_frame_len(), 10);
    assert_eq!(
        Decoder::with_max_frame_len([0u8; 64], 10)
            .unwrap()
            .max_frame_len(),
        10
    );
    assert_eq!(
        Decoder::with_max_frame_len([0u8; 64], 65).err(),
        Some(Error::TooSmall {
            required: 65,
            actual: 64
        })
    );
    let buf: [u8; 4] = Decoder::new([1u8; 4]).into_inner();
    assert_eq!(buf, [1; 4]);
}

#[test]
fn reset_finish_and_between_frames() {
    let mut decoder = Decoder::new([0u8; 8]);
    assert!(decoder.decode(&mut &[9, 0, 0, 0][..]).is_err()); // 9 > 8
    decoder.reset();
    assert_eq!(
        decoder.decode(&mut &[1, 0, 0, 0, 7][..]),
        Ok(Some(&[7u8][..]))
    );

    let mut decoder = Decoder::new([0u8; 16]);
    assert_eq!(decoder.finish(), Ok(())); // an empty stream ends cleanly
    assert!(decoder.is_between_frames());
    // A prefix announcing 10 bytes, and 3 of them.
    assert_eq!(decoder.decode(&mut &[10, 0, 0, 0, 1, 2, 3][..]), Ok(None));
    assert!(!decoder.is_between_frames());
    assert_eq!(decoder.finish(), Err(Error::Truncated { missing: 7 }));
}
