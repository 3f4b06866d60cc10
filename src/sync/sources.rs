//! Where a run's accounts come from, and who each set of credentials really
//! is. Every credential set is resolved to its account with STS
//! GetCallerIdentity, once per run, before any lock is taken or any job is
//! listed: the account a job is stored under is what AWS says, not what a
//! flag claimed.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_snowball::config::SharedCredentialsProvider;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::AccountSources;
use crate::snowball::{ApiCounter, describe_error};

/// An account to list, with the AWS configuration whose credentials reach it.
#[derive(Debug, Clone)]
pub struct Source {
    pub account_id: String,
    pub sdk: SdkConfig,
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

/// Who the base credentials are: their account and partition.
struct Caller {
    account_id: String,
    partition: String,
}

/// Resolves the run's accounts. Fails as a whole only when the base
/// credentials themselves cannot be identified, or the organization cannot
/// be listed: then nothing can be attributed.
pub async fn resolve(
    sources: &AccountSources,
    base: &SdkConfig,
    concurrency: usize,
    counter: &ApiCounter,
) -> anyhow::Result<Accounts> {
    // Who we are and what the organization holds are asked at the same time.
    let organization = async {
        match &sources.organization_role {
            Some(_) => organization_accounts(base, counter).await.map(Some),
            None => Ok(None),
        }
    };
    let (caller, organization) = tokio::join!(identify(base, counter), organization);
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
            sdk: base.clone(),
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
            let result = assume(&base, &arn, &session, external_id, &counter).await;
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
            Ok((account_id, sdk)) => accounts.sources.push(Source { account_id, sdk }),
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

/// GetCallerIdentity with `sdk`'s credentials.
async fn identify(sdk: &SdkConfig, counter: &ApiCounter) -> anyhow::Result<Caller> {
    let config = aws_sdk_sts::config::Builder::from(sdk)
        .interceptor(counter.clone())
        .build();
    let identity = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| anyhow!("{}", describe_error(&err)))?;
    let account_id = identity
        .account()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow!("GetCallerIdentity returned no account"))?
        .to_owned();
    let partition = identity
        .arn()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_owned();
    Ok(Caller {
        account_id,
        partition,
    })
}

/// The configuration for a role's account, and the account STS says it is.
async fn assume(
    base: &SdkConfig,
    arn: &str,
    session: &str,
    external_id: Option<String>,
    counter: &ApiCounter,
) -> anyhow::Result<(String, SdkConfig)> {
    let mut builder = AssumeRoleProvider::builder(arn)
        .session_name(session)
        .configure(base);
    if let Some(id) = external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    // A cache of its own: one AssumeRole per account per run, shared by
    // that account's clients.
    let sdk = base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .identity_cache(IdentityCache::lazy().build())
        .build();
    let caller = identify(&sdk, counter).await?;
    Ok((caller.account_id, sdk))
}

/// The ACTIVE accounts of the organization, paged with Organizations
/// ListAccounts from the base credentials.
async fn organization_accounts(
    base: &SdkConfig,
    counter: &ApiCounter,
) -> anyhow::Result<Vec<String>> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    let config = aws_sdk_organizations::config::Builder::from(base)
        .interceptor(counter.clone())
        .build();
    let client = aws_sdk_organizations::Client::from_conf(config);
    let mut accounts = Vec::new();
    let mut token: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    loop {
        let page = client
            .list_accounts()
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|err| anyhow!("{}", describe_error(&err)))
            .context("listing the organization's accounts (Organizations ListAccounts)")?;
        for account in page.accounts() {
            // State replaced Status (retired September 2026); older answers carry only Status.
            let active = match (account.state(), account.status()) {
                (Some(state), _) => *state == AccountState::Active,
                (None, Some(status)) => *status == AccountStatus::Active,
                (None, None) => false,
            };
            match account.id() {
                Some(id) if active => accounts.push(id.to_owned()),
                Some(id) => {
                    tracing::info!(account_id = id, state = ?account.state().or(None), "skipping an account that is not ACTIVE")
                }
                None => tracing::warn!("ListAccounts returned an account without an id"),
            }
        }
        match page.next_token().filter(|t| !t.is_empty()) {
            None => return Ok(accounts),
            Some(next) if !seen.insert(next.to_owned()) => {
                anyhow::bail!(
                    "Organizations ListAccounts repeated a NextToken; the account list would be truncated"
                )
            }
            Some(next) => token = Some(next.to_owned()),
        }
    }
}
