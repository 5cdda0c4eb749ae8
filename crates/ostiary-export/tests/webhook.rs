//! The webhook sink against a real (raw Tokio) HTTP receiver and a real SQLite store:
//! retries, ordering, signatures, filters, TLS with an extra CA, and wake-up latency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::receiver::Receiver;
use common::*;
use ostiary_export::{ExportOptions, Exporter, SinkConfig};
use ostiary_store::{LogKind, Store};

const SECRET: &str = "test-webhook-secret";

fn sink(extra: &str) -> SinkConfig {
    toml::from_str(&format!("type = \"webhook\"\nsecret = \"{SECRET}\"\n{extra}")).unwrap()
}

async fn all_seqs(store: &dyn Store) -> Vec<i64> {
    store.logs_after(0, 10_000).await.unwrap().iter().map(|r| r.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_until_accepted_and_delivers_in_order() {
    let dir = TempDir::new("ostiary-export-webhook");
    let store = store(&dir).await;
    let t = tenant(&*store).await;
    append(&*store, t, 1, 251).await;
    let seqs = all_seqs(&*store).await;
    let last = *seqs.last().unwrap();

    let rx = Receiver::start(SECRET, 3, 503).await;
    let cfg = sink(&format!("name = \"hook\"\nurl = \"{}\"\nstart = \"beginning\"\nbatch_size = 40\n", rx.url));
    let handle = Exporter::start_with(store.clone(), vec![cfg], now(), std::future::pending(), fast_options()).unwrap();

    eventually("cursor at the last record", Duration::from_secs(20), || async {
        store.export_cursor("export:hook").await.unwrap() == Some(last)
    })
    .await;

    let stored = store.logs_after(0, 10_000).await.unwrap();
    {
        let seen = rx.seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        // The first batch failed three times and was resent whole each time, then accepted.
        assert_eq!(seen.requests.len(), seqs.len().div_ceil(40) + 3);
        for r in &seen.requests[..4] {
            assert_eq!(r, &seqs[..40]);
        }
        // Accepted: every record exactly once, in seq order (duplicates only across failures,
        // and the failed attempts were not accepted).
        assert_eq!(seen.accepted_seqs(), seqs);
        // Content: kind, tenant and the stored document.
        for (item, rec) in seen.accepted.iter().flatten().zip(&stored) {
            assert_eq!(item["kind"], rec.record.kind.as_str());
            assert_eq!(item["tenantId"], t.to_string());
            assert_eq!(item["record"], rec.record.doc);
        }
    }

    let status = handle.status().await;
    assert_eq!(status.len(), 1);
    let s = &status[0];
    assert_eq!((s.name.as_str(), s.cursor, s.backlog_records, s.lag_seconds), ("hook", last, 0, 0.0));
    assert_eq!((s.delivered_total, s.failures_total), (250, 3));
    assert_eq!(s.last_error, None);

    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(10), handle.join()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_retried_never_skipped() {
    let dir = TempDir::new("ostiary-export-webhook");
    let store = store(&dir).await;
    let t = tenant(&*store).await;
    append(&*store, t, 1, 11).await;
    let seqs = all_seqs(&*store).await;

    let rx = Receiver::start(SECRET, 2, 400).await;
    let cfg = sink(&format!("name = \"hook4xx\"\nurl = \"{}\"\nstart = \"beginning\"\n", rx.url));
    let handle = Exporter::start_with(store.clone(), vec![cfg], now(), std::future::pending(), fast_options()).unwrap();

    // While failing, the status shows the error, the backlog and the lag.
    eventually("a failure", Duration::from_secs(10), || async { handle.status().await[0].failures_total >= 1 }).await;
    eventually("delivered", Duration::from_secs(10), || async { rx.seen.lock().unwrap().accepted_seqs() == seqs })
        .await;
    let s = &handle.status().await[0];
    assert_eq!(s.failures_total, 2);
    assert_eq!(s.cursor, *seqs.last().unwrap());
    handle.shutdown();
    handle.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_skip_records_but_advance_the_cursor() {
    let dir = TempDir::new("ostiary-export-webhook");
    let store = store(&dir).await;
    let a = tenant(&*store).await;
    let b = tenant(&*store).await;
    for i in 1..=30 {
        store.append_logs(&[record(if i % 2 == 0 { a } else { b }, i)]).await.unwrap();
    }
    // The newest record is filtered out, so only the cursor shows it was passed.
    store.append_logs(&[record(b, 31)]).await.unwrap();
    let stored = store.logs_after(0, 10_000).await.unwrap();
    let last = stored.last().unwrap().seq;
    let expected: Vec<i64> =
        stored.iter().filter(|r| r.record.tenant == a && r.record.kind == LogKind::SignIn).map(|r| r.seq).collect();
    assert!(!expected.is_empty());

    let rx = Receiver::start(SECRET, 0, 200).await;
    let cfg = sink(&format!(
        "name = \"filtered\"\nurl = \"{}\"\nstart = \"beginning\"\nbatch_size = 7\nkinds = [\"signIn\"]\ntenants = [\"{a}\"]\n",
        rx.url
    ));
    let handle = Exporter::start_with(store.clone(), vec![cfg], now(), std::future::pending(), fast_options()).unwrap();
    eventually("cursor passes the filtered tail", Duration::from_secs(10), || async {
        store.export_cursor("export:filtered").await.unwrap() == Some(last)
    })
    .await;
    assert_eq!(rx.seen.lock().unwrap().accepted_seqs(), expected);
    let s = &handle.status().await[0];
    assert_eq!(s.delivered_total, expected.len() as u64);
    assert_eq!(s.backlog_records, 0);
    handle.shutdown();
    handle.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_an_extra_ca() {
    let dir = TempDir::new("ostiary-export-webhook");
    let (ca, cert, key) = write_certs(&dir);
    let store = store(&dir).await;
    let t = tenant(&*store).await;
    append(&*store, t, 1, 6).await;
    let seqs = all_seqs(&*store).await;
    let rx = Receiver::start_tls(SECRET, &cert, &key).await;

    // Without the CA the server is not trusted: failures, nothing delivered.
    let untrusted = sink(&format!("name = \"untrusted\"\nurl = \"{}\"\nstart = \"beginning\"\n", rx.url));
    let h1 =
        Exporter::start_with(store.clone(), vec![untrusted], now(), std::future::pending(), fast_options()).unwrap();
    eventually("TLS failures", Duration::from_secs(10), || async { h1.status().await[0].failures_total >= 2 }).await;
    let s = &h1.status().await[0];
    assert!(s.last_error.is_some(), "{s:?}");
    assert_eq!(s.delivered_total, 0);
    assert_eq!(s.backlog_records, seqs.len() as u64);
    assert!(s.lag_seconds > 3000.0, "{s:?}");
    h1.shutdown();
    h1.join().await;

    let trusted = sink(&format!(
        "name = \"trusted\"\nurl = \"{}\"\nstart = \"beginning\"\nca_file = \"{}\"\n",
        rx.url,
        ca.display()
    ));
    let h2 = Exporter::start_with(store.clone(), vec![trusted], now(), std::future::pending(), fast_options()).unwrap();
    eventually("delivered over TLS", Duration::from_secs(10), || async {
        rx.seen.lock().unwrap().accepted_seqs() == seqs
    })
    .await;
    assert_eq!(rx.seen.lock().unwrap().bad_signatures, 0);
    h2.shutdown();
    h2.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_delivers_without_waiting_for_the_poll() {
    let dir = TempDir::new("ostiary-export-webhook");
    let store = store(&dir).await;
    let t = tenant(&*store).await;
    let rx = Receiver::start(SECRET, 0, 200).await;
    let cfg = sink(&format!("name = \"fast\"\nurl = \"{}\"\n", rx.url));
    // A poll interval far above the latency asserted below: only `wake` can explain it.
    let options = ExportOptions { poll_interval: Duration::from_secs(60), ..fast_options() };
    let handle = Exporter::start_with(store.clone(), vec![cfg], now(), std::future::pending(), options).unwrap();
    // `start = "now"`: the cursor is initialised (and persisted) to the current end.
    eventually("initialised", Duration::from_secs(5), || async {
        store.export_cursor("export:fast").await.unwrap() == Some(0)
    })
    .await;
    // Let the task reach its idle wait.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut latencies = Vec::new();
    for round in 0..20 {
        append(&*store, t, round, round + 1).await;
        let started = tokio::time::Instant::now();
        handle.wake();
        // The poll interval is 60 s: delivery within 10 s can only come from the wake.
        eventually("delivered after wake", Duration::from_secs(10), || async {
            rx.seen.lock().unwrap().accepted_seqs().len() == usize::try_from(round + 1).unwrap()
        })
        .await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    assert!(latencies[latencies.len() - 1] < Duration::from_secs(10), "{latencies:?}");
    handle.shutdown();
    handle.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_future_stops_the_exporter() {
    let dir = TempDir::new("ostiary-export-webhook");
    let store = store(&dir).await;
    let rx = Receiver::start(SECRET, 0, 200).await;
    let (tx, stop) = tokio::sync::oneshot::channel::<()>();
    let cfg = sink(&format!("name = \"stop\"\nurl = \"{}\"\n", rx.url));
    let handle = Exporter::start_with(
        store.clone(),
        vec![cfg],
        now(),
        async move {
            let _ = stop.await;
        },
        fast_options(),
    )
    .unwrap();
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle.join()).await.unwrap();
}

#[tokio::test]
async fn start_rejects_invalid_sets_of_sinks() {
    let dir = TempDir::new("ostiary-export-webhook");
    let store = store(&dir).await;
    let a = sink("name = \"same\"\nurl = \"http://127.0.0.1:9/\"\n");
    let r = Exporter::start(store.clone(), vec![a.clone(), a], now(), std::future::pending());
    assert!(r.is_err());
    let tls_missing_file: SinkConfig = toml::from_str(
        "type = \"syslog\"\nname = \"s\"\naddress = \"127.0.0.1:6514\"\ntls = true\nca_file = \"/nonexistent/ca.pem\"\n",
    )
    .unwrap();
    let err = Exporter::start(store, vec![tls_missing_file], now(), std::future::pending()).err().unwrap();
    assert!(err.to_string().contains("ca_file"), "{err}");
}
