//! Redirect URI matching: exact, case-sensitive string equality per platform, plus the RFC 8252
//! 7.3 loopback rule (any port) for public clients only.
//!
//! The requested URI must look like `scheme://authority[/path][?query]`: ASCII, no whitespace or
//! control characters, no backslash, no fragment, no userinfo, a non-empty authority, and not a
//! script-capable scheme (`javascript`, `data`, `vbscript`, `file`, `blob`, `about`). Web and SPA
//! redirects must be `http` or `https`; public clients may use custom schemes
//! (`msal<client-id>://auth`, `com.example.app://cb`).

/// The app-registration platform whose list matched (Graph `web`, `spa`, `publicClient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Web,
    Spa,
    PublicClient,
}

/// The registered redirect URIs of an application, per platform.
#[derive(Debug, Clone, Copy)]
pub struct RegisteredRedirects<'a> {
    pub web: &'a [String],
    pub spa: &'a [String],
    pub public_client: &'a [String],
}

/// Longest redirect URI we consider (Entra allows 256 at registration; requests get slack).
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// Finds the platform whose registration contains `requested`.
///
/// Exact matches are tried first, in the order Web, SPA, public client (a registration should not
/// list one URI under two platforms; if it does, the first wins). Then, for public clients only,
/// a registered `http://localhost`, `http://127.0.0.1` or `http://[::1]` URI (any port or none)
/// matches a request with the same scheme, the same host spelled identically, any port, the same
/// path (no path ≡ `/`) and the same query.
pub fn match_redirect_uri(requested: &str, reg: &RegisteredRedirects<'_>) -> Option<Platform> {
    let req = parse_uri(requested)?;
    let web_scheme = req.scheme == "http" || req.scheme == "https";
    if web_scheme && reg.web.iter().any(|r| r == requested) {
        return Some(Platform::Web);
    }
    if web_scheme && reg.spa.iter().any(|r| r == requested) {
        return Some(Platform::Spa);
    }
    if reg.public_client.iter().any(|r| r == requested) {
        return Some(Platform::PublicClient);
    }
    if req.scheme == "http" && is_loopback_host(req.host) && valid_port(req.port) {
        let loopback_match = reg.public_client.iter().filter_map(|r| parse_uri(r)).any(|r| {
            r.scheme == "http"
                && r.host == req.host
                && valid_port(r.port)
                && same_path(r.path, req.path)
                && r.query == req.query
        });
        if loopback_match {
            return Some(Platform::PublicClient);
        }
    }
    None
}

/// `true` when `uri` is syntactically acceptable as a redirect URI (see the module docs). Used by
/// `/authorize` parsing to decide whether a bad `redirect_uri` is fatal.
pub fn is_valid_redirect_uri(uri: &str) -> bool {
    parse_uri(uri).is_some()
}

/// The pieces of a redirect URI we compare. All are slices of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UriParts<'a> {
    /// Lower-case as written (upper-case schemes are refused rather than normalised).
    pub scheme: &'a str,
    /// Host as written (`localhost`, `127.0.0.1`, `[::1]`, `app.test`).
    pub host: &'a str,
    /// Port digits after `:` (may be empty or bad; only the loopback rule looks at it).
    pub port: Option<&'a str>,
    /// Everything from the first `/` after the authority up to `?` (may be empty).
    pub path: &'a str,
    /// Everything after `?`, if there is a `?`.
    pub query: Option<&'a str>,
}

const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "vbscript", "file", "blob", "about"];

pub(crate) fn parse_uri(s: &str) -> Option<UriParts<'_>> {
    if s.is_empty() || s.len() > MAX_REDIRECT_URI_LEN {
        return None;
    }
    // Printable ASCII only; no space, backslash (browsers read it as '/'), or fragment.
    if !s.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\' && b != b'#') {
        return None;
    }
    let (scheme, rest) = s.split_once("://")?;
    let mut sb = scheme.bytes();
    let first_ok = sb.next().is_some_and(|b| b.is_ascii_lowercase());
    if !first_ok || !sb.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')) {
        return None;
    }
    if FORBIDDEN_SCHEMES.contains(&scheme) {
        return None;
    }
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let close = after.find(']')?;
        let host = authority.get(..close + 2)?;
        let rest = authority.get(close + 2..)?;
        let port = match rest {
            "" => None,
            r => Some(r.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.len() == 2 && host.starts_with('[') {
        return None;
    }
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    Some(UriParts { scheme, host, port, path, query })
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// No port, or 1..=65535 in at most five digits.
fn valid_port(port: Option<&str>) -> bool {
    match port {
        None => true,
        Some(p) => {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
        }
    }
}

fn same_path(registered: &str, requested: &str) -> bool {
    let norm = |p: &str| if p.is_empty() { "/" } else { p }.to_string();
    norm(registered) == norm(requested)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    struct Reg {
        web: Vec<String>,
        spa: Vec<String>,
        public: Vec<String>,
    }

    impl Reg {
        fn new(web: &[&str], spa: &[&str], public: &[&str]) -> Self {
            Reg { web: v(web), spa: v(spa), public: v(public) }
        }
        fn m(&self, requested: &str) -> Option<Platform> {
            match_redirect_uri(
                requested,
                &RegisteredRedirects { web: &self.web, spa: &self.spa, public_client: &self.public },
            )
        }
    }

    #[test]
    fn exact_match_per_platform() {
        let r = Reg::new(&["https://app.test/cb"], &["https://spa.test/"], &["msalabc://auth", "http://localhost"]);
        assert_eq!(r.m("https://app.test/cb"), Some(Platform::Web));
        assert_eq!(r.m("https://spa.test/"), Some(Platform::Spa));
        assert_eq!(r.m("msalabc://auth"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://localhost"), Some(Platform::PublicClient));
        assert_eq!(r.m("https://other.test/cb"), None);
    }

    #[test]
    fn exact_means_exact() {
        let r = Reg::new(&["https://app.test/cb"], &["https://spa.test/app"], &[]);
        for bad in [
            "https://app.test/cb/",
            "https://app.test/cb?x=1",
            "https://app.test/cb?",
            "https://APP.test/cb",
            "https://app.test/CB",
            "HTTPS://app.test/cb",
            "http://app.test/cb",
            "https://app.test:443/cb",
            "https://app.test/cb#",
            "https://app.test/cb#frag",
            "https://app.test/cb ",
            " https://app.test/cb",
            "https://app.test/c%62",
            "https://app.test/./cb",
            "https://app.test//cb",
            "https://app.test/cb/..",
            "https://app.test.evil.test/cb",
            "https://spa.test/app/",
            "https://spa.test/App",
        ] {
            assert_eq!(r.m(bad), None, "{bad}");
        }
    }

    #[test]
    fn registered_query_must_match_exactly() {
        let r = Reg::new(&["https://app.test/cb?tenant=a"], &[], &["http://localhost/cb?x=1"]);
        assert_eq!(r.m("https://app.test/cb?tenant=a"), Some(Platform::Web));
        assert_eq!(r.m("https://app.test/cb?tenant=b"), None);
        assert_eq!(r.m("https://app.test/cb"), None);
        assert_eq!(r.m("http://localhost:5000/cb?x=1"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://localhost:5000/cb?x=2"), None);
        assert_eq!(r.m("http://localhost:5000/cb"), None);
    }

    #[test]
    fn loopback_any_port_public_only() {
        let r = Reg::new(&["http://localhost/cb"], &["http://localhost/cb"], &[]);
        assert_eq!(r.m("http://localhost:1234/cb"), None, "no loopback rule for web/spa");
        let r = Reg::new(&[], &[], &["http://localhost/cb"]);
        assert_eq!(r.m("http://localhost:1234/cb"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://localhost:65535/cb"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://localhost/cb"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://localhost:1/cb"), Some(Platform::PublicClient));
        for bad in [
            "http://localhost:0/cb",
            "http://localhost:65536/cb",
            "http://localhost:123456/cb",
            "http://localhost:/cb",
            "http://localhost:abc/cb",
            "http://localhost:+80/cb",
            "http://localhost:-1/cb",
            "http://localhost:1234/cb/",
            "http://localhost:1234/CB",
            "http://localhost:1234/cb?x",
            "http://LOCALHOST:1234/cb",
            "https://localhost:1234/cb",
            "http://127.0.0.1:1234/cb",
            "http://[::1]:1234/cb",
            "http://localhost.evil.test/cb",
            "http://localhost.evil.test:1234/cb",
            "http://evil.test/cb",
            "http://127.0.0.1@evil.test/cb",
            "http://localhost:1234@evil.test/cb",
            "http://localhost@evil.test/cb",
            "http://evil.test@localhost/cb",
            "http://localhost:1234\\@evil.test/cb",
            "http://localhost:1234/cb#x",
        ] {
            assert_eq!(r.m(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_registered_with_port_or_without_path() {
        let r = Reg::new(&[], &[], &["http://127.0.0.1:8400", "http://[::1]:5000/auth"]);
        assert_eq!(r.m("http://127.0.0.1:51234"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://127.0.0.1:51234/"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://127.0.0.1"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://127.0.0.1:51234/x"), None);
        assert_eq!(r.m("http://localhost:51234/"), None, "never across hosts");
        assert_eq!(r.m("http://[::1]:40000/auth"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://[::1]/auth"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://[::1]:40000/auth/"), None);
        assert_eq!(r.m("http://[0:0:0:0:0:0:0:1]:40000/auth"), None);
        assert_eq!(r.m("http://[::1]x:40000/auth"), None);
        // MSAL Python registers http://localhost and sends http://localhost:<port>.
        let r = Reg::new(&[], &[], &["http://localhost"]);
        assert_eq!(r.m("http://localhost:38211"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://localhost:38211/"), Some(Platform::PublicClient));
        assert_eq!(r.m("http://localhost:38211/anything"), None);
    }

    #[test]
    fn loopback_requires_http_registration() {
        let r = Reg::new(&[], &[], &["https://localhost/cb", "http://localhost.test/cb", "http://127.0.0.2/cb"]);
        assert_eq!(r.m("https://localhost:1234/cb"), None);
        assert_eq!(r.m("http://localhost:1234/cb"), None);
        assert_eq!(r.m("http://localhost.test:1234/cb"), None);
        assert_eq!(r.m("http://127.0.0.2:1234/cb"), None);
        assert_eq!(r.m("https://localhost/cb"), Some(Platform::PublicClient));
    }

    #[test]
    fn hostile_requested_uris() {
        let everything = [
            "javascript://app.test/%0aalert(1)",
            "data://text/html,x",
            "vbscript://x/y",
            "file://host/etc/passwd",
            "about://blank",
            "https://user:pass@app.test/cb",
            "https://@app.test/cb",
            "https:///cb",
            "https://",
            "https:/app.test/cb",
            "//app.test/cb",
            "app.test/cb",
            "",
            "https://app.test/\u{0}cb",
            "https://app.test/\ncb",
            "https://app.test/ cb",
            "https://app.tést/cb",
            "1https://app.test/cb",
            "Https://app.test/cb",
            "http://[::1/cb",
            "http://[]/cb",
        ];
        let all: Vec<&str> = everything.to_vec();
        let r = Reg::new(&all, &all, &all);
        for bad in everything {
            assert_eq!(r.m(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn custom_schemes_public_only() {
        let r = Reg::new(&["myapp://cb"], &["myapp://spa"], &["com.example.app://oauth/cb", "msal1234://auth"]);
        assert_eq!(r.m("myapp://cb"), None);
        assert_eq!(r.m("myapp://spa"), None);
        assert_eq!(r.m("com.example.app://oauth/cb"), Some(Platform::PublicClient));
        assert_eq!(r.m("msal1234://auth"), Some(Platform::PublicClient));
        assert_eq!(r.m("msal1234://auth/"), None);
        assert_eq!(r.m("msal1234://AUTH"), None);
    }

    #[test]
    fn platform_precedence() {
        let r = Reg::new(&["https://a.test/cb"], &["https://a.test/cb"], &["https://a.test/cb"]);
        assert_eq!(r.m("https://a.test/cb"), Some(Platform::Web));
        let r = Reg::new(&[], &["https://a.test/cb"], &["https://a.test/cb"]);
        assert_eq!(r.m("https://a.test/cb"), Some(Platform::Spa));
    }

    #[test]
    fn parse_uri_parts() {
        let p = parse_uri("http://[::1]:8080/a/b?x=1&y").unwrap();
        assert_eq!(
            p,
            UriParts { scheme: "http", host: "[::1]", port: Some("8080"), path: "/a/b", query: Some("x=1&y") }
        );
        let p = parse_uri("https://app.test?x").unwrap();
        assert_eq!((p.host, p.path, p.query), ("app.test", "", Some("x")));
        assert!(is_valid_redirect_uri("msal00000000-0000-0000-0000-000000000000://auth"));
        assert!(!is_valid_redirect_uri(&format!("https://a.test/{}", "a".repeat(MAX_REDIRECT_URI_LEN))));
    }
}
