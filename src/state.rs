//! Job and cluster states: the wire strings the service sends, kept as sent
//! (a state this build has never heard of stays what it was), and the one
//! definition of the final ones, after which the service changes nothing.
//! In SQL the same question is `snowball.is_final_state(state)`, which
//! statements and views ask instead of listing the states again.

/// The state of a finished job or cluster.
pub const COMPLETE: &str = "Complete";
/// The state of a cancelled job or cluster.
pub const CANCELLED: &str = "Cancelled";

/// A job's or cluster's state, as the service spelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State<'a>(&'a str);

impl<'a> State<'a> {
    pub fn new(wire: &'a str) -> State<'a> {
        State(wire)
    }

    pub fn as_str(self) -> &'a str {
        self.0
    }

    /// Complete or Cancelled: the service changes nothing after either.
    pub fn is_final(self) -> bool {
        self.0 == COMPLETE || self.0 == CANCELLED
    }

    pub fn is_complete(self) -> bool {
        self.0 == COMPLETE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_and_cancelled_are_final_and_unknown_states_are_not() {
        let finals: Vec<&str> = [
            "New",
            "PreparingAppliance",
            "InTransitToAWS",
            "WithAWS",
            "InProgress",
            "Complete",
            "Cancelled",
            "Listing",
            "SomethingNew",
        ]
        .into_iter()
        .filter(|s| State::new(s).is_final())
        .collect();
        assert_eq!(finals, ["Complete", "Cancelled"]);
        assert!(State::new("Complete").is_complete());
        assert!(!State::new("Cancelled").is_complete());
    }
}
