//! The one wire encoder: ListJobs requests, responses and errors in both
//! protocols the service speaks. Smithy RPC v2 CBOR is what aws-sdk-snowball
//! sends; awsJson1_1 is what boto3 and the AWS CLI send.

use ciborium::Value as Cbor;
use serde_json::{Value as Json, json};

use super::fleet::JobEntry;

pub const SERVICE: &str = "AWSIESnowballJobManagementService";
const NAMESPACE: &str = "com.amazonaws.snowball";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    RpcV2Cbor,
    AwsJson11,
}

impl Protocol {
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::RpcV2Cbor => "application/cbor",
            Protocol::AwsJson11 => "application/x-amz-json-1.1",
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListJobsInput {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// An error as the service reports it: a status and a code such as
/// `InvalidNextTokenException`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn client(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            code,
            message: message.into(),
        }
    }
}

pub fn decode_input(protocol: Protocol, body: &[u8]) -> Result<ListJobsInput, ApiError> {
    let malformed = |what: String| ApiError::client("SerializationException", what);
    if body.is_empty() {
        return Ok(ListJobsInput::default());
    }
    match protocol {
        Protocol::AwsJson11 => {
            let value: Json = serde_json::from_slice(body)
                .map_err(|e| malformed(format!("malformed JSON body: {e}")))?;
            let max_results = match value.get("MaxResults") {
                None | Some(Json::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .ok_or_else(|| malformed("MaxResults must be an integer".into()))?,
                ),
            };
            let next_token = match value.get("NextToken") {
                None | Some(Json::Null) => None,
                Some(v) => Some(
                    v.as_str()
                        .ok_or_else(|| malformed("NextToken must be a string".into()))?
                        .to_owned(),
                ),
            };
            Ok(ListJobsInput {
                max_results,
                next_token,
            })
        }
        Protocol::RpcV2Cbor => {
            let value: Cbor = ciborium::from_reader(body)
                .map_err(|e| malformed(format!("malformed CBOR body: {e}")))?;
            let Cbor::Map(pairs) = value else {
                return Err(malformed("the CBOR body is not a map".into()));
            };
            let mut input = ListJobsInput::default();
            for (key, value) in pairs {
                match (key.as_text(), value) {
                    (Some("MaxResults"), Cbor::Integer(n)) => {
                        input.max_results = Some(
                            i64::try_from(n)
                                .map_err(|_| malformed("MaxResults is out of range".into()))?,
                        );
                    }
                    (Some("NextToken"), Cbor::Text(token)) => input.next_token = Some(token),
                    (Some("MaxResults" | "NextToken"), Cbor::Null) => {}
                    (Some(field @ ("MaxResults" | "NextToken")), _) => {
                        return Err(malformed(format!("{field} has the wrong type")));
                    }
                    _ => {}
                }
            }
            Ok(input)
        }
    }
}

/// DescribeJob's input: its JobId.
pub fn decode_job_id(protocol: Protocol, body: &[u8]) -> Result<String, ApiError> {
    decode_id(protocol, body, "JobId", "jobId")
}

/// DescribeCluster's and ListClusterJobs' input: its ClusterId.
pub fn decode_cluster_id(protocol: Protocol, body: &[u8]) -> Result<String, ApiError> {
    decode_id(protocol, body, "ClusterId", "clusterId")
}

/// A required string member of an input (`field`; `member` as the
/// service's validation message names it).
fn decode_id(
    protocol: Protocol,
    body: &[u8],
    field: &str,
    member: &str,
) -> Result<String, ApiError> {
    let malformed = |what: String| ApiError::client("SerializationException", what);
    let value = match protocol {
        Protocol::AwsJson11 => serde_json::from_slice::<Json>(body)
            .map_err(|e| malformed(format!("malformed JSON body: {e}")))?,
        Protocol::RpcV2Cbor => cbor_json::to_json(
            ciborium::from_reader::<Cbor, _>(body)
                .map_err(|e| malformed(format!("malformed CBOR body: {e}")))?,
        ),
    };
    match value.get(field).and_then(Json::as_str) {
        Some(id) => Ok(id.to_owned()),
        None => Err(ApiError::client(
            "ValidationException",
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ),
        )),
    }
}

/// DescribeJob's output: the job's metadata and, for an export's main job,
/// its parts'.
pub fn encode_describe_output(protocol: Protocol, metadata: &Json, parts: &[Json]) -> Vec<u8> {
    let mut body = json!({ "JobMetadata": metadata });
    if !parts.is_empty() {
        body["SubJobMetadata"] = json!(parts);
    }
    match protocol {
        // Through CBOR and back: absent fields are left out, as the service does.
        Protocol::AwsJson11 => cbor_json::to_json(cbor_json::from_json(&body))
            .to_string()
            .into_bytes(),
        Protocol::RpcV2Cbor => cbor_bytes(&cbor_json::from_json(&body)),
    }
}

/// An output given as JSON in the service's field names.
pub fn encode_json_output(protocol: Protocol, body: &Json) -> Vec<u8> {
    match protocol {
        Protocol::AwsJson11 => body.to_string().into_bytes(),
        Protocol::RpcV2Cbor => cbor_bytes(&cbor_json::from_json(body)),
    }
}

pub fn encode_output(
    protocol: Protocol,
    entries: &[&JobEntry],
    next_token: Option<&str>,
) -> Vec<u8> {
    match protocol {
        Protocol::AwsJson11 => {
            let mut body = json!({ "JobListEntries": entries.iter().map(|e| json_entry(e)).collect::<Vec<_>>() });
            if let Some(token) = next_token {
                body["NextToken"] = json!(token);
            }
            body.to_string().into_bytes()
        }
        Protocol::RpcV2Cbor => {
            let mut map = vec![(
                Cbor::Text("JobListEntries".into()),
                Cbor::Array(entries.iter().map(|e| cbor_entry(e)).collect()),
            )];
            if let Some(token) = next_token {
                map.push((Cbor::Text("NextToken".into()), Cbor::Text(token.into())));
            }
            cbor_bytes(&Cbor::Map(map))
        }
    }
}

pub fn encode_error(protocol: Protocol, error: &ApiError) -> Vec<u8> {
    match protocol {
        Protocol::AwsJson11 => json!({ "__type": error.code, "message": error.message })
            .to_string()
            .into_bytes(),
        Protocol::RpcV2Cbor => cbor_bytes(&Cbor::Map(vec![
            (
                Cbor::Text("__type".into()),
                Cbor::Text(format!("{NAMESPACE}#{}", error.code)),
            ),
            (
                Cbor::Text("message".into()),
                Cbor::Text(error.message.clone()),
            ),
        ])),
    }
}

fn json_entry(entry: &JobEntry) -> Json {
    let mut value =
        json!({ "JobId": entry.job_id, "JobState": entry.job_state, "IsMaster": entry.is_master });
    let fields = [
        ("JobType", entry.job_type.as_deref()),
        ("SnowballType", entry.snowball_type.as_deref()),
        ("Description", entry.description.as_deref()),
    ];
    for (name, field) in fields {
        if let Some(text) = field {
            value[name] = json!(text);
        }
    }
    if let Some(seconds) = entry.creation_date {
        value["CreationDate"] = json!(seconds);
    }
    value
}

/// Encoded directly, not through `json_entry`: ListJobs pages are the
/// benchmark's hot path, and a JSON detour cost about a millisecond a page.
fn cbor_entry(entry: &JobEntry) -> Cbor {
    let text = |s: &str| Cbor::Text(s.to_owned());
    let mut map = vec![
        (text("JobId"), text(&entry.job_id)),
        (text("JobState"), text(&entry.job_state)),
        (text("IsMaster"), Cbor::Bool(entry.is_master)),
    ];
    let fields = [
        ("JobType", entry.job_type.as_deref()),
        ("SnowballType", entry.snowball_type.as_deref()),
        ("Description", entry.description.as_deref()),
    ];
    for (name, field) in fields {
        if let Some(value) = field {
            map.push((text(name), text(value)));
        }
    }
    if let Some(seconds) = entry.creation_date {
        // Smithy timestamps: tag 1 (epoch-based date/time), then the seconds.
        map.push((
            text("CreationDate"),
            Cbor::Tag(1, Box::new(Cbor::Integer(seconds.into()))),
        ));
    }
    Cbor::Map(map)
}

fn cbor_bytes(value: &Cbor) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    ciborium::into_writer(value, &mut bytes).expect("CBOR encoding into memory");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_input_round_trips_max_results_and_token() {
        let body = cbor_bytes(&Cbor::Map(vec![
            (Cbor::Text("MaxResults".into()), Cbor::Integer(7.into())),
            (Cbor::Text("NextToken".into()), Cbor::Text("abc".into())),
        ]));
        let input = decode_input(Protocol::RpcV2Cbor, &body).expect("valid input");
        assert_eq!(
            input,
            ListJobsInput {
                max_results: Some(7),
                next_token: Some("abc".into())
            }
        );
    }

    #[test]
    fn errors_carry_the_namespaced_type_in_cbor() {
        let body = encode_error(
            Protocol::RpcV2Cbor,
            &ApiError::client("InvalidNextTokenException", "stale"),
        );
        let value: Cbor = ciborium::from_reader(&body[..]).expect("CBOR");
        let text = format!("{value:?}");
        assert!(
            text.contains("com.amazonaws.snowball#InvalidNextTokenException"),
            "{text}"
        );
    }
}
