//! The evidence DescribeJob points to. For a completed import or export,
//! JobLogInfo names a completion report (a small valid PDF), a success log
//! and, for some jobs, a failure log (CSV), served by the simulator itself
//! under `/_reports/JOB_ID/KIND` with pre-signed-looking query parameters
//! that expire an hour after DescribeJob answered, as S3's do. The content
//! is derived from the job id alone (and the one long success log's size),
//! so a test can compute what must have been archived.

use bytes::Bytes;
use serde_json::{Value as Json, json};

use super::details::JOB_LOG_MARKER;

pub const PATH: &str = "/_reports/";
/// How long a URL is valid after DescribeJob returns it, as the service says.
pub const EXPIRES_SECONDS: i64 = 3600;
/// JobLogInfo's fields and the kinds they name.
pub const KINDS: [(&str, &str); 3] = [
    ("JobCompletionReportURI", "completion_report"),
    ("JobSuccessLogURI", "success_log"),
    ("JobFailureLogURI", "failure_log"),
];
/// Chunks a report is served in.
const CHUNK: usize = 64 * 1024;

fn hash(text: &str) -> u64 {
    super::fnv1a(text.as_bytes())
}

/// Whether a job's transfer had failures (about a third of them do).
pub fn has_failure_log(job_id: &str) -> bool {
    hash(job_id).is_multiple_of(3)
}

/// JobLogInfo for a completed job, its URLs under `base` (the simulator's
/// own address), issued at `issued` (epoch seconds).
pub fn job_log_info(base: &str, job_id: &str, issued: i64) -> Json {
    let mut info = serde_json::Map::new();
    for (field, kind) in KINDS {
        if kind == "failure_log" && !has_failure_log(job_id) {
            continue;
        }
        let signature = hash(&format!("{job_id}/{kind}/{issued}"));
        info.insert(
            field.to_owned(),
            json!(format!(
                "{base}{PATH}{job_id}/{kind}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={issued}&X-Amz-Expires={EXPIRES_SECONDS}&X-Amz-Security-Token={JOB_LOG_MARKER}&X-Amz-Signature={signature:016x}"
            )),
        );
    }
    Json::Object(info)
}

/// One report as served: its content type and its content, generated a
/// chunk at a time (a long log is never held whole).
#[derive(Debug, Clone)]
pub struct Report {
    pub content_type: &'static str,
    pub len: u64,
    job_id: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pdf,
    Success,
    Failure,
}

/// The report of `kind` for `job_id`; `long_success_log` makes its success
/// log that many bytes. None for a kind the job does not have.
pub fn report(job_id: &str, kind: &str, long_success_log: Option<u64>) -> Option<Report> {
    let (kind, content_type) = match kind {
        "completion_report" => (Kind::Pdf, "application/pdf"),
        "success_log" => (Kind::Success, "text/csv"),
        "failure_log" if has_failure_log(job_id) => (Kind::Failure, "text/csv"),
        _ => return None,
    };
    let mut report = Report {
        content_type,
        len: 0,
        job_id: job_id.to_owned(),
        kind,
    };
    report.len = match (kind, long_success_log) {
        (Kind::Pdf, _) => pdf(job_id).len() as u64,
        (Kind::Success, Some(len)) => len,
        _ => {
            let lines = report.lines();
            (report.header().len() + lines * report.line(0).len()) as u64
        }
    };
    Some(report)
}

impl Report {
    fn header(&self) -> &'static str {
        match self.kind {
            Kind::Failure => "Key,Size,Status,Reason\n",
            _ => "Key,Size,Status\n",
        }
    }

    /// Lines in a log of the default size.
    fn lines(&self) -> usize {
        let h = hash(&self.job_id) as usize;
        match self.kind {
            Kind::Failure => 1 + h % 3,
            _ => 3 + h % 7,
        }
    }

    /// The i-th line of a log: every line of a log has the same length.
    fn line(&self, i: usize) -> String {
        let bucket = hash(&self.job_id) % 1000;
        match self.kind {
            Kind::Failure => format!(
                "s3://fleet-data-{bucket:03}/{}/objects/{i:012}.dat,{:08},FAILED,AccessDenied\n",
                self.job_id,
                1 + hash(&format!("{}{i}", self.job_id)) % 99_999_999
            ),
            _ => format!(
                "s3://fleet-data-{bucket:03}/{}/objects/{i:012}.dat,{:08},SUCCESS\n",
                self.job_id,
                1 + hash(&format!("{}{i}", self.job_id)) % 99_999_999
            ),
        }
    }

    /// The content, in chunks of at most 64 KiB, ending after `len` bytes
    /// (a long log's last line may be cut short).
    pub fn chunks(&self) -> impl Iterator<Item = Bytes> + Send + 'static {
        let report = self.clone();
        let mut sent: u64 = 0;
        let mut line = 0usize;
        let mut header = true;
        std::iter::from_fn(move || {
            if sent >= report.len {
                return None;
            }
            let mut chunk = Vec::with_capacity(CHUNK + 256);
            if report.kind == Kind::Pdf {
                chunk = pdf(&report.job_id);
            } else {
                if header {
                    chunk.extend_from_slice(report.header().as_bytes());
                    header = false;
                }
                while chunk.len() < CHUNK && sent + (chunk.len() as u64) < report.len {
                    chunk.extend_from_slice(report.line(line).as_bytes());
                    line += 1;
                }
            }
            let room = (report.len - sent).min(chunk.len() as u64) as usize;
            chunk.truncate(room);
            sent += room as u64;
            Some(Bytes::from(chunk))
        })
    }

    /// The whole content (tests; small reports).
    pub fn content(&self) -> Vec<u8> {
        self.chunks().flat_map(|c| c.to_vec()).collect()
    }
}

/// A one-page PDF naming the job, with a correct cross-reference table.
fn pdf(job_id: &str) -> Vec<u8> {
    let text = format!("BT /F1 12 Tf 72 720 Td (Job completion report {job_id}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Why a report request is refused, as S3 says it: (status, code, message).
pub type Refusal = (u16, &'static str, String);

pub fn refusal(query: &str, now: i64) -> Option<Refusal> {
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let issued = param("X-Amz-Date").and_then(|d| d.parse::<i64>().ok());
    let expires = param("X-Amz-Expires").and_then(|d| d.parse::<i64>().ok());
    match (issued, expires, param("X-Amz-Signature")) {
        (Some(issued), Some(expires), Some(_)) if now <= issued.saturating_add(expires) => None,
        (Some(_), Some(_), Some(_)) => {
            Some((403, "AccessDenied", "Request has expired".to_owned()))
        }
        _ => Some((
            403,
            "AccessDenied",
            "Query-string authentication requires the Signature, Expires and Date parameters"
                .to_owned(),
        )),
    }
}

/// An S3-style XML error body.
pub fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>0000000000000000</RequestId></Error>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_as_long_as_it_says_in_any_size() {
        for kind in ["completion_report", "success_log", "failure_log"] {
            for job in ["JID1", "JID2", "JID3", "JID4"] {
                if let Some(report) = report(job, kind, None) {
                    assert_eq!(report.content().len() as u64, report.len, "{job} {kind}");
                }
            }
        }
        for len in [0, 1, 17, 65_536, 200_001] {
            let report =
                report("JID1", "success_log", Some(len)).expect("every job has a success log");
            assert_eq!(report.content().len() as u64, len);
        }
    }

    #[test]
    fn an_expired_or_unsigned_url_is_refused() {
        let info = job_log_info("http://127.0.0.1:1", "JID1", 1000);
        let url = info["JobSuccessLogURI"].as_str().unwrap_or_default();
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        assert_eq!(refusal(query, 1000 + EXPIRES_SECONDS), None);
        assert!(refusal(query, 1001 + EXPIRES_SECONDS).is_some());
        assert!(refusal("X-Amz-Date=1000", 1000).is_some());
    }
}
