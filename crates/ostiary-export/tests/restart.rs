//! The cursor survives the exporter: a new exporter with the same sink name resumes exactly
//! where the previous one stopped; `start` only matters for a sink without a cursor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::receiver::Receiver;
use common::*;
use ostiary_export::{Exporter, SinkConfig};
use ostiary_store::Store;

const SECRET: &str = "restart-secret";

fn sink(name: &str, url: &str, start: &str) -> SinkConfig {
    toml::from_str(&format!(
        "type = \"webhook\"\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nstart = \"{start}\"\nbatch_size = 8\n"
    ))
    .unwrap()
}

async fn seqs(store: &dyn Store) -> Vec<i64> {
    store.logs_after(0, 10_000).await.unwrap().iter().map(|r| r.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_exporter_delivers_exactly_the_remaining_records() {
    let dir = TempDir::new("ostiary-export-restart");
    let store = store(&dir).await;
    let t = tenant(&*store).await;
    let rx = Receiver::start(SECRET, 0, 200).await;

    append(&*store, t, 1, 31).await;
    let first = seqs(&*store).await;
    let h1 = Exporter::start_with(
        store.clone(),
        vec![sink("siem", &rx.url, "beginning")],
        now(),
        std::future::pending(),
        fast_options(),
    )
    .unwrap();
    eventually("first run delivered", Duration::from_secs(10), || async {
        store.export_cursor("export:siem").await.unwrap() == first.last().copied()
    })
    .await;
    h1.shutdown();
    tokio::time::timeout(Duration::from_secs(10), h1.join()).await.unwrap();
    assert_eq!(rx.seen.lock().unwrap().accepted_seqs(), first);

    // Appended while no exporter runs.
    append(&*store, t, 31, 61).await;
    let all = seqs(&*store).await;
    let remaining = all[first.len()..].to_vec();

    // `start = "now"` is ignored: the persisted cursor wins.
    let h2 = Exporter::start_with(
        store.clone(),
        vec![sink("siem", &rx.url, "now")],
        now(),
        std::future::pending(),
        fast_options(),
    )
    .unwrap();
    eventually("second run delivered", Duration::from_secs(10), || async {
        store.export_cursor("export:siem").await.unwrap() == all.last().copied()
    })
    .await;
    let s = &h2.status().await[0];
    assert_eq!(s.delivered_total, remaining.len() as u64);
    h2.shutdown();
    h2.join().await;

    let seen = rx.seen.lock().unwrap();
    assert_eq!(seen.accepted_seqs(), all, "every record exactly once across the restart");
    let second_run: Vec<i64> = seen.accepted_seqs()[first.len()..].to_vec();
    assert_eq!(second_run, remaining);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_now_skips_history_and_persists_its_starting_point() {
    let dir = TempDir::new("ostiary-export-restart");
    let store = store(&dir).await;
    let t = tenant(&*store).await;
    let rx = Receiver::start(SECRET, 0, 200).await;
    append(&*store, t, 1, 21).await;
    let history_end = store.last_log_seq().await.unwrap();

    let h1 = Exporter::start_with(
        store.clone(),
        vec![sink("late", &rx.url, "now")],
        now(),
        std::future::pending(),
        fast_options(),
    )
    .unwrap();
    eventually("cursor initialised", Duration::from_secs(5), || async {
        store.export_cursor("export:late").await.unwrap() == Some(history_end)
    })
    .await;
    h1.shutdown();
    h1.join().await;

    // Records appended between the first start and the next one are not lost to "now".
    append(&*store, t, 21, 26).await;
    let expected: Vec<i64> = seqs(&*store).await.into_iter().filter(|s| *s > history_end).collect();
    let h2 = Exporter::start_with(
        store.clone(),
        vec![sink("late", &rx.url, "now")],
        now(),
        std::future::pending(),
        fast_options(),
    )
    .unwrap();
    eventually("delivered", Duration::from_secs(10), || async { rx.seen.lock().unwrap().accepted_seqs() == expected })
        .await;
    h2.shutdown();
    h2.join().await;
}
