//! The verdict of a topic run: the subscribers checked every receipt as
//! it came (`crate::topics`); here their counts are summed, and any
//! anomaly fails the run.

use super::Harness;
use crate::kinds::Kind;
use crate::side::*;

impl Harness<'_> {
    /// The subscribers' counts; a problem for every anomaly.
    pub(super) fn check_topic(&mut self, problems: &mut Vec<String>) -> String {
        let subs = self.producers..self.workers;
        let get = |f| self.sum(subs.clone(), f);
        let (received, lags, lag_events) = (get(W_TAKEN), get(W_LAGS), get(W_LAG_EVENTS));
        let (dups, disorder, corrupt) = (get(W_DUPS), get(W_DISORDER), get(W_CORRUPT));
        let (silent, lost, freed) = (get(W_SILENT), get(W_LOST), get(W_FREED));
        for (n, what) in [
            (
                dups,
                "received twice (a position at or before one already read)",
            ),
            (disorder, "received out of order"),
            (
                corrupt,
                "corrupted, never published, or with an impossible Lagged(n)",
            ),
            (
                silent,
                "skipped with no Lagged report, or drained short of tail",
            ),
            (
                lost,
                "lost that the policy promised (see the children's messages)",
            ),
            (
                freed,
                "lagged by a reliable member whose table entry was freed under it (a late \
                 release: see the children's messages)",
            ),
        ] {
            if n > 0 {
                problems.push(format!(
                    "{n} messages {what} (details above, from the children)"
                ));
            }
        }
        let published = self.side.get(0, W_COMMITTED);
        let policy = if self.kind == Kind::PubsubReliable {
            "reliable: no lag after a join"
        } else {
            "lossy: received + lagged = published since each join"
        };
        format!(
            "{received} items received and checked by the subscribers ({policy}), {lags} \
             reported lost in {lag_events} Lagged reports; duplicated {dups}, out of order \
             {disorder}, corrupt {corrupt}, skipped silently {silent}, lost {lost}, lags with \
             the entry freed under the member {freed}; {published} \
             numbers published, {} in flight at a publisher kill; {} subscriber kills inside \
             a receive call",
            self.st.in_flight, self.st.recv_call_kills
        )
    }
}
