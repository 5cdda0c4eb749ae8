//! [`ClientError`]: what can go wrong talking to the server, with Graph and OAuth error bodies
//! parsed when the server sent them.

use ostiary_api_types::{GraphError, GraphErrorBody, OAuthErrorBody};
use std::fmt;

/// Longest response text kept in [`HttpErrorBody::Text`].
const MAX_TEXT: usize = 512;

/// An error from [`crate::AdminClient`].
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-success status (`403 Authorization_RequestDenied: …`).
    /// The body is boxed to keep `Result<_, ClientError>` small.
    #[error("{0} {1}")]
    Http(u16, Box<HttpErrorBody>),
    /// The request could not be sent or the response not received (DNS, TCP, TLS, timeout).
    #[error("transport error: {0}")]
    Transport(String),
    /// A success response whose body is not what was expected, or a request that could not be
    /// encoded.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The client configuration is unusable (bad authority URL, unreadable CA certificate).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

/// The body of an HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpErrorBody {
    /// A Graph error (`{"error":{"code":…,"message":…}}`).
    Graph(GraphError),
    /// A token-endpoint error (`{"error":"invalid_client","error_description":…}`).
    OAuth(OAuthErrorBody),
    /// Anything else: the (truncated) response text, or the status reason if it was empty.
    Text(String),
}

impl fmt::Display for HttpErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpErrorBody::Graph(e) => e.fmt(f),
            HttpErrorBody::OAuth(e) => e.fmt(f),
            HttpErrorBody::Text(t) => f.write_str(t),
        }
    }
}

impl ClientError {
    /// Builds the error for a non-success response from its status and body bytes.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        if let Ok(g) = serde_json::from_slice::<GraphErrorBody>(body) {
            return ClientError::Http(status, Box::new(HttpErrorBody::Graph(g.error)));
        }
        if let Ok(o) = serde_json::from_slice::<OAuthErrorBody>(body) {
            return ClientError::Http(status, Box::new(HttpErrorBody::OAuth(o)));
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let text = if text.is_empty() {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("(empty response)")
                .to_owned()
        } else if text.chars().count() > MAX_TEXT {
            let mut t: String = text.chars().take(MAX_TEXT).collect();
            t.push('…');
            t
        } else {
            text.to_owned()
        };
        ClientError::Http(status, Box::new(HttpErrorBody::Text(text)))
    }

    /// A Graph-shaped 404 for an object that a client-side lookup (by UPN or `appId`) did not
    /// find.
    pub(crate) fn not_found(what: &str) -> Self {
        ClientError::Http(
            404,
            Box::new(HttpErrorBody::Graph(GraphError {
                code: "Request_ResourceNotFound".to_owned(),
                message: format!(
                    "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
                ),
                target: None,
                inner_error: None,
            })),
        )
    }

    /// The HTTP status, for [`ClientError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Http(s, _) => Some(*s),
            _ => None,
        }
    }

    /// The Graph `code` or OAuth `error`, for [`ClientError::Http`] with a parsed body.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Http(_, body) => match body.as_ref() {
                HttpErrorBody::Graph(g) => Some(&g.code),
                HttpErrorBody::OAuth(o) => Some(&o.error),
                HttpErrorBody::Text(_) => None,
            },
            _ => None,
        }
    }

    /// The message (Graph `message`, OAuth `error_description` first line, or text).
    pub fn message(&self) -> String {
        match self {
            ClientError::Http(_, body) => match body.as_ref() {
                HttpErrorBody::Graph(g) => g.message.clone(),
                HttpErrorBody::OAuth(o) => o.short_description().unwrap_or_default().to_owned(),
                HttpErrorBody::Text(t) => t.clone(),
            },
            ClientError::Transport(m) | ClientError::Decode(m) | ClientError::Config(m) => m.clone(),
        }
    }

    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

pub(crate) fn transport(e: reqwest::Error) -> ClientError {
    // reqwest's Display omits the underlying cause (for example the TLS verification failure);
    // walk the source chain so that operators see it.
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        source = s.source();
    }
    ClientError::Transport(msg)
}
