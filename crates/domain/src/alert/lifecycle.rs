//! The alert state machine of spec/05 "Alert lifecycle", the one place transitions are decided:
//!
//! ```text
//! created ──notify──▶ notified ──ack──▶ ack ──resolve──▶ resolved ──close──▶ closed
//!    └──────────────ack──────────────────▲      └──resolve (from created/notified) also allowed
//! ```

use crate::catalog::AlertStatus;

hg_platform::code_enum! {
    /// What may be done to an alert.
    pub enum Transition {
        /// A first notification reached someone.
        Notify => "notify",
        /// A person took charge of it.
        Ack => "ack",
        /// The episode is over (with an outcome).
        Resolve => "resolve",
        /// Filed away.
        Close => "close",
    }
}

/// The id of the error an illegal transition answers (422).
pub const ILLEGAL: &str = "HG-ALERT-TRANSITION";

impl Transition {
    /// The status `from` moves to, or None when this transition is not allowed from it.
    pub fn apply(self, from: AlertStatus) -> Option<AlertStatus> {
        use AlertStatus::*;
        match (self, from) {
            (Transition::Notify, Created) => Some(Notified),
            (Transition::Ack, Created | Notified) => Some(Ack),
            (Transition::Resolve, Created | Notified | Ack) => Some(Resolved),
            (Transition::Close, Resolved) => Some(Closed),
            _ => None,
        }
    }

    /// The statuses this transition leaves from (for a conditional update: `status = any(…)`).
    pub fn sources(self) -> Vec<&'static str> {
        AlertStatus::ALL
            .iter()
            .filter(|s| self.apply(**s).is_some())
            .map(|s| s.code())
            .collect()
    }

    /// What the history calls it.
    pub fn history_action(self) -> &'static str {
        match self {
            Transition::Notify => "notified",
            Transition::Ack => "acknowledged",
            Transition::Resolve => "resolved",
            Transition::Close => "closed",
        }
    }
}

/// Whether an alert in `status` is open (dedupes new triggers, escalates, shows as active).
pub fn is_open(status: AlertStatus) -> bool {
    matches!(
        status,
        AlertStatus::Created | AlertStatus::Notified | AlertStatus::Ack
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertStatus::*;

    #[test]
    fn exactly_the_transitions_of_the_spec_are_legal() {
        let legal = [
            (Transition::Notify, Created, Notified),
            (Transition::Ack, Created, Ack),
            (Transition::Ack, Notified, Ack),
            (Transition::Resolve, Created, Resolved),
            (Transition::Resolve, Notified, Resolved),
            (Transition::Resolve, Ack, Resolved),
            (Transition::Close, Resolved, Closed),
        ];
        let mut count = 0;
        for t in Transition::ALL {
            for from in AlertStatus::ALL {
                let expected = legal
                    .iter()
                    .find(|(lt, lf, _)| lt == t && lf == from)
                    .map(|(_, _, to)| *to);
                assert_eq!(t.apply(*from), expected, "{t} from {from}");
                count += 1;
            }
        }
        assert_eq!(count, 20, "every pair was checked");
    }

    #[test]
    fn sources_list_the_statuses_a_transition_leaves() {
        assert_eq!(Transition::Ack.sources(), vec!["created", "notified"]);
        assert_eq!(Transition::Close.sources(), vec!["resolved"]);
    }

    #[test]
    fn open_is_created_notified_or_ack() {
        let open: Vec<_> = AlertStatus::ALL.iter().filter(|s| is_open(**s)).collect();
        assert_eq!(open, [&Created, &Notified, &Ack]);
    }
}
