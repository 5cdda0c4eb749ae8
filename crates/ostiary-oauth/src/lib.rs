//! OAuth 2.0 wire layer, Entra-flavoured: parsing and validating token requests, client
//! authentication material, scopes, client assertions, and the AADSTS error catalogue.
//! Pure: no IO, no storage, no HTTP framework; callers pass `now`.

pub mod assertion;
pub mod error;
pub mod request;
pub mod scope;

pub use assertion::{AssertionCheck, CertRef, check_client_assertion};
pub use error::{ErrorKind, OAuthError};
pub use request::{ClientAuth, TokenRequest, parse_basic_auth};
pub use scope::{AppScope, parse_app_scope};
