//! AWS Organizations as the simulator speaks it: ListAccounts in awsJson1_1
//! (what aws-sdk-organizations and boto3 send), paged.

use serde_json::{Value as Json, json};

use super::organization::Organization;
use super::wire::ApiError;

pub const TARGET_PREFIX: &str = "AWSOrganizationsV20161128.";
/// The service's page limit for ListAccounts.
const MAX_RESULTS: usize = 20;
/// When every simulated account joined: fixed, for deterministic answers.
const JOINED: i64 = 1_735_689_600;

/// A page of ListAccounts: the token is the index to continue from.
pub fn list_accounts(org: &Organization, body: &[u8]) -> Result<Json, ApiError> {
    let input: Json = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::client("SerializationException", e.to_string()))?
    };
    let max = match input.get("MaxResults").and_then(Json::as_u64) {
        None => MAX_RESULTS,
        Some(n @ 1..=20) => n as usize,
        Some(n) => {
            return Err(ApiError::client(
                "InvalidInputException",
                format!("MaxResults {n} is outside 1..20"),
            ));
        }
    };
    let start = match input.get("NextToken").and_then(Json::as_str) {
        None => 0,
        Some(token) => token
            .strip_prefix("accounts-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < org.accounts.len())
            .ok_or_else(|| {
                ApiError::client("InvalidInputException", "the NextToken is not valid")
            })?,
    };
    let end = (start + max).min(org.accounts.len());
    let management = &org.accounts[0].id;
    let accounts: Vec<Json> = org.accounts[start..end]
        .iter()
        .map(|a| {
            json!({
                "Id": a.id,
                "Arn": format!("arn:aws:organizations::{management}:account/o-simulated/{}", a.id),
                "Email": format!("{}@example.com", a.name),
                "Name": a.name,
                "Status": a.status,
                "State": a.status,
                "JoinedMethod": if a.id == *management { "CREATED" } else { "INVITED" },
                "JoinedTimestamp": JOINED,
            })
        })
        .collect();
    let mut page = json!({ "Accounts": accounts });
    if end < org.accounts.len() {
        page["NextToken"] = json!(format!("accounts-{end}"));
    }
    Ok(page)
}
