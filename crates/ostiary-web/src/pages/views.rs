//! The individual pages: sign-in, consent, password change, device-code entry and result,
//! account picker, error and signed-out. Each is a pure function of its view and the tenant's
//! branding, returning the complete HTML document; every interpolated value is escaped here.

use super::escape::{escape, safe_url};
use super::layout::{Branding, render};

/// The sign-in form (username and password).
#[derive(Debug, Clone, Copy)]
pub struct SignInView<'a> {
    /// Where the form posts.
    pub action: &'a str,
    pub flow: &'a str,
    pub csrf: &'a str,
    /// Prefilled username (`login_hint`).
    pub username: Option<&'a str>,
    /// A non-enumerating message ("Your account or password is incorrect.").
    pub error: Option<&'a str>,
    /// The application the user signs in to.
    pub app_name: &'a str,
    /// WebAuthn options (JSON) for a username-less passkey sign-in, when passkeys are enabled.
    pub passkey_options: Option<&'a str>,
}

/// The consent prompt for an application's requested permissions.
#[derive(Debug, Clone, Copy)]
pub struct ConsentView<'a> {
    pub action: &'a str,
    pub flow: &'a str,
    pub csrf: &'a str,
    pub app_name: &'a str,
    /// Verified publisher, if any.
    pub publisher: Option<&'a str>,
    /// The signed-in user (username or display name).
    pub user: &'a str,
    /// `(display name, description)` of each requested permission.
    pub permissions: &'a [(String, String)],
    /// Shows the "Consent on behalf of your organization" checkbox.
    pub can_consent_for_org: bool,
}

/// The forced password change (first sign-in, expired or reset password).
#[derive(Debug, Clone, Copy)]
pub struct ChangePasswordView<'a> {
    pub action: &'a str,
    pub flow: &'a str,
    pub csrf: &'a str,
    pub user: &'a str,
    /// Why the change is required, shown under the heading.
    pub reason: &'a str,
    pub error: Option<&'a str>,
    /// Minimum length of the new password (`minlength`; 0 for none).
    pub min_length: usize,
}

/// The device-code entry form (`/devicelogin`).
#[derive(Debug, Clone, Copy)]
pub struct DeviceCodeView<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
    /// Prefilled code (from a verification URI with the code in it).
    pub prefill: Option<&'a str>,
}

/// One account in the account picker.
#[derive(Debug, Clone, Copy)]
pub struct AccountChoice<'a> {
    /// The value posted as `account` when it is picked.
    pub value: &'a str,
    pub display_name: &'a str,
    pub username: &'a str,
}

/// The account picker (`prompt=select_account`, several sessions).
#[derive(Debug, Clone, Copy)]
pub struct SelectAccountView<'a> {
    pub action: &'a str,
    pub flow: &'a str,
    pub csrf: &'a str,
    pub accounts: &'a [AccountChoice<'a>],
}

/// An error page a user can read and quote to support.
#[derive(Debug, Clone, Copy)]
pub struct ErrorView<'a> {
    pub title: &'a str,
    pub message: &'a str,
    /// Entra-style error code, e.g. `AADSTS50011`.
    pub code: Option<&'a str>,
    pub request_id: &'a str,
    pub correlation_id: &'a str,
    pub timestamp: &'a str,
}

/// The page after sign-out: front-channel logout iframes and an optional continue link.
#[derive(Debug, Clone, Copy)]
pub struct SignedOutView<'a> {
    /// Each application's front-channel logout URL, loaded in a hidden iframe.
    pub front_channel_urls: &'a [String],
    /// Where to go afterwards (`post_logout_redirect_uri`), if anywhere.
    pub continue_url: Option<&'a str>,
}

/// `<input type="hidden">` carrying `value` as `name`.
pub(super) fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">\n", escape(name), escape(value))
}

/// The form's error message, or nothing.
pub(super) fn error_block(error: Option<&str>) -> String {
    match error {
        Some(e) => format!("<p id=\"error\" class=\"error\" role=\"alert\">{}</p>\n", escape(e)),
        None => String::new(),
    }
}

/// ` aria-describedby=".." aria-invalid="true"` for an input, listing `ids` and, when there is an
/// error, `error`.
fn described_by(ids: &[&str], error: bool) -> String {
    let mut all: Vec<&str> = ids.to_vec();
    if error {
        all.push("error");
    }
    let mut attrs = String::new();
    if !all.is_empty() {
        attrs.push_str(&format!(" aria-describedby=\"{}\"", escape(&all.join(" "))));
    }
    if error {
        attrs.push_str(" aria-invalid=\"true\"");
    }
    attrs
}

/// `<form method="post">` opening tag with a filtered action URL.
fn form_open(action: &str) -> String {
    format!("<form method=\"post\" action=\"{}\">\n", escape(&safe_url(action)))
}

/// The sign-in page.
pub fn sign_in(b: &Branding, v: &SignInView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Sign in</h1>\n");
    h.push_str(&format!("<p class=\"subtitle\">to continue to <strong>{}</strong></p>\n", escape(v.app_name)));
    if let Some(text) = b.sign_in_text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        h.push_str(&format!("<p class=\"sign-in-text\">{}</p>\n", escape(text)));
    }
    h.push_str(&error_block(v.error));
    h.push_str(&form_open(v.action));
    h.push_str(&hidden("flow", v.flow));
    h.push_str(&hidden("csrf", v.csrf));
    let username = v.username.filter(|u| !u.is_empty());
    let aria = described_by(&[], v.error.is_some());
    h.push_str("<div class=\"field\">\n<label for=\"username\">Email or username</label>\n");
    h.push_str(&format!(
        "<input id=\"username\" name=\"username\" type=\"text\" inputmode=\"email\" autocomplete=\"username\" \
         autocapitalize=\"none\" spellcheck=\"false\" required{}{aria}{}>\n</div>\n",
        username.map(|u| format!(" value=\"{}\"", escape(u))).unwrap_or_default(),
        if username.is_none() { " autofocus" } else { "" },
    ));
    h.push_str("<div class=\"field\">\n<label for=\"password\">Password</label>\n");
    h.push_str(&format!(
        "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" \
         required{aria}{}>\n</div>\n",
        if username.is_some() { " autofocus" } else { "" },
    ));
    h.push_str("<div class=\"actions\">\n<button type=\"submit\" id=\"submit\">Sign in</button>\n</div>\n</form>");
    if let Some(opts) = v.passkey_options {
        // Hidden until the script finds WebAuthn support: without it the page is password-only.
        h.push_str("\n<p id=\"webauthn-status\" class=\"error\" role=\"alert\" hidden></p>\n");
        h.push_str(&super::mfa::json_script("webauthn-signin", opts));
        h.push_str(&form_open(v.action));
        h.push_str(&hidden("flow", v.flow));
        h.push_str(&hidden("csrf", v.csrf));
        h.push_str(&hidden("method", "passkey"));
        h.push_str(&hidden("credential", ""));
        h.push_str(
            "<div class=\"actions\">\n<button type=\"button\" class=\"secondary\" id=\"passkey-signin\" \
             data-webauthn=\"get\" data-options=\"webauthn-signin\" hidden>Sign in with a passkey</button>\n</div>\n</form>\n",
        );
        h.push_str(&format!(
            "<script nonce=\"{}\" src=\"{}\"></script>\n",
            escape(nonce),
            super::mfa::WEBAUTHN_SCRIPT_PATH
        ));
    }
    render(b, "Sign in", &h, nonce)
}

/// The consent page.
pub fn consent(b: &Branding, v: &ConsentView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Permissions requested</h1>\n");
    h.push_str(&format!("<p class=\"app-name\"><strong>{}</strong></p>\n", escape(v.app_name)));
    match v.publisher.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => h.push_str(&format!("<p class=\"publisher\">Published by {}</p>\n", escape(p))),
        None => h.push_str("<p class=\"publisher\">Publisher unverified</p>\n"),
    }
    h.push_str(&format!("<p class=\"user\">Signed in as <strong>{}</strong></p>\n", escape(v.user)));
    if v.permissions.is_empty() {
        h.push_str("<p>This app would like to sign you in.</p>\n");
    } else {
        h.push_str("<h2>This app would like to:</h2>\n<ul class=\"permissions\">\n");
        for (name, description) in v.permissions {
            h.push_str(&format!("<li><strong>{}</strong>", escape(name)));
            if !description.trim().is_empty() {
                h.push_str(&format!("<span>{}</span>", escape(description)));
            }
            h.push_str("</li>\n");
        }
        h.push_str("</ul>\n");
    }
    h.push_str(&form_open(v.action));
    h.push_str(&hidden("flow", v.flow));
    h.push_str(&hidden("csrf", v.csrf));
    if v.can_consent_for_org {
        h.push_str(
            "<div class=\"check\">\n\
             <input type=\"checkbox\" id=\"admin_consent\" name=\"admin_consent\" value=\"true\">\n\
             <label for=\"admin_consent\">Consent on behalf of your organization</label>\n</div>\n",
        );
    }
    h.push_str(
        "<p class=\"note\">Accepting these permissions means that you allow this app to use your data as \
         specified in its terms of service and privacy statement.</p>\n",
    );
    h.push_str(
        "<div class=\"actions\">\n\
         <button type=\"submit\" name=\"decision\" value=\"accept\" id=\"accept\">Accept</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"decline\" id=\"decline\" \
         class=\"secondary\">Cancel</button>\n\
         </div>\n</form>",
    );
    render(b, "Permissions requested", &h, nonce)
}

/// The password change page.
pub fn change_password(b: &Branding, v: &ChangePasswordView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Update your password</h1>\n");
    if !v.reason.trim().is_empty() {
        h.push_str(&format!("<p>{}</p>\n", escape(v.reason)));
    }
    h.push_str(&error_block(v.error));
    h.push_str(&form_open(v.action));
    h.push_str(&hidden("flow", v.flow));
    h.push_str(&hidden("csrf", v.csrf));
    // The account, for the reader and for password managers (no `name`: not posted).
    h.push_str(&format!(
        "<div class=\"field\">\n<label for=\"account\">Account</label>\n\
         <input id=\"account\" type=\"text\" autocomplete=\"username\" value=\"{}\" readonly>\n</div>\n",
        escape(v.user)
    ));
    let error = v.error.is_some();
    h.push_str(&format!(
        "<div class=\"field\">\n<label for=\"current_password\">Current password</label>\n\
         <input id=\"current_password\" name=\"current_password\" type=\"password\" \
         autocomplete=\"current-password\" required autofocus{}>\n</div>\n",
        described_by(&[], error)
    ));
    let minlength = if v.min_length > 0 { format!(" minlength=\"{}\"", v.min_length) } else { String::new() };
    let (hint_ids, hint) = if v.min_length > 0 {
        let hint = format!("<p id=\"password-hint\" class=\"hint\">Use at least {} characters.</p>\n", v.min_length);
        (&["password-hint"][..], hint)
    } else {
        (&[][..], String::new())
    };
    h.push_str(&format!(
        "<div class=\"field\">\n<label for=\"new_password\">New password</label>\n\
         <input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\" \
         required{minlength}{}>\n{hint}</div>\n",
        described_by(hint_ids, error)
    ));
    h.push_str(&format!(
        "<div class=\"field\">\n<label for=\"confirm_password\">Confirm password</label>\n\
         <input id=\"confirm_password\" name=\"confirm_password\" type=\"password\" autocomplete=\"new-password\" \
         required{minlength}{}>\n</div>\n",
        described_by(&[], error)
    ));
    h.push_str(
        "<div class=\"actions\">\n<button type=\"submit\" id=\"submit\">Update password</button>\n</div>\n</form>",
    );
    render(b, "Update your password", &h, nonce)
}

/// The device-code entry page.
pub fn device_code_entry(b: &Branding, v: &DeviceCodeView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Sign in on a device</h1>\n");
    h.push_str("<p>Enter the code displayed on your app or device.</p>\n");
    h.push_str(&error_block(v.error));
    h.push_str(&form_open(v.action));
    h.push_str(&hidden("csrf", v.csrf));
    h.push_str(&format!(
        "<div class=\"field\">\n<label for=\"user_code\">Enter code</label>\n\
         <input id=\"user_code\" name=\"user_code\" type=\"text\" class=\"code\" autocomplete=\"one-time-code\" \
         autocapitalize=\"characters\" spellcheck=\"false\" required autofocus{}{}>\n</div>\n",
        v.prefill.map(|c| format!(" value=\"{}\"", escape(c))).unwrap_or_default(),
        described_by(&[], v.error.is_some())
    ));
    h.push_str("<div class=\"actions\">\n<button type=\"submit\" id=\"submit\">Next</button>\n</div>\n</form>");
    render(b, "Enter code", &h, nonce)
}

/// The page after the user approved or declined a device-code sign-in.
pub fn device_code_done(b: &Branding, app_name: &str, approved: bool, nonce: &str) -> String {
    let app = escape(app_name);
    let h = if approved {
        format!("<h1>You have signed in to {app}</h1>\n<p>You can close this window.</p>")
    } else {
        format!("<h1>You declined to sign in to {app}</h1>\n<p>You can close this window.</p>")
    };
    render(b, if approved { "Signed in" } else { "Sign-in declined" }, &h, nonce)
}

/// The account picker.
pub fn select_account(b: &Branding, v: &SelectAccountView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>Pick an account</h1>\n");
    h.push_str(&form_open(v.action));
    h.push_str(&hidden("flow", v.flow));
    h.push_str(&hidden("csrf", v.csrf));
    h.push_str("<ul class=\"accounts\">\n");
    for a in v.accounts {
        h.push_str(&format!(
            "<li><button type=\"submit\" name=\"account\" value=\"{}\" class=\"account\">{} <span>{}</span>\
             </button></li>\n",
            escape(a.value),
            escape(a.display_name),
            escape(a.username)
        ));
    }
    h.push_str(
        "<li><button type=\"submit\" name=\"account\" value=\"other\" id=\"other\" class=\"account other\">\
         Use another account</button></li>\n</ul>\n</form>",
    );
    render(b, "Pick an account", &h, nonce)
}

/// The error page.
pub fn error(b: &Branding, v: &ErrorView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str(&format!("<h1>{}</h1>\n<p>{}</p>\n", escape(v.title), escape(v.message)));
    h.push_str("<h2>Troubleshooting details</h2>\n<dl class=\"details\">\n");
    if let Some(code) = v.code {
        h.push_str(&format!("<dt>Error code</dt><dd>{}</dd>\n", escape(code)));
    }
    h.push_str(&format!("<dt>Request Id</dt><dd>{}</dd>\n", escape(v.request_id)));
    h.push_str(&format!("<dt>Correlation Id</dt><dd>{}</dd>\n", escape(v.correlation_id)));
    h.push_str(&format!("<dt>Timestamp</dt><dd>{}</dd>\n</dl>", escape(v.timestamp)));
    let title = if v.title.trim().is_empty() { "Error" } else { v.title };
    render(b, title, &h, nonce)
}

/// Navigates to the `#continue` link once every front-channel iframe has loaded, or after 3 s.
/// Reads the (already filtered) URL from the link, so no value is interpolated into script.
const CONTINUE_SCRIPT: &str = "(function(){var a=document.getElementById(\"continue\");if(!a){return;}\
var f=document.querySelectorAll(\"iframe.front-channel\"),n=f.length,done=false;\
function go(){if(!done){done=true;window.location.assign(a.href);}}\
function one(){n-=1;if(n<=0){go();}}\
for(var i=0;i<f.length;i++){f[i].addEventListener(\"load\",one);}\
window.setTimeout(go,3000);if(n===0){go();}})();";

/// The signed-out page.
pub fn signed_out(b: &Branding, v: &SignedOutView, nonce: &str) -> String {
    let mut h = String::new();
    h.push_str("<h1>You signed out of your account</h1>\n");
    h.push_str("<p>It's a good idea to close all browser windows.</p>\n");
    // A URL that fails the filter is left out: an iframe on `#` would load this page again.
    for url in v.front_channel_urls.iter().map(|u| safe_url(u)).filter(|u| u != "#") {
        h.push_str(&format!(
            "<iframe class=\"front-channel\" src=\"{}\" title=\"Signing out of an application\" hidden></iframe>\n",
            escape(&url)
        ));
    }
    if let Some(url) = v.continue_url.map(safe_url).filter(|u| u != "#") {
        h.push_str(&format!(
            "<div class=\"actions\">\n<a id=\"continue\" class=\"button\" href=\"{}\">Continue</a>\n</div>\n",
            escape(&url)
        ));
        h.push_str(&format!("<script nonce=\"{}\">{CONTINUE_SCRIPT}</script>", escape(nonce)));
    }
    render(b, "Signed out", &h, nonce)
}
