//! The write model: a `ChangeSet` is applied atomically by `Store::commit`.

use crate::log::NewLogRecord;
use ostiary_model::{AppRoleAssignment, DirectoryObject, ObjectId};

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Asserts that the stored object with this id is exactly this one (same kind and
    /// document), checked inside the commit's transaction; otherwise (changed or absent) the
    /// whole `ChangeSet` fails with `PreconditionFailed`. Put before an `UpdateObject` or
    /// `DeleteObject` of what was read, for race-free optimistic concurrency (ETags).
    Expect(DirectoryObject),
    /// `Conflict { key: "id" }` if the id exists, or the unique key's namespace if taken.
    CreateObject(DirectoryObject),
    /// Replaces the stored document (same id and kind); `NotFound` if absent. Unique keys are
    /// re-synchronised.
    UpdateObject(DirectoryObject),
    /// `NotFound` if absent; removes its memberships (both directions) and app-role
    /// assignments (as principal and as resource).
    DeleteObject(ObjectId),
    /// `NotFound` if either object is absent or `group` is not a group;
    /// `Conflict { key: "membership" }` if already a member.
    AddMember { group: ObjectId, member: ObjectId },
    /// `NotFound` if not a member.
    RemoveMember { group: ObjectId, member: ObjectId },
    /// `NotFound` if the principal or resource is absent;
    /// `Conflict { key: "appRoleAssignment" }` for a duplicate (principal, resource, role) or id.
    AddAppRoleAssignment(AppRoleAssignment),
    /// `NotFound` if absent.
    RemoveAppRoleAssignment { id: String },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
    /// Audit records describing the changes; committed in the same transaction, so there is
    /// no change without its record (and no record of a change that rolled back).
    pub audit: Vec<NewLogRecord>,
}

impl ChangeSet {
    pub fn new() -> Self {
        ChangeSet::default()
    }
    pub fn one(change: Change) -> Self {
        ChangeSet { changes: vec![change], audit: Vec::new() }
    }
    pub fn push(&mut self, change: Change) -> &mut Self {
        self.changes.push(change);
        self
    }
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}
