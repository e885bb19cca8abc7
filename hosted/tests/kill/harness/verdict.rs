//! The verdict of a run: every message (or semaphore unit) accounted
//! for, the kills spread over every phase, and the channel stale and
//! removed by `remove_stale` at the end.

use std::collections::BTreeSet;

use ipckit::channel::{self, ChannelStatus};

use super::{Harness, gaps};
use crate::kinds::{self, Kind};
use crate::side::*;
use crate::support::Ctx;

impl Harness<'_> {
    /// Checks every message, the kill coverage and the clean-up; the report
    /// line, or it with what failed.
    pub(super) fn verdict(&mut self) -> Result<String, String> {
        let mut problems = Vec::new();
        let messages = if self.kind.is_topic() {
            self.check_topic(&mut problems)
        } else if self.kind.is_channel() {
            self.check_messages(&mut problems)
        } else {
            self.check_units(&mut problems)?
        };
        let st = &self.st;
        let phases: Vec<String> = COLUMNS
            .iter()
            .zip(st.by_column)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let mut required = vec![1, 2, 4, 5];
        if self.has_single() {
            required.push(3);
        }
        // Only with every strike in the rotation (`IPCKIT_KILL_AIMS` unset).
        if std::env::var_os("IPCKIT_KILL_AIMS").is_some() {
            required.clear();
        }
        for c in required {
            if st.by_column[c] == 0 {
                problems.push(format!("no kill landed in phase {}", COLUMNS[c]));
            }
        }
        let take_overs: u64 = (0..self.workers)
            .map(|w| self.side.get(w, W_TAKE_OVERS))
            .sum();
        let mut line = format!(
            "{} kills ({}; {} by the child's timer); {messages}; {} take-overs, {} clean \
             restarts, {} strikes missed their phase",
            st.kills,
            phases.join(", "),
            st.timer_kills,
            take_overs,
            st.clean_exits,
            st.missed
        );
        if self.kind.is_channel() {
            self.check_stale(&mut problems, &mut line)?;
        }
        if problems.is_empty() {
            Ok(line)
        } else {
            Err(format!("{}\n    {line}", problems.join("\n    ")))
        }
    }

    pub(super) fn sum(&self, workers: std::ops::Range<usize>, field: usize) -> u64 {
        workers.map(|w| self.side.get(w, field)).sum()
    }

    /// Every number each producer handed out: received once, or an
    /// in-flight send at a kill, or a message a killed consumer held.
    fn check_messages(&mut self, problems: &mut Vec<String>) -> String {
        let side = self.side;
        let (mut received, mut phantom) = (0u64, 0u64);
        let mut missing = BTreeSet::new();
        for p in 0..self.producers {
            let sent = side.get(p, W_SENT);
            for i in 0..sent.div_ceil(64) + 2 {
                let lo = i * 64;
                if lo >= MAX_SEQ {
                    break;
                }
                let bits = side.bit_word(p, i);
                let n = sent.saturating_sub(lo).min(64);
                let mask = if n == 64 { !0 } else { (1u64 << n) - 1 };
                received += u64::from((bits & mask).count_ones());
                phantom += u64::from((bits & !mask).count_ones());
                let mut absent = !bits & mask;
                while absent != 0 {
                    let s = lo + u64::from(absent.trailing_zeros());
                    absent &= absent - 1;
                    if !self.uncertain.contains(&(p, s)) {
                        missing.insert((p, s));
                    }
                }
            }
        }
        let delivered = self
            .uncertain
            .iter()
            .filter(|&&(p, s)| side.bit(p, s))
            .count();
        let consumers = self.producers..self.workers;
        let dups = self.sum(consumers.clone(), W_DUPS);
        let disorder = self.sum(consumers.clone(), W_DISORDER);
        let corrupt = self.sum(consumers.clone(), W_CORRUPT);
        let skipped = consumers.map(|w| side.get(w, W_SKIPPED)).max().unwrap_or(0);
        // A message a killed consumer's receive call had taken but not
        // returned: each gap matched to a distinct such kill.
        let gaps = self.match_gaps(&mut missing);
        let lost = missing.len();
        if lost > 0 {
            let first: Vec<String> = missing
                .iter()
                .take(10)
                .map(|(p, s)| format!("{p}:{s}"))
                .collect();
            problems.push(format!(
                "{lost} committed messages lost (never received, not explained by a receiver \
                 death), first producer:seq {}",
                first.join(", ")
            ));
            for &m in missing.iter().take(3) {
                problems.push(self.around(m));
            }
        }
        for (n, what) in [
            (dups, "duplicated"),
            (disorder, "out of order"),
            (corrupt, "corrupted or never sent"),
            (phantom, "marked beyond what was sent"),
        ] {
            if n > 0 {
                problems.push(format!(
                    "{n} messages {what} (details above, from the children)"
                ));
            }
        }
        let st = &self.st;
        let mut s = format!(
            "{received} messages checked, lost {lost}, duplicated {dups}, gaps by receiver death \
             {gaps} (of {} receiver kills inside a receive call; {} receipts completed from the \
             side channel), sends in flight at a kill {} ({delivered} delivered, {} not)",
            st.recv_call_kills,
            st.completed,
            st.in_flight,
            st.in_flight - delivered as u64
        );
        if self.kind == Kind::MpscBytes {
            s += &format!(", records skipped by the ring {skipped}");
        }
        s
    }

    /// Removes from `missing` the messages a killed consumer may have taken
    /// to its grave, one per kill inside a receive call, and returns how
    /// many ([`gaps::match_gaps`] has the rule).
    fn match_gaps(&self, missing: &mut BTreeSet<(usize, u64)>) -> usize {
        let side = self.side;
        let one = self.kind.consumers() == 1;
        gaps::match_gaps(missing, &self.snaps, one, |p, s| side.bit(p, s))
    }

    /// What the run knows around a lost message `p:s`: the receivers
    /// killed inside a receive call that expected a number of `p` near
    /// it, and which numbers around it were received or in flight at a
    /// producer's kill.
    fn around(&self, (p, s): (usize, u64)) -> String {
        let side = self.side;
        let kills: Vec<String> = self
            .snaps
            .iter()
            .filter(|k| k.per[p].0 <= s + 8 && s < k.per[p].0 + 64)
            .map(|k| {
                format!(
                    "kill {} expected {p}:{} (sent {})",
                    k.kill, k.per[p].0, k.per[p].1
                )
            })
            .collect();
        let near: Vec<String> = (s.saturating_sub(4)..s + 5)
            .map(|n| {
                let what = if side.bit(p, n) {
                    "received"
                } else if self.uncertain.contains(&(p, n)) {
                    "in flight at a kill"
                } else {
                    "never received"
                };
                format!("{n} {what}")
            })
            .collect();
        format!(
            "{p}:{s}: receivers killed in a call near it: [{}]; numbers around it: {}",
            kills.join(", "),
            near.join(", ")
        )
    }

    /// The semaphore: units posted (recorded, plus at most one unrecorded
    /// per poster killed in a post) equal units taken (recorded, plus at
    /// most one unrecorded per waiter killed in a wait) plus the count left.
    fn check_units(&mut self, problems: &mut Vec<String>) -> Result<String, String> {
        // Every number handed out was posted with `Ok`, or was in flight
        // at a kill.
        let posts = self.sum(0..self.producers, W_SENT) - self.st.in_flight;
        let taken = self.sum(self.producers..self.workers, W_TAKEN);
        let left = u64::from(kinds::semaphore_value(self.name).ctx("semaphore value")?);
        let (unsure_posts, unsure_takes) = (self.st.in_flight, self.st.recv_call_kills);
        let have = taken + left;
        let lost = posts.saturating_sub(have + unsure_takes);
        let extra = have.saturating_sub(posts + unsure_posts);
        if lost > 0 {
            problems.push(format!(
                "{lost} posted units lost: {posts} posts returned Ok, {taken} waits took a unit, \
                 {left} left, {unsure_takes} waiters killed inside a wait"
            ));
        }
        if extra > 0 {
            problems.push(format!(
                "{extra} units taken that nobody posted: {posts} posts returned Ok \
                 (+{unsure_posts} in flight at a kill), {taken} taken, {left} left"
            ));
        }
        // Units are alike: a post in flight that landed and a unit a killed
        // waiter took unrecorded cancel out, so only their balance is known.
        let balance = have as i64 - posts as i64;
        Ok(format!(
            "{posts} posts and {taken} waits checked ({left} units left), lost {lost}, \
             duplicated {extra}; taken + left - posted = {balance:+}, allowed from \
             -{unsure_takes} (waiter kills inside a wait) to +{unsure_posts} (posts in flight at \
             a kill)"
        ))
    }

    /// With every endpoint closed or killed, the channel is stale and
    /// `remove_stale` (`ipckit rm --stale`) removes it.
    fn check_stale(&mut self, problems: &mut Vec<String>, line: &mut String) -> Result<(), String> {
        let info = channel::inspect(self.name).ctx("inspect")?;
        if info.status != ChannelStatus::Stale {
            // Only the slots that keep it alive, with a count of the rest.
            let alive: Vec<String> = info
                .endpoints
                .iter()
                .filter(|e| e.alive)
                .map(|e| {
                    let dead = !e.process.is_alive();
                    format!(
                        "{:?} slot {} {:?} pid {}{}",
                        e.role,
                        e.slot,
                        e.state,
                        e.process.pid,
                        if dead { " (dead)" } else { "" }
                    )
                })
                .collect();
            problems.push(format!(
                "every endpoint closed or was killed, yet the channel is {:?}: `ipckit rm \
                 --stale` keeps it; counted alive: [{}] ({} slots used)",
                info.status,
                alive.join(", "),
                info.endpoints.len()
            ));
            return Ok(());
        }
        let removed = channel::remove_stale().ctx("remove_stale")?;
        if !removed.iter().any(|n| n == self.name) {
            problems.push(format!(
                "remove_stale did not remove it (removed {removed:?})"
            ));
        } else if std::path::Path::new("/dev/shm").join(self.name).exists() {
            problems.push("remove_stale reported it removed, yet it is in /dev/shm".into());
        } else {
            *line += "; stale at the end, removed by remove_stale";
        }
        Ok(())
    }
}
