//! Validated filter IR. The core turns a parsed OData `$filter` into a `Filter` against the
//! per-kind property table below (unknown or unfilterable properties are rejected here), and
//! each backend compiles the `Filter` to parameterised SQL over the stored JSON documents.

use ostiary_model::ObjectKind;
use ostiary_odata::{CmpOp, Expr, Literal, PropPath};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Compared case-insensitively, as Graph does for directory strings.
    String,
    Bool,
    /// Stored as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC), so text order is time order.
    DateTime,
    /// Lowercase hyphenated GUID text.
    Guid,
    /// An array of strings; only usable through `any`/`all`.
    StringCollection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
}

const fn f(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec { name, ty }
}

use FieldType::{Bool as B, DateTime as D, Guid as G, String as S, StringCollection as C};

const USER_FIELDS: &[FieldSpec] = &[
    f("id", G),
    f("displayName", S),
    f("userPrincipalName", S),
    f("mail", S),
    f("mailNickname", S),
    f("givenName", S),
    f("surname", S),
    f("jobTitle", S),
    f("department", S),
    f("companyName", S),
    f("employeeId", S),
    f("officeLocation", S),
    f("city", S),
    f("state", S),
    f("country", S),
    f("usageLocation", S),
    f("userType", S),
    f("preferredLanguage", S),
    f("mobilePhone", S),
    f("postalCode", S),
    f("streetAddress", S),
    f("accountEnabled", B),
    f("createdDateTime", D),
    f("externalId", S),
    f("lastModifiedDateTime", D),
    f("otherMails", C),
    f("businessPhones", C),
];
const GROUP_FIELDS: &[FieldSpec] = &[
    f("id", G),
    f("displayName", S),
    f("description", S),
    f("mail", S),
    f("mailNickname", S),
    f("visibility", S),
    f("mailEnabled", B),
    f("securityEnabled", B),
    f("isAssignableToRole", B),
    f("createdDateTime", D),
    f("externalId", S),
    f("lastModifiedDateTime", D),
    f("groupTypes", C),
];
const APPLICATION_FIELDS: &[FieldSpec] = &[
    f("id", G),
    f("appId", G),
    f("displayName", S),
    f("description", S),
    f("signInAudience", S),
    f("createdDateTime", D),
    f("identifierUris", C),
    f("tags", C),
];
const SP_FIELDS: &[FieldSpec] = &[
    f("id", G),
    f("appId", G),
    f("displayName", S),
    f("description", S),
    f("servicePrincipalType", S),
    f("appOwnerOrganizationId", G),
    f("accountEnabled", B),
    f("appRoleAssignmentRequired", B),
    f("createdDateTime", D),
    f("servicePrincipalNames", C),
    f("tags", C),
];
/// Properties common to every directory object (for `members`, `memberOf` and other mixed lists).
const DIRECTORY_OBJECT_FIELDS: &[FieldSpec] = &[f("id", G), f("displayName", S), f("createdDateTime", D)];

/// The filterable/sortable properties of a kind, or of mixed directory objects for `None`.
pub fn fields(kind: Option<ObjectKind>) -> &'static [FieldSpec] {
    match kind {
        Some(ObjectKind::User) => USER_FIELDS,
        Some(ObjectKind::Group) => GROUP_FIELDS,
        Some(ObjectKind::Application) => APPLICATION_FIELDS,
        Some(ObjectKind::ServicePrincipal) => SP_FIELDS,
        None => DIRECTORY_OBJECT_FIELDS,
    }
}

pub fn field(kind: Option<ObjectKind>, name: &str) -> Option<FieldSpec> {
    fields(kind).iter().copied().find(|f| f.name == name)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    /// Normalised `YYYY-MM-DDTHH:MM:SSZ`.
    DateTime(String),
    /// Lowercase GUID text.
    Guid(String),
}

/// What a comparison reads: a document property, or the current element inside an
/// `any`/`all` lambda over a string collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// `name` is a property of the stored document, or a dotted path of identifiers into
    /// nested objects (`ostiaryScim.nickName`); backends check every segment with
    /// [`path_segments`] before splicing it into SQL.
    Field {
        name: &'static str,
        ty: FieldType,
    },
    Element,
}

impl Operand {
    pub fn ty(&self) -> FieldType {
        match self {
            Operand::Field { ty, .. } => *ty,
            Operand::Element => FieldType::String,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LikeKind {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp {
        operand: Operand,
        op: CmpOp,
        value: Value,
    },
    /// `prop eq null` (negated for `ne null`).
    IsNull {
        operand: Operand,
        negated: bool,
    },
    In {
        operand: Operand,
        values: Vec<Value>,
    },
    /// Case-insensitive prefix/suffix/substring match; backends escape LIKE wildcards.
    Like {
        operand: Operand,
        kind: LikeKind,
        value: String,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// Some element of the string collection `field` satisfies `predicate` (which only uses
    /// `Operand::Element`); with `predicate = None`, the collection is non-empty.
    Any {
        field: &'static str,
        predicate: Option<Box<Filter>>,
    },
    /// Every element satisfies `predicate` (true for an empty collection).
    All {
        field: &'static str,
        predicate: Box<Filter>,
    },
}

/// The segments of a property path (`a` or `a.b.c`) if every one is a plain ASCII identifier
/// (letters, digits, `_`), which is what makes it safe to splice into a JSON path in SQL.
pub fn path_segments(name: &str) -> Option<Vec<&str>> {
    let segs: Vec<&str> = name.split('.').collect();
    let ok = segs.iter().all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    ok.then_some(segs)
}

/// Why a `$filter` cannot be used; the message is safe to show to clients.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// Turns a parsed `$filter` into a validated `Filter` for objects of `kind`.
pub fn compile(expr: &Expr, kind: Option<ObjectKind>) -> Result<Filter, FilterError> {
    Compiler { kind, lambda_var: None }.expr(expr)
}

/// Whether `expr` uses operators Graph treats as advanced queries (`ne`, `not`, `endswith`,
/// `contains`, `ne null`), which require `ConsistencyLevel: eventual` and `$count=true`.
pub fn is_advanced(expr: &Expr) -> bool {
    match expr {
        Expr::Compare { op, .. } => *op == CmpOp::Ne,
        Expr::Not(_) | Expr::EndsWith { .. } | Expr::Contains { .. } => true,
        Expr::And(a, b) | Expr::Or(a, b) => is_advanced(a) || is_advanced(b),
        Expr::Any { predicate, .. } | Expr::All { predicate, .. } => is_advanced(predicate),
        Expr::In { .. } | Expr::StartsWith { .. } | Expr::AnyEmpty { .. } => false,
    }
}

struct Compiler<'a> {
    kind: Option<ObjectKind>,
    lambda_var: Option<&'a str>,
}

impl<'a> Compiler<'a> {
    fn expr(&self, e: &'a Expr) -> Result<Filter, FilterError> {
        Ok(match e {
            Expr::Compare { prop, op, value } => {
                let operand = self.operand(prop)?;
                if matches!(value, Literal::Null) {
                    return match op {
                        CmpOp::Eq => Ok(Filter::IsNull { operand, negated: false }),
                        CmpOp::Ne => Ok(Filter::IsNull { operand, negated: true }),
                        _ => Err(FilterError("null can only be compared with eq or ne".into())),
                    };
                }
                let value = value_for(operand.ty(), value)?;
                if matches!(operand.ty(), FieldType::Bool) && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(FilterError("boolean properties support only eq and ne".into()));
                }
                Filter::Cmp { operand, op: *op, value }
            }
            Expr::In { prop, values } => {
                let operand = self.operand(prop)?;
                let values = values.iter().map(|v| value_for(operand.ty(), v)).collect::<Result<_, _>>()?;
                Filter::In { operand, values }
            }
            Expr::StartsWith { prop, value } => self.like(prop, LikeKind::StartsWith, value)?,
            Expr::EndsWith { prop, value } => self.like(prop, LikeKind::EndsWith, value)?,
            Expr::Contains { prop, value } => self.like(prop, LikeKind::Contains, value)?,
            Expr::And(a, b) => Filter::And(Box::new(self.expr(a)?), Box::new(self.expr(b)?)),
            Expr::Or(a, b) => Filter::Or(Box::new(self.expr(a)?), Box::new(self.expr(b)?)),
            Expr::Not(a) => Filter::Not(Box::new(self.expr(a)?)),
            Expr::Any { collection, var, predicate } => {
                let field = self.collection(collection)?;
                let inner = Compiler { kind: self.kind, lambda_var: Some(var.as_str()) };
                Filter::Any { field, predicate: Some(Box::new(inner.expr(predicate)?)) }
            }
            Expr::All { collection, var, predicate } => {
                let field = self.collection(collection)?;
                let inner = Compiler { kind: self.kind, lambda_var: Some(var.as_str()) };
                Filter::All { field, predicate: Box::new(inner.expr(predicate)?) }
            }
            Expr::AnyEmpty { collection } => Filter::Any { field: self.collection(collection)?, predicate: None },
        })
    }

    fn like(&self, prop: &PropPath, kind: LikeKind, value: &str) -> Result<Filter, FilterError> {
        let operand = self.operand(prop)?;
        if !matches!(operand.ty(), FieldType::String) {
            return Err(FilterError("string functions apply only to string properties".into()));
        }
        Ok(Filter::Like { operand, kind, value: value.to_string() })
    }

    fn operand(&self, prop: &PropPath) -> Result<Operand, FilterError> {
        let segs = &prop.0;
        if let (Some(var), [only]) = (self.lambda_var, segs.as_slice())
            && only == var
        {
            return Ok(Operand::Element);
        }
        let [name] = segs.as_slice() else {
            return Err(FilterError(format!("property '{}' is not supported in filters", segs.join("/"))));
        };
        let spec = field(self.kind, name)
            .ok_or_else(|| FilterError(format!("property '{name}' does not exist or does not support filtering")))?;
        if spec.ty == FieldType::StringCollection {
            return Err(FilterError(format!("collection property '{name}' must be filtered with any or all")));
        }
        if self.lambda_var.is_some() {
            return Err(FilterError("a lambda may only refer to its own variable".into()));
        }
        Ok(Operand::Field { name: spec.name, ty: spec.ty })
    }

    fn collection(&self, prop: &PropPath) -> Result<&'static str, FilterError> {
        if self.lambda_var.is_some() {
            return Err(FilterError("nested lambdas are not supported".into()));
        }
        let [name] = prop.0.as_slice() else {
            return Err(FilterError("lambda collections must be top-level properties".into()));
        };
        match field(self.kind, name) {
            Some(spec) if spec.ty == FieldType::StringCollection => Ok(spec.name),
            Some(_) => Err(FilterError(format!("property '{name}' is not a collection"))),
            None => Err(FilterError(format!("property '{name}' does not exist or does not support filtering"))),
        }
    }
}

fn value_for(ty: FieldType, lit: &Literal) -> Result<Value, FilterError> {
    let mismatch = || FilterError("the literal does not match the property's type".into());
    match ty {
        FieldType::String | FieldType::StringCollection => match lit {
            Literal::String(s) => Ok(Value::Str(s.clone())),
            _ => Err(mismatch()),
        },
        FieldType::Bool => match lit {
            Literal::Bool(b) => Ok(Value::Bool(*b)),
            _ => Err(mismatch()),
        },
        FieldType::Guid => match lit {
            Literal::Guid(g) => Ok(Value::Guid(g.to_ascii_lowercase())),
            Literal::String(s) => uuid::Uuid::parse_str(s)
                .map(|u| Value::Guid(u.hyphenated().to_string()))
                .map_err(|_| FilterError(format!("'{s}' is not a valid GUID"))),
            _ => Err(mismatch()),
        },
        FieldType::DateTime => match lit {
            Literal::DateTime(s) | Literal::String(s) => normalize_datetime(s).map(Value::DateTime),
            _ => Err(mismatch()),
        },
    }
}

/// Parses RFC 3339 and renders it the way timestamps are stored: UTC, whole seconds.
pub fn normalize_datetime(s: &str) -> Result<String, FilterError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| FilterError(format!("'{s}' is not a valid date-time")))?;
    Ok(format_timestamp(t))
}

/// The one timestamp format of stored documents: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ostiary_odata::parse_filter;

    fn c(s: &str, k: ObjectKind) -> Result<Filter, FilterError> {
        compile(&parse_filter(s).unwrap(), Some(k))
    }

    #[test]
    fn accepts_known_properties_and_rejects_unknown() {
        assert!(c("displayName eq 'x'", ObjectKind::User).is_ok());
        assert!(c("accountEnabled eq true", ObjectKind::User).is_ok());
        assert!(c("passwordHash eq 'x'", ObjectKind::User).is_err());
        assert!(c("accountEnabled eq 'yes'", ObjectKind::User).is_err());
        assert!(c("groupTypes eq 'Unified'", ObjectKind::Group).is_err());
        assert!(c("groupTypes/any(g:g eq 'Unified')", ObjectKind::Group).is_ok());
        assert!(c("identifierUris/any(x:startswith(x,'api://'))", ObjectKind::Application).is_ok());
        assert!(c("appId eq 'not-a-guid'", ObjectKind::Application).is_err());
        assert!(c("createdDateTime ge 2024-01-01T00:00:00Z", ObjectKind::User).is_ok());
        assert!(c("mail eq null", ObjectKind::User).is_ok());
    }

    #[test]
    fn scim_properties_are_filterable() {
        assert!(c("externalId eq 'x'", ObjectKind::User).is_ok());
        assert!(c("externalId eq 'x'", ObjectKind::Group).is_ok());
        assert!(c("lastModifiedDateTime gt 2024-01-01T00:00:00Z", ObjectKind::User).is_ok());
        assert!(c("lastModifiedDateTime lt 2024-01-01T00:00:00Z", ObjectKind::Group).is_ok());
        assert!(c("externalId eq 'x'", ObjectKind::Application).is_err());
    }

    #[test]
    fn property_paths_are_checked_per_segment() {
        assert_eq!(path_segments("displayName"), Some(vec!["displayName"]));
        assert_eq!(path_segments("ostiaryScim.nickName"), Some(vec!["ostiaryScim", "nickName"]));
        assert_eq!(path_segments("a.b_2.C3"), Some(vec!["a", "b_2", "C3"]));
        for bad in ["", ".", "a.", ".a", "a..b", "a.b'", "a b", "a.b') OR 1=1 --", "a.$b", "a.\u{e9}"] {
            assert_eq!(path_segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_normalise() {
        assert_eq!(normalize_datetime("2024-01-01T01:00:00.5+01:00").unwrap(), "2024-01-01T00:00:00Z");
    }
}
