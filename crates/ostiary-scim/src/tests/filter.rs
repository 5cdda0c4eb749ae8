//! Filter parsing (RFC 7644 §3.4.2.2 examples, precedence, Entra and Postman forms, errors) and
//! evaluation truth tables.

use super::*;
use crate::filter::{AttrPath, CompValue, CompareOp, Filter};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Input → canonical rendering (binary operators parenthesised).
const PARSES: &[(&str, &str)] = &[
    // RFC 7644 §3.4.2.2, every example filter.
    (r#"userName Eq "john""#, r#"userName eq "john""#),
    (r#"Username eq "john""#, r#"Username eq "john""#),
    (r#"userName eq "bjensen""#, r#"userName eq "bjensen""#),
    (r#"name.familyName co "O'Malley""#, r#"name.familyName co "O'Malley""#),
    (r#"userName sw "J""#, r#"userName sw "J""#),
    (
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
    ),
    ("title pr", "title pr"),
    (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
    (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, r#"meta.lastModified ge "2011-05-13T04:42:34Z""#),
    (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, r#"meta.lastModified lt "2011-05-13T04:42:34Z""#),
    (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, r#"meta.lastModified le "2011-05-13T04:42:34Z""#),
    (r#"title pr and userType eq "Employee""#, r#"(title pr and userType eq "Employee")"#),
    (r#"title pr or userType eq "Intern""#, r#"(title pr or userType eq "Intern")"#),
    (
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    ),
    (
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"(userType eq "Employee" and (emails co "example.com" or emails.value co "example.org"))"#,
    ),
    (
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"(userType ne "Employee" and not ((emails co "example.com" or emails.value co "example.org")))"#,
    ),
    (r#"userType eq "Employee" and (emails.type eq "work")"#, r#"(userType eq "Employee" and emails.type eq "work")"#),
    (
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"(userType eq "Employee" and emails[(type eq "work" and value co "@example.com")])"#,
    ),
    (
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"(emails[(type eq "work" and value co "@example.com")] or ims[(type eq "xmpp" and value co "@foo.com")])"#,
    ),
    // Every operator.
    (r#"a ne "x""#, r#"a ne "x""#),
    (r#"a ew "x""#, r#"a ew "x""#),
    // Precedence: `and` binds tighter than `or`; both left-associative; grouping overrides.
    ("a pr or b pr and c pr", "(a pr or (b pr and c pr))"),
    ("a pr and b pr or c pr", "((a pr and b pr) or c pr)"),
    ("(a pr or b pr) and c pr", "((a pr or b pr) and c pr)"),
    ("a pr or b pr or c pr", "((a pr or b pr) or c pr)"),
    ("((a pr))", "a pr"),
    ("not (not (a pr))", "not (not (a pr))"),
    // Case-insensitive keywords and literals.
    (
        r#"userName EQ "x" AND title PR OR NOT (active Eq TRUE)"#,
        r#"((userName eq "x" and title pr) or not (active eq true))"#,
    ),
    ("x eq NULL", "x eq null"),
    ("x eq False", "x eq false"),
    // Numbers and escapes.
    ("x eq 42", "x eq 42"),
    ("x gt -1.5e3", "x gt -1500.0"),
    (r#"displayName eq "a\"b\\c\u00e9""#, r#"displayName eq "a\"b\\cé""#),
    // Entra.
    (r#"emails[type eq "work"].value eq "x@y.com""#, r#"emails[type eq "work"].value eq "x@y.com""#),
    (
        r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
        r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
    ),
    (r#"displayName eq "displayName""#, r#"displayName eq "displayName""#),
    (
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
    ),
    // Microsoft reference Postman suite: bare (unquoted) values.
    (
        "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)",
        r#"(name.FamilyName eq "Employee" and (emails.Value co "example.com" or emails.Value co "example.org"))"#,
    ),
    ("userName sw O", r#"userName sw "O""#),
    ("meta.Created gt 2015-10-10T14:38:21.8617979-07:00", r#"meta.Created gt "2015-10-10T14:38:21.8617979-07:00""#),
    ("members[value eq 123]", "members[value eq 123]"),
    ("members.$ref pr", "members.$ref pr"),
];

#[test]
fn parses_and_round_trips() {
    for (input, want) in PARSES {
        let f = parse_filter(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(f.to_string(), *want, "{input}");
        assert_eq!(parse_filter(&f.to_string()).unwrap(), f, "round trip of {input}");
    }
}

#[test]
fn structure_of_urn_and_value_paths() {
    let f = parse_filter(&format!("{ENT}:manager.value eq \"x\"")).unwrap();
    let Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(v) } = f else { panic!() };
    assert_eq!(path.uri.as_deref(), Some(ENT));
    assert_eq!((path.attr.as_str(), path.sub.as_deref(), v.as_str()), ("manager", Some("value"), "x"));

    let f = parse_filter(r#"emails[type eq "work"].value eq "a""#).unwrap();
    let Filter::Compare { path, .. } = f else { panic!() };
    assert_eq!(path.sub.as_deref(), Some("value"));
    assert!(matches!(path.value_filter.as_deref(), Some(Filter::Compare { .. })));

    let f = parse_filter(r#"emails[type eq "work"]"#).unwrap();
    let Filter::ValuePath { path, filter } = f else { panic!() };
    assert_eq!((path.attr.as_str(), path.value_filter.is_none()), ("emails", true));
    assert_eq!(filter.to_string(), r#"type eq "work""#);

    assert_eq!(parse_filter("x eq 42").unwrap().to_string(), "x eq 42");
    let Filter::Compare { value, .. } = parse_filter("x eq 1.5").unwrap() else { panic!() };
    assert!(matches!(value, CompValue::Num(_)));
}

/// Input → (byte position in the detail, a word of the message).
const ERRORS: &[(&str, usize, &str)] = &[
    ("userName eq", 11, "comparison value"),
    ("userName", 8, "operator"),
    (r#"userName xx "a""#, 9, "unknown operator"),
    (r#"(userName eq "a""#, 16, "')'"),
    (r#"userName eq "a")"#, 15, "end of filter"),
    (r#"not userName eq "a""#, 4, "'not' must be followed"),
    (r#"userName eq "abc"#, 12, "unterminated"),
    (r#"emails[type eq "work""#, 21, "']'"),
    (r#"1abc eq "x""#, 0, "invalid attribute path"),
    (r#"userName eq "a" and"#, 19, "expected an attribute path"),
    (r#"emails[type eq "work"] .value eq "x""#, 23, "invalid sub-attribute"),
    (r#"name.givenName[type eq "x"]"#, 14, "value filter"),
    (r#"a.b.c eq "x""#, 0, "invalid attribute path"),
    (r#"urn:x: eq "x""#, 0, "invalid attribute path"),
    (r#"x eq "\q""#, 5, "invalid string"),
    (") x pr", 0, "expected an attribute path"),
    ("x pr x pr", 5, "end of filter"),
];

#[test]
fn errors_name_their_position() {
    for (input, pos, word) in ERRORS {
        let e = parse_filter(input).expect_err(input);
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)), "{input}");
        assert!(e.detail.contains(word), "{input}: {}", e.detail);
        assert!(e.detail.ends_with(&format!("at position {pos}")), "{input}: {}", e.detail);
    }
    assert!(parse_filter("").unwrap_err().detail.contains("empty"));
    assert!(parse_filter("   ").is_err());
}

#[test]
fn limits_are_enforced_without_overflowing_the_stack() {
    let deep = format!("{}a pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert!(parse_filter(&deep).unwrap_err().detail.contains("nested too deeply"));
    let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse_filter(&ok).is_ok());
    let nots = format!("{}a pr{}", "not (".repeat(4000), ")".repeat(4000));
    assert!(parse_filter(&nots).is_err());
    let brackets = format!("{}b pr{}", "a[".repeat(1000), "]".repeat(1000));
    assert!(parse_filter(&brackets).unwrap_err().detail.contains("nested too deeply"));
    let many = vec!["a pr"; MAX_NODES + 2].join(" or ");
    assert!(parse_filter(&many).unwrap_err().detail.contains("too many terms"));
    let long = format!("userName eq \"{}\"", "x".repeat(MAX_INPUT_LEN));
    assert!(parse_filter(&long).unwrap_err().detail.contains("longer than"));
}

#[test]
fn attribute_paths() {
    let p = parse_attr_path(r#"members[value eq "2819c223"]"#).unwrap();
    assert_eq!((p.attr.as_str(), p.sub.is_none()), ("members", true));
    assert_eq!(p.value_filter.unwrap().to_string(), r#"value eq "2819c223""#);
    let p = parse_attr_path(r#"addresses[type eq "work"].streetAddress"#).unwrap();
    assert_eq!(p.sub.as_deref(), Some("streetAddress"));
    let p = parse_attr_path(ENT).unwrap();
    assert_eq!(p.whole_extension(&USER_RESOURCE).map(|s| s.id), Some(ENT));
    assert!(parse_attr_path("userName").unwrap().whole_extension(&USER_RESOURCE).is_none());
    for bad in ["", "emails[type eq \"work\"] x", "a b", "emails[", "9x", "a..b"] {
        let e = parse_attr_path(bad).expect_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
    }
}

#[test]
fn resolution_is_case_insensitive_and_canonical() {
    let r = resolve(&USER_RESOURCE, &parse_attr_path(&format!("{ENT}:EMPLOYEENUMBER")).unwrap()).unwrap();
    assert_eq!((r.schema.id, r.attr.name, r.sub.is_none()), (ENT, "employeeNumber", true));
    let r = resolve(&USER_RESOURCE, &parse_attr_path(r#"emails[type eq "work"].Value"#).unwrap()).unwrap();
    assert_eq!((r.attr.name, r.sub.map(|s| s.name)), ("emails", Some("value")));
    let r = resolve(&USER_RESOURCE, &parse_attr_path("Name.GivenName").unwrap()).unwrap();
    assert_eq!((r.schema.id, r.attr.name, r.sub.map(|s| s.name)), (SCHEMA_USER, "name", Some("givenName")));
    let r = resolve(&USER_RESOURCE, &parse_attr_path("meta.lastModified").unwrap()).unwrap();
    assert_eq!((r.schema.id, r.sub.map(|s| s.ty)), (SCHEMA_USER, Some(AttrType::DateTime)));
    assert!(resolve(&USER_RESOURCE, &AttrPath::simple("id", None)).unwrap().attr.case_exact);
    assert!(resolve(&USER_RESOURCE, &AttrPath::simple("bogus", None)).is_none());
    assert!(resolve(&USER_RESOURCE, &AttrPath::simple("emails", Some("bogus"))).is_none());
    assert!(resolve(&USER_RESOURCE, &parse_attr_path(&format!("{SCHEMA_GROUP}:displayName")).unwrap()).is_none());
    assert!(resolve(&USER_RESOURCE, &AttrPath::simple("employeeNumber", None)).is_none(), "extension needs its URN");
    let r = resolve(&GROUP_RESOURCE, &AttrPath::simple("members", Some("value"))).unwrap();
    assert_eq!(r.sub.map(|s| s.mutability), Some(Mutability::Immutable));
}

/// Filter → whether it matches [`user`].
const USER_TRUTH: &[(&str, bool)] = &[
    (r#"userName eq "BJENSEN@example.com""#, true),
    (r#"USERNAME eq "bjensen@example.com""#, true),
    (r#"id eq "2819C223-7F76-453A-919D-413861904646""#, false),
    (r#"id eq "2819c223-7f76-453a-919d-413861904646""#, true),
    (r#"externalId eq "BJENSEN""#, false),
    (r#"externalId eq "bjensen""#, true),
    (r#"emails co "jensen.org""#, true),
    (r#"emails.value co "JENSEN.ORG""#, true),
    (r#"emails.value eq "nobody@example.com""#, false),
    (r#"emails[type eq "work"].value eq "bjensen@example.com""#, true),
    (r#"emails[type eq "home"].value eq "bjensen@example.com""#, false),
    (r#"emails[type eq "work" and value co "@example.com"]"#, true),
    (r#"emails[type eq "other"]"#, false),
    (r#"emails[primary eq true].type eq "work""#, true),
    (r#"emails.type eq "home""#, true),
    (r#"name.familyName sw "jen""#, true),
    (r#"name.familyName ew "SEN""#, true),
    (r#"name.familyName co "nse""#, true),
    (r#"name.familyName co "x""#, false),
    ("title pr", true),
    ("nickName pr", true),
    ("profileUrl pr", false),
    ("emails pr", true),
    ("ims pr", false),
    ("name pr", true),
    (r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, true),
    (r#"meta.lastModified gt "2011-05-13T06:42:34+02:00""#, false),
    (r#"meta.lastModified ge "2011-05-13T06:42:34+02:00""#, true),
    (r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, true),
    (r#"meta.lastModified lt "2011-05-13T05:00:00+01:00""#, false),
    (r#"meta.lastModified le "2011-05-13T04:42:34.000Z""#, true),
    ("meta.Created lt 2015-10-10T14:38:21.8617979-07:00", true),
    ("meta.Created gt 2015-10-10T14:38:21.8617979-07:00", false),
    ("active eq true", true),
    ("active eq false", false),
    ("active ne false", true),
    ("active gt true", false),
    (r#"active eq "True""#, true),
    (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#, true),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 701984", true),
    ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 7019", false),
    (
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        true,
    ),
    (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:DEPARTMENT eq "tour operations""#, true),
    (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#, true),
    (r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName pr"#, false),
    (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true),
    (r#"userName ne "bjensen@example.com""#, false),
    (r#"nickName ne "x""#, true),
    ("preferredLanguage eq null", true),
    ("title ne null", true),
    ("title eq null", false),
    (r#"unknownAttr eq "x""#, false),
    (r#"not (unknownAttr eq "x")"#, true),
    (r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true),
    (r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false),
    (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true),
    (r#"title pr or userType eq "Intern""#, true),
    (r#"title pr and userType eq "Intern""#, false),
    (r#"nickName eq "x" or title pr and userType eq "Employee""#, true),
    (r#"(nickName eq "x" or title pr) and userType eq "Intern""#, false),
    (r#"addresses[type eq "work" and postalCode sw "916"]"#, true),
    (r#"addresses.postalCode gt "90000""#, true),
    (r#"phoneNumbers.value ew "8377""#, true),
    (r#"userName gt "a""#, true),
    (r#"userName lt "a""#, false),
    (r#"userName co "@""#, true),
    ("name.FamilyName eq Jensen and (emails.Value co example.com or emails.Value co example.org)", true),
    ("userName sw B", true),
    ("userName sw O", false),
];

#[test]
fn matches_user_truth_table() {
    let u = user();
    for (f, want) in USER_TRUTH {
        let parsed = parse_filter(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(parsed.matches(&u, &USER_RESOURCE), *want, "{f}");
    }
}

#[test]
fn matches_group_truth_table() {
    let g = group();
    for (f, want) in [
        (r#"displayName eq "tour guides""#, true),
        (r#"members.value eq "2819c223-7f76-453a-919d-413861904646""#, true),
        (r#"members.value eq "2819C223-7F76-453A-919D-413861904646""#, false),
        (r#"members eq "902c246b-6245-4190-8e05-00816be7344a""#, true),
        (r#"members[value eq "nope"]"#, false),
        (r#"members[type eq "user"]"#, true),
        ("members pr", true),
        ("externalId pr", false),
    ] {
        assert_eq!(parse_filter(f).unwrap().matches(&g, &GROUP_RESOURCE), want, "{f}");
    }
    let empty = json!({"schemas": [SCHEMA_GROUP], "id": "g", "displayName": "x", "members": []});
    assert!(!parse_filter("members pr").unwrap().matches(&empty, &GROUP_RESOURCE));
    assert!(!parse_filter("displayName pr").unwrap().matches(&json!("not an object"), &GROUP_RESOURCE));
}
