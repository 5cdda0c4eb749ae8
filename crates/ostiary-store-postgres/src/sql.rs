//! Compiles the validated `Filter` IR and sort keys into parameterised PostgreSQL SQL over
//! the `jsonb` documents (`o.doc`). Only property names from the static field tables are
//! spliced into the SQL text, after an identifier check; every value is bound.

use ostiary_odata::CmpOp;
use ostiary_store::filter::{FieldType, Filter, LikeKind, Operand, Value, path_segments};
use ostiary_store::{SortKey, StoreError};
use sqlx::{Postgres, QueryBuilder};

pub(crate) type Qb = QueryBuilder<Postgres>;

/// The segments of a property path (`a` or `a.b`), each a plain ASCII identifier: the only
/// text of a filter that is spliced into SQL (inside a quoted key literal).
fn segments(name: &str) -> Result<Vec<&str>, StoreError> {
    path_segments(name).ok_or_else(|| StoreError::InvalidQuery(format!("property '{name}' cannot be queried")))
}

/// The JSON value at a property path: `o.doc->'a'` or `o.doc#>'{a,b}'` (`as_text`: `->>`,
/// `#>>`).
pub(crate) fn json_at(name: &str, as_text: bool) -> Result<String, StoreError> {
    let segs = segments(name)?;
    Ok(match segs.as_slice() {
        [one] => format!("o.doc{}'{one}'", if as_text { "->>" } else { "->" }),
        _ => format!("o.doc{}'{{{}}}'", if as_text { "#>>" } else { "#>" }, segs.join(",")),
    })
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
            qb.push("(").push(json_at(name, true)?).push(")");
        }
        Operand::Element => {
            let n = elem.ok_or_else(|| StoreError::InvalidQuery("a lambda variable is used outside any/all".into()))?;
            qb.push(format_args!("e{n}.v"));
        }
    }
    Ok(())
}

/// The operand in its comparable form: lowercased strings in byte order (`COLLATE "C"`,
/// the same order as SQLite), timestamps as `timestamptz` through `ostiary_ts` (migration
/// 0004: an immutable wrapper of the cast, so that expression indexes can use it), booleans as
/// `'true'`/`'false'`. The expression indexes of migration 0004 are on exactly these forms.
fn push_norm_operand(qb: &mut Qb, operand: &Operand, elem: Option<usize>) -> Result<(), StoreError> {
    match operand.ty() {
        FieldType::String | FieldType::Guid => {
            qb.push("lower(");
            push_operand(qb, operand, elem)?;
            qb.push(") COLLATE \"C\"");
        }
        FieldType::DateTime => {
            qb.push("ostiary_ts(");
            push_operand(qb, operand, elem)?;
            qb.push(")");
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
            qb.push("ostiary_ts(").push_bind(text(s)?).push(")");
        }
        (FieldType::Bool, Value::Bool(b)) => {
            qb.push_bind(if *b { "true" } else { "false" });
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// Where a predicate sits. In a positive context (under an even number of `NOT`s, directly in
/// `WHERE` or in the `WHERE` of an `any` subquery) NULL and FALSE reject a row alike, so a
/// predicate may yield NULL for a missing value and is emitted in the plain form a btree
/// expression index can serve (`=`, `>`, `IN`; `IS NOT DISTINCT FROM` and `COALESCE` are not
/// indexable). Under `NOT` it must be two-valued, so the null-safe forms keep OData's rule that
/// a missing value is unequal to everything (`not (x eq 'a')` matches objects without `x`).
#[derive(Debug, Clone, Copy)]
struct Ctx {
    /// Alias index of the innermost lambda element.
    elem: Option<usize>,
    /// The next free alias index.
    depth: usize,
    positive: bool,
}

/// Appends `f` as the boolean SQL condition of a `WHERE` clause.
pub(crate) fn push_filter(qb: &mut Qb, f: &Filter) -> Result<(), StoreError> {
    filter(qb, f, Ctx { elem: None, depth: 0, positive: true })
}

fn filter(qb: &mut Qb, f: &Filter, ctx: Ctx) -> Result<(), StoreError> {
    match f {
        Filter::Cmp { operand, op, value } => {
            let ty = operand.ty();
            if ty == FieldType::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(StoreError::InvalidQuery("boolean properties support only eq and ne".into()));
            }
            // `ne` stays null-safe everywhere: a missing value is unequal to the literal.
            let (open, op_sql, close) = match (op, ctx.positive) {
                (CmpOp::Ne, _) => ("(", " IS DISTINCT FROM ", ")"),
                (CmpOp::Eq, false) => ("(", " IS NOT DISTINCT FROM ", ")"),
                (_, true) => ("(", cmp_op(*op), ")"),
                (_, false) => ("COALESCE(", cmp_op(*op), ", FALSE)"),
            };
            qb.push(open);
            push_norm_operand(qb, operand, ctx.elem)?;
            qb.push(op_sql);
            push_norm_value(qb, ty, value)?;
            qb.push(close);
        }
        Filter::IsNull { operand, negated } => {
            qb.push("(");
            push_operand(qb, operand, ctx.elem)?;
            qb.push(if *negated { " IS NOT NULL)" } else { " IS NULL)" });
        }
        Filter::In { operand, values } => {
            if values.is_empty() {
                qb.push("FALSE");
                return Ok(());
            }
            qb.push(if ctx.positive { "(" } else { "COALESCE(" });
            push_norm_operand(qb, operand, ctx.elem)?;
            qb.push(" IN (");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    qb.push(", ");
                }
                push_norm_value(qb, operand.ty(), v)?;
            }
            qb.push(if ctx.positive { "))" } else { "), FALSE)" });
        }
        Filter::Like { operand, kind, value } => push_like(qb, operand, *kind, value, ctx)?,
        Filter::And(a, b) | Filter::Or(a, b) => {
            qb.push("(");
            filter(qb, a, ctx)?;
            qb.push(if matches!(f, Filter::And(..)) { " AND " } else { " OR " });
            filter(qb, b, ctx)?;
            qb.push(")");
        }
        Filter::Not(a) => {
            qb.push("(NOT ");
            filter(qb, a, Ctx { positive: !ctx.positive, ..ctx })?;
            qb.push(")");
        }
        Filter::Any { field, predicate } => {
            push_each(qb, "EXISTS", field, ctx.depth)?;
            if let Some(p) = predicate {
                qb.push(" WHERE ");
                // The subquery's WHERE: positive whatever surrounds the EXISTS.
                filter(qb, p, Ctx { elem: Some(ctx.depth), depth: ctx.depth + 1, positive: true })?;
            }
            qb.push(")");
        }
        Filter::All { field, predicate } => {
            push_each(qb, "NOT EXISTS", field, ctx.depth)?;
            qb.push(" WHERE NOT ");
            filter(qb, predicate, Ctx { elem: Some(ctx.depth), depth: ctx.depth + 1, positive: false })?;
            qb.push(")");
        }
    }
    Ok(())
}

fn cmp_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => " = ",
        CmpOp::Ne => " <> ",
        CmpOp::Gt => " > ",
        CmpOp::Ge => " >= ",
        CmpOp::Lt => " < ",
        CmpOp::Le => " <= ",
    }
}

/// The largest code point: `p || MAX_CHAR` bounds the texts starting with `p` in byte order
/// (a text with U+10FFFF right after the prefix is the one miss; it is a noncharacter).
const MAX_CHAR: &str = "\u{10FFFF}";

/// Case-insensitive `startswith` / `endswith` / `contains`. The LIKE prefix optimisation
/// needs a constant pattern (a generic plan of a prepared statement has none), so in a
/// positive context a prefix match is also emitted as the range
/// `lower(x) >= lower(p) AND lower(x) < lower(p) || U+10FFFF` in `COLLATE "C"` (byte order),
/// which the expression indexes serve; the LIKE then decides. `endswith` and `contains` have
/// no index form and scan the rows the other conditions select.
fn push_like(qb: &mut Qb, operand: &Operand, kind: LikeKind, value: &str, ctx: Ctx) -> Result<(), StoreError> {
    if operand.ty() != FieldType::String {
        return Err(StoreError::InvalidQuery("string functions apply only to string properties".into()));
    }
    let value = text(value)?;
    let lowered = |qb: &mut Qb| -> Result<(), StoreError> {
        qb.push("lower(");
        push_operand(qb, operand, ctx.elem)?;
        qb.push(")");
        Ok(())
    };
    // E'\\' is one backslash whatever `standard_conforming_strings` says.
    if ctx.positive {
        qb.push("(");
        if kind == LikeKind::StartsWith {
            lowered(qb)?;
            qb.push(" COLLATE \"C\" >= lower(").push_bind(value.clone()).push(") COLLATE \"C\" AND ");
            lowered(qb)?;
            qb.push(" COLLATE \"C\" < (lower(")
                .push_bind(value.clone())
                .push(") || ")
                .push_bind(MAX_CHAR)
                .push(") COLLATE \"C\" AND ");
        }
        lowered(qb)?;
        qb.push(" LIKE lower(").push_bind(like_pattern(kind, &value)).push(") ESCAPE E'\\\\')");
    } else {
        qb.push("COALESCE(");
        lowered(qb)?;
        qb.push(" LIKE lower(").push_bind(like_pattern(kind, &value)).push(") ESCAPE E'\\\\', FALSE)");
    }
    Ok(())
}

/// `<head> (SELECT 1 FROM <elements of the array, none if not an array> AS e<n>(v)` — left
/// open for the caller to add the element predicate and the closing parenthesis.
fn push_each(qb: &mut Qb, head: &str, field: &'static str, n: usize) -> Result<(), StoreError> {
    let value = json_at(field, false)?;
    qb.push(head)
        .push(" (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(")
        .push(&value)
        .push(") = 'array' THEN ")
        .push(&value)
        .push(format_args!(" ELSE '[]'::jsonb END) AS e{n}(v)"));
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(LikeKind::StartsWith, "a%b_c\\d"), "a\\%b\\_c\\\\d%");
        assert_eq!(like_pattern(LikeKind::EndsWith, "x"), "%x");
        assert_eq!(like_pattern(LikeKind::Contains, "x"), "%x%");
    }

    #[test]
    fn only_identifier_paths_are_spliced() {
        assert_eq!(json_at("displayName", true).unwrap(), "o.doc->>'displayName'");
        assert_eq!(json_at("tags", false).unwrap(), "o.doc->'tags'");
        assert_eq!(json_at("ostiaryScim.nickName", true).unwrap(), "o.doc#>>'{ostiaryScim,nickName}'");
        assert_eq!(json_at("a.b.c", false).unwrap(), "o.doc#>'{a,b,c}'");
        assert!(json_at("x') OR 1=1 --", true).is_err());
        assert!(json_at("a.b}'", true).is_err());
        assert!(json_at("a,b", true).is_err());
        assert!(json_at("a..b", true).is_err());
        assert!(json_at("", true).is_err());
    }

    fn sql(f: &Filter) -> String {
        let mut qb = Qb::new("");
        push_filter(&mut qb, f).unwrap();
        qb.into_string()
    }

    fn field(name: &'static str, ty: FieldType) -> Operand {
        Operand::Field { name, ty }
    }

    fn eq(name: &'static str, v: &str) -> Filter {
        Filter::Cmp { operand: field(name, FieldType::String), op: CmpOp::Eq, value: Value::Str(v.into()) }
    }

    #[test]
    fn dotted_fields_compile_to_json_paths() {
        assert_eq!(
            sql(&eq("ostiaryScim.nickName", "x")),
            "(lower((o.doc#>>'{ostiaryScim,nickName}')) COLLATE \"C\" = lower($1) COLLATE \"C\")"
        );
        assert!(push_filter(&mut Qb::new(""), &eq("a.b'c", "x")).is_err());
        let mut qb = Qb::new("");
        push_order_by(&mut qb, &[SortKey { field: "a.b", ty: FieldType::DateTime, descending: true }]).unwrap();
        assert_eq!(qb.into_string(), " ORDER BY ostiary_ts((o.doc#>>'{a,b}')) DESC NULLS FIRST, o.id ASC");
    }

    #[test]
    fn positive_predicates_are_plain_and_negated_ones_null_safe() {
        let upn = "lower((o.doc->>'userPrincipalName')) COLLATE \"C\"";
        assert_eq!(sql(&eq("userPrincipalName", "a")), format!("({upn} = lower($1) COLLATE \"C\")"));
        assert_eq!(
            sql(&Filter::Not(Box::new(eq("userPrincipalName", "a")))),
            format!("(NOT ({upn} IS NOT DISTINCT FROM lower($1) COLLATE \"C\"))")
        );
        let gt = Filter::Cmp {
            operand: field("lastModifiedDateTime", FieldType::DateTime),
            op: CmpOp::Gt,
            value: Value::DateTime("2024-01-01T00:00:00Z".into()),
        };
        let lm = "ostiary_ts((o.doc->>'lastModifiedDateTime'))";
        assert_eq!(sql(&gt), format!("({lm} > ostiary_ts($1))"));
        assert_eq!(sql(&Filter::Not(Box::new(gt))), format!("(NOT COALESCE({lm} > ostiary_ts($1), FALSE))"));
        let twice = Filter::Not(Box::new(Filter::Not(Box::new(eq("mail", "a")))));
        assert!(sql(&twice).contains(" = lower($1)"), "{}", sql(&twice));
        let ne =
            Filter::Cmp { operand: field("mail", FieldType::String), op: CmpOp::Ne, value: Value::Str("a".into()) };
        assert!(sql(&ne).contains(" IS DISTINCT FROM "));
        let in_ = Filter::In { operand: field("mail", FieldType::String), values: vec![Value::Str("a".into())] };
        assert!(sql(&in_).starts_with("(lower("));
        assert!(sql(&Filter::Not(Box::new(in_))).starts_with("(NOT COALESCE("));
        let all = Filter::All {
            field: "tags",
            predicate: Box::new(Filter::Cmp {
                operand: Operand::Element,
                op: CmpOp::Eq,
                value: Value::Str("a".into()),
            }),
        };
        assert!(sql(&all).contains("WHERE NOT (lower(e0.v) COLLATE \"C\" IS NOT DISTINCT FROM"), "{}", sql(&all));
    }

    #[test]
    fn startswith_is_a_range_plus_like() {
        let sw =
            Filter::Like { operand: field("mail", FieldType::String), kind: LikeKind::StartsWith, value: "a%".into() };
        let m = "lower((o.doc->>'mail'))";
        assert_eq!(
            sql(&sw),
            format!(
                "({m} COLLATE \"C\" >= lower($1) COLLATE \"C\" AND {m} COLLATE \"C\" < (lower($2) || $3) COLLATE \"C\" \
                 AND {m} LIKE lower($4) ESCAPE E'\\\\')"
            )
        );
        assert_eq!(
            sql(&Filter::Not(Box::new(sw))),
            format!("(NOT COALESCE({m} LIKE lower($1) ESCAPE E'\\\\', FALSE))")
        );
    }
}
