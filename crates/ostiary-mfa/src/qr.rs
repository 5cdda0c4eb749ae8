//! QR codes as small, inline-safe SVG documents (for `otpauth://` enrolment URIs).
//!
//! The `qrcode` crate computes the module matrix (no default features: no `image` stack, no
//! renderer); the SVG is written here so that every byte of it is ours: no scripts, no external
//! references, no XML declaration, fixed pixel dimensions, `role="img"` with an escaped
//! `aria-label`, and a deterministic output for a given input.

use qrcode::{Color, EcLevel, QrCode};

/// Rendered width and height in CSS pixels, whatever the QR version.
pub const SIZE_PX: u32 = 256;
/// Light modules around the symbol; the QR specification requires 4.
const QUIET_ZONE: usize = 4;

/// The text could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text too long for a QR code")]
pub struct QrError;

/// Renders `text` as a QR code (error correction level M) in an SVG document labelled
/// `aria_label` for screen readers. Safe to inline in HTML as is.
pub fn qr_svg(text: &str, aria_label: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|_| QrError)?;
    let width = code.width();
    let colors = code.to_colors();
    let total = width + 2 * QUIET_ZONE;

    // One horizontal run per subpath keeps the path short (typically a few KiB).
    let mut d = String::new();
    for (y, row) in colors.chunks(width.max(1)).enumerate() {
        let mut x = 0;
        while x < row.len() {
            if row[x] == Color::Dark {
                let start = x;
                while x < row.len() && row[x] == Color::Dark {
                    x += 1;
                }
                d.push_str(&format!("M{} {}h{}v1h-{}z", start + QUIET_ZONE, y + QUIET_ZONE, x - start, x - start));
            } else {
                x += 1;
            }
        }
    }
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" viewBox="0 0 {n} {n}" "#,
            r#"role="img" aria-label="{label}" shape-rendering="crispEdges">"#,
            r##"<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{d}"/></svg>"##
        ),
        px = SIZE_PX,
        n = total,
        label = escape_attr(aria_label),
        d = d
    ))
}

/// Escapes text for a double-quoted attribute value.
fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no business in a label and some are invalid in XML.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn svg_shape_and_safety() {
        let uri = "otpauth://totp/Ostiary:alice@contoso.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Ostiary";
        let svg = qr_svg(uri, r#"Scan "this" <code> & 'go'"#).unwrap();
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 "#));
        assert!(svg.ends_with("\"/></svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-label="Scan &quot;this&quot; &lt;code&gt; &amp; &#39;go&#39;""#));
        // Nothing the page's CSP or sanitiser would need to worry about.
        let lower = svg.to_ascii_lowercase();
        for forbidden in ["<script", "onload", "href", "<?xml", "<!", "javascript:", "<foreign", "<style", "<image"] {
            assert!(!lower.contains(forbidden), "{forbidden}");
        }
        // The payload itself does not leak into the markup.
        assert!(!svg.contains("GEZDGNBV"));
        // Only the expected elements.
        assert_eq!(svg.matches('<').count(), 4);
        // Deterministic.
        assert_eq!(svg, qr_svg(uri, r#"Scan "this" <code> & 'go'"#).unwrap());
    }

    #[test]
    fn modules_match_the_matrix() {
        // Version 1 (21 modules) for a short text: viewBox is 21 + 8.
        let svg = qr_svg("HELLO", "QR").unwrap();
        assert!(svg.contains(r#"viewBox="0 0 29 29""#));
        // Re-rasterise the path and compare with the matrix.
        let code = QrCode::with_error_correction_level(b"HELLO", EcLevel::M).unwrap();
        let w = code.width();
        let mut grid = vec![false; w * w];
        let d = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
        for sub in d.split('M').filter(|s| !s.is_empty()) {
            let (xy, rest) = sub.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let len: usize = rest.split_once('v').unwrap().0.parse().unwrap();
            let (x, y): (usize, usize) = (x.parse::<usize>().unwrap() - 4, y.parse::<usize>().unwrap() - 4);
            for i in 0..len {
                grid[y * w + x + i] = true;
            }
        }
        let expected: Vec<bool> = code.to_colors().iter().map(|c| *c == Color::Dark).collect();
        assert_eq!(grid, expected);
    }

    #[test]
    fn too_long_and_odd_labels() {
        assert_eq!(qr_svg(&"x".repeat(5000), "QR"), Err(QrError));
        let svg = qr_svg("", "line\nbreak\u{0}").unwrap();
        assert!(svg.contains(r#"aria-label="line break ""#));
    }
}
