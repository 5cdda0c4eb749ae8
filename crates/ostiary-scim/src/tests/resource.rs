//! `normalize` (Entra's POST bodies, the Postman capitalisation, type and schema errors) and
//! `check_immutables`.

use super::*;
use crate::resource::{Mode, check_immutables, normalize};
use crate::schema::{AttrDef, AttrType, Schema};

const ENT: &str = SCHEMA_ENTERPRISE_USER;

fn norm(b: Value) -> Value {
    normalize(&b, &USER_RESOURCE, Mode::Create).unwrap_or_else(|e| panic!("{b}: {e}"))
}

#[test]
fn entra_post_user() {
    let r = norm(json!({
        "schemas": [SCHEMA_USER, ENT],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    }));
    assert_eq!(
        r,
        json!({
            "schemas": [SCHEMA_USER],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"}
        })
    );
}

#[test]
fn entra_post_group_with_microsoft_schema() {
    let r = normalize(
        &json!({
            "schemas": [SCHEMA_GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"}
        }),
        &GROUP_RESOURCE,
        Mode::Create,
    )
    .unwrap();
    assert_eq!(
        r,
        json!({"schemas": [SCHEMA_GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName"})
    );
}

#[test]
fn postman_capitalisation_and_coercion() {
    let r = norm(json!({
        "schemas": [SCHEMA_USER],
        "UserName": "UserName123",
        "Active": "True",
        "DisplayName": "BobIsAmazing",
        "Emails": [{"Primary": true, "Type": "work", "Value": "testing@bob.com"}, {"Primary": "False", "Type": "home", "Value": "testinghome@bob.com"}],
        "Name": {"FamilyName": "barley", "GivenName": "bob"},
        "name.middleName": "m",
        "urn:ietf:params:scim:schemas:core:2.0:User:title": "T",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D",
        "id": "client-chosen",
        "groups": [{"value": "g"}],
        "unknownThing": 1
    }));
    assert_eq!(
        r,
        json!({
            "schemas": [SCHEMA_USER, ENT],
            "userName": "UserName123",
            "active": true,
            "displayName": "BobIsAmazing",
            "emails": [{"primary": true, "type": "work", "value": "testing@bob.com"}, {"primary": false, "type": "home", "value": "testinghome@bob.com"}],
            "name": {"familyName": "barley", "givenName": "bob", "middleName": "m"},
            "title": "T",
            ENT: {"department": "D"}
        })
    );
}

#[test]
fn extension_handling() {
    // Extension data with its URN missing from `schemas`: added. readOnly sub dropped.
    let r = norm(json!({
        "schemas": [SCHEMA_USER],
        "userName": "u",
        ENT: {"employeeNumber": "1", "manager": {"value": "m", "displayName": "ignored"}}
    }));
    assert_eq!(r["schemas"], json!([SCHEMA_USER, ENT]));
    assert_eq!(r[ENT], json!({"employeeNumber": "1", "manager": {"value": "m"}}));
    let e = normalize(&json!({"schemas": [SCHEMA_USER], "userName": "u", ENT: "x"}), &USER_RESOURCE, Mode::Replace)
        .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    // Full user round-trips minus readOnly attributes.
    let r = normalize(&user(), &USER_RESOURCE, Mode::Replace).unwrap();
    for gone in ["id", "meta", "groups"] {
        assert!(r.get(gone).is_none(), "{gone}");
    }
    assert_eq!(r["password"], "t1meMa$heen");
    assert_eq!(r[ENT]["manager"], json!({"value": "26118915-6090-4610-87e4-49d8ca9f808d"}));
    assert_eq!(r["emails"], user()["emails"]);
}

#[test]
fn errors() {
    let cases: &[(Value, ScimType, &str)] = &[
        (json!({"userName": "u"}), ScimType::InvalidSyntax, "schemas"),
        (json!({"schemas": SCHEMA_USER, "userName": "u"}), ScimType::InvalidSyntax, "schemas"),
        (json!({"schemas": [1], "userName": "u"}), ScimType::InvalidSyntax, "schemas"),
        (json!({"schemas": [SCHEMA_GROUP], "userName": "u"}), ScimType::InvalidValue, "unknown schema"),
        (json!({"schemas": [ENT], "userName": "u"}), ScimType::InvalidValue, SCHEMA_USER),
        (
            json!({"schemas": [SCHEMA_USER, "urn:example:unknown"], "userName": "u"}),
            ScimType::InvalidValue,
            "unknown schema",
        ),
        (json!({"schemas": [SCHEMA_USER]}), ScimType::InvalidValue, "'userName' is required"),
        (json!({"schemas": [SCHEMA_USER], "userName": ""}), ScimType::InvalidValue, "'userName' is required"),
        (json!({"schemas": [SCHEMA_USER], "userName": 5}), ScimType::InvalidValue, "'userName'"),
        (json!({"schemas": [SCHEMA_USER], "userName": "u", "active": "maybe"}), ScimType::InvalidValue, "'active'"),
        (json!({"schemas": [SCHEMA_USER], "userName": "u", "name": "x"}), ScimType::InvalidValue, "'name'"),
        (
            json!({"schemas": [SCHEMA_USER], "userName": "u", "name": {"givenName": 1}}),
            ScimType::InvalidValue,
            "'name.givenName'",
        ),
        (json!({"schemas": [SCHEMA_USER], "userName": "u", "title": ["a"]}), ScimType::InvalidValue, "'title'"),
        (json!({"schemas": [SCHEMA_USER], "userName": "u", "emails": [[1]]}), ScimType::InvalidValue, "'emails'"),
        (
            json!({"schemas": [SCHEMA_USER], "userName": "u", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": "true"}]}),
            ScimType::InvalidValue,
            "more than one primary",
        ),
        (json!([1]), ScimType::InvalidSyntax, "object"),
    ];
    for (b, t, word) in cases {
        let e = normalize(b, &USER_RESOURCE, Mode::Create).expect_err(&b.to_string());
        assert_eq!((e.status, e.scim_type), (400, Some(*t)), "{b}");
        assert!(e.detail.contains(word), "{b}: {}", e.detail);
    }
    let e = normalize(&json!({"schemas": [SCHEMA_GROUP]}), &GROUP_RESOURCE, Mode::Create).unwrap_err();
    assert!(e.detail.contains("displayName"));
}

static IMM_ATTRS: &[AttrDef] = &[
    AttrDef::new("code", AttrType::String, "immutable").mutab(Mutability::Immutable),
    AttrDef::new("free", AttrType::String, "readWrite"),
];
static IMM_SCHEMA: Schema = Schema { id: "urn:test:Thing", name: "Thing", description: "", attributes: IMM_ATTRS };
static IMM_RESOURCE: ResourceSchema =
    ResourceSchema { name: "Thing", endpoint: "/Things", core: &IMM_SCHEMA, extensions: &[] };

#[test]
fn immutables() {
    let old = json!({"code": "A", "free": "x"});
    assert!(check_immutables(&old, &json!({"code": "A", "free": "y"}), &IMM_RESOURCE).is_ok());
    let e = check_immutables(&old, &json!({"code": "B"}), &IMM_RESOURCE).unwrap_err();
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::Mutability)));
    assert!(check_immutables(&old, &json!({"free": "y"}), &IMM_RESOURCE).is_err());
    assert!(check_immutables(&json!({"free": "x"}), &json!({"code": "B"}), &IMM_RESOURCE).is_ok(), "unset may be set");
    // Group members' immutable `value` does not stop replacing the member list.
    let mut g2 = group();
    g2["members"] = json!([{"value": "new"}]);
    assert!(check_immutables(&group(), &g2, &GROUP_RESOURCE).is_ok());
    assert!(check_immutables(&user(), &json!({"userName": "other"}), &USER_RESOURCE).is_ok());
}
