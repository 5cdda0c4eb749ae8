//! Scopes of user (delegated) flows as Entra reads them: OIDC scopes, plus the permissions of a
//! single resource written `<resource>/<value>`; bare values mean Microsoft Graph.

use crate::error::{OAuthError, sanitize};

/// The OIDC scopes, in their canonical lower-case spelling.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
/// The resource a scope without a `/` belongs to (`User.Read` ≡ `https://graph.microsoft.com/User.Read`).
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Longest scope value (the part after the last `/`).
pub const MAX_SCOPE_VALUE: usize = 256;
/// Longest resource identifier (as `parse_app_scope`).
pub const MAX_RESOURCE: usize = 512;
/// More scopes than this in one request is refused.
pub const MAX_SCOPES: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelegatedScopes {
    /// Subset of `openid`, `profile`, `email`, `offline_access`, lower case, in request order.
    pub oidc: Vec<String>,
    /// The resource identifier: the part before the last `/` of a resource scope, as first
    /// written (`api://orders`, `https://graph.microsoft.com`, an appId GUID). `None` when only
    /// OIDC scopes were requested.
    pub resource: Option<String>,
    /// Scope values on that resource (`["Orders.Read"]`, or `[".default"]`), in request order,
    /// duplicates (ASCII case-insensitive) removed, `.default` spelled in lower case.
    pub scopes: Vec<String>,
}

impl DelegatedScopes {
    /// `true` when the OIDC scope was requested (case-insensitive).
    pub fn has(&self, oidc_scope: &str) -> bool {
        self.oidc.iter().any(|s| s.eq_ignore_ascii_case(oidc_scope))
    }

    /// `true` when the resource scope is `.default`.
    pub fn is_default(&self) -> bool {
        self.scopes.iter().any(|s| s == ".default")
    }
}

/// Splits the requested scopes (already split on spaces; empty items are skipped) into OIDC
/// scopes and the permissions of one resource.
///
/// * OIDC scopes are recognised case-insensitively and normalised to lower case.
/// * `<resource>/<value>` splits at the last `/` (`api://x/y/.default` → `api://x/y`, `.default`);
///   the resource must not be just a scheme (`api://x` alone is refused).
/// * A non-OIDC value without `/` is a Microsoft Graph permission.
/// * Scopes of more than one resource, or `.default` mixed with other values, are `invalid_scope`
///   (AADSTS70011). Resource identifiers are compared ASCII case-insensitively.
/// * Values must be non-empty and at most 256 characters; scopes are printable ASCII (no
///   whitespace, control, bidi-override or other non-ASCII characters that could spoof a consent
///   screen).
/// * No scope at all is AADSTS900144 (`scope` is required).
pub fn parse_delegated_scopes(scope: &[String]) -> Result<DelegatedScopes, OAuthError> {
    let items: Vec<&str> = scope.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err(OAuthError::missing_parameter("scope"));
    }
    if items.len() > MAX_SCOPES {
        return Err(OAuthError::invalid_scope(&format!("At most {MAX_SCOPES} scopes may be requested.")));
    }
    let mut out = DelegatedScopes::default();
    for item in items {
        if !item.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OAuthError::invalid_scope("A scope contains whitespace, control or non-ASCII characters."));
        }
        if let Some(oidc) = OIDC_SCOPES.iter().find(|o| o.eq_ignore_ascii_case(item)) {
            if !out.oidc.iter().any(|s| s == oidc) {
                out.oidc.push((*oidc).to_string());
            }
            continue;
        }
        let (resource, value) = split_resource(item)?;
        if value.is_empty() || value.len() > MAX_SCOPE_VALUE {
            return Err(OAuthError::invalid_scope(&format!(
                "The scope {} is not valid: the scope value must be 1 to {MAX_SCOPE_VALUE} characters.",
                sanitize(item)
            )));
        }
        if resource.is_empty() || resource.len() > MAX_RESOURCE {
            return Err(OAuthError::invalid_scope(&format!(
                "The scope {} is not valid: the resource identifier is empty or too long.",
                sanitize(item)
            )));
        }
        match &out.resource {
            None => out.resource = Some(resource.to_string()),
            Some(r) if r.eq_ignore_ascii_case(resource) => {}
            Some(r) => {
                return Err(OAuthError::invalid_scope(&format!(
                    "The scopes request permissions for multiple resources ('{}' and '{}'); a token can be issued for one resource at a time.",
                    sanitize(r),
                    sanitize(resource)
                )));
            }
        }
        let value = if value.eq_ignore_ascii_case(".default") { ".default" } else { value };
        if !out.scopes.iter().any(|s| s.eq_ignore_ascii_case(value)) {
            out.scopes.push(value.to_string());
        }
    }
    if out.scopes.len() > 1 && out.is_default() {
        return Err(OAuthError::invalid_scope(
            "The '.default' scope can't be combined with other scopes of the same resource.",
        ));
    }
    Ok(out)
}

/// `(resource, value)` of a non-OIDC scope.
fn split_resource(item: &str) -> Result<(&str, &str), OAuthError> {
    let Some((resource, value)) = item.rsplit_once('/') else {
        return Ok((GRAPH_RESOURCE, item));
    };
    // `api://x` or `https://host` alone (the last '/' is part of "://"), or an empty authority
    // (`https:///x`): not `<resource>/<value>`.
    let no_authority = match resource.split_once("://") {
        Some((_, rest)) => rest.is_empty() || rest.starts_with('/'),
        None => resource.ends_with(":/"),
    };
    if no_authority {
        return Err(OAuthError::invalid_scope(&format!(
            "The scope {} is not valid: a resource scope is written '<resource>/<permission>'.",
            sanitize(item)
        )));
    }
    Ok((resource, value))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn p(s: &str) -> Result<DelegatedScopes, OAuthError> {
        let v: Vec<String> = s.split(' ').map(str::to_string).collect();
        parse_delegated_scopes(&v)
    }

    fn ok(s: &str) -> DelegatedScopes {
        p(s).unwrap()
    }

    #[test]
    fn graph_and_oidc() {
        let d = ok("User.Read openid profile offline_access");
        assert_eq!(d.oidc, vec!["openid", "profile", "offline_access"]);
        assert_eq!(d.resource.as_deref(), Some(GRAPH_RESOURCE));
        assert_eq!(d.scopes, vec!["User.Read"]);
        assert!(d.has("openid") && d.has("OpenID") && !d.has("email"));
        // Bare and prefixed Graph scopes are the same resource.
        let d = ok("User.Read https://graph.microsoft.com/Mail.Read");
        assert_eq!(d.resource.as_deref(), Some(GRAPH_RESOURCE));
        assert_eq!(d.scopes, vec!["User.Read", "Mail.Read"]);
    }

    #[test]
    fn oidc_only_and_normalisation() {
        let d = ok("OpenID PROFILE Email offline_ACCESS openid");
        assert_eq!(d.oidc, vec!["openid", "profile", "email", "offline_access"]);
        assert_eq!(d.resource, None);
        assert!(d.scopes.is_empty());
    }

    #[test]
    fn resource_scopes() {
        let d = ok("api://orders/Orders.Read openid api://orders/Orders.Write");
        assert_eq!(d.resource.as_deref(), Some("api://orders"));
        assert_eq!(d.scopes, vec!["Orders.Read", "Orders.Write"]);
        let d = ok("api://x/y/.default");
        assert_eq!((d.resource.as_deref(), d.scopes.clone()), (Some("api://x/y"), vec![".default".to_string()]));
        assert!(d.is_default());
        let d = ok("6e74172b-be56-4843-9ff4-e66a39bb12e3/access_as_user offline_access");
        assert_eq!(d.resource.as_deref(), Some("6e74172b-be56-4843-9ff4-e66a39bb12e3"));
        assert_eq!(d.scopes, vec!["access_as_user"]);
        let d = ok("https://graph.microsoft.com/.DEFAULT openid");
        assert_eq!(d.scopes, vec![".default"]);
        let d = ok(".default");
        assert_eq!((d.resource.as_deref(), d.scopes.clone()), (Some(GRAPH_RESOURCE), vec![".default".to_string()]));
        // kiota's derived scope for a local Graph (R13).
        let d = ok("http://127.0.0.1/.default");
        assert_eq!(d.resource.as_deref(), Some("http://127.0.0.1"));
    }

    #[test]
    fn duplicates_and_case() {
        let d = ok("api://x/Read api://x/read API://X/Write api://x/Read");
        assert_eq!(d.resource.as_deref(), Some("api://x"), "first spelling kept");
        assert_eq!(d.scopes, vec!["Read", "Write"]);
    }

    #[test]
    fn multiple_resources_refused() {
        for bad in [
            "User.Read api://orders/Orders.Read",
            "api://a/x api://b/x",
            "api://a/.default https://graph.microsoft.com/.default",
            "api://a/x/y api://a/y",
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!((e.kind, e.code), (ErrorKind::InvalidScope, 70011), "{bad}");
            assert!(e.description.contains("multiple resources"), "{bad}");
        }
    }

    #[test]
    fn default_mixing_refused() {
        for bad in
            ["api://a/.default api://a/x", "User.Read .default", "https://graph.microsoft.com/.default User.Read"]
        {
            assert_eq!(p(bad).unwrap_err().code, 70011, "{bad}");
        }
        // .default with OIDC scopes is fine.
        assert!(p("api://a/.default openid offline_access").is_ok());
        // Repeating .default is harmless.
        assert_eq!(ok("api://a/.default api://a/.default").scopes, vec![".default"]);
    }

    #[test]
    fn malformed_scopes() {
        for bad in [
            "api://x",
            "https://graph.microsoft.com",
            "api://x/",
            "/User.Read",
            "https:///x",
            "https:///x/y",
            "api:///.default",
            "a\u{0}b",
            "a\tb",
            "a\nb",
            "a\u{a0}b",
            "a\u{202e}b",
            "Usér.Read",
            "api://ордер/x",
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidScope, "{bad:?}");
            assert!(!e.description.contains('\0') && !e.description.contains('\n'), "{bad:?}");
        }
        assert!(p(&"a".repeat(MAX_SCOPE_VALUE)).is_ok());
        assert!(p(&"a".repeat(MAX_SCOPE_VALUE + 1)).is_err());
        assert!(p(&format!("api://{}/x", "r".repeat(MAX_RESOURCE))).is_err());
        assert!(p(&format!("api://{}/x", "r".repeat(MAX_RESOURCE - 6))).is_ok());
    }

    #[test]
    fn empty_and_too_many() {
        assert_eq!(parse_delegated_scopes(&[]).unwrap_err().code, 900144);
        assert_eq!(parse_delegated_scopes(&[String::new(), String::new()]).unwrap_err().code, 900144);
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("S{i}")).collect();
        assert_eq!(parse_delegated_scopes(&many).unwrap_err().code, 70011);
        let fine: Vec<String> = (0..MAX_SCOPES).map(|i| format!("S{i}")).collect();
        assert_eq!(parse_delegated_scopes(&fine).unwrap().scopes.len(), MAX_SCOPES);
    }

    #[test]
    fn error_text_is_sanitised() {
        let e = p(&format!("api://{}/x api://b\u{1b}[31m/y", "z".repeat(600))).unwrap_err();
        assert!(!e.description.contains('\u{1b}'));
        assert!(e.description.len() < 1200);
    }
}
