//! A minimal HTTP/1.1 webhook receiver on a raw Tokio listener (optionally TLS): verifies
//! the signature of every request, fails the first `fail_first` requests with a chosen
//! status, and records the accepted batches. It also takes OTLP/HTTP JSON logs
//! (`/v1/logs`, rebuilt into webhook-like items) and traces (`/v1/traces`, kept whole).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default, Debug)]
pub struct Seen {
    /// Every request (accepted or not), as the list of `seq`s of its body.
    pub requests: Vec<Vec<i64>>,
    /// Accepted batches, as their `records` items.
    pub accepted: Vec<Vec<serde_json::Value>>,
    pub bad_signatures: usize,
    /// Accepted `POST /v1/traces` bodies (`ExportTraceServiceRequest` JSON).
    pub traces: Vec<serde_json::Value>,
    /// Requests still to fail, and with which status.
    pub fail_first: usize,
    pub fail_status: u16,
}

impl Seen {
    pub fn accepted_seqs(&self) -> Vec<i64> {
        self.accepted.iter().flatten().map(|r| r["seq"].as_i64().unwrap()).collect()
    }
}

pub struct Receiver {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Receiver {
    /// Plain HTTP on 127.0.0.1.
    pub async fn start(secret: &str, fail_first: usize, fail_status: u16) -> Receiver {
        Self::start_inner(secret, fail_first, fail_status, None).await
    }

    /// HTTPS with the given certificate and key (PEM files); the URL uses `localhost`.
    pub async fn start_tls(secret: &str, cert: &Path, key: &Path) -> Receiver {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).unwrap().collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Self::start_inner(secret, 0, 200, Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))).await
    }

    async fn start_inner(
        secret: &str,
        fail_first: usize,
        fail_status: u16,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen { fail_first, fail_status, ..Seen::default() }));
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/hook"),
            None => format!("http://127.0.0.1:{port}/hook"),
        };
        let secret = secret.as_bytes().to_vec();
        let s2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let seen = s2.clone();
                let secret = secret.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acc) => {
                            if let Ok(s) = acc.accept(tcp).await {
                                serve(s, &secret, &seen).await;
                            }
                        }
                        None => serve(tcp, &secret, &seen).await,
                    }
                });
            }
        });
        Receiver { url, seen }
    }
}

/// Serves requests on one connection until it closes.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, secret: &[u8], seen: &Mutex<Seen>) {
    let mut buf = Vec::new();
    loop {
        // Headers.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 65536];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);

        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let is_traces = request_line.starts_with("POST /v1/traces ");
        let (sig_ok, items) = if is_traces {
            // OTLP/HTTP JSON traces: kept whole; the tests configure the same header.
            assert_eq!(header("authorization").as_deref(), Some("Bearer t0ken"));
            (true, Vec::new())
        } else if request_line.starts_with("POST /v1/logs ") {
            // OTLP/HTTP JSON: unsigned (the test configures an Authorization header); items
            // rebuilt from the log records' attributes.
            assert_eq!(header("authorization").as_deref(), Some("Bearer t0ken"));
            let items = v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                .as_array()
                .unwrap()
                .iter()
                .map(|lr| {
                    let attr = |k: &str| {
                        lr["attributes"].as_array().unwrap().iter().find(|a| a["key"] == k).map(|a| a["value"].clone())
                    };
                    let seq: i64 = attr("seq").unwrap()["intValue"].as_str().unwrap().parse().unwrap();
                    serde_json::json!({
                        "seq": seq,
                        "kind": attr("kind").unwrap()["stringValue"],
                        "tenantId": attr("tenantId").unwrap()["stringValue"],
                        "record": serde_json::from_str::<serde_json::Value>(lr["body"]["stringValue"].as_str().unwrap()).unwrap(),
                    })
                })
                .collect::<Vec<_>>();
            (true, items)
        } else {
            assert!(request_line.starts_with("POST /hook "), "{request_line}");
            let ts = header("x-ostiary-timestamp").unwrap_or_default();
            let mut signed = ts.clone().into_bytes();
            signed.push(b'.');
            signed.extend_from_slice(&body);
            let expected = format!("sha256={}", hex(&ostiary_crypto::digest::hmac_sha256(secret, &signed)));
            (
                header("x-ostiary-signature").as_deref() == Some(expected.as_str()),
                v["records"].as_array().unwrap().clone(),
            )
        };
        let status = {
            let mut seen = seen.lock().unwrap();
            seen.requests.push(items.iter().map(|r| r["seq"].as_i64().unwrap()).collect());
            if !sig_ok {
                seen.bad_signatures += 1;
                401
            } else if seen.fail_first > 0 {
                seen.fail_first -= 1;
                seen.fail_status
            } else if is_traces {
                seen.traces.push(v);
                200
            } else {
                seen.accepted.push(items);
                200
            }
        };
        let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok");
        if s.write_all(resp.as_bytes()).await.is_err() || s.flush().await.is_err() {
            return;
        }
    }
}
