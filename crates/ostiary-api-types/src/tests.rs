//! Wire-format tests: msgraph-sdk-style bodies, strictness and PATCH double options.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;
use uuid::Uuid;

#[test]
fn user_create_from_msgraph_sdk_body() {
    // The shape kiota's JsonSerializationWriter produces for `User()` with a password profile.
    let body = r##"{
        "@odata.type": "#microsoft.graph.user",
        "accountEnabled": true,
        "displayName": "Adele Vance",
        "mailNickname": "AdeleV",
        "userPrincipalName": "AdeleV@contoso.test",
        "businessPhones": ["+1 425 555 0109"],
        "passwordProfile": {
            "@odata.type": "#microsoft.graph.passwordProfile",
            "forceChangePasswordNextSignIn": true,
            "password": "xWwvJ]6NMw+bWH-d"
        }
    }"##;
    let u: UserCreate = serde_json::from_str(body).unwrap();
    assert_eq!(u.odata_type.as_deref(), Some("#microsoft.graph.user"));
    assert_eq!(u.account_enabled, Some(true));
    assert_eq!(u.user_principal_name.as_deref(), Some("AdeleV@contoso.test"));
    assert_eq!(u.business_phones, Some(vec!["+1 425 555 0109".to_owned()]));
    let pp = u.password_profile.unwrap();
    assert_eq!(pp.password.as_deref(), Some("xWwvJ]6NMw+bWH-d"));
    assert_eq!(pp.force_change_password_next_sign_in, Some(true));
    // The password never shows in Debug output.
    assert!(!format!("{pp:?}").contains("xWwvJ"));
}

#[test]
fn unknown_properties_are_rejected_by_name() {
    let err =
        serde_json::from_str::<UserCreate>(r#"{"displayName":"x","favouriteColour":"red"}"#).unwrap_err().to_string();
    assert!(err.contains("favouriteColour"), "{err}");

    let err = serde_json::from_str::<GroupUpdate>(r#"{"membershipRule":"x"}"#).unwrap_err().to_string();
    assert!(err.contains("membershipRule"), "{err}");

    // Nested request types are strict too.
    let err = serde_json::from_str::<ApplicationCreate>(r#"{"displayName":"a","web":{"redirectUris":[],"bogus":1}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bogus"), "{err}");

    let err = serde_json::from_str::<UserCreate>(r#"{"passwordProfile":{"password":"p","extra":true}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("extra"), "{err}");
}

#[test]
fn double_option_distinguishes_absent_and_null() {
    let absent: UserUpdate = serde_json::from_str(r#"{"displayName":"New"}"#).unwrap();
    assert_eq!(absent.display_name.as_deref(), Some("New"));
    assert_eq!(absent.job_title, None);

    let null: UserUpdate = serde_json::from_str(r#"{"jobTitle":null}"#).unwrap();
    assert_eq!(null.job_title, Some(None));

    let set: UserUpdate = serde_json::from_str(r#"{"jobTitle":"Engineer"}"#).unwrap();
    assert_eq!(set.job_title, Some(Some("Engineer".to_owned())));

    // Serialisation round-trips the three states.
    let patch = UserUpdate { job_title: Some(None), department: Some(Some("R&D".to_owned())), ..UserUpdate::default() };
    assert_eq!(serde_json::to_value(&patch).unwrap(), json!({"jobTitle": null, "department": "R&D"}));

    let g: GroupUpdate = serde_json::from_str(r#"{"description":null}"#).unwrap();
    assert_eq!(g.description, Some(None));
    assert_eq!(g.visibility, None);
    let sp: ServicePrincipalUpdate = serde_json::from_str(r#"{"notes":null}"#).unwrap();
    assert_eq!(sp.notes, Some(None));
    assert_eq!(sp.description, None);
    let app: ApplicationUpdate = serde_json::from_str(r#"{"groupMembershipClaims":null,"notes":"n"}"#).unwrap();
    assert_eq!(app.group_membership_claims, Some(None));
    assert_eq!(app.notes, Some(Some("n".to_owned())));
    assert_eq!(app.description, None);
}

#[test]
fn group_create_with_odata_bind() {
    let body = r##"{
        "@odata.type": "#microsoft.graph.group",
        "description": "Self help community for library",
        "displayName": "Library Assist",
        "groupTypes": ["Unified"],
        "mailEnabled": true,
        "mailNickname": "library",
        "securityEnabled": false,
        "owners@odata.bind": ["https://graph.microsoft.com/v1.0/users/26be1845-4119-4801-a799-aea79d09f1a2"],
        "members@odata.bind": ["https://graph.microsoft.com/v1.0/users/ff7cb387-6688-423c-8188-3da9532a73cc"]
    }"##;
    let g: GroupCreate = serde_json::from_str(body).unwrap();
    assert_eq!(g.group_types, Some(vec!["Unified".to_owned()]));
    assert_eq!(g.members_bind.as_ref().map(Vec::len), Some(1));
    assert_eq!(g.owners_bind.as_ref().map(Vec::len), Some(1));
    let back = serde_json::to_value(&g).unwrap();
    assert!(back.get("members@odata.bind").is_some());
    assert!(back.get("visibility").is_none(), "absent properties stay absent");
}

#[test]
fn application_create_full_body() {
    let body = json!({
        "@odata.type": "#microsoft.graph.application",
        "displayName": "Orders API",
        "signInAudience": "AzureADMyOrg",
        "identifierUris": ["api://orders"],
        "groupMembershipClaims": "SecurityGroup",
        "api": {
            "requestedAccessTokenVersion": 2,
            "knownClientApplications": [],
            "preAuthorizedApplications": [],
            "accessTokenSigningAlgorithm": "ES256",
            "oauth2PermissionScopes": [{
                "id": "8a4f5b7c-8a62-4c4d-8c1a-6e4f7f0bd5a1", "value": "access_as_user", "type": "User",
                "isEnabled": true, "adminConsentDisplayName": "Access", "adminConsentDescription": "Access",
                "userConsentDisplayName": null, "userConsentDescription": null
            }]
        },
        "appRoles": [{
            "@odata.type": "#microsoft.graph.appRole",
            "id": "1b4f816e-5eaf-48b9-8613-7923830595ad", "value": "Data.Read.All",
            "allowedMemberTypes": ["Application"], "displayName": "Read", "description": "Read", "isEnabled": true
        }],
        "requiredResourceAccess": [{
            "resourceAppId": "00000003-0000-0000-c000-000000000000",
            "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]
        }],
        "keyCredentials": [{
            "type": "AsymmetricX509Cert", "usage": "Verify", "key": "MIIB", "displayName": "CN=test"
        }],
        "passwordCredentials": [],
        "web": {"redirectUris": ["https://app/cb"], "logoutUrl": null,
                "implicitGrantSettings": {"enableIdTokenIssuance": false, "enableAccessTokenIssuance": false}},
        "spa": {"redirectUris": []},
        "publicClient": {"redirectUris": ["http://localhost"]},
        "isFallbackPublicClient": false,
        "tags": ["t"],
        "notes": "n"
    });
    let app: ApplicationCreate = serde_json::from_value(body).unwrap();
    let api = app.api.as_ref().unwrap();
    assert_eq!(api.access_token_signing_algorithm.as_deref(), Some("ES256"));
    let scope = &api.oauth2_permission_scopes.as_ref().unwrap()[0];
    assert_eq!(scope.kind.as_deref(), Some("User"));
    assert_eq!(app.app_roles.as_ref().unwrap()[0].value.as_deref(), Some("Data.Read.All"));
    assert_eq!(app.required_resource_access.as_ref().unwrap()[0].resource_access[0].kind, "Scope");
    let kc = &app.key_credentials.as_ref().unwrap()[0];
    assert_eq!(kc.kind.as_deref(), Some(KeyCredential::KIND_X509));
    assert_eq!(kc.key_id, None);
}

#[test]
fn add_password_accepts_null_read_only_keys_only() {
    let ok: AddPasswordRequest = serde_json::from_str(
        r#"{"passwordCredential":{"displayName":"ci","keyId":null,"secretText":null,"hint":null,"customKeyIdentifier":null,"endDateTime":"2030-01-01T00:00:00Z"}}"#,
    )
    .unwrap();
    let pc = ok.password_credential.unwrap();
    assert_eq!(pc.display_name.as_deref(), Some("ci"));
    assert_eq!(pc.end_date_time.as_deref(), Some("2030-01-01T00:00:00Z"));

    let err = serde_json::from_str::<AddPasswordRequest>(r#"{"passwordCredential":{"secretText":"chosen-by-me"}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("secretText"), "{err}");
    assert!(err.contains("must be null"), "{err}");

    let err = serde_json::from_str::<AddPasswordRequest>(
        r#"{"passwordCredential":{"keyId":"1b4f816e-5eaf-48b9-8613-7923830595ad"}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("keyId"), "{err}");

    let err = serde_json::from_str::<AddPasswordRequest>(r#"{"passwordCredential":{"x":1}}"#).unwrap_err().to_string();
    assert!(err.contains("`x`"), "{err}");

    let empty: AddPasswordRequest = serde_json::from_str("{}").unwrap();
    assert_eq!(empty.password_credential, None);
    assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");

    let rm: RemovePasswordRequest =
        serde_json::from_str(r#"{"keyId":"1b4f816e-5eaf-48b9-8613-7923830595ad"}"#).unwrap();
    assert_eq!(rm.key_id.to_string(), "1b4f816e-5eaf-48b9-8613-7923830595ad");
}

#[test]
fn service_principal_and_role_assignment_bodies() {
    let sp: ServicePrincipalCreate = serde_json::from_str(
        r##"{"@odata.type":"#microsoft.graph.servicePrincipal","appId":"65415bb1-9267-4313-bbf5-ae259732ee12"}"##,
    )
    .unwrap();
    assert_eq!(sp.app_id, "65415bb1-9267-4313-bbf5-ae259732ee12");
    assert!(serde_json::from_str::<ServicePrincipalCreate>("{}").is_err());

    let a: AppRoleAssignmentCreate = serde_json::from_str(
        r#"{"principalId":"33ad69f9-da99-4bed-acd0-3f24235cb296","resourceId":"9028d19c-26a9-4809-8e3f-20ff73e2d75e","appRoleId":"ef7437e6-4f94-4a0a-a110-a439eb2aa8f7"}"#,
    )
    .unwrap();
    assert_eq!(a.app_role_id, Uuid::parse_str("ef7437e6-4f94-4a0a-a110-a439eb2aa8f7").unwrap());
    // GUID-typed properties must be GUIDs.
    assert!(
        serde_json::from_str::<AppRoleAssignmentCreate>(
            r#"{"principalId":"x","resourceId":"9028d19c-26a9-4809-8e3f-20ff73e2d75e","appRoleId":"ef7437e6-4f94-4a0a-a110-a439eb2aa8f7"}"#,
        )
        .is_err()
    );
}

#[test]
fn reference_create() {
    let id = Uuid::parse_str("ff7cb387-6688-423c-8188-3da9532a73cc").unwrap();
    let r = ReferenceCreate::directory_object(id);
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/ff7cb387-6688-423c-8188-3da9532a73cc"})
    );
    assert_eq!(r.target_id(), Some(id));
    for s in [
        "https://graph.microsoft.com/v1.0/users/ff7cb387-6688-423c-8188-3da9532a73cc",
        "https://graph.microsoft.com/v1.0/directoryObjects('ff7cb387-6688-423c-8188-3da9532a73cc')",
        "https://127.0.0.1:8443/v1.0/directoryObjects/ff7cb387-6688-423c-8188-3da9532a73cc/",
    ] {
        let r: ReferenceCreate = serde_json::from_value(json!({ "@odata.id": s })).unwrap();
        assert_eq!(r.target_id(), Some(id), "{s}");
    }
    assert!(serde_json::from_str::<ReferenceCreate>(r#"{"@odata.id":"x","y":1}"#).is_err());
}

#[test]
fn responses_are_lenient_and_parse_collections() {
    let page = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "@odata.nextLink": "https://127.0.0.1:8443/v1.0/users?$skiptoken=abc",
        "value": [
            {"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "displayName": "Ada", "userPrincipalName": "ada@contoso.test",
             "accountEnabled": true, "businessPhones": [], "someFutureProperty": {"x": 1}},
            {"id": "97d349ed-44d7-43e1-9a83-5f2406dee5bd"}
        ]
    });
    let c: Collection<User> = serde_json::from_value(page).unwrap();
    assert_eq!(c.value.len(), 2);
    assert_eq!(c.value[0].display_name.as_deref(), Some("Ada"));
    assert_eq!(c.value[1].display_name, None);
    assert!(c.next_link.is_some());

    let members = json!({"value": [
        {"@odata.type": "#microsoft.graph.user", "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "displayName": "Ada",
         "userPrincipalName": "ada@contoso.test"},
        {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "97d349ed-44d7-43e1-9a83-5f2406dee5bd",
         "displayName": "svc", "appId": "65415bb1-9267-4313-bbf5-ae259732ee12"}
    ]});
    let c: Collection<DirectoryObject> = serde_json::from_value(members).unwrap();
    assert_eq!(c.value[0].kind(), Some("user"));
    assert_eq!(c.value[0].extra_str("userPrincipalName"), Some("ada@contoso.test"));
    assert_eq!(c.value[1].kind(), Some("servicePrincipal"));
    assert_eq!(c.value[1].extra_str("appId"), Some("65415bb1-9267-4313-bbf5-ae259732ee12"));
    // Serialising keeps the flattened properties.
    let v = serde_json::to_value(&c.value[1]).unwrap();
    assert_eq!(v["appId"], "65415bb1-9267-4313-bbf5-ae259732ee12");
    assert_eq!(v["@odata.type"], "#microsoft.graph.servicePrincipal");

    let app: Application = serde_json::from_value(json!({
        "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "appId": "65415bb1-9267-4313-bbf5-ae259732ee12",
        "passwordCredentials": [{"keyId": "1b4f816e-5eaf-48b9-8613-7923830595ad", "displayName": "ci", "hint": "abc",
            "startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:00Z", "secretText": null,
            "customKeyIdentifier": null}],
        "keyCredentials": [{"keyId": "2b4f816e-5eaf-48b9-8613-7923830595ad", "type": "AsymmetricX509Cert", "usage": "Verify",
            "key": null, "customKeyIdentifier": "q83vEjRWeJA=", "displayName": "CN=x",
            "startDateTime": null, "endDateTime": null}]
    }))
    .unwrap();
    assert_eq!(app.password_credentials[0].hint.as_deref(), Some("abc"));

    // The `addPassword` response is a bare passwordCredential with `@odata.context`.
    let pc: PasswordCredential = serde_json::from_value(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
        "customKeyIdentifier": null, "displayName": "ci", "endDateTime": "2026-01-01T00:00:00Z",
        "hint": "s3c", "keyId": "1b4f816e-5eaf-48b9-8613-7923830595ad", "secretText": "s3cr3t",
        "startDateTime": "2024-01-01T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(pc.secret_text.as_deref(), Some("s3cr3t"));
    assert!(!format!("{pc:?}").contains("s3cr3t"));
    assert_eq!(app.key_credentials[0].key, None);
}

#[test]
fn error_bodies() {
    let g: GraphErrorBody = serde_json::from_value(json!({"error": {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": {"date": "2025-02-13T10:17:06", "request-id": "r1", "client-request-id": "c1"}
    }}))
    .unwrap();
    assert_eq!(g.error.to_string(), "Authorization_RequestDenied: Insufficient privileges to complete the operation.");
    let inner = g.error.inner_error.as_ref().unwrap();
    assert_eq!(inner.request_id.as_deref(), Some("r1"));
    assert_eq!(inner.client_request_id.as_deref(), Some("c1"));
    let back = serde_json::to_value(GraphErrorBody::new("Request_BadRequest", "bad")).unwrap();
    assert_eq!(back, json!({"error": {"code": "Request_BadRequest", "message": "bad"}}));

    let o: OAuthErrorBody = serde_json::from_value(json!({
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z",
        "error_codes": [7000215], "timestamp": "2024-01-01 00:00:00Z", "trace_id": "t", "correlation_id": "c"
    }))
    .unwrap();
    assert_eq!(o.error_codes, Some(vec![7000215]));
    assert_eq!(o.to_string(), "invalid_client: AADSTS7000215: Invalid client secret provided.");
}

#[test]
fn token_response_and_bootstrap() {
    let t: TokenResponse = serde_json::from_str(
        r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":"3599","access_token":"eyJ.x.y"}"#,
    )
    .unwrap();
    assert_eq!(t.expires_in, 3599);
    assert_eq!(t.ext_expires_in, Some(3599));
    assert!(!format!("{t:?}").contains("eyJ"));
    let v = serde_json::to_value(&t).unwrap();
    assert!(v.get("refresh_token").is_none());

    let b = BootstrapCredentials {
        tenant_id: "t".into(),
        tenant_domain: "contoso.test".into(),
        issuer: "https://127.0.0.1:8443/t/v2.0".into(),
        client_id: "c".into(),
        client_secret: "s3cret".into(),
        admin_user_principal_name: "admin@contoso.test".into(),
        admin_password: "pw".into(),
        ca_certificate: Some("/data/ca.pem".into()),
    };
    let v = serde_json::to_value(&b).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "tenantId",
        "tenantDomain",
        "issuer",
        "clientId",
        "clientSecret",
        "adminUserPrincipalName",
        "adminPassword",
        "caCertificate",
    ] {
        assert!(keys.contains(&k), "{k}");
    }
    assert!(!format!("{b:?}").contains("s3cret"));
}
