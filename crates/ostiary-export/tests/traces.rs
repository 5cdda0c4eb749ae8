//! The OTLP/HTTP (JSON) trace layer against a raw HTTP receiver: span mapping, parent/child
//! and W3C `traceparent` propagation, retries, and dropping (never blocking) when the
//! collector is down or the queue is full.
#![cfg(feature = "otlp")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::receiver::{Receiver, Seen};
use common::{T0, free_port};
use ostiary_export::traces::QUEUE_CAPACITY;
use ostiary_export::{Now, OtlpTraceLayer, TraceExportConfig};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

/// A clock that advances one millisecond per reading.
fn ticking() -> Now {
    let ms = Arc::new(AtomicI64::new(0));
    Arc::new(move || T0 + time::Duration::milliseconds(ms.fetch_add(1, Ordering::SeqCst)))
}

fn config(endpoint: &str) -> TraceExportConfig {
    toml::from_str(&format!(
        "endpoint = \"{endpoint}/\"\nheaders = {{ authorization = \"Bearer t0ken\" }}\n\
         timeout_ms = 2000\nservice_version = \"9.9.9-test\"\n"
    ))
    .unwrap()
}

fn endpoint(rx: &Receiver) -> String {
    rx.url.trim_end_matches("/hook").to_string()
}

/// Every span of every accepted request.
fn spans(seen: &Seen) -> Vec<Value> {
    seen.traces
        .iter()
        .flat_map(|t| t["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().clone())
        .collect()
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = spans.iter().filter(|s| s["name"] == name).collect();
    assert_eq!(found.len(), 1, "spans named {name}: {spans:#?}");
    found[0]
}

fn attr(item: &Value, key: &str) -> Option<Value> {
    item["attributes"].as_array().unwrap().iter().find(|a| a["key"] == key).map(|a| a["value"].clone())
}

fn is_hex(v: &Value, len: usize) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == len
        && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

fn nanos(v: &Value) -> u64 {
    v.as_str().expect("int64 as a string").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_as_one_trace() {
    let rx = Receiver::start("unused", 0, 200).await;
    let (layer, handle) = OtlpTraceLayer::new(config(&endpoint(&rx)), ticking(), [42; 32]).unwrap();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    {
        let root = tracing::info_span!(
            "request",
            request_id = "req-1",
            correlation_id = %"corr-1",
            method = %"POST",
            path = "/t/oauth2/v2.0/token",
        );
        let _root = root.enter();
        let child =
            tracing::info_span!("store.query", rows = 3u64, cached = false, ratio = 0.5, late = tracing::field::Empty);
        let _child = child.enter();
        tracing::info!(answer = 42, "did something");
        child.record("late", "recorded later");
    }
    drop(tracing::info_span!("failing", error = %"boom"));
    drop(tracing::info_span!("marked", otel.status_code = "ERROR"));
    drop(guard);
    handle.flush().await;

    let seen = rx.seen.lock().unwrap();
    assert!(!seen.traces.is_empty());
    let body = &seen.traces[0];
    let rs = &body["resourceSpans"][0];
    assert_eq!(attr(&rs["resource"], "service.name").unwrap(), serde_json::json!({"stringValue": "ostiary"}));
    assert_eq!(attr(&rs["resource"], "service.version").unwrap(), serde_json::json!({"stringValue": "9.9.9-test"}));
    assert_eq!(rs["scopeSpans"][0]["scope"]["name"], "ostiary");
    let spans = spans(&seen);
    assert_eq!(spans.len(), 4);
    let root = named(&spans, "request");
    let child = named(&spans, "store.query");

    // Ids: hex (not base64), of the right length; one trace; the child under the root.
    for s in [root, child] {
        assert!(is_hex(&s["traceId"], 32), "{s}");
        assert!(is_hex(&s["spanId"], 16), "{s}");
    }
    assert_eq!(child["traceId"], root["traceId"]);
    assert_eq!(child["parentSpanId"], root["spanId"]);
    assert_ne!(child["spanId"], root["spanId"]);
    assert!(root.get("parentSpanId").is_none(), "{root}");
    assert_eq!(root["kind"], 2);
    assert_eq!(child["kind"], 1);

    // Attributes from the fields, with their types.
    assert_eq!(attr(root, "request_id").unwrap(), serde_json::json!({"stringValue": "req-1"}));
    assert_eq!(attr(root, "correlation_id").unwrap(), serde_json::json!({"stringValue": "corr-1"}));
    assert_eq!(attr(root, "method").unwrap(), serde_json::json!({"stringValue": "POST"}));
    assert_eq!(attr(root, "path").unwrap(), serde_json::json!({"stringValue": "/t/oauth2/v2.0/token"}));
    assert_eq!(attr(child, "rows").unwrap(), serde_json::json!({"intValue": "3"}));
    assert_eq!(attr(child, "cached").unwrap(), serde_json::json!({"boolValue": false}));
    assert_eq!(attr(child, "ratio").unwrap(), serde_json::json!({"doubleValue": 0.5}));
    assert_eq!(attr(child, "late").unwrap(), serde_json::json!({"stringValue": "recorded later"}));

    // The event, inside the child.
    let events = child["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "did something");
    assert_eq!(attr(&events[0], "answer").unwrap(), serde_json::json!({"intValue": "42"}));
    assert_eq!(attr(&events[0], "level").unwrap(), serde_json::json!({"stringValue": "INFO"}));
    assert!(root.get("events").is_none());

    // Times: decimal strings; the root encloses the child, which encloses its event.
    let (rs0, rs1) = (nanos(&root["startTimeUnixNano"]), nanos(&root["endTimeUnixNano"]));
    let (cs0, cs1) = (nanos(&child["startTimeUnixNano"]), nanos(&child["endTimeUnixNano"]));
    let ev = nanos(&events[0]["timeUnixNano"]);
    assert!(rs0 >= T0.unix_timestamp_nanos() as u64);
    assert!(rs0 < cs0 && cs0 < ev && ev < cs1 && cs1 < rs1, "{rs0} {cs0} {ev} {cs1} {rs1}");

    // Status: unset, or ERROR from an `error` field or `otel.status_code`.
    assert_eq!(root["status"]["code"], 0);
    assert_eq!(child["status"]["code"], 0);
    let failing = named(&spans, "failing");
    assert_eq!(failing["status"], serde_json::json!({"code": 2, "message": "boom"}));
    assert_eq!(attr(failing, "error").unwrap(), serde_json::json!({"stringValue": "boom"}));
    let marked = named(&spans, "marked");
    assert_eq!(marked["status"]["code"], 2);
    assert!(attr(marked, "otel.status_code").is_none());

    // Every root starts its own trace.
    let traces: HashSet<&str> = [root, failing, marked].iter().map(|s| s["traceId"].as_str().unwrap()).collect();
    assert_eq!(traces.len(), 3);
    assert_eq!(failing["kind"], 1, "only a root `request` span is SERVER");
    assert_eq!((handle.exported_spans(), handle.dropped_spans()), (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_field_joins_the_callers_trace() {
    let rx = Receiver::start("unused", 0, 200).await;
    let (layer, handle) = OtlpTraceLayer::new(config(&endpoint(&rx)), ticking(), [1; 32]).unwrap();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    tracing::info_span!("request", request_id = "a", traceparent = tp).in_scope(|| {
        drop(tracing::info_span!("inner"));
    });
    // Invalid contexts are ignored: a new trace.
    for bad in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "garbage",
    ] {
        drop(tracing::info_span!("request", request_id = "b", traceparent = bad));
    }
    drop(guard);
    handle.flush().await;

    let seen = rx.seen.lock().unwrap();
    let spans = spans(&seen);
    assert_eq!(spans.len(), 5);
    let joined: Vec<&Value> =
        spans.iter().filter(|s| attr(s, "request_id") == Some(serde_json::json!({"stringValue": "a"}))).collect();
    assert_eq!(joined.len(), 1);
    let root = joined[0];
    assert_eq!(root["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(root["kind"], 2);
    assert!(attr(root, "traceparent").is_none());
    let inner = named(&spans, "inner");
    assert_eq!(inner["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(inner["parentSpanId"], root["spanId"]);
    for s in spans.iter().filter(|s| attr(s, "request_id") == Some(serde_json::json!({"stringValue": "b"}))) {
        assert_ne!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(is_hex(&s["traceId"], 32));
        assert!(s.get("parentSpanId").is_none(), "{s}");
        assert_eq!(s["kind"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_is_retried_and_spans_after_shutdown_are_dropped() {
    let rx = Receiver::start("unused", 1, 500).await;
    let (layer, handle) = OtlpTraceLayer::new(config(&endpoint(&rx)), ticking(), [2; 32]).unwrap();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    drop(tracing::info_span!("request", request_id = "r"));
    handle.flush().await;
    {
        let seen = rx.seen.lock().unwrap();
        assert_eq!(seen.requests.len(), 2, "a 500, then the retry");
        assert_eq!(spans(&seen).len(), 1);
        assert_eq!(named(&spans(&seen), "request")["kind"], 2);
    }
    assert_eq!((handle.exported_spans(), handle.dropped_spans()), (1, 0));

    handle.shutdown().await;
    drop(tracing::info_span!("late"));
    assert_eq!((handle.exported_spans(), handle.dropped_spans()), (1, 1));
    handle.flush().await; // returns at once: the task is gone
    assert_eq!(rx.seen.lock().unwrap().requests.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_dropped_and_counted_when_the_collector_is_down() {
    let down = format!("http://127.0.0.1:{}", free_port());
    let (layer, handle) = OtlpTraceLayer::new(config(&down), ticking(), [3; 32]).unwrap();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    // Spans are handed to a bounded queue (try_send): closing them never waits for the collector.
    for i in 0..100 {
        tracing::info_span!("request", request_id = i).in_scope(|| {
            drop(tracing::info_span!("child"));
        });
    }
    tokio::time::timeout(Duration::from_secs(30), handle.flush()).await.expect("flush gives up after the retries");
    assert_eq!((handle.exported_spans(), handle.dropped_spans()), (0, 200));
}

/// Spans opened before the export task runs (no Tokio runtime yet) queue, up to the
/// capacity; the rest are dropped and counted. Once started, the queue goes out in batches.
#[test]
fn spans_queue_before_the_runtime_and_overflow_is_dropped() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let rx = rt.block_on(Receiver::start("unused", 0, 200));
    let (layer, handle) = OtlpTraceLayer::new(config(&endpoint(&rx)), ticking(), [4; 32]).unwrap();
    let extra = 8;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..QUEUE_CAPACITY + extra {
            drop(tracing::info_span!("queued", i));
        }
    });
    assert_eq!((handle.exported_spans(), handle.dropped_spans()), (0, extra as u64));
    assert!(rx.seen.lock().unwrap().requests.is_empty());

    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), handle.flush()).await.unwrap();
    });
    assert_eq!((handle.exported_spans(), handle.dropped_spans()), (QUEUE_CAPACITY as u64, extra as u64));
    let seen = rx.seen.lock().unwrap();
    let spans = spans(&seen);
    assert_eq!(spans.len(), QUEUE_CAPACITY);
    assert!(seen.traces.len() >= QUEUE_CAPACITY / 512);
    for t in &seen.traces {
        assert!(t["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().len() <= 512);
    }
    let ids: HashSet<&str> = spans.iter().map(|s| s["spanId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), QUEUE_CAPACITY, "span ids are unique");
    let traces: HashSet<&str> = spans.iter().map(|s| s["traceId"].as_str().unwrap()).collect();
    assert_eq!(traces.len(), QUEUE_CAPACITY, "trace ids are unique");
}
