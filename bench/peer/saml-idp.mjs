// Peer SAML 2.0 IdP for bench/saml.sh: samlify 2.13.1 as the identity provider, configured as in
// shared/reference/testbeds.md appendix C (custom template filling: Destination, Recipient,
// Audience, AuthnStatement and AttributeStatement, which samlify's default template leaves out).
// One fixed service provider and one fixed user; no session, no sign-in page (the measured path is
// "the user is already signed in": build and sign a Response, answer the auto-post form).
//
//   GET /launch        IdP-initiated: idp.createLoginResponse(sp, null, 'post', user, …) -> HTML form
//   GET /sso?SAMLRequest=…&RelayState=…
//                      SP-initiated, HTTP-Redirect binding: idp.parseLoginRequest (inflate, schema
//                      validation with @authenio/samlify-xmllint-wasm, Issuer) then a Response with
//                      InResponseTo = the request ID. samlify keeps no record of request IDs (no
//                      replay refusal), unlike Ostiary.
//   GET /metadata      the IdP metadata
//
// The Assertion is signed (RSA-SHA256, SHA-256 digest, exc-c14n: the SP wants signed assertions),
// the Response is not: the same as Ostiary's default signingOption TokenOnly.
//
// Env: HOST (loopback only) [127.0.0.1], PORT [0], TLS_CERT / TLS_KEY (https; plain http without),
//   SIGN_KEY / SIGN_CERT (PEM, the IdP's RSA signing key and certificate; required),
//   SP_ENTITY, ACS (the SP's entity ID and HTTP-POST ACS URL; required), RELAY_STATE [''],
//   CLAIMS (optional JSON file: {"nameId", "nameIdFormat", "authnContextClassRef",
//     "attributes": [{"name", "nameFormat"?, "values": [..]}]} — bench/saml.sh copies Ostiary's so
//     that both Assertions carry the same statements), MAX_SECONDS [3600]: exits by itself,
//   SCHEMA_VALIDATOR [xmllint]: @authenio/samlify-xmllint-wasm, or none (see below).
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import * as samlify from 'samlify';
import * as validator from '@authenio/samlify-xmllint-wasm';

const env = (k, d) => process.env[k] ?? d;
const need = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is required`); return v; };
const HOST = env('HOST', '127.0.0.1');
if (!HOST.startsWith('127.')) throw new Error('loopback only');
const PORT = Number(env('PORT', '0'));
const TLS = !!process.env.TLS_CERT;
const SP_ENTITY = need('SP_ENTITY');
const ACS = need('ACS');
const RELAY_STATE = env('RELAY_STATE', '');
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const PASSWORD = 'urn:oasis:names:tc:SAML:2.0:ac:classes:Password';

const claims = process.env.CLAIMS ? JSON.parse(fs.readFileSync(process.env.CLAIMS, 'utf8')) : {};
const NAME_ID = claims.nameId || 'alice@contoso.test';
const NAME_ID_FORMAT = claims.nameIdFormat || EMAIL;
const AUTHN_CONTEXT = claims.authnContextClassRef || PASSWORD;
const ATTRIBUTES = claims.attributes || [
  { name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', values: [NAME_ID] },
  { name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', values: [NAME_ID] },
];

// samlify refuses to parse a message without a schema validator. SCHEMA_VALIDATOR=none (bench/saml.sh
// SAML_PEER_VALIDATOR=none) swaps in one that accepts everything, to show what the validation costs;
// never do that in production (schema validation is samlify's defence against XML signature wrapping).
const SCHEMA_VALIDATOR = env('SCHEMA_VALIDATOR', 'xmllint');
if (SCHEMA_VALIDATOR === 'none') samlify.setSchemaValidator({ validate: async () => 'skipped' });
else if (SCHEMA_VALIDATOR === 'xmllint') samlify.setSchemaValidator(validator);
else throw new Error('SCHEMA_VALIDATOR: xmllint or none');
const { SamlLib } = samlify.default;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

let base = null; // set once listening
let idp = null;
const sp = samlify.ServiceProvider({
  entityID: SP_ENTITY,
  assertionConsumerService: [{ Binding: POST, Location: ACS, isDefault: true }],
  nameIDFormat: [NAME_ID_FORMAT],
  authnRequestsSigned: false,
  wantAssertionsSigned: true,
  wantMessageSigned: false,
});

// The AttributeStatement never changes: built once, already escaped (replaceTagsByValue would
// escape a spliced-in element, so it is spliced into the template before the tag filling).
const ATTRIBUTE_XML =
  '<saml:AttributeStatement>' +
  ATTRIBUTES.map((a) =>
    `<saml:Attribute Name="${esc(a.name)}"${a.nameFormat ? ` NameFormat="${esc(a.nameFormat)}"` : ''}>` +
    a.values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`).join('') +
    '</saml:Attribute>').join('') +
  '</saml:AttributeStatement>';

// testbeds.md appendix C: fill every tag ourselves (samlify calls this with its login template).
function tagReplacement(inResponseTo) {
  return (template) => {
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
    const id = `_${randomUUID()}`;
    const assertionId = `_${randomUUID()}`;
    let t = template;
    if (!inResponseTo) t = t.replaceAll(' InResponseTo="{InResponseTo}"', ''); // IdP-initiated: no attribute at all
    t = t
      .replace('{AuthnStatement}',
        `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${assertionId}">` +
        `<saml:AuthnContext><saml:AuthnContextClassRef>${esc(AUTHN_CONTEXT)}</saml:AuthnContextClassRef>` +
        '</saml:AuthnContext></saml:AuthnStatement>')
      .replace('{AttributeStatement}', ATTRIBUTE_XML);
    const values = {
      ID: id,
      AssertionID: assertionId,
      Destination: ACS,
      Audience: SP_ENTITY,
      SubjectRecipient: ACS,
      Issuer: idp.entityMeta.getEntityID(),
      IssueInstant: now.toISOString(),
      StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
      ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later,
      SubjectConfirmationDataNotOnOrAfter: later,
      NameIDFormat: NAME_ID_FORMAT,
      NameID: NAME_ID,
      InResponseTo: inResponseTo || '',
    };
    return { id, context: SamlLib.replaceTagsByValue(t, values) };
  };
}

function autoPost(res, action, samlResponse, relayState) {
  const body =
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Working...</title></head>' +
    '<body onload="document.forms[0].submit()">' +
    `<form method="POST" action="${esc(action)}">` +
    `<input type="hidden" name="SAMLResponse" value="${esc(samlResponse)}">` +
    (relayState ? `<input type="hidden" name="RelayState" value="${esc(relayState)}">` : '') +
    '<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit"></noscript>' +
    '</form></body></html>';
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-cache, no-store',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function fail(res, status, e) {
  const text = `error: ${e && e.message ? e.message : e}\n`;
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handler(req, res) {
  const u = new URL(req.url, base);
  try {
    if (req.method === 'GET' && u.pathname === '/launch') {
      const r = await idp.createLoginResponse(sp, null, 'post', { email: NAME_ID },
        { customTagReplacement: tagReplacement(null), relayState: RELAY_STATE });
      return autoPost(res, r.entityEndpoint, r.context, RELAY_STATE);
    }
    if (req.method === 'GET' && u.pathname === '/sso') {
      const query = Object.fromEntries(u.searchParams);
      const parsed = await idp.parseLoginRequest(sp, 'redirect', { query, octetString: u.search.slice(1) });
      const relayState = query.RelayState || '';
      const r = await idp.createLoginResponse(sp, parsed, 'post', { email: NAME_ID },
        { customTagReplacement: tagReplacement(parsed.extract.request.id), relayState });
      return autoPost(res, r.entityEndpoint, r.context, relayState);
    }
    if (req.method === 'GET' && u.pathname === '/metadata') {
      const xml = idp.getMetadata();
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' });
      return res.end(xml);
    }
    return fail(res, 404, 'not found');
  } catch (e) {
    return fail(res, 400, e);
  }
}

const server = TLS
  ? https.createServer({ cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }, handler)
  : http.createServer(handler);
server.keepAliveTimeout = 65000;
server.listen(PORT, HOST, () => {
  const port = server.address().port;
  base = `${TLS ? 'https' : 'http'}://${HOST}:${port}`;
  idp = samlify.IdentityProvider({
    entityID: `${base}/metadata`,
    signingCert: fs.readFileSync(need('SIGN_CERT'), 'utf8'),
    privateKey: fs.readFileSync(need('SIGN_KEY'), 'utf8'),
    nameIDFormat: [NAME_ID_FORMAT],
    singleSignOnService: [{ Binding: REDIRECT, Location: `${base}/sso` }, { Binding: POST, Location: `${base}/sso` }],
    wantAuthnRequestsSigned: false,
  });
  console.log(JSON.stringify({ ready: true, port, pid: process.pid, entityID: `${base}/metadata`, sp: SP_ENTITY, acs: ACS,
    schemaValidator: SCHEMA_VALIDATOR }));
});
const maxSeconds = Number(env('MAX_SECONDS', '3600'));
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
