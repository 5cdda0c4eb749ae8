//! OAuth 2.0 / OIDC wire layer, Entra-flavoured: parsing and validating `/authorize` and token
//! requests, client authentication material, redirect URI matching, PKCE, scopes, client
//! assertions, authorization responses, device-flow user codes and the AADSTS error catalogue.
//! Pure: no IO, no storage, no HTTP framework; callers pass `now`.

pub mod assertion;
pub mod authorize;
pub mod delegated;
pub mod device;
pub mod error;
pub mod pkce;
pub mod redirect;
pub mod request;
pub mod response;
pub mod scope;

#[cfg(test)]
mod fuzz;

pub use assertion::{AssertionCheck, CertRef, check_client_assertion};
pub use authorize::{AuthorizeError, AuthorizeRequest, ErrorRedirect, PkceMethod, Prompt, ResponseMode, ResponseType};
pub use delegated::{DelegatedScopes, parse_delegated_scopes};
pub use device::{format_user_code, generate_user_code, normalize_user_code};
pub use error::{ErrorKind, OAuthError};
pub use pkce::verify_pkce;
pub use redirect::{Platform, RegisteredRedirects, match_redirect_uri};
pub use request::{ClientAuth, TokenRequest, parse_basic_auth};
pub use response::{AuthResponse, authorization_response, escape_html, form_post_html};
pub use scope::{AppScope, parse_app_scope};
