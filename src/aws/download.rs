//! Report downloads: a GET of a pre-signed URL through the project's HTTP
//! stack, its answer's status, headers and body as plain values.

use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::byte_stream::ByteStream;
use bytes::Bytes;

/// Fetches URLs through the project's HTTP stack (rustls, proxies from the
/// environment), as every AWS client does.
pub struct Downloader(aws_smithy_http_client::Connector);

/// Why a download could not start or went wrong midway: the URL was not
/// one, the connection failed, or the body was cut. Never the URL itself.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("refused: the URL could not be read")]
    BadUrl,
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("the download was cut: {0}")]
    Cut(String),
}

/// An answer: its status, the two headers the archive reads, and its body.
pub struct Download {
    pub status: u16,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    body: ByteStream,
}

impl Default for Downloader {
    fn default() -> Self {
        Downloader(super::connector(None, None))
    }
}

impl Downloader {
    /// Sends the GET and waits for the answer's head.
    pub async fn get(&self, url: &str) -> Result<Download, DownloadError> {
        let request = HttpRequest::get(url).map_err(|_| DownloadError::BadUrl)?;
        let response = self
            .0
            .call(request)
            .await
            .map_err(|err| DownloadError::Connection(crate::error::one_line(&err)))?;
        let headers = response.headers();
        let content_type = headers.get("content-type").map(|t| t.replace('\0', ""));
        let content_length = headers.get("content-length").and_then(|n| n.parse().ok());
        Ok(Download {
            status: response.status().as_u16(),
            content_type,
            content_length,
            body: ByteStream::new(response.into_body()),
        })
    }
}

impl Download {
    /// The body's next piece; None at its end.
    pub async fn next(&mut self) -> Option<Result<Bytes, DownloadError>> {
        self.body
            .next()
            .await
            .map(|chunk| chunk.map_err(|err| DownloadError::Cut(crate::error::one_line(&err))))
    }
}
