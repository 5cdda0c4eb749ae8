//! Consistency of `deploy/` (Grafana dashboards, Prometheus rules and their tests) and `docs/runbooks.md`
//! with the metrics Ostiary exports: every `ostiary_*` name they use must be a family of
//! `Metrics::names()` (histograms with `_bucket|_sum|_count`), every `ostiary:*` recording rule they use
//! must be defined in `alerts.yml`, every dashboard has real panels, every alert has a runbook section
//! and a firing test, and `promtool` accepts the rules, their tests and every dashboard query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use ostiary_metrics::Metrics;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy_dir() -> PathBuf {
    repo_root().join("deploy")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every maximal identifier in `text` that starts with `prefix` (not preceded by an identifier
/// character) and whose character after the prefix satisfies `first`.
fn identifiers(text: &str, prefix: &str, first: impl Fn(char) -> bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(prefix) {
        let start = from + pos;
        from = start + prefix.len();
        if text[..start].chars().next_back().is_some_and(is_ident_char) {
            continue;
        }
        let rest = &text[start + prefix.len()..];
        if !rest.chars().next().is_some_and(&first) {
            continue;
        }
        let len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
        out.insert(format!("{prefix}{}", &rest[..len]));
    }
    out
}

/// `ostiary_...` metric names used in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    identifiers(text, "ostiary_", |c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .into_iter()
        .map(|s| s.trim_end_matches(':').to_owned())
        .collect()
}

/// `ostiary:...` recording rule names used in `text` (`ostiary:8443` is a host, not a rule).
fn recording_names(text: &str) -> BTreeSet<String> {
    identifiers(text, "ostiary:", |c| c.is_ascii_lowercase())
}

fn histograms() -> BTreeSet<String> {
    Metrics::new()
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" histogram").map(str::to_owned))
        .collect()
}

/// Whether `name` is an exported series name: a family, or a histogram's `_bucket|_sum|_count`.
fn exported(name: &str, families: &BTreeSet<&str>, histograms: &BTreeSet<String>) -> bool {
    families.contains(name)
        || ["_bucket", "_sum", "_count"]
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(|base| histograms.contains(base)))
}

fn string_values<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| string_values(v, out)),
        Value::Object(o) => o.values().for_each(|v| string_values(v, out)),
        _ => {}
    }
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = deploy_dir().join("grafana");
    let all: Vec<(PathBuf, Value)> = files_under(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", p.display()));
            (p, v)
        })
        .collect();
    let names: BTreeSet<String> =
        all.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["executive.json", "oncall.json", "debug.json"] {
        assert!(names.contains(expected), "missing dashboard {expected}");
    }
    all
}

/// Panels of a dashboard, rows flattened (a collapsed row keeps its panels inside it).
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"].as_array().map(|a| a.iter().rev().collect()).unwrap_or_default();
    while let Some(p) = stack.pop() {
        if p["type"] == "row" {
            if let Some(inner) = p["panels"].as_array() {
                stack.extend(inner.iter().rev());
            }
        } else {
            out.push(p);
        }
    }
    out
}

fn exprs(panel: &Value) -> Vec<&str> {
    panel["targets"].as_array().into_iter().flatten().filter_map(|t| t["expr"].as_str()).collect()
}

fn alerts_yml() -> String {
    fs::read_to_string(deploy_dir().join("prometheus/alerts.yml")).unwrap()
}

/// `(key, value)` of every `key: value` line in a YAML text, values unquoted (enough for our flat rules).
fn yaml_values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            let v = l.strip_prefix(key)?.strip_prefix(':')?.trim();
            Some(v.trim_matches('"').trim_matches('\''))
        })
        .collect()
}

#[test]
fn deploy_and_runbooks_reference_only_exported_metrics() {
    let families_vec = Metrics::names();
    let families: BTreeSet<&str> = families_vec.iter().copied().collect();
    let histograms = histograms();
    let recorded: BTreeSet<String> = yaml_values(&alerts_yml(), "record").into_iter().map(str::to_owned).collect();
    assert!(recorded.len() >= 14, "recording rules: {recorded:?}");

    let mut texts: Vec<(String, String)> = Vec::new();
    for path in files_under(&deploy_dir()) {
        let shown = path.strip_prefix(repo_root()).unwrap_or(&path).display().to_string();
        let text = fs::read_to_string(&path).unwrap();
        if path.extension().is_some_and(|e| e == "json") {
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{shown}: invalid JSON: {e}"));
            let mut strings = Vec::new();
            string_values(&v, &mut strings);
            texts.push((shown, strings.join("\n")));
        } else {
            texts.push((shown, text));
        }
    }
    texts.push(("docs/runbooks.md".into(), fs::read_to_string(repo_root().join("docs/runbooks.md")).unwrap()));

    let mut used = BTreeMap::<String, String>::new();
    let mut problems = Vec::new();
    for (file, text) in &texts {
        for name in metric_names(text) {
            if !exported(&name, &families, &histograms) {
                problems.push(format!("{file}: `{name}` is not a metric Ostiary exports"));
            }
            used.entry(name).or_insert_with(|| file.clone());
        }
        for rule in recording_names(text) {
            if !recorded.contains(&rule) {
                problems.push(format!("{file}: recording rule `{rule}` is not defined in alerts.yml"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The scan found something (it would pass vacuously on a broken scanner).
    assert!(used.contains_key("ostiary_signin_attempts_total"));
    assert!(used.contains_key("ostiary_token_issuance_duration_seconds_bucket"));
}

#[test]
fn dashboards_have_panels_with_queries_and_the_template_variables() {
    for (path, d) in dashboards() {
        let shown = path.display();
        let ps = panels(&d);
        assert!(ps.len() >= 4, "{shown}: {} panels", ps.len());
        let mut ids = BTreeSet::new();
        for p in &ps {
            let title = p["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{shown}: panel without title");
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{shown}: duplicate panel id in {title}");
            let e = exprs(p);
            assert!(e.iter().any(|e| !e.trim().is_empty()), "{shown}: panel {title:?} has no query");
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{shown}: panel {title:?} datasource");
        }
        assert!((36..=41).contains(&d["schemaVersion"].as_u64().unwrap()), "{shown}: schemaVersion");
        let vars = d["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"),
            "{shown}: no datasource variable"
        );
        let tenant =
            vars.iter().find(|v| v["name"] == "tenant").unwrap_or_else(|| panic!("{shown}: no tenant variable"));
        assert_eq!(tenant["definition"], "label_values(ostiary_signin_attempts_total, tenant_id)");
    }
}

/// Alert name → (severity, runbook anchor).
fn alerts() -> BTreeMap<String, (String, String)> {
    let text = alerts_yml();
    let mut out = BTreeMap::new();
    for block in text.split("- alert:").skip(1) {
        let name = block.lines().next().unwrap().trim().to_owned();
        let severity = yaml_values(block, "severity").first().map(|s| (*s).to_owned()).unwrap_or_default();
        let runbook = yaml_values(block, "runbook_url").first().map(|s| (*s).to_owned()).unwrap_or_default();
        let anchor = runbook
            .strip_prefix("docs/runbooks.md#")
            .unwrap_or_else(|| panic!("{name}: runbook_url {runbook:?} does not point into docs/runbooks.md"));
        out.insert(name, (severity, anchor.to_owned()));
    }
    out
}

/// GitHub's anchor for a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_severity_runbook_and_tests() {
    let alerts = alerts();
    for expected in [
        "OstiarySignInErrorBudgetBurnFast",
        "OstiaryTokenLatencyBudgetBurnFast",
        "OstiaryCredentialExpiringSoon",
        "OstiaryCredentialExpired",
        "OstiaryExpiredCredentialUse",
        "OstiarySigningCertificateExpiring",
        "OstiaryLogExportLagging",
        "OstiaryLogExportFailing",
        "OstiaryLockoutStorm",
        "OstiaryThrottling",
        "OstiarySignInLogDropped",
        "OstiaryDown",
    ] {
        assert!(alerts.contains_key(expected), "missing alert {expected}");
    }
    let runbooks = fs::read_to_string(repo_root().join("docs/runbooks.md")).unwrap();
    let anchors: BTreeSet<String> = runbooks.lines().filter_map(|l| l.strip_prefix("## ")).map(anchor).collect();
    let tests = fs::read_to_string(deploy_dir().join("prometheus/alerts_test.yml")).unwrap();
    for (name, (severity, a)) in &alerts {
        assert!(severity == "page" || severity == "ticket", "{name}: severity {severity:?}");
        assert!(anchors.contains(a), "{name}: no section #{a} in docs/runbooks.md");
        assert_eq!(*a, name.to_lowercase(), "{name}: anchor should be the lowercased alert name");
        // A firing expectation carries the alert's annotations, hence its runbook_url; a silent one
        // is `exp_alerts: []`.
        assert!(
            tests.contains(&format!("runbook_url: \"docs/runbooks.md#{a}\"")),
            "{name}: no test in alerts_test.yml where it fires"
        );
        assert!(
            tests.contains(&format!("alertname: {name}, exp_alerts: []"))
                || tests.contains(&format!("alertname: {name}\n        exp_alerts: []")),
            "{name}: no test in alerts_test.yml where it stays silent"
        );
    }
}

// ------------------------------------------------------------------------------------- promtool

#[allow(clippy::disallowed_methods)] // tests read their configuration from the environment
fn tools_required() -> bool {
    std::env::var("OSTIARY_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// `/usr/bin/promtool`, or `None` (after printing a skip line) when it is absent and not required.
fn promtool() -> Option<&'static Path> {
    let p = Path::new("/usr/bin/promtool");
    if p.exists() {
        return Some(p);
    }
    assert!(!tools_required(), "OSTIARY_REQUIRE_TOOLS=1 but /usr/bin/promtool is missing");
    println!("skipped: /usr/bin/promtool not installed");
    None
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_checks_and_tests_the_rules() {
    let Some(promtool) = promtool() else { return };
    let dir = deploy_dir().join("prometheus");
    run(Command::new(promtool).current_dir(&dir).args(["check", "rules", "alerts.yml"]));
    run(Command::new(promtool).current_dir(&dir).args(["test", "rules", "alerts_test.yml"]));
    run(Command::new(promtool).current_dir(&dir).args(["check", "config", "--syntax-only", "prometheus.yml"]));
}

#[test]
fn promtool_parses_every_dashboard_query() {
    let Some(promtool) = promtool() else { return };
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut n = 0;
    for (path, d) in dashboards() {
        let mut queries: Vec<String> = panels(&d).iter().flat_map(|p| exprs(p)).map(str::to_owned).collect();
        if let Some(vars) = d["templating"]["list"].as_array() {
            // `label_values(metric, label)` is Grafana's, not PromQL; its metric selector must parse.
            for v in vars {
                if let Some(def) = v["definition"].as_str().and_then(|s| s.strip_prefix("label_values(")) {
                    queries.push(def.split(',').next().unwrap().to_owned());
                }
            }
        }
        for q in queries {
            let q = q
                .replace("$__rate_interval", "5m")
                .replace("$__interval", "1m")
                .replace("$__range", "1d")
                .replace("$tenant", ".*");
            assert!(!q.contains('$'), "{}: unknown variable in {q}", path.display());
            n += 1;
            rules.push_str(&format!("      - record: dashboard_query_{n}\n        expr: |\n"));
            for line in q.lines() {
                rules.push_str(&format!("          {line}\n"));
            }
        }
    }
    assert!(n >= 40, "only {n} dashboard queries");
    let tmp = std::env::temp_dir().join(format!("ostiary-dashboard-queries-{}.yml", std::process::id()));
    fs::write(&tmp, rules).unwrap();
    let out = Command::new(promtool).args(["check", "rules"]).arg(&tmp).output().unwrap();
    let _ = fs::remove_file(&tmp);
    assert!(
        out.status.success(),
        "a dashboard query does not parse:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn scanner_finds_names_and_rules() {
    let names = metric_names(r#"rate(ostiary_a_total{x="ostiary_b"}[5m]) + my_ostiary_c + ostiary_:x"#);
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["ostiary_a_total", "ostiary_b"]);
    let rules = recording_names("ostiary:x:ratio_rate5m / 1 and host ostiary:8443");
    assert_eq!(rules.into_iter().collect::<Vec<_>>(), ["ostiary:x:ratio_rate5m"]);
    assert_eq!(anchor("OstiaryDown"), "ostiarydown");
    assert_eq!(anchor("Log export: lag"), "log-export-lag");
}
