//! The bad-input checks that the Cortex-M firmware runs too
//! (`shared/bad_input.rs`), here on the host (x86_64, and i686 in
//! `.ci/embedded`).

mod shared;

use ipckit_core::AlignedBytes;
use shared::bad_input::CHECKS;
use shared::peer::MEM;

#[test]
fn a_peer_writing_garbage_gets_errors_never_ub() {
    let mut mem = Box::new(AlignedBytes::<MEM>::new());
    for (name, check) in CHECKS {
        if let Err(f) = check(&mut mem) {
            panic!("{name}: {f}");
        }
    }
}
