//! `$filter` parsing: a tokenizer plus a depth- and size-bounded recursive-descent parser
//! producing [`Expr`].

use crate::{MAX_DEPTH, MAX_IN_VALUES, MAX_NODES, ParseError, check_len, is_ident_byte};
use std::fmt;

/// A `/`-separated property path; inside a lambda the first segment may be the lambda variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropPath(pub Vec<String>);

impl fmt::Display for PropPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// Bare `8-4-4-4-12` hex GUID, lowercased.
    Guid(String),
    /// Bare RFC 3339 timestamp, kept as written.
    DateTime(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    /// The operator giving the same result with operands swapped (`1 lt x` ≡ `x gt 1`).
    pub fn flipped(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            op => op,
        }
    }

    fn from_keyword(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Compare { prop: PropPath, op: CmpOp, value: Literal },
    In { prop: PropPath, values: Vec<Literal> },
    StartsWith { prop: PropPath, value: String },
    EndsWith { prop: PropPath, value: String },
    Contains { prop: PropPath, value: String },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Any { collection: PropPath, var: String, predicate: Box<Expr> },
    All { collection: PropPath, var: String, predicate: Box<Expr> },
    AnyEmpty { collection: PropPath },
}

/// Parses a `$filter` value. Keywords and function names are case-insensitive; property
/// names are kept as written. Input size, nesting depth and node count are bounded.
pub fn parse_filter(input: &str) -> Result<Expr, ParseError> {
    check_len(input)?;
    let toks = tokenize(input)?;
    let mut p = Parser { toks, i: 0, depth: 0, nodes: 0, vars: Vec::new() };
    let e = p.or()?;
    if *p.peek() != Tok::Eof {
        return p.err("expected 'and', 'or' or end of input");
    }
    Ok(e)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
    Ident(String),
    Lit(Literal),
    Eof,
}

fn tokenize(s: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let start = i;
        let rest = b.get(i..).unwrap_or_default();
        let punct = match c {
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b',' => Some(Tok::Comma),
            b'/' => Some(Tok::Slash),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        let tok = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if let Some(t) = punct {
            i += 1;
            t
        } else if c == b'\'' {
            let (v, end) = string_lit(s, i)?;
            i = end;
            Tok::Lit(Literal::String(v))
        } else if let Some(n) = guid_len(rest) {
            i += n;
            Tok::Lit(Literal::Guid(s[start..i].to_ascii_lowercase()))
        } else if dd(rest, 0, 4).is_some() && rest.get(4) == Some(&b'-') {
            // Four digits and a dash can only start a timestamp; a date-only form is not supported.
            let n = datetime_len(rest).ok_or_else(|| ParseError::new("invalid date/time literal", i))?;
            i += n;
            Tok::Lit(Literal::DateTime(s[start..i].to_owned()))
        } else if c.is_ascii_digit() || c == b'-' {
            let (lit, end) = number(s, i)?;
            i = end;
            Tok::Lit(lit)
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while b.get(i).is_some_and(|&c| is_ident_byte(c)) {
                i += 1;
            }
            Tok::Ident(s[start..i].to_owned())
        } else {
            // Every earlier token ends on an ASCII byte, so `i` is a char boundary.
            let ch = s.get(i..).and_then(|r| r.chars().next()).unwrap_or('?');
            return Err(ParseError::new(format!("unexpected character {ch:?}"), i));
        };
        out.push((tok, start));
    }
    out.push((Tok::Eof, b.len()));
    Ok(out)
}

/// Single-quoted string with `''` as the escaped quote; returns the value and the end offset.
fn string_lit(s: &str, start: usize) -> Result<(String, usize), ParseError> {
    let b = s.as_bytes();
    let (mut out, mut seg, mut j) = (String::new(), start + 1, start + 1);
    loop {
        match b.get(j) {
            None => return Err(ParseError::new("unterminated string literal", start)),
            Some(b'\'') if b.get(j + 1) == Some(&b'\'') => {
                out.push_str(&s[seg..=j]);
                j += 2;
                seg = j;
            }
            Some(b'\'') => {
                out.push_str(&s[seg..j]);
                return Ok((out, j + 1));
            }
            Some(_) => j += 1,
        }
    }
}

fn not_ident_at(b: &[u8], i: usize) -> Option<usize> {
    (!b.get(i).is_some_and(|&c| is_ident_byte(c))).then_some(i)
}

fn guid_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    for (k, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
        }
        if !b.get(i..i + n)?.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        i += n;
    }
    not_ident_at(b, i)
}

/// Value of exactly `n` ASCII digits at `i`.
fn dd(b: &[u8], i: usize, n: usize) -> Option<u32> {
    b.get(i..i + n)?.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

fn at(b: &[u8], i: usize, c: u8) -> bool {
    b.get(i).is_some_and(|x| x.eq_ignore_ascii_case(&c))
}

/// OData `dateTimeOffsetValue`: `YYYY-MM-DDThh:mm[:ss[.f+]](Z|±hh:mm)`.
fn datetime_len(b: &[u8]) -> Option<usize> {
    let ok = (1..=12).contains(&dd(b, 5, 2)?)
        && at(b, 7, b'-')
        && (1..=31).contains(&dd(b, 8, 2)?)
        && at(b, 10, b'T')
        && dd(b, 11, 2)? < 24
        && at(b, 13, b':')
        && dd(b, 14, 2)? < 60;
    if !ok {
        return None;
    }
    let mut i = 16;
    if at(b, i, b':') {
        if dd(b, i + 1, 2)? > 60 {
            return None;
        }
        i += 3;
        if at(b, i, b'.') {
            i = digit_run(b, i + 1).filter(|&e| e > i + 1)?;
        }
    }
    if at(b, i, b'Z') {
        i += 1;
    } else if (at(b, i, b'+') || at(b, i, b'-')) && at(b, i + 3, b':') {
        if dd(b, i + 1, 2)? >= 24 || dd(b, i + 4, 2)? >= 60 {
            return None;
        }
        i += 6;
    } else {
        return None;
    }
    not_ident_at(b, i)
}

/// End offset of the (possibly empty) run of ASCII digits starting at `i`.
fn digit_run(b: &[u8], i: usize) -> Option<usize> {
    Some(i + b.get(i..)?.iter().take_while(|c| c.is_ascii_digit()).count())
}

fn number(s: &str, i: usize) -> Result<(Literal, usize), ParseError> {
    let b = s.as_bytes();
    let digits = |k: usize| digit_run(b, k).unwrap_or(k);
    let int_start = i + usize::from(b.get(i) == Some(&b'-'));
    let mut end = digits(int_start);
    if end == int_start {
        return Err(ParseError::new("expected digits", int_start));
    }
    let float = b.get(end) == Some(&b'.');
    if float {
        let frac_end = digits(end + 1);
        if frac_end == end + 1 {
            return Err(ParseError::new("expected digits after decimal point", end + 1));
        }
        end = frac_end;
    }
    if b.get(end).is_some_and(|&c| is_ident_byte(c) || c == b'.') {
        return Err(ParseError::new("invalid number literal", i));
    }
    let text = &s[i..end];
    let lit = if float {
        text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Literal::Float)
    } else {
        text.parse::<i64>().ok().map(Literal::Int)
    };
    lit.map(|l| (l, end)).ok_or_else(|| ParseError::new("number out of range", i))
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
    nodes: usize,
    /// Lambda variables in scope, innermost last, with a "referenced" flag.
    vars: Vec<(String, bool)>,
}

impl Parser {
    fn peek_at(&self, k: usize) -> &Tok {
        self.toks.get(self.i + k).map_or(&Tok::Eof, |t| &t.0)
    }

    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).or(self.toks.last()).map_or(0, |t| t.1)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        self.i = (self.i + 1).min(self.toks.len().saturating_sub(1));
        t
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError::new(msg, self.pos()))
    }

    fn kw(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(w))
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<(), ParseError> {
        if *self.peek() != t {
            return self.err(format!("expected {what}"));
        }
        self.bump();
        Ok(())
    }

    fn node(&mut self, e: Expr) -> Result<Expr, ParseError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.err("expression too large");
        }
        Ok(e)
    }

    /// Every recursive descent goes through here, so depth (not the stack) bounds recursion.
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        self.chain("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        self.chain("and", Self::unary, Expr::And)
    }

    /// Left-associative `operand (kw operand)*`.
    fn chain(
        &mut self,
        kw: &str,
        operand: fn(&mut Self) -> Result<Expr, ParseError>,
        make: fn(Box<Expr>, Box<Expr>) -> Expr,
    ) -> Result<Expr, ParseError> {
        let mut lhs = operand(self)?;
        while self.kw(kw) {
            self.bump();
            let rhs = operand(self)?;
            lhs = self.node(make(Box::new(lhs), Box::new(rhs)))?;
        }
        Ok(lhs)
    }

    /// `not` applies to the following comparison/primary, so `not a eq 1 and b` is `(not a eq 1) and b`.
    fn unary(&mut self) -> Result<Expr, ParseError> {
        if !self.kw("not") {
            return self.primary();
        }
        self.enter()?;
        self.bump();
        let e = self.unary()?;
        self.depth -= 1;
        self.node(Expr::Not(Box::new(e)))
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        if *self.peek() == Tok::LParen {
            self.enter()?;
            self.bump();
            let e = self.or()?;
            self.expect(Tok::RParen, "')'")?;
            self.depth -= 1;
            return Ok(e);
        }
        if let Some(value) = self.literal() {
            // Literal on the left: normalise to `prop op' literal`.
            let op = self.cmp_op()?;
            if self.peek_literal().is_some() {
                return self.err("comparing two literals is not supported");
            }
            let (prop, _) = self.path(false)?;
            return self.node(Expr::Compare { prop, op: op.flipped(), value });
        }
        let Tok::Ident(name) = self.peek().clone() else {
            return self.err("expected expression");
        };
        if *self.peek_at(1) == Tok::LParen {
            return self.function(&name);
        }
        let (prop, lambda) = self.path(true)?;
        if let Some(all) = lambda {
            return self.lambda(prop, all);
        }
        if self.kw("in") {
            return self.in_list(prop);
        }
        let op = self.cmp_op()?;
        match self.literal() {
            Some(value) => self.node(Expr::Compare { prop, op, value }),
            None if matches!(self.peek(), Tok::Ident(_)) => self.err("comparing two properties is not supported"),
            None => self.err("expected literal"),
        }
    }

    fn peek_literal(&self) -> Option<Literal> {
        match self.peek() {
            Tok::Lit(l) => Some(l.clone()),
            Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                "true" => Some(Literal::Bool(true)),
                "false" => Some(Literal::Bool(false)),
                "null" => Some(Literal::Null),
                _ => None,
            },
            _ => None,
        }
    }

    fn literal(&mut self) -> Option<Literal> {
        let lit = self.peek_literal()?;
        self.bump();
        Some(lit)
    }

    fn cmp_op(&mut self) -> Result<CmpOp, ParseError> {
        let op = match self.peek() {
            Tok::Ident(s) => CmpOp::from_keyword(s),
            _ => None,
        };
        let Some(op) = op else {
            return self.err("expected comparison operator");
        };
        self.bump();
        Ok(op)
    }

    /// Parses `seg(/seg)*`. With `allow_lambda`, stops before `/any(` or `/all(` and reports
    /// which (`Some(true)` for all), leaving the cursor on the `(`.
    fn path(&mut self, allow_lambda: bool) -> Result<(PropPath, Option<bool>), ParseError> {
        let mut segs: Vec<String> = Vec::new();
        let mut lambda = None;
        loop {
            let Tok::Ident(s) = self.peek().clone() else {
                return self.err("expected property name");
            };
            let is_lambda = s.eq_ignore_ascii_case("any") || s.eq_ignore_ascii_case("all");
            if !segs.is_empty() && is_lambda && *self.peek_at(1) == Tok::LParen {
                if !allow_lambda {
                    return self.err("lambda not allowed here");
                }
                self.bump();
                lambda = Some(s.eq_ignore_ascii_case("all"));
                break;
            }
            self.bump();
            segs.push(s);
            if *self.peek() != Tok::Slash {
                break;
            }
            self.bump();
        }
        let first = segs.first();
        if let Some(v) = self.vars.iter_mut().rev().find(|v| Some(&v.0) == first) {
            v.1 = true;
        }
        Ok((PropPath(segs), lambda))
    }

    fn function(&mut self, name: &str) -> Result<Expr, ParseError> {
        let kind = name.to_ascii_lowercase();
        if !matches!(kind.as_str(), "startswith" | "endswith" | "contains") {
            return self.err(format!("unknown function '{name}'"));
        }
        self.bump();
        self.bump();
        if self.peek_literal().is_some() {
            return self.err(format!("first argument of {kind} must be a property"));
        }
        let (prop, _) = self.path(false)?;
        self.expect(Tok::Comma, "','")?;
        let Tok::Lit(Literal::String(value)) = self.peek().clone() else {
            return self.err(format!("second argument of {kind} must be a string literal"));
        };
        self.bump();
        self.expect(Tok::RParen, "')'")?;
        self.node(match kind.as_str() {
            "startswith" => Expr::StartsWith { prop, value },
            "endswith" => Expr::EndsWith { prop, value },
            _ => Expr::Contains { prop, value },
        })
    }

    fn lambda(&mut self, collection: PropPath, all: bool) -> Result<Expr, ParseError> {
        self.bump();
        if *self.peek() == Tok::RParen {
            if all {
                return self.err("all() requires a lambda expression");
            }
            self.bump();
            return self.node(Expr::AnyEmpty { collection });
        }
        let var_pos = self.pos();
        let Tok::Ident(var) = self.bump() else {
            return Err(ParseError::new("expected lambda variable", var_pos));
        };
        if self.vars.iter().any(|v| v.0 == var) {
            return Err(ParseError::new(format!("lambda variable '{var}' already in use"), var_pos));
        }
        self.expect(Tok::Colon, "':'")?;
        self.enter()?;
        self.vars.push((var, false));
        let predicate = Box::new(self.or()?);
        let (var, used) = self.vars.pop().unwrap_or_default();
        if !used {
            return Err(ParseError::new(format!("lambda variable '{var}' is never used"), var_pos));
        }
        self.expect(Tok::RParen, "')'")?;
        self.depth -= 1;
        self.node(if all { Expr::All { collection, var, predicate } } else { Expr::Any { collection, var, predicate } })
    }

    fn in_list(&mut self, prop: PropPath) -> Result<Expr, ParseError> {
        self.bump();
        self.expect(Tok::LParen, "'('")?;
        let mut values = Vec::new();
        loop {
            if values.len() == MAX_IN_VALUES {
                return self.err(format!("too many values in 'in' list (max {MAX_IN_VALUES})"));
            }
            let Some(v) = self.literal() else {
                return self.err("expected literal");
            };
            values.push(v);
            if *self.peek() != Tok::Comma {
                break;
            }
            self.bump();
        }
        self.expect(Tok::RParen, "')'")?;
        self.node(Expr::In { prop, values })
    }
}
