//! Unit and hostile-input tests for all parsers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;

/// Compact s-expression rendering so expected ASTs fit on one line.
fn show(e: &Expr) -> String {
    let lit = |l: &Literal| match l {
        Literal::String(s) => format!("'{s}'"),
        Literal::Int(n) => n.to_string(),
        Literal::Float(x) => format!("{x:?}f"),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".into(),
        Literal::Guid(g) => format!("guid:{g}"),
        Literal::DateTime(d) => format!("dt:{d}"),
    };
    match e {
        Expr::Compare { prop, op, value } => format!("({op:?} {prop} {})", lit(value)),
        Expr::In { prop, values } => {
            format!("(in {prop} [{}])", values.iter().map(lit).collect::<Vec<_>>().join(" "))
        }
        Expr::StartsWith { prop, value } => format!("(startswith {prop} '{value}')"),
        Expr::EndsWith { prop, value } => format!("(endswith {prop} '{value}')"),
        Expr::Contains { prop, value } => format!("(contains {prop} '{value}')"),
        Expr::And(a, b) => format!("(and {} {})", show(a), show(b)),
        Expr::Or(a, b) => format!("(or {} {})", show(a), show(b)),
        Expr::Not(a) => format!("(not {})", show(a)),
        Expr::Any { collection, var, predicate } => {
            format!("(any {collection} {var} {})", show(predicate))
        }
        Expr::All { collection, var, predicate } => {
            format!("(all {collection} {var} {})", show(predicate))
        }
        Expr::AnyEmpty { collection } => format!("(any {collection})"),
    }
}

/// Each case is `source => expected rendering`.
fn check_ok(cases: &[&str]) {
    for case in cases {
        let (src, want) = case.split_once(" => ").unwrap();
        match parse_filter(src) {
            Ok(e) => assert_eq!(show(&e), want, "{src:?}"),
            Err(e) => panic!("{src:?}: {e}"),
        }
    }
}

/// Each case is `source @ position: message fragment`.
fn check_err(cases: &[&str]) {
    for case in cases {
        let (src, rest) = case.rsplit_once(" @ ").unwrap();
        let (pos, msg) = rest.split_once(": ").unwrap();
        err_at(src, pos.parse().unwrap(), msg);
    }
}

fn err_at(src: &str, pos: usize, msg: &str) {
    let e = parse_filter(src).expect_err(src);
    assert!(e.position == pos && e.message.contains(msg), "{src:?}: {e}");
}

#[test]
fn comparisons_and_literal_on_left() {
    check_ok(&[
        "displayName eq 'x' => (Eq displayName 'x')",
        "a NE 1 => (Ne a 1)",
        "a Gt 1 => (Gt a 1)",
        "a ge 1 => (Ge a 1)",
        "a lt 1 => (Lt a 1)",
        "a LE 1 => (Le a 1)",
        "passwordProfile/forceChange eq true => (Eq passwordProfile/forceChange true)",
        "'x' eq displayName => (Eq displayName 'x')",
        "5 lt a => (Gt a 5)",
        "5 ge a/b => (Le a/b 5)",
        "null ne manager => (Ne manager null)",
    ]);
    let e = parse_filter("a eq 1").unwrap();
    let prop = PropPath(vec!["a".into()]);
    assert_eq!(e, Expr::Compare { prop, op: CmpOp::Eq, value: Literal::Int(1) });
}

#[test]
fn precedence_not_and_parentheses() {
    check_ok(&[
        "a eq 1 or b eq 2 and c eq 3 => (or (Eq a 1) (and (Eq b 2) (Eq c 3)))",
        "a eq 1 and b eq 2 or c eq 3 => (or (and (Eq a 1) (Eq b 2)) (Eq c 3))",
        "a eq 1 or b eq 2 OR c eq 3 => (or (or (Eq a 1) (Eq b 2)) (Eq c 3))",
        "a eq 1 AND b eq 2 And c eq 3 => (and (and (Eq a 1) (Eq b 2)) (Eq c 3))",
        "(a eq 1 or b eq 2) and c eq 3 => (and (or (Eq a 1) (Eq b 2)) (Eq c 3))",
        "((a eq 1)) => (Eq a 1)",
        "not a eq 1 and b eq 2 => (and (not (Eq a 1)) (Eq b 2))",
        "NOT (a eq 1 or b eq 2) => (not (or (Eq a 1) (Eq b 2)))",
        "not not a eq 1 => (not (not (Eq a 1)))",
        "not(startswith(displayName,'A')) => (not (startswith displayName 'A'))",
    ]);
}

#[test]
fn in_lists_and_functions() {
    check_ok(&[
        "userType in ('Member', 'Guest') => (in userType ['Member' 'Guest'])",
        "a IN (1) => (in a [1])",
        "startswith(displayName,'Ad') => (startswith displayName 'Ad')",
        "startsWith( displayName , 'Ad' ) => (startswith displayName 'Ad')",
        "ENDSWITH(mail,'@x.com') => (endswith mail '@x.com')",
        "contains(a/b,'x') => (contains a/b 'x')",
    ]);
    let list = |n: usize| (0..n).map(|k| k.to_string()).collect::<Vec<_>>().join(",");
    let ok = parse_filter(&format!("a in ({})", list(15))).unwrap();
    assert!(matches!(ok, Expr::In { values, .. } if values.len() == 15));
    err_at(&format!("a in ({})", list(16)), 41, "too many values");
    check_err(&[
        "a in () @ 6: expected literal",
        "a in ('x',) @ 10: expected literal",
        "a in 'x' @ 5: expected '('",
        "startswith('x',a) @ 11: first argument of startswith must be a property",
        "startswith(a,1) @ 13: second argument of startswith must be a string",
        "contains(a,b) @ 11: second argument",
        "substringof('a',b) @ 0: unknown function 'substringof'",
        "startswith(a,'x' @ 16: expected ')'",
    ]);
}

#[test]
fn lambdas() {
    check_ok(&[
        "groupTypes/any(c:c eq 'Unified') => (any groupTypes c (Eq c 'Unified'))",
        "groupTypes/ANY( c : c eq 'U' ) => (any groupTypes c (Eq c 'U'))",
        "uris/any(x:startswith(x,'api://')) => (any uris x (startswith x 'api://'))",
        "l/any(x:x/skuId eq 6E74172B-BE56-4843-9FF4-E66A39BB12E3) => \
         (any l x (Eq x/skuId guid:6e74172b-be56-4843-9ff4-e66a39bb12e3))",
        "a/all(x: x eq 1 or x eq 2) => (all a x (or (Eq x 1) (Eq x 2)))",
        "owners/any() => (any owners)",
        "NOT groupTypes/any(c:c eq 'U') => (not (any groupTypes c (Eq c 'U')))",
        "a/any(x: x/b/any(y: y eq 1)) => (any a x (any x/b y (Eq y 1)))",
        "a/any(x: b/all(y: y eq 1 and x eq 2)) => (any a x (all b y (and (Eq y 1) (Eq x 2))))",
        "a/any(x: x eq 1) and x eq 2 => (and (any a x (Eq x 1)) (Eq x 2))",
    ]);
    check_err(&[
        "a/any(x: y eq 1) @ 6: lambda variable 'x' is never used",
        "a/any(x: b/any(y: y eq 1)) @ 6: 'x' is never used",
        "a/any(x: x/b/any(x: x eq 1)) @ 17: 'x' already in use",
        "a/all() @ 6: all() requires a lambda expression",
        "a/any(x x eq 1) @ 8: expected ':'",
        "a/any(x: x eq 1 @ 15: expected ')'",
        "a/any(1: x eq 1) @ 6: expected lambda variable",
        "startswith(a/any(x:x eq 1),'x') @ 13: lambda not allowed here",
    ]);
}

#[test]
fn literals() {
    check_ok(&[
        "a eq 'O''Brien' => (Eq a 'O'Brien')",
        "a eq '''' => (Eq a ''')",
        "a eq '' => (Eq a '')",
        "a eq 'Zoë ü ( eq' => (Eq a 'Zoë ü ( eq')",
        "a eq -42 => (Eq a -42)",
        "a eq -9223372036854775808 => (Eq a -9223372036854775808)",
        "a eq 1.5 => (Eq a 1.5f)",
        "a eq -0.25 => (Eq a -0.25f)",
        "a eq 1000000000000000000000.5 => (Eq a 1e21f)",
        "a eq TRUE or a eq false => (or (Eq a true) (Eq a false))",
        "a eq e66a39bb-be56-4843-9ff4-e66a39bb12e3 => (Eq a guid:e66a39bb-be56-4843-9ff4-e66a39bb12e3)",
        "a ge 2021-01-01T00:00:00Z => (Ge a dt:2021-01-01T00:00:00Z)",
        "a ge 2021-01-01T00:00Z => (Ge a dt:2021-01-01T00:00Z)",
        "a ge 2021-12-31T23:59:59.1234567Z => (Ge a dt:2021-12-31T23:59:59.1234567Z)",
        "a ge 2021-06-01T10:00:00+02:00 => (Ge a dt:2021-06-01T10:00:00+02:00)",
        "(a lt 2021-06-01T10:00:00-05:30) => (Lt a dt:2021-06-01T10:00:00-05:30)",
    ]);
    err_at(&format!("a eq 1{}.0", "0".repeat(400)), 5, "number out of range");
    check_err(&[
        "a eq 9223372036854775808 @ 5: number out of range",
        "a eq 1. @ 7: expected digits after decimal point",
        "a eq 12abc @ 5: invalid number",
        "a eq - @ 6: expected digits",
        "a eq 2021-13-01T00:00:00Z @ 5: invalid date/time",
        "a eq 2021-01-01 @ 5: invalid date/time",
        "a eq 2021-01-01T00:00:00 @ 5: invalid date/time",
        "a eq 6e74172b-be56-4843-9ff4-e66a39bb12e @ 5: invalid number",
        "1 eq 2 @ 5: comparing two literals is not supported",
    ]);
}

#[test]
fn error_positions() {
    check_err(&[
        " @ 0: expected expression",
        "displayName eq @ 14: expected literal",
        "displayName eq 'abc @ 15: unterminated string literal",
        "a eq 1 and @ 10: expected expression",
        "(a eq 1 @ 7: expected ')'",
        "a eq 1) @ 6: expected 'and', 'or' or end of input",
        "a xx 1 @ 2: expected comparison operator",
        "a @ 1: expected comparison operator",
        "a eq 1 % 2 @ 7: unexpected character '%'",
        "zoë eq 1 @ 2: unexpected character 'ë'",
        "a eq b @ 5: comparing two properties is not supported",
        "a/'x' eq 1 @ 2: expected property name",
        "a eq 1 b eq 2 @ 7: end of input",
        "a eq 'x\0 @ 5: unterminated string literal",
    ]);
    err_at("", 0, "expected expression");
    let e = parse_filter("a eq").unwrap_err();
    assert_eq!(e.to_string(), "expected literal at position 4");
}

#[test]
fn hostile_nesting_and_size() {
    let nested = |n: usize| format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n));
    assert!(parse_filter(&nested(MAX_DEPTH)).is_ok());
    err_at(&nested(MAX_DEPTH + 1), MAX_DEPTH, "nested too deeply");
    err_at(&"(".repeat(8000), MAX_DEPTH, "nested too deeply");
    err_at(&"(".repeat(10_000), MAX_INPUT_LEN, "input too long");
    err_at(&format!("{}a eq 1", "not ".repeat(2000)), 4 * MAX_DEPTH, "nested too deeply");
    err_at(&"not ".repeat(10_000), MAX_INPUT_LEN, "input too long");
    let long = format!("a eq '{}'", "x".repeat(100_000));
    err_at(&long, MAX_INPUT_LEN, "input too long");
    let chain = |n: usize| vec!["a eq 1"; n].join(" or ");
    assert!(parse_filter(&chain(256)).is_ok()); // 511 nodes
    err_at(&chain(257), chain(257).len(), "expression too large");
    // Lambda k uses the variable of lambda k-1 as its collection, so every variable is used.
    let lambdas = |n: usize| {
        let open: String = (1..n).map(|k| format!("x{}/any(x{k}:", k - 1)).collect();
        format!("c/any(x0:{open}x{} eq 1{}", n - 1, ")".repeat(n))
    };
    assert!(parse_filter(&lambdas(MAX_DEPTH)).is_ok());
    let deep = lambdas(MAX_DEPTH + 1);
    err_at(&deep, deep.find("x32 eq").unwrap(), "nested too deeply");
    let big = "a,".repeat(50_000);
    assert!(parse_select(&big).is_err() && parse_orderby(&big).is_err());
    assert!(parse_search(&big).is_err());
}

#[test]
fn random_inputs_never_panic() {
    const ALPHABET: &[&str] = &[
        "(",
        ")",
        "'",
        "''",
        " eq ",
        " and ",
        " or ",
        "not ",
        "any",
        "all",
        "/",
        ":",
        ",",
        "1",
        "-",
        "x",
        " in ",
        "startswith(",
        "6e74172b-be56-4843-9ff4-e66a39bb12e3",
        "2021-01-01T00:00:00Z",
        ".",
        "\"",
        " ",
        "AND",
        "OR",
        "null",
        "é",
        "\0",
        "9999999999999999999",
        "a:b",
        "\\",
        "2021-",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut bytes = Vec::new();
        for _ in 0..next() % 40 {
            let r = next();
            if r % 5 == 0 {
                bytes.push((r >> 8) as u8);
            } else {
                bytes.extend_from_slice(ALPHABET[(r >> 8) as usize % ALPHABET.len()].as_bytes());
            }
        }
        let input = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_filter(&input) {
            assert!(e.position <= input.len(), "{input:?}: {e}");
        }
        let _ = (parse_orderby(&input), parse_select(&input), parse_search(&input));
        let _ = parse_top(&input);
    }
}

#[test]
fn orderby() {
    let ob = |segs: &[&str], dir| OrderBy { prop: PropPath(segs.iter().map(|s| s.to_string()).collect()), dir };
    let got = parse_orderby("displayName desc, userPrincipalName").unwrap();
    assert_eq!(got, [ob(&["displayName"], SortDir::Desc), ob(&["userPrincipalName"], SortDir::Asc)]);
    let got = parse_orderby(" a/b  ASC ,c DESC").unwrap();
    assert_eq!(got, [ob(&["a", "b"], SortDir::Asc), ob(&["c"], SortDir::Desc)]);
    for (src, pos) in
        [("", 0), ("a,,b", 2), ("a up", 2), ("a desc x", 2), ("a/", 2), ("1a", 0), ("a, b/ c", 5), ("a,", 2)]
    {
        assert_eq!(parse_orderby(src).unwrap_err().position, pos, "{src:?}");
    }
}

#[test]
fn select_and_top() {
    assert_eq!(parse_select("id,displayName").unwrap(), ["id", "displayName"]);
    assert_eq!(parse_select(" id , _x1 ").unwrap(), ["id", "_x1"]);
    for (src, pos) in [("", 0), ("id,", 3), ("id,,a", 3), ("id,a b", 3), ("a/b", 0), ("*", 0), ("1a", 0)] {
        assert_eq!(parse_select(src).unwrap_err().position, pos, "{src:?}");
    }
    assert_eq!(parse_top("0").unwrap(), 0);
    assert_eq!(parse_top("010").unwrap(), 10);
    assert_eq!(parse_top("4294967295").unwrap(), u32::MAX);
    for (src, pos) in [("", 0), ("-1", 0), ("+1", 0), (" 1", 0), ("1 ", 1), ("1.0", 1), ("4294967296", 0), ("١", 0)] {
        assert_eq!(parse_top(src).unwrap_err().position, pos, "{src:?}");
    }
}

#[test]
fn search() {
    let t = |p: &str, v: &str| SearchTerm::Property { prop: p.into(), value: v.into() };
    let (and, or) = (|a, b| SearchTerm::And(Box::new(a), Box::new(b)), |a, b| SearchTerm::Or(Box::new(a), Box::new(b)));
    assert_eq!(parse_search("\"displayName:wa\"").unwrap(), t("displayName", "wa"));
    let got = parse_search(" \"displayName:wa\" OR \"displayName:ad\" ").unwrap();
    assert_eq!(got, or(t("displayName", "wa"), t("displayName", "ad")));
    let got = parse_search("\"a:1\" OR \"b:2\" AND \"c:3\" OR \"d:4\"").unwrap();
    assert_eq!(got, or(or(t("a", "1"), and(t("b", "2"), t("c", "3"))), t("d", "4")));
    assert_eq!(parse_search(r#""mail:a\"b\\c:d é""#).unwrap(), t("mail", "a\"b\\c:d é"));
    let cases = [
        ("", 0),
        ("displayName:wa", 0),
        ("\"a:1\" or \"b:2\"", 6),
        ("\"a:1\" OR", 8),
        ("\"a:1\" \"b:2\"", 6),
        ("\"a:1", 0),
        ("\"a1\"", 1),
        ("\"a:\"", 1),
        ("\"1a:x\"", 1),
        ("\"a:\\x\"", 3),
    ];
    for (src, pos) in cases {
        assert_eq!(parse_search(src).unwrap_err().position, pos, "{src:?}");
    }
}
