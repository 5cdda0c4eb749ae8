//! Typed methods of [`AdminClient`] for users, groups, applications, service principals and
//! app role assignments, following Graph v1.0 URL templates.

use crate::client::AdminClient;
use crate::error::ClientError;
use crate::query::{ListQuery, odata_quote};
use ostiary_api_types::{
    AddPasswordRequest, AppRoleAssignment, AppRoleAssignmentCreate, Application, ApplicationCreate, ApplicationUpdate,
    DirectoryObject, Group, GroupCreate, GroupUpdate, KeyCredential, PasswordCredential, PasswordCredentialInput,
    ReferenceCreate, RemovePasswordRequest, ServicePrincipal, ServicePrincipalCreate, ServicePrincipalUpdate, User,
    UserCreate, UserUpdate,
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

impl AdminClient {
    /// Lists a collection with `query`: every page, or only the first one when `$top` is set.
    async fn list_with<T: DeserializeOwned>(&self, path: &str, query: &ListQuery) -> Result<Vec<T>, ClientError> {
        let path = query.apply(path);
        if query.top.is_some() { Ok(self.list_page::<T>(&path).await?.value) } else { self.list_all(&path).await }
    }

    // ---------------------------------------------------------------- users

    /// `GET /users` with `$filter`/`$top`/`$select`.
    pub async fn list_users(&self, query: &ListQuery) -> Result<Vec<User>, ClientError> {
        self.list_with("/users", query).await
    }

    /// A user by object id, or by user principal name (looked up with
    /// `$filter=userPrincipalName eq '…'`).
    pub async fn get_user(&self, id_or_upn: &str) -> Result<User, ClientError> {
        let id_or_upn = id_or_upn.trim();
        if let Ok(id) = Uuid::parse_str(id_or_upn) {
            return self.get(&format!("/users/{id}")).await;
        }
        let query = ListQuery::filter(format!("userPrincipalName eq {}", odata_quote(id_or_upn)));
        let found: Vec<User> = self.list_with("/users", &query).await?;
        found.into_iter().next().ok_or_else(|| ClientError::not_found(id_or_upn))
    }

    /// `POST /users`.
    pub async fn create_user(&self, user: &UserCreate) -> Result<User, ClientError> {
        self.post("/users", user).await
    }

    /// `PATCH /users/{id}`.
    pub async fn update_user(&self, id: Uuid, update: &UserUpdate) -> Result<(), ClientError> {
        self.patch(&format!("/users/{id}"), update).await
    }

    /// `DELETE /users/{id}`.
    pub async fn delete_user(&self, id: Uuid) -> Result<(), ClientError> {
        self.delete(&format!("/users/{id}")).await
    }

    // ---------------------------------------------------------------- groups

    /// `GET /groups` with `$filter`/`$top`/`$select`.
    pub async fn list_groups(&self, query: &ListQuery) -> Result<Vec<Group>, ClientError> {
        self.list_with("/groups", query).await
    }

    /// `GET /groups/{id}`.
    pub async fn get_group(&self, id: Uuid) -> Result<Group, ClientError> {
        self.get(&format!("/groups/{id}")).await
    }

    /// `POST /groups`.
    pub async fn create_group(&self, group: &GroupCreate) -> Result<Group, ClientError> {
        self.post("/groups", group).await
    }

    /// `PATCH /groups/{id}`.
    pub async fn update_group(&self, id: Uuid, update: &GroupUpdate) -> Result<(), ClientError> {
        self.patch(&format!("/groups/{id}"), update).await
    }

    /// `DELETE /groups/{id}`.
    pub async fn delete_group(&self, id: Uuid) -> Result<(), ClientError> {
        self.delete(&format!("/groups/{id}")).await
    }

    /// `POST /groups/{id}/members/$ref` with `{"@odata.id":".../directoryObjects/{member}"}`.
    pub async fn add_member(&self, group_id: Uuid, member_id: Uuid) -> Result<(), ClientError> {
        self.post_no_content(&format!("/groups/{group_id}/members/$ref"), &ReferenceCreate::directory_object(member_id))
            .await
    }

    /// `DELETE /groups/{id}/members/{member}/$ref`.
    pub async fn remove_member(&self, group_id: Uuid, member_id: Uuid) -> Result<(), ClientError> {
        self.delete(&format!("/groups/{group_id}/members/{member_id}/$ref")).await
    }

    /// `GET /groups/{id}/members` (direct members, all pages).
    pub async fn list_members(&self, group_id: Uuid) -> Result<Vec<DirectoryObject>, ClientError> {
        self.list_all(&format!("/groups/{group_id}/members")).await
    }

    /// `GET /groups/{id}/transitiveMembers` (members of nested groups too, all pages).
    pub async fn list_transitive_members(&self, group_id: Uuid) -> Result<Vec<DirectoryObject>, ClientError> {
        self.list_all(&format!("/groups/{group_id}/transitiveMembers")).await
    }

    // ---------------------------------------------------------------- applications

    /// `GET /applications` with `$filter`/`$top`/`$select`.
    pub async fn list_applications(&self, query: &ListQuery) -> Result<Vec<Application>, ClientError> {
        self.list_with("/applications", query).await
    }

    /// `GET /applications/{id}` (object id).
    pub async fn get_application(&self, id: Uuid) -> Result<Application, ClientError> {
        self.get(&format!("/applications/{id}")).await
    }

    /// The application whose `appId` (client id) is `app_id`, via `$filter=appId eq '…'`.
    pub async fn get_application_by_app_id(&self, app_id: Uuid) -> Result<Option<Application>, ClientError> {
        let query = ListQuery::filter(format!("appId eq '{app_id}'"));
        Ok(self.list_with::<Application>("/applications", &query).await?.into_iter().next())
    }

    /// The application with object id **or** `appId` `id`: tries the object id first.
    pub async fn find_application(&self, id: Uuid) -> Result<Application, ClientError> {
        match self.get_application(id).await {
            Ok(app) => Ok(app),
            Err(e) if e.is_not_found() => {
                self.get_application_by_app_id(id).await?.ok_or_else(|| ClientError::not_found(&id.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /applications`.
    pub async fn create_application(&self, app: &ApplicationCreate) -> Result<Application, ClientError> {
        self.post("/applications", app).await
    }

    /// `PATCH /applications/{id}`.
    pub async fn update_application(&self, id: Uuid, update: &ApplicationUpdate) -> Result<(), ClientError> {
        self.patch(&format!("/applications/{id}"), update).await
    }

    /// `DELETE /applications/{id}`.
    pub async fn delete_application(&self, id: Uuid) -> Result<(), ClientError> {
        self.delete(&format!("/applications/{id}")).await
    }

    /// `POST /applications/{id}/addPassword`: a new client secret. The returned credential
    /// carries `secretText`, which the server never shows again. `end_date_time` is RFC 3339;
    /// `None` lets the server choose the lifetime.
    pub async fn add_password(
        &self,
        app_object_id: Uuid,
        display_name: Option<&str>,
        end_date_time: Option<&str>,
    ) -> Result<PasswordCredential, ClientError> {
        let body = AddPasswordRequest {
            odata_type: None,
            password_credential: Some(PasswordCredentialInput {
                display_name: display_name.map(str::to_owned),
                end_date_time: end_date_time.map(str::to_owned),
                ..PasswordCredentialInput::default()
            }),
        };
        self.post(&format!("/applications/{app_object_id}/addPassword"), &body).await
    }

    /// `POST /applications/{id}/removePassword`.
    pub async fn remove_password(&self, app_object_id: Uuid, key_id: Uuid) -> Result<(), ClientError> {
        let body = RemovePasswordRequest { odata_type: None, key_id };
        self.post_no_content(&format!("/applications/{app_object_id}/removePassword"), &body).await
    }

    /// Adds an X.509 certificate credential (`cert_der_b64` = base64 of the certificate DER)
    /// with Graph semantics: GET the application, append to `keyCredentials`, PATCH the full
    /// list (existing entries keep their `keyId` and carry no `key`). Returns the application as
    /// it is afterwards.
    pub async fn add_certificate(
        &self,
        app_object_id: Uuid,
        cert_der_b64: &str,
        display_name: Option<&str>,
    ) -> Result<Application, ClientError> {
        let app = self.get_application(app_object_id).await?;
        let mut keys = app.key_credentials;
        keys.push(KeyCredential {
            key_id: Some(Uuid::new_v4()),
            display_name: display_name.map(str::to_owned),
            kind: Some(KeyCredential::KIND_X509.to_owned()),
            usage: Some(KeyCredential::USAGE_VERIFY.to_owned()),
            key: Some(cert_der_b64.to_owned()),
            ..KeyCredential::default()
        });
        let update = ApplicationUpdate { key_credentials: Some(keys), ..ApplicationUpdate::default() };
        self.update_application(app_object_id, &update).await?;
        self.get_application(app_object_id).await
    }

    // ---------------------------------------------------------------- service principals

    /// `GET /servicePrincipals` with `$filter`/`$top`/`$select`.
    pub async fn list_service_principals(&self, query: &ListQuery) -> Result<Vec<ServicePrincipal>, ClientError> {
        self.list_with("/servicePrincipals", query).await
    }

    /// `GET /servicePrincipals/{id}` (object id).
    pub async fn get_service_principal(&self, id: Uuid) -> Result<ServicePrincipal, ClientError> {
        self.get(&format!("/servicePrincipals/{id}")).await
    }

    /// The service principal of the application `app_id`, via `$filter=appId eq '…'`.
    pub async fn get_service_principal_by_app_id(&self, app_id: Uuid) -> Result<Option<ServicePrincipal>, ClientError> {
        let query = ListQuery::filter(format!("appId eq '{app_id}'"));
        Ok(self.list_with::<ServicePrincipal>("/servicePrincipals", &query).await?.into_iter().next())
    }

    /// The service principal with object id **or** `appId` `id`: tries the object id first.
    pub async fn find_service_principal(&self, id: Uuid) -> Result<ServicePrincipal, ClientError> {
        match self.get_service_principal(id).await {
            Ok(sp) => Ok(sp),
            Err(e) if e.is_not_found() => {
                self.get_service_principal_by_app_id(id).await?.ok_or_else(|| ClientError::not_found(&id.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /servicePrincipals`.
    pub async fn create_service_principal(&self, sp: &ServicePrincipalCreate) -> Result<ServicePrincipal, ClientError> {
        self.post("/servicePrincipals", sp).await
    }

    /// `PATCH /servicePrincipals/{id}`.
    pub async fn update_service_principal(&self, id: Uuid, update: &ServicePrincipalUpdate) -> Result<(), ClientError> {
        self.patch(&format!("/servicePrincipals/{id}"), update).await
    }

    /// `DELETE /servicePrincipals/{id}`.
    pub async fn delete_service_principal(&self, id: Uuid) -> Result<(), ClientError> {
        self.delete(&format!("/servicePrincipals/{id}")).await
    }

    // ---------------------------------------------------------------- app role assignments

    /// Grants `app_role_id` of the resource service principal to the client service principal:
    /// `POST /servicePrincipals/{resource}/appRoleAssignedTo`.
    pub async fn grant_app_role(
        &self,
        client_sp_id: Uuid,
        resource_sp_id: Uuid,
        app_role_id: Uuid,
    ) -> Result<AppRoleAssignment, ClientError> {
        let body = AppRoleAssignmentCreate {
            odata_type: None,
            principal_id: client_sp_id,
            resource_id: resource_sp_id,
            app_role_id,
        };
        self.post(&format!("/servicePrincipals/{resource_sp_id}/appRoleAssignedTo"), &body).await
    }

    /// `GET /servicePrincipals/{resource}/appRoleAssignedTo`: who holds the resource's roles.
    pub async fn list_app_role_assigned_to(&self, resource_sp_id: Uuid) -> Result<Vec<AppRoleAssignment>, ClientError> {
        self.list_all(&format!("/servicePrincipals/{resource_sp_id}/appRoleAssignedTo")).await
    }

    /// `GET /servicePrincipals/{id}/appRoleAssignments`: the roles this principal holds.
    pub async fn list_app_role_assignments(&self, sp_id: Uuid) -> Result<Vec<AppRoleAssignment>, ClientError> {
        self.list_all(&format!("/servicePrincipals/{sp_id}/appRoleAssignments")).await
    }

    /// `DELETE /servicePrincipals/{resource}/appRoleAssignedTo/{assignment}`.
    pub async fn revoke_app_role(&self, resource_sp_id: Uuid, assignment_id: &str) -> Result<(), ClientError> {
        let id = crate::query::encode_query_value(assignment_id);
        self.delete(&format!("/servicePrincipals/{resource_sp_id}/appRoleAssignedTo/{id}")).await
    }
}
