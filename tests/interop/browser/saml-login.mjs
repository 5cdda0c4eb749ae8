#!/usr/bin/env node
// SAML 2.0 sign-ins in headless Chromium (playwright-core + /usr/bin/chromium, the same launch,
// TLS pinning, page walk and diagnostics as login.mjs, from lib.mjs), for test_saml.py.
//
//   node saml-login.mjs --plan JSON --username U [--password P] --origin OSTIARY_BASE
//                       [--ca PEM] [--screenshot DIR] [--timeout SECONDS] [--cookies]
//
// One run is one Chromium profile with one page; its rounds share the cookies (so a later round
// shows whether the SSO session carried over). --plan is
//   {"rounds": [ROUND, …]}
// and a ROUND is
//   {"url": …,            what to open: an SP's /login (SP-initiated), /saml2/launch/{appId}
//                         (IdP-initiated), an SP's /logout (single logout), …
//    "until": …,          done when the page URL starts with this (an SP's /acs or /slo)
//    "expectError": …,    instead of "until": the round must end on an Ostiary error page
//                         carrying this code (e.g. "AADSTS50105"); "until" is then the URL that
//                         must never be reached (the ACS)
//    "clearCookies": bool drop every cookie first (a fresh sign-in),
//    "result": false      the page at "until" is not an SP of ours (no #saml-result to read),
//    "followContinue": false  do not click a#continue on Ostiary's sign-out page: its own script
//                         moves on once its front-channel logout iframes have loaded (at most 3 s)}
// The page walk (lib.mjs) fills Ostiary's sign-in page (input[name=username],
// input[name=password], button#submit), lets the auto-submitting SAML forms post, follows the
// sign-out page's a#continue, and fails at once on an unexpected error page.
// When the round ends on an SP page, the SP's verdict is read from <pre id="saml-result">
// (JSON; every SP of test_saml.py renders one on its ACS / SLO page).
//
// --origin     Ostiary's https base URL: its certificate is checked against --ca and pinned in
//              Chromium (the SP URLs are plain http://localhost)
// --password   or LOGIN_PASSWORD in the environment (keeps it off `ps`)
// --cookies    add the Ostiary cookies of the profile to the output (for plain-HTTP follow-ups
//              with the same SSO session)
//
// Output: one JSON line. {"ok":true,"rounds":[{"url","signInShown","steps","status","h1",
// "result":{…SP verdict…}|null,"error":{"code","status","h1","text"}|null,"acsReached":bool,
// "navigations":[…]}],"cookies":[…]} or {"ok":false,"error":…,"round":i,"rounds":[…],"url",
// "text","screenshot",…}. Exit 0 / 1 (failed) / 2 (usage) / 3 (watchdog). Wrap it in `timeout`.

import { parseArgs } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { launch, walk, diagnose, watchdog, redact, sleep, DriveError } from './lib.mjs';

const RESULT_WAIT_MS = 10_000;

function usage(msg) {
  process.stderr.write(`saml-login.mjs: ${msg}\n`);
  process.stdout.write(`${JSON.stringify({ ok: false, error: `usage: ${msg}` })}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      plan: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      origin: { type: 'string' },
      ca: { type: 'string' },
      screenshot: { type: 'string' },
      timeout: { type: 'string', default: '90' },
      cookies: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (e) {
  usage(e.message);
}

let plan;
try {
  plan = JSON.parse(args.plan ?? '');
} catch (e) {
  usage(`--plan must be JSON: ${e.message}`);
}
if (!Array.isArray(plan?.rounds) || plan.rounds.length === 0) usage('--plan needs "rounds": [...]');
for (const [i, r] of plan.rounds.entries()) {
  if (!r.url) usage(`round ${i}: "url" is required`);
  if (!r.until && !r.expectError) usage(`round ${i}: give "until" or "expectError"`);
}
if (!args.origin) usage('--origin is required');
const password = args.password ?? process.env.LOGIN_PASSWORD;
const timeoutS = Number(args.timeout);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) usage('--timeout must be a positive number of seconds');
const caFile = args.ca ?? process.env.OSTIARY_CA;

let printed = false;
function emit(obj) {
  if (printed) return;
  printed = true;
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}
watchdog((timeoutS + 30) * 1000, () => emit({ ok: false, error: `watchdog: no result after ${timeoutS + 30} s` }));

// The SP's verdict: the JSON in <pre id="saml-result"> (waits for the page to render it).
async function spResult(page) {
  const until = Date.now() + RESULT_WAIT_MS;
  while (Date.now() < until) {
    const text = await page
      .evaluate(() => document.querySelector('#saml-result')?.textContent ?? null)
      .catch(() => null);
    if (text) return JSON.parse(text);
    await sleep(100);
  }
  throw new DriveError(`no #saml-result on ${redact(page.url())} within ${RESULT_WAIT_MS / 1000} s`);
}

async function pageText(page) {
  return page.evaluate(() => (document.body ? document.body.innerText.slice(0, 4000) : '')).catch(() => '');
}

const deadline = Date.now() + timeoutS * 1000;
const rounds = [];
let session = null;
let current = -1;
let exitCode = 0;
try {
  session = await launch({ caFile, origins: [args.origin] });
  const { page, context, tracker } = session;
  for (const [i, r] of plan.rounds.entries()) {
    current = i;
    if (r.clearCookies) await context.clearCookies();
    const navStart = tracker.navigations.length;
    const out = { url: redact(r.url), signInShown: false, steps: [], result: null, error: null, acsReached: false };
    await page.goto(r.url, { waitUntil: 'domcontentloaded' });
    const left = Math.max(1000, deadline - Date.now());
    if (r.expectError) {
      // The walk must end on an Ostiary error page with this code, never at `until`.
      let walked = null;
      try {
        walked = await walk(page, tracker, {
          username: args.username,
          password,
          untilUrlPrefix: r.until || 'about:never',
          timeoutMs: left,
        });
      } catch (e) {
        if (!(e instanceof DriveError) || !/^error page/.test(e.message)) throw e;
        const text = await pageText(page);
        if (!text.includes(r.expectError)) {
          throw new DriveError(`expected an error page with ${r.expectError}, got: ${e.message}`);
        }
        const h1 = await page.evaluate(() => document.querySelector('h1')?.innerText ?? '').catch(() => '');
        out.error = { code: r.expectError, status: tracker.lastDocument?.status ?? null, h1, text: text.slice(0, 2000) };
      }
      if (walked) throw new DriveError(`expected ${r.expectError}, but the walk reached ${redact(walked.url)}`);
    } else {
      const walked = await walk(page, tracker, {
        username: args.username,
        password,
        untilUrlPrefix: r.until,
        followContinue: r.followContinue !== false,
        timeoutMs: left,
      });
      out.steps = walked.steps;
      await page.waitForLoadState('domcontentloaded').catch(() => {});
      if (r.result !== false) out.result = await spResult(page);
      out.h1 = await page.evaluate(() => document.querySelector('h1')?.innerText ?? '').catch(() => '');
      out.status = tracker.lastDocument?.status ?? null;
    }
    out.navigations = tracker.navigations.slice(navStart);
    out.signInShown = out.steps.includes('sign-in');
    if (r.until) out.acsReached = out.navigations.some((n) => (n.split(' ')[2] ?? '').startsWith(r.until));
    rounds.push(out);
  }
  const result = { ok: true, rounds };
  if (args.cookies) {
    result.cookies = (await context.cookies(args.origin)).map((c) => ({ name: c.name, value: c.value, path: c.path }));
  }
  if (args.screenshot) {
    fs.mkdirSync(args.screenshot, { recursive: true });
    const file = path.join(args.screenshot, `saml-final-${Date.now()}-${process.pid}.png`);
    await page.screenshot({ path: file, timeout: 10_000 }).catch(() => {});
    result.screenshot = file;
  }
  emit(result);
} catch (e) {
  exitCode = 1;
  const d = await diagnose(session?.page, session?.tracker, args.screenshot, 'saml');
  const error = e instanceof DriveError ? e.message : String(e?.stack || e);
  emit({ ok: false, error, round: current, rounds, ...d });
  process.stderr.write(`saml-login.mjs: round ${current}: ${error}\n  at ${d.url}\n  screenshot ${d.screenshot}\n--- page text ---\n${d.text ?? ''}\n`);
} finally {
  await session?.browser.close().catch(() => {});
}
process.exit(exitCode);
