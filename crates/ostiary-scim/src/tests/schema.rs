//! Schema data and the discovery documents.

use super::*;
use crate::schema::{ALL_SCHEMAS, COMMON_ATTRS, Returned, Uniqueness};

#[test]
fn user_schema_is_rfc7643_complete() {
    let names: Vec<&str> = USER_SCHEMA.attributes.iter().map(|a| a.name).collect();
    assert_eq!(
        names,
        [
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509Certificates"
        ]
    );
    let a = |n: &str| USER_SCHEMA.attr(n).unwrap();
    assert!(a("USERNAME").required && a("userName").uniqueness == Uniqueness::Server && !a("userName").case_exact);
    assert_eq!((a("password").mutability, a("password").returned), (Mutability::WriteOnly, Returned::Never));
    assert_eq!(a("groups").mutability, Mutability::ReadOnly);
    assert_eq!(a("active").ty, AttrType::Boolean);
    assert_eq!(a("profileUrl").ty, AttrType::Reference);
    let subs: Vec<&str> = a("addresses").sub_attributes.iter().map(|s| s.name).collect();
    assert_eq!(subs, ["formatted", "streetAddress", "locality", "region", "postalCode", "country", "type", "primary"]);
    let subs: Vec<&str> = a("name").sub_attributes.iter().map(|s| s.name).collect();
    assert_eq!(subs, ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"]);
    for mv in ["emails", "phoneNumbers", "ims", "photos", "entitlements", "roles", "x509Certificates"] {
        assert!(a(mv).multi_valued && a(mv).sub("value").is_some() && a(mv).sub("primary").is_some(), "{mv}");
    }
    let ent: Vec<&str> = ENTERPRISE_USER_SCHEMA.attributes.iter().map(|a| a.name).collect();
    assert_eq!(ent, ["employeeNumber", "costCenter", "organization", "division", "department", "manager"]);
    let m = ENTERPRISE_USER_SCHEMA.attr("manager").unwrap();
    assert_eq!(m.sub("displayName").unwrap().mutability, Mutability::ReadOnly);
    let members = GROUP_SCHEMA.attr("members").unwrap();
    assert_eq!(members.sub("value").unwrap().mutability, Mutability::Immutable);
    assert_eq!(members.sub("type").unwrap().canonical_values, ["User", "Group"]);
    assert!(GROUP_SCHEMA.attr("displayName").unwrap().required);
    let common: Vec<(&str, bool)> = COMMON_ATTRS.iter().map(|a| (a.name, a.case_exact)).collect();
    assert_eq!(common, [("id", true), ("externalId", true), ("meta", false)]);
}

#[test]
fn attribute_lookup() {
    let (s, a) = USER_RESOURCE.attr(None, "EXTERNALID").unwrap();
    assert_eq!((s.id, a.name), (SCHEMA_USER, "externalId"));
    let (s, a) = USER_RESOURCE.attr(Some(&SCHEMA_ENTERPRISE_USER.to_lowercase()), "department").unwrap();
    assert_eq!((s.id, a.name), (SCHEMA_ENTERPRISE_USER, "department"));
    assert!(USER_RESOURCE.attr(Some(SCHEMA_ENTERPRISE_USER), "id").is_none());
    assert!(USER_RESOURCE.attr(Some(SCHEMA_USER), "meta").is_some());
    assert!(USER_RESOURCE.attr(Some("urn:nope"), "userName").is_none());
    assert!(GROUP_RESOURCE.attr(None, "userName").is_none());
}

#[test]
fn discovery_documents() {
    let base = "https://idp.example/scim/v2/";
    let list = schemas_list_json(base);
    assert_eq!(list["totalResults"], ALL_SCHEMAS.len());
    let names: Vec<&str> = list["Resources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["User", "EnterpriseUser", "Group", "ServiceProviderConfig", "ResourceType", "Schema"]);
    let u = schema_json(&USER_SCHEMA, base);
    assert_eq!(u["meta"]["location"], format!("https://idp.example/scim/v2/Schemas/{SCHEMA_USER}"));
    let user_name = &u["attributes"][0];
    assert_eq!(
        user_name,
        &json!({
            "name": "userName", "type": "string", "multiValued": false, "required": true, "caseExact": false,
            "mutability": "readWrite", "returned": "default", "uniqueness": "server",
            "description": USER_SCHEMA.attributes[0].description
        })
    );
    let emails = u["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "emails").unwrap();
    assert_eq!(emails["subAttributes"].as_array().unwrap().len(), 4);
    assert!(u["attributes"].as_array().unwrap().iter().all(|a| a["name"] != "id"));
    for s in ALL_SCHEMAS {
        assert_eq!(schema_by_id(&s.id.to_uppercase()).map(|x| x.id), Some(s.id));
    }
    assert!(schema_by_id("urn:nope").is_none());

    let rt = resource_types_json(base);
    assert_eq!(rt["totalResults"], 2);
    assert_eq!(
        rt["Resources"][0],
        json!({
            "schemas": [SCHEMA_RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
            "description": "User Account", "schema": SCHEMA_USER,
            "schemaExtensions": [{"schema": SCHEMA_ENTERPRISE_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": "https://idp.example/scim/v2/ResourceTypes/User"}
        })
    );
    assert!(resource_type_json(&GROUP_RESOURCE, base).get("schemaExtensions").is_none());
    assert_eq!(resource_type_by_id("group").map(|r| r.endpoint), Some("/Groups"));

    let caps =
        ProviderCaps { max_operations: 100, max_payload_size: 1 << 20, max_results: 200, documentation_uri: None };
    let spc = service_provider_config_json(base, &caps);
    assert_eq!(spc["bulk"], json!({"supported": true, "maxOperations": 100, "maxPayloadSize": 1 << 20}));
    assert_eq!(spc["filter"], json!({"supported": true, "maxResults": 200}));
    assert_eq!(
        (spc["changePassword"]["supported"].as_bool(), spc["sort"]["supported"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!((spc["etag"]["supported"].as_bool(), spc["patch"]["supported"].as_bool()), (Some(true), Some(true)));
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert!(spc.get("documentationUri").is_none());
    let caps = ProviderCaps { documentation_uri: Some("https://docs".into()), ..caps };
    assert_eq!(service_provider_config_json(base, &caps)["documentationUri"], "https://docs");
}
