// Shared browser plumbing for the interop suite: launch Debian's Chromium through
// playwright-core and walk Ostiary's interactive pages (sign-in, device-code entry,
// consent, sign-out) until a target is reached.
//
// Used by login.mjs (a CLI driven from pytest), oidc-client.mjs (openid-client v6) and mfa.mjs
// (second-factor pages, passkeys with Chromium's virtual authenticator).
//
// Page contract (the selectors the server's pages must carry):
//   sign-in       input[name=username], input[name=password], button#submit ("Sign in")
//   device code   input[name=user_code], button#submit ("Next")
//   consent       button#accept, button#decline, input#admin_consent (admins only)
//   device done   <h1> "You have signed in to <app name>"
//   sign-out      "You signed out" page with a#continue to the post-logout URI
//
// TLS: Chromium on Linux cannot be pointed at a CA file (it reads the NSS database). So when a
// CA file is given, Node first opens a TLS connection to each https origin the walk starts
// at, verifying the server's chain and host name against that CA (a failure ends the run),
// then tells Chromium to accept exactly those servers' public keys
// (--ignore-certificate-errors-spki-list = SHA-256 of the SubjectPublicKeyInfo, leaf and
// CA). Any other certificate still fails in the browser, so TLS stays verified end to end
// without touching the system trust store. Without a CA file the context falls back to
// ignoreHTTPSErrors (and says so on stderr).

import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import os from 'node:os';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.OSTIARY_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const POLL_MS = 150;
const ACTION_TIMEOUT_MS = 10_000;

export class DriveError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DriveError';
  }
}

// base64(SHA-256(SubjectPublicKeyInfo DER)) of every certificate in a PEM file.
export function spkiHashes(pemFile) {
  const pem = fs.readFileSync(pemFile, 'utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) || [];
  if (blocks.length === 0) throw new Error(`no certificate in ${pemFile}`);
  return blocks.map((block) => {
    const der = new X509Certificate(block).publicKey.export({ type: 'spki', format: 'der' });
    return createHash('sha256').update(der).digest('base64');
  });
}

function spkiOf(der) {
  const spki = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

// Connects to the origin of `url`, verifies its certificate against caFile (chain and host
// name, as any TLS client would), and returns the SPKI hashes of the chain it presented.
export function verifiedServerKeys(url, caFile, timeoutMs = 10_000) {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 443);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ca: fs.readFileSync(caFile),
      servername: net.isIP(host) ? undefined : host,
      rejectUnauthorized: true,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TLS check of ${u.origin}: no handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const hashes = [];
      let cert = socket.getPeerCertificate(true);
      const seen = new Set();
      while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        hashes.push(spkiOf(cert.raw));
        cert = cert.issuerCertificate;
      }
      socket.end();
      resolve(hashes);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`TLS check of ${u.origin} against ${caFile}: ${e.message}`));
    });
  });
}

// caFile: the CA to trust; origins: the https URLs the walk will visit (their servers' keys
// are checked against caFile and pinned in Chromium).
export async function launch({ caFile, origins = [] } = {}) {
  const args = [...CHROMIUM_ARGS];
  let ignoreHTTPSErrors = true;
  if (caFile) {
    const pins = new Set(spkiHashes(caFile));
    for (const origin of new Set(origins.filter((o) => o.startsWith('https:')).map((o) => new URL(o).origin))) {
      for (const h of await verifiedServerKeys(origin, caFile)) pins.add(h);
    }
    args.push(`--ignore-certificate-errors-spki-list=${[...pins].join(',')}`);
    ignoreHTTPSErrors = false;
  } else {
    process.stderr.write('browser: no --ca given: ignoring HTTPS certificate errors\n');
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args,
    timeout: 30_000,
  });
  const context = await browser.newContext({
    ignoreHTTPSErrors,
    locale: 'en-US',
    viewport: { width: 1024, height: 900 },
  });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(30_000);
  const page = await context.newPage();
  const tracker = trackPage(page);
  return { browser, context, page, tracker };
}

// Remembers the last main-frame document response and failed requests, for diagnostics.
function trackPage(page) {
  const t = { lastDocument: null, failed: [], navigations: [], console: [] };
  // Console errors carry what the browser refused (CSP violations, mixed content, …).
  page.on('console', (m) => {
    if (['error', 'warning'].includes(m.type()) && t.console.length < 20) {
      t.console.push(`${m.type()}: ${m.text().slice(0, 500)}`);
    }
  });
  page.on('pageerror', (e) => {
    if (t.console.length < 20) t.console.push(`pageerror: ${String(e).slice(0, 500)}`);
  });
  page.on('response', (r) => {
    const req = r.request();
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
      t.lastDocument = { url: r.url(), status: r.status(), method: req.method() };
      t.navigations.push(`${req.method()} ${r.status()} ${redact(r.url())}`);
    }
  });
  page.on('requestfailed', (req) => {
    if (req.isNavigationRequest()) {
      t.failed.push({ url: req.url(), error: req.failure()?.errorText || 'failed' });
    }
  });
  return t;
}

// Keep codes and tokens out of logs: drop query and fragment values.
export function redact(url) {
  try {
    const u = new URL(url);
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '…');
    if (u.hash) u.hash = '#…';
    return u.toString();
  } catch {
    return String(url).slice(0, 200);
  }
}

// One look at the page: which of the contract's elements are there and visible.
async function inspect(page) {
  try {
    return await page.evaluate(() => {
      const vis = (sel) => {
        const el = document.querySelector(sel);
        if (!el) return false;
        const style = window.getComputedStyle(el);
        return el.getClientRects().length > 0 && style.visibility !== 'hidden' && style.display !== 'none';
      };
      const editable = (sel) => {
        const el = document.querySelector(sel);
        return !!el && !el.disabled && !el.readOnly;
      };
      const h1 = document.querySelector('h1');
      return {
        ready: document.readyState !== 'loading',
        mark: window.__ostiaryMark || null,
        title: document.title || '',
        h1: h1 ? h1.innerText.trim() : '',
        text: document.body ? document.body.innerText.slice(0, 4000) : '',
        userCode: vis('input[name=user_code]'),
        username: vis('input[name=username]'),
        usernameEditable: editable('input[name=username]'),
        password: vis('input[name=password]'),
        submit: vis('button#submit'),
        accept: vis('button#accept'),
        decline: vis('button#decline'),
        adminConsent: !!document.querySelector('input#admin_consent'),
        continueLink: vis('a#continue'),
      };
    });
  } catch {
    return null; // navigating: the execution context went away
  }
}

// Click, then wait until the document changed (or 10 s passed) so the next look
// does not see the old page and act twice. Returns false if the page stayed the same
// document (a blocked or failed submission).
export async function clickAndSettle(page, selector) {
  const mark = `m${Date.now()}${Math.random()}`;
  try {
    await page.evaluate((m) => {
      window.__ostiaryMark = m;
    }, mark);
  } catch {
    return true; // already navigating
  }
  await page.click(selector, { timeout: ACTION_TIMEOUT_MS, noWaitAfter: true }).catch((e) => {
    if (!/Execution context|navigat|Target closed|detached/i.test(String(e))) throw e;
  });
  const until = Date.now() + ACTION_TIMEOUT_MS;
  while (Date.now() < until) {
    await sleep(POLL_MS);
    let still;
    try {
      still = await page.evaluate(() => window.__ostiaryMark || null);
    } catch {
      still = null;
    }
    if (still !== mark) {
      await page.waitForLoadState('domcontentloaded').catch(() => {});
      return true;
    }
  }
  return false;
}

export async function submit(page, tracker, selector, what) {
  if (!(await clickAndSettle(page, selector))) {
    const blocked = (tracker?.console ?? []).filter((c) => /Content Security Policy|Refused|blocked/i.test(c));
    throw new DriveError(
      `${what}: clicking ${selector} did not leave the page within ${ACTION_TIMEOUT_MS / 1000} s` +
        (blocked.length ? ` (browser console: ${blocked.join(' | ')})` : ''),
    );
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Walk the interactive pages from the current page until done.
 *
 * opts:
 *   username, password        credentials for the sign-in page (required if it shows up)
 *   consent                   'accept' (default: accept if a consent page shows up),
 *                             'decline' (a consent page must show up; decline it),
 *                             'skip' (a consent page must NOT show up)
 *   adminConsent              tick input#admin_consent before accepting (the box must exist)
 *   untilUrlPrefix            done when the page URL starts with this
 *   deviceCode                enter this on the device-code page; done on "You have signed in"
 *   untilSignedOut            done when a "You signed out" page shows (without following it)
 *   followContinue            click a#continue on pages that offer it (sign-out page)
 *   timeoutMs                 overall limit (default 60 s)
 * returns { url, title, h1, consentShown, signedOutShown, steps, elapsedMs, status }
 */
export async function walk(page, tracker, opts) {
  const {
    username,
    password,
    consent = 'accept',
    adminConsent = false,
    untilUrlPrefix,
    deviceCode,
    untilSignedOut = false,
    followContinue = true,
    timeoutMs = 60_000,
  } = opts;
  if (!untilUrlPrefix && !deviceCode && !untilSignedOut) {
    throw new DriveError('nothing to wait for: give an URL prefix, a device code or untilSignedOut');
  }
  if (!['accept', 'decline', 'skip'].includes(consent)) throw new DriveError(`bad consent mode '${consent}'`);
  const started = Date.now();
  const deadline = started + timeoutMs;
  const steps = [];
  let credentialsSubmitted = 0;
  let usernameOnlySubmitted = 0;
  let codeEntered = 0;
  let consentShown = false;
  let signedOutShown = false;
  let continueClicks = 0;
  let consentClicks = 0;
  let lastStateKey = '';
  let sameStateSince = Date.now();

  const finish = (s) => {
    if (consent === 'decline' && !consentShown) {
      throw new DriveError('--consent decline: no consent page was shown');
    }
    if (adminConsent && !consentShown) {
      throw new DriveError('--admin-consent: no consent page was shown');
    }
    return {
      url: page.url(),
      title: s?.title ?? '',
      h1: s?.h1 ?? '',
      consentShown,
      signedOutShown,
      steps,
      elapsedMs: Date.now() - started,
      status: tracker?.lastDocument?.status ?? null,
    };
  };

  for (;;) {
    if (Date.now() > deadline) {
      throw new DriveError(`timed out after ${Math.round(timeoutMs / 1000)} s`);
    }
    const url = page.url();
    if (untilUrlPrefix && url.startsWith(untilUrlPrefix)) {
      const s = await inspect(page);
      steps.push(`reached ${redact(url)}`);
      return finish(s);
    }
    if (url.startsWith('chrome-error://')) {
      const f = tracker?.failed.at(-1);
      throw new DriveError(`navigation failed${f ? `: ${f.error} for ${redact(f.url)}` : ''}`);
    }
    const s = await inspect(page);
    if (!s || !s.ready) {
      await sleep(POLL_MS);
      continue;
    }
    if (/you signed out/i.test(s.h1) || /you signed out/i.test(s.title)) {
      if (!signedOutShown) steps.push('sign-out page');
      signedOutShown = true;
      if (untilSignedOut) return finish(s);
    }
    if (deviceCode && /you have signed in/i.test(s.h1)) {
      steps.push(`device sign-in done: ${s.h1}`);
      return finish(s);
    }

    if (s.userCode) {
      if (!deviceCode) throw new DriveError('device-code page shown but no --device-code given');
      if (codeEntered >= 1) throw new DriveError('device-code page shown again after entering the code');
      await page.fill('input[name=user_code]', deviceCode);
      steps.push('device code');
      codeEntered += 1;
      await submit(page, tracker, 'button#submit', 'device code');
      continue;
    }
    if (s.password) {
      if (credentialsSubmitted >= 1) {
        throw new DriveError('sign-in page shown again after submitting the credentials');
      }
      if (password == null) throw new DriveError('sign-in page shown but no password given');
      if (s.username && s.usernameEditable) {
        if (username == null) throw new DriveError('sign-in page shown but no username given');
        await page.fill('input[name=username]', username);
      }
      await page.fill('input[name=password]', password);
      steps.push('sign-in');
      credentialsSubmitted += 1;
      await submit(page, tracker, 'button#submit', 'sign-in');
      continue;
    }
    if (s.username && s.submit) {
      // A username-only first step (Entra's two-page sign-in); tolerated.
      if (usernameOnlySubmitted >= 1) throw new DriveError('username page shown again');
      if (s.usernameEditable) await page.fill('input[name=username]', username ?? '');
      steps.push('username');
      usernameOnlySubmitted += 1;
      await submit(page, tracker, 'button#submit', 'username');
      continue;
    }
    if (s.accept || s.decline) {
      if (!consentShown) steps.push('consent page');
      consentShown = true;
      if (consent === 'skip') throw new DriveError('consent page shown but --consent skip');
      if (consentClicks >= 1) throw new DriveError('consent page shown again after answering it');
      consentClicks += 1;
      if (consent === 'decline') {
        if (!s.decline) throw new DriveError('consent page has no button#decline');
        steps.push('decline');
        await submit(page, tracker, 'button#decline', 'consent');
        continue;
      }
      if (!s.accept) throw new DriveError('consent page has no button#accept');
      if (adminConsent) {
        if (!s.adminConsent) throw new DriveError('--admin-consent: the consent page has no input#admin_consent');
        await page.check('input#admin_consent');
        steps.push('admin consent box');
      }
      steps.push('accept');
      await submit(page, tracker, 'button#accept', 'consent');
      continue;
    }
    if (s.continueLink && followContinue && !untilSignedOut) {
      if (continueClicks >= 2) throw new DriveError('a#continue shown again after following it twice');
      continueClicks += 1;
      steps.push('continue');
      await submit(page, tracker, 'a#continue', 'sign-out page');
      continue;
    }
    // Nothing to do on this page. An error page ends the walk at once; anything else
    // (an auto-submitting form_post page, a redirect in flight) gets time.
    const doc = tracker?.lastDocument;
    const isError =
      /AADSTS\d{4,}/.test(s.text) || (doc && doc.status >= 400 && doc.url === page.url());
    const key = `${page.url()}|${s.title}|${s.h1}`;
    if (key !== lastStateKey) {
      lastStateKey = key;
      sameStateSince = Date.now();
    }
    if (isError && Date.now() - sameStateSince > 500) {
      throw new DriveError(
        `error page${doc && doc.url === page.url() ? ` (HTTP ${doc.status})` : ''}: ${s.h1 || s.title}`,
      );
    }
    await sleep(POLL_MS);
  }
}

// Collects what is needed to explain a failure: screenshot, page text, navigation log.
export async function diagnose(page, tracker, screenshotDir, label = 'failure') {
  const out = {
    url: null,
    title: null,
    text: null,
    screenshot: null,
    navigations: tracker?.navigations ?? [],
    console: tracker?.console ?? [],
  };
  if (!page) return out;
  try {
    out.url = redact(page.url());
    out.title = await page.title().catch(() => null);
    out.text = await page
      .evaluate(() => (document.body ? document.body.innerText.slice(0, 4000) : ''))
      .catch(() => null);
    const dir = screenshotDir || os.tmpdir();
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `login-${label}-${Date.now()}-${process.pid}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout: 10_000 });
    out.screenshot = file;
  } catch (e) {
    out.diagnoseError = String(e).slice(0, 300);
  }
  return out;
}

// Hard stop in case something hangs outside the walk's own deadline.
export function watchdog(ms, onFire) {
  const t = setTimeout(() => {
    try {
      onFire();
    } finally {
      process.exit(3);
    }
  }, ms);
  t.unref();
  return t;
}
