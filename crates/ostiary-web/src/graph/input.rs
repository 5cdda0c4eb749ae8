//! Conversion of Graph request bodies (api-types) into domain objects and patches. Required
//! properties are checked here; domain rules (UPN, uniqueness, policies) are the core's.

use crate::error::GraphErr;
use ostiary_api_types as api;
use ostiary_core::DirError;
use ostiary_core::directory::KeyCredentialInput;
use ostiary_model as m;
use ostiary_model::ObjectId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn required<T>(v: Option<T>, prop: &str, resource: &str) -> Result<T, GraphErr> {
    v.ok_or_else(|| {
        GraphErr::bad(format!("Property '{prop}' is required when creating a resource of type '{resource}'."))
    })
}

pub fn parse_time(v: Option<&str>, prop: &str) -> Result<Option<OffsetDateTime>, GraphErr> {
    match v {
        None => Ok(None),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map(Some).map_err(|_| {
            GraphErr::bad(format!("Invalid value specified for property '{prop}': not an ISO 8601 date-time."))
        }),
    }
}

/// `https://graph.microsoft.com/v1.0/directoryObjects/{id}` (any host, any collection).
pub fn object_id_from_ref(url: &str) -> Result<ObjectId, GraphErr> {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|s| s.parse::<ObjectId>().ok())
        .ok_or_else(|| GraphErr::bad(format!("Invalid object reference '{}'.", ostiary_oauth::error::sanitize(url))))
}

fn placeholder_time() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

pub fn user_from_create(c: api::UserCreate) -> Result<(m::User, Option<String>, bool), GraphErr> {
    let profile = required(c.password_profile, "passwordProfile", "microsoft.graph.user")?;
    let password = required(profile.password, "passwordProfile.password", "microsoft.graph.user")?;
    let user = m::User {
        id: ObjectId::from_uuid(uuid::Uuid::nil()),
        account_enabled: required(c.account_enabled, "accountEnabled", "microsoft.graph.user")?,
        display_name: required(c.display_name, "displayName", "microsoft.graph.user")?,
        user_principal_name: required(c.user_principal_name, "userPrincipalName", "microsoft.graph.user")?,
        mail_nickname: required(c.mail_nickname, "mailNickname", "microsoft.graph.user")?,
        given_name: c.given_name,
        surname: c.surname,
        mail: c.mail,
        job_title: c.job_title,
        department: c.department,
        office_location: c.office_location,
        company_name: c.company_name,
        employee_id: c.employee_id,
        mobile_phone: c.mobile_phone,
        business_phones: c.business_phones.unwrap_or_default(),
        city: c.city,
        state: c.state,
        country: c.country,
        street_address: c.street_address,
        postal_code: c.postal_code,
        usage_location: c.usage_location,
        preferred_language: c.preferred_language,
        user_type: c.user_type.unwrap_or_else(|| "Member".into()),
        other_mails: c.other_mails.unwrap_or_default(),
        created_date_time: placeholder_time(),
        password_hash: None,
        force_change_password_next_sign_in: profile.force_change_password_next_sign_in.unwrap_or(true),
        last_password_change_date_time: None,
        external_id: None,
        last_modified_date_time: None,
        ostiary_scim: None,
    };
    let force = user.force_change_password_next_sign_in;
    Ok((user, Some(password), force))
}

/// Applies a PATCH body; returns a new password when `passwordProfile.password` is set.
pub fn apply_user_update(u: &mut m::User, p: api::UserUpdate) -> Result<Option<String>, DirError> {
    macro_rules! set { ($($f:ident),*) => { $( if let Some(v) = p.$f { u.$f = v; } )* } }
    set!(account_enabled, display_name, user_principal_name, mail_nickname);
    set!(given_name, surname, mail, job_title, department, office_location, company_name, employee_id, mobile_phone);
    set!(city, state, country, street_address, postal_code, usage_location, preferred_language);
    if let Some(v) = p.business_phones {
        u.business_phones = v;
    }
    if let Some(v) = p.other_mails {
        u.other_mails = v;
    }
    if let Some(t) = p.user_type {
        u.user_type = t.ok_or_else(|| DirError::bad("Property 'userType' cannot be null."))?;
    }
    let mut password = None;
    if let Some(profile) = p.password_profile {
        if let Some(f) = profile.force_change_password_next_sign_in {
            u.force_change_password_next_sign_in = f;
        }
        password = profile.password;
    }
    Ok(password)
}

pub fn group_from_create(c: api::GroupCreate) -> Result<(m::Group, Vec<ObjectId>), GraphErr> {
    const T: &str = "microsoft.graph.group";
    let members =
        c.members_bind.unwrap_or_default().iter().map(|u| object_id_from_ref(u)).collect::<Result<Vec<_>, _>>()?;
    if c.owners_bind.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(GraphErr::bad("owners@odata.bind is not supported yet."));
    }
    let g = m::Group {
        id: ObjectId::from_uuid(uuid::Uuid::nil()),
        display_name: required(c.display_name, "displayName", T)?,
        description: c.description,
        mail_enabled: required(c.mail_enabled, "mailEnabled", T)?,
        mail_nickname: required(c.mail_nickname, "mailNickname", T)?,
        security_enabled: required(c.security_enabled, "securityEnabled", T)?,
        group_types: c.group_types.unwrap_or_default(),
        mail: None,
        visibility: c.visibility,
        is_assignable_to_role: c.is_assignable_to_role,
        created_date_time: placeholder_time(),
        external_id: None,
        last_modified_date_time: None,
    };
    if g.mail_enabled && !g.group_types.iter().any(|t| t == "Unified") {
        return Err(GraphErr::bad(
            "Mail-enabled security groups and distribution lists cannot be created through this API.",
        ));
    }
    Ok((g, members))
}

pub fn apply_group_update(g: &mut m::Group, p: api::GroupUpdate) {
    if let Some(v) = p.display_name {
        g.display_name = v;
    }
    if let Some(v) = p.description {
        g.description = v;
    }
    if let Some(v) = p.mail_nickname {
        g.mail_nickname = v;
    }
    if let Some(v) = p.visibility {
        g.visibility = v;
    }
    if let Some(v) = p.security_enabled {
        g.security_enabled = v;
    }
    if let Some(v) = p.mail_enabled {
        g.mail_enabled = v;
    }
}

fn app_role(r: api::AppRole) -> m::AppRole {
    m::AppRole {
        id: r.id,
        allowed_member_types: r.allowed_member_types,
        description: r.description,
        display_name: r.display_name,
        is_enabled: r.is_enabled,
        value: r.value,
        origin: Some(r.origin.unwrap_or_else(|| "Application".into())),
    }
}

fn scope(s: api::PermissionScope) -> m::PermissionScope {
    m::PermissionScope {
        id: s.id,
        admin_consent_description: s.admin_consent_description,
        admin_consent_display_name: s.admin_consent_display_name,
        user_consent_description: s.user_consent_description,
        user_consent_display_name: s.user_consent_display_name,
        is_enabled: s.is_enabled,
        kind: s.kind,
        value: s.value,
    }
}

fn api_app(a: api::ApiApplication) -> m::ApiApplication {
    m::ApiApplication {
        requested_access_token_version: a.requested_access_token_version,
        oauth2_permission_scopes: a.oauth2_permission_scopes.unwrap_or_default().into_iter().map(scope).collect(),
        accept_mapped_claims: a.accept_mapped_claims,
        known_client_applications: a.known_client_applications.unwrap_or_default(),
        access_token_signing_algorithm: a.access_token_signing_algorithm,
    }
}

fn key_inputs(keys: Vec<api::KeyCredential>) -> Result<Vec<KeyCredentialInput>, GraphErr> {
    keys.into_iter()
        .map(|k| {
            Ok(KeyCredentialInput {
                key_id: k.key_id,
                display_name: k.display_name,
                key: k.key,
                kind: k.kind,
                usage: k.usage,
                start_date_time: parse_time(k.start_date_time.as_deref(), "keyCredentials.startDateTime")?,
                end_date_time: parse_time(k.end_date_time.as_deref(), "keyCredentials.endDateTime")?,
            })
        })
        .collect()
}

fn rra(r: api::RequiredResourceAccess) -> m::RequiredResourceAccess {
    m::RequiredResourceAccess {
        resource_app_id: r.resource_app_id,
        resource_access: r.resource_access.into_iter().map(|a| m::ResourceAccess { id: a.id, kind: a.kind }).collect(),
    }
}

fn web(w: api::WebApplication) -> m::WebApplication {
    let settings: Vec<m::RedirectUriSetting> = w
        .redirect_uri_settings
        .unwrap_or_default()
        .into_iter()
        .map(|s| m::RedirectUriSetting { uri: s.uri, index: s.index })
        .collect();
    let mut redirect_uris = w.redirect_uris.unwrap_or_default();
    // As in Graph, the two lists describe the same reply URLs.
    for s in &settings {
        if !redirect_uris.contains(&s.uri) {
            redirect_uris.push(s.uri.clone());
        }
    }
    m::WebApplication {
        redirect_uris,
        logout_url: w.logout_url,
        home_page_url: w.home_page_url,
        redirect_uri_settings: settings.into_iter().filter(|s| s.index.is_some()).collect(),
    }
}

pub fn application_from_create(
    c: api::ApplicationCreate,
) -> Result<(m::Application, Vec<KeyCredentialInput>), GraphErr> {
    if c.password_credentials.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(GraphErr::bad("passwordCredentials cannot be set on create; use addPassword."));
    }
    let keys = key_inputs(c.key_credentials.unwrap_or_default())?;
    let app = m::Application {
        id: ObjectId::from_uuid(uuid::Uuid::nil()),
        app_id: uuid::Uuid::nil(),
        display_name: required(c.display_name, "displayName", "microsoft.graph.application")?,
        description: c.description,
        sign_in_audience: c.sign_in_audience.unwrap_or_else(|| "AzureADMyOrg".into()),
        identifier_uris: c.identifier_uris.unwrap_or_default(),
        app_roles: c.app_roles.unwrap_or_default().into_iter().map(app_role).collect(),
        api: c.api.map(api_app).unwrap_or_default(),
        password_credentials: vec![],
        key_credentials: vec![],
        web: c.web.map(web).unwrap_or_default(),
        spa: m::SpaApplication { redirect_uris: c.spa.and_then(|s| s.redirect_uris).unwrap_or_default() },
        public_client: m::PublicClientApplication {
            redirect_uris: c.public_client.and_then(|s| s.redirect_uris).unwrap_or_default(),
        },
        is_fallback_public_client: c.is_fallback_public_client,
        required_resource_access: c.required_resource_access.unwrap_or_default().into_iter().map(rra).collect(),
        tags: c.tags.unwrap_or_default(),
        notes: c.notes,
        group_membership_claims: c.group_membership_claims,
        created_date_time: placeholder_time(),
    };
    Ok((app, keys))
}

/// Splits an application PATCH into its key-credential list and a patch of the rest.
#[allow(clippy::type_complexity)]
pub fn application_update(
    p: api::ApplicationUpdate,
) -> Result<
    (Option<Vec<KeyCredentialInput>>, Box<dyn FnOnce(&mut m::Application) -> Result<(), DirError> + Send>),
    GraphErr,
> {
    if p.password_credentials.is_some() {
        return Err(GraphErr::bad(
            "passwordCredentials cannot be updated with PATCH; use addPassword and removePassword.",
        ));
    }
    let keys = p.key_credentials.map(key_inputs).transpose()?;
    let patch = move |a: &mut m::Application| -> Result<(), DirError> {
        if let Some(v) = p.display_name {
            a.display_name = v;
        }
        if let Some(v) = p.description {
            a.description = v;
        }
        if let Some(v) = p.sign_in_audience {
            a.sign_in_audience = v;
        }
        if let Some(v) = p.identifier_uris {
            a.identifier_uris = v;
        }
        if let Some(v) = p.app_roles {
            a.app_roles = v.into_iter().map(app_role).collect();
        }
        if let Some(v) = p.api {
            a.api = api_app(v);
        }
        if let Some(v) = p.web {
            a.web = web(v);
        }
        if let Some(v) = p.spa {
            a.spa.redirect_uris = v.redirect_uris.unwrap_or_default();
        }
        if let Some(v) = p.public_client {
            a.public_client.redirect_uris = v.redirect_uris.unwrap_or_default();
        }
        if let Some(v) = p.is_fallback_public_client {
            a.is_fallback_public_client = Some(v);
        }
        if let Some(v) = p.required_resource_access {
            a.required_resource_access = v.into_iter().map(rra).collect();
        }
        if let Some(v) = p.tags {
            a.tags = v;
        }
        if let Some(v) = p.notes {
            a.notes = v;
        }
        if let Some(v) = p.group_membership_claims {
            a.group_membership_claims = v;
        }
        Ok(())
    };
    Ok((keys, Box::new(patch)))
}
