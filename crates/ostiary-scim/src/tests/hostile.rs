//! Hostile input: thousands of random and mutated filters, paths, attribute lists, PATCH, bulk and
//! resource bodies. Nothing panics, every error is a 4xx, parsed filters round-trip, failed PATCHes
//! leave the resource untouched, and bulk ordering is a partition of the operations.

use super::*;
use crate::bulk::{execution_order, parse_bulk};
use crate::patch::{apply_patch, member_delta, parse_patch};
use crate::resource::{Mode, normalize};

const FRAGMENTS: &[&str] = &[
    "userName",
    "emails",
    "name.familyName",
    "members",
    "value",
    "type",
    "urn:ietf:params:scim:schemas:core:2.0:User:",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "meta.lastModified",
    " eq ",
    " ne ",
    " co ",
    " sw ",
    " gt ",
    " le ",
    " pr",
    " and ",
    " or ",
    "not ",
    "(",
    ")",
    "[",
    "]",
    ".",
    "\"",
    "\"x\"",
    "\"\\u00e9\"",
    "\"\\\"",
    "42",
    "-1.5e3",
    "true",
    "NULL",
    "O",
    "2015-10-10T14:38:21-07:00",
    " ",
    "$ref",
    ":",
    ",",
    "é",
    "\u{0}",
    "\\",
    "emails[type eq \"work\"]",
    ".value",
    "EQ",
    "Pr",
];

fn random_text(rng: &mut Rng) -> String {
    let n = rng.below(12);
    let mut s = String::new();
    for _ in 0..n {
        if rng.below(8) == 0 {
            s.push(char::from(u8::try_from(rng.below(128)).unwrap()));
        } else {
            s.push_str(rng.pick(FRAGMENTS));
        }
    }
    s
}

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..=rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 => chars.insert(at, rng.pick(&['(', ')', '[', ']', '"', ' ', '.', ':', '\\', 'x'])),
            _ => {
                let f: &str = rng.pick(FRAGMENTS);
                chars.extend(f.chars());
            }
        }
    }
    chars.into_iter().collect()
}

const SEEDS: &[&str] = &[
    r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    r#"emails[type eq "work"].value eq "x""#,
    "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)",
    "not (title pr) and meta.Created gt 2015-10-10T14:38:21.8617979-07:00",
];

#[test]
fn random_filters() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (u, g) = (user(), group());
    let mut parsed = 0;
    for i in 0..6000 {
        let input = if i % 2 == 0 {
            random_text(&mut rng)
        } else {
            let seed = rng_seed(&mut rng);
            mutate(&mut rng, seed)
        };
        match parse_filter(&input) {
            Ok(f) => {
                parsed += 1;
                let again = parse_filter(&f.to_string()).unwrap_or_else(|e| panic!("{input:?} → {f}: {e}"));
                assert_eq!(again, f, "{input:?}");
                let _ = f.matches(&u, &USER_RESOURCE);
                let _ = f.matches(&g, &GROUP_RESOURCE);
            }
            Err(e) => assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)), "{input:?}"),
        }
        for r in [parse_attr_path(&input).err(), parse_attribute_list(&input).err()].into_iter().flatten() {
            assert_eq!(r.status, 400, "{input:?}");
        }
    }
    assert!(parsed > 300, "the generator should produce valid filters too ({parsed})");
}

fn rng_seed(rng: &mut Rng) -> &'static str {
    rng.pick(SEEDS)
}

#[test]
fn deep_and_long_inputs_are_bounded() {
    for n in [100, 1000, 4000] {
        for s in [
            "(".repeat(n),
            format!("{}a pr{}", "(".repeat(n), ")".repeat(n)),
            format!("{}a pr", "not (".repeat(n)),
            "a[".repeat(n),
            "a pr and ".repeat(n),
            "\"".repeat(n),
        ] {
            assert_eq!(parse_filter(&s).unwrap_err().status, 400);
            assert_eq!(parse_attr_path(&s).unwrap_err().status, 400);
        }
    }
}

const KEYS: &[&str] = &[
    "op",
    "path",
    "value",
    "schemas",
    "Operations",
    "members",
    "emails",
    "userName",
    "name.givenName",
    "active",
    "displayName",
    "id",
    "meta",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "primary",
    "type",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "title",
    "groups",
    "bogus",
];
const STRINGS: &[&str] = &[
    "add",
    "Replace",
    "remove",
    "members",
    "emails[type eq \"work\"].value",
    "members[value eq \"x\"]",
    "name.familyName",
    "active",
    "True",
    "work",
    "x",
    "",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:api:messages:2.0:PatchOp",
    "emails[value co \"a\"]",
    "id",
    "userName",
    "bulkId:a",
    "bulkId:b",
    "POST",
    "/Users",
    "addresses[type eq \"work\"].primary",
    "emails.primary",
];

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 4 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(rng.below(5)),
        3 => Value::from(rng.pick(STRINGS)),
        4 | 5 => {
            let mut o = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                o.insert((rng.pick(KEYS)).to_owned(), random_value(rng, depth + 1));
            }
            Value::Object(o)
        }
        _ => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect()),
    }
}

fn random_op(rng: &mut Rng) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("op".into(), Value::from(rng.pick(&["add", "Replace", "remove", "REMOVE"])));
    if rng.below(5) > 0 {
        o.insert("path".into(), Value::from(rng.pick(STRINGS)));
    }
    if rng.below(5) > 0 {
        o.insert("value".into(), random_value(rng, 1));
    }
    Value::Object(o)
}

#[test]
fn random_patches() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let targets = [(user(), &USER_RESOURCE), (group(), &GROUP_RESOURCE)];
    let mut applied = 0;
    for i in 0..4000 {
        let body = if i % 4 == 0 {
            random_value(&mut rng, 0)
        } else {
            let ops: Vec<Value> = (0..=rng.below(3)).map(|_| random_op(&mut rng)).collect();
            json!({"schemas": [SCHEMA_PATCH_OP], "Operations": ops})
        };
        let ops = match parse_patch(&body) {
            Ok(ops) => ops,
            Err(e) => {
                assert_eq!(e.status, 400, "{body}");
                continue;
            }
        };
        let _ = member_delta(&ops);
        let (orig, rs) = &targets[i % 2];
        let mut r = orig.clone();
        match apply_patch(&mut r, &ops, rs) {
            Ok(_) => {
                applied += 1;
                assert!(r["schemas"].is_array(), "{body} → {r}");
            }
            Err(e) => {
                assert!((400..500).contains(&e.status), "{body}: {e}");
                assert_eq!(&r, orig, "all-or-nothing: {body}");
            }
        }
    }
    assert!(applied > 100, "too few patches applied ({applied})");
}

#[test]
fn random_resources_and_bulks() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for i in 0..3000 {
        let mut b = random_value(&mut rng, 0);
        if i % 2 == 0
            && let Some(o) = b.as_object_mut()
        {
            o.insert("schemas".into(), json!([SCHEMA_USER, SCHEMA_ENTERPRISE_USER]));
            o.insert("userName".into(), json!("u"));
        }
        if let Err(e) = normalize(&b, &USER_RESOURCE, Mode::Create) {
            assert_eq!(e.status, 400, "{b}");
        }
        let ops: Vec<Value> = (0..rng.below(6))
            .map(|k| {
                let mut op = random_value(&mut rng, 2);
                if let Some(o) = op.as_object_mut() {
                    o.insert("method".into(), Value::from(rng.pick(&["POST", "put", "PATCH", "DELETE", "GET"])));
                    o.insert("path".into(), Value::from(rng.pick(&["/Users", "/Groups/bulkId:a", "/Users/1"])));
                    o.insert("bulkId".into(), Value::from(["a", "b", "c", "d", "e", "f"][k]));
                    o.insert(
                        "data".into(),
                        json!({"members": [{"value": rng.pick(&["bulkId:a", "bulkId:b", "bulkId:c", "x"])}]}),
                    );
                }
                op
            })
            .collect();
        match parse_bulk(&json!({"schemas": [SCHEMA_BULK_REQUEST], "Operations": ops}), 5) {
            Ok(req) => {
                let (order, circular) = execution_order(&req.operations);
                let mut all: Vec<usize> = order.iter().chain(&circular).copied().collect();
                all.sort_unstable();
                assert_eq!(all, (0..req.operations.len()).collect::<Vec<_>>());
            }
            Err(e) => assert!(e.status == 400 || e.status == 413, "{e}"),
        }
    }
}

#[test]
fn random_list_params() {
    let mut rng = Rng(42);
    let names = ["filter", "sortBy", "sortOrder", "startIndex", "count", "attributes", "excludedAttributes", "x"];
    for _ in 0..3000 {
        let q: Vec<(String, String)> = (0..rng.below(4))
            .map(|_| {
                let v = if rng.below(2) == 0 { random_text(&mut rng) } else { rng.below(1000).to_string() };
                ((rng.pick(&names)).to_owned(), v)
            })
            .collect();
        match crate::list::parse_list_params(&q, 100) {
            Ok(p) => assert!(p.start_index >= 1 && p.count.is_none_or(|c| c <= 100)),
            Err(e) => assert_eq!(e.status, 400),
        }
    }
}
