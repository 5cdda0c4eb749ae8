//! Serde helpers shared by the request types: PATCH double options, properties that must be
//! `null`, and lenient numbers.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Deserialises a property that may be absent, `null` or a value into `Option<Option<T>>`.
///
/// Use it together with `#[serde(default)]`: an absent property then stays `None` (unchanged),
/// an explicit `null` becomes `Some(None)` (clear), and a value becomes `Some(Some(v))`.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Patch {
///     #[serde(default, deserialize_with = "ostiary_api_types::double_option")]
///     city: Option<Option<String>>,
/// }
/// let absent: Patch = serde_json::from_str("{}").unwrap();
/// let null: Patch = serde_json::from_str(r#"{"city":null}"#).unwrap();
/// assert_eq!(absent.city, None);
/// assert_eq!(null.city, Some(None));
/// ```
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A JSON `null`: the only value accepted for read-only properties that Graph clients echo back
/// (for example `secretText` in an `addPassword` body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Null;

impl Serialize for Null {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_none()
    }
}

impl<'de> Deserialize<'de> for Null {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NullVisitor;
        impl<'de> Visitor<'de> for NullVisitor {
            type Value = Null;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Null, E> {
                Ok(Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Null, E> {
                Ok(Null)
            }
        }
        deserializer.deserialize_option(NullVisitor)
    }
}

/// Generates a `deserialize_with` function for an `Option<Null>` property that rejects any
/// non-null value with a message naming the property.
macro_rules! must_be_null {
    ($fn_name:ident, $json_name:literal) => {
        pub(crate) fn $fn_name<'de, D>(deserializer: D) -> Result<Option<$crate::serde_util::Null>, D::Error>
        where
            D: ::serde::Deserializer<'de>,
        {
            use ::serde::Deserialize as _;
            match Option::<::serde_json::Value>::deserialize(deserializer)? {
                None => Ok(None),
                Some(_) => Err(<D::Error as ::serde::de::Error>::custom(concat!(
                    "property `",
                    $json_name,
                    "` is read-only and must be null"
                ))),
            }
        }
    };
}
pub(crate) use must_be_null;

/// Deserialises a number of seconds given either as a JSON number or as a numeric string
/// (some token endpoints, including Entra's v1 endpoint, send strings).
pub(crate) fn u64_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer or a string holding one")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("negative number"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim().parse().map_err(|_| E::custom("not a number"))
        }
    }
    deserializer.deserialize_any(V)
}

/// Like [`u64_or_string`] for an optional property.
pub(crate) fn opt_u64_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "u64_or_string")] u64);
    Option::<Wrap>::deserialize(deserializer).map(|o| o.map(|w| w.0))
}
