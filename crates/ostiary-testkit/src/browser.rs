//! A minimal browser for in-process flow tests: a cookie jar, redirect following, and form
//! extraction from the server's pages (hidden inputs, action), enough to walk sign-in,
//! consent and device-login pages exactly as a user agent would.

use crate::{Resp, TestServer};
use axum::body::Body;
use axum::http::Request;
use std::collections::BTreeMap;

#[derive(Default, Clone)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    /// Headers sent with every request (e.g. `x-forwarded-for`, `user-agent`).
    pub headers: Vec<(String, String)>,
}

/// One `<form>` of a page: its action and the values of its named inputs.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!("{name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Forms of an HTML page (hidden and text inputs with their values).
pub fn forms(html: &str) -> Vec<Form> {
    let mut out = Vec::new();
    for chunk in html.split("<form").skip(1) {
        let head_end = chunk.find('>').unwrap_or(0);
        let action = attr(&chunk[..head_end], "action").unwrap_or_default();
        let body = chunk.split("</form>").next().unwrap_or("");
        let mut fields = Vec::new();
        for input in body.split("<input").skip(1) {
            let tag = &input[..input.find('>').unwrap_or(input.len())];
            if let Some(name) = attr(tag, "name") {
                fields.push((name, attr(tag, "value").unwrap_or_default()));
            }
        }
        out.push(Form { action, fields });
    }
    out
}

impl Form {
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.to_string(), value.to_string()));
        self
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn absorb(&mut self, resp: &Resp) {
        for v in resp.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let pair = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = pair.split_once('=') {
                let expired = v.to_ascii_lowercase().contains("max-age=0");
                if expired || val.is_empty() {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_string(), val.to_string());
                }
            }
        }
    }

    /// Path and query of a Location, whatever its origin (tests run in-process).
    fn local(location: &str) -> String {
        match location.strip_prefix("https://").or_else(|| location.strip_prefix("http://")) {
            Some(rest) => rest.find('/').map(|i| rest[i..].to_string()).unwrap_or_else(|| "/".into()),
            None => location.to_string(),
        }
    }

    pub async fn get(&mut self, ts: &TestServer, path: &str) -> Resp {
        let mut req = Request::get(Self::local(path)).header("cookie", self.cookie_header());
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Body::empty()).unwrap();
        let r = ts.request(req).await;
        self.absorb(&r);
        r
    }

    pub async fn post(&mut self, ts: &TestServer, path: &str, fields: &[(String, String)]) -> Resp {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut req = Request::post(Self::local(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Body::from(body)).unwrap();
        let r = ts.request(req).await;
        self.absorb(&r);
        r
    }

    /// Follows redirects on the server until a page (non-3xx) or a Location outside the
    /// server (`stop_prefix`, e.g. the client's redirect URI) is reached.
    pub async fn follow(&mut self, ts: &TestServer, mut r: Resp, stop_prefix: &str) -> (Resp, Option<String>) {
        for _ in 0..10 {
            if !r.status.is_redirection() {
                return (r, None);
            }
            let loc = r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            if loc.starts_with(stop_prefix) {
                return (r, Some(loc));
            }
            r = self.get(ts, &loc).await;
        }
        (r, None)
    }
}
