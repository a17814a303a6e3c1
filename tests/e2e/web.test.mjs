// The web pages in a real browser: Debian's Chromium driven by playwright-core against the real
// jitgate binary and the real development identity provider.  alice signs in through the
// provider's login page, previews and requests deploy-probe (needs approval), bob approves it from
// his queue in a second browser context, alice issues a token and the curl example it shows
// works; her own queue never offers her request; a justification with HTML is shown as text; a
// form post without (or with another session's) CSRF token is refused, and so is the JSON API
// with the session cookie but no X-CSRF-Token; dave without JavaScript previews with the button
// and sees a denial next to the field; erin audits: a valid checkpoint, filters, an inclusion
// proof, and an export that `jitgate audit verify` accepts.
//
// Every page is saved as a screenshot under build/screenshots/; with UPDATE_SCREENSHOTS=1 the
// ones the README shows are also written to docs/screenshots/.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

import { startJitgate, cleanup, runJitgate, ROOT, SHOTS } from './lib/harness.mjs';

const run = promisify(execFile);
const DOC_SHOTS = join(ROOT, 'docs', 'screenshots');
const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
  + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const HTML_JUSTIFICATION = '<script>window.__pwned = 1</script><b>checkout</b> latency spike on EU';
const LAPTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

async function shot(page, name, { doc = false } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (doc && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOC_SHOTS, { recursive: true });
    copyFileSync(file, join(DOC_SHOTS, `${name}.png`));
  }
}

describe('the web pages in Chromium', () => {
  let jg;
  let browser;
  let verifierKey;
  const contexts = [];

  const cli = (...args) => runJitgate([...args, '-c', jg.configPath]);

  // A fresh browser context (its own cookies) for one person.
  async function contextFor(opts = {}) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: LAPTOP, acceptDownloads: true, ...opts });
    context.setDefaultTimeout(10000);
    contexts.push(context);
    return context;
  }

  // Signs user in through the provider's own login and consent pages; ends on jitgate's home.
  async function signIn(user, opts = {}) {
    const context = await contextFor(opts);
    const page = await context.newPage();
    await page.goto(`${jg.url}/`);
    await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
    await page.waitForURL((u) => u.origin === jg.idp.url);
    await page.locator('input[name=login]').fill(user);
    await page.locator('input[name=password]').fill('any password');
    if (opts.loginShot) await shot(page, 'provider-login');
    await page.locator('button[type=submit]').click();
    for (let i = 0; i < 3 && new URL(page.url()).origin === jg.idp.url; i++) {
      await page.locator('button[type=submit]').first().click(); // consent
      await page.waitForLoadState();
    }
    await page.waitForURL(`${jg.url}/`);
    return { context, page };
  }

  // The card of request id on the current page, or a locator that matches nothing.
  const card = (page, id) => page.locator(`article[data-request="${id}"]`);

  before(async () => {
    jg = await startJitgate();
    for (const [svc, owners] of [['payment-api', 'payments-eng,payments-leads'], ['checkout-api', 'payments-eng']]) {
      const r = cli('service', 'add', svc, '--owners', owners);
      assert.equal(r.code, 0, r.stderr);
    }
    const keys = cli('keys', 'list');
    assert.equal(keys.code, 0, keys.stderr);
    verifierKey = keys.stdout.split('\n').find((l) => l.startsWith('checkpoint')).trim().split(/\s+/).pop();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await cleanup(jg);
  });

  let requestId;
  let alice;

  test('alice signs in through the provider and sees who she is', async () => {
    const context = await contextFor();
    const visitor = await context.newPage();
    const home = await visitor.goto(`${jg.url}/`);
    assert.equal(home.status(), 200);
    assert.equal(home.headers()['content-security-policy'], CSP);
    await shot(visitor, 'sign-in', { doc: true });
    alice = await signIn('alice', { loginShot: true });
    await assertWho(alice.page, 'Signed in as Alice Engineer (alice); groups: payments-eng.');
    assert.equal(await alice.page.getByRole('link', { name: 'Audit' }).count(), 0, 'no audit link for alice');
  });

  async function assertWho(page, text) {
    assert.equal((await page.locator('#who').textContent()).trim(), text);
  }

  test('alice requests deploy-probe: a live preview says it needs approval, then My access does', async () => {
    const { page } = alice;
    await page.locator('nav').getByRole('link', { name: 'Request access' }).click();
    await page.waitForURL(`${jg.url}/request`);
    // the service list is the catalogue
    const options = await page.locator('#service option').allTextContents();
    assert.ok(options.some((o) => o.startsWith('payment-api')), options.join('|'));
    assert.ok(options.some((o) => o.startsWith('checkout-api')), options.join('|'));
    assert.equal(await page.locator('input[name=break_glass]').count(), 0, 'alice may not break the glass');
    await page.selectOption('#service', 'payment-api');
    await page.check('input[name="cap.deploy-probe"]');
    await page.fill('#duration', '30m');
    await page.fill('#incident', 'INC-4711');
    await page.fill('#justification', HTML_JUSTIFICATION);
    // the script asks POST /v1/requests?dry_run=true (session cookie + X-CSRF-Token)
    await page.locator('#decision', { hasText: 'needs approval' }).waitFor();
    assert.equal((await page.locator('#decision').textContent()).trim(),
      'needs approval: 1 approval from payments-leads or sre-leads (at most 1h)');
    await shot(page, 'request-form', { doc: true });
    await page.getByRole('button', { name: 'Request access' }).click();
    await page.waitForURL(`${jg.url}/?ok=created`);
    assert.match(await page.locator('.notice.ok').textContent(), /Your request was recorded/);
    const c = page.locator('article[data-request]').first();
    requestId = await c.getAttribute('data-request');
    assert.match(requestId, /^req_/);
    assert.equal((await c.locator('.state').textContent()).trim(), 'needs approval');
    assert.match(await c.textContent(), /0 of 1 from payments-leads, sre-leads/);
    await shot(page, 'my-access-pending');
    // the API agrees: the same request, pending
    const api = await page.request.get(`${jg.url}/v1/requests/${requestId}`);
    assert.equal(api.status(), 200);
    assert.equal((await api.json()).state, 'pending');
  });

  test('a justification with HTML is shown as text, never run', async () => {
    const { page } = alice;
    const just = card(page, requestId).locator('.just');
    assert.equal(await just.textContent(), `INC-4711: ${HTML_JUSTIFICATION}`);
    assert.equal(await just.locator('script, b').count(), 0, 'the justification became markup');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    const raw = await (await page.request.get(`${jg.url}/`)).text();
    assert.ok(raw.includes('&lt;script&gt;window.__pwned = 1&lt;/script&gt;&lt;b&gt;checkout&lt;/b&gt;'), 'not escaped in the HTML');
    assert.ok(!raw.includes('<script>window'), 'raw script in the page');
  });

  test("alice's own queue never offers her request", async () => {
    const { page } = alice;
    await page.locator('nav').getByRole('link', { name: 'Approvals' }).click();
    await page.waitForURL(`${jg.url}/approvals`);
    assert.equal(await card(page, requestId).count(), 0);
    assert.match(await page.locator('#queue').textContent(), /Nothing is waiting for you/);
    // and approving it anyway, with her own valid CSRF token, is refused by the same check as the API
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    const r = await page.request.post(`${jg.url}/requests/${requestId}/approve`, { form: { csrf } });
    assert.equal(r.status(), 403, await r.text());
    assert.match(await r.text(), /own request/i);
    // and recorded as the same evidence as the API's refusal
    const e = await jg.auditor('GET', '/v1/audit/entries?type=request.action_refused&actor=user:alice');
    assert.equal(e.status, 200, e.body);
    assert.deepEqual(e.json.entries.map((x) => [x.entry.data.action, x.entry.data.request, x.entry.data.reason]),
      [['approve', requestId, 'you cannot approve or deny your own request']]);
  });

  test('bob, in a second browser context, sees it in his queue and approves it', async () => {
    const bob = await signIn('bob');
    await assertWho(bob.page, 'Signed in as Bob Lead (bob); groups: payments-leads.');
    await bob.page.locator('nav').getByRole('link', { name: 'Approvals' }).click();
    await bob.page.waitForURL(`${jg.url}/approvals`);
    const c = card(bob.page, requestId);
    await c.waitFor();
    const text = await c.textContent();
    for (const want of ['alice', 'payment-api', 'deploy-probe', '30m', 'INC-4711', 'payments-debug#rules[1]', HTML_JUSTIFICATION]) {
      assert.ok(text.includes(want), `the card lacks ${want}: ${text}`);
    }
    assert.equal(await c.locator('.just script').count(), 0);
    await shot(bob.page, 'approvals', { doc: true });
    await c.getByRole('button', { name: 'Approve' }).click();
    await bob.page.waitForURL(`${jg.url}/approvals?ok=approved`);
    assert.match(await bob.page.locator('.notice.ok').textContent(), /Approved/);
    assert.equal(await card(bob.page, requestId).count(), 0, 'still in the queue after approving');
  });

  test('alice sees it active with time left, issues a token, and the curl example works', async () => {
    const { page } = alice;
    await page.goto(`${jg.url}/`);
    const c = card(page, requestId);
    assert.equal((await c.locator('.state').textContent()).trim(), 'active');
    assert.match(await c.textContent(), /approved by bob/);
    const left = await c.locator('.countdown').textContent();
    assert.match(left, /^(29m|30m) \d{2}s$/, left);
    await page.waitForTimeout(1100);
    assert.notEqual(await c.locator('.countdown').textContent(), left, 'the countdown does not count');
    await shot(page, 'my-access', { doc: true });
    await c.getByRole('button', { name: 'Issue a token' }).click();
    await page.waitForURL(`${jg.url}/grants/${requestId}/token`);
    const token = (await page.locator('#token').textContent()).trim();
    assert.match(token, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const curl = (await page.locator('#curl').textContent()).trim();
    assert.equal(curl, `curl -H 'Authorization: Bearer ${token}' '${jg.url}/v1/services/payment-api/probes'`);
    await shot(page, 'token', { doc: true });
    // run the command exactly as shown (the CA of the test certificate from the environment)
    const { stdout } = await run('sh', ['-c', `${curl} --fail-with-body -sS`], {
      env: { ...process.env, CURL_CA_BUNDLE: join(jg.dir, 'cert.pem') },
    });
    assert.deepEqual(JSON.parse(stdout).probes, []);
    // shown once: the token is in no other page
    await page.goto(`${jg.url}/`);
    assert.ok(!(await page.content()).includes(token));
  });

  test('a form post replayed without its CSRF token is refused, and so is a JSON call without X-CSRF-Token', async () => {
    const { page } = alice;
    await page.goto(`${jg.url}/`);
    const form = card(page, requestId).locator('form[action$="/revoke"]');
    const action = new URL(await form.getAttribute('action'), jg.url).href;
    const csrf = await form.locator('input[name=csrf]').inputValue();
    const noToken = await page.request.post(action, { form: { reason: 'replayed' } });
    assert.equal(noToken.status(), 403, await noToken.text());
    assert.match(noToken.headers()['content-type'], /^text\/html/);
    assert.match(await noToken.text(), /did not carry this session&#39;s CSRF token, so nothing was done/);
    const wrong = await page.request.post(action, { form: { csrf: 'A'.repeat(43), reason: 'replayed' } });
    assert.equal(wrong.status(), 403);
    // the same replay in the browser itself: a page that says so
    await page.evaluate((a) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = a;
      document.body.append(f);
      f.submit();
    }, action);
    await page.waitForURL(action);
    assert.match(await page.locator('.notice.error').textContent(), /CSRF token/);
    await shot(page, 'csrf-refused');
    // the JSON API with the session cookie: X-CSRF-Token is required for a change
    const body = { service: 'payment-api', capabilities: ['read-logs'], duration: '10m', justification: 'looking at logs' };
    const bare = await page.request.post(`${jg.url}/v1/requests?dry_run=true`, { data: body });
    assert.equal(bare.status(), 403);
    assert.equal((await bare.json()).error.code, 'csrf');
    const withHeader = await page.request.post(`${jg.url}/v1/requests?dry_run=true`, { data: body, headers: { 'x-csrf-token': csrf } });
    assert.equal(withHeader.status(), 200, await withHeader.text());
    assert.equal((await withHeader.json()).decision.decision, 'grant');
    // nothing of the refused posts happened
    const api = await page.request.get(`${jg.url}/v1/requests/${requestId}`);
    assert.equal((await api.json()).state, 'active');
  });

  test('another session\'s CSRF token does not do either', async () => {
    const carol = await signIn('carol');
    const carolCsrf = await carol.page.locator('input[name=csrf]').first().inputValue();
    const r = await alice.page.request.post(`${jg.url}/grants/${requestId}/revoke`, { form: { csrf: carolCsrf } });
    assert.equal(r.status(), 403);
    assert.equal((await (await alice.page.request.get(`${jg.url}/v1/requests/${requestId}`)).json()).state, 'active');
  });

  // A form field is urlencoded bytes: %FF decodes to a byte that is no UTF-8, which no audit entry
  // (JSON) can hold.  Each is a 400 page that says so, and nothing changes.
  test('a form field that is not UTF-8 is a 400 page, for every text field of every form; nothing changes', async () => {
    const raw = (page, path, fields) => page.request.post(`${jg.url}${path}`, {
      data: fields, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const expect400 = async (r, what) => {
      const text = await r.text();
      assert.equal(r.status(), 400, `${what}: ${text}`);
      assert.match(r.headers()['content-type'], /^text\/html/, what);
      assert.match(text, /UTF-8/, what);
    };
    const { page } = alice;
    await page.goto(`${jg.url}/`);
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    await expect400(await raw(page, `/grants/${requestId}/revoke`, `csrf=${csrf}&reason=bad%FFbytes`), 'revoke reason');
    assert.equal((await (await page.request.get(`${jg.url}/v1/requests/${requestId}`)).json()).state, 'active');

    const mine = async () => (await (await page.request.get(`${jg.url}/v1/requests?mine=true`)).json()).requests.length;
    const before = await mine();
    const good = { service: 'payment-api', 'cap.read-logs': '1', duration: '10m', justification: 'looking at logs', incident: 'INC-1' };
    for (const field of ['service', 'duration', 'justification', 'incident', 'cap.read-logs']) {
      const body = Object.entries({ ...good, [field]: 'x' }).map(([k, v]) => `${encodeURIComponent(k)}=${k === field ? 'bad%FF' : encodeURIComponent(v)}`);
      await expect400(await raw(page, '/request', `csrf=${csrf}&action=submit&${body.join('&')}`), `request form ${field}`);
    }
    assert.equal(await mine(), before, 'a form with bytes that are no UTF-8 stored a request');

    const bob = await signIn('bob');
    await bob.page.goto(`${jg.url}/approvals`);
    const bobCsrf = await bob.page.locator('input[name=csrf]').first().inputValue();
    await expect400(await raw(bob.page, `/requests/${requestId}/deny`, `csrf=${bobCsrf}&reason=no%FF`), 'deny reason');
    await expect400(await raw(bob.page, `/requests/${requestId}/review`, `csrf=${bobCsrf}&note=%C3%28`), 'review note');
    assert.equal((await (await page.request.get(`${jg.url}/v1/requests/${requestId}`)).json()).state, 'active');
    await expect400(await raw(page, `/grants/${requestId}/extend`, `csrf=${csrf}&duration=bad%FF&justification=longer`), 'extend duration');
    await expect400(await raw(page, `/grants/${requestId}/extend`, `csrf=${csrf}&duration=10m&justification=bad%FF`), 'extend justification');
    assert.deepEqual((await (await page.request.get(`${jg.url}/v1/requests/${requestId}`)).json()).extensions, []);
  });

  test('alice extends her grant from My access; carol sees it marked as an extension, with the grant\'s history, and approves it', async () => {
    const { page } = alice;
    const grantNow = async () => (await page.request.get(`${jg.url}/v1/requests/${requestId}`)).json();
    await page.goto(`${jg.url}/`);
    const before = (await grantNow()).expires_at;
    const form = card(page, requestId).locator('form.extend');
    await form.locator('input[name=duration]').fill('20m');
    await form.locator('input[name=justification]').fill('INC-4711 the fix needs a second probe run');
    await form.getByRole('button', { name: 'Extend' }).click();
    await page.waitForURL(`${jg.url}/?ok=extended`);
    assert.match(await page.locator('.notice.ok').textContent(), /extension was recorded/);
    assert.match(await card(page, requestId).locator('.extension-pending').textContent(), /waiting for approval/);
    assert.equal(await card(page, requestId).locator('form.extend').count(), 0, 'Extend offered while an extension waits');
    const grant = await grantNow();
    assert.equal(grant.expires_at, before, 'the grant moved before its extension was approved');
    const ext = grant.extensions.find((e) => e.state === 'pending');
    assert.equal(ext.duration, 1200);
    assert.match(await card(page, ext.id).textContent(), new RegExp(`Extendsthe grant ${requestId}`));
    await shot(page, 'my-access-extension');

    const carol = await signIn('carol');
    await carol.page.goto(`${jg.url}/approvals`);
    const q = card(carol.page, ext.id);
    await q.waitFor();
    assert.equal(await q.getAttribute('data-extends'), requestId);
    assert.match(await q.locator('h2').textContent(), /extension/);
    assert.match(await q.textContent(), /Longer by20m/);
    const history = await q.locator('.history').textContent();
    for (const want of [requestId, '30m', 'approved by bob', HTML_JUSTIFICATION, '+20m']) {
      assert.ok(history.includes(want), `the grant's history lacks ${want}: ${history}`);
    }
    assert.equal(await q.locator('.history script').count(), 0);
    await shot(carol.page, 'approvals-extension');
    await q.getByRole('button', { name: 'Approve' }).click();
    await carol.page.waitForURL(`${jg.url}/approvals?ok=approved`);
    assert.equal((await grantNow()).expires_at, before + 1200);
    await page.goto(`${jg.url}/`);
    assert.equal((await card(page, ext.id).locator('.state').textContent()).trim(), 'extension granted');
    assert.equal(await card(page, requestId).locator('form.extend').count(), 1, 'Extend is offered again');
  });

  test('dave without JavaScript: the Preview button decides on the server, a denial sits next to its field', async () => {
    const dave = await signIn('dave', { javaScriptEnabled: false, viewport: PHONE });
    const { page } = dave;
    await page.goto(`${jg.url}/request`);
    await page.selectOption('#service', 'payment-api');
    await page.check('input[name="cap.read-pii"]');
    await page.fill('#duration', '15m');
    await page.fill('#justification', 'customer complaint about a refund');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.waitForURL(`${jg.url}/request`);
    assert.match(await page.locator('#decision').textContent(), /^denied: .*read-pii/);
    assert.match(await page.locator('#err-capabilities').textContent(), /read-pii/);
    // nothing was stored by the preview; the form kept what dave typed
    assert.equal(await page.locator('#justification').inputValue(), 'customer complaint about a refund');
    assert.ok(await page.isChecked('input[name="cap.read-pii"]'));
    await page.getByRole('button', { name: 'Request access' }).click();
    assert.equal(await page.title(), 'Request access - jitgate');
    assert.match(await page.locator('#err-capabilities').textContent(), /denied by payments-debug#deny\[0\]: capability read-pii/);
    await shot(page, 'request-denied-phone', { doc: true });
    const mine = await page.request.get(`${jg.url}/v1/requests?mine=true`);
    assert.deepEqual((await mine.json()).requests, []);
    // a bad duration is named next to its field
    await page.fill('#duration', 'forever');
    await page.getByRole('button', { name: 'Preview' }).click();
    assert.match(await page.locator('#err-duration').textContent(), /'duration'/);
  });

  test('frank may break the glass: the form offers it and it is granted at once, then bob reviews it', async () => {
    const frank = await signIn('frank');
    await frank.page.goto(`${jg.url}/request`);
    await frank.page.selectOption('#service', 'payment-api');
    await frank.page.check('input[name="cap.read-logs"]');
    await frank.page.fill('#duration', '20m');
    await frank.page.fill('#justification', 'INC-99 payments down, nobody reachable');
    await frank.page.check('input[name=break_glass]');
    await frank.page.locator('#decision', { hasText: 'break-glass' }).waitFor();
    await frank.page.getByRole('button', { name: 'Request access' }).click();
    await frank.page.waitForURL(`${jg.url}/?ok=created`);
    const c = frank.page.locator('article[data-request]').first();
    assert.match(await c.locator('.state').textContent(), /active · break-glass/);
    assert.equal(await c.locator('form.extend').count(), 0, 'break-glass is never extended: no Extend');
    const id = await c.getAttribute('data-request');
    const bob = await signIn('bob');
    await bob.page.goto(`${jg.url}/approvals`);
    const r = bob.page.locator(`#review article[data-request="${id}"]`);
    await r.locator('input[name=note]').fill('checked with frank');
    await r.getByRole('button', { name: 'Mark reviewed' }).click();
    await bob.page.waitForURL(`${jg.url}/approvals?ok=reviewed`);
    assert.equal(await bob.page.locator(`#review article[data-request="${id}"]`).count(), 0);
  });

  test('erin audits: a valid checkpoint, filtered entries, an inclusion proof, an export that verifies', async () => {
    const erin = await signIn('erin');
    const { page } = erin;
    await page.locator('nav').getByRole('link', { name: 'Audit' }).click();
    await page.waitForURL(`${jg.url}/audit`);
    await page.locator('#checkpoint-now').click();
    await page.waitForURL(`${jg.url}/audit?ok=checkpoint`);
    const size = Number((await page.locator('#cp-size').textContent()).split(' ')[0]);
    assert.ok(size > 10, `checkpoint size ${size}`);
    assert.match(await page.locator('#checkpoint').textContent(), /\(0 since this checkpoint\)/);
    assert.match(await page.locator('#cp-signature').textContent(), /^valid/);
    // the rolling verifier: where its sweep is, and the detection window it achieves
    assert.match(await page.locator('#sweep-state').textContent(), /^at entry \d+ of \d+ \(\d+ whole sweeps since start\)$/);
    assert.match(await page.locator('#sweep-window').textContent(), /^\d+\.\d s: an edit of an old entry is found within one whole sweep$/);
    await page.fill('input[name=type]', 'request.created');
    await page.fill('input[name=actor]', 'alice');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/audit\?type=request.created&actor=alice/);
    const rows = page.locator('#entries tbody tr');
    assert.equal(await rows.count(), 1);
    const row = await rows.first().textContent();
    assert.match(row, /request\.created/);
    assert.match(row, /user:alice/);
    assert.match(row, /payment-api/);
    assert.ok(row.includes(requestId));
    await shot(page, 'audit', { doc: true });
    // by service: alice's and frank's requests and their transitions, nothing of other services
    await page.goto(`${jg.url}/audit?service=payment-api`);
    const services = await page.locator('#entries tbody tr td:nth-child(5)').allTextContents();
    assert.ok(services.length >= 4, services.join('|'));
    assert.ok(services.every((s) => s === 'payment-api'), services.join('|'));
    // an inclusion proof on demand
    await page.goto(`${jg.url}/audit?type=request.created&actor=alice`);
    await rows.first().getByRole('link', { name: 'proof' }).click();
    await page.waitForURL(/\/audit\/proof\?seq=\d+$/);
    assert.match(await page.locator('#proof-result').textContent(), /^the proof verifies/);
    await shot(page, 'audit-proof', { doc: true });
    // the export downloads and verifies offline with the checkpoint key alone
    await page.goto(`${jg.url}/audit`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export').click()]);
    assert.equal(download.suggestedFilename(), 'jitgate-audit.jsonl');
    const dir = mkdtempSync(join(tmpdir(), 'jg-web-export-'));
    try {
      const file = join(dir, 'export.jsonl');
      await download.saveAs(file);
      const v = runJitgate(['audit', 'verify', file, '--key', verifierKey]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const types = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).type);
      for (const t of ['request.created', 'request.approved', 'token.issued', 'grant.reviewed', 'audit.exported']) {
        assert.ok(types.includes(t), `no ${t} in the export`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('GET /v1/audit/entries: pages newest first, filters, time range, bad input', async () => {
    const all = await jg.auditor('GET', '/v1/audit/entries?limit=200');
    assert.equal(all.status, 200, all.body);
    const seqs = all.json.entries.map((e) => e.seq);
    assert.ok(seqs.length > 10);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'not newest first');
    assert.equal(all.json.next_before, null);
    const first = await jg.auditor('GET', '/v1/audit/entries?limit=3');
    assert.deepEqual(first.json.entries.map((e) => e.seq), seqs.slice(0, 3));
    assert.equal(first.json.next_before, seqs[2]);
    const second = await jg.auditor('GET', `/v1/audit/entries?limit=3&before=${first.json.next_before}`);
    assert.deepEqual(second.json.entries.map((e) => e.seq), seqs.slice(3, 6));
    const approved = await jg.auditor('GET', '/v1/audit/entries?type=request.approved&actor=user:bob');
    assert.deepEqual(approved.json.entries.map((e) => e.entry.data.request), [requestId]);
    const ts = approved.json.entries[0].entry.ts;
    const sec = Math.floor(ts / 1000);
    const within = await jg.auditor('GET', `/v1/audit/entries?type=request.approved&actor=user:bob&since=${sec}&until=${sec}`);
    assert.equal(within.json.entries.length, 1);
    const later = await jg.auditor('GET', `/v1/audit/entries?type=request.approved&actor=user:bob&since=${sec + 1}`);
    assert.deepEqual(later.json.entries, []);
    const before = await jg.auditor('GET', `/v1/audit/entries?type=request.approved&actor=user:bob&until=${sec - 1}`);
    assert.deepEqual(before.json.entries, []);
    for (const q of ['limit=0', 'limit=201', 'since=-1', 'before=x', `service=${'a'.repeat(64)}`]) {
      const r = await jg.auditor('GET', `/v1/audit/entries?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
    }
    const notAuditor = await jg.as('alice', 'GET', '/v1/audit/entries');
    assert.equal(notAuditor.status, 403);
  });

  test('a scheduled start: the form takes a start; the approver sees it; My access shows it scheduled, no token yet', async () => {
    const { page } = alice;
    await page.goto(`${jg.url}/request`);
    await page.selectOption('#service', 'payment-api');
    await page.check('input[name="cap.deploy-probe"]');
    await page.fill('#duration', '1h');
    await page.fill('#incident', 'INC-4720');
    await page.fill('#justification', 'maintenance window: ledger migration on EU');
    // two hours ahead, as the browser's datetime-local input gives it (the form says UTC)
    const start = Math.floor(Date.now() / 60000) * 60 + 7200;
    await page.fill('#starts_at', new Date(start * 1000).toISOString().slice(0, 16));
    await page.locator('#decision', { hasText: 'needs approval' }).waitFor();
    await page.getByRole('button', { name: 'Request access' }).click();
    await page.waitForURL(`${jg.url}/?ok=created`);
    const c = page.locator('article[data-request]').first();
    const id = await c.getAttribute('data-request');
    assert.equal((await (await page.request.get(`${jg.url}/v1/requests/${id}`)).json()).starts_at, start);
    assert.match(await c.locator('.starts').textContent(), /\(in \d/);
    const bob = await signIn('bob');
    await bob.page.goto(`${jg.url}/approvals`);
    const bc = card(bob.page, id);
    await bc.waitFor();
    assert.ok((await bc.locator('.starts').textContent()).length > 0);
    await bc.getByRole('button', { name: 'Approve' }).click();
    await bob.page.waitForURL(`${jg.url}/approvals?ok=approved`);
    await page.goto(`${jg.url}/`);
    const sc = card(page, id);
    assert.equal((await sc.locator('.state').textContent()).trim(), 'scheduled');
    assert.match(await sc.textContent(), /tokens can be issued once it starts/);
    assert.equal(await sc.getByRole('button', { name: 'Issue a token' }).count(), 0);
    assert.equal(await sc.getByRole('button', { name: 'Cancel request' }).count(), 1);
    await shot(page, 'my-access-scheduled');
    // a start too far ahead is said next to the field
    await page.goto(`${jg.url}/request`);
    await page.selectOption('#service', 'payment-api');
    await page.check('input[name="cap.read-logs"]');
    await page.fill('#duration', '1h');
    await page.fill('#justification', 'a look at the logs next month');
    await page.fill('#starts_at', new Date((start + 10 * 86400) * 1000).toISOString().slice(0, 16));
    await page.getByRole('button', { name: 'Request access' }).click();
    assert.match(await page.locator('#err-starts_at').textContent(), /max_schedule_ahead/);
    await page.goto(`${jg.url}/`);
    await card(page, id).getByRole('button', { name: 'Cancel request' }).click();
    await page.waitForURL(/ok=cancelled/);
    assert.equal((await (await page.request.get(`${jg.url}/v1/requests/${id}`)).json()).state, 'cancelled');
  });

  test('the audit pages are for auditors only; a stale page without a session goes to sign-in', async () => {
    const r = await alice.page.goto(`${jg.url}/audit`);
    assert.equal(r.status(), 403);
    const entries = await alice.page.request.get(`${jg.url}/v1/audit/entries`);
    assert.equal(entries.status(), 403);
    const context = await contextFor();
    const page = await context.newPage();
    await page.goto(`${jg.url}/approvals`);
    assert.equal(new URL(page.url()).origin, jg.idp.url, 'not sent to the provider');
  });

  test('pages: strict CSP, the stylesheet and script from jitgate itself, no inline script', async () => {
    for (const path of ['/', '/request', '/approvals']) {
      const r = await alice.page.request.get(`${jg.url}${path}`);
      assert.equal(r.status(), 200, path);
      assert.equal(r.headers()['content-security-policy'], CSP, path);
      assert.equal(r.headers()['x-frame-options'], 'DENY');
      const html = await r.text();
      const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
      assert.deepEqual(scripts, ['<script src="/static/jitgate.js" defer>'], path);
      assert.ok(!/\sstyle=|<style/.test(html), `inline style in ${path}`);
      assert.ok(!/https?:\/\/(?!127\.0\.0\.1)/.test(html.replace(jg.url, '')), `external reference in ${path}`);
    }
    const css = await alice.page.request.get(`${jg.url}/static/jitgate.css`);
    assert.equal(css.status(), 200);
    assert.match(css.headers()['content-type'], /^text\/css/);
    const js = await alice.page.request.get(`${jg.url}/static/jitgate.js`);
    assert.match(js.headers()['content-type'], /^text\/javascript/);
    assert.ok((await js.text()).includes('dry_run=true'));
  });

  test('sign out ends the session', async () => {
    const { page } = alice;
    await page.goto(`${jg.url}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${jg.url}/`);
    await page.getByRole('link', { name: 'Sign in with single sign-on' }).waitFor();
    const me = await page.request.get(`${jg.url}/v1/me`);
    assert.equal(me.status(), 401);
  });
});
