//! Bulk parsing, `bulkId` resolution, ordering with references and cycles, results; ETags.

use super::*;
use crate::bulk::{BulkMethod, execution_order, parse_bulk, resolve_bulk_ids, resolve_bulk_path};
use std::collections::HashMap;

fn req(ops: Value) -> Value {
    json!({"schemas": [SCHEMA_BULK_REQUEST], "failOnErrors": 1, "Operations": ops})
}

fn post(bulk_id: &str, path: &str, data: Value) -> Value {
    json!({"method": "POST", "bulkId": bulk_id, "path": path, "data": data})
}

#[test]
fn rfc_example_orders_references_first() {
    // RFC 7644 §3.7.2: the group refers to a user created later in the request.
    let b = parse_bulk(
        &req(json!([
            post("ytrewq", "/Groups", json!({"schemas": [SCHEMA_GROUP], "displayName": "Tour Guides", "members": [{"type": "User", "value": "bulkId:qwerty"}]})),
            post("qwerty", "/Users", json!({"schemas": [SCHEMA_USER], "userName": "Alice"})),
            {"method": "delete", "path": "/Users/b7c14771-226c-4d05-8860-134711653041", "version": "W/\"0ee8add0a938e1a\""},
            {"method": "PATCH", "path": "/Groups/bulkId:ytrewq", "data": {"schemas": [SCHEMA_PATCH_OP], "Operations": []}}
        ])),
        10,
    )
    .unwrap();
    assert_eq!(b.fail_on_errors, Some(1));
    assert_eq!(b.operations[2].method, BulkMethod::Delete);
    assert_eq!(b.operations[2].version.as_deref(), Some("W/\"0ee8add0a938e1a\""));
    assert_eq!(execution_order(&b.operations), (vec![1, 0, 2, 3], vec![]));

    let created: HashMap<String, String> = [("qwerty".to_owned(), "92b725cd".to_owned())].into();
    let mut data = b.operations[0].data.clone().unwrap();
    resolve_bulk_ids(&mut data, &created).unwrap();
    assert_eq!(data["members"][0]["value"], "92b725cd");
    let mut other = json!({"a": ["bulkId:nope"]});
    assert_eq!(resolve_bulk_ids(&mut other, &created), Err("nope".to_owned()));
    assert_eq!(resolve_bulk_path("/Groups/bulkId:qwerty", &created), Ok("/Groups/92b725cd".to_owned()));
    assert_eq!(resolve_bulk_path("/Groups/bulkId:x", &created), Err("x".to_owned()));
}

#[test]
fn cycles_are_reported() {
    // RFC 7644 §3.7.1: two groups referring to each other; a third depends on the cycle; one is free.
    let b = parse_bulk(
        &req(json!([
            post("a", "/Groups", json!({"displayName": "A", "members": [{"value": "bulkId:b"}]})),
            post("b", "/Groups", json!({"displayName": "B", "members": [{"value": "bulkId:a"}]})),
            post("c", "/Groups", json!({"displayName": "C", "members": [{"value": "bulkId:a"}]})),
            post("d", "/Users", json!({"userName": "d"})),
            post("e", "/Groups", json!({"displayName": "E", "members": [{"value": "bulkId:e"}]})),
            post(
                "f",
                "/Groups",
                json!({"displayName": "F", "members": [{"value": "bulkId:unknown"}, {"value": "bulkId:d"}]})
            )
        ])),
        10,
    )
    .unwrap();
    assert_eq!(execution_order(&b.operations), (vec![3, 5], vec![0, 1, 2, 4]));
}

#[test]
fn parse_errors() {
    let cases: &[(Value, u16)] = &[
        (json!({"Operations": []}), 400),
        (json!({"schemas": [SCHEMA_BULK_REQUEST]}), 400),
        (req(json!([{"method": "POST", "path": "/Users", "data": {}}])), 400),
        (req(json!([{"method": "GET", "path": "/Users"}])), 400),
        (req(json!([{"method": "PUT", "path": "/Users/1"}])), 400),
        (req(json!([{"method": "DELETE", "path": "Users/1"}])), 400),
        (req(json!([{"method": "DELETE"}])), 400),
        (req(json!([post("x", "/Users", json!({})), post("x", "/Users", json!({}))])), 400),
        (req(json!([{"method": "POST", "bulkId": 5, "path": "/Users", "data": {}}])), 400),
        (req(json!(["x"])), 400),
        (json!({"schemas": [SCHEMA_BULK_REQUEST], "failOnErrors": -1, "Operations": []}), 400),
        (req(Value::Array(vec![json!({"method": "DELETE", "path": "/Users/1"}); 11])), 413),
    ];
    for (b, status) in cases {
        let e = parse_bulk(b, 10).expect_err(&b.to_string());
        assert_eq!(e.status, *status, "{b}");
    }
}

#[test]
fn results() {
    let ok = bulk_op_result(&BulkMethod::Post, Some("qwerty"), Some("https://x/Users/1"), Some("W/\"1\""), 201, None);
    assert_eq!(
        ok,
        json!({"method": "POST", "bulkId": "qwerty", "location": "https://x/Users/1", "version": "W/\"1\"", "status": "201"})
    );
    let e = ScimError::bad(ScimType::InvalidSyntax, "bad");
    let r = bulk_op_result(&BulkMethod::Delete, None, None, None, 400, Some(&e));
    assert_eq!(r["response"]["scimType"], "invalidSyntax");
    assert_eq!(r["status"], "400");
    assert_eq!(bulk_response(vec![ok.clone()]), json!({"schemas": [SCHEMA_BULK_RESPONSE], "Operations": [ok]}));
}

#[test]
fn etags() {
    let cur = weak_etag("abc123");
    assert_eq!(cur, "W/\"abc123\"");
    let table: &[(&str, bool)] = &[
        ("*", true),
        ("W/\"abc123\"", true),
        ("\"abc123\"", true),
        ("w/\"abc123\"", true),
        ("W/\"other\"", false),
        ("W/\"other\", W/\"abc123\"", true),
        ("\"a,b\", \"abc123\"", true),
        ("\"a,b\"", false),
        ("abc123", true),
        ("", false),
        ("W/\"ABC123\"", false),
    ];
    for (h, want) in table {
        assert_eq!(etag_matches(h, &cur), *want, "{h}");
    }
}

#[test]
fn errors_serialise() {
    let e = ScimError::bad(ScimType::InvalidFilter, "bad filter");
    assert_eq!(
        e.to_json(),
        json!({"schemas": [SCHEMA_ERROR], "status": "400", "scimType": "invalidFilter", "detail": "bad filter"})
    );
    assert_eq!(ScimError::not_found("x").to_json(), json!({"schemas": [SCHEMA_ERROR], "status": "404", "detail": "x"}));
    assert_eq!(ScimError::conflict_uniqueness("x").scim_type, Some(ScimType::Uniqueness));
    assert_eq!((ScimError::precondition_failed("x").status, ScimError::too_large("x").status), (412, 413));
    let names: Vec<&str> = [
        ScimType::InvalidFilter,
        ScimType::TooMany,
        ScimType::Uniqueness,
        ScimType::Mutability,
        ScimType::InvalidSyntax,
        ScimType::InvalidPath,
        ScimType::NoTarget,
        ScimType::InvalidValue,
        ScimType::InvalidVers,
        ScimType::Sensitive,
    ]
    .iter()
    .map(ScimType::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "invalidFilter",
            "tooMany",
            "uniqueness",
            "mutability",
            "invalidSyntax",
            "invalidPath",
            "noTarget",
            "invalidValue",
            "invalidVers",
            "sensitive"
        ]
    );
}
