//! Shapes shared by all Graph resources: collections, mixed directory-object lists and `$ref`
//! bodies.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A page of a Graph collection: `{"@odata.context":…,"value":[…],"@odata.nextLink":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection<T> {
    /// `@odata.context`.
    #[serde(rename = "@odata.context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// `@odata.count`, present when `$count=true` was requested.
    #[serde(rename = "@odata.count", default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Absolute URL of the next page; absent on the last page.
    #[serde(rename = "@odata.nextLink", default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    /// Absolute URL to resume a delta query; only on the last page of a delta round.
    #[serde(rename = "@odata.deltaLink", default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
    /// The items of this page.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

impl<T> Collection<T> {
    /// A single complete page holding `value`.
    pub fn new(value: Vec<T>) -> Self {
        Collection { context: None, count: None, next_link: None, delta_link: None, value }
    }
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection::new(Vec::new())
    }
}

/// An item of a mixed directory-object list (`members`, `memberOf`, `transitiveMembers`, …):
/// its `@odata.type`, `id`, `displayName` and every other property in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DirectoryObject {
    /// `#microsoft.graph.user`, `#microsoft.graph.group`, `#microsoft.graph.servicePrincipal`…
    #[serde(rename = "@odata.type", skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    pub id: Uuid,
    pub display_name: Option<String>,
    /// All other properties.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl DirectoryObject {
    /// The type name without the `#microsoft.graph.` prefix (`user`, `group`, …), if known.
    pub fn kind(&self) -> Option<&str> {
        let t = self.odata_type.as_deref()?;
        let t = t.strip_prefix('#').unwrap_or(t);
        Some(t.strip_prefix("microsoft.graph.").or_else(|| t.strip_prefix("Microsoft.Graph.")).unwrap_or(t))
    }

    /// A string property from `extra` (for example `userPrincipalName` or `appId`).
    pub fn extra_str(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(serde_json::Value::as_str)
    }
}

/// Body of `POST …/$ref`: `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceCreate {
    /// `@odata.type` annotation, ignored.
    #[serde(rename = "@odata.type", default, skip_serializing_if = "Option::is_none")]
    pub odata_type: Option<String>,
    /// URL of the referenced object; its last path segment is the object id.
    #[serde(rename = "@odata.id")]
    pub odata_id: String,
}

impl ReferenceCreate {
    /// A reference to the directory object `id`, in the form Graph clients send.
    pub fn directory_object(id: Uuid) -> Self {
        ReferenceCreate { odata_type: None, odata_id: format!("{}{id}", crate::GRAPH_DIRECTORY_OBJECTS_BASE) }
    }

    /// The object id at the end of `@odata.id` (`…/directoryObjects/{id}`, `…/users/{id}`,
    /// `…/directoryObjects('{id}')`), if it is a GUID.
    pub fn target_id(&self) -> Option<Uuid> {
        let s = self.odata_id.trim_end_matches('/');
        let last = s.rsplit('/').next()?;
        let last = last
            .strip_prefix("directoryObjects(")
            .or_else(|| last.find('(').map(|i| &last[i + 1..]))
            .map(|inner| inner.trim_end_matches(')').trim_matches('\''))
            .unwrap_or(last);
        Uuid::parse_str(last).ok()
    }
}
