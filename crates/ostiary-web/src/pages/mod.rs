//! Server-rendered HTML pages of the interactive flows (sign-in, consent, password change,
//! device code, account picker, errors, sign-out, second factors) as pure render functions.
//!
//! No template engine: each page is built with `format!` and every interpolated value goes
//! through [`escape`] (URLs through [`safe_url`] first), so escaping is visible at each use.
//! Pages work without JavaScript; the only script is the optional auto-continue on the
//! signed-out page, which carries the response's CSP nonce. The stylesheet [`STYLESHEET`] is
//! served by the router at `/static/ostiary.css`.

mod escape;
mod layout;
mod mfa;
mod views;

#[cfg(test)]
mod tests;

pub use escape::{DEFAULT_ACCENT, escape, safe_url, valid_accent};
pub use layout::{Branding, STYLESHEET, render};
pub use mfa::{
    MfaChallengeView, MfaRegisterView, RecoveryCodesView, WEBAUTHN_SCRIPT, WEBAUTHN_SCRIPT_PATH, json_script,
    mfa_challenge, mfa_register, recovery_codes,
};
pub use views::{
    AccountChoice, ChangePasswordView, ConsentView, DeviceCodeView, ErrorView, SelectAccountView, SignInView,
    SignedOutView, change_password, consent, device_code_done, device_code_entry, error, select_account, sign_in,
    signed_out,
};
