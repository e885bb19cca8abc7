//! What a run measures: one job per mechanism, metric, size and batch, the
//! references first, and a line for each combination left out (and why).

use super::batch;
use super::mechanisms::{self, Mech, Metric};
use super::report;

/// One measurement to make (in every round).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    pub mech: Mech,
    pub metric: Metric,
    pub size: usize,
    /// Items per call for a batched row (`None`: one message per call).
    pub batch: Option<usize>,
}

impl Job {
    pub fn label(&self) -> String {
        format!(
            "{} {} {}",
            report::mech_label(self.mech, self.batch),
            self.metric.name(),
            report::size_label(self.size)
        )
    }
}

/// The jobs for `mechs` at `sizes` (references first), and the lines for
/// what is not measured.
pub fn plan(mechs: &[Mech], sizes: &[usize]) -> (Vec<Job>, Vec<String>) {
    let mut jobs: Vec<Job> = Vec::new();
    let mut skipped = Vec::new();
    let add = |jobs: &mut Vec<Job>, job: Job| {
        if !jobs.contains(&job) {
            jobs.push(job);
        }
    };
    let one = |mech, metric, size| Job {
        mech,
        metric,
        size,
        batch: None,
    };
    // References first.
    for &m in mechs {
        for metric in [Metric::Rtt, Metric::Throughput] {
            for &size in sizes {
                let size = m.fixed_size().unwrap_or(size);
                if mechanisms::why_not(m, metric, size).is_none() {
                    let (r, rs) = report::reference_of(m, metric, size);
                    add(&mut jobs, one(r, metric, rs));
                }
            }
        }
    }
    let mut skip = |line: String| {
        if !skipped.contains(&line) {
            skipped.push(line);
        }
    };
    for &size in sizes {
        for &m in mechs {
            for metric in [Metric::Rtt, Metric::Throughput] {
                let size = m.fixed_size().unwrap_or(size);
                match mechanisms::why_not(m, metric, size) {
                    None => add(&mut jobs, one(m, metric, size)),
                    // The floors' own gaps are plain (no round trip for a copy).
                    Some(_) if m.floor() => {}
                    // Once per mechanism and metric, unless the size is the reason.
                    Some(why) if mechanisms::why_not(m, metric, 8).as_ref() == Some(&why) => {
                        skip(format!("{} {}: {why}", m.name(), metric.name()));
                    }
                    Some(why) => skip(format!("{}: {why}", one(m, metric, size).label())),
                }
            }
            // The batched row right after the one-message-per-call rows.
            if mechanisms::why_not(m, Metric::Throughput, size).is_none() {
                let job = Job {
                    batch: Some(batch::ITEMS),
                    ..one(m, Metric::Throughput, size)
                };
                match batch::why_not(m, size) {
                    None => add(&mut jobs, job),
                    Some(why) if batch::worth_saying(m) => {
                        // Once per mechanism, unless the size is the reason.
                        let label = if batch::why_not(m, 8) == Some(why.clone()) {
                            format!("{} throughput", report::mech_label(m, job.batch))
                        } else {
                            job.label()
                        };
                        skip(format!("{label}: {why}"));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    (jobs, skipped)
}

/// Whether `mech` is one of the raw floors.
trait Floor {
    fn floor(self) -> bool;
}

impl Floor for Mech {
    fn floor(self) -> bool {
        matches!(self, Mech::Memcpy | Mech::CacheLine | Mech::Futex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_first_and_batches_beside_their_rows() {
        let (jobs, skipped) = plan(&[Mech::ShmSpscBusy, Mech::ShmMpmc, Mech::Pipe], &[64]);
        let pos = |mech, metric, batch| {
            jobs.iter()
                .position(|j| j.mech == mech && j.metric == metric && j.batch == batch)
        };
        let floor = pos(Mech::CacheLine, Metric::Rtt, None).expect("cache-line floor");
        let single = pos(Mech::ShmSpscBusy, Metric::Throughput, None).expect("one per call");
        let batched = pos(Mech::ShmSpscBusy, Metric::Throughput, Some(batch::ITEMS)).expect("x64");
        assert!(floor < single && batched == single + 1, "{jobs:?}");
        assert!(pos(Mech::Memcpy, Metric::Throughput, None).is_some());
        // The MPMC ring's batch row beside its one-per-call row.
        let mpmc = pos(Mech::ShmMpmc, Metric::Throughput, None).expect("mpmc one per call");
        assert_eq!(
            pos(Mech::ShmMpmc, Metric::Throughput, Some(batch::ITEMS)),
            Some(mpmc + 1)
        );
        assert!(!skipped.iter().any(|s| s.starts_with("shm-mpmc x64")));
        // Kernel mechanisms have no batched row and no line about it.
        assert!(!skipped.iter().any(|s| s.starts_with("pipe x64")));
    }
}
