//! OData query-string building: `$filter`/`$top`/`$select` for list calls, percent-encoding of
//! values and quoting of OData string literals.

use std::fmt::Write as _;

/// Query options of a list call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// `$filter` expression, for example `startswith(displayName,'Ada')`.
    pub filter: Option<String>,
    /// `$top`: page size. When set, list methods return only the first page.
    pub top: Option<u32>,
    /// `$select`: the properties to return (empty = the server's default set).
    pub select: Vec<String>,
}

impl ListQuery {
    /// A query with only `$filter`.
    pub fn filter(filter: impl Into<String>) -> Self {
        ListQuery { filter: Some(filter.into()), ..ListQuery::default() }
    }

    /// The query string, starting with `?`, or empty when no option is set.
    pub fn to_query_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(f) = &self.filter {
            parts.push(format!("$filter={}", encode_query_value(f)));
        }
        if let Some(t) = self.top {
            parts.push(format!("$top={t}"));
        }
        if !self.select.is_empty() {
            parts.push(format!("$select={}", encode_query_value(&self.select.join(","))));
        }
        if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
    }

    /// `path` followed by this query string.
    pub fn apply(&self, path: &str) -> String {
        format!("{path}{}", self.to_query_string())
    }
}

/// Percent-encodes a query-string value: everything but RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) is escaped, so spaces become `%20`.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An OData string literal: `value` in single quotes, with embedded quotes doubled.
pub fn odata_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
