//! Entity tags for `If-Match` / `If-None-Match` (RFC 7232). The server's ETags are weak
//! (`W/"<hex>"`); both headers are evaluated with the weak comparison (the opaque tags are equal,
//! whatever their `W/` prefixes), since a strong comparison would never match a weak tag and SCIM
//! clients echo `meta.version` back verbatim.

/// The weak ETag for a version string: `W/"<version>"`.
pub fn weak_etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

/// The opaque part of one entity tag (`W/"x"`, `"x"`, or leniently a bare `x`).
fn opaque(tag: &str) -> &str {
    let t = tag.trim();
    let t = t.strip_prefix("W/").or_else(|| t.strip_prefix("w/")).unwrap_or(t);
    t.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(t)
}

/// Whether a header value (a comma-separated list of entity tags, or `*`) matches `current`.
/// `*` matches any current representation.
pub fn etag_matches(header: &str, current: &str) -> bool {
    let want = opaque(current);
    let h = header.trim();
    if h == "*" {
        return true;
    }
    let (mut in_q, mut start) = (false, 0);
    let mut tags = Vec::new();
    for (i, c) in h.char_indices() {
        match c {
            '"' => in_q = !in_q,
            ',' if !in_q => {
                tags.push(h.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    tags.push(h.get(start..).unwrap_or_default());
    tags.into_iter().map(str::trim).filter(|t| !t.is_empty()).any(|t| t == "*" || opaque(t) == want)
}
