//! Typed async client for Ostiary's Graph-shaped admin API (`{authority}/v1.0`) and its
//! Entra-compatible token endpoint.
//!
//! [`AdminClient::connect`] builds an HTTPS client (optionally trusting only a private CA),
//! acquires an app-only token with the client-credentials grant on first use, caches it until
//! shortly before it expires, and exposes generic JSON helpers plus typed methods for users,
//! groups, applications, service principals and app role assignments.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ostiary_client::ClientError> {
//! use ostiary_client::{AdminClient, ClientConfig, ListQuery};
//! let client = AdminClient::connect(ClientConfig {
//!     authority: "https://127.0.0.1:8443".into(),
//!     tenant: "contoso.test".into(),
//!     client_id: "11111111-2222-3333-4444-555555555555".into(),
//!     client_secret: "…".into(),
//!     ca_pem: None,
//! })
//! .await?;
//! for user in client.list_users(&ListQuery::default()).await? {
//!     println!("{} {:?}", user.id, user.user_principal_name);
//! }
//! # Ok(()) }
//! ```

mod client;
mod error;
mod query;
mod resources;

pub use client::{AdminClient, ClientConfig};
pub use error::{ClientError, HttpErrorBody};
pub use query::{ListQuery, encode_query_value, odata_quote};

/// Re-export of the wire types, so that users of the client need only one dependency.
pub use ostiary_api_types as types;

#[cfg(test)]
mod tests;
