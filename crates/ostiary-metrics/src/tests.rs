//! Unit tests: exact exposition text per type, escaping, buckets, the label-set cap, concurrency, and
//! the full `Metrics` exposition checked by `promtool check metrics` when it is installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::{Metrics, OVERFLOW_LABEL_VALUE, Registry};

#[test]
fn counter_exposition() {
    let mut r = Registry::new();
    let plain = r.counter("app_requests_total", "Requests.");
    let vec = r.counter_vec("app_errors_total", "Errors by kind.", &["kind", "code"]);
    plain.inc();
    plain.inc_by(41);
    vec.inc(&["b", "1"]);
    vec.inc_by(&["a", "2"], 3);
    vec.inc(&["a", "10"]);
    vec.inc(&["b", "1"]);
    assert_eq!(vec.get(&["b", "1"]), 2);
    assert_eq!(vec.get(&["zz", "1"]), 0);
    assert_eq!(
        r.render(),
        "# HELP app_requests_total Requests.\n\
         # TYPE app_requests_total counter\n\
         app_requests_total 42\n\
         # HELP app_errors_total Errors by kind.\n\
         # TYPE app_errors_total counter\n\
         app_errors_total{kind=\"a\",code=\"10\"} 1\n\
         app_errors_total{kind=\"a\",code=\"2\"} 3\n\
         app_errors_total{kind=\"b\",code=\"1\"} 2\n"
    );
}

#[test]
fn gauge_exposition() {
    let mut r = Registry::new();
    let plain = r.gauge("app_queue_depth", "Queue depth.");
    let vec = r.gauge_vec("app_expiry_seconds", "Expiry.", &["id"]);
    plain.set_i64(7);
    plain.dec();
    vec.set(&["x"], -86_400.5);
    vec.set(&["a"], 0.00001);
    vec.set_i64(&["m"], 3);
    vec.inc(&["m"]);
    vec.add(&["m"], 0.5);
    vec.dec(&["n"]);
    assert_eq!(vec.get(&["m"]), Some(4.5));
    assert_eq!(vec.get(&["q"]), None);
    assert_eq!(
        r.render(),
        "# HELP app_queue_depth Queue depth.\n\
         # TYPE app_queue_depth gauge\n\
         app_queue_depth 6\n\
         # HELP app_expiry_seconds Expiry.\n\
         # TYPE app_expiry_seconds gauge\n\
         app_expiry_seconds{id=\"a\"} 1e-05\n\
         app_expiry_seconds{id=\"m\"} 4.5\n\
         app_expiry_seconds{id=\"n\"} -1\n\
         app_expiry_seconds{id=\"x\"} -86400.5\n"
    );
    assert!(vec.remove(&["x"]));
    assert!(!vec.remove(&["x"]));
    vec.retain(|l| l[0] != "n");
    assert_eq!(vec.len(), 2);
    vec.clear();
    assert!(vec.is_empty());
    assert_eq!(
        r.render(),
        "# HELP app_queue_depth Queue depth.\n\
         # TYPE app_queue_depth gauge\n\
         app_queue_depth 6\n\
         # HELP app_expiry_seconds Expiry.\n\
         # TYPE app_expiry_seconds gauge\n"
    );
}

#[test]
fn histogram_exposition_is_cumulative_with_inf() {
    let mut r = Registry::new();
    let plain = r.histogram("app_eval_seconds", "Evaluation.", &[0.1, 0.5]);
    let vec = r.histogram_vec("app_latency_seconds", "Latency.", &["route"], &[0.25, 0.005, 1.0]);
    assert_eq!(vec.with(&["/x"]).bounds(), &[0.005, 0.25, 1.0]);
    for v in [0.001, 0.005, 0.2, 0.25, 0.3, 2.0, 100.0] {
        vec.observe(&["/token"], v);
    }
    vec.observe_duration(&["/authorize"], Duration::from_millis(500));
    plain.observe(0.5);
    assert_eq!(
        r.render(),
        "# HELP app_eval_seconds Evaluation.\n\
         # TYPE app_eval_seconds histogram\n\
         app_eval_seconds_bucket{le=\"0.1\"} 0\n\
         app_eval_seconds_bucket{le=\"0.5\"} 1\n\
         app_eval_seconds_bucket{le=\"+Inf\"} 1\n\
         app_eval_seconds_sum 0.5\n\
         app_eval_seconds_count 1\n\
         # HELP app_latency_seconds Latency.\n\
         # TYPE app_latency_seconds histogram\n\
         app_latency_seconds_bucket{route=\"/authorize\",le=\"0.005\"} 0\n\
         app_latency_seconds_bucket{route=\"/authorize\",le=\"0.25\"} 0\n\
         app_latency_seconds_bucket{route=\"/authorize\",le=\"1\"} 1\n\
         app_latency_seconds_bucket{route=\"/authorize\",le=\"+Inf\"} 1\n\
         app_latency_seconds_sum{route=\"/authorize\"} 0.5\n\
         app_latency_seconds_count{route=\"/authorize\"} 1\n\
         app_latency_seconds_bucket{route=\"/token\",le=\"0.005\"} 2\n\
         app_latency_seconds_bucket{route=\"/token\",le=\"0.25\"} 4\n\
         app_latency_seconds_bucket{route=\"/token\",le=\"1\"} 5\n\
         app_latency_seconds_bucket{route=\"/token\",le=\"+Inf\"} 7\n\
         app_latency_seconds_sum{route=\"/token\"} 102.756\n\
         app_latency_seconds_count{route=\"/token\"} 7\n\
         app_latency_seconds_bucket{route=\"/x\",le=\"0.005\"} 0\n\
         app_latency_seconds_bucket{route=\"/x\",le=\"0.25\"} 0\n\
         app_latency_seconds_bucket{route=\"/x\",le=\"1\"} 0\n\
         app_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 0\n\
         app_latency_seconds_sum{route=\"/x\"} 0\n\
         app_latency_seconds_count{route=\"/x\"} 0\n"
    );
}

#[test]
fn label_values_and_help_are_escaped() {
    let mut r = Registry::new();
    let c = r.counter_vec("app_x_total", "Line one\nback\\slash \"quoted\".", &["v"]);
    c.inc(&["a\\b\"c\nd"]);
    c.inc(&["plain"]);
    assert_eq!(
        r.render(),
        "# HELP app_x_total Line one\\nback\\\\slash \"quoted\".\n\
         # TYPE app_x_total counter\n\
         app_x_total{v=\"a\\\\b\\\"c\\nd\"} 1\n\
         app_x_total{v=\"plain\"} 1\n"
    );
}

#[test]
fn long_label_values_are_truncated_on_a_char_boundary() {
    let mut r = Registry::new();
    let c = r.counter_vec("app_x_total", "X.", &["v"]);
    let long = "é".repeat(200); // 400 bytes
    c.inc(&[&long]);
    c.inc(&[&long]);
    let cut = "é".repeat(128); // 256 bytes
    assert_eq!(c.get(&[&cut]), 2);
    assert_eq!(c.len(), 1);
}

#[test]
fn distinct_label_sets_are_capped_with_an_overflow_child() {
    let mut r = Registry::with_max_children(3);
    let c = r.counter_vec("app_x_total", "X.", &["a", "b"]);
    for i in 0..10 {
        c.inc(&[&i.to_string(), "v"]);
    }
    c.inc(&["0", "v"]); // existing sets keep counting after the cap
    assert_eq!(c.len(), 4);
    assert_eq!(c.get(&["0", "v"]), 2);
    assert_eq!(c.get(&[OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE]), 7);
    assert_eq!(
        r.render(),
        "# HELP app_x_total X.\n\
         # TYPE app_x_total counter\n\
         app_x_total{a=\"0\",b=\"v\"} 2\n\
         app_x_total{a=\"1\",b=\"v\"} 1\n\
         app_x_total{a=\"2\",b=\"v\"} 1\n\
         app_x_total{a=\"_overflow\",b=\"_overflow\"} 7\n"
    );
    // Freed slots are reusable.
    let g = r.gauge_vec("app_g", "G.", &["a"]);
    for i in 0..5 {
        g.set(&[&i.to_string()], 1.0);
    }
    assert_eq!(g.len(), 4);
    assert!(g.remove(&["0"]));
    g.set(&["new"], 2.0);
    assert_eq!(g.get(&["new"]), Some(2.0));
    // The default cap.
    let m = Metrics::new();
    for i in 0..crate::DEFAULT_MAX_CHILDREN + 50 {
        m.throttled_responses.inc(&[&format!("/r/{i}")]);
    }
    assert_eq!(m.throttled_responses.len(), crate::DEFAULT_MAX_CHILDREN + 1);
    assert_eq!(m.throttled_responses.get(&[OVERFLOW_LABEL_VALUE]), 50);
}

#[cfg(not(debug_assertions))]
#[test]
fn wrong_arity_goes_to_overflow_in_release() {
    let mut r = Registry::new();
    let c = r.counter_vec("app_x_total", "X.", &["a", "b"]);
    c.inc(&["only-one"]);
    assert_eq!(c.get(&[OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE]), 1);
}

#[test]
fn concurrent_observations_sum_exactly() {
    let mut r = Registry::new();
    let c = r.counter_vec("app_x_total", "X.", &["a"]);
    let plain = r.counter("app_y_total", "Y.");
    let g = r.gauge("app_g", "G.");
    let h = r.histogram_vec("app_h_seconds", "H.", &["a"], &[0.5]);
    let threads = 8;
    let per_thread = 20_000u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (c, plain, g, h) = (Arc::clone(&c), Arc::clone(&plain), Arc::clone(&g), Arc::clone(&h));
            s.spawn(move || {
                let own = format!("t{t}");
                for i in 0..per_thread {
                    c.inc(&["shared"]);
                    c.inc(&[&own]);
                    plain.inc();
                    g.inc();
                    if i % 2 == 0 {
                        g.dec();
                    }
                    h.observe(&["shared"], if i % 2 == 0 { 0.25 } else { 1.0 });
                }
            });
        }
    });
    let total = threads * per_thread;
    assert_eq!(c.get(&["shared"]), total);
    assert_eq!(c.get(&["t3"]), per_thread);
    assert_eq!(plain.get(), total);
    assert_eq!(g.get(), (total / 2) as f64);
    let hist = h.with(&["shared"]);
    assert_eq!(hist.count(), total);
    assert_eq!(hist.sum(), (total / 2) as f64 * 1.25);
    assert!(r.render().contains(&format!("app_h_seconds_bucket{{a=\"shared\",le=\"0.5\"}} {}\n", total / 2)));
}

#[test]
fn metrics_names_are_valid_unique_and_in_order() {
    let names = Metrics::names();
    assert_eq!(names.len(), 32);
    assert_eq!(names.first(), Some(&"ostiary_signin_attempts_total"));
    assert_eq!(names.last(), Some(&"ostiary_process_start_time_seconds"));
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
    for n in &names {
        assert!(crate::encode::valid_metric_name(n) && n.starts_with("ostiary_"), "{n}");
    }
    // Every family is rendered (HELP and TYPE) even before anything is observed.
    let text = Metrics::new().render();
    for n in &names {
        assert!(text.contains(&format!("# TYPE {n} ")), "{n}");
    }
    assert!(text.contains("\nostiary_signin_log_dropped_total 0\n"));
    assert!(text.contains("\nostiary_role_activation_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
}

/// A `Metrics` with an observation in every family.
fn sample_metrics() -> Metrics {
    let m = Metrics::new();
    let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let app = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
    m.signin_attempts.inc(&[t, app, "interactive", "success", "0"]);
    m.signin_attempts.inc_by(&[t, app, "interactive", "failure", "50126"], 3);
    m.signin_attempts.inc(&[t, app, "managed_identity", "failure", "700016"]);
    m.token_issuance_duration.observe(&["client_credentials"], 0.004);
    m.token_issuance_duration.observe_duration(&["authorization_code"], Duration::from_millis(120));
    m.conditional_access_evaluation_duration.observe(0.00003);
    m.conditional_access_failures.inc(&[t]);
    m.managed_identity_auth_attempts.inc_by(&[t], 10);
    m.managed_identity_auth_failures.inc(&[t]);
    m.credential_expiry.set(&[t, app, "password"], 86_400.0 * 45.0);
    m.credential_expiry.set(&[t, app, "certificate"], -3600.0);
    m.expired_credential_failures.inc(&[t, app]);
    m.throttled_responses.inc(&["/v1.0/users"]);
    m.role_activation_duration.observe(12.5);
    m.role_activations.inc(&[t]);
    m.log_export_lag.set(&["siem"], 42.0);
    m.log_export_backlog.set_i64(&["siem"], 1200);
    m.log_export_delivered.inc_by(&["siem"], 5000);
    m.log_export_failures.inc(&["siem"]);
    m.mfa_challenges.inc(&["totp", "success"]);
    m.mfa_challenges.inc(&["sms", "failure"]);
    m.certificate_expiry.set(&[t, "signing_key", "kid\"with\\odd\nchars"], 7.5e6);
    m.certificate_expiry.set(&[t, "federation_metadata", "md-1"], 2.5e6);
    m.http_requests.inc(&["/{tenant}/oauth2/v2.0/token", "POST", "200"]);
    m.http_requests.inc(&["/v1.0/users", "GET", "429"]);
    m.http_request_duration.observe(&["/{tenant}/oauth2/v2.0/token"], 0.0031);
    m.store_operation_duration.observe(&["get_user"], 0.0007);
    m.store_pool_connections.set(&["idle"], 4.0);
    m.store_pool_connections.set(&["in_use"], 1.0);
    m.signin_log_queue_depth.set(3.0);
    m.signin_log_written.inc_by(99);
    m.signin_log_dropped.inc();
    m.password_hash_waiting.inc();
    m.account_lockouts.inc(&[t]);
    m.audit_events.inc(&["ApplicationManagement"]);
    m.provisioning_actions.inc(&["create", "success"]);
    m.provisioning_quarantined_jobs.set_i64(1);
    m.tokens_issued.inc(&["client_credentials"]);
    m.build_info.set(&["0.1.0", "sqlite"], 1.0);
    m.process_start_time.set(1_767_225_600.0);
    m
}

#[test]
fn every_family_has_a_sample() {
    let text = sample_metrics().render();
    for n in Metrics::names() {
        let has_sample = text.lines().any(|l| {
            !l.starts_with('#')
                && l.strip_prefix(n).is_some_and(|rest| {
                    let rest =
                        rest.trim_start_matches("_bucket").trim_start_matches("_sum").trim_start_matches("_count");
                    rest.starts_with('{') || rest.starts_with(' ')
                })
        });
        assert!(has_sample, "no sample for {n}");
    }
    assert!(text.contains(
        "ostiary_certificate_expiry_seconds{tenant_id=\"72f988bf-86f1-41af-91ab-2d7cd011db47\",kind=\"signing_key\",kid=\"kid\\\"with\\\\odd\\nchars\"} 7500000\n"
    ));
    assert!(text.contains("ostiary_conditional_access_evaluation_duration_seconds_bucket{le=\"5e-05\"} 1\n"));
}

#[allow(clippy::disallowed_methods)] // tests read their configuration from the environment
fn tools_required() -> bool {
    std::env::var("OSTIARY_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

#[test]
fn promtool_accepts_the_exposition() {
    let promtool = std::path::Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        assert!(!tools_required(), "OSTIARY_REQUIRE_TOOLS=1 but /usr/bin/promtool is missing");
        println!("skipped: /usr/bin/promtool not installed");
        return;
    }
    let text = sample_metrics().render();
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\nstdout: {}\nstderr: {}\n--- input ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
