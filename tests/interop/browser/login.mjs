#!/usr/bin/env node
// Drive Ostiary's interactive pages in headless Chromium (playwright-core + /usr/bin/chromium).
//
//   node login.mjs --url URL --username U --password P
//                  [--consent accept|decline|skip] [--admin-consent]
//                  [--until-url-prefix PREFIX] [--device-code CODE] [--until-signed-out]
//                  [--screenshot DIR] [--ca PEM] [--timeout SECONDS]
//
// Opens URL (an /authorize URL, a device-code verification_uri, an end-session URL), enters
// the device code when --device-code is given, signs in, answers the consent page, and stops
// when the page URL starts with --until-url-prefix (typically a loopback redirect URI), when
// the device flow's "You have signed in" heading shows (with --device-code), or when a
// "You signed out" page shows (with --until-signed-out).
//
// --consent accept   accept a consent page if one shows up (default)
// --consent decline  a consent page must show up; decline it
// --consent skip     a consent page must not show up (consent was granted beforehand)
// --admin-consent    tick input#admin_consent before accepting (the box must be there)
// --password         or the LOGIN_PASSWORD environment variable (keeps it off `ps`)
// --ca PEM           trust exactly this CA for https (default: $OSTIARY_CA); see lib.mjs
// --screenshot DIR   where failure screenshots go (default: the OS temp dir); on success a
//                    final screenshot is saved there too
//
// Output: one JSON line on stdout, {"ok":true,"url":…,"title":…,"h1":…,"consentShown":…}
// or {"ok":false,"error":…,"url":…,"text":…,"screenshot":…}. Exit 0 on success, 1 on a
// failed walk, 2 on bad usage, 3 when the watchdog fired. Wrap every run in `timeout`.

import { parseArgs } from 'node:util';
import path from 'node:path';
import fs from 'node:fs';
import { launch, walk, diagnose, watchdog, DriveError } from './lib.mjs';

function usage(msg) {
  process.stderr.write(`login.mjs: ${msg}\n`);
  process.stdout.write(`${JSON.stringify({ ok: false, error: `usage: ${msg}` })}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      url: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      consent: { type: 'string', default: 'accept' },
      'admin-consent': { type: 'boolean', default: false },
      'until-url-prefix': { type: 'string' },
      'device-code': { type: 'string' },
      'until-signed-out': { type: 'boolean', default: false },
      screenshot: { type: 'string' },
      ca: { type: 'string' },
      timeout: { type: 'string', default: '60' },
    },
    strict: true,
  }));
} catch (e) {
  usage(e.message);
}

if (!args.url) usage('--url is required');
const password = args.password ?? process.env.LOGIN_PASSWORD;
const timeoutS = Number(args.timeout);
if (!Number.isFinite(timeoutS) || timeoutS <= 0) usage('--timeout must be a positive number of seconds');
if (!args['until-url-prefix'] && !args['device-code'] && !args['until-signed-out']) {
  usage('give --until-url-prefix, --device-code or --until-signed-out');
}
if (!['accept', 'decline', 'skip'].includes(args.consent)) usage('--consent must be accept, decline or skip');
const caFile = args.ca ?? process.env.OSTIARY_CA;

let session = null;
let printed = false;
function emit(obj) {
  if (printed) return;
  printed = true;
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

watchdog((timeoutS + 20) * 1000, () => {
  emit({ ok: false, error: `watchdog: no result after ${timeoutS + 20} s` });
});

let exitCode = 0;
try {
  session = await launch({ caFile, origins: [args.url] });
  await session.page.goto(args.url, { waitUntil: 'domcontentloaded' });
  const result = await walk(session.page, session.tracker, {
    username: args.username,
    password,
    consent: args.consent,
    adminConsent: args['admin-consent'],
    untilUrlPrefix: args['until-url-prefix'],
    deviceCode: args['device-code'],
    untilSignedOut: args['until-signed-out'],
    timeoutMs: timeoutS * 1000,
  });
  if (args.screenshot) {
    fs.mkdirSync(args.screenshot, { recursive: true });
    const file = path.join(args.screenshot, `login-final-${Date.now()}-${process.pid}.png`);
    await session.page.screenshot({ path: file, timeout: 10_000 }).catch(() => {});
    result.screenshot = file;
  }
  emit({ ok: true, ...result, navigations: session.tracker.navigations });
} catch (e) {
  exitCode = 1;
  const d = await diagnose(session?.page, session?.tracker, args.screenshot);
  const error = e instanceof DriveError ? e.message : String(e?.stack || e);
  emit({ ok: false, error, ...d });
  process.stderr.write(`login.mjs: ${error}\n  at ${d.url}\n  screenshot ${d.screenshot}\n--- page text ---\n${d.text ?? ''}\n`);
} finally {
  await session?.browser.close().catch(() => {});
}
process.exit(exitCode);
