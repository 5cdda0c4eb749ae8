//! Tenant creation: the tenant, its first Global Administrator, the Microsoft Graph service
//! principal, and an admin application holding Graph application permissions, all committed
//! in one transaction together with the tenant's signing keys.

use crate::Core;
use crate::graph::{BOOTSTRAP_PERMISSIONS, graph_service_principal, role_id};
use ostiary_crypto::secret::{Secret, generate_client_secret, hash_client_secret};
use ostiary_model::{
    AppRoleAssignment, Application, DirectoryObject, ObjectId, PasswordCredential, ServicePrincipal, Tenant, TenantId,
    User,
};
use ostiary_store::{Change, ChangeSet, StoreError};

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub display_name: String,
    /// Initial domain; default `<slug of name>.ostiary.test`.
    pub domain: Option<String>,
}

/// What the operator needs to start administering a new tenant. Secrets are shown once.
pub struct TenantCredentials {
    pub tenant: Tenant,
    pub client_id: uuid::Uuid,
    pub client_secret: Secret<String>,
    pub admin_user_principal_name: String,
    pub admin_password: Secret<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("invalid tenant settings: {0}")]
    Invalid(String),
    #[error("a tenant with domain {0} already exists")]
    DomainTaken(String),
    #[error("{0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("storage: {0}")]
    Store(StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// `Contoso Ltd` → `contoso-ltd`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let s = out.trim_end_matches('-');
    if s.is_empty() { "tenant".into() } else { s.chars().take(40).collect() }
}

/// A random password of 20 characters with upper, lower, digit and symbol classes.
pub fn generate_password(rng: &dyn ostiary_crypto::rand::Random) -> Secret<String> {
    const SETS: [&[u8]; 4] = [b"ABCDEFGHJKLMNPQRSTUVWXYZ", b"abcdefghijkmnopqrstuvwxyz", b"23456789", b"!#%+-.:=?@_~"];
    let mut out = String::with_capacity(20);
    let mut i = 0usize;
    while out.len() < 20 {
        let set = SETS[i % 4];
        let b: [u8; 1] = ostiary_crypto::rand::random_bytes(rng);
        // Rejection sampling keeps the distribution uniform within each class.
        let limit = 256 - (256 % set.len());
        if (b[0] as usize) < limit {
            out.push(set[b[0] as usize % set.len()] as char);
            i += 1;
        }
    }
    // Shuffle so class positions are not predictable.
    let mut chars: Vec<char> = out.chars().collect();
    for j in (1..chars.len()).rev() {
        let r: [u8; 1] = ostiary_crypto::rand::random_bytes(rng);
        chars.swap(j, r[0] as usize % (j + 1));
    }
    Secret::new(chars.into_iter().collect())
}

impl Core {
    pub async fn create_tenant(&self, req: NewTenant) -> Result<TenantCredentials, BootstrapError> {
        let now = self.now_seconds();
        ostiary_model::validate::display_name("displayName", &req.display_name)
            .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        let domain = req
            .domain
            .clone()
            .unwrap_or_else(|| format!("{}.ostiary.test", slug(&req.display_name)))
            .to_ascii_lowercase();
        ostiary_model::validate::domain_name(&domain).map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        let tenant = Tenant {
            id: TenantId::from_uuid(self.new_uuid()),
            display_name: req.display_name.clone(),
            initial_domain: domain.clone(),
            created_date_time: now,
        };

        let admin_password = generate_password(self.rng.as_ref());
        let hash = self
            .hash_password(admin_password.expose().clone())
            .await
            .map_err(|e| BootstrapError::Hash(e.to_string()))?;
        let admin_upn = format!("admin@{domain}");
        let admin = User {
            id: ObjectId::from_uuid(self.new_uuid()),
            account_enabled: true,
            display_name: "Global Administrator".into(),
            user_principal_name: admin_upn.clone(),
            mail_nickname: "admin".into(),
            given_name: None,
            surname: None,
            mail: None,
            job_title: None,
            department: None,
            office_location: None,
            company_name: None,
            employee_id: None,
            mobile_phone: None,
            business_phones: vec![],
            city: None,
            state: None,
            country: None,
            street_address: None,
            postal_code: None,
            usage_location: None,
            preferred_language: None,
            user_type: "Member".into(),
            other_mails: vec![],
            created_date_time: now,
            password_hash: Some(hash),
            force_change_password_next_sign_in: false,
            last_password_change_date_time: Some(now),
            external_id: None,
            last_modified_date_time: None,
            ostiary_scim: None,
        };

        let graph_sp = graph_service_principal(ObjectId::from_uuid(self.new_uuid()), tenant.id, now);
        let secret = generate_client_secret(self.rng.as_ref());
        let app_id = self.new_uuid();
        let app = Application {
            id: ObjectId::from_uuid(self.new_uuid()),
            app_id,
            display_name: "Ostiary Bootstrap Admin".into(),
            description: Some("Created at tenant bootstrap; holds Microsoft Graph application permissions.".into()),
            sign_in_audience: "AzureADMyOrg".into(),
            identifier_uris: vec![],
            app_roles: vec![],
            api: Default::default(),
            password_credentials: vec![PasswordCredential {
                key_id: self.new_uuid(),
                display_name: Some("bootstrap".into()),
                hint: Some(secret.expose().chars().take(3).collect()),
                start_date_time: now,
                end_date_time: now + self.config.default_secret_lifetime,
                secret_hash: hash_client_secret(secret.expose(), self.rng.as_ref()),
            }],
            key_credentials: vec![],
            web: Default::default(),
            spa: Default::default(),
            public_client: Default::default(),
            is_fallback_public_client: None,
            required_resource_access: vec![],
            tags: vec![],
            notes: None,
            group_membership_claims: None,
            created_date_time: now,
        };
        let app_sp = self.service_principal_for(&app, tenant.id, now);
        let mut cs = ChangeSet::new();
        cs.push(Change::CreateObject(DirectoryObject::User(admin)));
        cs.push(Change::CreateObject(DirectoryObject::ServicePrincipal(graph_sp.clone())));
        cs.push(Change::CreateObject(DirectoryObject::Application(app)));
        cs.push(Change::CreateObject(DirectoryObject::ServicePrincipal(app_sp.clone())));
        for perm in BOOTSTRAP_PERMISSIONS {
            if let Some(role) = role_id(perm) {
                cs.push(Change::AddAppRoleAssignment(AppRoleAssignment {
                    id: self.new_assignment_id(),
                    app_role_id: role,
                    principal_id: app_sp.id,
                    resource_id: graph_sp.id,
                    created_date_time: now,
                    principal_type: String::new(),
                    principal_display_name: String::new(),
                    resource_display_name: String::new(),
                }));
            }
        }
        // The tenant's first records: its creation and every object it starts with.
        let actor = crate::audit::Actor::system(tenant.id, "Ostiary bootstrap", self.new_uuid().to_string());
        let mut activities = vec![
            crate::audit::Activity::new("Add tenant", "DirectoryManagement", "Add")
                .target(crate::audit::Target::new(tenant.id.to_string(), "Directory"))
                .detail("InitialDomain", tenant.initial_domain.clone()),
        ];
        let created: std::collections::HashMap<_, _> = cs
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::CreateObject(o) => Some((o.id(), o.clone())),
                _ => None,
            })
            .collect();
        activities.extend(crate::audit::activities_for(&cs.changes, &created));
        for a in &activities {
            cs.audit.push(a.to_record(&actor, self.new_uuid(), now));
        }
        let keys = self.initial_keys(tenant.id)?;
        let admin_id = match cs.changes.first() {
            Some(Change::CreateObject(DirectoryObject::User(u))) => u.id,
            _ => return Err(BootstrapError::Invalid("bootstrap change set lost its administrator".into())),
        };
        self.store.create_tenant(&tenant, &cs, &keys).await.map_err(|e| match e {
            StoreError::Conflict { key } if key == "domain" => BootstrapError::DomainTaken(domain.clone()),
            other => BootstrapError::Store(other),
        })?;
        // Directory roles live in the KV store; a failure here leaves a tenant whose admin is not
        // marked as Global Administrator, which `ostiary tenant create` reports as an error.
        self.assign_directory_role(tenant.id, admin_id, crate::consent::GLOBAL_ADMIN_ROLE)
            .await
            .map_err(BootstrapError::Store)?;
        self.audit_committed(&activities);
        Ok(TenantCredentials {
            tenant,
            client_id: app_id,
            client_secret: secret,
            admin_user_principal_name: admin_upn,
            admin_password,
        })
    }

    /// The service principal that instantiates `app` in its home tenant.
    pub fn service_principal_for(
        &self,
        app: &Application,
        tenant: TenantId,
        now: time::OffsetDateTime,
    ) -> ServicePrincipal {
        let mut names = vec![app.app_id.to_string()];
        names.extend(app.identifier_uris.iter().cloned());
        ServicePrincipal {
            id: ObjectId::from_uuid(self.new_uuid()),
            app_id: app.app_id,
            display_name: app.display_name.clone(),
            account_enabled: true,
            service_principal_type: "Application".into(),
            app_role_assignment_required: false,
            app_owner_organization_id: Some(tenant.as_uuid()),
            service_principal_names: names,
            tags: vec![],
            app_roles: app.app_roles.clone(),
            oauth2_permission_scopes: app.api.oauth2_permission_scopes.clone(),
            sign_in_audience: Some(app.sign_in_audience.clone()),
            description: None,
            notes: None,
            access_token_signing_algorithm: app.api.access_token_signing_algorithm.clone(),
            preferred_single_sign_on_mode: None,
            login_url: None,
            logout_url: None,
            ostiary_saml: None,
            created_date_time: now,
        }
    }

    /// Graph's assignment ids are opaque URL-safe strings.
    pub fn new_assignment_id(&self) -> String {
        ostiary_crypto::rand::random_token(self.rng.as_ref(), 24)
    }

    /// Argon2id on the blocking pool behind a semaphore, so concurrent hashes stay bounded.
    pub async fn hash_password(&self, password: String) -> Result<String, ostiary_crypto::CryptoError> {
        let _permit =
            self.hash_permit().await.map_err(|_| ostiary_crypto::CryptoError::Internal("hash pool closed".into()))?;
        let params = self.config.password_params.clone();
        let rng = self.rng.clone();
        let password = Secret::new(password);
        tokio::task::spawn_blocking(move || {
            ostiary_crypto::password::hash_password(password.expose(), &params, rng.as_ref())
        })
        .await
        .map_err(|e| ostiary_crypto::CryptoError::Internal(e.to_string()))?
    }
}
