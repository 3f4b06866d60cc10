//! Where a run's accounts come from, and who each set of credentials really
//! is. Every credential set is resolved to its account with STS
//! GetCallerIdentity, once per run, before any lock is taken or any job is
//! listed: the account a job is stored under is what AWS says, not what a
//! flag claimed.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::aws::{self, Access, ApiCounter};
use crate::config::AccountSources;

/// An account to list, with the AWS configuration whose credentials reach it.
#[derive(Debug, Clone)]
pub struct Source {
    pub account_id: String,
    pub access: Access,
}

/// An account that was to be listed but whose credentials failed (AssumeRole
/// denied, say): every region of it counts as a failed listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub account_id: String,
    pub error: String,
}

#[derive(Debug, Default)]
pub struct Accounts {
    /// Sorted by account id, each account once.
    pub sources: Vec<Source>,
    pub unreachable: Vec<Unreachable>,
}

impl Accounts {
    /// Every account the run was to list, reachable or not, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .sources
            .iter()
            .map(|s| s.account_id.clone())
            .chain(self.unreachable.iter().map(|u| u.account_id.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Resolves the run's accounts. Fails as a whole only when the base
/// credentials themselves cannot be identified, or the organization cannot
/// be listed: then nothing can be attributed.
pub async fn resolve(
    sources: &AccountSources,
    base: &Access,
    concurrency: usize,
    counter: &ApiCounter,
) -> anyhow::Result<Accounts> {
    // Who we are and what the organization holds are asked at the same time.
    let organization = async {
        match &sources.organization_role {
            Some(_) => aws::organization_accounts(base, counter).await.map(Some),
            None => Ok(None),
        }
    };
    let (caller, organization) = tokio::join!(aws::identify(base, counter), organization);
    let caller =
        caller.context("identifying the base credentials' account (STS GetCallerIdentity)")?;
    let organization = organization?;
    let skipped = |account: &str| sources.skip_accounts.iter().any(|s| s.as_str() == account);
    // Roles to assume, by the account they should lead to.
    let mut roles: BTreeMap<String, String> = BTreeMap::new();
    let mut own = sources.role_arns.is_empty() && sources.organization_role.is_none();
    for arn in &sources.role_arns {
        roles
            .entry(arn.account().to_string())
            .or_insert_with(|| arn.as_str().to_owned());
    }
    if let (Some(role), Some(members)) = (&sources.organization_role, organization) {
        for account in members {
            if account == caller.account_id {
                own = true;
            } else {
                roles.entry(account.clone()).or_insert_with(|| {
                    format!("arn:{}:iam::{account}:role/{role}", caller.partition)
                });
            }
        }
    }
    let mut accounts = Accounts::default();
    if own && !skipped(&caller.account_id) {
        accounts.sources.push(Source {
            account_id: caller.account_id.clone(),
            access: base.clone(),
        });
    }
    // Our own account, when synced, is listed with the base credentials.
    let listed_directly = |account: &str| own && account == caller.account_id;
    roles.retain(|account, _| !(skipped(account) || listed_directly(account)));
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut assuming = JoinSet::new();
    for (account, arn) in roles {
        let (base, counter, permits) = (base.clone(), counter.clone(), permits.clone());
        let (session, external_id) = (sources.session_name.clone(), sources.external_id.clone());
        assuming.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = aws::assume(&base, &arn, &session, external_id, &counter).await;
            (account, arn, result)
        });
    }
    while let Some(joined) = assuming.join_next().await {
        let (expected, arn, result) = joined.context("an AssumeRole task failed")?;
        match result {
            Ok((account_id, _)) if account_id != expected => {
                accounts.unreachable.push(Unreachable {
                    account_id: expected,
                    error: format!("{arn} led to account {account_id}"),
                });
            }
            Ok((account_id, access)) => accounts.sources.push(Source { account_id, access }),
            Err(err) => accounts.unreachable.push(Unreachable {
                account_id: expected,
                error: format!("assuming {arn}: {err:#}"),
            }),
        }
    }
    accounts
        .sources
        .sort_by(|a, b| a.account_id.cmp(&b.account_id));
    accounts
        .unreachable
        .sort_by(|a, b| a.account_id.cmp(&b.account_id));
    Ok(accounts)
}
