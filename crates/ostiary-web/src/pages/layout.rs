//! The document shell every page shares: head, tenant banner, skip link, `<main>` and footer.

use super::escape::{DEFAULT_ACCENT, escape, is_https_url, valid_accent};

/// The stylesheet of every page; served at `/static/ostiary.css`.
pub const STYLESHEET: &str = include_str!("style.css");

/// A tenant's company branding, as shown on its sign-in pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branding {
    /// Shown in the banner (when there is no logo), in the title and as the logo's alt text.
    pub tenant_name: String,
    /// Banner logo; used only if it is an `https://` URL, otherwise ignored.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb` with at least 4.5:1 contrast for white text on it; anything else
    /// falls back to the default `#0b5cad`.
    pub accent_color: Option<String>,
    /// Text shown above the sign-in form (plain text; line breaks are kept).
    pub sign_in_text: Option<String>,
}

impl Branding {
    /// The accent colour the pages use: the tenant's if valid, else [`DEFAULT_ACCENT`].
    pub fn accent(&self) -> String {
        self.accent_color.as_deref().and_then(valid_accent).unwrap_or_else(|| DEFAULT_ACCENT.to_owned())
    }
}

/// Wraps `body_html` (already-escaped HTML) in the full HTML5 document.
///
/// `csp_nonce` is the nonce of the response's `Content-Security-Policy`; the shell itself emits
/// no inline script or `<style>` element (pages that need a script, like [`super::signed_out`],
/// put it in their body with the same nonce). A custom accent colour is set through a `style`
/// attribute on `<body>`; a CSP that blocks style attributes just leaves the default colour.
pub fn render(branding: &Branding, page_title: &str, body_html: &str, csp_nonce: &str) -> String {
    let _ = csp_nonce;
    let tenant = branding.tenant_name.trim();
    let title =
        if tenant.is_empty() { escape(page_title) } else { format!("{} - {}", escape(page_title), escape(tenant)) };
    let accent = branding.accent();
    let body_style =
        if accent == DEFAULT_ACCENT { String::new() } else { format!(" style=\"--accent:{}\"", escape(&accent)) };
    let banner = match branding.logo_url.as_deref().filter(|u| is_https_url(u)) {
        Some(logo) => {
            let alt = if tenant.is_empty() { "Organization logo" } else { tenant };
            format!(
                "<img class=\"logo\" src=\"{}\" alt=\"{}\" referrerpolicy=\"no-referrer\">",
                escape(logo),
                escape(alt)
            )
        }
        None if tenant.is_empty() => String::new(),
        None => format!("<span class=\"tenant\">{}</span>", escape(tenant)),
    };
    let mut html = String::with_capacity(body_html.len() + 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<meta name=\"robots\" content=\"noindex, nofollow\">\n");
    html.push_str(&format!("<title>{title}</title>\n"));
    html.push_str("<link rel=\"stylesheet\" href=\"/static/ostiary.css\">\n</head>\n");
    html.push_str(&format!("<body{body_style}>\n"));
    html.push_str("<a class=\"skip-link\" href=\"#main\">Skip to main content</a>\n<div class=\"page\">\n");
    html.push_str(&format!("<header class=\"banner\">{banner}</header>\n"));
    html.push_str("<main id=\"main\" class=\"card\" tabindex=\"-1\">\n");
    html.push_str(body_html);
    html.push_str("\n</main>\n<footer class=\"footer\"><p>Secured by Ostiary</p></footer>\n</div>\n</body>\n</html>\n");
    html
}
