//! HTTP for the simulator: the two ListJobs routes and the `/_sim/` control
//! routes. A dropped connection is a real one: the service function fails
//! and hyper closes the socket without an answer.
//!
//! Large because every route of both wire protocols, and the control routes,
//! are dispatched here.

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::wire::{self, ApiError, Protocol};
use super::{Answer, Faults, Simulator, reports};

/// A request body larger than this is refused with 413, unread.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A client has this long to send its request headers.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Ticks one `POST /_sim/advance` may ask for.
pub const MAX_ADVANCE_TICKS: u64 = 10_000;

const CBOR_PATH: &str = "/service/AWSIESnowballJobManagementService/operation/";
const DEFAULT_REGION: &str = "us-east-1";

/// A simulator serving in the background of this process (tests, demo, bench).
pub struct RunningSimulator {
    pub addr: SocketAddr,
    pub sim: Simulator,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningSimulator {
    /// Serves `sim` on an ephemeral loopback port.
    pub async fn start(sim: Simulator) -> std::io::Result<RunningSimulator> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let sim = sim.clone();
            async move {
                serve_until(listener, sim, async {
                    stopped.await.ok();
                })
                .await;
            }
        });
        Ok(RunningSimulator {
            addr,
            sim,
            stop: Some(stop),
            task,
        })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        (&mut self.task).await.ok();
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections until `shutdown` resolves, and returns its output.
pub async fn serve_until<T>(
    listener: TcpListener,
    sim: Simulator,
    shutdown: impl Future<Output = T>,
) -> T {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            done = &mut shutdown => return done,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        // Out of file descriptors, say: wait for some to
                        // close instead of spinning on the same error.
                        tracing::warn!(%err, "accept failed; pausing 100 ms");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Unset, a response written in two segments waits for the
                // client's delayed ACK: 40 ms for every STS answer.
                let _ = stream.set_nodelay(true);
                let sim = sim.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| route(sim.clone(), request));
                    // Errors here are dropped connections, injected or the
                    // client's, and clients too slow with their headers.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// Returned by the service to make hyper close the connection unanswered.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected connection drop")
    }
}

impl std::error::Error for DropConnection {}

/// What the server answers with: a whole body, or a report streamed a chunk
/// at a time (which may fail halfway, to cut the connection).
type Body = BoxBody<Bytes, std::io::Error>;

async fn route(
    sim: Simulator,
    request: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    if request.method() == Method::GET
        && let Some(path) = request.uri().path().strip_prefix(reports::PATH)
    {
        return Ok(report(&sim, path, request.uri().query().unwrap_or("")));
    }
    let response = handle(sim, request).await?;
    Ok(response.map(|body| body.map_err(|never| match never {}).boxed()))
}

/// `GET /_reports/JOB_ID/KIND?…`: the report streamed, or an S3-style error.
fn report(sim: &Simulator, path: &str, query: &str) -> Response<Body> {
    let super::Download { report, cut, sized } = match sim.report(path, query) {
        Ok(download) => download,
        Err((status, code, message)) => {
            let mut response = Response::new(
                Full::new(Bytes::from(reports::error_xml(code, &message)))
                    .map_err(|never| match never {})
                    .boxed(),
            );
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/xml"),
            );
            return response;
        }
    };
    let len = report.len;
    // Cut: the first half of the content, a pause (so that what was sent
    // reaches the client first; a minute for a stall), then the body fails
    // and hyper drops the connection short of its Content-Length.
    let mut left = if cut.is_some() { len / 2 } else { u64::MAX };
    let content = report.chunks().map_while(move |mut chunk| {
        if left == 0 {
            return None;
        }
        if (chunk.len() as u64) > left {
            chunk.truncate(left as usize);
        }
        left = left.saturating_sub(chunk.len() as u64);
        Some(Ok(Frame::data(chunk)))
    });
    let failure = futures_util::stream::iter(cut).then(|pause| async move {
        tokio::time::sleep(pause).await;
        Err(std::io::Error::other("injected cut"))
    });
    let body = StreamBody::new(futures_util::stream::iter(content).chain(failure));
    let mut response = Response::new(BodyExt::boxed(body));
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(report.content_type),
    );
    if sized {
        headers.insert(
            hyper::header::CONTENT_LENGTH,
            hyper::header::HeaderValue::from(len),
        );
    }
    response
}

async fn handle(
    sim: Simulator,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let base = format!(
        "http://{}",
        header(&request, "host").unwrap_or_else(|| "127.0.0.1".to_owned())
    );
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let method = request.method().clone();
    let target = header(&request, "x-amz-target");
    let authorization = header(&request, "authorization");
    let region = region_of(authorization.as_deref());
    let access_key = super::organization::access_key_of(authorization.as_deref()).to_owned();
    let form = header(&request, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let declared_too_large = header(&request, "content-length")
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    if declared_too_large {
        return Ok(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body over 1 MiB",
        ));
    }
    // Bodies without a length are counted as they arrive.
    let body = match http_body_util::Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over 1 MiB",
            ));
        }
        Err(_) => return Err(DropConnection),
    };
    if method == Method::POST {
        if let Some(operation) = path.strip_prefix(CBOR_PATH) {
            return snowball(
                &sim,
                Protocol::RpcV2Cbor,
                operation,
                (&access_key, &region, &base),
                &body,
            )
            .await;
        }
        if path == "/" && form {
            let (status, xml, latency) = sim.sts(&access_key, &body);
            wait(latency).await;
            let mut response = Response::new(Full::new(Bytes::from(xml)));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/xml"),
            );
            return Ok(response);
        }
        if let Some(operation) = target
            .as_deref()
            .and_then(|t| t.strip_prefix(super::organizations::TARGET_PREFIX))
        {
            let (answer, latency) = sim.organizations(&access_key, operation, &body);
            wait(latency).await;
            return Ok(match answer {
                Ok(page) => api_response(
                    Protocol::AwsJson11,
                    StatusCode::OK,
                    page.to_string().into_bytes(),
                ),
                Err(error) => api_error(Protocol::AwsJson11, &error),
            });
        }
        if path == "/" {
            let operation = target
                .as_deref()
                .and_then(|t| t.strip_prefix(wire::SERVICE))
                .and_then(|t| t.strip_prefix('.'));
            return match operation {
                Some(operation) => {
                    snowball(
                        &sim,
                        Protocol::AwsJson11,
                        operation,
                        (&access_key, &region, &base),
                        &body,
                    )
                    .await
                }
                None => Ok(plain(
                    StatusCode::BAD_REQUEST,
                    "missing or unknown X-Amz-Target; expected AWSIESnowballJobManagementService.ListJobs",
                )),
            };
        }
    }
    Ok(control(&sim, &method, &path, &query).await)
}

/// A Snowball operation in either protocol: ListJobs or DescribeJob.
async fn snowball(
    sim: &Simulator,
    protocol: Protocol,
    operation: &str,
    (access_key, region, base): (&str, &str, &str),
    body: &[u8],
) -> Result<Response<Full<Bytes>>, DropConnection> {
    sim.log_operation(operation);
    let (answer, latency) = match operation {
        "ListJobs" => match wire::decode_input(protocol, body) {
            Ok(input) => sim.list_jobs(access_key, region, &input),
            Err(error) => return Ok(api_error(protocol, &error)),
        },
        "DescribeJob" => match wire::decode_job_id(protocol, body) {
            Ok(job_id) => sim.describe_job(access_key, region, &job_id, base),
            Err(error) => return Ok(api_error(protocol, &error)),
        },
        "GetSnowballUsage" => sim.usage(access_key, region),
        "ListClusters" | "ListLongTermPricing" => match wire::decode_input(protocol, body) {
            Ok(input) => sim.estate_call(access_key, region, operation, None, &input),
            Err(error) => return Ok(api_error(protocol, &error)),
        },
        "DescribeCluster" | "ListClusterJobs" => {
            let decoded = wire::decode_cluster_id(protocol, body)
                .and_then(|id| Ok((id, wire::decode_input(protocol, body)?)));
            match decoded {
                Ok((id, input)) => {
                    sim.estate_call(access_key, region, operation, Some(&id), &input)
                }
                Err(error) => return Ok(api_error(protocol, &error)),
            }
        }
        _ => {
            let error = ApiError::client(
                "UnknownOperationException",
                format!(
                    "the simulator serves ListJobs, DescribeJob, GetSnowballUsage, ListClusters, DescribeCluster, ListClusterJobs and ListLongTermPricing, not {operation}"
                ),
            );
            return Ok(api_error(protocol, &error));
        }
    };
    wait(latency).await;
    match answer {
        Answer::Drop => Err(DropConnection),
        Answer::Error(error) => Ok(api_error(protocol, &error)),
        Answer::Described { metadata, parts } => Ok(api_response(
            protocol,
            StatusCode::OK,
            wire::encode_describe_output(protocol, &metadata, &parts),
        )),
        Answer::Json(output) => Ok(api_response(
            protocol,
            StatusCode::OK,
            wire::encode_json_output(protocol, &output),
        )),
        Answer::Usage { limit, in_use } => Ok(api_response(
            protocol,
            StatusCode::OK,
            wire::encode_json_output(
                protocol,
                &serde_json::json!({ "SnowballLimit": limit, "SnowballsInUse": in_use }),
            ),
        )),
        Answer::Page {
            entries,
            next_token,
        } => {
            let refs: Vec<&super::JobEntry> = entries.iter().collect();
            Ok(api_response(
                protocol,
                StatusCode::OK,
                wire::encode_output(protocol, &refs, next_token.as_deref()),
            ))
        }
    }
}

/// Waits `latency`, to within tens of microseconds, without spinning.
/// Tokio's timer fires on whole milliseconds and often a millisecond late,
/// which at 20 ms a page would add up to 5 % to every benchmark's "API time";
/// so it only covers the wait up to 2 ms before the deadline, and a blocking
/// thread's nanosleep lands on it. (An earlier version spun through those
/// last 2 ms: with sixteen requests in flight that took CPU the benchmarked
/// sync and its PostgreSQL needed on a 2-core machine.)
async fn wait(latency: std::time::Duration) {
    if latency.is_zero() {
        return;
    }
    let deadline = std::time::Instant::now() + latency;
    if let Some(coarse) = latency.checked_sub(std::time::Duration::from_millis(2)) {
        tokio::time::sleep(coarse).await;
    }
    let rest = deadline.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        // Only a panic in the sleep itself could fail this; the wait is over either way.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

fn api_error(protocol: Protocol, error: &ApiError) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = api_response(protocol, status, wire::encode_error(protocol, error));
    if let Ok(value) = hyper::header::HeaderValue::from_str(error.code) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

fn api_response(protocol: Protocol, status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(protocol.content_type()),
    );
    headers.insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("00000000-0000-4000-8000-000000000000"),
    );
    if protocol == Protocol::RpcV2Cbor {
        headers.insert(
            "smithy-protocol",
            hyper::header::HeaderValue::from_static("rpc-v2-cbor"),
        );
    }
    response
}

/// The control routes: `POST /_sim/advance?ticks=N`,
/// `POST /_sim/faults?throttle_every=K&error_every=K&drop_every=K&latency_ms=L&reject_tokens=N&repeat_tokens=1&invalidate_tokens=1&deny_assume_role=ID,ID&deny_list_jobs=ID&deny_describe_job=ID&deny_usage=ID&deny_list_clusters=ID&deny_describe_cluster=ID&deny_list_cluster_jobs=ID&deny_long_term_pricing=ID&forget_jobs=JID,JID&expire_reports=N&fail_reports=N&cut_reports=N&stall_reports=N&unsized_reports=N`
/// (0 turns a fault off; unnamed ones are kept), `GET /_sim/fleet`, `GET /_sim/stats`.
async fn control(
    sim: &Simulator,
    method: &Method,
    path: &str,
    query: &str,
) -> Response<Full<Bytes>> {
    let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    match (method, path) {
        (&Method::POST, "/_sim/advance") => {
            let ticks = match param("ticks").map(str::parse::<u64>) {
                None => 1,
                Some(Ok(n)) if n <= MAX_ADVANCE_TICKS => n,
                Some(_) => {
                    return plain(
                        StatusCode::BAD_REQUEST,
                        "ticks must be an integer from 0 to 10000",
                    );
                }
            };
            // Off the async threads, one tick per hold of the fleet's lock:
            // every other request goes on meanwhile.
            let sim = sim.clone();
            match tokio::task::spawn_blocking(move || sim.advance(ticks)).await {
                Ok(tick) => json(serde_json::json!({ "tick": tick })),
                Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "advancing failed"),
            }
        }
        (&Method::POST, "/_sim/faults") => {
            let mut faults: Faults = sim.faults();
            let every = |value: Option<&str>, current: Option<u64>| -> Result<Option<u64>, ()> {
                match value.map(str::parse::<u64>) {
                    None => Ok(current),
                    Some(Ok(0)) => Ok(None),
                    Some(Ok(k)) => Ok(Some(k)),
                    Some(Err(_)) => Err(()),
                }
            };
            let parsed = (|| -> Result<(), ()> {
                faults.throttle_every = every(param("throttle_every"), faults.throttle_every)?;
                faults.error_every = every(param("error_every"), faults.error_every)?;
                faults.drop_every = every(param("drop_every"), faults.drop_every)?;
                if let Some(n) = param("reject_tokens") {
                    faults.reject_tokens = n.parse().map_err(|_| ())?;
                }
                if let Some(flag) = param("repeat_tokens") {
                    faults.repeat_tokens = flag == "1" || flag == "true";
                }
                if let Some(flag) = param("nul_in_descriptions") {
                    faults.nul_in_descriptions = flag == "1" || flag == "true";
                }
                let ids = |value: &str| -> Vec<String> {
                    value
                        .split(',')
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect()
                };
                if let Some(value) = param("deny_assume_role") {
                    faults.deny_assume_role = ids(value);
                }
                if let Some(value) = param("deny_list_jobs") {
                    faults.deny_list_jobs = ids(value);
                }
                if let Some(value) = param("deny_describe_job") {
                    faults.deny_describe_job = ids(value);
                }
                for (name, accounts) in [
                    ("deny_usage", &mut faults.deny_usage),
                    ("deny_list_clusters", &mut faults.deny_list_clusters),
                    ("deny_describe_cluster", &mut faults.deny_describe_cluster),
                    ("deny_list_cluster_jobs", &mut faults.deny_list_cluster_jobs),
                    ("deny_long_term_pricing", &mut faults.deny_long_term_pricing),
                ] {
                    if let Some(value) = param(name) {
                        *accounts = ids(value);
                    }
                }
                if let Some(value) = param("forget_jobs") {
                    faults.forget_jobs = ids(value);
                }
                for (name, count) in [
                    ("expire_reports", &mut faults.expire_reports),
                    ("fail_reports", &mut faults.fail_reports),
                    ("cut_reports", &mut faults.cut_reports),
                    ("stall_reports", &mut faults.stall_reports),
                    ("unsized_reports", &mut faults.unsized_reports),
                ] {
                    if let Some(n) = param(name) {
                        *count = n.parse().map_err(|_| ())?;
                    }
                }
                if let Some(ms) = param("latency_ms") {
                    faults.page_latency =
                        std::time::Duration::from_millis(ms.parse().map_err(|_| ())?);
                }
                Ok(())
            })();
            if parsed.is_err() {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "fault parameters are non-negative integers",
                );
            }
            if param("invalidate_tokens").is_some_and(|v| v == "1" || v == "true") {
                sim.invalidate_tokens();
            }
            sim.set_faults(faults.clone());
            json(serde_json::to_value(&faults).unwrap_or_default())
        }
        (&Method::GET, "/_sim/fleet") => {
            let mut response = Response::new(Full::new(Bytes::from(sim.dump())));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        (&Method::GET, "/_sim/stats") => json(serde_json::json!({
            "report_requests": sim.report_stats().0,
            "usage_requests": sim.usage_requests(),
            "long_log_job": sim.report_stats().1,
            "list_jobs_requests": sim.list_requests(),
            "identity_requests": sim.identity_requests(),
            "describe_job_requests": sim.describe_requests(),
            "tick": sim.tick(),
            "operations": sim.operation_counts(),
        })),
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    }
}

fn json(value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

fn header(request: &Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The region of a SigV4 credential scope:
/// `Credential=AKID/20261128/us-east-1/snowball/aws4_request`.
fn region_of(authorization: Option<&str>) -> String {
    authorization
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(2))
        .filter(|region| !region.is_empty())
        .unwrap_or(DEFAULT_REGION)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::region_of;

    #[test]
    fn region_comes_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261128/eu-west-1/snowball/aws4_request, SignedHeaders=host, Signature=00";
        assert_eq!(region_of(Some(auth)), "eu-west-1");
        assert_eq!(region_of(None), "us-east-1");
    }
}
