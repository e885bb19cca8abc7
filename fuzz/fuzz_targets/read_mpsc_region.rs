//! `cargo +nightly fuzz run read_mpsc_region`; without libFuzzer, replays the input files
//! given on the command line (see [`ipckit_fuzz::read_mpsc_region`]).
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipckit_fuzz::read_mpsc_region(data));

#[cfg(not(fuzzing))]
fn main() {
    ipckit_fuzz::replay_files(ipckit_fuzz::read_mpsc_region);
}
