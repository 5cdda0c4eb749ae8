//! Error bodies: Graph's `{"error":{"code","message","innerError"}}` and the OAuth 2.0 token
//! endpoint's `{"error","error_description","error_codes",…}`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A Graph error response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphErrorBody {
    /// The error.
    pub error: GraphError,
}

impl GraphErrorBody {
    /// An error body with `code` and `message` and no `innerError`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        GraphErrorBody {
            error: GraphError { code: code.into(), message: message.into(), target: None, inner_error: None },
        }
    }
}

/// The `error` member of a Graph error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphError {
    /// `Request_ResourceNotFound`, `Authorization_RequestDenied`, `Request_BadRequest`, …
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The property or parameter at fault, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Request correlation details.
    #[serde(rename = "innerError", default, skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<InnerError>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// `innerError` of a Graph error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerError {
    /// `request-id`.
    #[serde(rename = "request-id", default)]
    pub request_id: Option<String>,
    /// `date` (`2025-02-13T10:17:06`).
    #[serde(default)]
    pub date: Option<String>,
    /// `client-request-id`, echoing the request header.
    #[serde(rename = "client-request-id", default)]
    pub client_request_id: Option<String>,
}

/// An OAuth 2.0 / Entra token-endpoint error body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    /// `invalid_client`, `invalid_grant`, `invalid_scope`, …
    pub error: String,
    /// `AADSTS<code>: <message>` plus the trace/correlation/timestamp trailer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The AADSTS numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_codes: Option<Vec<u32>>,
    /// `2016-01-09 02:02:12Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    /// `consent_required`, `user_password_expired`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suberror: Option<String>,
    /// A claims challenge (JSON string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
}

impl OAuthErrorBody {
    /// The first line of `error_description` (without the trace/correlation trailer).
    pub fn short_description(&self) -> Option<&str> {
        self.error_description.as_deref().and_then(|d| d.lines().next()).map(str::trim_end)
    }
}

impl fmt::Display for OAuthErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.short_description() {
            Some(d) if !d.is_empty() => write!(f, "{}: {d}", self.error),
            _ => f.write_str(&self.error),
        }
    }
}
