//! The SCIM filter language (RFC 7644 §3.4.2.2): a tokenizer and a depth- and size-bounded
//! recursive-descent parser producing [`Filter`], attribute paths (also used by `sortBy`,
//! `attributes` and PATCH `path`), in-memory evaluation with RFC 7643 case rules, and resolution of
//! a path to its schema definitions.
//!
//! Leniency (as the Microsoft reference server): keywords and operators are case-insensitive, and a
//! comparison value that is not a JSON string, number, `true`, `false` or `null` is accepted as a bare
//! string token (`userName sw O`, `name.FamilyName eq Employee`,
//! `meta.Created gt 2015-10-10T14:38:21.8617979-07:00`): it ends at whitespace, a parenthesis or a
//! bracket. A value path may carry a sub-attribute and a comparison, as Entra sends
//! (`emails[type eq "work"].value eq "x"`).

use crate::error::{ScimError, ScimType};
use crate::schema::{AttrDef, AttrType, ResourceSchema, Schema};
use crate::value::{get_ci, is_unassigned, parse_datetime};
use crate::{MAX_DEPTH, MAX_INPUT_LEN, MAX_NODES};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// `[uri:]attr[\[filter\]][.sub]`. Names are kept as written; resolution is case-insensitive.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub uri: Option<String>,
    pub attr: String,
    pub value_filter: Option<Box<Filter>>,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A plain path `attr` or `attr.sub`.
    pub fn simple(attr: &str, sub: Option<&str>) -> Self {
        Self { uri: None, attr: attr.to_owned(), value_filter: None, sub: sub.map(str::to_owned) }
    }

    /// `uri:attr`, e.g. to test whether the whole path names a schema URN.
    pub fn full_name(&self) -> String {
        match &self.uri {
            Some(u) => format!("{u}:{}", self.attr),
            None => self.attr.clone(),
        }
    }

    /// The extension that this path names as a whole (`urn:…:enterprise:2.0:User`), if any.
    pub fn whole_extension(&self, rs: &ResourceSchema) -> Option<&'static Schema> {
        if self.uri.is_none() || self.sub.is_some() || self.value_filter.is_some() {
            return None;
        }
        rs.extension(&self.full_name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn from_keyword(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    /// `emails[type eq "work" and value co "@example.com"]` (the inner filter's paths are relative
    /// sub-attributes).
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{}", Value::from(s.as_str())),
            Self::Num(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_name())?;
        if let Some(vf) = &self.value_filter {
            write!(f, "[{vf}]")?;
        }
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// Canonical text: every binary operator parenthesised, so `parse(display(f)) == f`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Self::Present(p) => write!(f, "{p} pr"),
            Self::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
            Self::And(a, b) => write!(f, "({a} and {b})"),
            Self::Or(a, b) => write!(f, "({a} or {b})"),
            Self::Not(a) => write!(f, "not ({a})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

struct PErr(String, usize);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBrack,
    RBrack,
    Str(String),
    Word(String),
    Eof,
}

fn tokenize(s: &str) -> Result<Vec<(Tok, usize, usize)>, PErr> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let start = i;
        let tok = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBrack,
            b']' => Tok::RBrack,
            b'"' => {
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => return Err(PErr("unterminated string".into(), start)),
                        Some(b'\\') => j += 2,
                        Some(b'"') => break,
                        Some(_) => j += 1,
                    }
                }
                let lit = s.get(start..=j).ok_or_else(|| PErr("unterminated string".into(), start))?;
                let v: String = serde_json::from_str(lit).map_err(|_| PErr("invalid string literal".into(), start))?;
                i = j;
                Tok::Str(v)
            }
            _ => {
                while b.get(i).is_some_and(|&c| !c.is_ascii_whitespace() && !b"()[]\"".contains(&c)) {
                    i += 1;
                }
                out.push((Tok::Word(s.get(start..i).unwrap_or_default().to_owned()), start, i));
                continue;
            }
        };
        i += 1;
        out.push((tok, start, i));
    }
    out.push((Tok::Eof, b.len(), b.len()));
    Ok(out)
}

fn is_attr_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'$')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// `[urn:…:]attr[.sub]` from one word. The URN is everything up to the last ':' (URNs contain dots,
/// as in `2.0`, so the split on '.' happens after it).
fn path_word(w: &str, pos: usize) -> Result<AttrPath, PErr> {
    let is_urn = w.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    let (uri, rest) = match w.rfind(':') {
        Some(i) if is_urn => (Some(w.get(..i).unwrap_or_default()), w.get(i + 1..).unwrap_or_default()),
        _ => (None, w),
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    if !is_attr_name(attr) || sub.is_some_and(|s| !is_attr_name(s)) {
        return Err(PErr(format!("invalid attribute path '{w}'"), pos));
    }
    Ok(AttrPath { uri: uri.map(str::to_owned), attr: attr.to_owned(), value_filter: None, sub: sub.map(str::to_owned) })
}

struct Parser {
    toks: Vec<(Tok, usize, usize)>,
    i: usize,
    depth: usize,
    nodes: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |t| &t.0)
    }
    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(0, |t| t.1)
    }
    fn end_of_prev(&self) -> usize {
        self.i.checked_sub(1).and_then(|p| self.toks.get(p)).map_or(0, |t| t.2)
    }
    fn err<T>(&self, msg: &str) -> Result<T, PErr> {
        Err(PErr(msg.to_owned(), self.pos()))
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
    fn node(&mut self, f: Filter) -> Result<Filter, PErr> {
        self.nodes += 1;
        if self.nodes > MAX_NODES { self.err("filter has too many terms") } else { Ok(f) }
    }
    fn enter(&mut self) -> Result<(), PErr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { self.err("filter is nested too deeply") } else { Ok(()) }
    }
    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), PErr> {
        if self.peek() == t {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected {what}"))
        }
    }

    fn or(&mut self) -> Result<Filter, PErr> {
        let mut l = self.and()?;
        while self.is_kw("or") {
            self.i += 1;
            let r = self.and()?;
            l = self.node(Filter::Or(Box::new(l), Box::new(r)))?;
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Filter, PErr> {
        let mut l = self.unary()?;
        while self.is_kw("and") {
            self.i += 1;
            let r = self.unary()?;
            l = self.node(Filter::And(Box::new(l), Box::new(r)))?;
        }
        Ok(l)
    }

    fn group(&mut self) -> Result<Filter, PErr> {
        self.enter()?;
        self.expect(&Tok::LParen, "'('")?;
        let f = self.or()?;
        self.expect(&Tok::RParen, "')'")?;
        self.depth -= 1;
        Ok(f)
    }

    fn unary(&mut self) -> Result<Filter, PErr> {
        match self.peek() {
            Tok::LParen => self.group(),
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.i += 1;
                if *self.peek() != Tok::LParen {
                    return self.err("'not' must be followed by '('");
                }
                let f = self.group()?;
                self.node(Filter::Not(Box::new(f)))
            }
            Tok::Word(_) => self.attr_expr(),
            _ => self.err("expected an attribute path, '(' or 'not'"),
        }
    }

    fn path(&mut self) -> Result<AttrPath, PErr> {
        let (w, pos) = match self.toks.get(self.i) {
            Some((Tok::Word(w), pos, _)) => (w.clone(), *pos),
            _ => return self.err("expected an attribute path"),
        };
        let mut path = path_word(&w, pos)?;
        self.i += 1;
        if *self.peek() != Tok::LBrack {
            return Ok(path);
        }
        if path.sub.is_some() {
            return self.err("a value filter must follow the attribute, not a sub-attribute");
        }
        self.enter()?;
        self.i += 1;
        let inner = self.or()?;
        self.expect(&Tok::RBrack, "']'")?;
        self.depth -= 1;
        path.value_filter = Some(Box::new(inner));
        if let Some((Tok::Word(w), pos, _)) = self.toks.get(self.i)
            && let Some(sub) = w.strip_prefix('.')
        {
            if *pos != self.end_of_prev() || !is_attr_name(sub) {
                return Err(PErr(format!("invalid sub-attribute '{w}'"), *pos));
            }
            path.sub = Some(sub.to_owned());
            self.i += 1;
        }
        Ok(path)
    }

    fn attr_expr(&mut self) -> Result<Filter, PErr> {
        let mut path = self.path()?;
        if path.sub.is_none()
            && let Some(filter) = path.value_filter.take()
        {
            return self.node(Filter::ValuePath { path, filter });
        }
        let op = match self.peek() {
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => {
                self.i += 1;
                return self.node(Filter::Present(path));
            }
            Tok::Word(w) => match CompareOp::from_keyword(w) {
                Some(op) => op,
                None => return self.err(&format!("unknown operator '{w}'")),
            },
            _ => return self.err("expected an operator"),
        };
        self.i += 1;
        let value = match self.peek() {
            Tok::Str(s) => CompValue::Str(s.clone()),
            Tok::Word(w) => bare_value(w),
            _ => return self.err("expected a comparison value"),
        };
        self.i += 1;
        self.node(Filter::Compare { path, op, value })
    }
}

/// A value token that is not a JSON string: keyword, JSON number, or (leniently) a bare string.
fn bare_value(w: &str) -> CompValue {
    match w.to_ascii_lowercase().as_str() {
        "true" => return CompValue::Bool(true),
        "false" => return CompValue::Bool(false),
        "null" => return CompValue::Null,
        _ => {}
    }
    match serde_json::from_str::<serde_json::Number>(w) {
        Ok(n) if w.bytes().all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c)) => CompValue::Num(n),
        _ => CompValue::Str(w.to_owned()),
    }
}

fn check_len(input: &str, t: ScimType) -> Result<(), ScimError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(ScimError::bad(t, format!("input longer than {MAX_INPUT_LEN} bytes")));
    }
    Ok(())
}

fn to_err(t: ScimType) -> impl Fn(PErr) -> ScimError {
    move |PErr(msg, pos)| ScimError::bad(t, format!("{msg} at position {pos}"))
}

/// Parses a filter; errors are 400 `invalidFilter` naming the byte position.
pub fn parse_filter(input: &str) -> Result<Filter, ScimError> {
    check_len(input, ScimType::InvalidFilter)?;
    let e = to_err(ScimType::InvalidFilter);
    let mut p = Parser { toks: tokenize(input).map_err(&e)?, i: 0, depth: 0, nodes: 0 };
    if *p.peek() == Tok::Eof {
        return Err(ScimError::bad(ScimType::InvalidFilter, "empty filter"));
    }
    let f = p.or().map_err(&e)?;
    if *p.peek() != Tok::Eof {
        return Err(e(PErr("expected 'and', 'or' or end of filter".into(), p.pos())));
    }
    Ok(f)
}

/// Parses an attribute path (`sortBy`, `attributes`, PATCH `path`): `[urn:]attr[.sub]`,
/// `attr[filter]`, `attr[filter].sub`. Errors are 400 `invalidPath`.
pub fn parse_attr_path(input: &str) -> Result<AttrPath, ScimError> {
    check_len(input, ScimType::InvalidPath)?;
    let e = to_err(ScimType::InvalidPath);
    let mut p = Parser { toks: tokenize(input).map_err(&e)?, i: 0, depth: 0, nodes: 0 };
    let path = p.path().map_err(&e)?;
    if *p.peek() != Tok::Eof {
        return Err(e(PErr("unexpected text after the attribute path".into(), p.pos())));
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Resolution

/// The canonical definitions a path names: `attr` in `schema`, and `sub` when the path has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedAttr<'a> {
    pub schema: &'a Schema,
    pub attr: &'a AttrDef,
    pub sub: Option<&'a AttrDef>,
}

/// Resolves `path` against a resource type, case-insensitively; `None` for unknown attributes.
pub fn resolve<'a>(schema: &'a ResourceSchema, path: &AttrPath) -> Option<ResolvedAttr<'a>> {
    let (s, attr) = schema.attr(path.uri.as_deref(), &path.attr)?;
    let sub = match &path.sub {
        Some(name) => Some(attr.sub(name)?),
        None => None,
    };
    Some(ResolvedAttr { schema: s, attr, sub })
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// What a path is evaluated against: a whole resource, or one element of a multi-valued complex
/// attribute (inside `[...]`).
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(&'a ResourceSchema),
    Sub(&'static [AttrDef]),
}

/// The attribute's definition and its values in `obj` (an array is flattened).
fn attr_values<'v>(path: &AttrPath, obj: &'v Value, scope: Scope<'_>) -> (Option<&'static AttrDef>, Vec<&'v Value>) {
    let Some(o) = obj.as_object() else { return (None, Vec::new()) };
    let (def, container) = match scope {
        Scope::Resource(rs) => {
            let def = rs.attr(path.uri.as_deref(), &path.attr).map(|(_, a)| a);
            let container = match path.uri.as_deref().and_then(|u| rs.extension(u)) {
                Some(ext) => get_ci(o, ext.id).and_then(Value::as_object),
                None if path.uri.as_deref().is_some_and(|u| !rs.core.id.eq_ignore_ascii_case(u)) => None,
                None => Some(o),
            };
            (def, container)
        }
        Scope::Sub(subs) => (subs.iter().find(|a| a.name.eq_ignore_ascii_case(&path.attr)), Some(o)),
    };
    let vals = match container.and_then(|c| get_ci(c, &path.attr)) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    };
    (def, vals)
}

/// Elements selected by the path's value filter, then the compared values (`sub`, or `value` of
/// complex elements), with the definition that decides case-exactness and type.
fn compared<'v>(path: &AttrPath, obj: &'v Value, scope: Scope<'_>) -> (Option<&'static AttrDef>, Vec<&'v Value>, bool) {
    let (def, mut elems) = attr_values(path, obj, scope);
    if let Some(vf) = &path.value_filter {
        let subs = def.map_or(&[][..], |d| d.sub_attributes);
        elems.retain(|e| eval(vf, e, Scope::Sub(subs)));
    }
    let is_complex = def.map_or_else(|| elems.iter().any(|e| e.is_object()), |d| d.ty == AttrType::Complex);
    let sub_name = match (&path.sub, is_complex) {
        (Some(s), _) => Some(s.as_str()),
        (None, true) => Some("value"),
        (None, false) => None,
    };
    let Some(sub_name) = sub_name else { return (def, elems, false) };
    let sub_def = def.and_then(|d| d.sub(sub_name));
    let mut out = Vec::new();
    for e in elems {
        match e.as_object().and_then(|o| get_ci(o, sub_name)) {
            Some(Value::Array(a)) => out.extend(a.iter()),
            Some(v) => out.push(v),
            None => {}
        }
    }
    (sub_def, out, path.sub.is_none())
}

fn str_cmp(a: &str, b: &str, op: CompareOp, exact: bool, datetime: bool) -> bool {
    if datetime
        && matches!(op, CompareOp::Eq | CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
        && let (Some(x), Some(y)) = (parse_datetime(a), parse_datetime(b))
    {
        return ord_ok(x.cmp(&y), op);
    }
    let (a, b) = if exact { (a.to_owned(), b.to_owned()) } else { (a.to_lowercase(), b.to_lowercase()) };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => ord_ok(a.cmp(&b), op),
    }
}

fn ord_ok(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare_one(c: &Value, op: CompareOp, v: &CompValue, def: Option<&AttrDef>) -> bool {
    let exact = def.is_some_and(|d| d.case_exact);
    let datetime = def.is_some_and(|d| d.ty == AttrType::DateTime);
    match (c, v) {
        (Value::String(a), CompValue::Str(b)) => str_cmp(a, b, op, exact, datetime),
        // Unquoted numbers and booleans against string attributes compare as their text.
        (Value::String(a), CompValue::Num(n)) => str_cmp(a, &n.to_string(), op, exact, false),
        (Value::String(a), CompValue::Bool(b)) => str_cmp(a, &b.to_string(), op, false, false),
        (Value::Number(a), CompValue::Num(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).is_some_and(|o| ord_ok(o, op)),
            _ => false,
        },
        (Value::Number(a), CompValue::Str(b)) => {
            b.parse::<f64>().ok().zip(a.as_f64()).and_then(|(y, x)| x.partial_cmp(&y)).is_some_and(|o| ord_ok(o, op))
        }
        (Value::Bool(a), CompValue::Bool(b)) => op == CompareOp::Eq && a == b,
        (Value::Bool(a), CompValue::Str(b)) => op == CompareOp::Eq && b.eq_ignore_ascii_case(&a.to_string()),
        _ => false,
    }
}

fn eval(f: &Filter, obj: &Value, scope: Scope<'_>) -> bool {
    match f {
        Filter::And(a, b) => eval(a, obj, scope) && eval(b, obj, scope),
        Filter::Or(a, b) => eval(a, obj, scope) || eval(b, obj, scope),
        Filter::Not(a) => !eval(a, obj, scope),
        Filter::Present(path) => {
            let (_, vals, value_of_complex) = compared(path, obj, scope);
            if value_of_complex {
                // `emails pr`: any element at all, whether or not it has a `value`.
                let mut p = path.clone();
                p.sub = None;
                let (def, mut elems) = attr_values(&p, obj, scope);
                if let Some(vf) = &path.value_filter {
                    let subs = def.map_or(&[][..], |d| d.sub_attributes);
                    elems.retain(|e| eval(vf, e, Scope::Sub(subs)));
                }
                return elems.iter().any(|e| !is_unassigned(e));
            }
            vals.iter().any(|v| !is_unassigned(v))
        }
        Filter::ValuePath { path, filter } => {
            let (def, elems) = attr_values(path, obj, scope);
            let subs = def.map_or(&[][..], |d| d.sub_attributes);
            elems.iter().any(|e| eval(filter, e, Scope::Sub(subs)))
        }
        Filter::Compare { path, op, value } => {
            let (def, vals, _) = compared(path, obj, scope);
            if *value == CompValue::Null {
                let present = vals.iter().any(|v| !is_unassigned(v));
                return match op {
                    CompareOp::Eq => !present,
                    CompareOp::Ne => present,
                    _ => false,
                };
            }
            if *op == CompareOp::Ne {
                return !vals.iter().any(|c| compare_one(c, CompareOp::Eq, value, def));
            }
            vals.iter().any(|c| compare_one(c, *op, value, def))
        }
    }
}

impl Filter {
    /// Evaluates the filter against a resource in its JSON form. Strings compare case-insensitively
    /// unless the attribute is `caseExact`; a multi-valued attribute matches if any value does (for
    /// a complex one, its `value` sub-attribute); `pr` means present and not null or empty; `dateTime`
    /// attributes order chronologically, other strings lexicographically; booleans only support
    /// `eq`/`ne`. Unknown attributes are looked up in the data as written (so they match nothing in a
    /// normalised resource); `ne` is the negation of `eq`.
    pub fn matches(&self, resource: &Value, schema: &ResourceSchema) -> bool {
        eval(self, resource, Scope::Resource(schema))
    }

    /// Evaluates the filter against one element of a multi-valued complex attribute (`def`).
    pub fn matches_element(&self, element: &Value, def: &'static AttrDef) -> bool {
        eval(self, element, Scope::Sub(def.sub_attributes))
    }
}
