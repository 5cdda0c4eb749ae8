//! Text exposition format 0.0.4 primitives: escaping of label values and HELP text, number formatting,
//! and validation of metric and label names.

use std::fmt::Write as _;

/// Appends `value` escaped for use inside a double-quoted label value (`\\`, `\"`, `\n`).
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `help` escaped for a `# HELP` line (`\\`, `\n`; quotes are literal there).
pub(crate) fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `v` the way Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, which is what the reference
/// Prometheus clients emit (so `le` label values match theirs): shortest round-trip digits, exponent
/// notation below 1e-4 and from 1e21 on (`1e-05`, `1.5e+21`), and `+Inf`, `-Inf`, `NaN`.
pub(crate) fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == 0.0 {
        out.push('0');
    } else {
        let abs = v.abs();
        if (1e-4..1e21).contains(&abs) {
            let _ = write!(out, "{v}");
        } else {
            let s = format!("{v:e}");
            match s.split_once('e') {
                Some((mantissa, exp)) => {
                    let (sign, digits) = match exp.strip_prefix('-') {
                        Some(d) => ('-', d),
                        None => ('+', exp),
                    };
                    out.push_str(mantissa);
                    out.push('e');
                    out.push(sign);
                    if digits.len() < 2 {
                        out.push('0');
                    }
                    out.push_str(digits);
                }
                None => out.push_str(&s),
            }
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub(crate) fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not reserved (`__` prefix).
pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_f64(&mut s, v);
        s
    }

    #[test]
    fn floats_match_go_formatting() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(1.0), "1");
        assert_eq!(f(-3.0), "-3");
        assert_eq!(f(0.25), "0.25");
        assert_eq!(f(0.0025), "0.0025");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(0.00005), "5e-05");
        assert_eq!(f(1e-5), "1e-05");
        assert_eq!(f(1.5e-10), "1.5e-10");
        assert_eq!(f(3600.0), "3600");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(-2.5e300), "-2.5e+300");
        assert_eq!(f(1_700_000_000.5), "1700000000.5");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(f64::NAN), "NaN");
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd'é");
        assert_eq!(s, r#"a\\b\"c\nd'é"#);
        let mut s = String::new();
        escape_help(&mut s, "say \"hi\"\\\nbye");
        assert_eq!(s, r#"say "hi"\\\nbye"#);
    }

    #[test]
    fn names() {
        assert!(valid_metric_name("ostiary_x:y_total"));
        assert!(!valid_metric_name("1abc"));
        assert!(!valid_metric_name(""));
        assert!(!valid_metric_name("a-b"));
        assert!(valid_label_name("tenant_id"));
        assert!(!valid_label_name("__name__"));
        assert!(!valid_label_name("a:b"));
    }
}
