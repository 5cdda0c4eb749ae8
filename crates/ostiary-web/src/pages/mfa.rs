//! The second-factor pages: the MFA challenge (authenticator code, passkey, recovery code), method
//! registration (authenticator app with a QR code, passkey) and the one-time display of recovery codes.

use super::escape::{escape, safe_url};
use super::layout::{Branding, render};
use super::views::{error_block, hidden};

/// Path of the passkey script (served by the router; carries the response's nonce).
pub const WEBAUTHN_SCRIPT_PATH: &str = "/static/webauthn.js";
/// The passkey script itself.
pub const WEBAUTHN_SCRIPT: &str = include_str!("webauthn.js");

/// "Verify your identity": the methods this user can answer with.
#[derive(Debug, Clone, Copy)]
pub struct MfaChallengeView<'a> {
    pub action: &'a str,
    pub flow: &'a str,
    pub csrf: &'a str,
    pub user: &'a str,
    /// Why a second factor is asked for (e.g. the policy's requirement).
    pub reason: &'a str,
    /// The user has an authenticator app registered.
    pub totp: bool,
    /// WebAuthn request options (JSON) when a passkey can be used.
    pub passkey_options: Option<&'a str>,
    /// The user has unused recovery codes.
    pub recovery: bool,
    pub error: Option<&'a str>,
}

/// "Keep your account secure": register a method before continuing.
#[derive(Debug, Clone, Copy)]
pub struct MfaRegisterView<'a> {
    pub action: &'a str,
    pub flow: &'a str,
    pub csrf: &'a str,
    pub user: &'a str,
    pub reason: &'a str,
    /// `(QR code SVG, base32 secret)` for an authenticator app, when that method is allowed.
    pub totp: Option<(&'a str, &'a str)>,
    /// WebAuthn creation options (JSON), when passkeys are allowed.
    pub passkey_options: Option<&'a str>,
    /// A registration campaign that may be snoozed shows "Not now".
    pub can_skip: bool,
    pub error: Option<&'a str>,
}

/// The recovery codes, shown once after the first method is registered.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryCodesView<'a> {
    pub action: &'a str,
    pub flow: &'a str,
    pub csrf: &'a str,
    pub codes: &'a [String],
}

fn form_open(action: &str, id: &str) -> String {
    format!("<form method=\"post\" id=\"{}\" action=\"{}\">\n", escape(id), escape(&safe_url(action)))
}

/// JSON inside `<script type="application/json">`: `<`, `>` and `&` are escaped as JSON unicode
/// escapes so no value can close the element or open a comment; the JSON meaning is unchanged.
pub fn json_script(id: &str, json: &str) -> String {
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            '\u{2028}' => safe.push_str("\\u2028"),
            '\u{2029}' => safe.push_str("\\u2029"),
            other => safe.push(other),
        }
    }
    format!("<script type=\"application/json\" id=\"{}\">{safe}</script>\n", escape(id))
}

fn script_tag(nonce: &str) -> String {
    format!("<script nonce=\"{}\" src=\"{WEBAUTHN_SCRIPT_PATH}\"></script>\n", escape(nonce))
}

fn code_input(name: &str, label: &str, hint: &str, error: bool) -> String {
    let invalid = if error { " aria-invalid=\"true\" aria-describedby=\"error\"" } else { "" };
    format!(
        "<div class=\"field\">\n<label for=\"{n}\">{l}</label>\n<input id=\"{n}\" name=\"{n}\" type=\"text\" \
         inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9 ]{{6,8}}\" maxlength=\"8\" required \
         autofocus{invalid}>\n<p class=\"hint\">{h}</p>\n</div>\n",
        n = escape(name),
        l = escape(label),
        h = escape(hint),
    )
}

/// The MFA challenge page.
pub fn mfa_challenge(b: &Branding, v: &MfaChallengeView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Verify your identity</h1>\n");
    h.push_str(&format!("<p class=\"user\">{}</p>\n", escape(v.user)));
    h.push_str(&format!("<p class=\"subtitle\">{}</p>\n", escape(v.reason)));
    h.push_str(&error_block(v.error));
    h.push_str("<p id=\"webauthn-status\" class=\"error\" role=\"alert\" hidden></p>\n");
    if let Some(opts) = v.passkey_options {
        h.push_str(&json_script("webauthn-request", opts));
        h.push_str(&form_open(v.action, "passkey-form"));
        h.push_str(&hidden("flow", v.flow));
        h.push_str(&hidden("csrf", v.csrf));
        h.push_str(&hidden("method", "passkey"));
        h.push_str(&hidden("credential", ""));
        h.push_str(
            "<div class=\"actions\">\n<button type=\"button\" id=\"use-passkey\" data-webauthn=\"get\" \
             data-options=\"webauthn-request\" hidden>Use a passkey</button>\n</div>\n</form>\n",
        );
    }
    if v.totp {
        h.push_str(&form_open(v.action, "totp-form"));
        h.push_str(&hidden("flow", v.flow));
        h.push_str(&hidden("csrf", v.csrf));
        h.push_str(&hidden("method", "totp"));
        h.push_str(&code_input(
            "otp",
            "Code",
            "Enter the 6-digit code from your authenticator app.",
            v.error.is_some(),
        ));
        h.push_str("<div class=\"actions\">\n<button type=\"submit\" id=\"verify\">Verify</button>\n</div>\n</form>\n");
    }
    if v.recovery {
        h.push_str("<details>\n<summary>Use a recovery code</summary>\n");
        h.push_str(&form_open(v.action, "recovery-form"));
        h.push_str(&hidden("flow", v.flow));
        h.push_str(&hidden("csrf", v.csrf));
        h.push_str(&hidden("method", "recovery"));
        h.push_str(
            "<div class=\"field\">\n<label for=\"recovery_code\">Recovery code</label>\n<input id=\"recovery_code\" \
             name=\"recovery_code\" type=\"text\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" \
             maxlength=\"32\" required>\n</div>\n<div class=\"actions\">\n<button type=\"submit\" id=\"use-recovery\">\
             Use code</button>\n</div>\n</form>\n</details>\n",
        );
    }
    if v.passkey_options.is_some() {
        h.push_str(&script_tag(nonce));
    }
    render(b, "Verify your identity", &h, nonce)
}

/// The registration page (first method, or a registration campaign).
pub fn mfa_register(b: &Branding, v: &MfaRegisterView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Keep your account secure</h1>\n");
    h.push_str(&format!("<p class=\"user\">{}</p>\n", escape(v.user)));
    h.push_str(&format!("<p class=\"subtitle\">{}</p>\n", escape(v.reason)));
    h.push_str(&error_block(v.error));
    h.push_str("<p id=\"webauthn-status\" class=\"error\" role=\"alert\" hidden></p>\n");
    if let Some(opts) = v.passkey_options {
        h.push_str("<h2>Passkey</h2>\n<p>Use your device's screen lock or a security key.</p>\n");
        h.push_str(&json_script("webauthn-create", opts));
        h.push_str(&form_open(v.action, "passkey-register-form"));
        h.push_str(&hidden("flow", v.flow));
        h.push_str(&hidden("csrf", v.csrf));
        h.push_str(&hidden("method", "passkey"));
        h.push_str(&hidden("credential", ""));
        h.push_str(
            "<div class=\"actions\">\n<button type=\"button\" id=\"create-passkey\" data-webauthn=\"create\" \
             data-options=\"webauthn-create\" hidden>Create a passkey</button>\n</div>\n</form>\n",
        );
    }
    if let Some((svg, secret)) = v.totp {
        h.push_str("<h2>Authenticator app</h2>\n<p>Scan the QR code with your authenticator app, then enter the code it shows.</p>\n");
        // The SVG comes from our own QR encoder (no user input reaches its markup except the
        // encoded modules), so it is inlined as is.
        h.push_str(&format!("<div class=\"qr\">{svg}</div>\n"));
        h.push_str(&format!(
            "<p class=\"hint\">Can't scan it? Enter this key: <code id=\"totp-secret\">{}</code></p>\n",
            escape(secret)
        ));
        h.push_str(&form_open(v.action, "totp-register-form"));
        h.push_str(&hidden("flow", v.flow));
        h.push_str(&hidden("csrf", v.csrf));
        h.push_str(&hidden("method", "totp"));
        h.push_str(&code_input("otp", "Code", "The 6-digit code from the app.", v.error.is_some()));
        h.push_str("<div class=\"actions\">\n<button type=\"submit\" id=\"verify\">Verify</button>\n</div>\n</form>\n");
    }
    if v.can_skip {
        h.push_str(&form_open(v.action, "skip-form"));
        h.push_str(&hidden("flow", v.flow));
        h.push_str(&hidden("csrf", v.csrf));
        h.push_str(&hidden("method", "skip"));
        h.push_str("<div class=\"actions\">\n<button type=\"submit\" class=\"secondary\" id=\"skip\">Not now</button>\n</div>\n</form>\n");
    }
    if v.passkey_options.is_some() {
        h.push_str(&script_tag(nonce));
    }
    render(b, "Keep your account secure", &h, nonce)
}

/// The recovery codes page.
pub fn recovery_codes(b: &Branding, v: &RecoveryCodesView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Save your recovery codes</h1>\n");
    h.push_str(
        "<p>If you lose access to your authenticator, each code signs you in once. They are shown only now: \
         store them somewhere safe.</p>\n<ul class=\"codes\" id=\"recovery-codes\">\n",
    );
    for c in v.codes {
        h.push_str(&format!("<li><code>{}</code></li>\n", escape(c)));
    }
    h.push_str("</ul>\n");
    h.push_str(&form_open(v.action, "codes-form"));
    h.push_str(&hidden("flow", v.flow));
    h.push_str(&hidden("csrf", v.csrf));
    h.push_str(&hidden("method", "codes-saved"));
    h.push_str("<div class=\"actions\">\n<button type=\"submit\" id=\"continue\">I saved them, continue</button>\n</div>\n</form>\n");
    render(b, "Recovery codes", &h, nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Branding {
        Branding { tenant_name: "Contoso".into(), ..Default::default() }
    }

    #[test]
    fn json_script_cannot_close_the_element() {
        let s = json_script("x", r#"{"a":"</script><script>alert(1)</script>&"}"#);
        assert!(!s[..s.len() - 10].contains("</script><"), "{s}");
        assert_eq!(s.matches("</script>").count(), 1);
        let inner = s.trim_start_matches("<script type=\"application/json\" id=\"x\">").trim_end_matches("</script>\n");
        let v: serde_json::Value = serde_json::from_str(inner).unwrap_or_default();
        assert_eq!(v["a"], "</script><script>alert(1)</script>&");
    }

    #[test]
    fn challenge_lists_only_the_users_methods_and_escapes() {
        let v = MfaChallengeView {
            action: "/t/mfa",
            flow: "f\"",
            csrf: "c",
            user: "<ada>",
            reason: "r",
            totp: true,
            passkey_options: None,
            recovery: false,
            error: Some("Wrong <code>"),
        };
        let html = mfa_challenge(&b(), &v, "n");
        assert!(html.contains("name=\"otp\""));
        assert!(!html.contains("recovery_code"));
        assert!(!html.contains("webauthn.js"));
        assert!(html.contains("&lt;ada&gt;") && html.contains("Wrong &lt;code&gt;") && html.contains("f&quot;"));
        let v2 = MfaChallengeView { totp: false, recovery: true, passkey_options: Some("{}"), error: None, ..v };
        let html = mfa_challenge(&b(), &v2, "n0nce");
        assert!(!html.contains("name=\"otp\""));
        assert!(html.contains("recovery_code") && html.contains("data-webauthn=\"get\""));
        assert!(html.contains("<script nonce=\"n0nce\" src=\"/static/webauthn.js\">"));
    }

    #[test]
    fn register_page_offers_skip_only_when_allowed() {
        let v = MfaRegisterView {
            action: "/t/mfa/register",
            flow: "f",
            csrf: "c",
            user: "ada",
            reason: "r",
            totp: Some(("<svg role=\"img\"></svg>", "ABC")),
            passkey_options: None,
            can_skip: false,
            error: None,
        };
        let html = mfa_register(&b(), &v, "n");
        assert!(html.contains("<svg role=\"img\">") && html.contains("ABC") && !html.contains("id=\"skip\""));
        let html = mfa_register(&b(), &MfaRegisterView { can_skip: true, ..v }, "n");
        assert!(html.contains("id=\"skip\""));
    }

    #[test]
    fn recovery_codes_are_listed() {
        let codes = vec!["ABCDE-FGHJK".to_string(), "<x>".to_string()];
        let html =
            recovery_codes(&b(), &RecoveryCodesView { action: "/t/mfa", flow: "f", csrf: "c", codes: &codes }, "n");
        assert!(html.contains("ABCDE-FGHJK") && html.contains("&lt;x&gt;"));
    }
}
