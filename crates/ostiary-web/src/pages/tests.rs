//! Unit tests of the pages: the contract's names and selectors, escaping of hostile input in
//! every field, URL filtering, branding validation and basic accessibility structure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::escape::parse_hex_color;
use super::*;

const XSS: &str = "\"><script>alert(1)</script>";
const XSS_ESCAPED: &str = "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;";
const JS_URL: &str = "javascript:alert(1)";

fn branding() -> Branding {
    Branding {
        tenant_name: "Contoso".into(),
        logo_url: None,
        accent_color: None,
        sign_in_text: Some("Use your Contoso account.".into()),
    }
}

/// Every page, rendered with `text` in every text field and `url` in every URL field (and in
/// the branding). The same field set each time, so renders with different values compare.
fn all_pages(text: &str, url: &str) -> Vec<(&'static str, String)> {
    let b = Branding {
        tenant_name: text.into(),
        logo_url: Some(url.into()),
        accent_color: Some(text.into()),
        sign_in_text: Some(text.into()),
    };
    let perms = vec![(text.to_owned(), text.to_owned()), (text.to_owned(), text.to_owned())];
    let accounts = [AccountChoice { value: text, display_name: text, username: text }];
    let urls = vec![url.to_owned(), url.to_owned()];
    vec![
        (
            "sign-in",
            sign_in(
                &b,
                &SignInView {
                    action: url,
                    flow: text,
                    csrf: text,
                    username: Some(text),
                    error: Some(text),
                    app_name: text,
                    passkey_options: None,
                },
                text,
            ),
        ),
        (
            "consent",
            consent(
                &b,
                &ConsentView {
                    action: url,
                    flow: text,
                    csrf: text,
                    app_name: text,
                    publisher: Some(text),
                    user: text,
                    permissions: &perms,
                    can_consent_for_org: true,
                },
                text,
            ),
        ),
        (
            "change-password",
            change_password(
                &b,
                &ChangePasswordView {
                    action: url,
                    flow: text,
                    csrf: text,
                    user: text,
                    reason: text,
                    error: Some(text),
                    min_length: 8,
                },
                text,
            ),
        ),
        (
            "device-code",
            device_code_entry(
                &b,
                &DeviceCodeView { action: url, csrf: text, error: Some(text), prefill: Some(text) },
                text,
            ),
        ),
        ("device-done-approved", device_code_done(&b, text, true, text)),
        ("device-done-declined", device_code_done(&b, text, false, text)),
        (
            "select-account",
            select_account(&b, &SelectAccountView { action: url, flow: text, csrf: text, accounts: &accounts }, text),
        ),
        (
            "error",
            error(
                &b,
                &ErrorView {
                    title: text,
                    message: text,
                    code: Some(text),
                    request_id: text,
                    correlation_id: text,
                    timestamp: text,
                },
                text,
            ),
        ),
        ("signed-out", signed_out(&b, &SignedOutView { front_channel_urls: &urls, continue_url: Some(url) }, text)),
        ("layout", render(&b, text, "<p>body</p>", text)),
    ]
}

/// Values of every `name="…"` attribute in `html`, in order.
fn attr_values(html: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let end = rest.find('"').expect("unterminated attribute");
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

/// Every start tag `<tag …>` in `html`.
fn tags<'h>(html: &'h str, tag: &str) -> Vec<&'h str> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        if after.starts_with([' ', '>']) {
            let end = after.find('>').expect("unterminated tag");
            out.push(&rest[i..i + open.len() + end + 1]);
        }
        rest = after;
    }
    out
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

#[test]
fn escape_covers_text_and_attribute_metacharacters() {
    assert_eq!(escape("a&b<c>d\"e'f/g"), "a&amp;b&lt;c&gt;d&quot;e&#39;f/g");
    assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    assert_eq!(escape(XSS), XSS_ESCAPED);
}

#[test]
fn safe_url_allows_http_https_and_paths_only() {
    for ok in [
        "https://app.example/logout?a=1&b=2",
        "HTTPS://APP.EXAMPLE/",
        "http://localhost:8080/cb",
        "/contoso/oauth2/v2.0/authorize",
        "/",
    ] {
        assert_eq!(safe_url(ok), ok, "{ok}");
    }
    for bad in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "https://ok.example/\nx",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "//evil.example/",
        "/\\evil.example/",
        "https:evil.example",
        "relative/path",
        "?q=1",
        "",
    ] {
        assert_eq!(safe_url(bad), "#", "{bad:?}");
    }
}

#[test]
fn no_markup_injection_through_any_field() {
    let benign = all_pages("x", "x");
    for payload in [XSS.to_owned(), format!("{XSS}{JS_URL}"), format!("'{XSS}")] {
        let hostile = all_pages(&payload, JS_URL);
        for ((name, clean), (_, html)) in benign.iter().zip(&hostile) {
            assert!(!html.contains("<script>alert"), "{name}: raw script tag\n{html}");
            assert!(html.contains(XSS_ESCAPED), "{name}: payload not shown escaped\n{html}");
            // Escaping adds no markup: every HTML metacharacter of the hostile render is also
            // in the benign one (where the fields hold "x").
            for c in ["<", ">", "\"", "'"] {
                assert_eq!(count(html, c), count(clean, c), "{name}: count of {c} differs\n{html}");
            }
            // At most the signed-out page's own script, always carrying the (escaped) nonce.
            for script in tags(html, "script") {
                assert!(script.starts_with("<script nonce=\""), "{name}: {script}");
            }
        }
    }
}

#[test]
fn no_javascript_urls_in_any_url_attribute() {
    // URL fields hostile, text fields benign: `javascript:` must not appear at all.
    for url in [JS_URL, "JAVASCRIPT:alert(1)", "java\tscript:alert(1)", "data:text/html,x", "//evil.example"] {
        for (name, html) in all_pages("x", url) {
            assert!(!html.to_ascii_lowercase().contains("javascript:"), "{name}: {url:?}\n{html}");
            assert!(!html.contains("evil.example") && !html.contains("data:"), "{name}: {url:?}");
        }
    }
    // Every field hostile: `javascript:` may appear only as inert escaped text or attribute
    // text, never as the value of an href, src or action.
    for (name, html) in all_pages(&format!("{JS_URL}{XSS}"), JS_URL) {
        assert!(!html.contains("<script>alert"), "{name}");
        for attr in ["href", "src", "action"] {
            for v in attr_values(&html, attr) {
                assert!(
                    v == "#" || v == "#main" || v == "/static/ostiary.css",
                    "{name}: {attr}=\"{v}\" survived the URL filter"
                );
            }
        }
    }
}

#[test]
fn layout_is_a_complete_accessible_document() {
    let html = render(&branding(), "Sign in", "<h1>Hi</h1>", "n0nce");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    for needle in [
        "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>Sign in - Contoso</title>",
        "<link rel=\"stylesheet\" href=\"/static/ostiary.css\">",
        "<a class=\"skip-link\" href=\"#main\">",
        "<header class=\"banner\"><span class=\"tenant\">Contoso</span></header>",
        "<main id=\"main\"",
        "<h1>Hi</h1>",
        "<footer",
    ] {
        assert!(html.contains(needle), "missing {needle}\n{html}");
    }
    assert!(html.contains("<body>"), "no style attribute with the default accent");
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn accent_colour_is_validated_and_contrast_checked() {
    // Format: only #rgb / #rrggbb.
    assert_eq!(parse_hex_color("#abc"), Some([0xaa, 0xbb, 0xcc]));
    assert_eq!(parse_hex_color(" #A1B2C3 "), Some([0xa1, 0xb2, 0xc3]));
    for bad in ["red; background:url(x)", "red", "#abcd", "#12345g", "abc", "#", "#abc;x", "#abc}body{x"] {
        assert_eq!(parse_hex_color(bad), None, "{bad}");
        assert_eq!(valid_accent(bad), None, "{bad}");
    }
    // Contrast for white text: dark colours pass, light ones (yellow, #abc = 2.0:1) fall back.
    assert_eq!(valid_accent("#036").as_deref(), Some("#003366"));
    assert_eq!(valid_accent("#A00").as_deref(), Some("#aa0000"));
    assert_eq!(valid_accent(DEFAULT_ACCENT).as_deref(), Some(DEFAULT_ACCENT));
    assert_eq!(valid_accent("#767676").as_deref(), Some("#767676")); // 4.54:1
    assert_eq!(valid_accent("#777777"), None); // 4.48:1
    assert_eq!(valid_accent("#ffff00"), None);
    assert_eq!(valid_accent("#abc"), None);

    let page = |accent: &str| {
        let b = Branding { accent_color: Some(accent.into()), ..branding() };
        render(&b, "t", "", "n")
    };
    assert!(page("#036").contains("<body style=\"--accent:#003366\">"));
    assert!(page("#A00").contains("<body style=\"--accent:#aa0000\">"));
    for rejected in ["red; background:url(x)", "#ffff00", "#abc", "#fff\" onload=\"x"] {
        let html = page(rejected);
        assert!(html.contains("<body>"), "{rejected}");
        assert!(!html.contains("url(x)") && !html.contains("onload"), "{rejected}");
        assert_eq!(Branding { accent_color: Some(rejected.into()), ..branding() }.accent(), DEFAULT_ACCENT);
    }
}

#[test]
fn logo_only_from_https() {
    let with_logo = |url: &str| {
        let b = Branding { logo_url: Some(url.into()), ..branding() };
        render(&b, "t", "", "n")
    };
    let html = with_logo("https://cdn.example/logo.png?v=1&x=2");
    assert!(
        html.contains(
            "<img class=\"logo\" src=\"https://cdn.example/logo.png?v=1&amp;x=2\" alt=\"Contoso\" \
             referrerpolicy=\"no-referrer\">"
        ),
        "{html}"
    );
    assert!(!html.contains("class=\"tenant\""));
    for bad in ["http://cdn.example/logo.png", "javascript:alert(1)", "//cdn.example/logo.png", "/logo.png", "data:x"] {
        let html = with_logo(bad);
        assert!(!html.contains("<img"), "{bad}");
        assert!(html.contains("<span class=\"tenant\">Contoso</span>"), "{bad}");
    }
    let nameless =
        Branding { tenant_name: String::new(), logo_url: Some("https://cdn.example/l.png".into()), ..branding() };
    assert!(render(&nameless, "t", "", "n").contains("alt=\"Organization logo\""));
}

#[test]
fn sign_in_contract() {
    let v = SignInView {
        action: "/contoso/login",
        flow: "f1",
        csrf: "c1",
        username: None,
        error: None,
        app_name: "Payroll",
        passkey_options: None,
    };
    let html = sign_in(&branding(), &v, "n");
    for needle in [
        "<form method=\"post\" action=\"/contoso/login\">",
        "<input type=\"hidden\" name=\"flow\" value=\"f1\">",
        "<input type=\"hidden\" name=\"csrf\" value=\"c1\">",
        "<label for=\"username\">Email or username</label>",
        "<label for=\"password\">Password</label>",
        "<button type=\"submit\" id=\"submit\">Sign in</button>",
        "to continue to <strong>Payroll</strong>",
        "Use your Contoso account.",
        "<title>Sign in - Contoso</title>",
    ] {
        assert!(html.contains(needle), "missing {needle}\n{html}");
    }
    let user = tags(&html, "input").into_iter().find(|t| t.contains("id=\"username\"")).unwrap();
    for a in [
        "name=\"username\"",
        "type=\"text\"",
        "inputmode=\"email\"",
        "autocomplete=\"username\"",
        "required",
        "autofocus",
    ] {
        assert!(user.contains(a), "username input lacks {a}: {user}");
    }
    assert!(!user.contains("value=") && !user.contains("aria-describedby"));
    let pw = tags(&html, "input").into_iter().find(|t| t.contains("id=\"password\"")).unwrap();
    for a in ["name=\"password\"", "type=\"password\"", "autocomplete=\"current-password\"", "required"] {
        assert!(pw.contains(a), "password input lacks {a}: {pw}");
    }
    assert!(!pw.contains("autofocus"));
    assert!(!html.contains("role=\"alert\""));
    // The sign-in text comes before the form.
    assert!(html.find("Use your Contoso account.").unwrap() < html.find("<form").unwrap());

    // Prefilled username and an error: focus moves to the password; both inputs reference the error.
    let v =
        SignInView { username: Some("ada@contoso.com"), error: Some("Your account or password is incorrect."), ..v };
    let html = sign_in(&branding(), &v, "n");
    assert!(html.contains("<p id=\"error\" class=\"error\" role=\"alert\">Your account or password is incorrect.</p>"));
    let inputs = tags(&html, "input");
    let user = inputs.iter().find(|t| t.contains("id=\"username\"")).unwrap();
    let pw = inputs.iter().find(|t| t.contains("id=\"password\"")).unwrap();
    assert!(user.contains("value=\"ada@contoso.com\"") && !user.contains("autofocus"));
    assert!(pw.contains("autofocus"));
    assert!(user.contains("aria-describedby=\"error\"") && pw.contains("aria-describedby=\"error\""));
}

#[test]
fn consent_contract() {
    let perms = vec![
        ("Sign you in and read your profile".to_owned(), "Allows you to sign in.".to_owned()),
        ("Read your calendars".to_owned(), String::new()),
    ];
    let v = ConsentView {
        action: "https://id.example/contoso/consent",
        flow: "f",
        csrf: "c",
        app_name: "Planner",
        publisher: Some("Fabrikam"),
        user: "ada@contoso.com",
        permissions: &perms,
        can_consent_for_org: false,
    };
    let html = consent(&branding(), &v, "n");
    for needle in [
        "action=\"https://id.example/contoso/consent\"",
        "<input type=\"hidden\" name=\"flow\" value=\"f\">",
        "<input type=\"hidden\" name=\"csrf\" value=\"c\">",
        "Planner",
        "Published by Fabrikam",
        "ada@contoso.com",
        "<li><strong>Sign you in and read your profile</strong><span>Allows you to sign in.</span></li>",
        "<li><strong>Read your calendars</strong></li>",
        "<button type=\"submit\" name=\"decision\" value=\"accept\" id=\"accept\">Accept</button>",
        "<button type=\"submit\" name=\"decision\" value=\"decline\" id=\"decline\" \
         class=\"secondary\">Cancel</button>",
    ] {
        assert!(html.contains(needle), "missing {needle}\n{html}");
    }
    assert!(!html.contains("admin_consent"));
    let html = consent(&branding(), &ConsentView { can_consent_for_org: true, publisher: None, ..v }, "n");
    assert!(html.contains("<input type=\"checkbox\" id=\"admin_consent\" name=\"admin_consent\" value=\"true\">"));
    assert!(html.contains("<label for=\"admin_consent\">Consent on behalf of your organization</label>"));
    assert!(html.contains("Publisher unverified"));
}

#[test]
fn change_password_contract() {
    let v = ChangePasswordView {
        action: "/contoso/password",
        flow: "f",
        csrf: "c",
        user: "ada@contoso.com",
        reason: "You need to update your password because this is the first time you are signing in",
        error: None,
        min_length: 12,
    };
    let html = change_password(&branding(), &v, "n");
    assert!(html.contains("<h1>Update your password</h1>"));
    assert!(html.contains("this is the first time you are signing in"));
    assert!(html.contains("<button type=\"submit\" id=\"submit\">Update password</button>"));
    assert!(html.contains("<input type=\"hidden\" name=\"flow\" value=\"f\">"));
    assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"c\">"));
    let inputs = tags(&html, "input");
    let find = |name: &str| *inputs.iter().find(|t| t.contains(&format!("name=\"{name}\""))).unwrap();
    assert!(find("current_password").contains("autocomplete=\"current-password\""));
    for name in ["new_password", "confirm_password"] {
        let t = find(name);
        assert!(t.contains("type=\"password\"") && t.contains("autocomplete=\"new-password\""), "{t}");
        assert!(t.contains("minlength=\"12\"") && t.contains("required"), "{t}");
        assert!(html.contains(&format!("<label for=\"{name}\">")));
    }
    assert!(find("new_password").contains("aria-describedby=\"password-hint\""));
    // The account is shown (and offered to password managers) but not posted.
    let account = inputs.iter().find(|t| t.contains("id=\"account\"")).unwrap();
    assert!(
        account.contains("value=\"ada@contoso.com\"") && account.contains("readonly") && !account.contains("name=")
    );

    let html = change_password(&branding(), &ChangePasswordView { error: Some("Passwords don't match."), ..v }, "n");
    assert!(html.contains("role=\"alert\">Passwords don&#39;t match.</p>"));
    assert!(html.contains("aria-describedby=\"password-hint error\""));
    assert_eq!(count(&html, "aria-invalid=\"true\""), 3);
    let html = change_password(&branding(), &ChangePasswordView { min_length: 0, ..v }, "n");
    assert!(!html.contains("minlength") && !html.contains("password-hint"));
}

#[test]
fn device_code_contract() {
    let v = DeviceCodeView { action: "/devicelogin", csrf: "c", error: None, prefill: None };
    let html = device_code_entry(&branding(), &v, "n");
    assert!(html.contains("<label for=\"user_code\">Enter code</label>"));
    assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"c\">"));
    assert!(html.contains("<button type=\"submit\" id=\"submit\">Next</button>"));
    assert!(!html.contains("name=\"flow\""));
    let input = tags(&html, "input").into_iter().find(|t| t.contains("id=\"user_code\"")).unwrap();
    for a in [
        "name=\"user_code\"",
        "autocomplete=\"one-time-code\"",
        "autocapitalize=\"characters\"",
        "spellcheck=\"false\"",
        "required",
    ] {
        assert!(input.contains(a), "{a}: {input}");
    }
    let html = device_code_entry(
        &branding(),
        &DeviceCodeView { error: Some("Bad code"), prefill: Some("ABCD-EFGH"), ..v },
        "n",
    );
    assert!(html.contains("value=\"ABCD-EFGH\"") && html.contains("role=\"alert\">Bad code<"));

    let ok = device_code_done(&branding(), "Azure CLI", true, "n");
    assert!(ok.contains("<h1>You have signed in to Azure CLI</h1>\n<p>You can close this window.</p>"));
    let no = device_code_done(&branding(), "Azure CLI", false, "n");
    assert!(no.contains("<h1>You declined to sign in to Azure CLI</h1>"));
}

#[test]
fn select_account_contract() {
    let accounts = [
        AccountChoice { value: "s1", display_name: "Ada Lovelace", username: "ada@contoso.com" },
        AccountChoice { value: "s2", display_name: "Grace Hopper", username: "grace@contoso.com" },
    ];
    let v = SelectAccountView { action: "/contoso/select", flow: "f", csrf: "c", accounts: &accounts };
    let html = select_account(&branding(), &v, "n");
    assert!(html.contains("<input type=\"hidden\" name=\"flow\" value=\"f\">"));
    assert!(html.contains("<input type=\"hidden\" name=\"csrf\" value=\"c\">"));
    assert!(html.contains(
        "<button type=\"submit\" name=\"account\" value=\"s1\" class=\"account\">\
         Ada Lovelace <span>ada@contoso.com</span></button>"
    ));
    assert!(html.contains("value=\"s2\""));
    assert!(html.contains("<button type=\"submit\" name=\"account\" value=\"other\" id=\"other\""));
    assert!(html.contains("Use another account</button>"));
    assert_eq!(count(&html, "name=\"account\""), 3);
}

#[test]
fn error_page_shows_code_and_ids() {
    let v = ErrorView {
        title: "Sorry, but we're having trouble signing you in.",
        message: "The redirect URI specified in the request does not match the redirect URIs configured.",
        code: Some("AADSTS50011"),
        request_id: "0d6f1a2b-1111-4c3d-9e8f-000000000001",
        correlation_id: "5e6f7a8b-2222-4c3d-9e8f-000000000002",
        timestamp: "2025-01-02T03:04:05Z",
    };
    let html = error(&branding(), &v, "n");
    for needle in [
        "<h1>Sorry, but we&#39;re having trouble signing you in.</h1>",
        "does not match the redirect URIs configured.",
        "<dl class=\"details\">",
        "<dt>Error code</dt><dd>AADSTS50011</dd>",
        "<dt>Request Id</dt><dd>0d6f1a2b-1111-4c3d-9e8f-000000000001</dd>",
        "<dt>Correlation Id</dt><dd>5e6f7a8b-2222-4c3d-9e8f-000000000002</dd>",
        "<dt>Timestamp</dt><dd>2025-01-02T03:04:05Z</dd>",
    ] {
        assert!(html.contains(needle), "missing {needle}\n{html}");
    }
    let html = error(&branding(), &ErrorView { code: None, ..v }, "n");
    assert!(!html.contains("Error code") && html.contains("Request Id"));
}

#[test]
fn signed_out_iframes_and_continue() {
    let urls = vec![
        "https://a.example/logout?sid=1&iss=x".to_owned(),
        "https://b.example/logout".to_owned(),
        "http://localhost:5000/signout-oidc".to_owned(),
    ];
    let v = SignedOutView { front_channel_urls: &urls, continue_url: Some("https://a.example/bye") };
    let html = signed_out(&branding(), &v, "r4nd0m");
    assert!(html.contains("<h1>You signed out of your account</h1>"));
    assert_eq!(count(&html, "<iframe "), 3);
    assert_eq!(count(&html, "title=\"Signing out of an application\" hidden></iframe>"), 3);
    assert!(html.contains("src=\"https://a.example/logout?sid=1&amp;iss=x\""));
    assert!(html.contains("<a id=\"continue\" class=\"button\" href=\"https://a.example/bye\">Continue</a>"));
    assert!(html.contains("<script nonce=\"r4nd0m\">"));
    assert!(html.contains("3000"));
    // Without a continue URL there is nothing to navigate to: no link, no script.
    let html = signed_out(&branding(), &SignedOutView { continue_url: None, ..v }, "r4nd0m");
    assert!(!html.contains("<script") && !html.contains("id=\"continue\""));
    // Unsafe URLs are dropped rather than framed as `#` (which would load this page again).
    let bad = vec!["javascript:alert(1)".to_owned(), "https://ok.example/l".to_owned()];
    let html =
        signed_out(&branding(), &SignedOutView { front_channel_urls: &bad, continue_url: Some("javascript:x") }, "n");
    assert_eq!(count(&html, "<iframe "), 1);
    assert!(!html.contains("<script") && !html.contains("javascript:"));
    let html = signed_out(&branding(), &SignedOutView { front_channel_urls: &[], continue_url: None }, "n");
    assert_eq!(count(&html, "<iframe"), 0);
}

#[test]
fn every_visible_input_has_a_label_and_headings_are_in_order() {
    for (name, html) in all_pages("x", "/p") {
        for input in tags(&html, "input") {
            if input.contains("type=\"hidden\"") {
                continue;
            }
            let id = attr_values(input, "id").pop().unwrap_or_else(|| panic!("{name}: input without id: {input}"));
            assert!(html.contains(&format!("<label for=\"{id}\">")), "{name}: no label for {id}");
        }
        if name != "layout" {
            assert_eq!(count(&html, "<h1>"), 1, "{name}");
            let h1 = html.find("<h1>").unwrap();
            assert!(html.find("<h2>").is_none_or(|h2| h2 > h1), "{name}: h2 before h1");
            assert!(!html.contains("<h3"), "{name}");
        }
        assert!(html.contains("<main id=\"main\""), "{name}");
        assert_eq!(count(&html, "<form"), count(&html, "</form>"), "{name}");
    }
}

#[test]
fn stylesheet_is_small_and_self_contained() {
    assert!(STYLESHEET.len() < 6 * 1024, "{} bytes", STYLESHEET.len());
    assert!(!STYLESHEET.contains("url(") && !STYLESHEET.contains("@import") && !STYLESHEET.contains("@font-face"));
    assert!(STYLESHEET.contains("--accent: #0b5cad") && STYLESHEET.contains(":focus-visible"));
    assert!(STYLESHEET.contains("min-height: 44px") && STYLESHEET.contains("max-width: 440px"));
    assert_eq!(count(STYLESHEET, "{"), count(STYLESHEET, "}"));
}

/// Writes every page to `$TMPDIR/ostiary-pages/` for a look in a browser: `NAME.html` as
/// served, and `NAME-inline.html` with the stylesheet inlined (a `file://` page cannot load
/// `/static/ostiary.css`). Run with `cargo test -p ostiary-web pages -- --ignored`.
#[test]
#[ignore = "writes files; for manual inspection"]
fn write_sample_pages() {
    let dir = std::env::temp_dir().join("ostiary-pages");
    std::fs::create_dir_all(&dir).unwrap();
    let b = Branding { accent_color: Some("#2b579a".into()), ..branding() };
    let perms = vec![
        ("Sign you in and read your profile".to_owned(), "Planner will be able to read your profile.".to_owned()),
        ("Maintain access to data you have given it access to".to_owned(), "Planner will keep access.".to_owned()),
    ];
    let accounts = [
        AccountChoice { value: "s1", display_name: "Ada Lovelace", username: "ada@contoso.com" },
        AccountChoice { value: "s2", display_name: "Grace Hopper", username: "grace@contoso.com" },
    ];
    let urls = vec!["https://a.example/logout".to_owned()];
    let pages = [
        (
            "sign-in",
            sign_in(
                &b,
                &SignInView {
                    action: "/contoso/login",
                    flow: "f",
                    csrf: "c",
                    username: None,
                    error: None,
                    app_name: "Planner",
                    passkey_options: None,
                },
                "n",
            ),
        ),
        (
            "sign-in-error",
            sign_in(
                &b,
                &SignInView {
                    action: "/contoso/login",
                    flow: "f",
                    csrf: "c",
                    username: Some("ada@contoso.com"),
                    error: Some("Your account or password is incorrect."),
                    app_name: "Planner",
                    passkey_options: None,
                },
                "n",
            ),
        ),
        (
            "consent",
            consent(
                &b,
                &ConsentView {
                    action: "/c",
                    flow: "f",
                    csrf: "c",
                    app_name: "Planner",
                    publisher: Some("Fabrikam"),
                    user: "ada@contoso.com",
                    permissions: &perms,
                    can_consent_for_org: true,
                },
                "n",
            ),
        ),
        (
            "change-password",
            change_password(
                &b,
                &ChangePasswordView {
                    action: "/p",
                    flow: "f",
                    csrf: "c",
                    user: "ada@contoso.com",
                    reason: "You need to update your password because this is the first time you are signing in.",
                    error: Some("The passwords don't match."),
                    min_length: 12,
                },
                "n",
            ),
        ),
        (
            "device-code",
            device_code_entry(&b, &DeviceCodeView { action: "/d", csrf: "c", error: None, prefill: None }, "n"),
        ),
        ("device-done", device_code_done(&b, "Azure CLI", true, "n")),
        (
            "select-account",
            select_account(&b, &SelectAccountView { action: "/s", flow: "f", csrf: "c", accounts: &accounts }, "n"),
        ),
        (
            "error",
            error(
                &b,
                &ErrorView {
                    title: "Sorry, but we're having trouble signing you in.",
                    message: "The redirect URI specified in the request does not match the redirect URIs configured \
                              for the application.",
                    code: Some("AADSTS50011"),
                    request_id: "0d6f1a2b-1111-4c3d-9e8f-000000000001",
                    correlation_id: "5e6f7a8b-2222-4c3d-9e8f-000000000002",
                    timestamp: "2025-01-02T03:04:05Z",
                },
                "n",
            ),
        ),
        (
            "signed-out",
            signed_out(
                &Branding { accent_color: None, ..b.clone() },
                &SignedOutView { front_channel_urls: &urls, continue_url: None },
                "n",
            ),
        ),
    ];
    let link = "<link rel=\"stylesheet\" href=\"/static/ostiary.css\">";
    for (name, html) in pages {
        std::fs::write(dir.join(format!("{name}.html")), &html).unwrap();
        let inline = html.replace(link, &format!("<style>\n{STYLESHEET}</style>"));
        std::fs::write(dir.join(format!("{name}-inline.html")), inline).unwrap();
    }
}
