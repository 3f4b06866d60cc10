//! STS and Organizations: who a set of credentials is, the credentials a
//! role gives, and the accounts of the organization.

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_snowball::config::SharedCredentialsProvider;

use super::{Access, ApiCounter, ApiError, ErrorKind, Operation, call_error};

/// Who a set of credentials is: its account and partition.
pub struct Caller {
    pub account_id: String,
    pub partition: String,
}

/// GetCallerIdentity with `access`'s credentials.
pub async fn identify(access: &Access, counter: &ApiCounter) -> Result<Caller, ApiError> {
    let config = aws_sdk_sts::config::Builder::from(&access.0)
        .interceptor(counter.clone())
        .build();
    let identity = aws_sdk_sts::Client::from_conf(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|err| call_error(Operation::GetCallerIdentity, &err))?;
    let account_id = identity
        .account()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ApiError::other(
                Operation::GetCallerIdentity,
                "GetCallerIdentity returned no account".to_owned(),
            )
        })?
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
pub async fn assume(
    base: &Access,
    arn: &str,
    session: &str,
    external_id: Option<String>,
    counter: &ApiCounter,
) -> Result<(String, Access), ApiError> {
    let mut builder = AssumeRoleProvider::builder(arn)
        .session_name(session)
        .configure(&base.0);
    if let Some(id) = external_id {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    // A cache of its own: one AssumeRole per account per run, shared by
    // that account's clients.
    let access = Access(
        base.0
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .identity_cache(IdentityCache::lazy().build())
            .build(),
    );
    let caller = identify(&access, counter).await?;
    Ok((caller.account_id, access))
}

/// The ACTIVE accounts of the organization, paged with Organizations
/// ListAccounts from the base credentials.
pub async fn organization_accounts(
    base: &Access,
    counter: &ApiCounter,
) -> Result<Vec<String>, ApiError> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    let config = aws_sdk_organizations::config::Builder::from(&base.0)
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
            .map_err(|err| {
                let mut err = call_error(Operation::ListAccounts, &err);
                err.message = format!(
                    "listing the organization's accounts (Organizations ListAccounts): {}",
                    err.message
                );
                err
            })?;
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
                return Err(ApiError {
                    operation: Operation::ListAccounts,
                    kind: ErrorKind::Other,
                    message: "Organizations ListAccounts repeated a NextToken; the account list would be truncated".to_owned(),
                });
            }
            Some(next) => token = Some(next.to_owned()),
        }
    }
}
