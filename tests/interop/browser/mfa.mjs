#!/usr/bin/env node
// Drive Ostiary's sign-in and second-factor pages in headless Chromium: password or passkey
// sign-in, method registration (authenticator app, passkey), the MFA challenge (authenticator
// code, passkey, recovery code), the recovery-codes page, consent, and error pages (blocked).
//
//   node mfa.mjs --url URL --until-url-prefix PREFIX --username U [--password P]
//                [--signin password|passkey] [--register totp|passkey]
//                [--verify totp|passkey|recovery] [--totp-secret BASE32] [--totp-after-step N]
//                [--totp-step N] [--recovery-code CODE] [--expect-refused]
//                [--expect-error AADSTS53003] [--consent accept|skip]
//                [--virtual-authenticator] [--ca PEM] [--screenshot DIR] [--timeout SECONDS]
//   node mfa.mjs --plan JSON ...        several rounds in one browser (see below)
//
// One run is one headless Chromium with one page. A round opens its URL (an /authorize URL) and
// walks the pages until the URL starts with --until-url-prefix (the redirect URI) or, with
// --expect-error, until an error page (or an error redirect) carries that AADSTS code. Every page
// must be expected: a registration page without --register, an MFA page without --verify, the
// same step shown again (a refused code or passkey) or another error ends the run with a failure.
//
// --signin password   fill username + password and press button#submit (default)
// --signin passkey    press button#passkey-signin (username-less, discoverable credential)
// --register totp     read <code id=totp-secret>, answer #totp-register-form with the RFC 6238
//                     code (HMAC-SHA1, 6 digits, 30 s) of the current time step
// --register passkey  press button#create-passkey (needs --virtual-authenticator)
// --verify totp       answer #totp-form with a code of --totp-secret. The server refuses a time
//                     step it has seen, so with --totp-after-step N the run waits (at most 30 s)
//                     until the step is past N; --totp-step N sends the code of step N as is
//                     (with --expect-refused: a replay must be refused)
// --expect-refused    the second factor must be refused: the round ends successfully when the
//                     MFA page comes back with its error (reported as "refused")
// --verify passkey    press button#use-passkey
// --verify recovery   open the <details>, fill recovery_code with --recovery-code, #use-recovery
// --consent accept    accept a consent page if one shows (default); skip: none may show
// --virtual-authenticator
//                     add a CTAP2 platform authenticator (resident keys, user verification,
//                     automatic presence) through the DevTools WebAuthn domain before round 1; it
//                     lives as long as the page, so the rounds of one run share its passkeys
// --password          or LOGIN_PASSWORD in the environment (keeps it off `ps`)
//
// --plan JSON: {"untilUrlPrefix": …, "virtualAuthenticator": bool, "rounds": [ROUND, …]} where a
// ROUND has "url" and optionally "username", "signIn", "register", "verify", "totpSecret",
// "totpAfterStep", "totpStep", "recoveryCode", "expectRefused", "expectError", "consent",
// "clearCookies" (drop the cookies
// before the round: a fresh sign-in, same authenticator), "untilUrlPrefix". Command-line flags
// are the defaults of every round. A round with "totpSecret": "$registered" uses the secret an
// earlier round of the run registered (and waits past its step); "recoveryCode": "$registered"
// the first unused code an earlier round was shown.
//
// Output: one JSON line. Success: {"ok":true,"rounds":[{"pages":[…],"url":…,"params":{…},
// "totp":{"secret","step"},"recoveryCodes":[…],"error":{"code","status","title"},…}],
// "credentials":[…virtual authenticator credentials…]}. Failure: {"ok":false,"error":…,
// "round":i,"rounds":[…done…],"pages":[…],"url","text","screenshot",…}. Exit 0 / 1 (failed) /
// 2 (usage) / 3 (watchdog). Wrap every run in `timeout`.

import { parseArgs } from 'node:util';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { launch, diagnose, watchdog, redact, submit, sleep, DriveError } from './lib.mjs';

const POLL_MS = 150;
const WEBAUTHN_WAIT_MS = 15_000;
const TOTP_PERIOD_S = 30;

function usage(msg) {
  process.stderr.write(`mfa.mjs: ${msg}\n`);
  process.stdout.write(`${JSON.stringify({ ok: false, error: `usage: ${msg}` })}\n`);
  process.exit(2);
}

// --------------------------------------------------------------------------------------- TOTP

export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new DriveError(`TOTP secret is not base32: ${JSON.stringify(text)}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function totpStep(nowMs = Date.now()) {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_S);
}

// RFC 6238 / RFC 4226: HMAC-SHA1 over the 8-byte big-endian step, dynamic truncation, 6 digits.
export function totpCode(secret, step) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 1_000_000).padStart(6, '0');
}

// A code for a step after `afterStep` (waits for it; the server refuses a step it has seen).
async function freshTotp(secret, afterStep, deadline, steps) {
  if (afterStep != null) {
    let waited = false;
    while (totpStep() <= afterStep) {
      if (Date.now() + 1000 > deadline) throw new DriveError(`no time left to wait for a TOTP step after ${afterStep}`);
      if (!waited) steps.push(`waiting for a TOTP step after ${afterStep}`);
      waited = true;
      await sleep(250);
    }
  }
  // Not in the last second of a step: the code should still be current when it arrives.
  const intoStep = (Date.now() / 1000) % TOTP_PERIOD_S;
  if (intoStep > TOTP_PERIOD_S - 1.5) await sleep((TOTP_PERIOD_S - intoStep + 0.1) * 1000);
  const step = totpStep();
  return { step, code: totpCode(secret, step) };
}

// --------------------------------------------------------------------------------------- pages

// One look at the page: which step of the flow it is.
async function look(page) {
  try {
    return await page.evaluate(() => {
      const q = (s) => document.querySelector(s);
      const vis = (s) => {
        const el = q(s);
        if (!el) return false;
        const st = window.getComputedStyle(el);
        return el.getClientRects().length > 0 && st.visibility !== 'hidden' && st.display !== 'none';
      };
      const text = document.body ? document.body.innerText : '';
      const codes = q('#recovery-codes');
      const h1 = q('h1');
      const status = q('#webauthn-status');
      return {
        ready: document.readyState !== 'loading',
        title: document.title || '',
        h1: h1 ? h1.innerText.trim() : '',
        text: text.slice(0, 4000),
        password: vis('input[name=password]'),
        usernameEditable: !!q('input[name=username]') && !q('input[name=username]').readOnly,
        passkeySignin: !!q('#passkey-signin'),
        register: !!(q('#totp-register-form') || q('#create-passkey') || q('#skip')),
        skip: !!q('#skip'),
        qrSvg: !!q('.qr svg'),
        totpSecret: q('#totp-secret') ? q('#totp-secret').textContent.trim() : null,
        createPasskey: !!q('#create-passkey'),
        challenge: !!(q('#totp-form') || q('#use-passkey') || q('#recovery-form')),
        totpForm: !!q('#totp-form'),
        usePasskey: !!q('#use-passkey'),
        recoveryForm: !!q('#recovery-form'),
        recoveryCodes: codes ? [...codes.querySelectorAll('code')].map((c) => c.textContent.trim()) : null,
        accept: vis('button#accept'),
        decline: vis('button#decline'),
        error: q('#error') ? q('#error').innerText.trim() : null,
        webauthnStatus: status && !status.hidden ? status.innerText.trim() : null,
        aadsts: (text.match(/AADSTS(\d{4,})/) || [])[1] || null,
      };
    });
  } catch {
    return null; // navigating
  }
}

function kindOf(s) {
  if (s.password) return 'signIn';
  if (s.recoveryCodes) return 'recoveryCodes';
  if (s.register) return 'mfaRegister';
  if (s.challenge) return 'mfaChallenge';
  if (s.accept || s.decline) return 'consent';
  return null;
}

// Presses a data-webauthn button and waits for the form to be posted (the page navigates) or
// for the page to report that the ceremony failed.
async function webauthnPress(page, tracker, selector, what) {
  const shown = Date.now() + 10_000;
  for (;;) {
    const visible = await page
      .evaluate((sel) => {
        const el = document.querySelector(sel);
        return !!el && !el.hidden && !el.disabled;
      }, selector)
      .catch(() => false);
    if (visible) break;
    if (Date.now() > shown) {
      const env = await page
        .evaluate(() => ({ pkc: typeof window.PublicKeyCredential, secure: window.isSecureContext }))
        .catch(() => ({}));
      throw new DriveError(
        `${what}: ${selector} stayed hidden (window.PublicKeyCredential: ${env.pkc}, isSecureContext: ${env.secure}; ` +
          `console: ${(tracker?.console ?? []).join(' | ') || 'none'})`,
      );
    }
    await sleep(POLL_MS);
  }
  const mark = `w${Date.now()}${Math.random()}`;
  await page.evaluate((m) => {
    window.__ostiaryMark = m;
  }, mark);
  await page.click(selector, { noWaitAfter: true });
  const until = Date.now() + WEBAUTHN_WAIT_MS;
  while (Date.now() < until) {
    await sleep(POLL_MS);
    let state;
    try {
      state = await page.evaluate(() => {
        const st = document.getElementById('webauthn-status');
        return { mark: window.__ostiaryMark || null, status: st && !st.hidden ? st.innerText.trim() : null };
      });
    } catch {
      state = { mark: null, status: null };
    }
    if (state.mark !== mark) {
      await page.waitForLoadState('domcontentloaded').catch(() => {});
      return;
    }
    if (state.status) {
      throw new DriveError(
        `${what}: the passkey ceremony failed in the page: ${state.status} ` +
          `(console: ${(tracker?.console ?? []).join(' | ') || 'none'})`,
      );
    }
  }
  throw new DriveError(`${what}: no navigation within ${WEBAUTHN_WAIT_MS / 1000} s after pressing ${selector}`);
}

function params(url) {
  const u = new URL(url);
  const out = Object.fromEntries(u.searchParams.entries());
  if (u.hash.length > 1) Object.assign(out, Object.fromEntries(new URLSearchParams(u.hash.slice(1)).entries()));
  return out;
}

/**
 * One round: open round.url and walk until the redirect URI (or the expected error).
 * `state` carries what earlier rounds learnt (the registered TOTP secret and step).
 */
async function runRound(session, round, state, deadline, result) {
  const { page, tracker } = session;
  const until = round.untilUrlPrefix;
  const expectError = round.expectError ? String(round.expectError).replace(/^AADSTS/, '') : null;
  const signIn = round.signIn || 'password';
  const consent = round.consent || 'accept';
  const visits = {};
  const pages = result.pages;
  const steps = result.steps;
  let lastKey = '';
  let sameSince = Date.now();
  let totpSecret = round.totpSecret;
  let totpAfter = round.totpAfterStep;
  if (totpSecret === '$registered') {
    if (!state.totp) throw new DriveError('"$registered" TOTP secret but no earlier round registered one');
    totpSecret = state.totp.secret;
    totpAfter = Math.max(totpAfter ?? -1, state.totp.step);
  }
  if (totpAfter == null && state.totp && totpSecret === state.totp.secret) totpAfter = state.totp.step;
  const enter = (kind) => {
    visits[kind] = (visits[kind] || 0) + 1;
    if (pages.at(-1) !== kind) pages.push(kind);
    return visits[kind];
  };

  if (round.clearCookies) {
    await session.context.clearCookies();
    steps.push('cookies cleared');
  }
  await page.goto(round.url, { waitUntil: 'domcontentloaded' });

  for (;;) {
    if (Date.now() > deadline) throw new DriveError('timed out');
    const url = page.url();
    if (until && url.startsWith(until)) {
      const p = params(url);
      result.url = url;
      result.params = p;
      pages.push('redirect');
      if (p.error) {
        const code = (String(p.error_description || '').match(/AADSTS(\d+)/) || [])[1] || null;
        result.error = { code, error: p.error, description: p.error_description || null, redirect: true };
        if (expectError && code === expectError) return;
        throw new DriveError(`error response at the redirect URI: ${p.error}: ${p.error_description || ''}`);
      }
      if (expectError) throw new DriveError(`expected AADSTS${expectError} but the flow reached the redirect URI`);
      if (round.expectRefused) {
        throw new DriveError('expected the second factor to be refused, but the flow reached the redirect URI');
      }
      return;
    }
    if (url.startsWith('chrome-error://')) {
      const f = tracker.failed.at(-1);
      throw new DriveError(`navigation failed${f ? `: ${f.error} for ${redact(f.url)}` : ''}`);
    }
    const s = await look(page);
    if (!s || !s.ready) {
      await sleep(POLL_MS);
      continue;
    }
    const kind = kindOf(s);

    if (kind === 'signIn') {
      if (enter(kind) > 1) throw new DriveError(`sign-in page shown again${s.error ? `: ${s.error}` : ''}`);
      if (signIn === 'passkey') {
        if (!s.passkeySignin) throw new DriveError('--signin passkey: the sign-in page has no #passkey-signin');
        steps.push('passkey sign-in');
        await webauthnPress(page, tracker, '#passkey-signin', 'passkey sign-in');
      } else {
        if (round.password == null) throw new DriveError('sign-in page shown but no password given');
        if (s.usernameEditable) {
          if (!round.username) throw new DriveError('sign-in page shown but no username given');
          await page.fill('input[name=username]', round.username);
        }
        await page.fill('input[name=password]', round.password);
        steps.push('password sign-in');
        await submit(page, tracker, 'button#submit', 'sign-in');
      }
      continue;
    }
    if (kind === 'mfaRegister') {
      if (enter(kind) > 1) throw new DriveError(`registration page shown again${s.error ? `: ${s.error}` : ''}`);
      result.registerOffered = { totp: !!s.totpSecret, qrSvg: s.qrSvg, passkey: s.createPasskey, skip: s.skip };
      if (round.register === 'totp') {
        if (!s.totpSecret) throw new DriveError('--register totp: no <code id=totp-secret> on the registration page');
        const { step, code } = await freshTotp(s.totpSecret, null, deadline, steps);
        await page.fill('#totp-register-form input[name=otp]', code);
        state.totp = { secret: s.totpSecret, step };
        result.totp = { secret: s.totpSecret, step };
        steps.push('register authenticator app');
        await submit(page, tracker, '#totp-register-form button[type=submit]', 'authenticator registration');
      } else if (round.register === 'passkey') {
        if (!s.createPasskey) throw new DriveError('--register passkey: no #create-passkey on the registration page');
        steps.push('register passkey');
        await webauthnPress(page, tracker, '#create-passkey', 'passkey registration');
      } else {
        throw new DriveError('registration page shown but no --register method given');
      }
      continue;
    }
    if (kind === 'mfaChallenge') {
      if (enter(kind) > 1) {
        if (round.expectRefused && s.error) {
          // The refusal was the point (a replayed code): the round ends on the MFA page.
          result.refused = s.error;
          result.url = url;
          return;
        }
        throw new DriveError(`MFA page shown again${s.error ? `: ${s.error}` : ''}`);
      }
      result.challengeOffered = { totp: s.totpForm, passkey: s.usePasskey, recovery: s.recoveryForm };
      if (round.verify === 'totp') {
        if (!s.totpForm) throw new DriveError('--verify totp: the MFA page has no #totp-form');
        if (!totpSecret) throw new DriveError('--verify totp needs --totp-secret');
        const { step, code } =
          round.totpStep != null
            ? { step: Number(round.totpStep), code: totpCode(totpSecret, Number(round.totpStep)) }
            : await freshTotp(totpSecret, totpAfter, deadline, steps);
        await page.fill('#totp-form input[name=otp]', code);
        state.totp = { secret: totpSecret, step };
        result.totp = { secret: totpSecret, step };
        steps.push('authenticator code');
        await submit(page, tracker, '#totp-form button#verify', 'MFA (authenticator code)');
      } else if (round.verify === 'passkey') {
        if (!s.usePasskey) throw new DriveError('--verify passkey: the MFA page has no #use-passkey');
        steps.push('passkey as second factor');
        await webauthnPress(page, tracker, '#use-passkey', 'MFA (passkey)');
      } else if (round.verify === 'recovery') {
        if (!s.recoveryForm) throw new DriveError('--verify recovery: the MFA page has no #recovery-form');
        let code = round.recoveryCode;
        if (code === '$registered') {
          code = state.recoveryCodes?.shift();
          if (!code) throw new DriveError('"$registered" recovery code but no earlier round was shown codes');
        }
        if (!code) throw new DriveError('--verify recovery needs --recovery-code');
        result.recoveryCodeUsed = code;
        await page.evaluate(() => {
          const d = document.querySelector('#recovery-form')?.closest('details');
          if (d) d.open = true;
        });
        await page.fill('#recovery_code', code);
        steps.push('recovery code');
        await submit(page, tracker, '#recovery-form button[type=submit]', 'MFA (recovery code)');
      } else {
        throw new DriveError('MFA page shown but no --verify method given');
      }
      continue;
    }
    if (kind === 'recoveryCodes') {
      if (enter(kind) > 1) throw new DriveError('recovery codes page shown again');
      result.recoveryCodes = s.recoveryCodes;
      state.recoveryCodes = [...s.recoveryCodes];
      steps.push(`recovery codes (${s.recoveryCodes.length})`);
      await submit(page, tracker, 'button#continue', 'recovery codes');
      continue;
    }
    if (kind === 'consent') {
      if (enter(kind) > 1) throw new DriveError('consent page shown again');
      if (consent === 'skip') throw new DriveError('consent page shown but --consent skip');
      if (!s.accept) throw new DriveError('consent page has no button#accept');
      steps.push('accept consent');
      await submit(page, tracker, 'button#accept', 'consent');
      continue;
    }
    // Nothing to act on: an error page ends the round (expected or not); anything else (a
    // redirect in flight, an auto-submitting form) gets time.
    const doc = tracker.lastDocument;
    const key = `${url}|${s.title}|${s.h1}`;
    if (key !== lastKey) {
      lastKey = key;
      sameSince = Date.now();
    }
    const httpError = doc && doc.status >= 400 && doc.url === url;
    if ((s.aadsts || httpError) && Date.now() - sameSince > 300) {
      pages.push('error');
      result.url = url;
      result.error = { code: s.aadsts, status: doc && doc.url === url ? doc.status : null, title: s.h1 || s.title };
      if (expectError && s.aadsts === expectError) return;
      const http = httpError ? ` (HTTP ${doc.status})` : '';
      throw new DriveError(`error page${http}: ${s.h1 || s.title}: AADSTS${s.aadsts}`);
    }
    await sleep(POLL_MS);
  }
}

// --------------------------------------------------------------------------------------- main

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      plan: { type: 'string' },
      url: { type: 'string' },
      'until-url-prefix': { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      signin: { type: 'string' },
      register: { type: 'string' },
      verify: { type: 'string' },
      'totp-secret': { type: 'string' },
      'totp-after-step': { type: 'string' },
      'totp-step': { type: 'string' },
      'expect-refused': { type: 'boolean', default: false },
      'recovery-code': { type: 'string' },
      'expect-error': { type: 'string' },
      consent: { type: 'string' },
      'virtual-authenticator': { type: 'boolean', default: false },
      screenshot: { type: 'string' },
      ca: { type: 'string' },
      timeout: { type: 'string', default: '90' },
    },
    strict: true,
  }));
} catch (e) {
  usage(e.message);
}

let plan = { rounds: [{}] };
if (args.plan) {
  try {
    plan = JSON.parse(args.plan.trimStart().startsWith('{') ? args.plan : fs.readFileSync(args.plan, 'utf8'));
  } catch (e) {
    usage(`--plan: ${e.message}`);
  }
  if (!Array.isArray(plan.rounds) || plan.rounds.length === 0) usage('--plan needs a non-empty "rounds" list');
}
const defaults = {
  url: args.url,
  untilUrlPrefix: args['until-url-prefix'] ?? plan.untilUrlPrefix,
  username: args.username,
  password: args.password ?? process.env.LOGIN_PASSWORD,
  signIn: args.signin,
  register: args.register,
  verify: args.verify,
  totpSecret: args['totp-secret'],
  totpAfterStep: args['totp-after-step'] != null ? Number(args['totp-after-step']) : undefined,
  totpStep: args['totp-step'] != null ? Number(args['totp-step']) : undefined,
  expectRefused: args['expect-refused'] || undefined,
  recoveryCode: args['recovery-code'],
  expectError: args['expect-error'],
  consent: args.consent,
};
const rounds = plan.rounds.map((r) => {
  const merged = { ...defaults };
  for (const [k, v] of Object.entries(r)) if (v != null) merged[k] = v;
  return merged;
});
const virtualAuthenticator = args['virtual-authenticator'] || !!plan.virtualAuthenticator;
for (const [i, r] of rounds.entries()) {
  const where = rounds.length > 1 ? `round ${i + 1}: ` : '';
  if (!r.url) usage(`${where}--url is required`);
  if (!r.untilUrlPrefix && !r.expectError) usage(`${where}give --until-url-prefix or --expect-error`);
  if (r.signIn && !['password', 'passkey'].includes(r.signIn)) usage(`${where}--signin must be password or passkey`);
  if (r.register && !['totp', 'passkey'].includes(r.register)) usage(`${where}--register must be totp or passkey`);
  if (r.verify && !['totp', 'passkey', 'recovery'].includes(r.verify)) {
    usage(`${where}--verify must be totp, passkey or recovery`);
  }
  if (r.consent && !['accept', 'skip'].includes(r.consent)) usage(`${where}--consent must be accept or skip`);
  if ((r.register === 'passkey' || r.verify === 'passkey' || r.signIn === 'passkey') && !virtualAuthenticator) {
    usage(`${where}passkeys need --virtual-authenticator`);
  }
}
const timeoutS = Number(args.timeout);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) usage('--timeout must be a positive number of seconds');
const caFile = args.ca ?? process.env.OSTIARY_CA;

let printed = false;
function emit(obj) {
  if (printed) return;
  printed = true;
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
watchdog((timeoutS + 20) * 1000, () => emit({ ok: false, error: `watchdog: no result after ${timeoutS + 20} s` }));

const started = Date.now();
const deadline = started + timeoutS * 1000;
const done = [];
let session = null;
let cdp = null;
let authenticatorId = null;
let current = null;
let exitCode = 0;

async function credentials() {
  if (!cdp || !authenticatorId) return undefined;
  try {
    const { credentials: list } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    return list.map((c) => ({
      credentialId: c.credentialId,
      isResidentCredential: c.isResidentCredential,
      rpId: c.rpId,
      userHandle: c.userHandle ?? null,
      signCount: c.signCount,
    }));
  } catch (e) {
    return [{ error: String(e).slice(0, 200) }];
  }
}

try {
  session = await launch({ caFile, origins: rounds.map((r) => r.url) });
  if (virtualAuthenticator) {
    cdp = await session.context.newCDPSession(session.page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  }
  const state = {};
  for (const round of rounds) {
    current = { pages: [], steps: [] };
    await runRound(session, round, state, deadline, current);
    if (cdp) current.credentialCount = (await credentials())?.length;
    done.push(current);
    current = null;
  }
  const out = { ok: true, rounds: done, elapsedMs: Date.now() - started };
  if (cdp) out.credentials = await credentials();
  if (args.screenshot) {
    fs.mkdirSync(args.screenshot, { recursive: true });
    const file = path.join(args.screenshot, `mfa-final-${Date.now()}-${process.pid}.png`);
    await session.page.screenshot({ path: file, timeout: 10_000 }).catch(() => {});
    out.screenshot = file;
  }
  emit(out);
} catch (e) {
  exitCode = 1;
  const d = await diagnose(session?.page, session?.tracker, args.screenshot, 'mfa');
  const error = e instanceof DriveError ? e.message : String(e?.stack || e);
  emit({
    ok: false,
    error,
    round: done.length + 1,
    rounds: done,
    pages: current?.pages,
    steps: current?.steps,
    credentials: await credentials(),
    ...d,
  });
  process.stderr.write(
    `mfa.mjs: round ${done.length + 1}: ${error}\n  at ${d.url}\n  screenshot ${d.screenshot}\n` +
      `--- page text ---\n${d.text ?? ''}\n`,
  );
} finally {
  await session?.browser.close().catch(() => {});
}
process.exit(exitCode);
