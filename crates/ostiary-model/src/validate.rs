//! Validation of property values that Graph constrains (UPN, mail nickname, URIs, lengths).

use crate::error::ModelError;

/// Graph's limit on `displayName` of users and groups.
pub const MAX_DISPLAY_NAME: usize = 256;

pub fn display_name(property: &str, v: &str) -> Result<(), ModelError> {
    if v.trim().is_empty() {
        return Err(ModelError::invalid(property, "must not be empty"));
    }
    if v.chars().count() > MAX_DISPLAY_NAME {
        return Err(ModelError::invalid(property, "longer than 256 characters"));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ModelError::invalid(property, "contains control characters"));
    }
    Ok(())
}

/// `userPrincipalName`: `alias@domain`, alias of the characters Entra allows, at most 113
/// characters before `@` and 256 in all. Returns the domain part (lowercased).
pub fn user_principal_name(v: &str) -> Result<String, ModelError> {
    let bad = |r: &str| ModelError::invalid("userPrincipalName", r.to_string());
    if v.len() > 256 {
        return Err(bad("longer than 256 characters"));
    }
    let (alias, domain) = v.split_once('@').ok_or_else(|| bad("must be alias@domain"))?;
    if alias.is_empty() || alias.len() > 113 {
        return Err(bad("alias must be 1 to 113 characters"));
    }
    if domain.contains('@') {
        return Err(bad("contains more than one '@'"));
    }
    let alias_ok = alias.chars().all(|c| c.is_ascii_alphanumeric() || "'.-_!#^~+&$%*/=?`{|}".contains(c));
    if !alias_ok || alias.starts_with('.') || alias.ends_with('.') || alias.contains("..") {
        return Err(bad("alias contains characters that are not allowed"));
    }
    domain_name(domain).map_err(|_| bad("domain is not a valid domain name"))?;
    Ok(domain.to_ascii_lowercase())
}

pub fn domain_name(v: &str) -> Result<(), ModelError> {
    let bad = || ModelError::invalid("domain", "not a valid domain name");
    if v.is_empty() || v.len() > 253 || !v.contains('.') {
        return Err(bad());
    }
    for label in v.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// `mailNickname`: 1 to 64 ASCII characters without spaces or the characters Exchange rejects.
pub fn mail_nickname(v: &str) -> Result<(), ModelError> {
    let ok = !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid("mailNickname", "1 to 64 characters, no spaces or @()\\[]\";:<>,"))
    }
}

/// Identifier URIs: absolute URIs without fragments or wildcards, at most 255 characters.
pub fn identifier_uri(v: &str) -> Result<(), ModelError> {
    let bad = |r: &str| ModelError::invalid("identifierUris", r.to_string());
    if v.len() > 255 {
        return Err(bad("longer than 255 characters"));
    }
    let Some((scheme, rest)) = v.split_once(':') else {
        return Err(bad("must be an absolute URI"));
    };
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) {
        return Err(bad("must be an absolute URI"));
    }
    if rest.is_empty() || v.contains('#') || v.contains('*') || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain fragments, wildcards or spaces"));
    }
    if v.ends_with("/.default") {
        return Err(bad("must not end with /.default"));
    }
    Ok(())
}

/// Redirect URIs: absolute, no fragment, at most 256 characters; http only for loopback.
pub fn redirect_uri(v: &str) -> Result<(), ModelError> {
    let bad = |r: &str| ModelError::invalid("redirectUris", r.to_string());
    if v.len() > 256 || v.contains('#') || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must be at most 256 characters without fragment or spaces"));
    }
    let lower = v.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("http://") {
        let host = rest.split(['/', ':', '?']).next().unwrap_or("");
        if !(host == "localhost" || host == "127.0.0.1" || host == "[::1]") {
            return Err(bad("http is allowed only for localhost"));
        }
        return Ok(());
    }
    if lower.starts_with("https://") || (lower.contains("://") && !lower.starts_with("javascript:")) {
        return Ok(());
    }
    Err(bad("must be an absolute URI"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn upn_rules() {
        assert_eq!(user_principal_name("Ada@Contoso.Test").unwrap(), "contoso.test");
        for bad in ["ada", "@x.test", "a@b", "a@@b.test", "a b@x.test", ".a@x.test", "a..b@x.test", "a@-x.test"] {
            assert!(user_principal_name(bad).is_err(), "{bad}");
        }
        assert!(user_principal_name(&format!("{}@x.test", "a".repeat(114))).is_err());
    }

    #[test]
    fn nickname_and_uris() {
        assert!(mail_nickname("ada.l").is_ok());
        assert!(mail_nickname("ada l").is_err());
        assert!(mail_nickname("").is_err());
        assert!(identifier_uri("api://orders").is_ok());
        assert!(identifier_uri("https://contoso.test/api").is_ok());
        assert!(identifier_uri("orders").is_err());
        assert!(identifier_uri("api://x/*").is_err());
        assert!(redirect_uri("http://localhost:8400/cb").is_ok());
        assert!(redirect_uri("http://evil.test/cb").is_err());
        assert!(redirect_uri("https://app.test/cb#x").is_err());
        assert!(display_name("displayName", " ").is_err());
    }
}
