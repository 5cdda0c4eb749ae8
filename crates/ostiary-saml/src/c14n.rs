//! Exclusive XML Canonicalization 1.0 without comments (<https://www.w3.org/TR/xml-exc-c14n/>) of
//! an element subtree, and inclusive Canonical XML 1.0 (only needed to verify signatures whose
//! last transform leaves a node-set, which XML-DSig then canonicalizes inclusively).
//!
//! The subtree's root is the apex: every element below it is output unless `exclude` removes it
//! (the enveloped-signature transform). Namespace nodes of visibly utilized prefixes come straight
//! from the resolved names in the tree, so an Assertion inside a Response canonicalizes correctly
//! even though `saml:` is declared on the Response. Only prefixes named in an InclusiveNamespaces
//! PrefixList (and inclusive c14n) need the ancestors' declarations: pass them as `inherited`
//! (see [`crate::xml::ancestors`] and [`crate::xml::in_scope_decls`]).

use std::collections::HashSet;

use crate::xml::{Attr, Element, Node, NsScope};

/// Algorithm URI of exclusive c14n without comments.
pub const ALG_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Algorithm URI of exclusive c14n with comments (not supported).
pub const ALG_EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
/// Algorithm URI of inclusive Canonical XML 1.0 without comments.
pub const ALG_C14N10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// Algorithm URI of inclusive Canonical XML 1.0 with comments (not supported).
pub const ALG_C14N10_WITH_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";

/// A predicate removing a subtree from the output.
pub type Exclude<'a> = &'a dyn Fn(&Element) -> bool;

/// Exclusive canonical form of `el` with no ancestor context. `inclusive_prefixes` is the
/// InclusiveNamespaces PrefixList (`#default` for the default namespace); those prefixes can only
/// be rendered when declared within the subtree — use [`exclusive_c14n_in_context`] otherwise.
pub fn exclusive_c14n(el: &Element, inclusive_prefixes: &[String], exclude: Option<Exclude<'_>>) -> String {
    exclusive_c14n_in_context(el, &[], inclusive_prefixes, exclude)
}

/// Exclusive canonical form of `el`, with `inherited` the namespace declarations in scope at its
/// parent (outermost first, later entries override).
pub fn exclusive_c14n_in_context(
    el: &Element,
    inherited: &[(Option<String>, String)],
    inclusive_prefixes: &[String],
    exclude: Option<Exclude<'_>>,
) -> String {
    let mut list: Vec<Option<&str>> = Vec::new();
    for p in inclusive_prefixes {
        let p = if p == "#default" { None } else { Some(p.as_str()) };
        if !list.contains(&p) {
            list.push(p);
        }
    }
    let mut c = Canon { exclusive: true, list, exclude, out: String::new() };
    let mut scope = NsScope::from_decls(inherited);
    let mut rendered = NsScope::default();
    c.element(el, &mut scope, &mut rendered, true, &[]);
    c.out
}

/// Inclusive Canonical XML 1.0 (without comments) of `el` as a document subset: all namespaces in
/// scope (from `inherited`) are rendered on the apex, and `xml:*` attributes of ancestors
/// (`inherited_xml_attrs`, nearest last) are inherited by it.
pub fn inclusive_c14n_in_context(
    el: &Element,
    inherited: &[(Option<String>, String)],
    inherited_xml_attrs: &[Attr],
    exclude: Option<Exclude<'_>>,
) -> String {
    let mut c = Canon { exclusive: false, list: Vec::new(), exclude, out: String::new() };
    let mut scope = NsScope::from_decls(inherited);
    let mut rendered = NsScope::default();
    c.element(el, &mut scope, &mut rendered, true, inherited_xml_attrs);
    c.out
}

/// The `xml:*` attributes the ancestors carry (nearest wins), for [`inclusive_c14n_in_context`].
pub fn inherited_xml_attrs(ancestors: &[&Element]) -> Vec<Attr> {
    let mut out: Vec<Attr> = Vec::new();
    for a in ancestors {
        for at in &a.attrs {
            if at.ns.as_deref() == Some(crate::NS_XML) {
                out.retain(|o| o.local != at.local);
                out.push(at.clone());
            }
        }
    }
    out
}

struct Canon<'a> {
    exclusive: bool,
    /// InclusiveNamespaces PrefixList (`None` = default namespace).
    list: Vec<Option<&'a str>>,
    exclude: Option<Exclude<'a>>,
    out: String,
}

impl Canon<'_> {
    /// `scope`: declarations in scope (grows with each element's own); `rendered`: namespace nodes
    /// output by output ancestors (every ancestor inside the subtree is output).
    fn element(
        &mut self,
        el: &Element,
        scope: &mut NsScope,
        rendered: &mut NsScope,
        apex: bool,
        apex_xml_attrs: &[Attr],
    ) {
        let scope_mark = scope.mark();
        let rendered_mark = rendered.mark();
        for (p, u) in el.ns_decls.iter().filter(|(p, _)| p.as_deref() != Some("xml")) {
            scope.bind(p.as_deref(), u);
        }

        // Candidate namespace nodes: (prefix, uri) with "" meaning "no default namespace".
        let mut candidates: Vec<(Option<String>, String)> = Vec::new();
        if self.exclusive {
            candidates.push((el.prefix.clone(), el.ns.clone().unwrap_or_default()));
            for a in &el.attrs {
                if a.prefix.is_some() {
                    candidates.push((a.prefix.clone(), a.ns.clone().unwrap_or_default()));
                }
            }
            for p in &self.list {
                if let Some(u) = scope.get(*p) {
                    candidates.push((p.map(str::to_owned), u.to_owned()));
                } else if p.is_none() {
                    candidates.push((None, String::new()));
                }
            }
        } else if apex {
            // Inclusive: the apex renders every namespace in scope...
            candidates.extend(scope.bindings().map(|(p, u)| (p.map(str::to_owned), u.to_owned())));
        } else {
            // ...and below it only what an element declares can differ from its parent.
            candidates.extend(el.ns_decls.iter().cloned());
        }
        let mut seen: HashSet<Option<String>> = HashSet::new();
        let mut decls: Vec<(Option<String>, String)> = Vec::new();
        for (p, u) in candidates {
            if p.as_deref() == Some("xml") || !seen.insert(p.clone()) {
                continue;
            }
            let prev = rendered.get(p.as_deref());
            let render = if p.is_none() && u.is_empty() {
                // xmlns="" only to undo a default namespace an output ancestor rendered.
                prev.is_some_and(|v| !v.is_empty())
            } else {
                prev != Some(u.as_str())
            };
            if render {
                decls.push((p, u));
            }
        }
        // Default namespace first, then by prefix.
        decls.sort_by(|a, b| a.0.cmp(&b.0));

        let mut attrs: Vec<&Attr> = el.attrs.iter().collect();
        for xa in apex_xml_attrs {
            if !el.attrs.iter().any(|a| a.ns == xa.ns && a.local == xa.local) {
                attrs.push(xa);
            }
        }
        // Unqualified attributes first, then by namespace URI, then local name.
        attrs.sort_by(|a, b| (a.ns.is_some(), &a.ns, &a.local).cmp(&(b.ns.is_some(), &b.ns, &b.local)));

        let qname = el.qname();
        self.out.push('<');
        self.out.push_str(&qname);
        for (p, u) in &decls {
            match p {
                Some(p) => {
                    self.out.push_str(" xmlns:");
                    self.out.push_str(p);
                }
                None => self.out.push_str(" xmlns"),
            }
            self.out.push_str("=\"");
            escape_attr(u, &mut self.out);
            self.out.push('"');
        }
        for a in attrs {
            self.out.push(' ');
            self.out.push_str(&a.qname());
            self.out.push_str("=\"");
            escape_attr(&a.value, &mut self.out);
            self.out.push('"');
        }
        self.out.push('>');
        for (p, u) in &decls {
            rendered.bind(p.as_deref(), u);
        }

        for n in &el.children {
            match n {
                Node::Text(t) => escape_text(t, &mut self.out),
                Node::Element(c) => {
                    if self.exclude.is_some_and(|f| f(c)) {
                        continue;
                    }
                    self.element(c, scope, rendered, false, &[]);
                }
            }
        }
        self.out.push_str("</");
        self.out.push_str(&qname);
        self.out.push('>');
        scope.rollback(scope_mark);
        rendered.rollback(rendered_mark);
    }
}

/// C14N text escaping: `&amp; &lt; &gt; &#xD;`.
pub fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// C14N attribute escaping: `&amp; &lt; &quot; &#x9; &#xA; &#xD;`.
pub fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// Parses an InclusiveNamespaces `PrefixList` (whitespace-separated; `#default` allowed).
pub fn parse_prefix_list(s: &str) -> Vec<String> {
    s.split_ascii_whitespace().map(str::to_owned).collect()
}
