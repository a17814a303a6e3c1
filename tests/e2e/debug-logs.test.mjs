// The logs page in a real browser (docs/web.md, "Debugging pages"): Debian's Chromium driven by
// playwright-core against the real jitgate binary and the real development identity provider.
// alice, without a grant, is refused with a link to a request form prefilled for read-logs; with a
// read-logs grant (policies/payments.yaml: at once) she opens the page from My access, searches,
// pages with the sealed cursor, expands a record and follows its trace link; the page is marked
// redacted and shows markers, never the personal data.  The audit log holds a logs.read entry by
// user:alice per page and exactly one token.issued for repeated loads; the token the page uses is
// kept encrypted in session_grant_tokens and never reaches the browser.  A request with
// Sec-Fetch-Site cross-site (or none at all) is refused with 403 and records nothing.  With a
// read-pii grant (approved by grace and carol) the page shows the data unredacted.  After
// revocation the page refuses and the grant's stored token is gone; sign-out takes a session's
// tokens with it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startJitgate, cleanup } from './lib/harness.mjs';
import {
  launchChromium, closeBrowser, runCli, postAs, signIn as signInAs, sessionRequest, screenshot, auditEntries, ofType, requestActive,
} from './lib/debug-browser.mjs';

const PHONE = { width: 390, height: 844 };
const SVC = 'payment-service';
const EMAIL = 'jane.doe@example.com';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const N = 12; // records ingested

describe('the logs page in Chromium', () => {
  let jg;
  let browser;
  let alice; // { context, page }
  const contexts = [];
  const grants = {};

  const cli = (...args) => runCli(jg, ...args);
  const post = (user, path, body) => postAs(jg, user, path, body);
  const logsUrl = (query = '') => `${jg.url}/debug/${SVC}/logs${query}`;

  const entries = () => auditEntries(jg);

  const request = (capabilities, approvers = [], duration = '20m') =>
    requestActive(jg, { service: SVC, capabilities, approvers, duration, justification: 'INC-4711 card payments failing since the deploy' });

  const signIn = (user) => signInAs(jg, browser, contexts, user, { viewport: { width: 1280, height: 860 } });

  // The page's request made outside the browser: the session cookie and the given headers.
  const raw = (context, path, headers) => sessionRequest(jg, context, 'GET', path, headers);

  const shot = (page, name) => screenshot(page, name);
  const rowsKept = (grant) => jg.db.count('session_grant_tokens', 'grant_id = ?', [grant]);
  const bodies = async (page) => (await page.locator('ol#logs .log-body').allTextContents()).map((t) => t.trim());

  before(async () => {
    jg = await startJitgate({ extraConfig: 'redaction:\n  sensitive_fields: [customer_ref]\n' });
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng').status, 0);
    const k = cli('ingest-key', 'create', SVC);
    assert.equal(k.status, 0, k.stderr);
    const now = Date.now();
    // record i is i seconds old: "payment 0" is the newest
    const lines = Array.from({ length: N }, (_, i) => ({
      time: new Date(now - 60000 - i * 1000).toISOString(),
      level: i % 3 === 0 ? 'error' : 'info',
      msg: i === 1 ? `refund failed for ${EMAIL}` : `payment ${i} ${i % 3 === 0 ? 'declined' : 'settled'}`,
      order: `ord_${i}`,
      customer_ref: `cust-${1000 + i}`,
      ...(i === 1 ? { trace_id: TRACE.toUpperCase() } : {}),
    }));
    const r = await jg.request('POST', '/v1/ingest/logs', {
      body: lines.map((l) => JSON.stringify(l)).join('\n'),
      headers: { authorization: `Bearer ${k.stdout.trim()}`, 'content-type': 'application/x-ndjson' },
    });
    assert.equal(r.status, 200, r.body);
    browser = await launchChromium();
    alice = await signIn('alice');
  });

  after(async () => {
    await closeBrowser(browser, contexts);
    await cleanup(jg);
  });

  test('without a grant: 403 naming capability and service, a link to the prefilled request form', async () => {
    const { page } = alice;
    const before = (await entries()).length;
    const res = await page.goto(logsUrl());
    assert.equal(res.status(), 403);
    assert.match(await page.locator('#no-capability').textContent(), /You have no active grant with read-logs on payment-service/);
    const link = page.locator('#request-link');
    assert.equal(await link.getAttribute('href'), `/request?service=${SVC}&capabilities=read-logs&duration=1h`);
    await shot(page, 'debug-logs-no-capability');
    await link.click();
    await page.waitForURL((u) => u.pathname === '/request');
    assert.equal(await page.locator('#service').inputValue(), SVC);
    assert.equal(await page.locator('input[name="cap.read-logs"]').isChecked(), true);
    assert.equal(await page.locator('input[name="cap.read-pii"]').isChecked(), false);
    assert.equal(await page.locator('#duration').inputValue(), '1h');
    // repeated capabilities work too
    await page.goto(`${jg.url}/request?service=${SVC}&capabilities=read-traces&capabilities=read-metrics,read-logs&duration=2h`);
    for (const cap of ['read-traces', 'read-metrics', 'read-logs']) assert.equal(await page.locator(`input[name="cap.${cap}"]`).isChecked(), true, cap);
    assert.equal(await page.locator('#duration').inputValue(), '2h');
    assert.equal((await entries()).length, before, 'a refused page recorded something');
  });

  test('from My access to the logs: redacted and marked, newest first, one token.issued for repeated loads', async () => {
    const { page } = alice;
    grants.read = await request(['read-logs', 'read-traces']);
    await page.goto(`${jg.url}/`);
    const card = page.locator(`article[data-request="${grants.read}"]`);
    assert.equal(await card.getByRole('link', { name: 'Logs' }).getAttribute('href'), `/debug/${SVC}/logs?grant=${grants.read}`);
    assert.equal(await card.getByRole('link', { name: 'Traces' }).getAttribute('href'), `/debug/${SVC}/traces?grant=${grants.read}`);
    assert.equal(await card.getByRole('link', { name: 'Metrics' }).count(), 0, 'a page the grant does not allow is linked');
    const before = await entries();
    await card.getByRole('link', { name: 'Logs' }).click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/logs`);
    assert.equal(await page.locator('#grant-id').textContent(), grants.read);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    assert.match(await page.locator('#pii-state').textContent(), /Redacted/);
    const shown = await bodies(page);
    assert.equal(shown.length, N);
    assert.equal(shown[0], 'payment 0 declined', 'not newest first');
    assert.equal(shown[1], 'refund failed for [REDACTED:email]');
    const html = await page.content();
    assert.ok(!html.includes(EMAIL), 'personal data on a redacted page');
    assert.ok(!html.includes('cust-1001'), 'a sensitive field on a redacted page');
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(html), 'a token in the page');
    for (let i = 0; i < 2; i++) await page.reload();
    const after = await entries();
    const issued = ofType(after, 'token.issued', grants.read).length - ofType(before, 'token.issued', grants.read).length;
    assert.equal(issued, 1, 'each load minted a token');
    const reads = ofType(after, 'logs.read', grants.read).slice(ofType(before, 'logs.read', grants.read).length);
    assert.equal(reads.length, 3);
    for (const e of reads) assert.equal(e.actor, 'user:alice');
    assert.equal(rowsKept(grants.read), 1);
    const kept = jg.db.rows('SELECT sealed FROM session_grant_tokens WHERE grant_id = ?', [grants.read])[0].sealed;
    assert.ok(!Buffer.from(kept).toString('latin1').includes('eyJ'), 'the stored token is not encrypted');
    // on a phone the same page fits the screen's width (the records wrap, nothing scrolls sideways)
    const desktop = page.viewportSize();
    await page.setViewportSize(PHONE);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the logs page scrolls sideways on a phone');
    await page.setViewportSize(desktop);
    await screenshot(page, 'debug-logs', { phone: PHONE });
  });

  test('search, level, paging with the sealed cursor keep the query and the grant', async () => {
    const { page } = alice;
    await page.goto(logsUrl(`?grant=${grants.read}`));
    await page.locator('#q').fill('declined');
    await page.locator('#level').selectOption('error');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL((u) => u.searchParams.get('q') === 'declined');
    assert.equal(new URL(page.url()).searchParams.get('grant'), grants.read);
    assert.deepEqual(await bodies(page), ['payment 0 declined', 'payment 3 declined', 'payment 6 declined', 'payment 9 declined']);
    // pages of 5, newest first; the link carries the cursor, the grant and the query
    await page.goto(logsUrl(`?grant=${grants.read}&limit=5&since=1h`));
    const first = await bodies(page);
    assert.equal(first.length, 5);
    const older = page.locator('#older');
    const href = new URL(await older.getAttribute('href'), jg.url);
    assert.equal(href.searchParams.get('grant'), grants.read);
    assert.equal(href.searchParams.get('limit'), '5');
    assert.equal(href.searchParams.get('since'), '1h');
    assert.ok(href.searchParams.get('cursor'));
    await older.click();
    await page.waitForURL((u) => u.searchParams.has('cursor'));
    const second = await bodies(page);
    assert.equal(second.length, 5);
    assert.equal(second[0], 'payment 5 settled');
    assert.ok(second.every((b) => !first.includes(b)), 'the second page repeats the first');
    await page.locator('#older').click();
    await page.waitForURL((u) => u.searchParams.get('cursor') !== href.searchParams.get('cursor'));
    assert.deepEqual(await bodies(page), ['payment 10 settled', 'payment 11 settled']);
    assert.equal(await page.locator('#older').count(), 0);
    await page.locator('#newest').click();
    await page.waitForURL((u) => !u.searchParams.has('cursor'));
    assert.equal((await bodies(page))[0], 'payment 0 declined');
    // a bad argument: the form again, 400, nothing read
    const before = ofType(await entries(), 'logs.read').length;
    const res = await page.goto(logsUrl(`?grant=${grants.read}&level=loud`));
    assert.equal(res.status(), 400);
    assert.match(await page.locator('.notice.error').textContent(), /'level' must be/);
    assert.equal(ofType(await entries(), 'logs.read').length, before);
  });

  test('a record expands to its attributes; its trace id links to the trace page with the grant', async () => {
    const { page } = alice;
    await page.goto(logsUrl(`?grant=${grants.read}`));
    const rec = page.locator('ol#logs > li').nth(1);
    const details = rec.locator('details');
    assert.equal(await details.evaluate((d) => d.open), false);
    await rec.locator('summary').click();
    assert.equal(await details.evaluate((d) => d.open), true);
    assert.match(await rec.locator('dl').textContent(), /orderord_1/);
    assert.match(await rec.locator('dl').textContent(), /customer_ref\[REDACTED/);
    const link = rec.locator('a.trace-link');
    assert.equal(await link.getAttribute('href'), `/debug/${SVC}/traces/${TRACE}?grant=${grants.read}`);
    await shot(page, 'debug-logs-record');
    await link.click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/traces/${TRACE}`);
    assert.equal(new URL(page.url()).searchParams.get('grant'), grants.read);
  });

  test('Sec-Fetch-Site cross-site (or absent) is refused 403 with nothing read or minted', async () => {
    const path = `/debug/${SVC}/logs?grant=${grants.read}`;
    const ok = await raw(alice.context, path, { 'sec-fetch-site': 'same-origin' });
    assert.equal(ok.status, 200, 'the session cookie outside the browser does not work: the refusals below would prove nothing');
    const before = (await entries()).length;
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, {}]) {
      const r = await raw(alice.context, path, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(r.headers['content-type'], /text\/html/);
      assert.match(r.body, /Nothing was read/);
      assert.ok(!r.body.includes('payment 0'), 'logs in a refused page');
    }
    assert.equal((await entries()).length, before, 'a refused request recorded something');
  });

  test('read-pii: the grant that ends last is used and shows the data; ?grant= picks the other', async () => {
    const { page } = alice;
    grants.pii = await request(['read-logs', 'read-pii'], ['grace', 'carol'], '30m');
    await page.goto(logsUrl());
    assert.equal(await page.locator('#grant-id').textContent(), grants.pii);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'shown');
    assert.equal((await bodies(page))[1], `refund failed for ${EMAIL}`);
    await shot(page, 'debug-logs-pii');
    const all = await entries();
    const read = ofType(all, 'logs.read', grants.pii).at(-1);
    assert.equal(read.data.pii, true, 'an unredacted read not marked in its entry');
    await page.goto(logsUrl(`?grant=${grants.read}`));
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    assert.equal((await bodies(page))[1], 'refund failed for [REDACTED:email]');
    // a grant that is not hers, or not on this service, is the no-capability page
    const res = await page.goto(logsUrl('?grant=req_not_a_grant'));
    assert.equal(res.status(), 403);
  });

  test('sign-out deletes the session\'s stored tokens', async () => {
    const bob = await signIn('alice'); // a second session of alice's
    const res = await bob.page.goto(logsUrl(`?grant=${grants.read}`));
    assert.equal(res.status(), 200);
    assert.equal(rowsKept(grants.read), 2);
    await bob.page.getByRole('button', { name: 'Sign out' }).click();
    await bob.page.waitForURL(`${jg.url}/`);
    assert.equal(rowsKept(grants.read), 1, 'sign-out left the session\'s token');
  });

  test('after revocation the page refuses and the stored token is gone', async () => {
    const { page } = alice;
    assert.equal(rowsKept(grants.read), 1);
    const r = await post('alice', `/v1/grants/${grants.read}/revoke`, { reason: 'done' });
    assert.equal(r.status, 200, r.body);
    assert.equal(rowsKept(grants.read), 0, 'the revoked grant\'s token is still stored');
    const before = ofType(await entries(), 'logs.read').length;
    let res = await page.goto(logsUrl(`?grant=${grants.read}`));
    assert.equal(res.status(), 403);
    assert.match(await page.locator('#no-capability').textContent(), /read-logs on payment-service/);
    assert.equal((await post('alice', `/v1/grants/${grants.pii}/revoke`, { reason: 'done' })).status, 200);
    res = await page.goto(logsUrl());
    assert.equal(res.status(), 403);
    assert.equal(jg.db.count('session_grant_tokens'), 0);
    assert.equal(ofType(await entries(), 'logs.read').length, before, 'a refused page read logs');
  });
});
