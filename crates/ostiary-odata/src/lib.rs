//! Parsers for Microsoft Graph-style OData v4 query options (`$filter`, `$orderby`, `$select`,
//! `$top`, `$search`) into a typed AST. Pure: no IO, no SQL; callers percent-decode first.

pub mod error;
pub mod filter;
pub mod query;

pub use error::ParseError;
pub use filter::{CmpOp, Expr, Literal, PropPath, parse_filter};
pub use query::{OrderBy, SearchTerm, SortDir, parse_orderby, parse_search, parse_select, parse_top};

/// Longest accepted query-option value in bytes; bounds all parser work up front.
pub const MAX_INPUT_LEN: usize = 8192;
/// Maximum nesting of parentheses, `not` and lambdas in `$filter`.
pub const MAX_DEPTH: usize = 32;
/// Maximum number of `Expr` nodes in one `$filter`.
pub const MAX_NODES: usize = 512;
/// Maximum number of values in an `in (...)` list (Graph's limit).
pub const MAX_IN_VALUES: usize = 15;

fn check_len(input: &str) -> Result<(), ParseError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(ParseError::new("input too long", MAX_INPUT_LEN));
    }
    Ok(())
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// OData simple identifier, restricted to ASCII: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_ident(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && b.all(is_ident_byte)
}

#[cfg(test)]
mod tests;
