//! Column encodings shared by every query: timestamps, documents and row decoding.

use ostiary_model::{DirectoryObject, ObjectKind};
use ostiary_store::StoreError;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
use uuid::Uuid;

/// Fixed-width UTC timestamps: lossless (nanoseconds; `timestamptz` would keep only
/// microseconds) and, in `COLLATE "C"` columns, text order equals time order.
const TS_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// Renders a timestamp for a timestamp column.
pub(crate) fn ts(t: OffsetDateTime) -> Result<String, StoreError> {
    t.checked_to_offset(UtcOffset::UTC)
        .and_then(|u| u.format(TS_FORMAT).ok())
        .ok_or_else(|| StoreError::Backend("timestamp out of the storable range".into()))
}

/// Parses a timestamp column.
pub(crate) fn parse_ts(s: &str) -> Result<OffsetDateTime, StoreError> {
    PrimitiveDateTime::parse(s, TS_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| StoreError::Corrupt(format!("bad stored timestamp '{s}'")))
}

/// Whether `s` contains NUL, which PostgreSQL text cannot store: lookups of such values
/// find nothing instead of failing in the database.
pub(crate) fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// The `jsonb` document stored in `directory_objects.doc`.
pub(crate) fn doc_value(obj: &DirectoryObject) -> Result<serde_json::Value, StoreError> {
    let doc = obj.to_doc();
    if !doc.is_object() {
        return Err(StoreError::Backend(format!("could not serialise {} {}", obj.kind().as_str(), obj.id())));
    }
    Ok(doc)
}

pub(crate) fn parse_kind(kind: &str) -> Result<ObjectKind, StoreError> {
    ObjectKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("unknown object kind '{kind}'")))
}

/// Rebuilds an object from its `id`, `kind` and `doc` columns; the document must agree
/// with the id column.
pub(crate) fn decode_object(id: Uuid, kind: &str, doc: serde_json::Value) -> Result<DirectoryObject, StoreError> {
    let obj = DirectoryObject::from_doc(parse_kind(kind)?, doc)?;
    if obj.id().as_uuid() != id {
        return Err(StoreError::Corrupt(format!("object {id}: document id does not match")));
    }
    Ok(obj)
}

/// `ObjectKind` as Graph's `principalType`.
pub(crate) fn principal_type(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
        ObjectKind::Application => "Application",
        ObjectKind::ServicePrincipal => "ServicePrincipal",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_sort() {
        let a = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let b = OffsetDateTime::from_unix_timestamp(1_700_000_001).unwrap();
        assert_eq!(parse_ts(&ts(a).unwrap()).unwrap(), a);
        assert_eq!(ts(b).unwrap(), "2023-11-14T22:13:21.000000000Z");
        assert!(ts(a).unwrap() < ts(b).unwrap());
        let offset = a.to_offset(UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(ts(offset).unwrap(), ts(a).unwrap());
    }
}
