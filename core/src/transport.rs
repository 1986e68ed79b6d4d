//! One HTTP request to the worker, with retries, backoff, events and the
//! mapping of every failure to an [`Error`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::sync::{Semaphore, SemaphorePermit};
use url::Url;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{Emitter, Event};
use crate::protocol;

/// Longest wait between two HTTP attempts, whatever the backoff says.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// A `Retry-After` longer than this is reported to the caller, not waited out.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Largest reply body read, so an endless stream cannot exhaust memory.
pub(crate) const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// What a request is, for events and retry decisions.
#[derive(Debug)]
pub(crate) struct Request {
    /// The operation's name (`call_method`, `get_state`, …).
    pub operation: &'static str,
    /// The object's name, as the caller gave it.
    pub object: String,
    /// The method, for `call_method`.
    pub method_name: Option<String>,
    /// HTTP method.
    pub http_method: Method,
    /// Path below the worker URL, already encoded.
    pub path: String,
    /// JSON body.
    pub body: Option<Bytes>,
    /// Sent as `Idempotency-Key`.
    pub idempotency_key: Option<HeaderValue>,
    /// Time limit of each attempt.
    pub timeout: Duration,
    /// Sent as `traceparent` (always set in practice: see `Client::request`).
    pub traceparent: Option<HeaderValue>,
    /// Whether running the request twice has the effect of running it once
    /// (reads, plain writes, calls with an idempotency key). Requests that
    /// are not (transactions and conditional writes, SQL) are retried only
    /// when they cannot have reached the worker.
    pub repeatable: bool,
    /// Another base URL than the worker's (the management API's).
    pub base_url: Option<Url>,
}

/// The HTTP side of a client: a pooled reqwest client and the configuration.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    /// One permit per request in flight (`max_concurrent_requests`): reqwest
    /// opens a connection for every request that finds none idle, so this
    /// is what bounds the connections a burst of calls opens.
    in_flight: Semaphore,
    config: Config,
    emitter: Emitter,
}

impl Transport {
    pub(crate) fn new(config: Config) -> Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(token) = &config.api_token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    Error::invalid(
                        crate::InputField::Config,
                        "api_token is not a valid header value",
                    )
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(config.pool_size)
            .connect_timeout(config.timeout)
            .user_agent(concat!(
                "cloudflare-durable-rust/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| Error::Network(format!("cannot build the HTTP client: {e}")))?;
        let emitter = Emitter::new(config.event_hook.as_ref().map(|h| h.0.clone()));
        Ok(Transport {
            http,
            in_flight: Semaphore::new(config.max_concurrent_requests),
            config,
            emitter,
        })
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    /// Sends the request, retrying what may be retried, and decodes the
    /// body of a 2xx reply with `decode`; a reply that does not decode is
    /// reported (events included) like any other failure.
    pub(crate) async fn execute<T>(
        &self,
        request: Request,
        decode: impl FnOnce(Bytes) -> Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        // Start and stop events cost two string copies each: built only when
        // someone receives them.
        let events = self.emitter.wants_request_events();
        if events {
            self.emitter.emit(Event::RequestStart {
                object: request.object.clone(),
                operation: request.operation,
                method: request.method_name.clone(),
            });
        }
        let mut backoff = Backoff::new(self.config.retry_delay, MAX_RETRY_DELAY);
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            match self.attempt(&request).await {
                Ok(body) => break Ok(body),
                Err(failure) => {
                    let retries_left = attempts <= self.config.retry_count;
                    let delay = match failure.error.retry_after() {
                        Some(after) if after > MAX_RETRY_AFTER => None,
                        Some(after) => Some(after),
                        None => Some(backoff.next_delay()),
                    };
                    match delay {
                        Some(delay) if failure.retryable && retries_left => {
                            tracing::debug!(attempt = attempts, ?delay, error = %failure.error, "retrying");
                            tokio::time::sleep(delay).await;
                        }
                        _ => break Err(failure.error),
                    }
                }
            }
        };
        let outcome = outcome.and_then(decode);
        if let Err(error) = &outcome {
            self.emitter.emit(Event::Error {
                object: request.object.clone(),
                operation: request.operation,
                kind: error.kind(),
                message: error.to_string(),
            });
        }
        if events {
            self.emitter.emit(Event::RequestStop {
                object: request.object,
                operation: request.operation,
                method: request.method_name,
                duration: started.elapsed(),
                attempts,
                error: outcome.as_ref().err().map(Error::kind),
            });
        }
        outcome
    }

    /// A slot for one request in flight, and what is left of `timeout` once
    /// it is taken: waiting for a slot counts against the attempt's time
    /// limit, and a request that never got one was never sent.
    async fn take_slot(
        &self,
        timeout: Duration,
    ) -> Result<(SemaphorePermit<'_>, Duration), Failure> {
        if let Ok(slot) = self.in_flight.try_acquire() {
            return Ok((slot, timeout));
        }
        let waiting_since = Instant::now();
        match tokio::time::timeout(timeout, self.in_flight.acquire()).await {
            Ok(Ok(slot)) => Ok((slot, timeout.saturating_sub(waiting_since.elapsed()))),
            // The semaphore is never closed; treat that like no slot.
            Ok(Err(_)) | Err(_) => Err(Failure::final_(Error::Timeout(format!(
                "no request slot free within {} ms: {} requests already in flight (max_concurrent_requests)",
                timeout.as_millis(),
                self.config.max_concurrent_requests
            )))),
        }
    }

    async fn attempt(&self, request: &Request) -> Result<Bytes, Failure> {
        let (_slot, time_left) = self.take_slot(request.timeout).await?;
        let base = request.base_url.as_ref().unwrap_or(&self.config.worker_url);
        let url = request_url(base, &request.path);
        let mut builder = self
            .http
            .request(request.http_method.clone(), url)
            .timeout(time_left);
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(traceparent) = &request.traceparent {
            builder = builder.header("traceparent", traceparent.clone());
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("Idempotency-Key", key.clone());
        }
        let repeatable = request.repeatable;
        let mut response = builder
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(e, repeatable))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        let body = read_body(&mut response, repeatable).await?;
        if status.is_success() {
            return Ok(body);
        }
        let (kind, message) = protocol::parse_error_body(&body);
        // 429: refused before running, always safe to retry. 502-504, or a
        // 500 not in the protocol's shape (a proxy's page): the request may
        // have run, so only a request safe to repeat is retried. A 500 in the
        // protocol's shape is the object's deliberate answer (a method
        // threw): the same request fails the same way.
        let retryable = status == StatusCode::TOO_MANY_REQUESTS
            || (request.repeatable
                && (matches!(status.as_u16(), 502..=504)
                    || (status.is_server_error() && kind.is_none())));
        let error = Error::from_remote(status.as_u16(), kind.as_deref(), message, retry_after);
        Err(Failure { error, retryable })
    }
}

/// The whole reply body, at most [`MAX_RESPONSE_BYTES`]. A body that comes
/// in one chunk (most replies) is returned as that chunk, without a copy.
async fn read_body(response: &mut reqwest::Response, repeatable: bool) -> Result<Bytes, Failure> {
    let too_large = || {
        Failure::final_(Error::InvalidResponse(format!(
            "reply body exceeds {MAX_RESPONSE_BYTES} bytes"
        )))
    };
    let transport = |e| Failure::from_reqwest(e, repeatable);
    let first = match response.chunk().await.map_err(transport)? {
        Some(chunk) => chunk,
        None => return Ok(Bytes::new()),
    };
    if first.len() > MAX_RESPONSE_BYTES {
        return Err(too_large());
    }
    let mut body = match response.chunk().await.map_err(transport)? {
        None => return Ok(first),
        Some(second) => [first, second].concat(),
    };
    loop {
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        match response.chunk().await.map_err(transport)? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => return Ok(Bytes::from(body)),
        }
    }
}

/// A failed attempt and whether another attempt may succeed.
struct Failure {
    error: Error,
    retryable: bool,
}

impl Failure {
    fn final_(error: Error) -> Self {
        Failure {
            error,
            retryable: false,
        }
    }

    /// A transport failure. A connect error means nothing was sent, so any
    /// request may be retried; after that, only a repeatable one.
    fn from_reqwest(e: reqwest::Error, repeatable: bool) -> Self {
        let e = e.without_url();
        let text = error_chain(&e);
        let retryable = repeatable || e.is_connect();
        if e.is_timeout() {
            Failure {
                error: Error::Timeout(text),
                retryable,
            }
        } else if e.is_builder() {
            Failure::final_(Error::invalid(crate::InputField::Config, text))
        } else {
            Failure {
                error: Error::Network(text),
                retryable,
            }
        }
    }
}

/// The error and its sources, joined: reqwest's own message alone hides the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `Retry-After` as seconds (the HTTP-date form is rare from Workers and is
/// ignored); a value too large for a `Duration` saturates at its maximum.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// `base` with `path_and_query` (already percent-encoded) appended to its
/// path. Built from the parsed base rather than parsed from a string again,
/// so the host is not re-validated on every request.
fn request_url(base: &Url, path_and_query: &str) -> Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    let mut joined = String::with_capacity(base.path().len() + path.len());
    joined.push_str(base.path().trim_end_matches('/'));
    joined.push_str(path);
    url.set_path(&joined);
    url.set_query(query);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_url_appends_the_encoded_path_and_query_as_given() {
        let base = Url::parse("https://w.example.com/prefix/").unwrap();
        let url = request_url(
            &base,
            "/object/a%2Fb%20c%25d%C3%A9/state?prefix=x%26y&limit=2",
        );
        assert_eq!(
            url.as_str(),
            "https://w.example.com/prefix/object/a%2Fb%20c%25d%C3%A9/state?prefix=x%26y&limit=2"
        );
        let base = Url::parse("http://127.0.0.1:8787").unwrap();
        let url = request_url(&base, "/object/x/method/echo");
        assert_eq!(url.as_str(), "http://127.0.0.1:8787/object/x/method/echo");
        assert_eq!(url.query(), None);
    }

    #[test]
    fn retry_after_is_read_as_seconds_and_saturates() {
        let after = |text: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, text.parse().unwrap());
            parse_retry_after(&headers)
        };
        assert_eq!(after("2"), Some(Duration::from_secs(2)));
        assert_eq!(after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(after("1e+300"), Some(Duration::MAX));
        assert_eq!(after("-1"), None);
        assert_eq!(after("NaN"), None);
        assert_eq!(after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
