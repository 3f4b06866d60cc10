//! STS as the simulator speaks it: the awsQuery protocol (a form-encoded
//! POST, an XML answer, XML errors), GetCallerIdentity and AssumeRole.

use super::organization::{Organization, assumed_access_key};

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The decoded form of an awsQuery request body.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An STS error: HTTP status and the XML body.
pub fn error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        format!(
            r#"<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"#,
            escape(code),
            escape(message)
        ),
    )
}

pub fn get_caller_identity(org: &Organization, account: usize) -> (u16, String) {
    let id = &org.accounts[account].id;
    (
        200,
        format!(
            r#"<GetCallerIdentityResponse xmlns="{XMLNS}"><GetCallerIdentityResult><Arn>arn:aws:iam::{id}:user/snowball-sync</Arn><UserId>AIDASIMULATOR{id}</UserId><Account>{id}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
        ),
    )
}

/// AssumeRole of `role_arn` (`arn:aws:iam::ACCOUNT:role/NAME`): temporary
/// keys that the simulator maps to the role's account, valid for an hour.
/// `denied` accounts refuse, as a missing trust policy would.
pub fn assume_role(
    org: &Organization,
    params: &[(String, String)],
    denied: &[String],
) -> (u16, String) {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let role_arn = param("RoleArn").unwrap_or_default();
    let session = param("RoleSessionName").unwrap_or("session");
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let role_name = role_arn.rsplit('/').next().unwrap_or_default();
    if org.index_of(account).is_none() || denied.iter().any(|d| d == account) {
        return error(
            403,
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::{}:user/snowball-sync is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                org.accounts[0].id
            ),
        );
    }
    let expiration = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (
        200,
        format!(
            r#"<AssumeRoleResponse xmlns="{XMLNS}"><AssumeRoleResult><Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>simulated-secret-{account}</SecretAccessKey><SessionToken>simulated-session-{account}</SessionToken><Expiration>{expiration}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROASIMULATOR:{}</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/{}/{}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ResponseMetadata></AssumeRoleResponse>"#,
            assumed_access_key(account),
            escape(session),
            escape(role_name),
            escape(session)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_percent_escapes() {
        let params = form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&A=b+c");
        assert_eq!(params[1].1, "arn:aws:iam::1:role/x");
        assert_eq!(params[2].1, "b c");
    }
}
