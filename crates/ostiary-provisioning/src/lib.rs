//! Outbound SCIM provisioning, pure: Entra's attribute-mapping expressions, object mappings and
//! the desired SCIM resource they produce, the minimal PATCH that brings a target in sync, HTTP
//! outcome classification with backoff and quarantine, and the Graph `provisioningObjectSummary`
//! record of every action. No IO and no clock: the engine in `ostiary-core` passes `now` and the
//! jitter in.

pub mod expr;
pub mod mapping;
pub mod retry;
pub mod summary;
mod target;

pub use expr::{Expr, ParseError};
pub use mapping::{AttributeMapping, Compiled, Flow, MappingError, ObjectMapping};
pub use retry::{Health, Outcome, RetryPolicy};
pub use summary::Summary;
