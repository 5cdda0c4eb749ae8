//! The hardened parser: well-formed documents, every rejection rule, limits, and a byte-mutation
//! loop that must never panic.

use super::*;
use crate::xml::{Limits, Node, parse, serialize};
use crate::{NS_ASSERTION, NS_PROTOCOL, NS_XML};

fn p(s: &str) -> Result<crate::xml::Document, SamlError> {
    parse(s, &Limits::default())
}

#[test]
fn parses_authn_request_with_namespaces() {
    let doc = p(AUTHN_REQUEST).unwrap();
    let root = &doc.root;
    assert!(root.is(NS_PROTOCOL, "AuthnRequest"));
    assert_eq!(root.prefix.as_deref(), Some("samlp"));
    assert_eq!(root.ns_decls.len(), 2);
    assert_eq!(root.attr("Version"), Some("2.0"));
    let issuer = root.child(NS_ASSERTION, "Issuer").unwrap();
    assert_eq!(issuer.text(), "https://sp.example.com/metadata");
    // Whitespace-only text nodes are kept (c14n needs them).
    assert!(matches!(&root.children[0], Node::Text(t) if t == "\n  "));
    assert_eq!(root.children_named(NS_PROTOCOL, "NameIDPolicy").count(), 1);
}

#[test]
fn default_namespace_and_undeclaring() {
    let doc = p(r#"<a xmlns="urn:a"><b/><c xmlns=""><d/></c><e:f xmlns:e="urn:e" g="1" e:h="2"/></a>"#).unwrap();
    let r = &doc.root;
    assert_eq!(r.ns.as_deref(), Some("urn:a"));
    let kids: Vec<_> = r.elements().collect();
    assert_eq!(kids[0].ns.as_deref(), Some("urn:a"));
    assert_eq!(kids[1].ns, None);
    assert_eq!(kids[1].elements().next().unwrap().ns, None);
    let f = kids[2];
    assert_eq!(f.ns.as_deref(), Some("urn:e"));
    // Unprefixed attributes are in no namespace, even under a default namespace.
    assert_eq!(f.attrs[0].ns, None);
    assert_eq!(f.attr("g"), Some("1"));
    assert_eq!(f.attr_ns("urn:e", "h"), Some("2"));
    assert_eq!(f.attr("h"), None);
}

#[test]
fn references_cdata_comments_and_line_ends() {
    let doc = p("<a x='&lt;&#x41;&#66;&quot;&apos;&amp;&gt;' y=\"a\tb\r\nc\">1&amp;2<![CDATA[<&>]]>3<!-- c -->4&#xD;\r\n5\r6</a>")
        .unwrap();
    let r = &doc.root;
    assert_eq!(r.attr("x"), Some("<AB\"'&>"));
    assert_eq!(r.attr("y"), Some("a b c"));
    // Text split by CDATA, references and a comment is one text node.
    assert_eq!(r.children.len(), 1);
    assert_eq!(r.text(), "1&2<&>34\r\n5\n6");
    assert!(p("<a>\u{1F600} \u{10FFFF} é 中 \u{FEFF}</a>").is_ok());
    // A byte-order mark before the document is fine.
    assert!(p("\u{FEFF}<a/>").is_ok());
    assert!(p("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><!-- hi --><a/><!-- bye -->\n").is_ok());
    assert_eq!(p("<x:a xmlns:x='urn:x' xml:lang='en'/>").unwrap().root.attr_ns(NS_XML, "lang"), Some("en"));
}

#[test]
fn rejects_dtds_and_entities() {
    use SamlErrorKind::Forbidden;
    let cases = [
        r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#,
        r#"<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><x/>"#,
        r#"<!DOCTYPE x [<!ENTITY % p SYSTEM "http://evil.example/p.dtd"> %p;]><x/>"#,
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
         <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]><lolz>&lol3;</lolz>",
        "<!doctype x><x/>",
        "<x><!ENTITY e 'x'></x>",
        "<x>&e;</x>",
        "<x>&unknown;</x>",
        "<x a='&unknown;'/>",
        "<x>&nbsp;</x>",
        "<?xml-stylesheet href='x'?><x/>",
        "<x><?php echo 1; ?></x>",
        "<x/><?pi?>",
        "<x/>\n<?xml version='1.0'?>",
        " <?xml version='1.0'?><x/>",
    ];
    for c in cases {
        assert_kind(p(c), Forbidden);
    }
}

#[test]
fn rejects_malformed() {
    use SamlErrorKind::Malformed;
    let cases = [
        "",
        "   ",
        "text",
        "<a>",
        "<a><b></a>",
        "<a></b>",
        "<a/><b/>",
        "<a/>junk",
        "junk<a/>",
        "<a>&#0;</a>",
        "<a>&#xD800;</a>",
        "<a>&#x110000;</a>",
        "<a>&#xFFFE;</a>",
        "<a>&#;</a>",
        "<a>&#x;</a>",
        "<a>&#12a;</a>",
        "<a>& b</a>",
        "<a b='1' b='2'/>",
        "<a xmlns:x='urn:1' xmlns:y='urn:1' x:b='1' y:b='2'/>",
        "<a xmlns:x='urn:1' xmlns:x='urn:2'/>",
        "<x:a/>",
        "<a x:b='1'/>",
        "<a xmlns:x=''/>",
        "<a xmlns:xmlns='urn:x'/>",
        "<a xmlns:xml='urn:x'/>",
        "<a xmlns:x='http://www.w3.org/XML/1998/namespace'/>",
        "<a xmlns='http://www.w3.org/2000/xmlns/'/>",
        "<a b=1/>",
        "<a b='<'/>",
        "<a b='1/>",
        "<a:b:c xmlns:a='urn:a'/>",
        "<1a/>",
        "<a>]]></a>",
        "<a><!-- -- --></a>",
        "<a>\u{0}</a>",
        "<a>\u{1}</a>",
        "<a>\u{FFFF}</a>",
        "<a b='\u{B}'/>",
        "<![CDATA[x]]><a/>",
        "&amp;<a/>",
        "<a></a\n",
        "<a",
        "<",
        "</a>",
        "<a><!--</a>",
        "<a><![CDATA[</a>",
    ];
    for c in cases {
        assert_kind(p(c), Malformed);
    }
}

#[test]
fn limits_are_enforced() {
    use SamlErrorKind::TooLarge;
    let l = Limits::default();
    assert_eq!((l.max_bytes, l.max_depth, l.max_elements, l.max_attributes), (256 * 1024, 32, 4096, 64));
    // 1 MiB input is refused before any parsing.
    let big = format!("<a>{}</a>", "x".repeat(1024 * 1024));
    assert_kind(p(&big), TooLarge);
    // Depth 1000 (and exactly one over the limit).
    let deep = format!("{}{}", "<a>".repeat(1000), "</a>".repeat(1000));
    assert_kind(p(&deep), TooLarge);
    let ok = format!("{}{}", "<a>".repeat(32), "</a>".repeat(32));
    assert!(p(&ok).is_ok());
    let over = format!("{}{}", "<a>".repeat(33), "</a>".repeat(33));
    assert_kind(p(&over), TooLarge);
    // 100k elements (under the byte limit thanks to a larger max_bytes).
    let many = format!("<r>{}</r>", "<a/>".repeat(100_000));
    let roomy = Limits { max_bytes: 1 << 20, ..Limits::default() };
    assert_kind(parse(&many, &roomy), TooLarge);
    let fits = format!("<r>{}</r>", "<a/>".repeat(4095));
    assert!(p(&fits).is_ok());
    // Attributes.
    let attrs: String = (0..65).map(|i| format!(" a{i}='1'")).collect();
    assert_kind(p(&format!("<a{attrs}/>")), TooLarge);
    let attrs: String = (0..64).map(|i| format!(" a{i}='1'")).collect();
    assert!(p(&format!("<a{attrs}/>")).is_ok());
    // The hard depth cap applies whatever the caller asks for.
    let huge = Limits { max_depth: usize::MAX, max_bytes: 1 << 20, ..Limits::default() };
    let deep = format!("{}{}", "<a>".repeat(300), "</a>".repeat(300));
    assert_kind(parse(&deep, &huge), TooLarge);
}

#[test]
fn binary_garbage_and_odd_unicode_never_panic() {
    let mut rng = XorShift(0x5eed_1234_5678_9abc);
    for len in [1usize, 2, 7, 64, 512, 4096] {
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let s = String::from_utf8_lossy(&bytes);
            let _ = p(&s);
            let s2 = format!("<a>{s}</a>");
            let _ = p(&s2);
        }
    }
    for s in [
        "<a>\u{202E}evil\u{202C}</a>",
        "<\u{0130}/>",
        "<a\u{301}/>",
        "<a>\u{FFFD}\u{FFFD}</a>",
        "<é:a xmlns:é='urn:x'/>",
        "<a \u{00B7}b='1'/>",
        "<a b\u{00B7}='1'/>",
        "<\u{10000}/>",
        "<a>\u{85}\u{2028}</a>",
    ] {
        let _ = p(s);
    }
    assert!(p("<\u{10000}/>").is_ok());
    assert!(p("<a \u{00B7}b='1'/>").is_err());
}

#[test]
fn mutation_loop_never_panics() {
    let base = AUTHN_REQUEST.as_bytes();
    let mut accepted = 0;
    for i in 0..base.len() {
        for variant in 0..2 {
            let mut m = base.to_vec();
            if variant == 0 {
                m.remove(i);
            } else {
                m.insert(i, base[i]);
            }
            let s = String::from_utf8_lossy(&m);
            if p(&s).is_ok() {
                accepted += 1;
            }
            let _ = crate::request::parse_message(&s);
        }
    }
    // Many mutations land in text or attribute values and stay well-formed.
    assert!(accepted > 100, "{accepted}");
}

#[test]
fn builder_serializes_and_reparses() {
    use crate::xml::Element;
    let el = Element::new(Some("samlp"), "Response", Some(NS_PROTOCOL))
        .with_attr("ID", "_1")
        .with_attr("Weird", "a&b<c>d\"e\tf\ng\rh")
        .with_child(Element::new(Some("saml"), "Issuer", Some(NS_ASSERTION)).with_text("x & <y> \r z"))
        .with_child(Element::new(None, "plain", None))
        .with_child(Element::new(None, "def", Some("urn:d")).with_child(Element::new(None, "nons", None)))
        .with_ns_attr("xml", "lang", NS_XML, "en");
    let s = serialize(&el);
    assert!(s.starts_with(r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol""#), "{s}");
    assert!(s.contains(
        r#"<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x &amp; &lt;y&gt; &#xD; z</saml:Issuer>"#
    ));
    assert!(s.contains("<plain></plain>"));
    assert!(s.contains(r#"<def xmlns="urn:d"><nons xmlns=""></nons></def>"#), "{s}");
    assert!(s.contains(r#"Weird="a&amp;b&lt;c&gt;d&quot;e&#x9;f&#xA;g&#xD;h""#));
    let back = p(&s).unwrap().root;
    assert_eq!(back.attr("Weird"), el.attr("Weird"));
    assert_eq!(back.elements().next().unwrap().text(), "x & <y> \r z");
    // The re-parsed tree canonicalizes like the built one.
    assert_eq!(crate::c14n::exclusive_c14n(&back, &[], None), crate::c14n::exclusive_c14n(&el, &[], None));
}
