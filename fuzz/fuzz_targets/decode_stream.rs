//! `cargo +nightly fuzz run decode_stream`; without libFuzzer, replays the input files
//! given on the command line (see [`ipckit_fuzz::decode_stream`]).
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipckit_fuzz::decode_stream(data));

#[cfg(not(fuzzing))]
fn main() {
    ipckit_fuzz::replay_files(ipckit_fuzz::decode_stream);
}
