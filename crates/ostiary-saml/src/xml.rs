//! Hardened XML parser into a small namespace-resolved element tree, a tree builder for output, and
//! the serializer.
//!
//! `quick-xml` tokenizes; everything that makes XML dangerous or ambiguous is refused here:
//! DTDs and entity declarations, entity references other than the five predefined ones and
//! character references, processing instructions (the XML declaration alone is allowed, first),
//! undeclared prefixes, duplicate attributes (by qualified and by expanded name), mismatched tags,
//! more than one root and non-whitespace outside it. Every [`Limits`] bound is checked before the
//! allocation it guards, starting with the input length.
//!
//! The tree keeps what exclusive canonicalization needs: the element's prefix as written, the
//! resolved namespace, the declarations made on the element, attributes in document order and
//! text nodes including whitespace-only ones. Line ends are normalized (`\r\n`, `\r` → `\n`) and
//! attribute values are normalized (literal tab/newline → space) as any XML processor must, so the
//! canonical form matches libxml2/xmlsec's. Comments are dropped: the signature transforms we
//! accept canonicalize without comments, and text split by a comment is concatenated into one text
//! node, which is exactly what that canonical form contains. CDATA sections become text.

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::error::{SamlError, clip};
use crate::{NS_XML, NS_XMLNS};

/// Upper bound on nesting whatever [`Limits::max_depth`] says: recursion over the tree (drop,
/// canonicalization, serialization) must not exhaust the stack.
pub const HARD_MAX_DEPTH: usize = 256;

/// Parser limits, all checked before the corresponding allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum input length in bytes.
    pub max_bytes: usize,
    /// Maximum element nesting (the root is depth 1); capped at [`HARD_MAX_DEPTH`].
    pub max_depth: usize,
    /// Maximum number of elements in the document.
    pub max_elements: usize,
    /// Maximum number of attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
}

impl Default for Limits {
    /// 256 KiB, depth 32, 4096 elements, 64 attributes per element: far above any real SAML
    /// protocol message, far below anything that could hurt the server.
    fn default() -> Self {
        Self { max_bytes: 256 * 1024, max_depth: 32, max_elements: 4096, max_attributes: 64 }
    }
}

/// A parsed document: just its root element (comments and the XML declaration are not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub root: Element,
}

/// An element with its namespace resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Prefix as written (`None` for an unprefixed name).
    pub prefix: Option<String>,
    pub local: String,
    /// Resolved namespace URI (`None`: no namespace).
    pub ns: Option<String>,
    /// Namespace declarations made on this element: `(None, uri)` is `xmlns="uri"` (an empty `uri`
    /// undeclares the default namespace), `(Some(p), uri)` is `xmlns:p="uri"`.
    pub ns_decls: Vec<(Option<String>, String)>,
    /// Attributes other than namespace declarations, in document order.
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

/// An attribute with its namespace resolved (unprefixed attributes have no namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub prefix: Option<String>,
    pub local: String,
    pub ns: Option<String>,
    pub value: String,
}

/// A child node. Comments are not kept; adjacent text (including CDATA and references) is merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    /// A new element. `ns` is the namespace the prefix (or the default namespace) stands for;
    /// [`serialize`] adds any declaration the tree lacks.
    pub fn new(prefix: Option<&str>, local: &str, ns: Option<&str>) -> Self {
        Self {
            prefix: prefix.map(str::to_owned),
            local: local.to_owned(),
            ns: ns.map(str::to_owned),
            ns_decls: Vec::new(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Builder: adds an unqualified attribute.
    #[must_use]
    pub fn with_attr(mut self, local: &str, value: impl Into<String>) -> Self {
        self.set_attr(local, value);
        self
    }

    /// Builder: adds an unqualified attribute when `value` is `Some`.
    #[must_use]
    pub fn with_opt_attr(mut self, local: &str, value: Option<impl Into<String>>) -> Self {
        if let Some(v) = value {
            self.set_attr(local, v);
        }
        self
    }

    /// Builder: adds a namespace-qualified attribute (e.g. `xml:lang`, `xsi:type`).
    #[must_use]
    pub fn with_ns_attr(mut self, prefix: &str, local: &str, ns: &str, value: impl Into<String>) -> Self {
        self.attrs.push(Attr {
            prefix: Some(prefix.to_owned()),
            local: local.to_owned(),
            ns: Some(ns.to_owned()),
            value: value.into(),
        });
        self
    }

    /// Builder: declares a namespace on this element (`None` = default namespace).
    #[must_use]
    pub fn with_ns_decl(mut self, prefix: Option<&str>, uri: &str) -> Self {
        self.ns_decls.push((prefix.map(str::to_owned), uri.to_owned()));
        self
    }

    /// Builder: appends a child element.
    #[must_use]
    pub fn with_child(mut self, child: Element) -> Self {
        self.push_child(child);
        self
    }

    /// Builder: appends text.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.push_text(text);
        self
    }

    /// Sets (replaces or appends) an unqualified attribute.
    pub fn set_attr(&mut self, local: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attrs.iter_mut().find(|a| a.ns.is_none() && a.local == local) {
            Some(a) => a.value = value,
            None => self.attrs.push(Attr { prefix: None, local: local.to_owned(), ns: None, value }),
        }
    }

    /// Appends a child element.
    pub fn push_child(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Appends text, merging with a preceding text node.
    pub fn push_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        if let Some(Node::Text(last)) = self.children.last_mut() {
            last.push_str(&text);
        } else {
            self.children.push(Node::Text(text));
        }
    }

    /// Value of an unqualified attribute.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.ns.is_none() && a.local == local).map(|a| a.value.as_str())
    }

    /// Value of a namespace-qualified attribute.
    pub fn attr_ns(&self, ns: &str, local: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.ns.as_deref() == Some(ns) && a.local == local).map(|a| a.value.as_str())
    }

    /// First child element with this expanded name.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, local))
    }

    /// All child elements with this expanded name, in document order.
    pub fn children_named<'a>(&'a self, ns: &'a str, local: &'a str) -> impl Iterator<Item = &'a Element> {
        self.elements().filter(move |e| e.is(ns, local))
    }

    /// All child elements, in document order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Concatenated text of the direct text children.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// Whether this element has the expanded name `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// Whether any direct text child contains something other than XML whitespace.
    pub fn has_non_whitespace_text(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Text(t) if !is_xml_whitespace(t)))
    }

    /// Every element of the subtree (this one first), depth first, in document order.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            // Reverse so the leftmost child is popped first.
            let kids: Vec<&Element> = e.elements().collect();
            stack.extend(kids.into_iter().rev());
        }
        out
    }

    /// Qualified name as written.
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

impl Attr {
    /// Qualified name as written.
    pub fn qname(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}:{}", self.local),
            None => self.local.clone(),
        }
    }
}

/// The ancestors of `target` inside `root` (from `root` down to `target`'s parent), found by
/// identity, or `None` when `target` is not in the tree. `Some(vec![])` means `target` is `root`.
pub fn ancestors<'a>(root: &'a Element, target: &Element) -> Option<Vec<&'a Element>> {
    fn walk<'a>(el: &'a Element, target: &Element, path: &mut Vec<&'a Element>) -> bool {
        if std::ptr::eq(el, target) {
            return true;
        }
        path.push(el);
        for c in el.elements() {
            if walk(c, target, path) {
                return true;
            }
        }
        path.pop();
        false
    }
    let mut path = Vec::new();
    walk(root, target, &mut path).then_some(path)
}

/// The namespace declarations in scope for children of the last element of `ancestors`
/// (outermost first; a later entry for the same prefix overrides an earlier one).
pub fn in_scope_decls(ancestors: &[&Element]) -> Vec<(Option<String>, String)> {
    ancestors.iter().flat_map(|a| a.ns_decls.iter().cloned()).collect()
}

/// XML whitespace (`S` production): space, tab, CR, LF.
pub fn is_xml_whitespace(s: &str) -> bool {
    s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Namespace bindings in scope during a tree walk: a map with an undo log, so lookups stay O(1)
/// however many declarations an attacker stacks up (the key `""` is the default namespace, which
/// no prefix can collide with since prefixes are non-empty NCNames).
#[derive(Default, Debug)]
pub(crate) struct NsScope {
    map: std::collections::HashMap<String, String>,
    undo: Vec<(String, Option<String>)>,
}

impl NsScope {
    pub(crate) fn from_decls(decls: &[(Option<String>, String)]) -> Self {
        let mut s = Self::default();
        for (p, u) in decls {
            s.bind(p.as_deref(), u);
        }
        s
    }

    pub(crate) fn mark(&self) -> usize {
        self.undo.len()
    }

    pub(crate) fn bind(&mut self, prefix: Option<&str>, uri: &str) {
        let key = prefix.unwrap_or("").to_owned();
        let prev = self.map.insert(key.clone(), uri.to_owned());
        self.undo.push((key, prev));
    }

    pub(crate) fn get(&self, prefix: Option<&str>) -> Option<&str> {
        self.map.get(prefix.unwrap_or("")).map(String::as_str)
    }

    pub(crate) fn rollback(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some((key, prev)) = self.undo.pop() else { break };
            match prev {
                Some(v) => {
                    self.map.insert(key, v);
                }
                None => {
                    self.map.remove(&key);
                }
            }
        }
    }

    /// Every binding in scope as (prefix, uri), in no particular order.
    pub(crate) fn bindings(&self) -> impl Iterator<Item = (Option<&str>, &str)> {
        self.map.iter().map(|(k, v)| (if k.is_empty() { None } else { Some(k.as_str()) }, v.as_str()))
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// Parses a complete document under `limits`. Never panics; see the module docs for what is
/// refused.
pub fn parse(input: &str, limits: &Limits) -> Result<Document, SamlError> {
    if input.len() > limits.max_bytes {
        return Err(SamlError::too_large(format!("XML input exceeds {} bytes", limits.max_bytes)));
    }
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    prescan(input)?;
    let max_depth = limits.max_depth.min(HARD_MAX_DEPTH);

    let mut reader = Reader::from_str(input);
    {
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.expand_empty_elements = false;
        cfg.allow_dangling_amp = false;
        cfg.allow_unmatched_ends = false;
    }

    let mut stack: Vec<Element> = Vec::new();
    // Namespace bindings in scope, and the undo mark of each open element.
    let mut scope = NsScope::default();
    let mut scope_marks: Vec<usize> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut first_event = true;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| SamlError::malformed(format!("XML is not well-formed: {}", clip(&e.to_string()))))?;
        let was_first = std::mem::replace(&mut first_event, false);
        match event {
            Event::Decl(_) => {
                // `<?xml ...?>` is only allowed as the very first thing.
                if !was_first {
                    return Err(SamlError::forbidden("XML declaration not at the start of the document"));
                }
            }
            Event::PI(_) => return Err(SamlError::forbidden("processing instructions are not allowed")),
            Event::DocType(_) => return Err(SamlError::forbidden("DTDs are not allowed")),
            Event::Comment(_) => {}
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(SamlError::malformed("more than one root element"));
            }
            Event::Start(e) => {
                let el = open_element(&e, &mut scope, &mut scope_marks, &mut elements, stack.len(), limits, max_depth)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = open_element(&e, &mut scope, &mut scope_marks, &mut elements, stack.len(), limits, max_depth)?;
                close_element(el, &mut stack, &mut scope, &mut scope_marks, &mut root);
            }
            Event::End(_) => {
                // quick-xml has already checked that the name matches the open tag.
                let el = stack.pop().ok_or_else(|| SamlError::malformed("unmatched end tag"))?;
                close_element(el, &mut stack, &mut scope, &mut scope_marks, &mut root);
            }
            Event::Text(t) => {
                let raw: &str = &t;
                if raw.contains("]]>") {
                    return Err(SamlError::malformed("']]>' in text"));
                }
                let text = t.xml10_content();
                add_text(&mut stack, &text)?;
            }
            Event::CData(c) => {
                let text = c.xml10_content();
                if stack.is_empty() {
                    return Err(SamlError::malformed("CDATA outside the root element"));
                }
                add_text(&mut stack, &text)?;
            }
            Event::GeneralRef(r) => {
                let c = resolve_reference(&r)?;
                if stack.is_empty() {
                    return Err(SamlError::malformed("reference outside the root element"));
                }
                let mut buf = [0u8; 4];
                add_text(&mut stack, c.encode_utf8(&mut buf))?;
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(SamlError::malformed("unterminated element at end of input"));
    }
    let root = root.ok_or_else(|| SamlError::malformed("no root element"))?;
    Ok(Document { root })
}

/// Rejects characters outside XML 1.0's `Char` production and spots entity declarations even
/// where quick-xml would only report a syntax error, so they are classified as forbidden.
fn prescan(input: &str) -> Result<(), SamlError> {
    for c in input.chars() {
        let ok = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        if !ok {
            return Err(SamlError::malformed(format!("character U+{:04X} is not allowed in XML", u32::from(c))));
        }
    }
    let bytes = input.as_bytes();
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle));
    if has(b"<!ENTITY") {
        return Err(SamlError::forbidden("entity declarations are not allowed"));
    }
    if has(b"<!DOCTYPE") {
        return Err(SamlError::forbidden("DTDs are not allowed"));
    }
    Ok(())
}

/// Resolves `&name;`: the five predefined entities and character references only.
fn resolve_reference(name: &str) -> Result<char, SamlError> {
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => {
            if let Some(num) = name.strip_prefix('#') {
                char_ref(num)
            } else {
                Err(SamlError::forbidden(format!("entity reference &{}; is not allowed", clip(name))))
            }
        }
    }
}

/// Decodes the part after `#` of a character reference, refusing non-`Char` code points.
fn char_ref(num: &str) -> Result<char, SamlError> {
    let bad = || SamlError::malformed(format!("invalid character reference &#{};", clip(num)));
    let (digits, radix) = match num.strip_prefix('x') {
        Some(h) => (h, 16),
        None => (num, 10),
    };
    if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(bad());
    }
    let code = u32::from_str_radix(digits, radix).map_err(|_| bad())?;
    let c = char::from_u32(code).ok_or_else(bad)?;
    let ok = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if ok { Ok(c) } else { Err(bad()) }
}

fn add_text(stack: &mut [Element], text: &str) -> Result<(), SamlError> {
    match stack.last_mut() {
        Some(el) => {
            el.push_text(text);
            Ok(())
        }
        // Between the prolog, the root and the end only whitespace may appear.
        None if is_xml_whitespace(text) => Ok(()),
        None => Err(SamlError::malformed("text outside the root element")),
    }
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `s` is an XML NCName (a name without colons).
pub fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start(c) => chars.all(is_name_char),
        _ => false,
    }
}

/// Splits a QName into (prefix, local), checking both parts are NCNames.
fn split_qname(qname: &str) -> Result<(Option<&str>, &str), SamlError> {
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname),
    };
    if prefix.is_some_and(|p| !is_ncname(p)) || !is_ncname(local) {
        return Err(SamlError::malformed(format!("invalid XML name {:?}", clip(qname))));
    }
    Ok((prefix, local))
}

/// Resolves a prefix (or the default namespace for `None`) against the bindings in scope.
fn resolve_prefix(scope: &NsScope, prefix: Option<&str>) -> Result<Option<String>, SamlError> {
    match prefix {
        Some("xml") => Ok(Some(NS_XML.to_owned())),
        Some(p) => match scope.get(Some(p)) {
            Some(u) => Ok(Some(u.to_owned())),
            None => Err(SamlError::malformed(format!("undeclared namespace prefix {:?}", clip(p)))),
        },
        // An empty default declaration (`xmlns=""`) means "no namespace".
        None => Ok(scope.get(None).filter(|u| !u.is_empty()).map(str::to_owned)),
    }
}

/// Decodes an attribute value: references resolved, then attribute-value normalization (literal
/// tab, CR, LF → space; `\r\n` counts once, as line-end normalization happens first).
fn decode_attr_value(raw: &str) -> Result<String, SamlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '<', '\t', '\n', '\r']) {
        out.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default();
        let mut chars = tail.chars();
        match chars.next() {
            Some('&') => {
                let end = tail
                    .find(';')
                    .filter(|&e| e <= 12)
                    .ok_or_else(|| SamlError::malformed("unterminated reference in an attribute value"))?;
                let name = tail.get(1..end).unwrap_or_default();
                out.push(resolve_reference(name)?);
                rest = tail.get(end + 1..).unwrap_or_default();
            }
            Some('<') => return Err(SamlError::malformed("'<' in an attribute value")),
            Some('\r') => {
                out.push(' ');
                rest = tail.strip_prefix("\r\n").or_else(|| tail.get(1..)).unwrap_or_default();
            }
            Some(_) => {
                out.push(' ');
                rest = tail.get(1..).unwrap_or_default();
            }
            None => break,
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn open_element(
    e: &BytesStart<'_>,
    scope: &mut NsScope,
    scope_marks: &mut Vec<usize>,
    elements: &mut usize,
    depth: usize,
    limits: &Limits,
    max_depth: usize,
) -> Result<Element, SamlError> {
    if depth + 1 > max_depth {
        return Err(SamlError::too_large(format!("XML nesting deeper than {max_depth}")));
    }
    if *elements + 1 > limits.max_elements {
        return Err(SamlError::too_large(format!("more than {} XML elements", limits.max_elements)));
    }
    *elements += 1;
    let qname = e.name();
    let (prefix, local) = split_qname(qname.as_ref())?;

    let mut ns_decls: Vec<(Option<String>, String)> = Vec::new();
    let mut raw_attrs: Vec<(Option<String>, String, String)> = Vec::new();
    let mut count = 0usize;
    let mut attrs = e.attributes();
    attrs.with_checks(true);
    for a in attrs {
        let a = a.map_err(|e| SamlError::malformed(format!("invalid attribute: {}", clip(&e.to_string()))))?;
        count += 1;
        if count > limits.max_attributes {
            return Err(SamlError::too_large(format!("more than {} attributes on one element", limits.max_attributes)));
        }
        let key: &str = a.key.as_ref();
        let value = decode_attr_value(&a.value)?;
        let (ap, al) = split_qname(key)?;
        match (ap, al) {
            (None, "xmlns") => {
                if value == NS_XML || value == NS_XMLNS {
                    return Err(SamlError::malformed("reserved namespace bound as default"));
                }
                ns_decls.push((None, value));
            }
            (Some("xmlns"), p) => {
                if p == "xmlns" || (p == "xml") != (value == NS_XML) || value == NS_XMLNS {
                    return Err(SamlError::malformed("reserved namespace prefix or URI misused"));
                }
                if value.is_empty() {
                    // Namespaces in XML 1.0 cannot undeclare a prefix.
                    return Err(SamlError::malformed(format!("empty namespace for prefix {:?}", clip(p))));
                }
                ns_decls.push((Some(p.to_owned()), value));
            }
            (p, l) => raw_attrs.push((p.map(str::to_owned), l.to_owned(), value)),
        }
    }
    // quick-xml catches repeated qualified names; repeated declarations of one prefix count too.
    for (i, (p, _)) in ns_decls.iter().enumerate() {
        if ns_decls.iter().skip(i + 1).any(|(q, _)| q == p) {
            return Err(SamlError::malformed("duplicate namespace declaration"));
        }
    }

    scope_marks.push(scope.mark());
    // Declarations of xml: are implicit; keeping them out of the scope keeps c14n from emitting them.
    for (p, u) in ns_decls.iter().filter(|(p, _)| p.as_deref() != Some("xml")) {
        scope.bind(p.as_deref(), u);
    }

    let ns = resolve_prefix(scope, prefix)?;
    let mut out_attrs: Vec<Attr> = Vec::with_capacity(raw_attrs.len());
    for (p, l, value) in raw_attrs {
        // Unprefixed attributes are in no namespace (the default namespace does not apply).
        let ans = match p.as_deref() {
            Some(p) => resolve_prefix(scope, Some(p))?,
            None => None,
        };
        if out_attrs.iter().any(|o| o.local == l && o.ns == ans) {
            return Err(SamlError::malformed(format!("duplicate attribute {:?}", clip(&l))));
        }
        out_attrs.push(Attr { prefix: p, local: l, ns: ans, value });
    }
    Ok(Element {
        prefix: prefix.map(str::to_owned),
        local: local.to_owned(),
        ns,
        ns_decls,
        attrs: out_attrs,
        children: Vec::new(),
    })
}

fn close_element(
    el: Element,
    stack: &mut [Element],
    scope: &mut NsScope,
    scope_marks: &mut Vec<usize>,
    root: &mut Option<Element>,
) {
    if let Some(mark) = scope_marks.pop() {
        scope.rollback(mark);
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

// ---------------------------------------------------------------------------------------------
// Serializer
// ---------------------------------------------------------------------------------------------

/// Writes `el` as XML (no declaration). Empty elements are written as start+end tag pairs; text
/// escapes `& < >` and CR, attributes `& < > "` and tab/LF/CR, so a tree built with the builder
/// and serialized parses back to the same tree. A declaration is added wherever the element's or
/// an attribute's prefix is not bound to its namespace by the declarations in the tree, so output
/// is always namespace-well-formed.
pub fn serialize(el: &Element) -> String {
    let mut out = String::new();
    let mut scope = NsScope::default();
    write_element(el, &mut scope, &mut out);
    out
}

fn write_element(el: &Element, scope: &mut NsScope, out: &mut String) {
    let mark = scope.mark();
    let qname = el.qname();
    out.push('<');
    out.push_str(&qname);
    let mut decls: Vec<(Option<String>, String)> = el.ns_decls.clone();
    for (p, u) in &decls {
        scope.bind(p.as_deref(), u);
    }
    // Declarations the builder left out.
    let mut need = |prefix: Option<&str>, ns: Option<&str>, decls: &mut Vec<(Option<String>, String)>| {
        if prefix == Some("xml") {
            return;
        }
        let bound = scope.get(prefix).unwrap_or("");
        let want = ns.unwrap_or("");
        if bound != want && (prefix.is_none() || !want.is_empty()) {
            decls.push((prefix.map(str::to_owned), want.to_owned()));
            scope.bind(prefix, want);
        }
    };
    need(el.prefix.as_deref(), el.ns.as_deref(), &mut decls);
    for a in &el.attrs {
        if a.prefix.is_some() {
            need(a.prefix.as_deref(), a.ns.as_deref(), &mut decls);
        }
    }
    for (p, uri) in &decls {
        match p {
            Some(p) => {
                out.push_str(" xmlns:");
                out.push_str(p);
            }
            None => out.push_str(" xmlns"),
        }
        out.push_str("=\"");
        escape_attr_into(uri, out);
        out.push('"');
    }
    for a in &el.attrs {
        out.push(' ');
        out.push_str(&a.qname());
        out.push_str("=\"");
        escape_attr_into(&a.value, out);
        out.push('"');
    }
    out.push('>');
    for n in &el.children {
        match n {
            Node::Element(c) => write_element(c, scope, out),
            Node::Text(t) => escape_text_into(t, out),
        }
    }
    out.push_str("</");
    out.push_str(&qname);
    out.push('>');
    scope.rollback(mark);
}

fn escape_attr_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_text_into(s: &str, out: &mut String) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn attribute_value_normalization() {
        assert_eq!(decode_attr_value("a\tb\nc\r\nd\re").unwrap(), "a b c d e");
        assert_eq!(decode_attr_value("&#9;&#xA;&amp;&lt;&quot;").unwrap(), "\t\n&<\"");
        assert!(decode_attr_value("a<b").is_err());
        assert!(decode_attr_value("&foo;").is_err());
        assert!(decode_attr_value("&#0;").is_err());
        assert!(decode_attr_value("&amp").is_err());
    }

    #[test]
    fn names() {
        assert!(is_ncname("_a-b.c1"));
        assert!(is_ncname("é"));
        assert!(!is_ncname("1a"));
        assert!(!is_ncname("a:b"));
        assert!(!is_ncname(""));
        assert!(split_qname("a:b:c").is_err());
        assert!(split_qname(":b").is_err());
    }
}
