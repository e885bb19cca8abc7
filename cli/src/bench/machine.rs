//! The machine a run measured on: the CPU model, the two CPUs the sides
//! were pinned to and whether they are SMT siblings (two hardware threads
//! of one core share its caches: figures between siblings are not
//! cross-core figures), the kernel, the date, and ipckit's version. Printed
//! in the header and saved with `--save`, so that a comparison says when
//! two runs did not measure the same thing.

use serde::{Deserialize, Serialize};

use ipckit_testkit::pin::{self, CpuPair};

/// One CPU's place in the topology, as sysfs lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Cpu {
    pub cpu: usize,
    /// `topology/core_id`.
    pub core_id: Option<u32>,
    /// `topology/physical_package_id`.
    pub package: Option<u32>,
    /// `topology/thread_siblings_list`, parsed.
    pub siblings: Option<Vec<usize>>,
}

/// Where a run measured.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Machine {
    pub cpu_model: String,
    /// The measuring side's CPU and the peer's; absent when not pinned.
    pub cpus: Vec<Cpu>,
    /// Whether the two CPUs are hardware threads of one core (`None`:
    /// unknown, or not pinned).
    pub smt_siblings: Option<bool>,
    pub kernel: String,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub date: String,
    pub ipckit_version: String,
    /// The source's commit, where the binary was built from a git checkout
    /// that is still there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl Machine {
    /// This machine, for the pair of CPUs the run pinned to.
    pub fn this(pair: Option<CpuPair>) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        Self::describe(pair, &read)
            .with_date(now_utc())
            .with_commit(commit())
    }

    /// The description from `read` (a file's contents by path: `/proc/...`
    /// and `/sys/...`), without the date and commit.
    pub fn describe(pair: Option<CpuPair>, read: &dyn Fn(&str) -> Option<String>) -> Self {
        let cpu_model = read("/proc/cpuinfo")
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cpus: Vec<Cpu> = pair
            .map(|p| vec![cpu(p.main, read), cpu(p.peer, read)])
            .unwrap_or_default();
        Self {
            cpu_model,
            smt_siblings: siblings(&cpus),
            cpus,
            kernel: read("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| "unknown kernel".into()),
            date: String::new(),
            ipckit_version: env!("CARGO_PKG_VERSION").into(),
            commit: None,
        }
    }

    fn with_date(mut self, date: String) -> Self {
        self.date = date;
        self
    }

    fn with_commit(mut self, commit: Option<String>) -> Self {
        self.commit = commit;
        self
    }

    /// `AMD EPYC, CPUs 0 and 1 (different cores: core 0 and core 1)`.
    pub fn placement(&self) -> String {
        let relation = match self.smt_siblings {
            Some(true) => "SMT siblings",
            Some(false) => "different cores",
            None => "topology unknown",
        };
        match self.cpus.as_slice() {
            [a, b] => {
                let core = |c: &Cpu| c.core_id.map_or("?".into(), |id| id.to_string());
                format!(
                    "{}, measuring side on CPU {}, peer on CPU {} ({relation}: core {} and core {})",
                    self.cpu_model,
                    a.cpu,
                    b.cpu,
                    core(a),
                    core(b)
                )
            }
            _ => format!("{}, one CPU: unpinned, peers share it", self.cpu_model),
        }
    }
}

fn cpu(n: usize, read: &dyn Fn(&str) -> Option<String>) -> Cpu {
    let topo = |f: &str| read(&format!("/sys/devices/system/cpu/cpu{n}/topology/{f}"));
    Cpu {
        cpu: n,
        core_id: topo("core_id").and_then(|s| s.trim().parse().ok()),
        package: topo("physical_package_id").and_then(|s| s.trim().parse().ok()),
        siblings: topo("thread_siblings_list").and_then(|s| pin::parse_cpu_list(s.trim())),
    }
}

/// Siblings when either lists the other in `thread_siblings_list`; else,
/// without those lists, when both have the same core and package ids.
fn siblings(cpus: &[Cpu]) -> Option<bool> {
    let [a, b] = cpus else { return None };
    match (&a.siblings, &b.siblings) {
        (Some(sa), Some(sb)) => Some(sa.contains(&b.cpu) || sb.contains(&a.cpu)),
        _ => match (a.core_id, b.core_id, a.package, b.package) {
            (Some(ca), Some(cb), Some(pa), Some(pb)) => Some(ca == cb && pa == pb),
            _ => None,
        },
    }
}

/// The commit of the checkout this binary was built from, if it is still
/// there and `git` answers.
fn commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (the civil-from-days
/// algorithm of H. Hinnant).
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysfs(files: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |path| {
            files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, c)| c.to_string())
        }
    }

    const CPUINFO: (&str, &str) = (
        "/proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n",
    );

    fn pair(main: usize, peer: usize) -> Option<CpuPair> {
        Some(CpuPair {
            main,
            peer,
            siblings: None,
        })
    }

    #[test]
    fn hyperthread_siblings_from_sysfs() {
        // CPUs 0 and 1 are the two threads of core 0.
        let read = sysfs(&[
            CPUINFO,
            ("/proc/sys/kernel/osrelease", "6.8.0-1\n"),
            (
                "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list",
                "0-1\n",
            ),
            (
                "/sys/devices/system/cpu/cpu1/topology/thread_siblings_list",
                "0-1\n",
            ),
            ("/sys/devices/system/cpu/cpu0/topology/core_id", "0\n"),
            ("/sys/devices/system/cpu/cpu1/topology/core_id", "0\n"),
        ]);
        let m = Machine::describe(pair(0, 1), &read);
        assert_eq!(m.cpu_model, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz");
        assert_eq!(m.kernel, "6.8.0-1");
        assert_eq!(m.smt_siblings, Some(true));
        assert_eq!(m.cpus[1].siblings, Some(vec![0, 1]));
        assert_eq!(m.cpus[1].core_id, Some(0));
        assert!(
            m.placement()
                .contains("CPU 0, peer on CPU 1 (SMT siblings: core 0 and core 0)")
        );
    }

    #[test]
    fn different_cores_from_sysfs() {
        // Siblings listed as "0,2" and "1,3": CPUs 0 and 1 are on two cores.
        let read = sysfs(&[
            CPUINFO,
            (
                "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list",
                "0,2",
            ),
            (
                "/sys/devices/system/cpu/cpu1/topology/thread_siblings_list",
                "1,3",
            ),
            ("/sys/devices/system/cpu/cpu0/topology/core_id", "0"),
            ("/sys/devices/system/cpu/cpu1/topology/core_id", "1"),
        ]);
        let m = Machine::describe(pair(0, 1), &read);
        assert_eq!(m.smt_siblings, Some(false));
        assert_eq!(m.kernel, "unknown kernel");
        assert!(
            m.placement()
                .contains("(different cores: core 0 and core 1)")
        );
    }

    #[test]
    fn core_ids_decide_without_sibling_lists() {
        let read = sysfs(&[
            ("/sys/devices/system/cpu/cpu2/topology/core_id", "5"),
            ("/sys/devices/system/cpu/cpu3/topology/core_id", "5"),
            (
                "/sys/devices/system/cpu/cpu2/topology/physical_package_id",
                "0",
            ),
            (
                "/sys/devices/system/cpu/cpu3/topology/physical_package_id",
                "0",
            ),
        ]);
        let m = Machine::describe(pair(2, 3), &read);
        assert_eq!(m.smt_siblings, Some(true));
        assert_eq!(m.cpu_model, "unknown CPU");
        // Nothing readable: unknown.
        let m = Machine::describe(pair(2, 3), &sysfs(&[]));
        assert_eq!(m.smt_siblings, None);
        assert!(m.placement().contains("topology unknown"));
        // Not pinned.
        let m = Machine::describe(None, &sysfs(&[CPUINFO]));
        assert!(m.cpus.is_empty() && m.smt_siblings.is_none());
        assert!(m.placement().contains("unpinned"));
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_601_599), "2026-12-06T23:59:59Z");
    }
}
