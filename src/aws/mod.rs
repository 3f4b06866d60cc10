//! The AWS boundary: every client a run uses (Snowball, STS, Organizations,
//! and the HTTP stack the report downloads go through) is built here from
//! `AwsConfig`, and every answer leaves as the project's own records and
//! errors. The SDK's and smithy's types stop here: callers hold an `Access`
//! (what reaches one account) and a `Snowball` (a client for one account and
//! region), both opaque.
//!
//! Large because client building, ListJobs' paging and the other operations
//! share one error and paging discipline; the operations are the next thing
//! to split out.

mod convert;
mod download;
mod identity;

pub use download::{Download, DownloadError, Downloader};
pub use identity::{Caller, assume, identify, organization_accounts};

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_snowball::Client;
use aws_sdk_snowball::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_snowball::config::{
    ConfigBag, Credentials, Intercept, Region, RuntimeComponents, SharedHttpClient,
};
use aws_sdk_snowball::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{ConnectorBuilder, tls};

use crate::config::AwsConfig;
use crate::job::JobRecord;

/// What reaches one account: the shared configuration (retries, timeouts,
/// endpoint, the one HTTP client) with that account's credentials.
#[derive(Debug, Clone)]
pub struct Access(aws_config::SdkConfig);

impl Access {
    /// The region of the configuration chain (AWS_REGION, the profile).
    pub fn default_region(&self) -> Option<String> {
        self.0.region().map(ToString::to_string)
    }
}

/// A Snowball client for one account and region.
#[derive(Debug, Clone)]
pub struct Snowball(Client);

/// The shared AWS configuration (credentials, retries, timeouts, endpoint),
/// with the base credentials.
pub async fn load(aws: &AwsConfig) -> Access {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(aws.max_attempts)
                .with_initial_backoff(aws.initial_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(aws.attempt_timeout.min(std::time::Duration::from_secs(10)))
                .operation_attempt_timeout(aws.attempt_timeout)
                .operation_timeout(aws.operation_timeout)
                .build(),
        );
    // Named regions also settle the loader's own region, so it never probes
    // the instance metadata service for one.
    if let Some(region) = aws.regions.first() {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let Some(profile) = &aws.profile {
        // An explicit --profile means that profile's credentials (keys, or a
        // role with its source profile), as for `aws --profile`: left to the
        // standard chain, keys in the environment would win and the run
        // would sync another account than the one asked for.
        tracing::debug!(profile, "credentials from the profile named by --profile");
        loader = loader.profile_name(profile).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build(),
        );
    } else if aws.static_credentials.is_none() {
        tracing::debug!(
            "credentials from the standard chain: environment, AWS_PROFILE or default profile, web identity, container, instance"
        );
    }
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(fixed) = &aws.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            &fixed.access_key_id,
            &fixed.secret_access_key,
            None,
            None,
            "snowball-sync",
        ));
    }
    Access(loader.http_client(http_client()).load().await)
}

/// Fails with a usage error naming the sources tried when no credentials
/// can be found at all: nothing can be attempted, so nothing is.
pub async fn ensure_credentials(access: &Access) -> Result<(), crate::error::Error> {
    use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError};
    let Some(provider) = access.0.credentials_provider() else {
        return Err(crate::error::Error::Usage(
            "no AWS credentials provider".into(),
        ));
    };
    match provider.provide_credentials().await {
        Err(CredentialsError::CredentialsNotLoaded(_)) => Err(crate::error::Error::Usage(
            "no AWS credentials found: tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile (--profile, AWS_PROFILE or default) in the shared config and credentials files, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the container (ECS) and the instance metadata service".into(),
        )),
        // Other failures (a profile's role refused, say) are the run's to report.
        _ => Ok(()),
    }
}

/// The one HTTP client every AWS client of a run shares: what the SDK would
/// build by default (rustls with aws-lc, proxies from the environment), but
/// built once. Left to the SDK, every service client builds its own, loading
/// the trusted certificates again and opening its own connections: a tenth of
/// the run's own CPU time when 100 accounts are listed (scripts/bench.py accounts).
fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        connector(settings.cloned(), components.and_then(|c| c.sleep_impl()))
    })
}

/// The project's HTTP stack: rustls with aws-lc, proxies from the
/// environment (HTTPS_PROXY, NO_PROXY, ...), as the SDK's own default. The
/// report downloads go through it too.
fn connector(
    settings: Option<aws_smithy_runtime_api::client::http::HttpConnectorSettings>,
    sleep: Option<aws_smithy_async::rt::sleep::SharedAsyncSleep>,
) -> aws_smithy_http_client::Connector {
    let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    connector.set_connector_settings(settings);
    connector.set_sleep_impl(sleep);
    connector.set_proxy_config(Some(ProxyConfig::from_env()));
    connector.build()
}

/// A client for one region, counting its requests into `counter`.
pub fn client(access: &Access, region: &str, counter: &ApiCounter) -> Snowball {
    let config = aws_sdk_snowball::config::Builder::from(&access.0)
        .region(Region::new(region.to_owned()))
        .interceptor(counter.clone())
        .build();
    Snowball(Client::from_conf(config))
}

/// Counts API operations and the HTTP attempts they took: the retries the
/// SDK made are attempts minus operations.
#[derive(Debug, Clone, Default)]
pub struct ApiCounter {
    operations: Arc<AtomicU64>,
    attempts: Arc<AtomicU64>,
}

impl ApiCounter {
    /// HTTP requests sent, retries included.
    pub fn requests(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    pub fn retries(&self) -> u64 {
        self.requests()
            .saturating_sub(self.operations.load(Ordering::Relaxed))
    }
}

impl Intercept for ApiCounter {
    fn name(&self) -> &'static str {
        "snowball-sync ApiCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// One ListJobs response, converted.
#[derive(Debug)]
pub struct Page {
    pub account_id: String,
    pub region: String,
    /// 1-based, counting every request of this region's listing.
    pub number: u32,
    pub jobs: Vec<JobRecord>,
}

/// Lists one region to the end, handing each page to `deliver`.
///
/// Pagination is driven here, not by the SDK's paginator, which ends without
/// an error when the service repeats a token: a truncated listing must fail,
/// never look complete. An InvalidNextTokenException restarts the listing
/// from the first page once (writes are idempotent), then fails.
pub async fn list_region<F, Fut>(
    client: &Snowball,
    account_id: &str,
    region: &str,
    page_size: i32,
    max_pages: u32,
    mut deliver: F,
) -> anyhow::Result<u32>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut token: Option<String> = None;
    let mut seen_tokens = HashSet::new();
    let mut pages = 0u32;
    let mut restarted = false;
    loop {
        if pages >= max_pages {
            bail!("{region}: the listing did not end within --max-pages {max_pages} pages");
        }
        let response = client
            .0
            .list_jobs()
            .max_results(page_size)
            .set_next_token(token.clone())
            .send()
            .await;
        let output = match response.map_err(|err| call_error(Operation::ListJobs, &err)) {
            Ok(output) => output,
            Err(error)
                if error.kind == ErrorKind::InvalidToken && token.is_some() && !restarted =>
            {
                tracing::warn!(
                    region,
                    "the service rejected our NextToken; restarting this region's listing once"
                );
                restarted = true;
                token = None;
                seen_tokens.clear();
                continue;
            }
            Err(error) => {
                return Err(anyhow::Error::new(error))
                    .with_context(|| format!("{region}: ListJobs request {} failed", pages + 1));
            }
        };
        pages += 1;
        let next = output.next_token.filter(|t| !t.is_empty());
        let jobs = output
            .job_list_entries
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| JobRecord::from_entry(entry, region))
            .collect();
        deliver(Page {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            number: pages,
            jobs,
        })
        .await?;
        match next {
            None => return Ok(pages),
            Some(next) => {
                if !seen_tokens.insert(next.clone()) {
                    bail!(
                        "{region}: the service repeated a NextToken after {pages} pages; the listing would be truncated"
                    );
                }
                token = Some(next);
            }
        }
    }
}

/// One line for a failed request to any AWS API: the service's error code
/// and message, or the causes of a transport or credentials failure (the
/// SDK's own rendering adds Debug dumps).
fn describe_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    match err {
        SdkError::ServiceError(service) => format!(
            "{} (HTTP {}): {}",
            service.err().code().unwrap_or("unknown error"),
            service.raw().http_status(),
            service.err().message().unwrap_or("no message")
        ),
        SdkError::TimeoutError(_) => {
            "timeout: no answer within --timeout or --operation-timeout".to_owned()
        }
        other => crate::error::one_line(other),
    }
}

/// The HTTP status of a raw response, for error lines.
pub trait HttpStatus {
    fn http_status(&self) -> u16;
}

impl HttpStatus for aws_sdk_snowball::config::http::HttpResponse {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The Snowball API operations a run calls, by their names in the service's
/// model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// STS: who a set of credentials is (and, through the credentials
    /// provider, whether a role could be assumed).
    GetCallerIdentity,
    /// Organizations: the organization's accounts.
    ListAccounts,
    ListJobs,
    DescribeJob,
    GetSnowballUsage,
    ListClusters,
    DescribeCluster,
    ListClusterJobs,
    ListLongTermPricing,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetCallerIdentity => "GetCallerIdentity",
            Operation::ListAccounts => "ListAccounts",
            Operation::ListJobs => "ListJobs",
            Operation::DescribeJob => "DescribeJob",
            Operation::GetSnowballUsage => "GetSnowballUsage",
            Operation::ListClusters => "ListClusters",
            Operation::DescribeCluster => "DescribeCluster",
            Operation::ListClusterJobs => "ListClusterJobs",
            Operation::ListLongTermPricing => "ListLongTermPricing",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// Operations sort by name, so that lines listing them read alphabetically.
impl Ord for Operation {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Operation {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What went wrong with a call, as the pipeline branches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// AccessDeniedException: a permission is missing; asking again in the
    /// same account will not help.
    Denied,
    /// The service's throttling, after the SDK's retries.
    Throttled,
    /// The service rejected a NextToken.
    InvalidToken,
    /// InvalidResourceException: no such job or cluster.
    NotFound,
    /// A timeout, a lost connection or a server error, after the retries.
    Transient,
    /// Anything else, a malformed answer or a listing that would not end
    /// included.
    Other,
}

/// A failed call: which operation, what kind of failure, and the service's
/// code and message (or the transport's error) on one line.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub operation: Operation,
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    fn other(operation: Operation, message: String) -> ApiError {
        ApiError {
            operation,
            kind: ErrorKind::Other,
            message,
        }
    }
}

/// A failed call as an `ApiError`: AccessDeniedException and the throttling
/// codes are not in the model's error shapes, so they are known by code.
fn call_error<E, R>(operation: Operation, err: &SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    let kind = match err {
        SdkError::ServiceError(service) => match service.err().code() {
            Some("AccessDeniedException") => ErrorKind::Denied,
            Some(
                "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded",
            ) => ErrorKind::Throttled,
            Some("InvalidNextTokenException") => ErrorKind::InvalidToken,
            Some("InvalidResourceException") => ErrorKind::NotFound,
            _ if service.raw().http_status() >= 500 => ErrorKind::Transient,
            _ => ErrorKind::Other,
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorKind::Transient
        }
        _ => ErrorKind::Other,
    };
    ApiError {
        operation,
        kind,
        message: describe_error(err),
    }
}

/// GetSnowballUsage in the client's account and region: (SnowballLimit,
/// SnowballsInUse), as sent (absent stays None).
pub async fn get_usage(client: &Snowball) -> Result<(Option<i64>, Option<i64>), ApiError> {
    match client.0.get_snowball_usage().send().await {
        Ok(output) => Ok((
            output.snowball_limit().map(i64::from),
            output.snowballs_in_use().map(i64::from),
        )),
        Err(err) => Err(call_error(Operation::GetSnowballUsage, &err)),
    }
}

/// DescribeJob of one job: its details and, for an export's main job, its
/// parts'. The SDK's typed answer gives the typed fields; the raw answer, read
/// by a per-request interceptor, gives the rest of JobMetadata as sent.
pub async fn describe_job(client: &Snowball, job_id: &str) -> Result<Description, ApiError> {
    let capture = RawAnswer::default();
    let answer = client
        .0
        .describe_job()
        .job_id(job_id)
        .customize()
        .config_override(aws_sdk_snowball::config::Builder::default().interceptor(capture.clone()))
        .send()
        .await;
    let output = match answer {
        Ok(output) => output,
        Err(err) => return Err(call_error(Operation::DescribeJob, &err)),
    };
    let raw = capture.json();
    let raw_part = |key: &str, index: Option<usize>| {
        let value = raw.as_ref()?.get(key)?;
        match index {
            None => Some(value),
            Some(i) => value.get(i),
        }
    };
    let main = output
        .job_metadata()
        .and_then(|m| crate::detail::DetailRecord::from_metadata(m, raw_part("JobMetadata", None)));
    let Some(main) = main else {
        return Err(ApiError::other(
            Operation::DescribeJob,
            "the DescribeJob answer has no JobMetadata".to_owned(),
        ));
    };
    let parts = output
        .sub_job_metadata()
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            crate::detail::DetailRecord::from_metadata(m, raw_part("SubJobMetadata", Some(i)))
        });
    let links = output
        .job_metadata()
        .into_iter()
        .chain(output.sub_job_metadata())
        .flat_map(convert::report_links)
        .collect();
    Ok(Description {
        records: std::iter::once(main).chain(parts).collect(),
        links,
    })
}

/// One DescribeJob answer: the job's record (then its parts'), and the
/// reports any of them has (their URLs valid for an hour).
#[derive(Debug)]
pub struct Description {
    pub records: Vec<crate::detail::DetailRecord>,
    pub links: Vec<crate::archive::ReportLink>,
}

/// Keeps the raw body of one response (JSON or CBOR, as JSON): DescribeJob's
/// metadata is stored as the service sent it, fields this SDK does not know
/// included. Never logged.
#[derive(Debug, Clone, Default)]
struct RawAnswer(Arc<std::sync::Mutex<Option<serde_json::Value>>>);

impl RawAnswer {
    fn json(&self) -> Option<serde_json::Value> {
        self.0.lock().ok().and_then(|mut raw| raw.take())
    }
}

impl Intercept for RawAnswer {
    fn name(&self) -> &'static str {
        "snowball-sync RawAnswer"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_snowball::config::interceptors::AfterDeserializationInterceptorContextRef<
            '_,
        >,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let value = context
            .response()
            .body()
            .bytes()
            .and_then(|body| match body.first() {
                Some(b'{') => serde_json::from_slice(body).ok(),
                _ => ciborium::from_reader::<ciborium::Value, _>(body)
                    .ok()
                    .map(cbor_json::to_json),
            });
        if let Ok(mut raw) = self.0.lock() {
            *raw = value;
        }
        Ok(())
    }
}

/// Every page of a listing other than ListJobs, driven as `list_region`
/// drives ListJobs: a repeated NextToken fails the listing (a paginator that
/// stopped there would make it look complete), an InvalidNextTokenException
/// restarts it from the first page once, more than `max_pages` pages fail it.
/// Returns the entries of every page and the number of pages.
async fn all_pages<T, E, Fut>(
    operation: Operation,
    max_pages: u32,
    mut fetch: impl FnMut(Option<String>) -> Fut,
) -> Result<(Vec<T>, u32), ApiError>
where
    Fut: std::future::Future<
            Output = Result<
                (Vec<T>, Option<String>),
                SdkError<E, aws_sdk_snowball::config::http::HttpResponse>,
            >,
        >,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut token: Option<String> = None;
    let mut seen_tokens = HashSet::new();
    let mut entries = Vec::new();
    let mut pages = 0u32;
    let mut restarted = false;
    loop {
        if pages >= max_pages {
            return Err(ApiError::other(
                operation,
                format!("{operation} did not end within --max-pages {max_pages} pages"),
            ));
        }
        let (page, next) = match fetch(token.clone())
            .await
            .map_err(|err| call_error(operation, &err))
        {
            Ok(answer) => answer,
            Err(error)
                if error.kind == ErrorKind::InvalidToken && token.is_some() && !restarted =>
            {
                tracing::warn!(
                    operation = operation.name(),
                    "the service rejected our NextToken; restarting this listing once"
                );
                restarted = true;
                token = None;
                seen_tokens.clear();
                entries.clear();
                continue;
            }
            Err(error) => return Err(error),
        };
        pages += 1;
        entries.extend(page);
        match next.filter(|t| !t.is_empty()) {
            None => return Ok((entries, pages)),
            Some(next) if !seen_tokens.insert(next.clone()) => {
                return Err(ApiError::other(
                    operation,
                    format!(
                        "the service repeated a NextToken after {pages} {operation} pages; the listing would be truncated"
                    ),
                ));
            }
            Some(next) => token = Some(next),
        }
    }
}

/// ListClusters in the client's account and region, every page.
pub async fn list_clusters(
    client: &Snowball,
    region: &str,
    max_pages: u32,
) -> Result<(Vec<crate::estate::ClusterRecord>, u32), ApiError> {
    all_pages(Operation::ListClusters, max_pages, |token| async move {
        let output = client
            .0
            .list_clusters()
            .max_results(100)
            .set_next_token(token)
            .send()
            .await?;
        let clusters = output
            .cluster_list_entries()
            .iter()
            .filter_map(|e| crate::estate::ClusterRecord::from_entry(e, region))
            .collect();
        Ok((clusters, output.next_token))
    })
    .await
}

/// The job ids of a cluster, every page of ListClusterJobs.
pub async fn list_cluster_jobs(
    client: &Snowball,
    cluster_id: &str,
    max_pages: u32,
) -> Result<Vec<String>, ApiError> {
    let (ids, _) = all_pages(Operation::ListClusterJobs, max_pages, |token| async move {
        let output = client
            .0
            .list_cluster_jobs()
            .cluster_id(cluster_id)
            .max_results(100)
            .set_next_token(token)
            .send()
            .await?;
        let ids = output
            .job_list_entries()
            .iter()
            .filter_map(|e| e.job_id().map(|id| id.replace('\0', "")))
            .collect();
        Ok((ids, output.next_token))
    })
    .await?;
    Ok(ids)
}

/// ListLongTermPricing in the client's account and region, every page.
pub async fn list_long_term_pricing(
    client: &Snowball,
    region: &str,
    max_pages: u32,
) -> Result<(Vec<crate::estate::TermRecord>, u32), ApiError> {
    all_pages(
        Operation::ListLongTermPricing,
        max_pages,
        |token| async move {
            let output = client
                .0
                .list_long_term_pricing()
                .max_results(100)
                .set_next_token(token)
                .send()
                .await?;
            let terms = output
                .long_term_pricing_entries()
                .iter()
                .filter_map(|e| crate::estate::TermRecord::from_entry(e, region))
                .collect();
            Ok((terms, output.next_token))
        },
    )
    .await
}

/// DescribeCluster of one cluster: its type and the rest of its metadata as
/// sent (read by a per-request interceptor, as for DescribeJob).
pub async fn describe_cluster(
    client: &Snowball,
    cluster_id: &str,
) -> Result<crate::estate::ClusterDescription, ApiError> {
    let capture = RawAnswer::default();
    let output = client
        .0
        .describe_cluster()
        .cluster_id(cluster_id)
        .customize()
        .config_override(aws_sdk_snowball::config::Builder::default().interceptor(capture.clone()))
        .send()
        .await
        .map_err(|err| call_error(Operation::DescribeCluster, &err))?;
    let raw = capture.json();
    let raw = raw.as_ref().and_then(|r| r.get("ClusterMetadata"));
    match output.cluster_metadata() {
        Some(metadata) => Ok(crate::estate::ClusterDescription::from_metadata(
            metadata, raw,
        )),
        None => Err(ApiError::other(
            Operation::DescribeCluster,
            "the DescribeCluster answer has no ClusterMetadata".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_snowball::operation::describe_job::DescribeJobError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn refused(code: &str, status: u16) -> ErrorKind {
        let response = aws_sdk_snowball::config::http::HttpResponse::new(
            status.try_into().expect("an HTTP status"),
            SdkBody::empty(),
        );
        let error = DescribeJobError::generic(ErrorMetadata::builder().code(code).build());
        call_error(
            Operation::DescribeJob,
            &SdkError::service_error(error, response),
        )
        .kind
    }

    #[test]
    fn a_failed_call_is_told_by_its_code_then_by_its_status() {
        assert_eq!(refused("AccessDeniedException", 400), ErrorKind::Denied);
        assert_eq!(refused("ThrottlingException", 400), ErrorKind::Throttled);
        assert_eq!(
            refused("InvalidNextTokenException", 400),
            ErrorKind::InvalidToken
        );
        assert_eq!(
            refused("InvalidResourceException", 400),
            ErrorKind::NotFound
        );
        assert_eq!(refused("InternalFailure", 500), ErrorKind::Transient);
        assert_eq!(refused("KMSRequestFailedException", 400), ErrorKind::Other);
    }

    #[test]
    fn operations_sort_by_name() {
        let mut operations = [
            Operation::ListLongTermPricing,
            Operation::DescribeCluster,
            Operation::ListClusters,
            Operation::ListClusterJobs,
            Operation::GetSnowballUsage,
        ];
        operations.sort();
        let names: Vec<&str> = operations.iter().map(|o| o.name()).collect();
        assert_eq!(
            names,
            [
                "DescribeCluster",
                "GetSnowballUsage",
                "ListClusterJobs",
                "ListClusters",
                "ListLongTermPricing"
            ]
        );
    }
}
