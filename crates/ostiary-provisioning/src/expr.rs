//! Entra's attribute-mapping expression language, the subset admins use for common transforms:
//! `[attr]` or a bare attribute name (direct), `"constant"`, `Join`, `ToLower`, `ToUpper`,
//! `Switch`, `Not`, `Coalesce`, `Append`, `IIF` with an `a = b` condition.
//!
//! Parsing is bounded (length, nesting depth, arguments per call, total nodes) because
//! expressions come from the admin API; errors carry the character position. Evaluation runs
//! against the Graph JSON of a user or group with case-insensitive property lookup and the
//! computed attributes `IsSoftDeleted` (= not `accountEnabled`) and `objectId` (= `id`).
//!
//! Null propagation follows Entra: a function of a missing attribute is null (the target
//! attribute is then not sent), except `Join` and `Coalesce`, which skip nulls, and `Switch`,
//! which falls back to its default.

use serde_json::Value;
use std::fmt;

/// Longest accepted expression text, in bytes.
pub const MAX_LEN: usize = 2048;
/// Deepest accepted nesting of calls.
pub const MAX_DEPTH: usize = 16;
/// Most arguments of one call (`Switch` with 30 cases needs 62).
pub const MAX_ARGS: usize = 64;
/// Most nodes in one expression.
pub const MAX_NODES: usize = 512;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A source attribute (`[mail]` or `mail`), looked up case-insensitively.
    Attr(String),
    /// A string constant (`"Employee"`).
    Const(String),
    /// `a = b`: true when both sides have the same text (IIF's condition).
    Eq(Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

/// The supported functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Join,
    ToLower,
    ToUpper,
    Switch,
    Not,
    Coalesce,
    Append,
    Iif,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "join" => Func::Join,
            "tolower" => Func::ToLower,
            "toupper" => Func::ToUpper,
            "switch" => Func::Switch,
            "not" => Func::Not,
            "coalesce" => Func::Coalesce,
            "append" => Func::Append,
            "iif" => Func::Iif,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Func::Join => "Join",
            Func::ToLower => "ToLower",
            Func::ToUpper => "ToUpper",
            Func::Switch => "Switch",
            Func::Not => "Not",
            Func::Coalesce => "Coalesce",
            Func::Append => "Append",
            Func::Iif => "IIF",
        }
    }

    /// Whether `n` arguments are acceptable. ToLower/ToUpper take Entra's optional culture.
    fn arity_ok(self, n: usize) -> bool {
        match self {
            Func::Join => n >= 2,
            Func::ToLower | Func::ToUpper => n == 1 || n == 2,
            Func::Switch => n >= 2 && (n - 2).is_multiple_of(2),
            Func::Not => n == 1,
            Func::Coalesce => n >= 1,
            Func::Append => n == 2,
            Func::Iif => n == 3,
        }
    }

    fn arity_text(self) -> &'static str {
        match self {
            Func::Join => "a separator and at least one value",
            Func::ToLower | Func::ToUpper => "a value and an optional culture",
            Func::Switch => "a source, a default and key/value pairs",
            Func::Not => "exactly one value",
            Func::Coalesce => "at least one value",
            Func::Append => "a value and a suffix",
            Func::Iif => "a condition and two values",
        }
    }
}

/// What went wrong, and where (a character offset into the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at position {pos}")]
pub struct ParseError {
    pub pos: usize,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("the expression is empty")]
    Empty,
    #[error("the expression is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("the expression nests deeper than {MAX_DEPTH} calls")]
    TooDeep,
    #[error("a call has more than {MAX_ARGS} arguments")]
    TooManyArgs,
    #[error("the expression has more than {MAX_NODES} parts")]
    TooManyNodes,
    #[error("unexpected character '{0}'")]
    Unexpected(char),
    #[error("unexpected end of the expression")]
    UnexpectedEnd,
    #[error("unterminated string constant")]
    UnterminatedString,
    #[error("unterminated attribute reference")]
    UnterminatedAttribute,
    #[error("invalid attribute name")]
    InvalidAttribute,
    #[error("unknown function '{0}'")]
    UnknownFunction(String),
    #[error("{0} expects {1}")]
    Arity(&'static str, &'static str),
    #[error("unexpected text after the expression")]
    Trailing,
}

struct Parser<'a> {
    chars: Vec<(usize, char)>,
    i: usize,
    nodes: usize,
    text: &'a str,
}

/// Parses expression text.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    if text.len() > MAX_LEN {
        return Err(ParseError { pos: MAX_LEN, kind: ParseErrorKind::TooLong });
    }
    let mut p = Parser { chars: text.char_indices().collect(), i: 0, nodes: 0, text };
    p.skip_ws();
    if p.peek().is_none() {
        return Err(ParseError { pos: 0, kind: ParseErrorKind::Empty });
    }
    let e = p.expr(0)?;
    p.skip_ws();
    if p.peek().is_some() {
        return Err(p.err(ParseErrorKind::Trailing));
    }
    Ok(e)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|(_, c)| *c)
    }

    fn pos(&self) -> usize {
        self.chars.get(self.i).map_or(self.text.len(), |(p, _)| *p)
    }

    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError { pos: self.pos(), kind }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    fn node(&mut self) -> Result<(), ParseError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES { Err(self.err(ParseErrorKind::TooManyNodes)) } else { Ok(()) }
    }

    /// expr := term ('=' term)?
    fn expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let left = self.term(depth)?;
        self.skip_ws();
        if self.peek() == Some('=') {
            self.i += 1;
            self.node()?;
            let right = self.term(depth)?;
            return Ok(Expr::Eq(Box::new(left), Box::new(right)));
        }
        Ok(left)
    }

    fn term(&mut self, depth: usize) -> Result<Expr, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(ParseErrorKind::TooDeep));
        }
        self.skip_ws();
        self.node()?;
        match self.peek() {
            None => Err(self.err(ParseErrorKind::UnexpectedEnd)),
            Some('"') => self.string(),
            Some('[') => self.bracketed(),
            Some(c) if c.is_ascii_alphabetic() => self.name_or_call(depth),
            Some(c) => Err(self.err(ParseErrorKind::Unexpected(c))),
        }
    }

    fn string(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos();
        self.i += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ParseError { pos: start, kind: ParseErrorKind::UnterminatedString }),
                Some('"') => {
                    self.i += 1;
                    return Ok(Expr::Const(out));
                }
                // A backslash escapes the next character, so a constant can hold a quote.
                Some('\\') => {
                    self.i += 1;
                    match self.peek() {
                        None => return Err(ParseError { pos: start, kind: ParseErrorKind::UnterminatedString }),
                        Some(c) => {
                            out.push(c);
                            self.i += 1;
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn bracketed(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos();
        self.i += 1;
        let mut name = String::new();
        loop {
            match self.peek() {
                None => return Err(ParseError { pos: start, kind: ParseErrorKind::UnterminatedAttribute }),
                Some(']') => {
                    self.i += 1;
                    break;
                }
                Some(c) if is_name_char(c) => {
                    name.push(c);
                    self.i += 1;
                }
                Some(_) => return Err(self.err(ParseErrorKind::InvalidAttribute)),
            }
        }
        if name.is_empty() {
            return Err(ParseError { pos: start, kind: ParseErrorKind::InvalidAttribute });
        }
        Ok(Expr::Attr(name))
    }

    fn name_or_call(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let start = self.pos();
        let mut name = String::new();
        while let Some(c) = self.peek().filter(|c| is_name_char(*c)) {
            name.push(c);
            self.i += 1;
        }
        self.skip_ws();
        if self.peek() != Some('(') {
            return Ok(Expr::Attr(name));
        }
        let Some(func) = Func::from_name(&name) else {
            return Err(ParseError { pos: start, kind: ParseErrorKind::UnknownFunction(name) });
        };
        self.i += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.i += 1;
        } else {
            loop {
                if args.len() >= MAX_ARGS {
                    return Err(self.err(ParseErrorKind::TooManyArgs));
                }
                args.push(self.expr(depth + 1)?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    Some(c) => return Err(self.err(ParseErrorKind::Unexpected(c))),
                    None => return Err(self.err(ParseErrorKind::UnexpectedEnd)),
                }
            }
        }
        if !func.arity_ok(args.len()) {
            return Err(ParseError { pos: start, kind: ParseErrorKind::Arity(func.name(), func.arity_text()) });
        }
        Ok(Expr::Call(func, args))
    }
}

impl fmt::Display for Expr {
    /// Canonical text (`[attr]`, quoted constants), which parses back to the same expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Attr(a) => write!(f, "[{a}]"),
            Expr::Const(c) => {
                f.write_str("\"")?;
                for ch in c.chars() {
                    if ch == '"' || ch == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{ch}")?;
                }
                f.write_str("\"")
            }
            Expr::Eq(a, b) => write!(f, "{a}={b}"),
            Expr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Expr {
    /// The attribute when the expression is a direct mapping.
    pub fn as_attr(&self) -> Option<&str> {
        match self {
            Expr::Attr(a) => Some(a),
            _ => None,
        }
    }

    /// Evaluates against a source object (Graph JSON). Null means "no value".
    pub fn eval(&self, source: &Value) -> Value {
        match self {
            Expr::Attr(name) => lookup(source, name),
            Expr::Const(c) => Value::String(c.clone()),
            Expr::Eq(a, b) => {
                let (a, b) = (a.eval(source), b.eval(source));
                Value::Bool(!a.is_null() && !b.is_null() && text(&a) == text(&b))
            }
            Expr::Call(func, args) => call(*func, args, source),
        }
    }
}

/// Case-insensitive property lookup plus the computed attributes.
pub fn lookup(source: &Value, name: &str) -> Value {
    if name.eq_ignore_ascii_case("IsSoftDeleted") {
        // A user without `accountEnabled` (groups) is not soft-deleted.
        return Value::Bool(source.get("accountEnabled").and_then(Value::as_bool).is_some_and(|e| !e));
    }
    if name.eq_ignore_ascii_case("objectId") {
        return source.get("id").cloned().unwrap_or(Value::Null);
    }
    let Some(obj) = source.as_object() else { return Value::Null };
    if let Some(v) = obj.get(name) {
        return v.clone();
    }
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map_or(Value::Null, |(_, v)| v.clone())
}

/// The text of a scalar value (booleans as Entra writes them: `True`/`False`).
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.first().map(text).unwrap_or_default(),
        Value::Object(_) => String::new(),
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn is_absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn map_text(v: Value, f: impl Fn(&str) -> String) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Array(items) => {
            Value::Array(items.into_iter().filter(|i| !i.is_null()).map(|i| Value::String(f(&text(&i)))).collect())
        }
        other => Value::String(f(&text(&other))),
    }
}

fn call(func: Func, args: &[Expr], source: &Value) -> Value {
    let arg = |i: usize| args.get(i).map_or(Value::Null, |a| a.eval(source));
    match func {
        Func::Join => {
            let sep = text(&arg(0));
            let mut parts = Vec::new();
            for a in args.iter().skip(1) {
                match a.eval(source) {
                    Value::Null => {}
                    Value::Array(items) => parts.extend(items.iter().filter(|i| !i.is_null()).map(text)),
                    v => parts.push(text(&v)),
                }
            }
            if parts.is_empty() { Value::Null } else { Value::String(parts.join(&sep)) }
        }
        Func::ToLower => map_text(arg(0), str::to_lowercase),
        Func::ToUpper => map_text(arg(0), str::to_uppercase),
        Func::Switch => {
            let src = arg(0);
            if !src.is_null() {
                let key = text(&src);
                for pair in args.get(2..).unwrap_or(&[]).chunks(2) {
                    if let [k, v] = pair
                        && text(&k.eval(source)) == key
                    {
                        return v.eval(source);
                    }
                }
            }
            arg(1)
        }
        Func::Not => as_bool(&arg(0)).map_or(Value::Null, |b| Value::Bool(!b)),
        Func::Coalesce => args.iter().map(|a| a.eval(source)).find(|v| !is_absent(v)).unwrap_or(Value::Null),
        Func::Append => match arg(0) {
            Value::Null => Value::Null,
            v => Value::String(format!("{}{}", text(&v), text(&arg(1)))),
        },
        Func::Iif => match as_bool(&arg(0)) {
            Some(true) => arg(1),
            Some(false) => arg(2),
            None => Value::Null,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userPrincipalName": "Ada.Lovelace@Contoso.com",
            "givenName": "Ada",
            "surname": "Lovelace",
            "displayName": "Ada Lovelace",
            "department": "R&D",
            "mail": null,
            "accountEnabled": true,
            "proxyAddresses": ["SMTP:ada@contoso.com", "smtp:al@contoso.com"],
            "country": "FR",
        })
    }

    #[test]
    fn evaluates_the_table() {
        let cases: &[(&str, Value)] = &[
            ("[userPrincipalName]", json!("Ada.Lovelace@Contoso.com")),
            ("userprincipalname", json!("Ada.Lovelace@Contoso.com")),
            ("[USERPRINCIPALNAME]", json!("Ada.Lovelace@Contoso.com")),
            ("\"Employee\"", json!("Employee")),
            ("\"say \\\"hi\\\"\"", json!("say \"hi\"")),
            ("[mail]", Value::Null),
            ("[doesNotExist]", Value::Null),
            ("objectId", json!("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")),
            ("[IsSoftDeleted]", json!(false)),
            ("Not([IsSoftDeleted])", json!(true)),
            ("Not(\"False\")", json!(true)),
            ("Not([mail])", Value::Null),
            ("Not([givenName])", Value::Null),
            ("Join(\" \", [givenName], [surname])", json!("Ada Lovelace")),
            ("Join(\" \", [givenName], [mail], [surname])", json!("Ada Lovelace")),
            ("Join(\",\", [mail])", Value::Null),
            ("Join(\";\", [proxyAddresses])", json!("SMTP:ada@contoso.com;smtp:al@contoso.com")),
            ("ToLower([userPrincipalName])", json!("ada.lovelace@contoso.com")),
            ("ToLower([userPrincipalName], \"en-US\")", json!("ada.lovelace@contoso.com")),
            ("ToUpper([givenName])", json!("ADA")),
            ("ToLower([mail])", Value::Null),
            ("ToLower([proxyAddresses])", json!(["smtp:ada@contoso.com", "smtp:al@contoso.com"])),
            ("Switch([department], \"Other\", \"R&D\", \"Research\", \"HR\", \"People\")", json!("Research")),
            ("Switch([givenName], \"Other\", \"R&D\", \"Research\")", json!("Other")),
            ("Switch([mail], \"Other\", \"R&D\", \"Research\")", json!("Other")),
            ("Switch([mail], [mail])", Value::Null),
            ("Coalesce([mail], [userPrincipalName])", json!("Ada.Lovelace@Contoso.com")),
            ("Coalesce([mail], [nope])", Value::Null),
            ("Append([givenName], \"@example.com\")", json!("Ada@example.com")),
            ("Append([mail], \"@example.com\")", Value::Null),
            ("Append([givenName], [mail])", json!("Ada")),
            ("IIF([country]=\"FR\", [givenName], [surname])", json!("Ada")),
            ("IIF([country]=\"DE\", [givenName], [surname])", json!("Lovelace")),
            ("IIF([mail]=[mail], \"a\", \"b\")", json!("b")),
            ("IIF([givenName], \"a\", \"b\")", Value::Null),
            ("ToLower(Join(\".\", [givenName], [surname]))", json!("ada.lovelace")),
            ("  join ( \"-\" , \"a\" , \"b\" )  ", json!("a-b")),
        ];
        let src = user();
        for (text, want) in cases {
            let e = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&e.eval(&src), want, "{text}");
            // Display is canonical: it parses back to the same tree.
            assert_eq!(parse(&e.to_string()).unwrap(), e, "{text}");
        }
    }

    #[test]
    fn soft_deleted_follows_account_enabled() {
        let e = parse("Not([IsSoftDeleted])").unwrap();
        assert_eq!(e.eval(&json!({"accountEnabled": false})), json!(false));
        assert_eq!(e.eval(&json!({"accountEnabled": true})), json!(true));
        // Groups have no accountEnabled: never soft-deleted.
        assert_eq!(e.eval(&json!({"displayName": "g"})), json!(true));
    }

    #[test]
    fn rejects_with_positions() {
        let cases: &[(&str, ParseErrorKind, usize)] = &[
            ("", ParseErrorKind::Empty, 0),
            ("   ", ParseErrorKind::Empty, 0),
            ("\"abc", ParseErrorKind::UnterminatedString, 0),
            ("Join(\",\", \"a", ParseErrorKind::UnterminatedString, 10),
            ("[abc", ParseErrorKind::UnterminatedAttribute, 0),
            ("[]", ParseErrorKind::InvalidAttribute, 0),
            ("[a b]", ParseErrorKind::InvalidAttribute, 2),
            ("Frobnicate([a])", ParseErrorKind::UnknownFunction("Frobnicate".into()), 0),
            ("Not([a], [b])", ParseErrorKind::Arity("Not", "exactly one value"), 0),
            (
                "Switch([a], \"d\", \"k\")",
                ParseErrorKind::Arity("Switch", "a source, a default and key/value pairs"),
                0,
            ),
            ("Join(\",\")", ParseErrorKind::Arity("Join", "a separator and at least one value"), 0),
            ("[a] [b]", ParseErrorKind::Trailing, 4),
            ("Join(\",\" [a])", ParseErrorKind::Unexpected('['), 9),
            ("Join(\",\", ", ParseErrorKind::UnexpectedEnd, 10),
            (")", ParseErrorKind::Unexpected(')'), 0),
            ("ToLower(", ParseErrorKind::UnexpectedEnd, 8),
        ];
        for (text, kind, pos) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!((&e.kind, e.pos), (kind, *pos), "{text}");
        }
    }

    #[test]
    fn enforces_limits() {
        let deep = format!("{}[a]{}", "ToLower(".repeat(MAX_DEPTH + 2), ")".repeat(MAX_DEPTH + 2));
        assert_eq!(parse(&deep).unwrap_err().kind, ParseErrorKind::TooDeep);
        let ok_deep = format!("{}[a]{}", "ToLower(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok_deep).is_ok());
        let many = format!("Coalesce({})", vec!["[a]"; MAX_ARGS + 1].join(","));
        assert_eq!(parse(&many).unwrap_err().kind, ParseErrorKind::TooManyArgs);
        let long = format!("\"{}\"", "x".repeat(MAX_LEN));
        assert_eq!(parse(&long).unwrap_err().kind, ParseErrorKind::TooLong);
        let inner = format!("Coalesce({})", vec!["a"; 60].join(","));
        let nodes = format!("Coalesce({})", [inner.as_str(); 10].join(","));
        assert!(nodes.len() < MAX_LEN);
        assert_eq!(parse(&nodes).unwrap_err().kind, ParseErrorKind::TooManyNodes);
    }

    /// xorshift64*: a deterministic generator so failures reproduce (no rand crate).
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let atoms = [
            "Join(",
            "ToLower(",
            "Switch(",
            "Not(",
            "Coalesce(",
            "Append(",
            "IIF(",
            ")",
            "(",
            ",",
            "[",
            "]",
            "\"",
            "\\",
            "=",
            "[a]",
            "\"x\"",
            "mail",
            " ",
            "é",
            "\u{0}",
            "[IsSoftDeleted]",
            "objectId",
            "ß",
            "\u{202e}",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let src = user();
        let mut parsed = 0;
        for _ in 0..20_000 {
            let n = rng.below(40);
            let text: String = (0..n).map(|_| atoms[rng.below(atoms.len())]).collect();
            match parse(&text) {
                Ok(e) => {
                    parsed += 1;
                    let _ = e.eval(&src);
                    assert_eq!(parse(&e.to_string()).unwrap(), e, "{text:?}");
                }
                Err(err) => assert!(err.pos <= text.len(), "{text:?}: {err}"),
            }
        }
        assert!(parsed > 100, "the generator should produce some valid expressions ({parsed})");
        // Random bytes, too.
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..rng.below(64)).map(|_| (rng.next() & 0xff) as u8).collect();
            let text = String::from_utf8_lossy(&bytes);
            if let Err(err) = parse(&text) {
                assert!(err.pos <= text.len());
            }
        }
    }
}
