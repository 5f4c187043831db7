//! The hook settings' flags and checks (the fields themselves live in [`crate::Config`] with
//! the others, documented in docs/CONFIG.md).

use clap::Args;

use crate::config::ConfigError;
use crate::Config;

/// Flags of the hook settings; each also reads its `HUDDLE_*` variable.
#[derive(Args, Clone, Debug, Default)]
pub struct HookArgs {
    /// Base URL of the WCS REST hooks (POST <url>/connect, /publishStream, ...) [default: off].
    #[arg(long, env = "HUDDLE_REST_HOOK_URL", value_name = "URL")]
    pub rest_hook_url: Option<String>,
    /// Milliseconds one request to the app backend may take [default: 3000].
    #[arg(long, env = "HUDDLE_HOOK_TIMEOUT_MS")]
    pub hook_timeout_ms: Option<u64>,
    /// Let requests through when the REST hook backend does not answer [default: false].
    #[arg(long, env = "HUDDLE_REST_HOOK_FAIL_OPEN")]
    pub rest_hook_fail_open: Option<bool>,
    /// Comma-separated webhook URLs (signed JSON events) [default: none].
    #[arg(
        long,
        env = "HUDDLE_WEBHOOK_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub webhook_urls: Option<Vec<String>>,
    /// HMAC-SHA256 secret signing every hook request [default: none].
    #[arg(long, env = "HUDDLE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Requests waiting per destination before the oldest is dropped [default: 1000].
    #[arg(long, env = "HUDDLE_WEBHOOK_QUEUE_SIZE")]
    pub webhook_queue_size: Option<usize>,
    /// Tries per webhook / status event request [default: 8].
    #[arg(long, env = "HUDDLE_WEBHOOK_MAX_ATTEMPTS")]
    pub webhook_max_attempts: Option<u32>,
    /// Longest wait between two tries, in milliseconds [default: 30000].
    #[arg(long, env = "HUDDLE_WEBHOOK_MAX_BACKOFF_MS")]
    pub webhook_max_backoff_ms: Option<u64>,
}

impl HookArgs {
    /// Flags and variables over the file's values.
    pub(crate) fn apply(&self, c: &mut Config) {
        if self.rest_hook_url.is_some() {
            c.rest_hook_url = self.rest_hook_url.clone();
        }
        if let Some(v) = self.hook_timeout_ms {
            c.hook_timeout_ms = v;
        }
        if let Some(v) = self.rest_hook_fail_open {
            c.rest_hook_fail_open = v;
        }
        if let Some(v) = &self.webhook_urls {
            c.webhook_urls = v.clone();
        }
        if self.webhook_secret.is_some() {
            c.webhook_secret = self.webhook_secret.clone();
        }
        if let Some(v) = self.webhook_queue_size {
            c.webhook_queue_size = v;
        }
        if let Some(v) = self.webhook_max_attempts {
            c.webhook_max_attempts = v;
        }
        if let Some(v) = self.webhook_max_backoff_ms {
            c.webhook_max_backoff_ms = v;
        }
    }
}

/// Rejects hook settings the server cannot work with.
pub(crate) fn validate(c: &Config) -> Result<(), ConfigError> {
    let invalid = |s: String| Err(ConfigError::Invalid(s));
    let urls = c.rest_hook_url.iter().chain(&c.webhook_urls);
    for url in urls {
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || reqwest::Url::parse(url).is_err()
        {
            return invalid(format!("hook URL {url:?} is not an http(s) URL"));
        }
    }
    if !c.webhook_urls.is_empty() && c.webhook_secret.as_deref().unwrap_or("").is_empty() {
        return invalid("webhook_urls need webhook_secret (the events are signed)".into());
    }
    if c.webhook_secret.as_ref().is_some_and(|s| s.len() < 16) {
        return invalid("webhook_secret must be at least 16 characters".into());
    }
    if c.hook_timeout_ms == 0 {
        return invalid("hook_timeout_ms must be at least 1".into());
    }
    if c.webhook_queue_size == 0 || c.webhook_max_attempts == 0 {
        return invalid("webhook_queue_size and webhook_max_attempts must be at least 1".into());
    }
    Ok(())
}
