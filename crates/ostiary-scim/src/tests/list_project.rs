//! List parameters, the SearchRequest body, ListResponse, and projection.

use super::*;
use crate::list::{list_response, parse_list_params, parse_search_request};
use crate::project::{parse_attribute_list, project, strip_never};

const ENT: &str = SCHEMA_ENTERPRISE_USER;

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn list_params_table() {
    // (query, start_index, count)
    type Row = (&'static [(&'static str, &'static str)], u64, Option<u32>);
    let table: &[Row] = &[
        (&[], 1, None),
        (&[("startIndex", "0")], 1, None),
        (&[("startIndex", "-5")], 1, None),
        (&[("startIndex", "7")], 7, None),
        (&[("startIndex", "99999999999999999999")], i64::MAX as u64, None),
        (&[("count", "-1")], 1, Some(0)),
        (&[("count", "0")], 1, Some(0)),
        (&[("count", "20")], 1, Some(20)),
        (&[("count", "5000")], 1, Some(100)),
        (&[("count", "99999999999999999999")], 1, Some(100)),
        (&[("count", "-99999999999999999999")], 1, Some(0)),
        (&[("STARTINDEX", "3"), ("Count", "4")], 3, Some(4)),
        (&[("unknown", "x"), ("unknown", "y")], 1, None),
    ];
    for (query, start, count) in table {
        let p = parse_list_params(&q(query), 100).unwrap_or_else(|e| panic!("{query:?}: {e}"));
        assert_eq!((p.start_index, p.count), (*start, *count), "{query:?}");
    }
    let p = parse_list_params(
        &q(&[
            ("filter", "userName eq \"bjensen\""),
            ("sortBy", "name.familyName"),
            ("sortOrder", "Descending"),
            ("excludedAttributes", "members"),
        ]),
        100,
    )
    .unwrap();
    assert_eq!(p.filter.unwrap().to_string(), r#"userName eq "bjensen""#);
    assert_eq!(p.sort_by.unwrap().to_string(), "name.familyName");
    assert!(p.descending);
    assert_eq!(p.excluded.len(), 1);
    assert!(parse_list_params(&q(&[("filter", "")]), 100).unwrap().filter.is_none());
}

#[test]
fn list_params_errors() {
    let table: &[(&[(&str, &str)], ScimType)] = &[
        (&[("count", "ten")], ScimType::InvalidValue),
        (&[("startIndex", "1.5")], ScimType::InvalidValue),
        (&[("filter", "a pr"), ("filter", "b pr")], ScimType::InvalidValue),
        (&[("count", "1"), ("COUNT", "2")], ScimType::InvalidValue),
        (&[("sortOrder", "up")], ScimType::InvalidValue),
        (&[("sortBy", "a b")], ScimType::InvalidValue),
        (&[("attributes", "userName"), ("excludedAttributes", "emails")], ScimType::InvalidValue),
        (&[("filter", "userName eq")], ScimType::InvalidFilter),
        (&[("attributes", "emails[")], ScimType::InvalidPath),
    ];
    for (query, t) in table {
        let e = parse_list_params(&q(query), 100).expect_err(&format!("{query:?}"));
        assert_eq!((e.status, e.scim_type), (400, Some(*t)), "{query:?}");
    }
}

#[test]
fn search_request() {
    let p = parse_search_request(
        &json!({
            "schemas": [SCHEMA_SEARCH_REQUEST],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        }),
        50,
    )
    .unwrap();
    assert_eq!((p.attributes.len(), p.count, p.start_index), (2, Some(10), 1));
    let p = parse_search_request(&json!({"excludedAttributes": "members, externalId", "count": -3}), 50).unwrap();
    assert_eq!((p.excluded.len(), p.count), (2, Some(0)));
    assert!(parse_search_request(&json!({"schemas": [SCHEMA_USER]}), 50).is_err());
    assert!(parse_search_request(&json!({"count": "x"}), 50).is_err());
    assert!(parse_search_request(&json!({"filter": 5}), 50).is_err());
    assert!(parse_search_request(&json!([]), 50).is_err());
}

#[test]
fn list_response_shape() {
    let v = list_response(vec![json!({"id": "a"})], 7, 3);
    assert_eq!(
        v,
        json!({"schemas": [SCHEMA_LIST_RESPONSE], "totalResults": 7, "itemsPerPage": 1, "startIndex": 3, "Resources": [{"id": "a"}]})
    );
}

#[test]
fn attribute_lists() {
    let l =
        parse_attribute_list(&format!(" userName , emails[type eq \"work\"],{ENT}:employeeNumber,, name.givenName "))
            .unwrap();
    let shown: Vec<String> = l.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["userName", "emails", &format!("{ENT}:employeeNumber"), "name.givenName"]);
    assert!(parse_attribute_list("").unwrap().is_empty());
    assert!(parse_attribute_list("emails[value eq \"a,b\"]").unwrap().len() == 1);
    assert_eq!(parse_attribute_list("a b").unwrap_err().scim_type, Some(ScimType::InvalidPath));
    assert!(parse_attribute_list(&vec!["a"; MAX_ATTRIBUTE_PATHS + 1].join(",")).is_err());
}

fn proj(r: &Value, rs: &ResourceSchema, attrs: &str, excl: &str) -> Value {
    project(r, rs, &parse_attribute_list(attrs).unwrap(), &parse_attribute_list(excl).unwrap())
}

#[test]
fn projection() {
    let u = user();
    let id = u["id"].clone();
    assert_eq!(
        proj(&u, &USER_RESOURCE, "userName", ""),
        json!({"schemas": [SCHEMA_USER], "id": id, "userName": "bjensen@example.com"})
    );
    assert_eq!(proj(&u, &USER_RESOURCE, "NAME.givenName", "")["name"], json!({"givenName": "Barbara"}));
    assert_eq!(
        proj(&u, &USER_RESOURCE, "emails.value", "")["emails"],
        json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}])
    );
    assert_eq!(
        proj(&u, &USER_RESOURCE, "emails.value,emails.type", "")["emails"][1],
        json!({"value": "babs@jensen.org", "type": "home"})
    );
    let p = proj(&u, &USER_RESOURCE, &format!("{ENT}:department"), "");
    assert_eq!(p, json!({"schemas": [SCHEMA_USER, ENT], "id": id, ENT: {"department": "Tour Operations"}}));
    let p = proj(&u, &USER_RESOURCE, ENT, "");
    assert_eq!(p[ENT]["manager"]["displayName"], "John Smith");
    assert!(proj(&u, &USER_RESOURCE, "password,userName", "").get("password").is_none());
    assert!(proj(&u, &USER_RESOURCE, "bogus", "").get("bogus").is_none());
    // scim2-tester's pick: the first optional readWrite attribute (`externalId`, a common one).
    assert_eq!(proj(&u, &USER_RESOURCE, "externalId", "")["externalId"], "bjensen");
    assert!(proj(&u, &USER_RESOURCE, "", "externalId").get("externalId").is_none());

    let p = proj(&u, &USER_RESOURCE, "", "emails,name.familyName,id,password");
    assert!(p.get("emails").is_none() && p.get("password").is_none());
    assert_eq!(p["id"], id);
    assert_eq!(p["name"], json!({"formatted": "Ms. Barbara J Jensen III", "givenName": "Barbara"}));
    assert_eq!(p["meta"], u["meta"]);
    assert_eq!(p[ENT], u[ENT]);
    let p = proj(&u, &USER_RESOURCE, "", ENT);
    assert!(p.get(ENT).is_none());
    assert_eq!(p["schemas"], json!([SCHEMA_USER]));
    let p = proj(&u, &USER_RESOURCE, "", &format!("{ENT}:manager"));
    assert!(p[ENT].get("manager").is_none() && p[ENT].get("department").is_some());

    let g = proj(&group(), &GROUP_RESOURCE, "", "members");
    assert_eq!(
        g,
        json!({"schemas": [SCHEMA_GROUP], "id": "e9e30dba-f08f-4109-8486-d5c6a331660a", "displayName": "Tour Guides"})
    );
    assert_eq!(proj(&group(), &GROUP_RESOURCE, "", "")["members"], group()["members"]);

    let mut s = u.clone();
    strip_never(&mut s, &USER_RESOURCE);
    assert!(s.get("password").is_none());
    assert_eq!(s.as_object().unwrap().len(), u.as_object().unwrap().len() - 1);
}
