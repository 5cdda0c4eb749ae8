//! Compiles the validated `Filter` IR and sort keys into parameterised SQLite SQL over the
//! JSON documents (`o.doc`). Only property names from the static field tables are spliced
//! into the SQL text, after an identifier check; every value is bound.

use ostiary_odata::CmpOp;
use ostiary_store::filter::{FieldType, Filter, LikeKind, Operand, Value, path_segments};
use ostiary_store::{SortKey, StoreError};
use sqlx::{QueryBuilder, Sqlite};

pub(crate) type Qb = QueryBuilder<Sqlite>;

/// Renders any RFC 3339 text as UTC with milliseconds, so that both stored values and
/// literals compare in time order even if one of them carries fractions or an offset.
const DATETIME_NORM: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', ";

/// The JSON path (`$.a` or `$.a.b`) of a property path whose every segment is a plain ASCII
/// identifier: the only text of a filter that is spliced into SQL.
pub(crate) fn json_path(name: &str) -> Result<String, StoreError> {
    let segs =
        path_segments(name).ok_or_else(|| StoreError::InvalidQuery(format!("property '{name}' cannot be queried")))?;
    Ok(format!("$.{}", segs.join(".")))
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

fn mismatch() -> StoreError {
    StoreError::InvalidQuery("the literal does not match the property's type".into())
}

fn push_field(qb: &mut Qb, name: &'static str) -> Result<(), StoreError> {
    qb.push("json_extract(o.doc, '").push(json_path(name)?).push("')");
    Ok(())
}

/// The raw value of an operand: a document property or the current lambda element.
fn push_operand(qb: &mut Qb, operand: &Operand, elem: Option<usize>) -> Result<(), StoreError> {
    match operand {
        Operand::Field { name, .. } => push_field(qb, name),
        Operand::Element => {
            let n = elem.ok_or_else(|| StoreError::InvalidQuery("a lambda variable is used outside any/all".into()))?;
            qb.push(format_args!("e{n}.value"));
            Ok(())
        }
    }
}

/// The operand in its comparable form (lowercased strings, normalised timestamps).
fn push_norm_operand(qb: &mut Qb, operand: &Operand, elem: Option<usize>) -> Result<(), StoreError> {
    match operand.ty() {
        FieldType::String | FieldType::Guid => {
            qb.push("lower(");
            push_operand(qb, operand, elem)?;
            qb.push(")");
        }
        FieldType::DateTime => {
            qb.push(DATETIME_NORM);
            push_operand(qb, operand, elem)?;
            qb.push(")");
        }
        // json_extract yields 1/0 for JSON true/false.
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
            qb.push("lower(").push_bind(s.clone()).push(")");
        }
        (FieldType::DateTime, Value::DateTime(s) | Value::Str(s)) => {
            qb.push(DATETIME_NORM).push_bind(s.clone()).push(")");
        }
        (FieldType::Bool, Value::Bool(b)) => {
            qb.push_bind(i64::from(*b));
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// Where a predicate sits. In a positive context (under an even number of `NOT`s, directly in
/// `WHERE` or in the `WHERE` of an `any` subquery) NULL and FALSE reject a row alike, so a
/// predicate may yield NULL for a missing value and is emitted in the plain form an expression
/// index can serve (`lower(x) = lower(?)`, `>`, `IN`). Under `NOT` it must be two-valued, so
/// the null-safe forms (`IS`, `COALESCE(..., FALSE)`) keep OData's rule that a missing value
/// is unequal to everything (`not (x eq 'a')` matches objects without `x`).
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
                (CmpOp::Ne, _) => ("(", " IS NOT ", ")"),
                (CmpOp::Eq, false) => ("(", " IS ", ")"),
                // Time ranges are taken to be selective (SCIM's `meta.lastModified gt <last
                // sync>`): without the hint SQLite guesses a quarter of the rows match and
                // prefers walking the id index, which reads the whole tenant when few do.
                // `likelihood` only informs the planner; the index still serves the range.
                (CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le, true) if ty == FieldType::DateTime => {
                    ("likelihood(", cmp_op(*op), ", 0.05)")
                }
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
                qb.push(" AND ");
                // The subquery's WHERE: positive whatever surrounds the EXISTS.
                filter(qb, p, Ctx { elem: Some(ctx.depth), depth: ctx.depth + 1, positive: true })?;
            }
            qb.push(")");
        }
        Filter::All { field, predicate } => {
            push_each(qb, "NOT EXISTS", field, ctx.depth)?;
            qb.push(" AND NOT ");
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

/// Case-insensitive `startswith` / `endswith` / `contains`. SQLite's LIKE optimisation does
/// not apply to expressions, so in a positive context a prefix match is also emitted as the
/// range `lower(x) >= ? AND lower(x) < ?` over the expression index (see [`prefix_range`]);
/// the LIKE then decides. The bounds are bare parameters so that the planner (STAT4) can
/// estimate the range from their values. `endswith` and `contains` have no index form: they
/// filter the rows the other conditions select (a scan if nothing else is indexable).
fn push_like(qb: &mut Qb, operand: &Operand, kind: LikeKind, value: &str, ctx: Ctx) -> Result<(), StoreError> {
    if operand.ty() != FieldType::String {
        return Err(StoreError::InvalidQuery("string functions apply only to string properties".into()));
    }
    let lowered = |qb: &mut Qb| -> Result<(), StoreError> {
        qb.push("lower(");
        push_operand(qb, operand, ctx.elem)?;
        qb.push(")");
        Ok(())
    };
    if ctx.positive {
        qb.push("(");
        if kind == LikeKind::StartsWith {
            let (low, high) = prefix_range(value);
            lowered(qb)?;
            qb.push(" >= ").push_bind(low).push(" AND ");
            if let Some(high) = high {
                lowered(qb)?;
                qb.push(" < ").push_bind(high).push(" AND ");
            }
        }
        lowered(qb)?;
        qb.push(" LIKE lower(").push_bind(like_pattern(kind, value)).push(") ESCAPE '\\')");
    } else {
        qb.push("COALESCE(");
        lowered(qb)?;
        qb.push(" LIKE lower(").push_bind(like_pattern(kind, value)).push(") ESCAPE '\\', FALSE)");
    }
    Ok(())
}

/// The texts starting with `lower(prefix)` form the range `[low, high)` in SQLite's BINARY
/// (byte, i.e. code point) order: `low` is the lowered prefix and `high` the lowered prefix
/// with its last character incremented (carrying past U+10FFFF; `None` when there is no
/// upper bound). The built-in `lower()` folds ASCII letters only (no ICU in the bundled
/// SQLite), which is what `to_ascii_lowercase` does.
pub(crate) fn prefix_range(prefix: &str) -> (String, Option<String>) {
    let low = prefix.to_ascii_lowercase();
    let mut chars: Vec<char> = low.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return (low, Some(chars.into_iter().collect()));
        }
    }
    (low, None)
}

/// `<head> (SELECT 1 FROM json_each(...) AS e<n> WHERE <is array>` — left open for the
/// caller to add the element predicate and the closing parenthesis.
fn push_each(qb: &mut Qb, head: &str, field: &'static str, n: usize) -> Result<(), StoreError> {
    let path = json_path(field)?;
    qb.push(head)
        .push(" (SELECT 1 FROM json_each(o.doc, '")
        .push(&path)
        .push(format_args!("') AS e{n} WHERE json_type(o.doc, '"))
        .push(&path)
        .push("') = 'array'");
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
        assert_eq!(json_path("displayName").unwrap(), "$.displayName");
        assert_eq!(json_path("ostiaryScim.nickName").unwrap(), "$.ostiaryScim.nickName");
        assert!(json_path("x') OR 1=1 --").is_err());
        assert!(json_path("a.b') OR 1=1 --").is_err());
        assert!(json_path("a..b").is_err());
        assert!(json_path("").is_err());
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
    fn dotted_fields_compile_to_nested_json_paths() {
        assert_eq!(
            sql(&eq("ostiaryScim.nickName", "x")),
            "(lower(json_extract(o.doc, '$.ostiaryScim.nickName')) = lower(?))"
        );
        let bad = eq("a.b'c", "x");
        assert!(push_filter(&mut Qb::new(""), &bad).is_err());
        let mut qb = Qb::new("");
        push_order_by(&mut qb, &[SortKey { field: "a.b", ty: FieldType::String, descending: false }]).unwrap();
        assert_eq!(qb.into_string(), " ORDER BY lower(json_extract(o.doc, '$.a.b')) ASC NULLS LAST, o.id ASC");
    }

    #[test]
    fn positive_predicates_are_plain_and_negated_ones_null_safe() {
        let upn = "lower(json_extract(o.doc, '$.userPrincipalName'))";
        assert_eq!(sql(&eq("userPrincipalName", "a")), format!("({upn} = lower(?))"));
        assert_eq!(sql(&Filter::Not(Box::new(eq("userPrincipalName", "a")))), format!("(NOT ({upn} IS lower(?)))"));
        let gt = Filter::Cmp {
            operand: field("lastModifiedDateTime", FieldType::DateTime),
            op: CmpOp::Gt,
            value: Value::DateTime("2024-01-01T00:00:00Z".into()),
        };
        let lm = "strftime('%Y-%m-%dT%H:%M:%fZ', json_extract(o.doc, '$.lastModifiedDateTime'))";
        assert_eq!(sql(&gt), format!("likelihood({lm} > strftime('%Y-%m-%dT%H:%M:%fZ', ?), 0.05)"));
        let not_gt = Filter::Not(Box::new(gt));
        assert_eq!(sql(&not_gt), format!("(NOT COALESCE({lm} > strftime('%Y-%m-%dT%H:%M:%fZ', ?), FALSE))"));
        // Two NOTs are positive again.
        let twice = Filter::Not(Box::new(Filter::Not(Box::new(eq("mail", "a")))));
        assert!(sql(&twice).contains(" = lower(?)"), "{}", sql(&twice));
        let ne =
            Filter::Cmp { operand: field("mail", FieldType::String), op: CmpOp::Ne, value: Value::Str("a".into()) };
        assert!(sql(&ne).contains(" IS NOT "));
        let in_ = Filter::In { operand: field("mail", FieldType::String), values: vec![Value::Str("a".into())] };
        assert!(sql(&in_).starts_with("(lower("));
        assert!(sql(&Filter::Not(Box::new(in_))).starts_with("(NOT COALESCE("));
        // `all` negates its predicate inside the subquery.
        let all = Filter::All {
            field: "tags",
            predicate: Box::new(Filter::Cmp {
                operand: Operand::Element,
                op: CmpOp::Eq,
                value: Value::Str("a".into()),
            }),
        };
        assert!(sql(&all).contains("AND NOT (lower(e0.value) IS lower(?))"), "{}", sql(&all));
    }

    #[test]
    fn startswith_is_a_range_plus_like() {
        let sw =
            Filter::Like { operand: field("mail", FieldType::String), kind: LikeKind::StartsWith, value: "a%".into() };
        let m = "lower(json_extract(o.doc, '$.mail'))";
        assert_eq!(sql(&sw), format!("({m} >= ? AND {m} < ? AND {m} LIKE lower(?) ESCAPE '\\')"));
        assert_eq!(sql(&Filter::Not(Box::new(sw))), format!("(NOT COALESCE({m} LIKE lower(?) ESCAPE '\\', FALSE))"));
    }

    #[test]
    fn prefix_ranges_hold_exactly_the_extensions() {
        assert_eq!(prefix_range("AbC"), ("abc".into(), Some("abd".into())));
        assert_eq!(prefix_range("É"), ("É".into(), Some("Ê".into())), "lower() folds ASCII only");
        assert_eq!(prefix_range("a\u{D7FF}"), ("a\u{D7FF}".into(), Some("a\u{E000}".into())));
        assert_eq!(prefix_range("a\u{10FFFF}"), ("a\u{10FFFF}".into(), Some("b".into())));
        assert_eq!(prefix_range("\u{10FFFF}"), ("\u{10FFFF}".into(), None));
        assert_eq!(prefix_range(""), (String::new(), None));
        let (low, high) = prefix_range("user001");
        let high = high.unwrap();
        for s in ["user001", "user0010", "user001\u{10FFFF}", "user001~"] {
            assert!(low.as_str() <= s && s < high.as_str(), "{s}");
        }
        for s in ["user000", "user00", "user002", "user01"] {
            assert!(!(low.as_str() <= s && s < high.as_str()), "{s}");
        }
    }
}
