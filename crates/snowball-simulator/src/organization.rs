//! The simulated AWS Organization: its accounts, and which account a
//! request's credentials belong to. Account 0 is the management account: the
//! caller's own, whose base credentials any access key id stands for, except
//! the temporary ones AssumeRole hands out.

use serde::Serialize;

/// The id of the simulated organization's `index`-th account: 12 digits with
/// a leading zero, as real ids can have (they are text, never numbers).
pub fn account_id(index: usize) -> String {
    format!("{:012}", 12_345_678_900 + index as u64)
}

/// Temporary access key ids from AssumeRole start with this, then the account id.
const ASSUMED_KEY_PREFIX: &str = "ASIASIM";

pub fn assumed_access_key(account: &str) -> String {
    format!("{ASSUMED_KEY_PREFIX}{account}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// ACTIVE or SUSPENDED.
    pub status: &'static str,
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub accounts: Vec<Account>,
}

impl Organization {
    /// `count` accounts (at least one), the `suspended` indexes SUSPENDED.
    pub fn new(count: usize, suspended: &[usize]) -> Organization {
        let accounts = (0..count.max(1))
            .map(|index| Account {
                id: account_id(index),
                name: if index == 0 {
                    "management".to_owned()
                } else {
                    format!("member-{index}")
                },
                status: if suspended.contains(&index) {
                    "SUSPENDED"
                } else {
                    "ACTIVE"
                },
            })
            .collect();
        Organization { accounts }
    }

    /// The index of the account an access key id belongs to; None for a
    /// temporary key of an account outside the organization.
    pub fn account_of_key(&self, access_key_id: &str) -> Option<usize> {
        match access_key_id.strip_prefix(ASSUMED_KEY_PREFIX) {
            Some(account) => self.index_of(account),
            None => Some(0),
        }
    }

    pub fn index_of(&self, account: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.id == account)
    }
}

/// The access key id of a SigV4 Authorization header:
/// `Credential=AKID/20261128/us-east-1/snowball/aws4_request`.
pub fn access_key_of(authorization: Option<&str>) -> &str {
    authorization
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').next())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_map_to_their_accounts() {
        let org = Organization::new(3, &[2]);
        assert_eq!(org.account_of_key("AKIDANYTHING"), Some(0));
        assert_eq!(
            org.account_of_key(&assumed_access_key(&account_id(2))),
            Some(2)
        );
        assert_eq!(
            org.account_of_key(&assumed_access_key("999999999999")),
            None
        );
        assert_eq!(org.accounts[2].status, "SUSPENDED");
        assert_eq!(account_id(0), "012345678900");
    }
}
