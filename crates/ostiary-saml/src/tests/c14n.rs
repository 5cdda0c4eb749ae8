//! Canonicalization against the W3C examples (C14N 1.0 §3, exc-c14n §2.2) and the cases SAML
//! depends on: namespace pushdown into a nested apex, default namespaces, InclusiveNamespaces,
//! escaping, empty elements.

use crate::c14n::{exclusive_c14n, exclusive_c14n_in_context, inclusive_c14n_in_context, inherited_xml_attrs};
use crate::xml::{Element, Limits, ancestors, in_scope_decls, parse};

fn root(s: &str) -> Element {
    parse(s, &Limits::default()).unwrap().root
}

fn exc(s: &str) -> String {
    exclusive_c14n(&root(s), &[], None)
}

/// Canonicalizes the first element named `local` in the document, in its context.
fn exc_at(doc: &str, local: &str, prefixes: &[&str]) -> String {
    let r = root(doc);
    let target = r.descendants().into_iter().find(|e| e.local == local).unwrap();
    let path = ancestors(&r, target).unwrap();
    let prefixes: Vec<String> = prefixes.iter().map(|s| (*s).to_owned()).collect();
    exclusive_c14n_in_context(target, &in_scope_decls(&path), &prefixes, None)
}

fn inc_at(doc: &str, local: &str) -> String {
    let r = root(doc);
    let target = r.descendants().into_iter().find(|e| e.local == local).unwrap();
    let path = ancestors(&r, target).unwrap();
    inclusive_c14n_in_context(target, &in_scope_decls(&path), &inherited_xml_attrs(&path), None)
}

/// C14N 1.0 §3.3 (start and end tags), the document element only.
const C14N_3_3: &str = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;

#[test]
fn c14n_spec_3_3_inclusive() {
    let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
    assert_eq!(inc_at(C14N_3_3, "doc"), expected);
}

#[test]
fn c14n_spec_3_3_exclusive() {
    // Attributes sorted by namespace URI (ietf < w3), unqualified first; unused declarations
    // dropped; xmlns="" only where an output ancestor rendered a default namespace.
    let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6>
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
    assert_eq!(exc(C14N_3_3), expected);
}

#[test]
fn c14n_spec_3_4_character_modifications() {
    let doc = r#"<doc>
   <text>First line&#x0d;&#10;Second line</text>
   <value>&#x32;</value>
   <compute><![CDATA[value>"0" && value<"10" ?"valid":"error"]]></compute>
   <compute expr='value>"0" &amp;&amp; value&lt;"10" ?"valid":"error"'>valid</compute>
   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>
   <normNames attr='   A   &#x20;&#13;&#xa;&#9;   B   '/>
</doc>"#;
    // Without the spec's DTD, normNames stays CDATA-normalized.
    let expected = "<doc>
   <text>First line&#xD;
Second line</text>
   <value>2</value>
   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>
   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>
   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>
   <normNames attr=\"   A    &#xD;&#xA;&#x9;   B   \"></normNames>
</doc>";
    assert_eq!(exc(doc), expected);
    assert_eq!(inc_at(doc, "doc"), expected);
}

/// exc-c14n §2.2: the same `n1:elem2` subtree in two documents.
const EXC_2_2_A: &str = r#"<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>"#;
const EXC_2_2_B: &str = r#"<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>"#;

#[test]
fn exc_c14n_spec_2_2() {
    let expected = r#"<n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>"#;
    assert_eq!(exc_at(EXC_2_2_A, "elem2", &[]), expected);
    assert_eq!(exc_at(EXC_2_2_B, "elem2", &[]), expected);
    // Inclusive c14n differs between the two: it drags in the ancestors' context.
    assert_eq!(
        inc_at(EXC_2_2_A, "elem2"),
        r#"<n1:elem2 xmlns:n0="foo:bar" xmlns:n1="http://example.net" xmlns:n3="ftp://example.org" xml:lang="en"><n3:stuff></n3:stuff></n1:elem2>"#
    );
    assert_eq!(
        inc_at(EXC_2_2_B, "elem2"),
        r#"<n1:elem2 xmlns:n1="http://example.net" xmlns:n2="http://foo.example" xml:lang="en" xml:space="retain"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>"#
    );
}

#[test]
fn namespace_pushdown_into_nested_assertion() {
    let doc = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r"><saml:Issuer>i</saml:Issuer><saml:Assertion ID="a" Version="2.0"><saml:Issuer>i</saml:Issuer><saml:Subject><saml:NameID>u</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"#;
    assert_eq!(
        exc_at(doc, "Assertion", &[]),
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="a" Version="2.0"><saml:Issuer>i</saml:Issuer><saml:Subject><saml:NameID>u</saml:NameID></saml:Subject></saml:Assertion>"#
    );
    // Without the context the result is the same: visibly used namespaces come from the tree.
    let r = root(doc);
    let a = r.elements().nth(1).unwrap();
    assert_eq!(exclusive_c14n(a, &[], None), exc_at(doc, "Assertion", &[]));
    // The protocol prefix is not used inside the assertion, so it is not rendered.
    assert!(!exc_at(doc, "Assertion", &[]).contains("samlp"));
    // ...unless the PrefixList names it.
    assert!(exc_at(doc, "Assertion", &["samlp"]).starts_with(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a""#
    ));
}

#[test]
fn default_namespace_handling() {
    // Entra declares the assertion namespace as the default namespace on Assertion.
    let doc = r#"<samlp:Response xmlns:samlp="urn:p" xmlns="urn:d"><Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="a"><Issuer>i</Issuer><x:y xmlns:x="urn:x" xmlns=""><z/></x:y></Assertion></samlp:Response>"#;
    assert_eq!(
        exc_at(doc, "Assertion", &[]),
        r#"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="a"><Issuer>i</Issuer><x:y xmlns:x="urn:x"><z xmlns=""></z></x:y></Assertion>"#
    );
    // An unqualified apex under a default namespace ancestor gets no xmlns="".
    assert_eq!(exc(r#"<a xmlns=""><b/></a>"#), "<a><b></b></a>");
    assert_eq!(exc_at(r#"<r xmlns="urn:r"><a xmlns=""><b/></a></r>"#, "a", &[]), "<a><b></b></a>");
    // ...but inclusive c14n of a child of an element that renders a default does.
    assert_eq!(
        inc_at(r#"<r xmlns="urn:r"><a xmlns=""><b/></a></r>"#, "r"),
        r#"<r xmlns="urn:r"><a xmlns=""><b></b></a></r>"#
    );
}

#[test]
fn inclusive_namespaces_prefix_list() {
    // An attribute value using a QName (xsi:type="xs:string") needs "xs" via the PrefixList.
    let doc = r#"<r xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:def"><v xsi:type="xs:string">x</v></r>"#;
    assert_eq!(
        exc_at(doc, "v", &[]),
        r#"<v xmlns="urn:def" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">x</v>"#
    );
    assert_eq!(
        exc_at(doc, "v", &["xs", "#default", "unknown"]),
        r#"<v xmlns="urn:def" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">x</v>"#
    );
    // A listed prefix already rendered by the apex is not repeated below.
    let doc = r#"<r xmlns:xs="urn:xs"><a><b/></a></r>"#;
    assert_eq!(exc_at(doc, "a", &["xs"]), r#"<a xmlns:xs="urn:xs"><b></b></a>"#);
    // #default with no default namespace in scope renders nothing.
    assert_eq!(exc_at(doc, "a", &["#default"]), "<a><b></b></a>");
}

#[test]
fn redeclaration_and_sibling_scopes() {
    let doc = r#"<a xmlns:p="urn:1"><p:b/><p:c xmlns:p="urn:2"><p:d/></p:c><p:e/></a>"#;
    assert_eq!(
        exc(doc),
        r#"<a><p:b xmlns:p="urn:1"></p:b><p:c xmlns:p="urn:2"><p:d></p:d></p:c><p:e xmlns:p="urn:1"></p:e></a>"#
    );
    let doc = r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:1"/></p:a>"#;
    assert_eq!(exc(doc), r#"<p:a xmlns:p="urn:1"><p:b></p:b></p:a>"#);
}

#[test]
fn exclude_removes_subtree() {
    let r = root(r#"<a ID="1"><b/><ds:Signature xmlns:ds="urn:ds"><ds:x/></ds:Signature> <c/></a>"#);
    let f = |e: &Element| e.local == "Signature";
    assert_eq!(exclusive_c14n(&r, &[], Some(&f)), "<a ID=\"1\"><b></b> <c></c></a>");
}

#[test]
fn empty_elements_and_whitespace() {
    assert_eq!(exc("<a  b = 'x' ><c/>\n\t<d></d></a >"), "<a b=\"x\"><c></c>\n\t<d></d></a>");
    assert_eq!(exc("<a>\r\n</a>"), "<a>\n</a>");
    assert_eq!(exc("<a>&#13;</a>"), "<a>&#xD;</a>");
}

#[test]
fn many_declarations_stay_linear() {
    // 30 levels x 60 declarations, then 2000 leaves: c14n (both kinds) must stay fast.
    let mut doc = String::new();
    for level in 0..30 {
        doc.push_str("<e");
        for i in 0..60 {
            doc.push_str(&format!(" xmlns:p{level}x{i}=\"urn:{level}:{i}\""));
        }
        doc.push('>');
    }
    doc.push_str("<f>");
    for _ in 0..2000 {
        doc.push_str("<p0x0:l p1x1:a=\"1\" p2x2:b=\"2\"/>");
    }
    doc.push_str("</f>");
    doc.push_str(&"</e>".repeat(30));
    let r = parse(&doc, &Limits { max_bytes: 1 << 20, ..Limits::default() }).unwrap();
    let start = std::time::Instant::now();
    let e = exclusive_c14n(&r.root, &[], None);
    let i = inclusive_c14n_in_context(&r.root, &[], &[], None);
    assert!(e.contains("<p0x0:l xmlns:p0x0=") && i.contains("<p0x0:l p1x1:a="));
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
}
