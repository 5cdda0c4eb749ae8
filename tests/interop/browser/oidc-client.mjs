#!/usr/bin/env node
// openid-client v6 (panva; strict OIDC relying party) against Ostiary, with the browser for
// the interactive parts.
//
//   OIDC_CLIENT_SECRET=… LOGIN_PASSWORD=… NODE_EXTRA_CA_CERTS=dev-ca.pem \
//   node oidc-client.mjs --issuer https://127.0.0.1:PORT/{tenant}/v2.0 --client-id ID \
//        --username U --port LOOPBACK_PORT [--scope "openid profile email offline_access"]
//        [--consent accept|skip] [--ca dev-ca.pem] [--screenshot DIR] [--timeout 100]
//
// The redirect URI is http://localhost:PORT/cb and the post-logout URI
// http://localhost:PORT/signed-out (register both as web redirect URIs); this script serves
// both on 127.0.0.1:PORT itself.
//
// Steps: discovery(issuer) → buildAuthorizationUrl (PKCE S256, state, nonce) → browser sign-in
// → authorizationCodeGrant (issuer, audience, nonce, state, PKCE, and the ID token signature
// against jwks_uri via enableNonRepudiationChecks) → refreshTokenGrant → fetchUserInfo (the
// `sub` must match the ID token's) → buildEndSessionUrl(post_logout_redirect_uri) followed in
// the same browser → a fresh /authorize must show the sign-in form again.
//
// Prints one JSON line: {"ok":true, …what each step saw…} or {"ok":false,"stage":…,"error":…}.

import http from 'node:http';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';
import { launch, walk, diagnose, watchdog, DriveError, redact } from './lib.mjs';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    username: { type: 'string' },
    port: { type: 'string' },
    scope: { type: 'string', default: 'openid profile email offline_access' },
    consent: { type: 'string', default: 'accept' },
    ca: { type: 'string' },
    screenshot: { type: 'string' },
    timeout: { type: 'string', default: '100' },
  },
  strict: true,
});

for (const required of ['issuer', 'client-id', 'username', 'port']) {
  if (!args[required]) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: `usage: --${required} is required` })}\n`);
    process.exit(2);
  }
}
const secret = process.env.OIDC_CLIENT_SECRET;
const password = process.env.LOGIN_PASSWORD;
const caFile = args.ca ?? process.env.OSTIARY_CA;
const port = Number(args.port);
const redirectUri = `http://localhost:${port}/cb`;
const postLogoutUri = `http://localhost:${port}/signed-out`;
const timeoutS = Number(args.timeout);

let printed = false;
function emit(obj) {
  if (printed) return;
  printed = true;
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
watchdog((timeoutS + 20) * 1000, () => emit({ ok: false, error: `watchdog: no result after ${timeoutS + 20} s` }));

// The loopback relying party: records the callback and the post-logout landing.
const hits = [];
const server = http.createServer((req, res) => {
  hits.push({ method: req.method, url: req.url });
  const body = req.url.startsWith('/signed-out')
    ? '<!doctype html><title>RP signed out</title><h1>Relying party: signed out</h1>'
    : '<!doctype html><title>RP callback</title><h1>Relying party: callback received</h1>';
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});

function describeError(e) {
  if (e instanceof DriveError) return e.message;
  const parts = [`${e?.name ?? 'Error'}: ${e?.message ?? e}`];
  if (e?.code) parts.push(`code=${e.code}`);
  if (e?.error) parts.push(`error=${e.error}`);
  if (e?.error_description) parts.push(`error_description=${e.error_description}`);
  if (e?.status) parts.push(`status=${e.status}`);
  const cause = e?.cause;
  if (cause) {
    try {
      parts.push(`cause=${JSON.stringify(cause.body ?? cause).slice(0, 1500)}`);
    } catch {
      parts.push(`cause=${String(cause).slice(0, 500)}`);
    }
  }
  return parts.join(' ');
}

function callbackUrl(path) {
  const hit = hits.find((h) => h.url.startsWith(path));
  if (!hit) throw new Error(`no request to ${path} reached the relying party (saw ${hits.map((h) => h.url.split('?')[0])})`);
  return new URL(`http://localhost:${port}${hit.url}`);
}

const out = { ok: false };
let stage = 'discovery';
let session = null;
let exitCode = 0;
try {
  const config = await client.discovery(new URL(args.issuer), args['client-id'], secret, undefined, { timeout: 20 });
  client.enableNonRepudiationChecks(config);
  const meta = config.serverMetadata();
  out.discovery = {
    issuer: meta.issuer,
    authorization_endpoint: meta.authorization_endpoint,
    token_endpoint: meta.token_endpoint,
    userinfo_endpoint: meta.userinfo_endpoint,
    end_session_endpoint: meta.end_session_endpoint,
    jwks_uri: meta.jwks_uri,
  };

  stage = 'authorize';
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: args.scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  session = await launch({ caFile, origins: [authUrl.href] });
  await session.page.goto(authUrl.href, { waitUntil: 'domcontentloaded' });
  out.login = await walk(session.page, session.tracker, {
    username: args.username,
    password,
    consent: args.consent,
    untilUrlPrefix: redirectUri,
    timeoutMs: 60_000,
  });
  const currentUrl = callbackUrl('/cb');
  out.authorizationResponseKeys = [...currentUrl.searchParams.keys()].sort();

  stage = 'authorizationCodeGrant';
  const tokens = await client.authorizationCodeGrant(config, currentUrl, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const idClaims = tokens.claims();
  out.tokens = {
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expiresIn(),
    has_refresh_token: !!tokens.refresh_token,
    access_token: tokens.access_token,
    id_token: tokens.id_token,
    id_token_claims: idClaims,
  };

  stage = 'fetchUserInfo';
  out.userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);

  stage = 'refreshTokenGrant';
  if (!tokens.refresh_token) throw new Error('no refresh_token in the code response (offline_access was requested)');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, { scope: args.scope });
  out.refresh = {
    token_type: refreshed.token_type,
    access_token: refreshed.access_token,
    access_token_changed: refreshed.access_token !== tokens.access_token,
    refresh_token_rotated: !!refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token,
    id_token_claims: refreshed.id_token ? refreshed.claims() : null,
  };

  stage = 'fetchUserInfo (refreshed token)';
  out.userinfoAfterRefresh = await client.fetchUserInfo(config, refreshed.access_token, idClaims.sub);

  stage = 'end session';
  const endSession = client.buildEndSessionUrl(config, { post_logout_redirect_uri: postLogoutUri });
  out.endSessionUrl = endSession.href;
  await session.page.goto(endSession.href, { waitUntil: 'domcontentloaded' });
  out.logout = await walk(session.page, session.tracker, {
    untilUrlPrefix: postLogoutUri,
    followContinue: true,
    timeoutMs: 30_000,
  });
  callbackUrl('/signed-out');

  stage = 'authorize after sign-out';
  const again = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: args.scope,
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: client.randomState(),
    nonce: client.randomNonce(),
  });
  const before = hits.length;
  await session.page.goto(again.href, { waitUntil: 'domcontentloaded' });
  const until = Date.now() + 20_000;
  out.afterLogout = { signInShown: false, redirectedWithoutSignIn: false };
  while (Date.now() < until) {
    if (hits.length > before && hits.slice(before).some((h) => h.url.startsWith('/cb'))) {
      out.afterLogout.redirectedWithoutSignIn = true;
      break;
    }
    const visible = await session.page.locator('input[name=password]').isVisible().catch(() => false);
    if (visible) {
      out.afterLogout.signInShown = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  out.afterLogout.url = redact(session.page.url());

  out.ok = true;
  emit(out);
} catch (e) {
  exitCode = 1;
  const d = await diagnose(session?.page, session?.tracker, args.screenshot, 'oidc-client');
  const error = describeError(e);
  emit({ ...out, ok: false, stage, error, page: d });
  process.stderr.write(`oidc-client.mjs: ${stage}: ${error}\n`);
} finally {
  await session?.browser.close().catch(() => {});
  server.close();
}
process.exit(exitCode);
