//! Resolution of the `{tenant}` path segment and other identifiers clients send.

use ostiary_model::TenantId;

/// The aliases Entra accepts in place of a tenant; app-only grants are refused on them.
pub fn is_multi_tenant_alias(segment: &str) -> bool {
    matches!(segment.to_ascii_lowercase().as_str(), "common" | "organizations" | "consumers")
}

/// A tenant segment is a GUID or a domain; AZID restricts it to `[A-Za-z0-9.-]`.
pub fn parse_tenant_segment(segment: &str) -> Option<TenantSegment> {
    if segment.is_empty() || segment.len() > 253 {
        return None;
    }
    if let Ok(id) = segment.parse::<TenantId>() {
        return Some(TenantSegment::Id(id));
    }
    if segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
        return Some(TenantSegment::Domain(segment.to_ascii_lowercase()));
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSegment {
    Id(TenantId),
    Domain(String),
}

/// RFC 3339 text of a time, as Graph writes `createdDateTime` (empty if unrepresentable).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
