//! Scope rules for app-only tokens: exactly one `<resource>/.default`.

use crate::error::OAuthError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppScope {
    /// The resource identifier as requested: an identifier URI or an appId GUID (maybe
    /// `api://<guid>`), without the `/.default` suffix.
    pub resource: String,
}

/// Parses the `scope` of a client-credentials request. Entra requires a single
/// `<resource>/.default`; OIDC scopes make no sense for app-only tokens.
pub fn parse_app_scope(scope: Option<&str>) -> Result<AppScope, OAuthError> {
    let scope = scope.ok_or_else(|| OAuthError::missing_parameter("scope"))?;
    let items: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let [item] = items.as_slice() else {
        return Err(OAuthError::invalid_scope(
            "The scope must be a single '<resource>/.default' value for the client credentials flow.",
        ));
    };
    let Some(resource) = item.strip_suffix("/.default") else {
        return Err(OAuthError::invalid_scope(&format!(
            "The scope {} is not valid. The .default scope must be used for the client credentials flow.",
            crate::error::sanitize(item)
        )));
    };
    if resource.is_empty() || resource.len() > 512 {
        return Err(OAuthError::invalid_scope("The resource part of the scope is empty or too long."));
    }
    Ok(AppScope { resource: resource.to_string() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scope_rules() {
        assert_eq!(parse_app_scope(Some("api://x/.default")).unwrap().resource, "api://x");
        assert_eq!(
            parse_app_scope(Some("  https://graph.microsoft.com/.default ")).unwrap().resource,
            "https://graph.microsoft.com"
        );
        for bad in ["api://x/read", "a/.default b/.default", "/.default", ""] {
            assert_eq!(parse_app_scope(Some(bad)).unwrap_err().code, 70011, "{bad}");
        }
        assert_eq!(parse_app_scope(None).unwrap_err().code, 900144);
    }
}
