// The traces pages in a real browser (docs/web.md, "Debugging pages"): Debian's Chromium driven by
// playwright-core against the real jitgate binary and the real development identity provider, on
// the telemetry of `jitgate demo seed` (a payment failing three hops down after payment-accounts
// 2.4.0 was deployed).  alice, with read-logs and read-traces on payment-service
// (policies/payments.yaml: at once), searches the traces with an error, opens the failing one and
// sees its waterfall with the root-cause span marked and the analysis naming payment-accounts
// 2.4.0, its message withheld (the grant does not cover payment-accounts); from the logs page a
// record's trace link opens the same trace page.  Each page load is one traces.search or
// traces.read entry by user:alice; a bad argument reads nothing; Sec-Fetch-Site cross-site is 403
// with no entry; a grant without read-traces gets the no-capability page.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startJitgate, cleanup } from './lib/harness.mjs';
import {
  launchChromium, closeBrowser, runCli, postAs, signIn as signInAs, sessionRequest, screenshot, auditEntries, ofType, requestActive,
} from './lib/debug-browser.mjs';

const SVC = 'payment-service';
const PHONE = { width: 390, height: 844 };

describe('the traces pages in Chromium', () => {
  let jg;
  let browser;
  let alice; // { context, page }
  let failing; // the demo's failing trace
  const contexts = [];
  const grants = {};

  const cli = (...args) => runCli(jg, ...args);
  const post = (user, path, body) => postAs(jg, user, path, body);
  const tracesUrl = (query = '') => `${jg.url}/debug/${SVC}/traces${query}`;
  const traceUrl = (id, query = '') => `${jg.url}/debug/${SVC}/traces/${id}${query}`;

  const entries = () => auditEntries(jg);
  // the entries of type for grant recorded since the `before` export
  const newOf = (before, after, type, grant) => ofType(after, type, grant).slice(ofType(before, type, grant).length);

  const request = (capabilities, duration = '20m') =>
    requestActive(jg, { service: SVC, capabilities, duration, justification: 'INC-4711 card payments failing since the deploy' });

  const signIn = (user) => signInAs(jg, browser, contexts, user, { viewport: { width: 1280, height: 900 } });

  const raw = (context, path, headers) => sessionRequest(jg, context, 'GET', path, headers);

  // desktop, then the same page on a phone's width
  const shot = (page, name) => screenshot(page, name, { phone: PHONE });

  before(async () => {
    jg = await startJitgate();
    const s = cli('demo', 'seed');
    assert.equal(s.status, 0, s.stderr);
    failing = s.stdout.match(/a failing payment: trace ([0-9a-f]{32})/)?.[1];
    assert.ok(failing, s.stdout);
    browser = await launchChromium();
    alice = await signIn('alice');
  });

  after(async () => {
    await closeBrowser(browser, contexts);
    await cleanup(jg);
  });

  test('without read-traces: the no-capability page, nothing read', async () => {
    const { page } = alice;
    grants.logsOnly = await request(['read-logs'], '10m');
    const before = await entries();
    let res = await page.goto(tracesUrl());
    assert.equal(res.status(), 403);
    assert.match(await page.locator('#no-capability').textContent(), /You have no active grant with read-traces on payment-service/);
    assert.equal(await page.locator('#request-link').getAttribute('href'), `/request?service=${SVC}&capabilities=read-traces&duration=1h`);
    await shot(page, 'debug-traces-no-capability');
    // naming the logs-only grant does not help, on the trace page either
    res = await page.goto(traceUrl(failing, `?grant=${grants.logsOnly}`));
    assert.equal(res.status(), 403);
    assert.match(await page.locator('#no-capability').textContent(), /read-traces on payment-service/);
    const after = await entries();
    assert.equal(ofType(after, 'traces.search').length + ofType(after, 'traces.read').length, 0);
    assert.equal(after.length, before.length, 'a refused page recorded something');
  });

  test('search with status error: the failing trace listed, one traces.search entry per load', async () => {
    const { page } = alice;
    grants.read = await request(['read-logs', 'read-traces']);
    await page.goto(`${jg.url}/`);
    const card = page.locator(`article[data-request="${grants.read}"]`);
    await card.getByRole('link', { name: 'Traces' }).click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/traces`);
    assert.equal(await page.locator('#grant-id').textContent(), grants.read);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    const all = await page.locator('table#traces tbody tr').count();
    assert.ok(all > 3, `only ${all} traces without a filter`);
    const before = await entries();
    await page.locator('#status').selectOption('error');
    await page.locator('#since').selectOption('1h');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL((u) => u.searchParams.get('status') === 'error');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('grant'), grants.read);
    assert.equal(url.searchParams.get('since'), '1h');
    assert.ok(!url.searchParams.has('min_duration'), 'the empty fields were not dropped');
    const rows = page.locator('table#traces tbody tr');
    const n = await rows.count();
    assert.ok(n >= 3 && n < all, `${n} failed traces of ${all}`);
    for (let i = 0; i < n; i++) assert.match(await rows.nth(i).locator('td').nth(5).textContent(), /^error/);
    const link = page.locator(`table#traces a.trace-link:has-text("${failing}")`);
    assert.equal(await link.getAttribute('href'), `/debug/${SVC}/traces/${failing}?grant=${grants.read}`);
    assert.match(await link.locator('xpath=ancestor::tr').textContent(), /payment-accounts/);
    const after = await entries();
    const searches = newOf(before, after, 'traces.search', grants.read);
    assert.equal(searches.length, 1, 'one search, not one entry');
    assert.equal(searches[0].actor, 'user:alice');
    assert.equal(searches[0].data.params.errors_only, true);
    await shot(page, 'debug-traces');
    // an attribute filter and a shortest duration reach the API (the form's fields named as its arguments)
    await page.locator('#attr-1').fill('no.such.key:nothing');
    await page.locator('#min_duration').fill('1ms');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL((u) => u.searchParams.get('attr') === 'no.such.key:nothing');
    assert.equal(await page.locator('#no-traces').count(), 1);
    assert.equal(await page.locator('#attr-1').inputValue(), 'no.such.key:nothing');
    const last = ofType(await entries(), 'traces.search', grants.read).at(-1);
    assert.equal(last.data.params.attr.length, 1);
    assert.ok(last.data.params.min_duration_ns === 1000000, JSON.stringify(last.data.params));
    // the longest duration: the demo's failing payments take 5 s, so none lasts at most 1 s
    await page.goto(tracesUrl(`?grant=${grants.read}&status=error&since=1h`));
    await page.locator('#max_duration').fill('1s');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL((u) => u.searchParams.get('max_duration') === '1s');
    assert.equal(await page.locator(`table#traces a.trace-link:has-text("${failing}")`).count(), 0, 'a 5 s trace under max_duration=1s');
    assert.equal(ofType(await entries(), 'traces.search', grants.read).at(-1).data.params.max_duration_ns, 1000000000);
    await page.locator('#max_duration').fill('10s');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL((u) => u.searchParams.get('max_duration') === '10s');
    assert.equal(await page.locator(`table#traces a.trace-link:has-text("${failing}")`).count(), 1);
    // a bad argument: the form again, 400, nothing read
    const n0 = ofType(await entries(), 'traces.search').length;
    assert.equal((await page.goto(tracesUrl(`?grant=${grants.read}&max_duration=0`))).status(), 400);
    assert.match(await page.locator('.notice.error').textContent(), /'max_duration' must be more than 0/);
    const res = await page.goto(tracesUrl(`?grant=${grants.read}&min_duration=soon`));
    assert.equal(res.status(), 400);
    assert.match(await page.locator('.notice.error').textContent(), /'min_duration' must be a duration/);
    assert.equal(ofType(await entries(), 'traces.search').length, n0);
  });

  test('the failing trace: waterfall with the root-cause span marked, analysis naming payment-accounts 2.4.0', async () => {
    const { page } = alice;
    await page.goto(tracesUrl(`?grant=${grants.read}&status=error&since=1h`));
    const before = await entries();
    await page.locator(`table#traces a.trace-link:has-text("${failing}")`).click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/traces/${failing}`);
    assert.equal(new URL(page.url()).searchParams.get('grant'), grants.read);
    assert.equal(await page.locator('#trace-id').textContent(), failing);
    const svg = page.locator('figure.waterfall svg.waterfall[role="img"]');
    assert.equal(await svg.count(), 1);
    const bars = svg.locator('g.span');
    assert.ok((await bars.count()) >= 5, 'too few span bars');
    const cause = svg.locator('g.span.root-cause');
    assert.equal(await cause.count(), 1, 'not exactly one root-cause bar');
    assert.match(await cause.locator('title').textContent(), /UPDATE accounts/);
    assert.match(await cause.locator('title').textContent(), /root cause/);
    assert.match(await cause.getAttribute('class'), /\berror\b/);
    // the analysis in words: the cause three hops down, its version, its code, the message withheld
    const analysis = page.locator('section.analysis');
    const causeText = await analysis.locator('li.root-cause').first().textContent();
    assert.match(causeText, /UPDATE accounts on payment-accounts 2\.4\.0/);
    assert.match(causeText, /DB_STATEMENT_TIMEOUT/);
    assert.match(causeText, /withheld/);
    assert.match(await analysis.locator('ul.version-skew').textContent(), /payment-accounts/);
    assert.match(await analysis.locator('ul.version-skew').textContent(), /2\.3\.1/);
    // the span rows: the root cause's row opens to its details
    const row = page.locator('details.span-row.root-cause');
    assert.equal(await row.count(), 1);
    await row.locator('summary').click();
    assert.equal(await row.evaluate((d) => d.open), true);
    assert.match(await row.textContent(), /DB_STATEMENT_TIMEOUT/);
    // the analysis links to the cause's row
    const to = await analysis.locator('li.root-cause a').first().getAttribute('href');
    assert.equal(to, `#${await row.getAttribute('id')}`);
    const html = await page.content();
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(html), 'a token in the page');
    const after = await entries();
    const reads = newOf(before, after, 'traces.read', grants.read);
    assert.equal(reads.length, 1);
    assert.equal(reads[0].actor, 'user:alice');
    assert.equal(reads[0].data.params.trace_id, failing);
    await shot(page, 'debug-trace');
    // skew adjustment is the API's adjust_skew, a link away; the links keep the grant
    const skew = new URL(await page.locator('#skew').getAttribute('href'), jg.url);
    assert.equal(skew.searchParams.get('adjust_skew'), 'true');
    assert.equal(skew.searchParams.get('grant'), grants.read);
    await page.locator('#skew').click();
    await page.waitForURL((u) => u.searchParams.get('adjust_skew') === 'true');
    assert.equal(ofType(await entries(), 'traces.read', grants.read).at(-1).data.params.adjust_skew, true);
    const back = new URL(await page.locator('#back').getAttribute('href'), jg.url);
    assert.equal(back.pathname, `/debug/${SVC}/traces`);
    assert.equal(back.searchParams.get('grant'), grants.read);
    // an unknown trace: 404, a trace id that is not one: 404, both audited reads refused before reading
    const res = await page.goto(traceUrl('0'.repeat(32), `?grant=${grants.read}`));
    assert.equal(res.status(), 404);
    assert.equal((await page.goto(traceUrl('not-a-trace', `?grant=${grants.read}`))).status(), 404);
  });

  test('from the logs page, a record\'s trace link opens the trace page', async () => {
    const { page } = alice;
    await page.goto(`${jg.url}/debug/${SVC}/logs?grant=${grants.read}&trace_id=${failing}&level=error`);
    const rec = page.locator('ol#logs > li').first();
    await rec.locator('summary').click();
    const link = rec.locator('a.trace-link');
    assert.equal(await link.getAttribute('href'), `/debug/${SVC}/traces/${failing}?grant=${grants.read}`);
    const before = await entries();
    await link.click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/traces/${failing}`);
    assert.equal(await page.locator('svg.waterfall g.span.root-cause').count(), 1);
    assert.equal(newOf(before, await entries(), 'traces.read', grants.read).length, 1);
    // and back: the trace's logs
    const logs = new URL(await page.locator('#its-logs').getAttribute('href'), jg.url);
    assert.equal(logs.pathname, `/debug/${SVC}/logs`);
    assert.equal(logs.searchParams.get('trace_id'), failing);
    assert.equal(logs.searchParams.get('grant'), grants.read);
  });

  test('Sec-Fetch-Site cross-site is refused 403 with nothing read or recorded', async () => {
    const path = `/debug/${SVC}/traces/${failing}?grant=${grants.read}`;
    const ok = await raw(alice.context, path, { 'sec-fetch-site': 'same-origin' });
    assert.equal(ok.status, 200, 'the session cookie outside the browser does not work: the refusals below would prove nothing');
    assert.match(ok.body, /root-cause/);
    const before = (await entries()).length;
    for (const p of [path, `/debug/${SVC}/traces?grant=${grants.read}&status=error`]) {
      const r = await raw(alice.context, p, { 'sec-fetch-site': 'cross-site' });
      assert.equal(r.status, 403, p);
      assert.match(r.headers['content-type'], /text\/html/);
      assert.ok(!r.body.includes('UPDATE accounts') && !r.body.includes('trace-link'), 'traces in a refused page');
    }
    assert.equal((await entries()).length, before, 'a refused request recorded something');
  });
});
