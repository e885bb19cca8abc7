//! `cargo +nightly fuzz run ops_spsc`; without libFuzzer, replays the input files
//! given on the command line (see [`ipckit_fuzz::ops_spsc`]).
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipckit_fuzz::ops_spsc(data));

#[cfg(not(fuzzing))]
fn main() {
    ipckit_fuzz::replay_files(ipckit_fuzz::ops_spsc);
}
