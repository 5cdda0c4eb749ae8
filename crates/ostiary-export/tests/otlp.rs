//! The OTLP/HTTP (JSON) sink against a raw HTTP receiver and a real SQLite store.
#![cfg(feature = "otlp")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::receiver::Receiver;
use common::*;
use ostiary_export::{Exporter, SinkConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_delivers_in_order_after_503s() {
    let dir = TempDir::new("ostiary-export-otlp");
    let store = store(&dir).await;
    let t = tenant(&*store).await;
    append(&*store, t, 1, 41).await;
    let stored = store.logs_after(0, 10_000).await.unwrap();

    let rx = Receiver::start("unused", 2, 503).await;
    let endpoint = rx.url.trim_end_matches("/hook").to_string();
    let cfg: SinkConfig = toml::from_str(&format!(
        "type = \"otlp\"\nname = \"otel\"\nendpoint = \"{endpoint}/\"\nstart = \"beginning\"\nbatch_size = 16\n\
         headers = {{ authorization = \"Bearer t0ken\" }}\n"
    ))
    .unwrap();
    assert!(!format!("{cfg:?}").contains("t0ken"));
    let handle = Exporter::start_with(store.clone(), vec![cfg], now(), std::future::pending(), fast_options()).unwrap();
    eventually("delivered", Duration::from_secs(10), || async {
        store.export_cursor("export:otel").await.unwrap() == stored.last().map(|r| r.seq)
    })
    .await;
    {
        let seen = rx.seen.lock().unwrap();
        assert_eq!(seen.accepted_seqs(), stored.iter().map(|r| r.seq).collect::<Vec<_>>());
        for (item, rec) in seen.accepted.iter().flatten().zip(&stored) {
            assert_eq!(item["record"], rec.record.doc);
            assert_eq!(item["kind"], rec.record.kind.as_str());
            assert_eq!(item["tenantId"], t.to_string());
        }
    }
    assert_eq!(handle.status().await[0].failures_total, 2);
    handle.shutdown();
    handle.join().await;
}
