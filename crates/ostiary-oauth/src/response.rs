//! Authorization responses: where the browser goes with `code`/`state` (or `error`), in the
//! `query`, `fragment` or `form_post` response mode, and the auto-submitting form-post page.

use crate::authorize::ResponseMode;

/// How to deliver an authorization response to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResponse {
    /// Send `302 Found` with this `Location`.
    Redirect(String),
    /// Render [`form_post_html`] with these values (`200`, `Cache-Control: no-store`).
    FormPost { action: String, fields: Vec<(String, String)> },
}

/// Builds the response for `redirect_uri` (already validated against the registration).
///
/// `Query` appends the parameters to the URI's query (`?` or `&` as needed, before any fragment,
/// which a validated redirect URI never has); `Fragment` replaces any fragment with the
/// parameters; values are `application/x-www-form-urlencoded` (RFC 6749 Appendix B).
pub fn authorization_response(mode: ResponseMode, redirect_uri: &str, params: &[(&str, &str)]) -> AuthResponse {
    match mode {
        ResponseMode::FormPost => AuthResponse::FormPost {
            action: redirect_uri.to_string(),
            fields: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        },
        ResponseMode::Query => {
            let (base, fragment) = match redirect_uri.split_once('#') {
                Some((b, f)) => (b, Some(f)),
                None => (redirect_uri, None),
            };
            let mut out = base.to_string();
            let encoded = form_encode(params);
            if !encoded.is_empty() {
                if !base.contains('?') {
                    out.push('?');
                } else if !(base.ends_with('?') || base.ends_with('&')) {
                    out.push('&');
                }
                out.push_str(&encoded);
            }
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
            AuthResponse::Redirect(out)
        }
        ResponseMode::Fragment => {
            let base = redirect_uri.split_once('#').map_or(redirect_uri, |(b, _)| b);
            let encoded = form_encode(params);
            if encoded.is_empty() {
                return AuthResponse::Redirect(base.to_string());
            }
            AuthResponse::Redirect(format!("{base}#{encoded}"))
        }
    }
}

fn form_encode(params: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// Escapes text for HTML element content and quoted attribute values: `& < > " '`.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Schemes a form action must never carry, whatever the registration says.
fn is_script_scheme(action: &str) -> bool {
    let scheme: String = action
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .take_while(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    action.contains(':') && matches!(scheme.as_str(), "javascript" | "vbscript" | "data")
}

/// The `form_post` page (OAuth 2.0 Form Post Response Mode): a minimal HTML5 document with a
/// POST form to `action`, one hidden input per field, a `<noscript>` submit button and an inline
/// script (carrying the CSP `script_nonce`) that submits it. Every value is escaped; an action
/// with a `javascript:`, `vbscript:` or `data:` scheme is replaced by `about:blank`
/// (defence in depth: registration already refuses them).
pub fn form_post_html(action: &str, fields: &[(String, String)], script_nonce: &str, title: &str) -> String {
    let action = if is_script_scheme(action) { "about:blank" } else { action };
    let mut html = String::with_capacity(512 + fields.iter().map(|(k, v)| k.len() + v.len() + 48).sum::<usize>());
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str(&format!("<title>{}</title>\n</head>\n<body>\n", escape_html(title)));
    html.push_str(&format!("<form method=\"post\" action=\"{}\">\n", escape_html(action)));
    for (k, v) in fields {
        html.push_str(&format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", escape_html(k), escape_html(v)));
    }
    html.push_str("<noscript><p>Script is disabled. Select Continue to go on.</p>");
    html.push_str("<button type=\"submit\">Continue</button></noscript>\n</form>\n");
    html.push_str(&format!(
        "<script nonce=\"{}\">document.forms[0].submit()</script>\n</body>\n</html>\n",
        escape_html(script_nonce)
    ));
    html
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn redirect(mode: ResponseMode, uri: &str, params: &[(&str, &str)]) -> String {
        match authorization_response(mode, uri, params) {
            AuthResponse::Redirect(l) => l,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn query_merging() {
        let p = [("code", "abc"), ("state", "s")];
        assert_eq!(redirect(ResponseMode::Query, "https://app.test/cb", &p), "https://app.test/cb?code=abc&state=s");
        assert_eq!(
            redirect(ResponseMode::Query, "https://app.test/cb?x=1", &p),
            "https://app.test/cb?x=1&code=abc&state=s"
        );
        assert_eq!(redirect(ResponseMode::Query, "https://app.test/cb?", &p), "https://app.test/cb?code=abc&state=s");
        assert_eq!(
            redirect(ResponseMode::Query, "https://app.test/cb?x=1&", &p),
            "https://app.test/cb?x=1&code=abc&state=s"
        );
        assert_eq!(
            redirect(ResponseMode::Query, "http://localhost:5000", &p),
            "http://localhost:5000?code=abc&state=s"
        );
        assert_eq!(redirect(ResponseMode::Query, "https://app.test/cb", &[]), "https://app.test/cb");
        // A fragment (never on a validated URI) stays last.
        assert_eq!(
            redirect(ResponseMode::Query, "https://app.test/cb#f", &p),
            "https://app.test/cb?code=abc&state=s#f"
        );
    }

    #[test]
    fn values_are_form_encoded() {
        let l = redirect(
            ResponseMode::Query,
            "https://app.test/cb",
            &[("state", "a b&c=d#e+f/é?\"<>"), ("error_description", "AADSTS50058: x\r\ny")],
        );
        assert_eq!(
            l,
            "https://app.test/cb?state=a+b%26c%3Dd%23e%2Bf%2F%C3%A9%3F%22%3C%3E&error_description=AADSTS50058%3A+x%0D%0Ay"
        );
        let decoded: Vec<(String, String)> =
            form_urlencoded::parse(l.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
        assert_eq!(decoded[0].1, "a b&c=d#e+f/é?\"<>");
        assert_eq!(decoded[1].1, "AADSTS50058: x\r\ny");
    }

    #[test]
    fn fragment() {
        let p = [("code", "abc"), ("state", "s t")];
        assert_eq!(redirect(ResponseMode::Fragment, "https://spa.test/", &p), "https://spa.test/#code=abc&state=s+t");
        assert_eq!(
            redirect(ResponseMode::Fragment, "https://spa.test/?x=1", &p),
            "https://spa.test/?x=1#code=abc&state=s+t"
        );
        assert_eq!(
            redirect(ResponseMode::Fragment, "https://spa.test/#old", &p),
            "https://spa.test/#code=abc&state=s+t"
        );
        assert_eq!(redirect(ResponseMode::Fragment, "https://spa.test/#old", &[]), "https://spa.test/");
    }

    #[test]
    fn form_post_response() {
        let r = authorization_response(ResponseMode::FormPost, "http://localhost:1/", &[("code", "c"), ("state", "s")]);
        assert_eq!(
            r,
            AuthResponse::FormPost {
                action: "http://localhost:1/".into(),
                fields: vec![("code".into(), "c".into()), ("state".into(), "s".into())]
            }
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_html("&<>\"'"), "&amp;&lt;&gt;&quot;&#x27;");
        assert_eq!(escape_html("plain é 漢字"), "plain é 漢字");
        assert_eq!(escape_html("&amp;"), "&amp;amp;");
        assert_eq!(escape_html(""), "");
    }

    #[test]
    fn form_post_page() {
        let fields = vec![
            ("code".to_string(), "0.AX-code".to_string()),
            ("state".to_string(), "\"><script>alert(1)</script><x a='".to_string()),
            ("client_info".to_string(), "eyJ1aWQiOiJ4In0".to_string()),
        ];
        let html = form_post_html("https://app.test/cb?a=1&b=\"2\"", &fields, "n0nce\"x", "Working... <please wait>");
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<title>Working... &lt;please wait&gt;</title>"));
        assert!(html.contains("<form method=\"post\" action=\"https://app.test/cb?a=1&amp;b=&quot;2&quot;\">"));
        assert!(html.contains("<input type=\"hidden\" name=\"code\" value=\"0.AX-code\">"));
        assert!(html.contains(
            "<input type=\"hidden\" name=\"state\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;x a=&#x27;\">"
        ));
        assert!(html.contains("<noscript>") && html.contains("<button type=\"submit\">"));
        assert!(html.contains("<script nonce=\"n0nce&quot;x\">document.forms[0].submit()</script>"));
        // Exactly one script element: the payload never became markup.
        assert_eq!(html.matches("<script").count(), 1);
        assert_eq!(html.matches("<input").count(), 3);
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn form_post_refuses_script_actions() {
        for action in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:x",
            "java\tscript:x",
            "data:text/html,x",
            "vbscript:x",
        ] {
            let html = form_post_html(action, &[], "n", "t");
            assert!(html.contains("action=\"about:blank\""), "{action:?}");
            assert!(!html.to_ascii_lowercase().contains("script:"), "{action:?}");
        }
        let html = form_post_html("https://app.test/javascript:x", &[], "n", "t");
        assert!(html.contains("action=\"https://app.test/javascript:x\""));
    }

    #[test]
    fn form_post_escapes_field_names() {
        let fields = vec![("a\"b<".to_string(), "v".to_string())];
        let html = form_post_html("https://a.test/", &fields, "n", "t");
        assert!(html.contains("name=\"a&quot;b&lt;\""));
    }
}
