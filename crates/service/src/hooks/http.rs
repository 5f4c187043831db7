//! One POST to the application's backend, bounded in time and in the size of the answer read.

use std::time::Duration;

/// The most of an answer's body that is read (a 200 `connect` answer may carry fields; a
/// refusal may carry a reason). The rest is ignored.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The backend's answer.
pub(crate) struct Answer {
    pub status: reqwest::StatusCode,
    /// The first [`MAX_ANSWER_BYTES`] of the body.
    pub body: Vec<u8>,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Http(#[from] reqwest::Error),
}

/// POSTs `body` as JSON; the whole exchange (connect, send, read the answer) takes at most
/// `timeout`.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: &[(&'static str, String)],
    timeout: Duration,
) -> Result<Answer, PostError> {
    let exchange = async {
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = request.send().await?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_ANSWER_BYTES - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_ANSWER_BYTES {
                break;
            }
        }
        Ok::<_, PostError>(Answer { status, body })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| PostError::Timeout(timeout))?
}

/// The client of all hooks: no redirects followed (a hook URL is configured, not discovered),
/// no proxy from the environment.
pub(crate) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}
