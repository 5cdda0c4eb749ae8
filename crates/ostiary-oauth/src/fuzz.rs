//! Deterministic hostile-input loops (xorshift) through every parser: nothing may panic, and
//! whatever is accepted must respect the documented invariants.
#![allow(clippy::panic, clippy::unwrap_used)]

use crate::authorize::{AuthorizeError, AuthorizeRequest, MAX_STATE};
use crate::delegated::parse_delegated_scopes;
use crate::device::{USER_CODE_ALPHABET, normalize_user_code};
use crate::redirect::{Platform, RegisteredRedirects, match_redirect_uri};
use crate::response::{AuthResponse, authorization_response, form_post_html};
use crate::{ResponseMode, verify_pkce};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A string built from hostile fragments.
    fn text(&mut self) -> String {
        const PARTS: &[&str] = &[
            "",
            "a",
            "Z",
            "0",
            " ",
            "  ",
            "/",
            "//",
            "://",
            ":",
            "?",
            "&",
            "=",
            "#",
            "@",
            "%",
            "%00",
            "%2F",
            "+",
            "-",
            ".",
            "..",
            "~",
            "_",
            "\\",
            "\0",
            "\n",
            "\r",
            "\t",
            "\u{7f}",
            "\u{85}",
            "é",
            "漢",
            "\u{202e}",
            "\u{fe0f}",
            "😀",
            "\u{10ffff}",
            "[",
            "]",
            "[::1]",
            "localhost",
            "127.0.0.1",
            "http",
            "https",
            "api",
            "openid",
            "OFFLINE_ACCESS",
            ".default",
            "code",
            "token",
            "id_token",
            "query",
            "form_post",
            "S256",
            "plain",
            "<script>",
            "\"",
            "'",
            ">",
            "BCDF",
            "ghjk",
        ];
        let n = self.below(12);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(self.pick(PARTS));
        }
        if self.below(50) == 0 {
            let c = self.pick(&["a", "é", "/", " "]);
            s.push_str(&c.repeat(self.below(10_000)));
        }
        s
    }
}

const NAMES: &[&str] = &[
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "domain_hint",
    "code_challenge",
    "code_challenge_method",
    "client_info",
    "claims",
    "x-client-SKU",
    "Client_Id",
    "",
    "scope ",
    "state\0",
];

const VALUES: &[&str] = &[
    "6e74172b-be56-4843-9ff4-e66a39bb12e3",
    "code",
    "code id_token",
    "http://localhost:1234",
    "https://app.test/cb",
    "openid profile offline_access User.Read",
    "api://x/.default",
    "form_post",
    "fragment",
    "query",
    "none",
    "login",
    "0",
    "3600",
    "-1",
    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    "S256",
    "plain",
    "1",
];

fn params(rng: &mut Rng) -> Vec<(String, String)> {
    let max = if rng.below(100) == 0 { 200 } else { 16 };
    let n = rng.below(max);
    // A third of the lists start from a valid request, so the accepting paths are exercised too.
    let mut out: Vec<(String, String)> = if rng.below(3) == 0 {
        [("client_id", "c"), ("response_type", "code"), ("scope", "openid")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    } else {
        Vec::new()
    };
    let extra = if out.is_empty() { n } else { n % 4 };
    out.extend((0..extra).map(|_| {
        let k = if rng.below(5) == 0 { rng.text() } else { rng.pick(NAMES).to_string() };
        let v = if rng.below(3) == 0 { rng.text() } else { rng.pick(VALUES).to_string() };
        (k, v)
    }));
    out
}

#[test]
fn authorize_parse_never_panics() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut accepted = 0;
    for _ in 0..10_000 {
        let p = params(&mut rng);
        let ctx = AuthorizeRequest::error_redirect(&p);
        match AuthorizeRequest::parse(&p) {
            Ok(r) => {
                accepted += 1;
                assert!(!r.client_id.is_empty());
                assert!(!r.scope.is_empty() && r.scope.iter().all(|s| !s.is_empty() && !s.contains(' ')));
                assert!(r.state.as_ref().is_none_or(|s| s.chars().count() <= MAX_STATE));
                assert_eq!(r.code_challenge.is_some(), r.code_challenge_method.is_some());
                let ctx = ctx.unwrap_or_else(|| panic!("accepted request must have a redirect context: {p:?}"));
                assert_eq!(ctx.client_id, r.client_id);
                assert_eq!(ctx.state, r.state);
                assert_eq!(ctx.response_mode, r.response_mode);
            }
            Err(AuthorizeError::Fatal(e)) => {
                assert!(ctx.is_none(), "fatal error but a redirect context: {p:?}");
                assert!(e.description.len() < 2048);
            }
            Err(AuthorizeError::Redirectable(e)) => {
                assert!(ctx.is_some(), "redirectable error without a redirect context: {p:?}");
                assert!(e.description.len() < 2048);
                assert!(!e.description.chars().any(char::is_control));
            }
        }
    }
    assert!(accepted > 500, "the generator produced too few valid requests: {accepted}");
}

#[test]
fn redirect_matching_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let schemes = ["http://", "https://", "msal1://", "HTTP://", "", "javascript://", "a+b.c-d://"];
    let hosts = ["localhost", "127.0.0.1", "[::1]", "app.test", "localhost.evil.test", "a@b", "", "[", "[::1"];
    let ports = ["", ":1234", ":", ":0", ":65536", ":abc", ":80"];
    let paths = ["", "/", "/cb", "/cb/", "/cb?x=1", "?x", "/cb#f", "/%2e%2e/"];
    let uri = |rng: &mut Rng| {
        if rng.below(6) == 0 {
            return rng.text();
        }
        format!("{}{}{}{}", rng.pick(&schemes), rng.pick(&hosts), rng.pick(&ports), rng.pick(&paths))
    };
    for _ in 0..10_000 {
        let web: Vec<String> = (0..rng.below(3)).map(|_| uri(&mut rng)).collect();
        let spa: Vec<String> = (0..rng.below(3)).map(|_| uri(&mut rng)).collect();
        let public: Vec<String> = (0..rng.below(3)).map(|_| uri(&mut rng)).collect();
        let requested = uri(&mut rng);
        let reg = RegisteredRedirects { web: &web, spa: &spa, public_client: &public };
        match match_redirect_uri(&requested, &reg) {
            Some(Platform::Web) => assert!(web.contains(&requested)),
            Some(Platform::Spa) => assert!(spa.contains(&requested)),
            Some(Platform::PublicClient) => {
                assert!(!requested.contains('#') && !requested.contains('@'));
                if !public.contains(&requested) {
                    // Only the loopback rule can match non-identical strings.
                    assert!(requested.starts_with("http://"), "{requested}");
                    let host = requested.trim_start_matches("http://");
                    assert!(
                        ["localhost", "127.0.0.1", "[::1]"].iter().any(|h| host.starts_with(h)),
                        "{requested} {public:?}"
                    );
                }
            }
            None => {}
        }
    }
}

#[test]
fn delegated_scopes_never_panic() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let pieces = [
        "openid",
        "Profile",
        "email",
        "offline_access",
        "User.Read",
        ".default",
        "api://x/a",
        "api://x/.default",
        "api://y/b",
        "https://graph.microsoft.com/Mail.Read",
        "api://x",
        "/",
        "a/",
        "/a",
        "://",
        "x://y/z/w",
    ];
    for _ in 0..10_000 {
        let n = rng.below(8);
        let v: Vec<String> =
            (0..n).map(|_| if rng.below(4) == 0 { rng.text() } else { rng.pick(&pieces).to_string() }).collect();
        if let Ok(d) = parse_delegated_scopes(&v) {
            assert!(d.oidc.iter().all(|s| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
            assert_eq!(d.resource.is_some(), !d.scopes.is_empty());
            assert!(!d.is_default() || d.scopes.len() == 1);
            assert!(d.scopes.iter().all(|s| !s.is_empty() && s.len() <= 256));
        }
    }
}

#[test]
fn user_codes_and_pkce_never_panic() {
    let mut rng = Rng(0x0bad_cafe_1234_5678);
    for _ in 0..10_000 {
        let s = rng.text();
        if let Some(c) = normalize_user_code(&s) {
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        }
        let t = rng.text();
        let _ = verify_pkce(crate::PkceMethod::S256, &s, &t);
        assert!(!verify_pkce(crate::PkceMethod::Plain, &s, &t) || (s == t && s.len() >= 43));
    }
}

#[test]
fn responses_never_emit_raw_markup() {
    let mut rng = Rng(0x5151_5151_aaaa_0001);
    for _ in 0..2_000 {
        let (a, b) = (rng.text(), rng.text());
        let html = form_post_html(&a, &[("state".to_string(), b.clone())], &rng.text(), &rng.text());
        assert_eq!(html.matches("<script").count(), 1);
        assert_eq!(html.matches("<input").count(), 1);
        for mode in [ResponseMode::Query, ResponseMode::Fragment] {
            if let AuthResponse::Redirect(l) = authorization_response(mode, "https://app.test/cb", &[("state", &b)]) {
                assert!(!l.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '"'));
            }
        }
    }
}
