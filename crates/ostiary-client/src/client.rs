//! [`AdminClient`]: connection setup, the client-credentials token cache and the generic JSON
//! helpers that the typed methods build on.
//!
//! Security: the access token is sent only to the configured authority. Redirects are not
//! followed, and `@odata.nextLink` URLs that point to another origin are refused.

use crate::error::{ClientError, transport};
use ostiary_api_types::{Collection, GRAPH_DEFAULT_SCOPE, TokenResponse};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Re-acquire the token this long before it expires (or at half its lifetime if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Upper bound on pages followed by [`AdminClient::list_all`].
const MAX_PAGES: usize = 10_000;
const USER_AGENT: &str = concat!("ostiary-client/", env!("CARGO_PKG_VERSION"));

/// Where and as whom to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Scheme, host and port of the server, e.g. `https://127.0.0.1:8443` (a trailing `/` is
    /// ignored).
    pub authority: String,
    /// The tenant id or domain used in the token endpoint path.
    pub tenant: String,
    /// The client id of an application with Graph application permissions.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// PEM of the CA that issued the server's certificate. When set, it is the **only** trust
    /// anchor (the certificate is pinned to that CA); when `None`, the platform's roots are used.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .finish()
    }
}

struct CachedToken {
    access_token: String,
    refresh_after: Instant,
}

/// A client of the Graph-shaped admin API of one tenant.
pub struct AdminClient {
    http: reqwest::Client,
    config: ClientConfig,
    authority: Url,
    token_url: String,
    graph_base: String,
    token: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminClient")
            .field("config", &self.config)
            .field("graph_base", &self.graph_base)
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// Builds the client. No request is made: the token is acquired on first use (call
    /// [`AdminClient::fetch_token`] to check the credentials eagerly).
    pub async fn connect(config: ClientConfig) -> Result<AdminClient, ClientError> {
        let authority_str = config.authority.trim_end_matches('/').to_owned();
        let authority =
            Url::parse(&authority_str).map_err(|e| ClientError::Config(format!("authority `{authority_str}`: {e}")))?;
        if authority.scheme() != "https" && authority.scheme() != "http" {
            return Err(ClientError::Config(format!("authority `{authority_str}` must be an https URL")));
        }
        if authority.scheme() == "http" && !is_loopback(&authority) {
            return Err(ClientError::Config(format!(
                "authority `{authority_str}` must use https (plain http is allowed only for loopback addresses)"
            )));
        }
        if authority.path() != "/" || authority.query().is_some() {
            return Err(ClientError::Config(format!(
                "authority `{authority_str}` must be scheme://host[:port] without a path"
            )));
        }
        let tenant = config.tenant.trim();
        if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
            return Err(ClientError::Config(format!("tenant `{tenant}` is not a tenant id or domain")));
        }

        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if let Some(pem) = &config.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| ClientError::Config(format!("CA certificate: {e}")))?;
            if certs.is_empty() {
                return Err(ClientError::Config("CA certificate: no PEM `CERTIFICATE` block found".to_owned()));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(transport)?;

        Ok(AdminClient {
            http,
            token_url: format!("{authority_str}/{tenant}/oauth2/v2.0/token"),
            graph_base: format!("{authority_str}/v1.0"),
            authority,
            config,
            token: Mutex::new(None),
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The Graph base URL, `{authority}/v1.0`.
    pub fn graph_base(&self) -> &str {
        &self.graph_base
    }

    /// The token endpoint, `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The absolute URL of a Graph path (`/users?$top=5` → `{authority}/v1.0/users?$top=5`).
    pub fn url(&self, path: &str) -> String {
        graph_url(&self.graph_base, path)
    }

    /// Requests a new token with the client-credentials grant, bypassing (and refreshing) the
    /// cache. Fails with [`ClientError::Http`] carrying the OAuth error if the credentials are
    /// rejected.
    pub async fn fetch_token(&self) -> Result<TokenResponse, ClientError> {
        let mut cache = self.token.lock().await;
        let token = self.request_token().await?;
        *cache = Some(cached(&token));
        Ok(token)
    }

    /// A valid access token: the cached one, or a new one if none is cached or it expires soon.
    pub async fn access_token(&self) -> Result<String, ClientError> {
        let mut cache = self.token.lock().await;
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.refresh_after
        {
            return Ok(c.access_token.clone());
        }
        let token = self.request_token().await?;
        let c = cached(&token);
        let access_token = c.access_token.clone();
        *cache = Some(c);
        Ok(access_token)
    }

    async fn invalidate_token(&self) {
        *self.token.lock().await = None;
    }

    async fn request_token(&self) -> Result<TokenResponse, ClientError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.as_str()),
            ("scope", GRAPH_DEFAULT_SCOPE),
        ];
        let resp = self
            .http
            .post(&self.token_url)
            .header("client-request-id", uuid::Uuid::new_v4().to_string())
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::from_response(status.as_u16(), &body));
        }
        serde_json::from_slice::<TokenResponse>(&body).map_err(|e| ClientError::Decode(format!("token response: {e}")))
    }

    /// Sends a request with the bearer token; on a 401 it re-acquires the token once and
    /// retries. Returns the status and body of a success response, or the parsed error.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        self.send_with(method, url, body, None).await
    }

    async fn send_with(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        extra_header: Option<(&str, &str)>,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let mut retried = false;
        loop {
            let token = self.access_token().await?;
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&token)
                .header("accept", "application/json")
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            if let Some((name, value)) = extra_header {
                req = req.header(name, value);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(transport)?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                self.invalidate_token().await;
                continue;
            }
            let bytes = resp.bytes().await.map_err(transport)?.to_vec();
            if !status.is_success() {
                return Err(ClientError::from_response(status.as_u16(), &bytes));
            }
            return Ok((status, bytes));
        }
    }

    fn decode<T: DeserializeOwned>(method: &Method, url: &str, bytes: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(format!("{method} {url}: {e}")))
    }

    fn encode<B: Serialize + ?Sized>(body: &B) -> Result<serde_json::Value, ClientError> {
        serde_json::to_value(body).map_err(|e| ClientError::Decode(format!("cannot encode request body: {e}")))
    }

    /// `GET {graph}{path}` and decode the JSON response.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        let (_, bytes) = self.send(Method::GET, &url, None).await?;
        Self::decode(&Method::GET, &url, &bytes)
    }

    /// `POST {graph}{path}` with a JSON body and decode the JSON response (201 + entity).
    pub async fn post<B, T>(&self, path: &str, body: &B) -> Result<T, ClientError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let url = self.url(path);
        let body = Self::encode(body)?;
        let (_, bytes) = self.send(Method::POST, &url, Some(&body)).await?;
        Self::decode(&Method::POST, &url, &bytes)
    }

    /// `POST {graph}{path}` with a JSON body, ignoring any response body (204 actions such as
    /// `$ref` or `removePassword`).
    pub async fn post_no_content<B>(&self, path: &str, body: &B) -> Result<(), ClientError>
    where
        B: Serialize + ?Sized,
    {
        let url = self.url(path);
        let body = Self::encode(body)?;
        self.send(Method::POST, &url, Some(&body)).await.map(|_| ())
    }

    /// `POST` (or `PATCH`, with `patch`) with one extra request header, such as
    /// `Ostiary-Allow-Lockout: true`; decodes a JSON response when there is one.
    pub async fn send_json_with_header<B>(
        &self,
        patch: bool,
        path: &str,
        body: &B,
        header: (&str, &str),
    ) -> Result<Option<serde_json::Value>, ClientError>
    where
        B: Serialize + ?Sized,
    {
        let url = self.url(path);
        let body = Self::encode(body)?;
        let method = if patch { Method::PATCH } else { Method::POST };
        let (_, bytes) = self.send_with(method.clone(), &url, Some(&body), Some(header)).await?;
        if bytes.is_empty() { Ok(None) } else { Self::decode(&method, &url, &bytes).map(Some) }
    }

    /// `PUT {graph}{path}` with a JSON body, ignoring any response body (Graph answers 204,
    /// e.g. `synchronization/secrets`).
    pub async fn put_no_content<B>(&self, path: &str, body: &B) -> Result<(), ClientError>
    where
        B: Serialize + ?Sized,
    {
        let url = self.url(path);
        let body = Self::encode(body)?;
        self.send(Method::PUT, &url, Some(&body)).await.map(|_| ())
    }

    /// `POST {graph}{path}` with no body, ignoring any response body (204 actions such as a
    /// synchronization job's `start`).
    pub async fn post_empty(&self, path: &str) -> Result<(), ClientError> {
        let url = self.url(path);
        self.send(Method::POST, &url, None).await.map(|_| ())
    }

    /// `PATCH {graph}{path}` with a JSON body (Graph answers 204).
    pub async fn patch<B>(&self, path: &str, body: &B) -> Result<(), ClientError>
    where
        B: Serialize + ?Sized,
    {
        let url = self.url(path);
        let body = Self::encode(body)?;
        self.send(Method::PATCH, &url, Some(&body)).await.map(|_| ())
    }

    /// `DELETE {graph}{path}` (Graph answers 204).
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        let url = self.url(path);
        self.send(Method::DELETE, &url, None).await.map(|_| ())
    }

    /// `GET {graph}{path}` as a collection and follow `@odata.nextLink` to the end, returning
    /// every item. `path` may carry a query (`/users?$filter=…`).
    pub async fn list_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ClientError> {
        let mut url = self.url(path);
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let (_, bytes) = self.send(Method::GET, &url, None).await?;
            let page: Collection<T> = Self::decode(&Method::GET, &url, &bytes)?;
            items.extend(page.value);
            match page.next_link {
                Some(next) => {
                    self.check_same_origin(&next)?;
                    url = next;
                }
                None => return Ok(items),
            }
        }
        Err(ClientError::Decode(format!("GET {path}: more than {MAX_PAGES} pages of @odata.nextLink")))
    }

    /// The first page only of a collection (used when `$top` is given).
    pub async fn list_page<T: DeserializeOwned>(&self, path: &str) -> Result<Collection<T>, ClientError> {
        self.get(path).await
    }

    fn check_same_origin(&self, next: &str) -> Result<(), ClientError> {
        let next_url =
            Url::parse(next).map_err(|e| ClientError::Decode(format!("invalid @odata.nextLink `{next}`: {e}")))?;
        if next_url.origin() != self.authority.origin() {
            return Err(ClientError::Decode(format!(
                "@odata.nextLink `{next}` points outside the server `{}`; not following it",
                self.config.authority
            )));
        }
        Ok(())
    }
}

fn cached(token: &TokenResponse) -> CachedToken {
    let lifetime = Duration::from_secs(token.expires_in);
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    CachedToken { access_token: token.access_token.clone(), refresh_after: Instant::now() + (lifetime - margin) }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Joins the Graph base and a path (relative to `/v1.0`).
pub(crate) fn graph_url(base: &str, path: &str) -> String {
    if path.starts_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") }
}
