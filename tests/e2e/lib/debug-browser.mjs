// The helpers the browser tests of the debugging pages (tests/e2e/debug-*.test.mjs) share: Debian's
// Chromium launched and closed, a browser context signed in through the real development identity
// provider, a page's request made outside the browser with its session cookie, screenshots into
// build/screenshots, the audit export read as entries, a request made by alice and approved until
// it is active, and the probes' pieces: a probe deployed from the probes page's form and the demo
// service (build/payments_demo, the reference agent) run against the instance.  Each helper takes the running jitgate (and browser, contexts) as arguments, so a test
// file keeps its own state and its own choices (viewport, service, justification).  This module
// imports only common.mjs and harness.mjs, neither of which imports it: no cycle.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { ROOT, SHOTS } from './common.mjs';
import { BIN } from './harness.mjs';

export { SHOTS };
// The demo service linked with the reference agent (make build); JG_PAYMENTS_DEMO names another.
export const DEMO = process.env.JG_PAYMENTS_DEMO ?? join(ROOT, 'build', 'payments_demo');
// The function the demo service instruments.
export const DEMO_FN = 'PaymentProcessor.selectProvider';

export const launchChromium = () =>
  chromium.launch({ executablePath: '/usr/bin/chromium', args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });

// Closes every context a test opened, then the browser (either may never have been made).
export async function closeBrowser(browser, contexts) {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
}

// jitgate's command line against the running instance's configuration.
export const runCli = (jg, ...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });

// A POST as user with a JSON body (none at all when body is undefined).
export const postAs = (jg, user, path, body) =>
  jg.as(user, 'POST', path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

// A new context that trusts the test certificate; it is added to contexts for closeBrowser.
export async function newContext(browser, contexts, options = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, ...options });
  context.setDefaultTimeout(10000);
  contexts.push(context);
  return context;
}

// At the provider: log in as user and consent (up to three prompts); returns once the page has left it.
export async function loginAtProvider(jg, page, user) {
  await page.waitForURL((u) => u.origin === jg.idp.url);
  await page.locator('input[name=login]').fill(user);
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button[type=submit]').click();
  for (let i = 0; i < 3 && new URL(page.url()).origin === jg.idp.url; i++) {
    await page.locator('button[type=submit]').first().click(); // consent
    await page.waitForLoadState();
  }
}

// A new context signed in as user from jitgate's home page; resolves { context, page } back at home.
export async function signIn(jg, browser, contexts, user, options = {}) {
  const context = await newContext(browser, contexts, options);
  const page = await context.newPage();
  await page.goto(`${jg.url}/`);
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
  await loginAtProvider(jg, page, user);
  await page.waitForURL(`${jg.url}/`);
  return { context, page };
}

// The page's request made outside the browser: the context's session cookie and the given headers.
export async function sessionRequest(jg, context, method, path, headers = {}, body = null) {
  const cookie = (await context.cookies(jg.url)).map((c) => `${c.name}=${c.value}`).join('; ');
  return jg.request(method, path, { headers: { cookie, ...headers }, body });
}

// A full-page screenshot build/screenshots/<name>.png; with phone, also <name>-phone.png at that
// viewport, after which the viewport goes back to restore (by default the size it had).
export async function screenshot(page, name, { phone, restore } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  if (!phone) return;
  const size = restore ?? page.viewportSize();
  await page.setViewportSize(phone);
  await page.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(size);
}

// The audit log's entries, read by the auditor; the export records itself (audit.exported): only the
// other entries count.
export async function auditEntries(jg) {
  const r = await jg.auditor('GET', '/v1/audit/export');
  assert.equal(r.status, 200, r.body);
  return r.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l)).filter((e) => e.type !== 'audit.exported');
}

// The entries of type (for grant, when given).
export const ofType = (all, type, grant) => all.filter((e) => e.type === type && (grant === undefined || e.data?.grant === grant));

// alice requests capabilities on service, approvers approve; asserts the request is active and
// resolves its id (the grant's id).
export async function requestActive(jg, { service, capabilities, approvers = [], duration, justification }) {
  const r = await postAs(jg, 'alice', '/v1/requests', { service, capabilities, duration, justification });
  assert.equal(r.status, 201, r.body);
  for (const who of approvers) assert.equal((await postAs(jg, who, `/v1/requests/${r.json.id}/approve`)).status, 200, who);
  const g = await jg.as('alice', 'GET', `/v1/requests/${r.json.id}`);
  assert.equal(g.json.state, 'active', g.body);
  return r.json.id;
}

// A new ingest key for service, written to a 0600 file in the instance's directory (the demo reads
// its key from a file, never its command line); resolves the file's path.
export function ingestKeyFile(jg, service) {
  const k = runCli(jg, 'ingest-key', 'create', service);
  assert.equal(k.status, 0, k.stderr);
  const path = join(jg.dir, `${service}.key`);
  writeFileSync(path, k.stdout, { mode: 0o600 });
  return path;
}

// Runs the demo service against jg as service: rate calls a second for seconds, then its agent's
// last flush; resolves { code, stats (its counters, the last stdout line), stderr }.
export function runDemo(jg, service, keyFile, rate, seconds) {
  const p = spawn(DEMO, [jg.url, service, keyFile, join(jg.dir, 'cert.pem'), String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  return new Promise((ok) => p.on('exit', (code) => {
    let stats = null;
    try { stats = JSON.parse(out.trim().split('\n').pop()); } catch { /* none */ }
    ok({ code, stats, stderr: err });
  }));
}

// On the open probes page of service: deploys a probe on the demo's function capturing its
// arguments when amount > 1000, every call, for 30 minutes (clipped to the grant); resolves the new
// probe's id (from the events page the deployment answers with).
export async function deployFromForm(page, service) {
  await page.locator('#function').fill(DEMO_FN);
  await page.locator('#cond_field_1').fill('amount');
  await page.locator('#cond_op_1').selectOption('gt');
  await page.locator('#cond_value_1').fill('1000');
  await page.locator('#sampling_rate').fill('1');
  assert.equal(await page.locator('#capture_args').isChecked(), true);
  await page.locator('#duration').selectOption('1800');
  await page.getByRole('button', { name: 'Deploy' }).click();
  const events = new RegExp(`^/debug/${service}/probes/[^/]+$`);
  await page.waitForURL((u) => events.test(u.pathname));
  return decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
}
