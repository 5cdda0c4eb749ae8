//! A tenant: one isolated directory with its own domains and signing keys.

use crate::ids::TenantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    /// The initial domain, e.g. `contoso.ostiary.test`; always verified.
    pub initial_domain: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}
