//! Compiles the validated `Filter` IR and sort keys into parameterised PostgreSQL SQL over
//! the `jsonb` documents (`o.doc`). Only property names from the static field tables are
//! spliced into the SQL text, after an identifier check; every value is bound.

use ostiary_odata::CmpOp;
use ostiary_store::filter::{FieldType, Filter, LikeKind, Operand, Value};
use ostiary_store::{SortKey, StoreError};
use sqlx::{Postgres, QueryBuilder};

pub(crate) type Qb = QueryBuilder<Postgres>;

/// A property name that may be spliced into a JSON key literal: a plain ASCII identifier.
pub(crate) fn ident(name: &'static str) -> Result<&'static str, StoreError> {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { Ok(name) } else { Err(StoreError::InvalidQuery(format!("property '{name}' cannot be queried"))) }
}

/// Escapes `\`, `%` and `_` for `LIKE ... ESCAPE '\'` and adds the wildcards of `kind`.
pub(crate) fn like_pattern(kind: LikeKind, value: &str) -> String {
    let mut esc = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '\\' | '%' | '_') {
            esc.push('\\');
        }
        esc.push(c);
    }
    match kind {
        LikeKind::StartsWith => format!("{esc}%"),
        LikeKind::EndsWith => format!("%{esc}"),
        LikeKind::Contains => format!("%{esc}%"),
    }
}

/// PostgreSQL text cannot hold NUL, so a literal containing one is rejected up front
/// instead of failing inside the database.
fn text(s: &str) -> Result<String, StoreError> {
    if s.contains('\0') {
        return Err(StoreError::InvalidQuery("a filter literal contains a NUL character".into()));
    }
    Ok(s.to_string())
}

fn mismatch() -> StoreError {
    StoreError::InvalidQuery("the literal does not match the property's type".into())
}

/// The raw text value of an operand: a document property or the current lambda element.
fn push_operand(qb: &mut Qb, operand: &Operand, elem: Option<usize>) -> Result<(), StoreError> {
    match operand {
        Operand::Field { name, .. } => {
            qb.push("(o.doc->>'").push(ident(name)?).push("')");
        }
        Operand::Element => {
            let n = elem.ok_or_else(|| StoreError::InvalidQuery("a lambda variable is used outside any/all".into()))?;
            qb.push(format_args!("e{n}.v"));
        }
    }
    Ok(())
}

/// The operand in its comparable form: lowercased strings in byte order (`COLLATE "C"`,
/// the same order as SQLite), timestamps as `timestamptz`, booleans as `'true'`/`'false'`.
fn push_norm_operand(qb: &mut Qb, operand: &Operand, elem: Option<usize>) -> Result<(), StoreError> {
    match operand.ty() {
        FieldType::String | FieldType::Guid => {
            qb.push("lower(");
            push_operand(qb, operand, elem)?;
            qb.push(") COLLATE \"C\"");
        }
        FieldType::DateTime => {
            qb.push("CAST(");
            push_operand(qb, operand, elem)?;
            qb.push(" AS timestamptz)");
        }
        FieldType::Bool => push_operand(qb, operand, elem)?,
        FieldType::StringCollection => {
            return Err(StoreError::InvalidQuery("collection properties can only be used with any or all".into()));
        }
    }
    Ok(())
}

/// A bound literal in the same comparable form as `push_norm_operand`.
fn push_norm_value(qb: &mut Qb, ty: FieldType, value: &Value) -> Result<(), StoreError> {
    match (ty, value) {
        (FieldType::String | FieldType::Guid, Value::Str(s) | Value::Guid(s)) => {
            qb.push("lower(").push_bind(text(s)?).push(") COLLATE \"C\"");
        }
        (FieldType::DateTime, Value::DateTime(s) | Value::Str(s)) => {
            qb.push("CAST(").push_bind(text(s)?).push(" AS timestamptz)");
        }
        (FieldType::Bool, Value::Bool(b)) => {
            qb.push_bind(if *b { "true" } else { "false" });
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

fn cmp_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => " IS NOT DISTINCT FROM ",
        CmpOp::Ne => " IS DISTINCT FROM ",
        CmpOp::Gt => " > ",
        CmpOp::Ge => " >= ",
        CmpOp::Lt => " < ",
        CmpOp::Le => " <= ",
    }
}

/// Appends `f` as a boolean SQL expression that is never NULL (so `NOT` behaves as in
/// OData: a missing value is unequal to everything). `elem` is the alias index of the
/// innermost lambda, `depth` the next free alias index.
pub(crate) fn push_filter(qb: &mut Qb, f: &Filter, elem: Option<usize>, depth: usize) -> Result<(), StoreError> {
    match f {
        Filter::Cmp { operand, op, value } => {
            let ty = operand.ty();
            if ty == FieldType::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(StoreError::InvalidQuery("boolean properties support only eq and ne".into()));
            }
            let null_safe = matches!(op, CmpOp::Eq | CmpOp::Ne);
            qb.push(if null_safe { "(" } else { "COALESCE(" });
            push_norm_operand(qb, operand, elem)?;
            qb.push(cmp_sql(*op));
            push_norm_value(qb, ty, value)?;
            qb.push(if null_safe { ")" } else { ", FALSE)" });
        }
        Filter::IsNull { operand, negated } => {
            qb.push("(");
            push_operand(qb, operand, elem)?;
            qb.push(if *negated { " IS NOT NULL)" } else { " IS NULL)" });
        }
        Filter::In { operand, values } => {
            if values.is_empty() {
                qb.push("FALSE");
                return Ok(());
            }
            qb.push("COALESCE(");
            push_norm_operand(qb, operand, elem)?;
            qb.push(" IN (");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    qb.push(", ");
                }
                push_norm_value(qb, operand.ty(), v)?;
            }
            qb.push("), FALSE)");
        }
        Filter::Like { operand, kind, value } => {
            if operand.ty() != FieldType::String {
                return Err(StoreError::InvalidQuery("string functions apply only to string properties".into()));
            }
            qb.push("COALESCE(lower(");
            push_operand(qb, operand, elem)?;
            // E'\\' is one backslash whatever `standard_conforming_strings` says.
            qb.push(") LIKE lower(").push_bind(like_pattern(*kind, &text(value)?)).push(") ESCAPE E'\\\\', FALSE)");
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            qb.push("(");
            push_filter(qb, a, elem, depth)?;
            qb.push(if matches!(f, Filter::And(..)) { " AND " } else { " OR " });
            push_filter(qb, b, elem, depth)?;
            qb.push(")");
        }
        Filter::Not(a) => {
            qb.push("(NOT ");
            push_filter(qb, a, elem, depth)?;
            qb.push(")");
        }
        Filter::Any { field, predicate } => {
            push_each(qb, "EXISTS", field, depth)?;
            if let Some(p) = predicate {
                qb.push(" WHERE ");
                push_filter(qb, p, Some(depth), depth + 1)?;
            }
            qb.push(")");
        }
        Filter::All { field, predicate } => {
            push_each(qb, "NOT EXISTS", field, depth)?;
            qb.push(" WHERE NOT ");
            push_filter(qb, predicate, Some(depth), depth + 1)?;
            qb.push(")");
        }
    }
    Ok(())
}

/// `<head> (SELECT 1 FROM <elements of the array, none if not an array> AS e<n>(v)` — left
/// open for the caller to add the element predicate and the closing parenthesis.
fn push_each(qb: &mut Qb, head: &str, field: &'static str, n: usize) -> Result<(), StoreError> {
    let name = ident(field)?;
    qb.push(head)
        .push(" (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(o.doc->'")
        .push(name)
        .push("') = 'array' THEN o.doc->'")
        .push(name)
        .push(format_args!("' ELSE '[]'::jsonb END) AS e{n}(v)"));
    Ok(())
}

/// ` ORDER BY <keys>, o.id ASC`; missing values sort as the largest.
pub(crate) fn push_order_by(qb: &mut Qb, keys: &[SortKey]) -> Result<(), StoreError> {
    qb.push(" ORDER BY ");
    for k in keys {
        push_norm_operand(qb, &Operand::Field { name: k.field, ty: k.ty }, None)?;
        qb.push(if k.descending { " DESC NULLS FIRST, " } else { " ASC NULLS LAST, " });
    }
    qb.push("o.id ASC");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(LikeKind::StartsWith, "a%b_c\\d"), "a\\%b\\_c\\\\d%");
        assert_eq!(like_pattern(LikeKind::EndsWith, "x"), "%x");
        assert_eq!(like_pattern(LikeKind::Contains, "x"), "%x%");
    }

    #[test]
    fn only_identifiers_are_spliced() {
        assert!(ident("displayName").is_ok());
        assert!(ident("x') OR 1=1 --").is_err());
        assert!(ident("").is_err());
    }
}
