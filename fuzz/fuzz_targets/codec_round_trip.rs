//! `cargo +nightly fuzz run codec_round_trip`; without libFuzzer, replays the input files
//! given on the command line (see [`ipckit_fuzz::codec_round_trip`]).
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipckit_fuzz::codec_round_trip(data));

#[cfg(not(fuzzing))]
fn main() {
    ipckit_fuzz::replay_files(ipckit_fuzz::codec_round_trip);
}
