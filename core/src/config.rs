//! Client configuration: a builder, environment defaults, and validation at
//! build time.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::error::{Error, InputField, Result};
use crate::events::EventHook;
use crate::secret::ApiToken;

/// Environment variable for [`ConfigBuilder::worker_url`].
pub const ENV_WORKER_URL: &str = "CLOUDFLARE_WORKER_URL";
/// Environment variable for [`ConfigBuilder::account_id`].
pub const ENV_ACCOUNT_ID: &str = "CLOUDFLARE_ACCOUNT_ID";
/// Environment variable for [`ConfigBuilder::api_token`].
pub const ENV_API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";

/// A validated configuration. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) worker_url: Url,
    pub(crate) account_id: Option<String>,
    pub(crate) api_token: Option<ApiToken>,
    pub(crate) timeout: Duration,
    pub(crate) retry_count: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) websocket_reconnect_delay: Duration,
    pub(crate) websocket_max_reconnect_delay: Duration,
    pub(crate) websocket_auto_reconnect: bool,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) send_queue_capacity: usize,
    pub(crate) message_buffer: usize,
    pub(crate) pool_size: usize,
    pub(crate) max_concurrent_requests: usize,
    pub(crate) event_hook: Option<HookHandle>,
    pub(crate) default_namespace: Option<String>,
    pub(crate) api_base_url: Url,
}

/// The longest duration a configuration accepts (365 days): longer ones
/// would overflow the clock arithmetic of timers and deadlines.
pub const MAX_CONFIG_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The largest size or count a configuration accepts (2^24): far beyond any
/// real use, and far below what the queues and semaphores can hold.
pub const MAX_CONFIG_SIZE: usize = 1 << 24;

/// The Cloudflare API's v4 base URL, the default for the management API.
pub const DEFAULT_API_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// An event hook inside a [`Config`] (its `Debug` does not print the hook).
#[derive(Clone)]
pub(crate) struct HookHandle(pub(crate) Arc<dyn EventHook>);

impl std::fmt::Debug for HookHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventHook")
    }
}

impl Config {
    /// A builder with every default and no worker URL.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A builder pre-filled from `CLOUDFLARE_WORKER_URL`,
    /// `CLOUDFLARE_ACCOUNT_ID` and `CLOUDFLARE_API_TOKEN`.
    pub fn from_env() -> ConfigBuilder {
        ConfigBuilder::default().with_env()
    }

    /// The worker's base URL.
    pub fn worker_url(&self) -> &Url {
        &self.worker_url
    }
    /// The Cloudflare account id, if set.
    pub fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }
    /// Whether an API token is set (the token itself is never exposed).
    pub fn has_api_token(&self) -> bool {
        self.api_token.is_some()
    }
    /// Time limit of one HTTP attempt, and default for calls over a socket.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    /// Retries after the first attempt.
    pub fn retry_count(&self) -> u32 {
        self.retry_count
    }
    /// Base delay of the exponential backoff between retries.
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay
    }
    /// First delay before a WebSocket reconnect.
    pub fn websocket_reconnect_delay(&self) -> Duration {
        self.websocket_reconnect_delay
    }
    /// Idle connections kept per host.
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }
    /// HTTP requests in flight at once; more wait their turn.
    pub fn max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests
    }
}

/// Builds a [`Config`]; the first invalid value is reported by [`build`](Self::build).
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    worker_url: Option<String>,
    account_id: Option<String>,
    api_token: Option<ApiToken>,
    timeout: Duration,
    retry_count: u32,
    retry_delay: Duration,
    websocket_reconnect_delay: Duration,
    websocket_max_reconnect_delay: Duration,
    websocket_auto_reconnect: bool,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    send_queue_capacity: usize,
    message_buffer: usize,
    pool_size: usize,
    max_concurrent_requests: usize,
    allow_insecure_http: bool,
    event_hook: Option<HookHandle>,
    default_namespace: Option<String>,
    api_base_url: String,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            worker_url: None,
            account_id: None,
            api_token: None,
            timeout: Duration::from_secs(30),
            retry_count: 3,
            retry_delay: Duration::from_millis(500),
            websocket_reconnect_delay: Duration::from_secs(1),
            websocket_max_reconnect_delay: Duration::from_secs(30),
            websocket_auto_reconnect: true,
            heartbeat_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(10),
            send_queue_capacity: 1024,
            message_buffer: 4096,
            pool_size: 10,
            max_concurrent_requests: 256,
            allow_insecure_http: false,
            event_hook: None,
            default_namespace: None,
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    };
}

impl ConfigBuilder {
    /// Fills unset values from the `CLOUDFLARE_*` environment variables.
    pub fn with_env(mut self) -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        if self.worker_url.is_none() {
            self.worker_url = var(ENV_WORKER_URL);
        }
        if self.account_id.is_none() {
            self.account_id = var(ENV_ACCOUNT_ID);
        }
        if self.api_token.is_none() {
            self.api_token = var(ENV_API_TOKEN).map(ApiToken::new);
        }
        self
    }

    /// The worker's base URL (`https://…`, or `http://` on loopback).
    pub fn worker_url(mut self, url: impl Into<String>) -> Self {
        self.worker_url = Some(url.into());
        self
    }

    /// The Cloudflare account id (for the management API).
    pub fn account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = Some(id.into());
        self
    }

    /// The bearer token sent as `Authorization: Bearer …`.
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(ApiToken::new(token));
        self
    }

    /// The namespace of objects named without one (default: `default`).
    pub fn default_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.default_namespace = Some(namespace.into());
        self
    }

    /// Base URL of Cloudflare's v4 REST API, for the management calls
    /// (default: `https://api.cloudflare.com/client/v4`).
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = url.into();
        self
    }

    /// Receives lifecycle [`Event`](crate::Event)s.
    pub fn event_hook(mut self, hook: Arc<dyn EventHook>) -> Self {
        self.event_hook = Some(HookHandle(hook));
        self
    }

    setter!(
        /// Time limit of one HTTP attempt (default 30 s), the default for calls
        /// over a socket, and the limit of one write on a socket (a peer that
        /// takes no data for that long counts as gone).
        timeout: Duration
    );
    setter!(
        /// Retries after the first attempt (default 3).
        retry_count: u32
    );
    setter!(
        /// Base delay of the exponential backoff between retries (default 500 ms).
        retry_delay: Duration
    );
    setter!(
        /// First delay before a WebSocket reconnect (default 1 s).
        websocket_reconnect_delay: Duration
    );
    setter!(
        /// Longest delay between WebSocket reconnects (default 30 s).
        websocket_max_reconnect_delay: Duration
    );
    setter!(
        /// Whether a dropped WebSocket reconnects by itself (default true);
        /// when false, a drop ends it with [`Error::ConnectionClosed`].
        websocket_auto_reconnect: bool
    );
    setter!(
        /// How often an idle WebSocket sends a heartbeat (default 15 s).
        heartbeat_interval: Duration
    );
    setter!(
        /// How long a heartbeat may go unanswered before the link is deemed dead (default 10 s).
        heartbeat_timeout: Duration
    );
    setter!(
        /// Messages a WebSocket keeps for sending while disconnected (default 1024).
        send_queue_capacity: usize
    );
    setter!(
        /// Received messages buffered before reading pauses (default 4096).
        message_buffer: usize
    );
    setter!(
        /// Idle HTTP connections kept per host (default 10).
        pool_size: usize
    );
    setter!(
        /// HTTP requests in flight at once (default 256). Further calls wait
        /// for a free slot, in order, within their own timeout, so a burst
        /// of calls does not open a connection per call.
        max_concurrent_requests: usize
    );
    setter!(
        /// Allows plain `http`/`ws` to a host that is not loopback (default false).
        allow_insecure_http: bool
    );

    /// Validates and builds the configuration.
    pub fn build(self) -> Result<Config> {
        let bad = |message: String| Err(Error::invalid(InputField::Config, message));
        let Some(raw) = self.worker_url else {
            return bad(format!(
                "worker_url is not set (pass it, or set {ENV_WORKER_URL})"
            ));
        };
        let url = check_url("worker_url", &raw, self.allow_insecure_http)?;
        let api_base_url = check_url("api_base_url", &self.api_base_url, self.allow_insecure_http)?;
        if let Some(ns) = &self.default_namespace {
            crate::validate::namespace(ns)?;
        }
        if let Some(token) = &self.api_token {
            let t = token.expose();
            if t.is_empty() || t.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
                return bad(
                    "api_token is empty or holds characters not allowed in a header".into(),
                );
            }
        }
        // (name, value, whether zero is allowed)
        for (name, value, zero_allowed) in [
            ("timeout", self.timeout, false),
            ("retry_delay", self.retry_delay, true),
            (
                "websocket_reconnect_delay",
                self.websocket_reconnect_delay,
                false,
            ),
            (
                "websocket_max_reconnect_delay",
                self.websocket_max_reconnect_delay,
                false,
            ),
            ("heartbeat_interval", self.heartbeat_interval, false),
            ("heartbeat_timeout", self.heartbeat_timeout, false),
        ] {
            if value.is_zero() && !zero_allowed {
                return bad(format!("{name} must be greater than zero"));
            }
            if value > MAX_CONFIG_DURATION {
                return bad(format!("{name} must be at most 365 days"));
            }
        }
        if self.websocket_max_reconnect_delay < self.websocket_reconnect_delay {
            return bad("websocket_max_reconnect_delay is below websocket_reconnect_delay".into());
        }
        for (name, value) in [
            ("pool_size", self.pool_size),
            ("max_concurrent_requests", self.max_concurrent_requests),
            ("send_queue_capacity", self.send_queue_capacity),
            ("message_buffer", self.message_buffer),
        ] {
            if value == 0 {
                return bad(format!("{name} must be greater than zero"));
            }
            if value > MAX_CONFIG_SIZE {
                return bad(format!("{name} must be at most {MAX_CONFIG_SIZE}"));
            }
        }
        Ok(Config {
            worker_url: url,
            account_id: self.account_id,
            api_token: self.api_token,
            timeout: self.timeout,
            retry_count: self.retry_count,
            retry_delay: self.retry_delay,
            websocket_reconnect_delay: self.websocket_reconnect_delay,
            websocket_max_reconnect_delay: self.websocket_max_reconnect_delay,
            websocket_auto_reconnect: self.websocket_auto_reconnect,
            heartbeat_interval: self.heartbeat_interval,
            heartbeat_timeout: self.heartbeat_timeout,
            send_queue_capacity: self.send_queue_capacity,
            message_buffer: self.message_buffer,
            pool_size: self.pool_size,
            max_concurrent_requests: self.max_concurrent_requests,
            event_hook: self.event_hook,
            default_namespace: self.default_namespace,
            api_base_url,
        })
    }
}

/// Parses a base URL: https, or http on loopback (or anywhere with the opt-in).
fn check_url(name: &str, raw: &str, allow_insecure_http: bool) -> Result<Url> {
    let bad = |message: String| Err(Error::invalid(InputField::Config, message));
    let url = match Url::parse(raw.trim()) {
        Ok(url) => url,
        Err(e) => return bad(format!("{name} {raw:?} is not a valid URL: {e}")),
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&url) => {}
        "http" => {
            return bad(format!(
                "{name} {raw:?} uses plain http to a host that is not loopback; \
                 use https, or opt in with allow_insecure_http"
            ))
        }
        other => {
            return bad(format!(
                "{name} {raw:?} has scheme {other:?}; use https (or http on loopback)"
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad(format!("{name} {raw:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return bad(format!(
            "{name} {raw:?} must not hold a query, fragment or credentials"
        ));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn err(builder: ConfigBuilder) -> String {
        let e = builder.build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        e.to_string()
    }

    #[test]
    fn defaults() {
        let c = Config::builder()
            .worker_url("https://w.example.com")
            .build()
            .unwrap();
        assert_eq!(c.timeout(), Duration::from_secs(30));
        assert_eq!(c.retry_count(), 3);
        assert_eq!(c.retry_delay(), Duration::from_millis(500));
        assert_eq!(c.websocket_reconnect_delay(), Duration::from_secs(1));
        assert_eq!(c.pool_size(), 10);
        assert_eq!(c.max_concurrent_requests(), 256);
    }

    #[test]
    fn refuses_bad_values() {
        assert!(err(Config::builder()).contains("worker_url is not set"));
        assert!(err(Config::builder().worker_url("not a url")).contains("not a valid URL"));
        assert!(err(Config::builder().worker_url("ftp://x.example.com")).contains("scheme"));
        assert!(err(Config::builder().worker_url("http://x.example.com")).contains("plain http"));
        assert!(err(Config::builder()
            .worker_url("https://x.example.com")
            .timeout(Duration::ZERO))
        .contains("timeout"));
        assert!(err(Config::builder()
            .worker_url("https://x.example.com")
            .max_concurrent_requests(0))
        .contains("max_concurrent_requests must be greater than zero"));
    }

    #[test]
    fn refuses_values_past_their_bounds() {
        let base = || Config::builder().worker_url("https://x.example.com");
        let too_long = MAX_CONFIG_DURATION + Duration::from_secs(1);
        assert!(err(base().timeout(Duration::MAX)).contains("timeout must be at most 365 days"));
        assert!(err(base().retry_delay(too_long)).contains("retry_delay must be at most"));
        assert!(
            err(base().heartbeat_interval(Duration::from_secs_f64(1e19)))
                .contains("heartbeat_interval must be at most")
        );
        assert!(err(base().heartbeat_timeout(too_long)).contains("heartbeat_timeout"));
        assert!(err(base()
            .websocket_reconnect_delay(too_long)
            .websocket_max_reconnect_delay(too_long))
        .contains("websocket_reconnect_delay must be at most"));
        assert!(err(base().max_concurrent_requests(1 << 62))
            .contains("max_concurrent_requests must be at most 16777216"));
        assert!(err(base().message_buffer(usize::MAX)).contains("message_buffer must be at most"));
        assert!(err(base().send_queue_capacity(MAX_CONFIG_SIZE + 1))
            .contains("send_queue_capacity must be at most"));
        assert!(err(base().pool_size(MAX_CONFIG_SIZE + 1)).contains("pool_size must be at most"));
        let at_the_bounds = base()
            .timeout(MAX_CONFIG_DURATION)
            .heartbeat_interval(MAX_CONFIG_DURATION)
            .heartbeat_timeout(MAX_CONFIG_DURATION)
            .max_concurrent_requests(MAX_CONFIG_SIZE)
            .message_buffer(MAX_CONFIG_SIZE)
            .build();
        assert!(at_the_bounds.is_ok());
    }

    #[test]
    fn plain_http_on_loopback_or_opt_in() {
        for ok in [
            "http://127.0.0.1:8787",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(Config::builder().worker_url(ok).build().is_ok(), "{ok}");
        }
        assert!(Config::builder()
            .worker_url("http://10.0.0.1")
            .allow_insecure_http(true)
            .build()
            .is_ok());
    }

    #[test]
    fn token_never_printed() {
        let c = Config::builder()
            .worker_url("https://w.example.com")
            .api_token("s3cr3t-value")
            .build()
            .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let b = Config::builder().api_token("s3cr3t-value");
        assert!(!format!("{b:?}").contains("s3cr3t"));
    }
}
