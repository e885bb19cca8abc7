//! The fuzz target bodies on generated inputs, then on the saved regression
//! inputs and the committed corpus: the stable-toolchain path
//! (`cargo test --release`).

use std::path::Path;

use super::*;

/// Runs per target: a few thousand, well under a second each in release.
const RUNS: usize = if cfg!(debug_assertions) {
    1_000
} else {
    20_000
};

fn random_bytes(rng: &mut XorShift, max_len: usize) -> Vec<u8> {
    let len = rng.below(max_len + 1);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// A mostly valid stream for `decode_stream`: a header, frames up to a bit
/// above the maximum, then a few random byte changes and maybe a cut.
fn structured_stream(rng: &mut XorShift) -> Vec<u8> {
    let max = rng.below(40);
    let mut data = vec![max as u8, rng.next_u64() as u8];
    data.extend_from_slice(&rng.next_u64().to_le_bytes());
    for _ in 0..rng.below(12) {
        let len = rng.below(max + 3);
        data.extend_from_slice(&(len as u32).to_le_bytes());
        data.extend((0..len).map(|_| rng.next_u64() as u8));
    }
    for _ in 0..rng.below(3) {
        let at = 10 + rng.below(data.len().saturating_sub(10).max(1));
        if at < data.len() {
            data[at] = rng.next_u64() as u8;
        }
    }
    if rng.below(3) == 0 {
        let keep = rng.below(data.len() + 1);
        data.truncate(keep);
    }
    data
}

/// Runs `target` on every file in `fuzz/<kind>/<name>/`.
fn replay_dir(kind: &str, name: &str, target: Target) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind).join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        // Captured by the test harness, shown if the input fails.
        eprintln!("replaying {}", path.display());
        target(&data);
        count += 1;
    }
    count
}

#[test]
fn decode_stream_generated() {
    let mut rng = XorShift::new(0xDEC0DE);
    for i in 0..RUNS {
        let data = if i % 2 == 0 {
            structured_stream(&mut rng)
        } else {
            random_bytes(&mut rng, 200)
        };
        decode_stream(&data);
    }
}

#[test]
fn codec_round_trip_generated() {
    let mut rng = XorShift::new(0x0C0DEC);
    for _ in 0..RUNS {
        codec_round_trip(&random_bytes(&mut rng, 400));
    }
}

#[test]
fn read_frame_region_generated() {
    let mut rng = XorShift::new(0xF2A3E);
    for i in 0..RUNS {
        let mut data = random_bytes(&mut rng, 120);
        match i % 4 {
            // No corruption: the consumer must get every frame.
            0 => data.truncate(8 + usize::from(data.get(7).copied().unwrap_or(0) % 32)),
            // Corruption of the data area only.
            1 => {
                for chunk in data.get_mut(8 + 32..).unwrap_or_default().chunks_mut(7) {
                    chunk[0] = [2, 3, 6][usize::from(chunk[0]) % 3];
                }
            }
            _ => {}
        }
        read_frame_region(&data);
    }
}

#[test]
fn read_mpsc_region_generated() {
    let mut rng = XorShift::new(0x3505C);
    for i in 0..RUNS {
        let mut data = random_bytes(&mut rng, 120);
        match i % 4 {
            // No corruption: the consumer must get every frame.
            0 => data.truncate(9 + usize::from(data.get(8).copied().unwrap_or(0) % 32)),
            // Corruption of the data area only.
            1 => {
                for chunk in data.get_mut(9 + 32..).unwrap_or_default().chunks_mut(7) {
                    chunk[0] = [2, 3, 6][usize::from(chunk[0]) % 3];
                }
            }
            _ => {}
        }
        read_mpsc_region(&data);
    }
}

/// A fuzz target body.
type Target = fn(&[u8]);

/// Every target, by the name of its directories under `regressions/` and
/// `corpus/`.
const TARGETS: [(&str, Target); 9] = [
    ("decode_stream", decode_stream),
    ("codec_round_trip", codec_round_trip),
    ("read_frame_region", read_frame_region),
    ("read_mpsc_region", read_mpsc_region),
    ("ops_frame_spsc", ops_frame_spsc),
    ("ops_frame_mpsc", ops_frame_mpsc),
    ("ops_spsc", ops_spsc),
    ("ops_mpmc", ops_mpmc),
    ("ops_semaphore", ops_semaphore),
];

#[test]
fn regressions() {
    let count: usize = TARGETS
        .iter()
        .map(|&(name, target)| replay_dir("regressions", name, target))
        .sum();
    eprintln!("{count} regression inputs replayed");
}

/// The committed corpus (`fuzz/corpus/<target>/`, minimised by
/// `cargo fuzz cmin`): what the fuzzer found interesting is replayed by
/// every `cargo test`, on stable.
#[test]
fn corpus() {
    for (name, target) in TARGETS {
        let count = replay_dir("corpus", name, target);
        eprintln!("{name}: {count} corpus inputs replayed");
    }
}

#[test]
fn reference_decoder_agrees_with_the_examples() {
    let stream = [1, 0, 0, 0, 9, 0, 0, 0, 0, 5, 0, 0, 0, 1];
    assert_eq!(
        reference_decode(&stream, 4),
        Decoded {
            frames: vec![vec![9], vec![]],
            end: Err(Error::FrameTooLarge { len: 5, max: 4 }),
        }
    );
    assert_eq!(
        reference_decode(&stream, 8),
        Decoded {
            frames: vec![vec![9], vec![]],
            end: Err(Error::Truncated { missing: 4 }),
        }
    );
    assert_eq!(
        reference_decode(&stream[..11], 8).end,
        Err(Error::Truncated { missing: 2 })
    );
}

#[test]
fn ops_frame_spsc_generated() {
    let mut rng = XorShift::new(0x0F5C);
    for i in 0..RUNS {
        crate::ops_frame_spsc::run(&random_bytes(&mut rng, 400), i % 2 == 0);
    }
}

#[test]
fn ops_frame_mpsc_generated() {
    let mut rng = XorShift::new(0x3F5C);
    for i in 0..RUNS {
        crate::ops_frame_mpsc::run(&random_bytes(&mut rng, 400), i % 2 == 0);
    }
}

#[test]
fn ops_spsc_generated() {
    let mut rng = XorShift::new(0x5B5C);
    for i in 0..RUNS {
        crate::ops_spsc::run(&random_bytes(&mut rng, 400), i % 2 == 0);
    }
}

#[test]
fn ops_mpmc_generated() {
    let mut rng = XorShift::new(0x3B3C);
    for i in 0..RUNS {
        crate::ops_mpmc::run(&random_bytes(&mut rng, 400), i % 2 == 0);
    }
}

#[test]
fn ops_semaphore_generated() {
    let mut rng = XorShift::new(0x5E3A);
    for i in 0..RUNS {
        crate::ops_semaphore::run(&random_bytes(&mut rng, 300), i % 2 == 0);
    }
}
