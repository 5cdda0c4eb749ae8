//! PATCH: every Entra request shape of entra-compat §8, the RFC 7644 §3.5.2 examples, mutability
//! and other errors, all-or-nothing, and `member_delta`.

use super::*;
use crate::patch::{PatchOpKind, apply_patch, member_delta, parse_patch};

const ENT: &str = SCHEMA_ENTERPRISE_USER;

fn body(ops: Value) -> Value {
    json!({ "schemas": [SCHEMA_PATCH_OP], "Operations": ops })
}

/// Parses and applies; returns (changed, resource).
fn run(resource: &Value, rs: &ResourceSchema, ops: Value) -> Result<(bool, Value), ScimError> {
    let ops = parse_patch(&body(ops))?;
    let mut r = resource.clone();
    let changed = apply_patch(&mut r, &ops, rs)?;
    Ok((changed, r))
}

fn ok(resource: &Value, rs: &ResourceSchema, ops: Value) -> Value {
    let (changed, r) = run(resource, rs, ops.clone()).unwrap_or_else(|e| panic!("{ops}: {e}"));
    assert!(changed, "{ops} changed nothing");
    r
}

fn err(resource: &Value, rs: &ResourceSchema, ops: Value) -> ScimError {
    let ops2 = parse_patch(&body(ops.clone())).unwrap_or_else(|e| panic!("{ops}: {e}"));
    let mut r = resource.clone();
    let e = apply_patch(&mut r, &ops2, rs).expect_err(&ops.to_string());
    assert_eq!(&r, resource, "all-or-nothing: {ops}");
    assert_eq!(e.status, 400);
    e
}

fn member_ids(g: &Value) -> Vec<&str> {
    g["members"].as_array().map(|a| a.iter().map(|m| m["value"].as_str().unwrap()).collect()).unwrap_or_default()
}

#[test]
fn entra_user_shapes() {
    // Replace a work email through a value path, and a family name.
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
        ]),
    );
    assert_eq!(r["emails"][0], json!({"value": "updatedEmail@microsoft.com", "type": "work", "primary": true}));
    assert_eq!(r["emails"][1]["value"], "babs@jensen.org");
    assert_eq!(r["name"]["familyName"], "updatedFamilyName");
    assert_eq!(r["name"]["givenName"], "Barbara");

    // The value path creates the element when none matches (Entra relies on it).
    let bare = json!({"schemas": [SCHEMA_USER], "id": "1", "userName": "u"});
    let r = ok(
        &bare,
        &USER_RESOURCE,
        json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@b.c"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].postalCode", "value": "12345"}
        ]),
    );
    assert_eq!(r["emails"], json!([{"type": "work", "value": "a@b.c"}]));
    assert_eq!(r["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555"}]));
    assert_eq!(r["addresses"], json!([{"type": "work", "streetAddress": "1 Main St", "postalCode": "12345"}]));

    // Disable: boolean as a string (default mode), and as a boolean (flagged mode).
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(r["active"], false);
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(r["active"], false);

    // Quirk 4: path-less replace with dotted and full-URN keys.
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "replace", "value": {
            "name.givenName": "Babs",
            "name.familyName": "Jensen-Smith",
            "displayName": "Babs J",
            "active": "True",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": {"value": "m2"}
        }}]),
    );
    assert_eq!(
        (r["name"]["givenName"].as_str(), r["name"]["familyName"].as_str()),
        (Some("Babs"), Some("Jensen-Smith"))
    );
    assert_eq!(r["name"]["formatted"], "Ms. Barbara J Jensen III");
    assert_eq!((r["displayName"].as_str(), r["active"].as_bool()), (Some("Babs J"), Some(true)));
    assert_eq!(r[ENT]["employeeNumber"], "42");
    assert_eq!(r[ENT]["manager"], json!({"value": "m2", "displayName": "John Smith"}));

    // The extension URN as a key whose value is an object.
    let bare = json!({"schemas": [SCHEMA_USER], "id": "1", "userName": "u"});
    let r = ok(&bare, &USER_RESOURCE, json!([{"op": "add", "value": {ENT: {"department": "R&D"}}}]));
    assert_eq!(r[ENT], json!({"department": "R&D"}));
    assert_eq!(r["schemas"], json!([SCHEMA_USER, ENT]));

    // Quirk 5: single-valued Add with a path replaces.
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "Add", "path": "nickName", "value": "Barbie"}]));
    assert_eq!(r["nickName"], "Barbie");

    // Manager through the extension URN path.
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": "m3"}}]),
    );
    assert_eq!(r[ENT]["manager"]["value"], "m3");
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "Remove", "path": format!("{ENT}:manager")}]));
    assert!(r[ENT].get("manager").is_none());
}

#[test]
fn entra_group_shapes() {
    let g = group();
    let r = ok(&g, &GROUP_RESOURCE, json!([{"op": "Replace", "path": "displayName", "value": "Renamed"}]));
    assert_eq!(r["displayName"], "Renamed");

    let r =
        ok(&g, &GROUP_RESOURCE, json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u3"}]}]));
    assert_eq!(member_ids(&r), ["2819c223-7f76-453a-919d-413861904646", "902c246b-6245-4190-8e05-00816be7344a", "u3"]);
    assert_eq!(r["members"][2], json!({"value": "u3"}));

    // Adding an existing member changes nothing.
    let (changed, r) = run(
        &g,
        &GROUP_RESOURCE,
        json!([{"op": "Add", "path": "members", "value": [{"value": "2819c223-7f76-453a-919d-413861904646"}]}]),
    )
    .unwrap();
    assert!(!changed);
    assert_eq!(r, g);

    // Quirk 3: remove with a value array removes just those.
    let r = ok(
        &g,
        &GROUP_RESOURCE,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "2819c223-7f76-453a-919d-413861904646"}]}]),
    );
    assert_eq!(member_ids(&r), ["902c246b-6245-4190-8e05-00816be7344a"]);

    // Flagged mode: RFC form.
    let r = ok(
        &g,
        &GROUP_RESOURCE,
        json!([{"op": "remove", "path": "members[value eq \"902c246b-6245-4190-8e05-00816be7344a\"]"}]),
    );
    assert_eq!(member_ids(&r), ["2819c223-7f76-453a-919d-413861904646"]);

    // Removing a non-member is an idempotent no-op.
    let (changed, _) =
        run(&g, &GROUP_RESOURCE, json!([{"op": "remove", "path": "members[value eq \"nope\"]"}])).unwrap();
    assert!(!changed);

    // Removing the last members leaves no attribute.
    let r = ok(&g, &GROUP_RESOURCE, json!([{"op": "remove", "path": "members"}]));
    assert!(r.get("members").is_none());

    // Postman: a "name" member inside an op, bare-string member values.
    let r = ok(
        &g,
        &GROUP_RESOURCE,
        json!([{"name": "addMember", "op": "add", "path": "members", "value": [{"displayName": "x", "value": "string id 1"}, "string id 2"]}]),
    );
    assert_eq!(&member_ids(&r)[2..], ["string id 1", "string id 2"]);
}

#[test]
fn rfc7644_examples() {
    // §3.5.2.1: path-less add.
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "add", "value": {"emails": [{"value": "babs@example.org", "type": "home"}], "nickname": "Babsie"}}]),
    );
    assert_eq!(r["emails"].as_array().unwrap().len(), 3);
    assert_eq!(r["nickName"], "Babsie");
    // §3.5.2.1: add members (display is readOnly and dropped).
    let r = ok(
        &group(),
        &GROUP_RESOURCE,
        json!([{"op": "add", "path": "members", "value": [{"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/x", "value": "x"}]}]),
    );
    assert_eq!(r["members"][2], json!({"$ref": "https://example.com/v2/Users/x", "value": "x"}));
    // §3.5.2.2: remove all members, a value-path selection, then replace members by remove + add.
    let r = ok(
        &group(),
        &GROUP_RESOURCE,
        json!([
            {"op": "remove", "path": "members"},
            {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]}
        ]),
    );
    assert_eq!(member_ids(&r), ["a", "b"]);
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    );
    assert_eq!(r["emails"], json!([{"value": "babs@jensen.org", "type": "home"}]));
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]));
    assert_eq!(r["emails"][0], json!({"value": "bjensen@example.com", "type": "work"}));
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "remove", "path": "name.formatted"}]));
    assert!(r["name"].get("formatted").is_none());
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "remove", "path": "title"}]));
    assert!(r.get("title").is_none());
    // §3.5.2.3: replace members, a value-path element, a value-path sub-attribute, path-less.
    let r = ok(&group(), &GROUP_RESOURCE, json!([{"op": "replace", "path": "members", "value": [{"value": "c"}]}]));
    assert_eq!(member_ids(&r), ["c"]);
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {"type": "work", "streetAddress": "911 Universal City Plaza"}}]),
    );
    assert_eq!(r["addresses"], json!([{"type": "work", "streetAddress": "911 Universal City Plaza"}]));
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
    );
    assert_eq!(r["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(r["addresses"][0]["locality"], "Hollywood");
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "replace", "value": {"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}], "nickname": "Babs2"}}]),
    );
    assert_eq!(r["emails"].as_array().unwrap().len(), 1);
    // Whole extension: add merges, remove deletes it and its schema URN.
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "add", "path": ENT, "value": {"costCenter": "9"}}]));
    assert_eq!((r[ENT]["costCenter"].as_str(), r[ENT]["division"].as_str()), (Some("9"), Some("Theme Park")));
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "remove", "path": ENT}]));
    assert!(r.get(ENT).is_none());
    assert_eq!(r["schemas"], json!([SCHEMA_USER]));
    // Removing the last extension attribute removes the extension.
    let bare = json!({"schemas": [SCHEMA_USER, ENT], "id": "1", "userName": "u", ENT: {"department": "x"}});
    let r = ok(&bare, &USER_RESOURCE, json!([{"op": "remove", "path": format!("{ENT}:department")}]));
    assert_eq!(r, json!({"schemas": [SCHEMA_USER], "id": "1", "userName": "u"}));
}

#[test]
fn multi_valued_semantics() {
    // primary:true on a new element clears the others.
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "add", "path": "emails", "value": [{"value": "n@x", "primary": true}]}]),
    );
    let prim: Vec<bool> = r["emails"].as_array().unwrap().iter().map(|e| e["primary"] == true).collect();
    assert_eq!(prim, [false, false, true]);
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    );
    assert_eq!((r["emails"][0]["primary"].as_bool(), r["emails"][1]["primary"].as_bool()), (Some(false), Some(true)));
    // Adding an identical value dedupes; replace of a multi-valued attribute replaces all.
    let (changed, _) = run(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "add", "path": "phoneNumbers", "value": [{"value": "555-555-8377", "type": "work"}]}]),
    )
    .unwrap();
    assert!(!changed);
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "replace", "path": "phoneNumbers", "value": []}]));
    assert!(r.get("phoneNumbers").is_none());
    // Sub-attribute of every element.
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "replace", "path": "emails.type", "value": "other"}]));
    assert!(r["emails"].as_array().unwrap().iter().all(|e| e["type"] == "other"));
    // Case of attribute names in paths and values is canonicalised.
    let r = ok(
        &user(),
        &USER_RESOURCE,
        json!([{"op": "add", "path": "Emails", "value": [{"Value": "c@d", "Type": "work", "Primary": "False"}]}]),
    );
    assert_eq!(r["emails"][2], json!({"value": "c@d", "type": "work", "primary": false}));
    let r = ok(&user(), &USER_RESOURCE, json!([{"op": "replace", "path": "NAME.GIVENNAME", "value": "B"}]));
    assert_eq!(r["name"]["givenName"], "B");
    // Writing a value equal to the current one reports no change.
    let (changed, _) =
        run(&user(), &USER_RESOURCE, json!([{"op": "replace", "path": "title", "value": "Tour Guide"}])).unwrap();
    assert!(!changed);
}

#[test]
fn errors_and_all_or_nothing() {
    let u = user();
    let cases: &[(Value, ScimType)] = &[
        (json!([{"op": "replace", "path": "id", "value": "x"}]), ScimType::Mutability),
        (json!([{"op": "replace", "path": "meta", "value": {"version": "1"}}]), ScimType::Mutability),
        (json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]), ScimType::Mutability),
        (json!([{"op": "replace", "path": format!("{ENT}:manager.displayName"), "value": "x"}]), ScimType::Mutability),
        (json!([{"op": "replace", "path": "bogus", "value": "x"}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "path": "name.bogus", "value": "x"}]), ScimType::InvalidPath),
        (json!([{"op": "replace", "path": "title[value eq \"x\"]", "value": "x"}]), ScimType::InvalidPath),
        (json!([{"op": "remove", "path": "userName"}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "userName", "value": ""}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "userName", "value": null}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "active", "value": 5}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "active", "value": "yes"}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "title", "value": ["a"]}]), ScimType::InvalidValue),
        (
            json!([{"op": "add", "path": "emails", "value": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}]),
            ScimType::InvalidValue,
        ),
        (json!([{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "work"}]), ScimType::NoTarget),
        (json!([{"op": "replace", "value": "not an object"}]), ScimType::InvalidValue),
        (
            json!([{"op": "replace", "path": "title", "value": "ok"}, {"op": "replace", "path": "id", "value": "x"}]),
            ScimType::Mutability,
        ),
        (json!([{"op": "remove", "path": "title"}, {"op": "remove", "path": "userName"}]), ScimType::InvalidValue),
    ];
    for (ops, t) in cases {
        assert_eq!(err(&u, &USER_RESOURCE, ops.clone()).scim_type, Some(*t), "{ops}");
    }
    let g = group();
    let e = err(
        &g,
        &GROUP_RESOURCE,
        json!([{"op": "replace", "path": "members[value eq \"902c246b-6245-4190-8e05-00816be7344a\"].value", "value": "other"}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    let e = err(&g, &GROUP_RESOURCE, json!([{"op": "remove", "path": "displayName"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn parse_errors() {
    let cases: &[(Value, ScimType)] = &[
        (json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}), ScimType::InvalidSyntax),
        (
            json!({"schemas": [SCHEMA_USER], "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            ScimType::InvalidSyntax,
        ),
        (body(json!([])), ScimType::InvalidValue),
        (body(json!({"op": "add"})), ScimType::InvalidSyntax),
        (body(json!([{"op": "move", "path": "title"}])), ScimType::InvalidSyntax),
        (body(json!([{"path": "title", "value": "x"}])), ScimType::InvalidSyntax),
        (body(json!([{"op": "add", "path": "title"}])), ScimType::InvalidValue),
        (body(json!([{"op": "replace"}])), ScimType::InvalidValue),
        (body(json!([{"op": "remove"}])), ScimType::NoTarget),
        (body(json!([{"op": "remove", "path": ""}])), ScimType::NoTarget),
        (body(json!([{"op": "remove", "path": "emails[type eq"}])), ScimType::InvalidPath),
        (body(json!([{"op": "remove", "path": 5}])), ScimType::InvalidPath),
        (body(json!(["x"])), ScimType::InvalidSyntax),
        (body(Value::Array(vec![json!({"op": "remove", "path": "title"}); MAX_PATCH_OPS + 1])), ScimType::TooMany),
        (json!("nope"), ScimType::InvalidSyntax),
    ];
    for (b, t) in cases {
        let e = parse_patch(b).expect_err(&b.to_string());
        assert_eq!((e.status, e.scim_type), (400, Some(*t)), "{b}");
    }
    let ops = parse_patch(&json!({"schemas": [SCHEMA_PATCH_OP.to_uppercase()], "operations": [{"OP": "REPLACE", "Path": "title", "Value": "x"}]})).unwrap();
    assert_eq!((ops[0].op, ops[0].path.as_ref().unwrap().attr.as_str()), (PatchOpKind::Replace, "title"));
}

fn delta(ops: Value) -> Option<(Vec<String>, Vec<String>)> {
    member_delta(&parse_patch(&body(ops)).unwrap())
}

#[test]
fn member_delta_forms() {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        delta(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "a"}, {"value": "b"}]}])),
        Some((s(&["a", "b"]), s(&[])))
    );
    assert_eq!(
        delta(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "a"}]}])),
        Some((s(&[]), s(&["a"])))
    );
    assert_eq!(
        delta(json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}])),
        Some((s(&[]), s(&["a", "b"])))
    );
    assert_eq!(delta(json!([{"op": "add", "value": {"members": [{"value": "c"}]}}])), Some((s(&["c"]), s(&[]))));
    assert_eq!(
        delta(json!([
            {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "remove", "path": "members[value eq \"a\"]"}
        ])),
        Some((s(&["b"]), s(&["a"])))
    );
    assert_eq!(
        delta(json!([{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": ["x"]}])),
        Some((s(&["x"]), s(&[])))
    );
    for not_delta in [
        json!([{"op": "replace", "path": "members", "value": [{"value": "a"}]}]),
        json!([{"op": "remove", "path": "members"}]),
        json!([{"op": "remove", "path": "members[type eq \"User\"]"}]),
        json!([{"op": "add", "path": "members", "value": [{"value": "a"}]}, {"op": "replace", "path": "displayName", "value": "x"}]),
        json!([{"op": "add", "path": "members", "value": [{"type": "User"}]}]),
        json!([{"op": "add", "value": {"members": [{"value": "c"}], "displayName": "x"}}]),
        json!([{"op": "remove", "path": "members[value eq \"a\"].type"}]),
    ] {
        assert_eq!(delta(not_delta.clone()), None, "{not_delta}");
    }
}
