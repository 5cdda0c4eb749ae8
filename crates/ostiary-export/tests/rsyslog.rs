//! The syslog sink against a real rsyslogd (imtcp, octet-counted framing; TLS through the
//! `ossl` network stream driver from the `rsyslog-openssl` package) and a real SQLite
//! store: delivery in order, parseable RFC 5424 lines, and no loss across a collector
//! restart.
//!
//! Needs `/usr/sbin/rsyslogd`; without it the tests print a skip line and pass, unless
//! `OSTIARY_REQUIRE_TOOLS=1`. The TLS test additionally needs `lmnsd_ossl.so`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use ostiary_export::{Exporter, ExporterHandle, SinkConfig};
use ostiary_store::{LogKind, LogRecord, Store};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// `true` if the tools are there; otherwise skips (or fails with OSTIARY_REQUIRE_TOOLS=1).
fn tools_present(test: &str, extra: &[&str]) -> bool {
    let missing: Vec<&str> =
        std::iter::once(RSYSLOGD).chain(extra.iter().copied()).filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    #[allow(clippy::disallowed_methods)] // tests decide their own tool policy
    let required = std::env::var("OSTIARY_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    assert!(!required, "{test}: missing {missing:?} and OSTIARY_REQUIRE_TOOLS=1");
    eprintln!("SKIP {test}: missing {missing:?}");
    false
}

fn ossl_driver() -> Option<&'static str> {
    [
        "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so",
        "/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_ossl.so",
        "/usr/lib/rsyslog/lmnsd_ossl.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
}

/// A private rsyslogd instance: imtcp on `port`, every message's raw text appended as one
/// line to `out`.
struct Rsyslog {
    dir: PathBuf,
    conf: PathBuf,
    port: u16,
    out: PathBuf,
    child: Option<Child>,
}

impl Rsyslog {
    fn new(dir: &Path, tls: Option<(&Path, &Path, &Path)>) -> Rsyslog {
        let port = free_port();
        let work = dir.join("rsyslog-work");
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.join("received.log");
        let (global_tls, module) = match tls {
            None => (String::new(), "module(load=\"imtcp\")".to_string()),
            Some((ca, cert, key)) => (
                format!(
                    "global(DefaultNetstreamDriver=\"ossl\" DefaultNetstreamDriverCAFile=\"{}\" \
                     DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\")\n",
                    ca.display(),
                    cert.display(),
                    key.display()
                ),
                "module(load=\"imtcp\" StreamDriver.Name=\"ossl\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")"
                    .to_string(),
            ),
        };
        let conf_text = format!(
            "global(workDirectory=\"{work}\" maxMessageSize=\"256k\")\n\
             {global_tls}\
             {module}\n\
             template(name=\"rawline\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             ruleset(name=\"export\") {{\n  action(type=\"omfile\" file=\"{out}\" template=\"rawline\")\n}}\n\
             input(type=\"imtcp\" port=\"{port}\" ruleset=\"export\")\n",
            work = work.display(),
            out = out.display(),
        );
        let conf = dir.join("rsyslog.conf");
        std::fs::write(&conf, conf_text).unwrap();
        let check = Command::new(RSYSLOGD).arg("-N1").arg("-f").arg(&conf).output().unwrap();
        assert!(check.status.success(), "rsyslogd -N1: {}", String::from_utf8_lossy(&check.stderr));
        Rsyslog { dir: dir.to_path_buf(), conf, port, out, child: None }
    }

    /// Starts rsyslogd in the foreground (`-n`) with its own config and pid file, and waits
    /// until it accepts connections.
    async fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("rsyslogd.stderr")).unwrap();
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        eventually("rsyslogd listening", Duration::from_secs(10), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
    }

    /// SIGTERM, then wait for the process to exit.
    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
        tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    }

    /// The complete lines so far: rsyslog's omfile flushes its buffer in chunks, so a read can
    /// catch the last line half written; that one is left for the next read.
    fn lines(&self) -> Vec<String> {
        match std::fs::read_to_string(&self.out) {
            Ok(s) => {
                let complete = s.rfind('\n').map_or("", |end| &s[..end]);
                complete.lines().map(str::to_string).collect()
            }
            Err(_) => Vec::new(),
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.stderr")).unwrap_or_default()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

/// A received line taken apart: RFC 5424 header, the structured-data parameters, the JSON.
#[derive(Debug)]
struct Parsed {
    pri: u8,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    params: Vec<(String, String)>,
    msg: serde_json::Value,
}

impl Parsed {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A strict parser for the lines this sink writes (RFC 5424 §6 grammar, one SD-ELEMENT).
fn parse_line(line: &str) -> Parsed {
    let rest = line.strip_prefix('<').unwrap_or_else(|| panic!("no PRI: {line}"));
    let (pri, rest) = rest.split_once('>').unwrap();
    let pri: u8 = pri.parse().unwrap();
    let rest = rest.strip_prefix("1 ").unwrap_or_else(|| panic!("not version 1: {line}"));
    let mut fields = rest.splitn(6, ' ');
    let timestamp = fields.next().unwrap().to_string();
    let hostname = fields.next().unwrap().to_string();
    let app_name = fields.next().unwrap().to_string();
    let procid = fields.next().unwrap().to_string();
    let msgid = fields.next().unwrap().to_string();
    let rest = fields.next().unwrap();
    for f in [&hostname, &app_name, &procid, &msgid] {
        assert!(f.bytes().all(|b| (33..=126).contains(&b)), "header field {f:?}");
    }
    assert!(hostname.len() <= 255 && app_name.len() <= 48 && procid.len() <= 128 && msgid.len() <= 32);

    // [SD-ID SP PARAM-NAME="PARAM-VALUE" ...]
    let sd = rest.strip_prefix('[').unwrap_or_else(|| panic!("no SD: {line}"));
    let (sd_id, mut sd) = sd.split_once(' ').unwrap();
    assert_eq!(sd_id, "ostiary@32473");
    let mut params = Vec::new();
    let msg_text;
    loop {
        let (name, after) = sd.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next().unwrap_or_else(|| panic!("unterminated PARAM-VALUE: {line}"));
            match c {
                '\\' => {
                    let (_, e) = chars.next().unwrap();
                    assert!(matches!(e, '"' | '\\' | ']'), "bad escape in {line}");
                    value.push(e);
                }
                '"' => break i + 1,
                ']' => panic!("unescaped ] in PARAM-VALUE: {line}"),
                c => value.push(c),
            }
        };
        params.push((name.to_string(), value));
        let after = &after[end..];
        if let Some(m) = after.strip_prefix("] ") {
            msg_text = m;
            break;
        }
        sd = after.strip_prefix(' ').unwrap_or_else(|| panic!("bad SD: {line}"));
    }
    assert!(!msg_text.starts_with('\u{feff}'));
    let msg = serde_json::from_str(msg_text).unwrap_or_else(|e| panic!("MSG is not JSON ({e}): {line}"));
    Parsed { pri, timestamp, hostname, app_name, procid, msgid, params, msg }
}

/// Checks one parsed line against the stored record it names.
fn check_line(p: &Parsed, rec: &LogRecord) {
    let r = &rec.record;
    let severity = if r.status == 0 { 6 } else { 4 };
    assert_eq!(p.pri, 10 * 8 + severity);
    let expected_ts = r
        .time
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap();
    assert_eq!(p.timestamp, expected_ts);
    assert_eq!(p.hostname, "idp-test.example");
    assert_eq!(p.app_name, "ostiary");
    assert_eq!(p.procid, "-");
    assert_eq!(p.msgid, r.kind.as_str());
    assert_eq!(p.param("tenantId"), Some(r.tenant.to_string().as_str()));
    assert_eq!(p.param("id"), Some(r.id.to_string().as_str()));
    assert_eq!(p.param("correlationId"), r.correlation_id.as_deref());
    assert_eq!(p.msg, r.doc);
    assert!(matches!(r.kind, LogKind::SignIn | LogKind::Audit));
}

fn seq_of(p: &Parsed) -> i64 {
    p.param("seq").unwrap().parse().unwrap()
}

fn syslog_sink(name: &str, port: u16, tls_ca: Option<&Path>) -> SinkConfig {
    let tls = match tls_ca {
        Some(ca) => format!("tls = true\nca_file = \"{}\"\nserver_name = \"localhost\"\n", ca.display()),
        None => String::new(),
    };
    toml::from_str(&format!(
        "type = \"syslog\"\nname = \"{name}\"\naddress = \"127.0.0.1:{port}\"\nhostname = \"idp-test.example\"\n\
         start = \"beginning\"\nbatch_size = 20\ntimeout_ms = 3000\n{tls}"
    ))
    .unwrap()
}

/// The whole scenario: deliver, stop the collector, append while it is down (failures,
/// backlog, lag), restart it on the same port, and find every record in the file.
async fn scenario(rs: &mut Rsyslog, store: std::sync::Arc<dyn Store>, sink: SinkConfig) {
    let t = tenant(&*store).await;
    rs.start().await;
    append(&*store, t, 1, 51).await;
    let key = sink.cursor_key();
    let handle: ExporterHandle =
        Exporter::start_with(store.clone(), vec![sink], now(), std::future::pending(), fast_options()).unwrap();

    let stored = store.logs_after(0, 10_000).await.unwrap();
    let first_last = stored.last().unwrap().seq;
    eventually("first 50 records in rsyslog's file", Duration::from_secs(20), || async {
        rs.lines().len() >= stored.len() && store.export_cursor(&key).await.unwrap() == Some(first_last)
    })
    .await;
    let lines = rs.lines();
    let parsed: Vec<Parsed> = lines.iter().map(|l| parse_line(l)).collect();
    // No failure yet: exactly the records, in seq order.
    assert_eq!(parsed.iter().map(seq_of).collect::<Vec<_>>(), stored.iter().map(|r| r.seq).collect::<Vec<_>>());
    for (p, rec) in parsed.iter().zip(&stored) {
        check_line(p, rec);
    }
    assert!(parsed.iter().any(|p| p.pri == 84), "a failed sign-in is a warning");
    assert!(parsed.iter().any(|p| p.msgid == "directoryAudit"));
    let failures_before = handle.status().await[0].failures_total;
    assert_eq!(failures_before, 0, "{:?}\n{}", handle.status().await, rs.stderr());

    // Collector down: appends pile up.
    rs.stop().await;
    append(&*store, t, 51, 81).await;
    handle.wake();
    eventually("failures, backlog and lag while rsyslogd is down", Duration::from_secs(20), || async {
        let s = &handle.status().await[0];
        s.failures_total > 0 && s.backlog_records >= 30 && s.lag_seconds > 0.0 && s.last_error.is_some()
    })
    .await;
    let s = &handle.status().await[0];
    eprintln!("while rsyslogd is down: {s:?}");
    assert_eq!(s.cursor, first_last, "{s:?}");
    assert!(s.lag_seconds > 3000.0, "the oldest undelivered record is ~1h old: {s:?}");

    // Collector back on the same port: everything arrives.
    rs.start().await;
    let all = store.logs_after(0, 10_000).await.unwrap();
    let last = all.last().unwrap().seq;
    let wanted: BTreeSet<i64> = all.iter().map(|r| r.seq).collect();
    eventually("every record in the file after the restart", Duration::from_secs(30), || async {
        let have: BTreeSet<i64> = rs.lines().iter().map(|l| seq_of(&parse_line(l))).collect();
        have == wanted && store.export_cursor(&key).await.unwrap() == Some(last)
    })
    .await;

    // Every line parses; first occurrences are in seq order (a resent batch may repeat).
    let parsed: Vec<Parsed> = rs.lines().iter().map(|l| parse_line(l)).collect();
    let mut first_seen = Vec::new();
    let mut seen = BTreeSet::new();
    for p in &parsed {
        let seq = seq_of(p);
        if seen.insert(seq) {
            first_seen.push(seq);
        }
        check_line(p, all.iter().find(|r| r.seq == seq).unwrap());
    }
    assert_eq!(first_seen, all.iter().map(|r| r.seq).collect::<Vec<_>>());

    let s = &handle.status().await[0];
    eprintln!("after the restart: {} lines for {} records; {s:?}", parsed.len(), all.len());
    assert_eq!((s.cursor, s.backlog_records, s.lag_seconds), (last, 0, 0.0), "{s:?}");
    assert_eq!(s.last_error, None);
    assert!(s.delivered_total >= u64::try_from(all.len()).unwrap());
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(10), handle.join()).await.unwrap();
    rs.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_tcp_survives_a_collector_restart() {
    if !tools_present("rsyslog_tcp_survives_a_collector_restart", &[]) {
        return;
    }
    let dir = TempDir::new("ostiary-export-rsyslog");
    let store = store(&dir).await;
    let mut rs = Rsyslog::new(dir.path(), None);
    let sink = syslog_sink("rsyslog", rs.port, None);
    scenario(&mut rs, store, sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_tls_survives_a_collector_restart() {
    let Some(driver) = ossl_driver() else {
        tools_present("rsyslog_tls_survives_a_collector_restart", &["/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so"]);
        return;
    };
    if !tools_present("rsyslog_tls_survives_a_collector_restart", &[driver]) {
        return;
    }
    let dir = TempDir::new("ostiary-export-rsyslog-tls");
    let (ca, cert, key) = write_certs(&dir);
    let store = store(&dir).await;
    let mut rs = Rsyslog::new(dir.path(), Some((&ca, &cert, &key)));

    // A client that does not trust the server's CA delivers nothing.
    let other = TempDir::new("ostiary-export-other-ca");
    let (other_ca, _, _) = write_certs(&other);
    rs.start().await;
    let t = tenant(&*store).await;
    append(&*store, t, 0, 1).await;
    let untrusted = Exporter::start_with(
        store.clone(),
        vec![syslog_sink("untrusted", rs.port, Some(&other_ca))],
        now(),
        std::future::pending(),
        fast_options(),
    )
    .unwrap();
    eventually("TLS failures with an unknown CA", Duration::from_secs(10), || async {
        untrusted.status().await[0].failures_total >= 2
    })
    .await;
    let s = &untrusted.status().await[0];
    assert!(s.last_error.as_deref().unwrap_or_default().contains("TLS"), "{s:?}");
    assert_eq!(s.delivered_total, 0);
    untrusted.shutdown();
    untrusted.join().await;
    rs.stop().await;
    assert!(rs.lines().is_empty());

    // The trusted run counts the record above too; the scenario reads the store itself.
    let sink = syslog_sink("rsyslog-tls", rs.port, Some(&ca));
    scenario(&mut rs, store, sink).await;
}
