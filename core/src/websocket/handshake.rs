//! Opening one WebSocket connection: the URL, the auth header, and which
//! failures a retry cannot fix.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::config::Config;
use crate::error::Error;
use crate::object_ref::ObjectRoute;
use crate::protocol;
use crate::transport::MAX_RESPONSE_BYTES;

/// Read buffer of a socket: small frames are the norm; larger ones grow it.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// An open socket.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) struct ConnectFailure {
    pub error: Error,
    /// True when retrying cannot help (401, 403, 404, 400 on the upgrade).
    pub permanent: bool,
}

/// The socket URL for an object, resuming after `after` when given.
pub(crate) fn socket_url(config: &Config, route: &ObjectRoute, after: Option<u64>) -> String {
    let base = config.worker_url.as_str().trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    let after = after.map(|seq| format!("&after={seq}")).unwrap_or_default();
    format!("{base}{}", route.path("/websocket", &after))
}

/// Connects once, with the bearer token when configured.
pub(crate) async fn open(config: &Config, url: &str) -> Result<Socket, ConnectFailure> {
    let mut request = url.into_client_request().map_err(|e| ConnectFailure {
        error: Error::invalid(crate::InputField::Config, format!("bad socket URL: {e}")),
        permanent: true,
    })?;
    if let Some(token) = &config.api_token {
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| ConnectFailure {
                error: Error::invalid(
                    crate::InputField::Config,
                    "api_token is not a valid header value",
                ),
                permanent: true,
            })?;
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
    }
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_RESPONSE_BYTES))
        .max_frame_size(Some(MAX_RESPONSE_BYTES))
        // tungstenite zero-fills its read buffer before every read: the
        // 128 KiB default made that memset most of a socket's CPU, and most
        // of an idle socket's memory (bench/results/FINDINGS.md).
        .read_buffer_size(READ_BUFFER_BYTES);
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true);
    match tokio::time::timeout(config.timeout, connect).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(e)) => Err(classify(e)),
        Err(_) => Err(ConnectFailure {
            error: Error::Timeout(format!(
                "WebSocket handshake took over {} ms",
                config.timeout.as_millis()
            )),
            permanent: false,
        }),
    }
}

fn classify(error: tungstenite::Error) -> ConnectFailure {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            let (kind, message) = protocol::parse_error_body(body);
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
            ConnectFailure {
                error: Error::from_remote(status, kind.as_deref(), message, retry_after),
                permanent: matches!(status, 400 | 401 | 403 | 404),
            }
        }
        tungstenite::Error::Url(e) => ConnectFailure {
            error: Error::invalid(crate::InputField::Config, format!("bad socket URL: {e}")),
            permanent: true,
        },
        other => ConnectFailure {
            error: Error::Network(format!("WebSocket connect failed: {other}")),
            permanent: false,
        },
    }
}
