//! The binary end to end: one short round of every row at both lengths,
//! with real peer processes; every row is in the table and every round
//! trip was answered with its own sequence number (a wrong answer fails
//! the run).

use std::process::Command;

#[test]
fn one_round_of_every_row() {
    let out = Command::new(env!("CARGO_BIN_EXE_ipckit-compare-iceoryx2"))
        .args(["--rounds", "1", "--turn-ms", "1"])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for row in [
        "ipckit byte channel, blocking",
        "ipckit pub/sub, blocking",
        "ipckit pub/sub, sleep at once",
        "ipckit pub/sub, busy poll",
        "iceoryx2 pub/sub, busy poll",
        "iceoryx2 pub/sub + event, blocking",
    ] {
        assert_eq!(
            stdout.matches(row).count(),
            2,
            "{row} at 64 B and 64 KiB:\n{stdout}"
        );
    }
    assert!(stdout.contains("goal <= 1.5"), "{stdout}");
    assert!(!stderr.contains("[W]"), "iceoryx2 warned:\n{stderr}");
}
