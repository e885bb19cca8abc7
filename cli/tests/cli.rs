//! Runs the `ipckit` binary: ls / inspect / rm / send / recv on objects
//! the tests create (names `ipckit-test-<pid>-...`, each removed at the
//! end), and `bench --quick --json`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use ipckit::channel::bytes::Sender;
use ipckit::shm::ShmObject;

fn ipckit() -> Command {
    Command::cargo_bin("ipckit").expect("the ipckit binary")
}

fn name(what: &str) -> String {
    format!("ipckit-test-{}-{what}", std::process::id())
}

/// Removes `name` when dropped, and checks it is gone.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = ShmObject::remove(n);
            assert!(
                !std::path::Path::new("/dev/shm").join(n).exists(),
                "{n} left behind"
            );
        }
    }
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run ipckit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One line on stderr, starting `ipckit:`, no panic.
fn one_line_error(stderr: &str) {
    assert_eq!(stderr.trim().lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("ipckit: "), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

#[test]
fn ls_shows_a_channel_and_rm_stale_removes_it_after_its_owner_was_killed() {
    let n = name("stale");
    let _clean = Cleanup(vec![n.clone()]);
    // The sender stays open until the owner is killed: a receiver whose
    // senders all closed ends by itself (PeerGone) at its next liveness
    // slice, and on a loaded machine that came before the kill.
    let tx = Sender::create(&n, 4096).unwrap();
    // The owner: an `ipckit recv` process holding the receiving end.
    let mut owner = ipckit()
        .args(["recv", &n, "--timeout", "60"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = owner.id().to_string();
    // `ls` shows the channel's name: the object's without the prefix.
    let shown = ipckit::channel::channel_name(&n).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, out, err) = run(ipckit().arg("ls"));
        assert_eq!(code, 0, "{err}");
        let line = out
            .lines()
            .find(|l| l.starts_with(&shown))
            .map(str::to_owned);
        if let Some(line) = line.filter(|l| l.contains(&format!("receiver:{pid}(alive)"))) {
            assert!(line.contains("bytes"), "{line}");
            assert!(line.contains("4096 bytes"), "{line}");
            assert!(line.contains("live"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "ls never showed {n}: {out}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A live endpoint: neither `rm` nor `rm --stale` removes it.
    let (code, _, err) = run(ipckit().args(["rm", &n]));
    assert_eq!(code, 1);
    one_line_error(&err);
    assert!(err.contains("live endpoint"), "{err}");
    let (_, out, _) = run(ipckit().args(["rm", "--stale"]));
    assert!(!out.contains(&n), "{out}");

    owner.kill().unwrap(); // SIGKILL
    owner.wait().unwrap();
    drop(tx);
    let (_, out, _) = run(ipckit().arg("ls"));
    let line = out.lines().find(|l| l.starts_with(&shown)).unwrap_or("");
    assert!(line.contains("stale"), "{out}");
    assert!(line.contains(&format!("receiver:{pid}(dead)")), "{out}");
    let (code, out, err) = run(ipckit().args(["rm", "--stale"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("removed {n}")), "{out}");
    assert!(!std::path::Path::new("/dev/shm").join(&n).exists());
}

#[test]
fn a_service_named_channel_is_listed_inspected_and_removed_by_that_name() {
    let service = format!("test/{}/arm/state", std::process::id());
    let object = ipckit::channel::object_name(&service).unwrap();
    let _clean = Cleanup(vec![object.as_str()[1..].to_owned()]);
    let tx = Sender::create(&service, 4096).unwrap();
    // Another process (the CLI) finds it under the name it was given.
    let (code, out, err) = run(ipckit().arg("ls"));
    assert_eq!(code, 0, "{err}");
    let line = out.lines().find(|l| l.starts_with(&service));
    assert!(line.is_some_and(|l| l.contains("live")), "{out}");
    let (code, out, err) = run(ipckit().args(["inspect", &service]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4096"), "{out}");
    drop(tx);
    let (code, _, err) = run(ipckit().args(["rm", &service]));
    assert_eq!(code, 0, "{err}");
    assert!(
        !std::path::Path::new("/dev/shm")
            .join(&object.as_str()[1..])
            .exists()
    );
}

#[test]
fn send_and_recv_round_trip_across_two_processes() {
    let n = name("pipe");
    let _clean = Cleanup(vec![n.clone()]);
    let receiver = ipckit()
        .args(["recv", &n, "--create", "--count", "3", "--timeout", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sender = ipckit()
        .args(["send", &n, "--create", "--timeout", "30"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sender
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo words\nthree\n")
        .unwrap();
    let sent = sender.wait_with_output().unwrap();
    assert!(sent.status.success(), "{sent:?}");
    let got = receiver.wait_with_output().unwrap();
    assert!(got.status.success(), "{got:?}");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "one\ntwo words\nthree\n"
    );

    // Arguments as messages, raw output.
    let (code, _, err) = run(ipckit().args(["send", &n, "x", "y"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(ipckit().args(["recv", &n, "--raw", "--count", "2"]));
    assert_eq!((code, out.as_str()), (0, "xy"), "{err}");
    // Nothing more, and the sender is gone: the end, at once.
    let (code, out, err) = run(ipckit().args(["recv", &n, "--timeout", "10"]));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
}

#[test]
fn inspect_reports_a_corrupt_object_and_rm_wants_force() {
    let n = name("corrupt");
    let _clean = Cleanup(vec![n.clone()]);
    std::fs::write(std::path::Path::new("/dev/shm").join(&n), [0xab_u8; 4096]).unwrap();
    let (code, out, err) = run(ipckit().args(["inspect", &n]));
    assert_eq!(code, 1);
    assert!(out.contains("validates  NO"), "{out}");
    assert!(out.contains("WRONG"), "{out}");
    one_line_error(&err);
    assert!(err.contains("does not validate"), "{err}");

    let (code, _, err) = run(ipckit().args(["rm", &n]));
    assert_eq!(code, 1);
    one_line_error(&err);
    assert!(err.contains("--force"), "{err}");
    assert!(std::path::Path::new("/dev/shm").join(&n).exists());
    let (code, out, err) = run(ipckit().args(["rm", "--force", &n]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed"), "{out}");
}

#[test]
fn inspect_shows_a_valid_channel() {
    let n = name("valid");
    let _clean = Cleanup(vec![n.clone()]);
    let mut tx = Sender::create(&n, 4096).unwrap();
    tx.send(b"hello").unwrap();
    let (code, out, err) = run(ipckit().args(["inspect", &n]));
    assert_eq!(code, 0, "{err}");
    for want in [
        "validates  yes",
        "kind               4 (bytes)",
        "capacity           4096",
        "fill",
        "live",
    ] {
        assert!(out.contains(want), "{want:?} not in {out}");
    }
    assert!(
        out.contains(&format!("pid {}", std::process::id())),
        "{out}"
    );
}

#[test]
fn bad_input_is_one_line_and_non_zero() {
    let missing = name("missing");
    for args in [
        vec!["inspect", missing.as_str()],
        vec!["rm", missing.as_str()],
        vec!["recv", missing.as_str(), "--timeout", "0"],
        vec!["send", missing.as_str(), "x"],
        vec!["send", "", "--create", "x"],
    ] {
        let (code, _, err) = run(ipckit().args(&args));
        assert_ne!(code, 0, "{args:?}");
        one_line_error(&err);
    }
    for args in [
        vec!["bench", "--mechanisms", "carrier-pigeon"],
        vec!["bench", "--sizes", "3"],
    ] {
        let (code, _, err) = run(ipckit().args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        one_line_error(&err);
    }
}

fn bench_json(args: &[&str]) -> Vec<serde_json::Value> {
    let child = ipckit()
        .args(["bench", "--quick", "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Objects of this run carry its pid (other runs may be going on).
    let prefix = format!("ipckit-bench-{}-", child.id());
    let done = child.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr),
    );
    assert!(done.status.success(), "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("valid JSON");
    for r in &rows {
        for key in [
            "mechanism",
            "size",
            "metric",
            "median",
            "p99",
            "unit",
            "iterations",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert!(r["median"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["iterations"].as_u64().unwrap() > 0, "{r}");
    }
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    rows
}

fn has(rows: &[serde_json::Value], mechanism: &str) -> bool {
    rows.iter().any(|r| r["mechanism"] == mechanism)
}

#[test]
fn bench_quick_json_has_a_row_per_selected_mechanism() {
    let rows = bench_json(&[
        "--mechanisms",
        "shm-spsc,shm-bytes,pipe,unix-stream,eventfd",
        "--sizes",
        "64,4k",
        "--duration",
        "20ms",
    ]);
    for m in [
        "shm-spsc",
        "shm-bytes",
        "pipe",
        "unix-stream",
        "eventfd",
        "futex",
        "memcpy",
    ] {
        assert!(has(&rows, m), "no row for {m}");
    }
}

#[test]
fn bench_pubsub_and_rpc_rows_with_their_references_and_the_pubsub_goal() {
    let args = [
        "--mechanisms",
        "shm-pubsub,rpc-shm,rpc-unix,shm-bytes",
        "--sizes",
        "64",
        "--rounds",
        "2",
        "--duration",
        "5ms",
    ];
    let rows = bench_json(&args);
    let reference = |m: &str| {
        let r = rows
            .iter()
            .find(|r| r["mechanism"] == m && r["metric"] == "rtt")
            .unwrap_or_else(|| panic!("no rtt row for {m}"));
        r["reference"].as_str().unwrap().to_owned()
    };
    assert_eq!(reference("shm-pubsub"), "cache-line 4 B");
    assert_eq!(reference("rpc-shm"), "cache-line 4 B");
    assert_eq!(reference("rpc-unix"), "futex 4 B");
    for m in ["shm-pubsub", "rpc-shm", "rpc-unix"] {
        let throughput = rows
            .iter()
            .any(|r| r["mechanism"] == m && r["metric"] == "throughput");
        assert!(!throughput, "{m}: a round-trip row only");
    }
    // The table: the pub/sub goal, and why there is no throughput row.
    let (code, out, err) = run(ipckit().args(["bench", "--quick"]).args(args));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("goal: shm-pubsub rtt 64 B at most 1.5x shm-bytes's (same rounds): "),
        "{out}"
    );
    assert!(
        out.contains("  shm-pubsub throughput: a lossy topic"),
        "{out}"
    );
    assert!(
        out.contains("  rpc-shm throughput: a call is a round trip"),
        "{out}"
    );
}

#[test]
fn bench_quick_every_mechanism_at_64_bytes() {
    let rows = bench_json(&["--sizes", "64", "--duration", "20ms"]);
    let (_, help, _) = run(ipckit().args(["bench", "--help"]));
    let names: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Mechanisms:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 23, "{help}");
    for m in ["shm-pubsub", "rpc-shm", "rpc-unix"] {
        assert!(names.contains(&m), "{m} not in --help: {help}");
    }
    for m in names {
        assert!(has(&rows, m), "no row for {m}");
    }
}

#[test]
fn bench_saves_a_run_and_compares_with_it() {
    let dir = std::env::temp_dir().join(name("bench-save"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("before.json");
    let file = file.to_str().unwrap();
    // memcpy alone: in-process, no peer, quick.
    let args = [
        "bench",
        "--mechanisms",
        "memcpy",
        "--sizes",
        "8,64",
        "--rounds",
        "3",
        "--duration",
        "2ms",
    ];
    let (code, out, err) = run(ipckit().args(args).args(["--save", file]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 interleaved rounds of 2ms"), "{out}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).expect("saved JSON");
    assert_eq!(saved["rounds"], 3);
    for key in [
        "cpu_model",
        "cpus",
        "smt_siblings",
        "kernel",
        "date",
        "ipckit_version",
    ] {
        assert!(
            saved["machine"].get(key).is_some(),
            "{key} missing: {saved}"
        );
    }
    let rows = saved["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{saved}");
    for r in rows {
        let (lo, m, hi) = (
            r["median_min"].as_f64().unwrap(),
            r["median"].as_f64().unwrap(),
            r["median_max"].as_f64().unwrap(),
        );
        assert!(lo <= m && m <= hi && lo > 0.0, "{r}");
    }
    let (code, out, err) = run(ipckit().args(args).args(["--compare", file]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("compared with {file}")), "{out}");
    assert!(
        out.contains("memcpy") && out.contains("agreement: shared-memory rows"),
        "{out}"
    );
    // Not a saved run: refused before measuring.
    let (code, _, err) = run(ipckit().args(["bench", "--compare", "/dev/null"]));
    assert_ne!(code, 0);
    one_line_error(&err);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn inspect_shows_a_typed_channels_message_type_id() {
    use ipckit::channel::typed::{self, MessageType};
    let n = name("typed");
    let _clean = Cleanup(vec![n.clone()]);
    let _tx = typed::Sender::<u64>::create(&n, 4096).unwrap();
    let (code, out, err) = run(ipckit().args(["inspect", &n]));
    assert_eq!(code, 0, "{err}");
    let want = format!("message type id    {:#018x}", u64::message_type_id());
    assert!(out.contains(&want), "{want:?} not in {out}");
}

#[test]
fn inspect_shows_a_byte_topic_and_its_ends() {
    use ipckit::pubsub::{self, Policy};
    let n = name("bytes-topic");
    let _clean = Cleanup(vec![n.clone()]);
    // A table of 16 entries: the liveness block a page past the ring's.
    let topic = pubsub::bytes(&n)
        .capacity(2048)
        .max_frame(24)
        .subscribers(16)
        .policy(Policy::Reliable)
        .create()
        .unwrap();
    let mut tx = topic.reliable_publisher().unwrap();
    let _rx = topic.subscriber().unwrap();
    tx.publish(b"hello").unwrap();
    let (code, out, err) = run(ipckit().args(["inspect", &n]));
    assert_eq!(code, 0, "{err}");
    for want in [
        "validates  yes",
        "kind               8 (broadcast-bytes)",
        "capacity           2048",
    ] {
        assert!(out.contains(want), "{want:?} not in {out}");
    }
    let me = format!("pid {}", std::process::id());
    assert_eq!(
        out.matches(&me).count(),
        2,
        "publisher and subscriber: {out}"
    );
    let (code, out, err) = run(ipckit().args(["ls"]));
    assert_eq!(code, 0, "{err}");
    let listed = n.trim_start_matches("ipckit-"); // `ls` drops the prefix
    let row = out.lines().find(|l| l.starts_with(listed)).expect(&out);
    assert!(
        row.contains("broadcast-bytes") && row.contains("2048 bytes") && row.contains("live"),
        "{row}"
    );
    pubsub::remove(&n).unwrap();
}
