//! Output encoding for the server-rendered pages: one HTML escaper for text and quoted attribute
//! values, a URL filter for `href`/`src`/`action`, and the accent-colour validator.
//!
//! Every value a page interpolates goes through [`escape`]; URLs go through [`safe_url`] first
//! (`escape(&safe_url(u))`), because escaping alone does not stop `javascript:` URLs.

/// Escapes `s` for HTML text content and for double- or single-quoted attribute values:
/// `&`, `<`, `>`, `"` and `'` become character references; everything else is kept.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Restricts a URL for use in `href`, `src` or `action` to `https:`, `http:` (with an authority,
/// `scheme://…`) or a same-origin path `/…`; anything else becomes `#`. The result is NOT
/// escaped: interpolate it as `escape(&safe_url(u))`.
///
/// Rejected besides other schemes: scheme-relative `//host` and `/\host` (browsers treat the
/// latter like the former), and any ASCII whitespace or control character, because browsers
/// strip those before parsing (`java\tscript:` is `javascript:` to them).
pub fn safe_url(url: &str) -> String {
    if is_safe_url(url) { url.to_owned() } else { "#".to_owned() }
}

fn is_safe_url(url: &str) -> bool {
    if url.is_empty() || url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return false;
    }
    if let Some(rest) = url.strip_prefix('/') {
        return !rest.starts_with('/') && !rest.starts_with('\\');
    }
    starts_with_ignore_case(url, "https://") || starts_with_ignore_case(url, "http://")
}

/// `https://…` and otherwise safe: the only URLs a tenant logo may be loaded from.
pub(crate) fn is_https_url(url: &str) -> bool {
    starts_with_ignore_case(url, "https://") && is_safe_url(url)
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The accent colour every page uses unless the tenant's branding sets a valid one
/// (6.7:1 against white).
pub const DEFAULT_ACCENT: &str = "#0b5cad";

/// Minimum contrast of white text on the accent colour (WCAG 2 AA, normal text). The accent
/// is also used for text on white (links), where the ratio is the same.
const MIN_CONTRAST: f64 = 4.5;

/// Validates a branding accent colour: `#rgb` or `#rrggbb` (surrounding whitespace ignored)
/// whose contrast with white is at least 4.5:1. Returns it normalized to lowercase `#rrggbb`,
/// or `None` (the caller then uses [`DEFAULT_ACCENT`]). Only this normalized form is ever
/// written into a `style` attribute, so no CSS can be injected through it.
pub fn valid_accent(color: &str) -> Option<String> {
    let rgb = parse_hex_color(color)?;
    let contrast = 1.05 / (relative_luminance(rgb) + 0.05);
    (contrast >= MIN_CONTRAST).then(|| format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]))
}

/// Parses `#rgb` or `#rrggbb` (surrounding whitespace ignored); nothing else.
pub(crate) fn parse_hex_color(color: &str) -> Option<[u8; 3]> {
    let hex = color.trim().strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let d: Vec<u8> = hex.bytes().map(hex_val).collect();
    match d[..] {
        [r, g, b] => Some([r * 17, g * 17, b * 17]),
        [r1, r2, g1, g2, b1, b2] => Some([r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2]),
        _ => None,
    }
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// WCAG 2 relative luminance of an sRGB colour.
fn relative_luminance(rgb: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}
