#!/usr/bin/env node
// A small SAML 2.0 service provider built on samlify (unchanged, npm `samlify` with
// `@authenio/samlify-xmllint-wasm` as its schema validator), for tests/interop/test_saml.py.
//
//   node saml-sp.mjs [--port 0] [--host 127.0.0.1]
//
// Listens on http://localhost:PORT and prints one JSON line {"ready":true,"port":PORT} once it
// accepts connections. Until it is configured it only answers /configure:
//
//   POST /configure   JSON {"entityId": …, "idpMetadata": "<IdP metadata XML>",
//                          "wantMessageSigned": bool, "wantAssertionsSigned": bool}
//                     builds samlify's IdentityProvider from the IdP metadata and the
//                     ServiceProvider (entity ID as given, default http://localhost:PORT/metadata;
//                     ACS http://localhost:PORT/acs, HTTP-POST)
//   GET  /metadata    the SP metadata (what Ostiary's importSamlMetadata gets)
//   GET  /login?relay=RS
//                     sp.createLoginRequest(idp, 'redirect', {relayState}) and a 302 to it; the
//                     request ID is remembered as outstanding
//   POST /acs         sp.parseLoginResponse(idp, 'post', {body}), then the checks samlify leaves
//                     to the application: Audience = our entity ID, Destination = our ACS,
//                     InResponseTo = an outstanding request ID (used once). Answers an HTML
//                     page with <pre id="saml-result">JSON</pre> (HTTP 200 if accepted, 403 if not)
//   POST /parse       JSON {"SAMLResponse", "requestId"}: the same verdict for a captured response
//                     (InResponseTo compared with requestId, nothing used up), as JSON
//   GET  /results     every ACS outcome so far, as JSON; GET /issued: every AuthnRequest sent
//
// The process ends on SIGTERM / SIGINT, or by itself after --max-seconds (default 900).

import http from 'node:http';
import { parseArgs } from 'node:util';
import * as samlify from 'samlify';
import * as validator from '@authenio/samlify-xmllint-wasm';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'max-seconds': { type: 'string', default: '900' },
  },
  strict: true,
});

samlify.setSchemaValidator(validator);

const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

let base = null; // http://localhost:PORT
let entityId = null;
let idp = null;
let sp = null;
let wantMessageSigned = false;
const outstanding = new Map(); // request ID -> relay state
const results = [];
const issued = []; // every AuthnRequest /login sent: {id, binding, url}

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(res, status, title, result) {
  const body =
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
    `<body><h1>${escapeHtml(title)}</h1><pre id="saml-result">${escapeHtml(JSON.stringify(result))}</pre></body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function json(res, status, obj) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(obj));
}

function readBody(req, limit = 4 * 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function asList(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

function configure(cfg) {
  wantMessageSigned = !!cfg.wantMessageSigned;
  entityId = cfg.entityId || `${base}/metadata`;
  idp = samlify.IdentityProvider({ metadata: cfg.idpMetadata });
  sp = samlify.ServiceProvider({
    entityID: entityId,
    assertionConsumerService: [{ Binding: POST, Location: `${base}/acs`, isDefault: true }],
    nameIDFormat: [EMAIL],
    authnRequestsSigned: false,
    wantAssertionsSigned: cfg.wantAssertionsSigned !== false,
    wantMessageSigned,
  });
}

// samlify's verdict plus the checks samlify leaves to the application. `consume`: the
// InResponseTo must be an outstanding request ID, used up on success (/acs); without it the ID
// is compared with `requestId` (/parse, which re-checks a captured response).
async function verify(body, { consume, requestId = null }) {
  const result = { sp: 'samlify', ok: false, relayState: body.RelayState ?? null, samlResponse: body.SAMLResponse ?? null };
  try {
    if (!body.SAMLResponse) throw new Error('no SAMLResponse in the form post');
    const { extract, samlContent } = await sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: body.SAMLResponse } });
    const audience = asList(extract.audience);
    const response = extract.response || {};
    result.nameId = extract.nameID ?? null;
    result.issuer = extract.issuer ?? null;
    result.audience = audience;
    result.inResponseTo = response.inResponseTo ?? null;
    result.destination = response.destination ?? null;
    result.sessionIndex = extract.sessionIndex?.sessionIndex ?? null;
    result.attributes = Object.fromEntries(Object.entries(extract.attributes || {}).map(([k, v]) => [k, asList(v)]));
    if (!audience.includes(entityId)) throw new Error(`audience ${JSON.stringify(audience)} is not ${entityId}`);
    if (result.destination !== `${base}/acs`) throw new Error(`Destination ${result.destination} is not ${base}/acs`);
    if (consume) {
      if (!result.inResponseTo || !outstanding.has(result.inResponseTo)) {
        throw new Error(`InResponseTo ${result.inResponseTo} is not an outstanding request`);
      }
      outstanding.delete(result.inResponseTo);
    } else if (result.inResponseTo !== requestId) {
      throw new Error(`InResponseTo ${result.inResponseTo} is not ${requestId}`);
    }
    result.requestId = result.inResponseTo;
    result.xmlLength = samlContent.length;
    result.ok = true;
  } catch (e) {
    result.error = String(e?.message || e);
  }
  return result;
}

async function acs(req, res) {
  const body = Object.fromEntries(new URLSearchParams(await readBody(req)));
  const result = await verify(body, { consume: true });
  results.push(result);
  page(res, result.ok ? 200 : 403, result.ok ? 'SAML sign-in accepted' : 'SAML sign-in rejected', result);
}

async function handle(req, res) {
  const url = new URL(req.url, base);
  if (req.method === 'POST' && url.pathname === '/configure') {
    configure(JSON.parse(await readBody(req)));
    return json(res, 200, { ok: true, entityId, acs: `${base}/acs` });
  }
  if (url.pathname === '/results') return json(res, 200, results);
  if (url.pathname === '/issued') return json(res, 200, issued);
  if (!sp) return json(res, 503, { error: 'not configured' });
  if (url.pathname === '/metadata' || url.pathname.startsWith('/metadata/')) {
    res.writeHead(200, { 'content-type': 'application/xml' });
    return res.end(sp.getMetadata());
  }
  if (url.pathname === '/login') {
    const relayState = url.searchParams.get('relay') || '';
    const { id, context } = sp.createLoginRequest(idp, 'redirect', { relayState });
    outstanding.set(id, relayState);
    issued.push({ id, binding: 'redirect', url: context });
    res.writeHead(302, { location: context, 'cache-control': 'no-store' });
    return res.end();
  }
  if (req.method === 'POST' && url.pathname === '/acs') return acs(req, res);
  if (req.method === 'POST' && url.pathname === '/parse') {
    const { SAMLResponse, requestId } = JSON.parse(await readBody(req));
    return json(res, 200, await verify({ SAMLResponse }, { consume: false, requestId }));
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (!res.headersSent) json(res, 500, { error: String(e?.stack || e) });
    else res.end();
  });
});
server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  base = `http://localhost:${port}`;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(() => process.exit(0), Number(args['max-seconds']) * 1000).unref();
