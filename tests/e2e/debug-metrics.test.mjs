// The metrics page in a real browser (docs/web.md, "Debugging pages"): Debian's Chromium driven by
// playwright-core against the real jitgate binary and the real development identity provider, over
// the demo telemetry (`jitgate demo seed`, as `make run` seeds it). alice without read-metrics is
// refused with a link to a prefilled request form; with a read-metrics grant she lists
// payment-service's metrics (the API's list), opens payments.processed (two series, authorized and
// failed, overlaid: one polyline each), reads the table of its points (the API's points for the
// same range, point for point), changes the range with the range links and the form, and, with
// JavaScript on, sees the value under the pointer. Each page load is one metrics.read entry per
// metric by user:alice; a cross-site request is refused with nothing recorded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startJitgate, cleanup } from './lib/harness.mjs';
import {
  launchChromium, closeBrowser, runCli, postAs, signIn as signInAs, sessionRequest, screenshot, auditEntries, requestActive,
} from './lib/debug-browser.mjs';

const SVC = 'payment-service';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const METRIC = 'payments.processed';

// A point's time as the page's table writes it: "2026-11-25 10:00:10" (".250" with milliseconds).
const tableTime = (t) => `${t.slice(0, 10)} ${t.slice(11, 19)}${t.slice(20, 23) === '000' ? '' : `.${t.slice(20, 23)}`}`;

describe('the metrics page in Chromium', () => {
  let jg;
  let browser;
  let alice; // { context, page }
  const contexts = [];
  const grants = {};
  let token; // an API token of alice's for the same grant: the answers the page must show

  const cli = (...args) => runCli(jg, ...args);
  const post = (user, path, body) => postAs(jg, user, path, body);
  const metricsUrl = (query = '') => `${jg.url}/debug/${SVC}/metrics${query}`;
  const api = (query) => jg.request('GET', `/v1/services/${SVC}/metrics${query}`, { headers: { authorization: `Bearer ${token}` } });

  const entries = () => auditEntries(jg);
  const reads = (all, grant) => all.filter((e) => e.type === 'metrics.read' && e.data?.grant === grant);

  const request = (capabilities, duration = '20m') =>
    requestActive(jg, { service: SVC, capabilities, duration, justification: 'INC-4711 card payments failing since the deploy' });

  const signIn = (user, opts = {}) => signInAs(jg, browser, contexts, user, { viewport: DESKTOP, ...opts });

  const raw = (context, path, headers) => sessionRequest(jg, context, 'GET', path, headers);

  const shot = (page, name) => screenshot(page, name);
  // The rows of the first chart's table: [time, series, value]
  const tableRows = (page) => page.locator('#charts table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));

  before(async () => {
    jg = await startJitgate();
    const s = cli('demo', 'seed');
    assert.equal(s.status, 0, s.stderr);
    browser = await launchChromium();
    alice = await signIn('alice');
  });

  after(async () => {
    await closeBrowser(browser, contexts);
    await cleanup(jg);
  });

  test('without read-metrics: the no-capability page with a link to the prefilled request form', async () => {
    const { page } = alice;
    grants.logs = await request(['read-logs']);
    const before = (await entries()).length;
    for (const url of [metricsUrl(), metricsUrl(`?grant=${grants.logs}`)]) {
      const res = await page.goto(url);
      assert.equal(res.status(), 403, url);
      assert.match(await page.locator('#no-capability').textContent(), /You have no active grant with read-metrics on payment-service/);
      assert.equal(await page.locator('#request-link').getAttribute('href'), `/request?service=${SVC}&capabilities=read-metrics&duration=1h`);
    }
    assert.ok(!(await page.content()).includes(METRIC), 'a refused page shows metrics');
    await shot(page, 'debug-metrics-no-capability');
    assert.equal((await entries()).length, before, 'a refused page recorded something');
  });

  test('the names: the API\'s list as links, from My access, one metrics.read per load', async () => {
    const { page } = alice;
    grants.read = await request(['read-metrics']);
    const t = await post('alice', `/v1/grants/${grants.read}/token`);
    assert.equal(t.status, 201, t.body);
    token = t.json.token;
    await page.goto(`${jg.url}/`);
    const card = page.locator(`article[data-request="${grants.read}"]`);
    const before = reads(await entries(), grants.read).length;
    await card.getByRole('link', { name: 'Metrics' }).click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/metrics`);
    assert.equal(await page.locator('#grant-id').textContent(), grants.read);
    const names = await page.locator('#metric-names a.metric-link').allTextContents();
    const listed = await api('');
    assert.equal(listed.status, 200, listed.body);
    assert.deepEqual(names, listed.json.metrics.map((m) => m.name));
    assert.ok(names.includes(METRIC) && names.includes('http.server.request.duration'), names.join());
    const href = new URL(await page.getByRole('link', { name: METRIC }).getAttribute('href'), jg.url);
    assert.equal(href.searchParams.get('grant'), grants.read);
    assert.equal(href.searchParams.get('name'), METRIC);
    await shot(page, 'debug-metrics-names');
    const all = await entries();
    // the page's load and the API call above: two reads, the page's without a name
    const mine = reads(all, grants.read).slice(before);
    assert.equal(mine.length, 2);
    for (const e of mine) {
      assert.equal(e.actor, 'user:alice');
      assert.equal(e.data.params.name, null);
    }
  });

  test('a metric: one polyline per series, the table is the API\'s points for the same range', async () => {
    const { page } = alice;
    await page.goto(metricsUrl(`?grant=${grants.read}`));
    await page.getByRole('link', { name: METRIC }).click();
    await page.waitForURL((u) => u.searchParams.get('name') === METRIC);
    // a fixed range through the form, so the API answers for exactly the same window
    const since = new Date(Date.now() - 2 * 3600e3).toISOString().slice(0, 19) + 'Z';
    const until = new Date(Date.now() + 60e3).toISOString().slice(0, 19) + 'Z';
    await page.locator('#since').fill(since);
    await page.locator('#until').fill(until);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL((u) => u.searchParams.get('until') === until);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('grant'), grants.read);
    assert.equal(url.searchParams.get('name'), METRIC);
    assert.equal(url.searchParams.get('step'), null, 'the empty step field was kept');

    const r = await api(`?name=${METRIC}&since=${since}&until=${until}`);
    assert.equal(r.status, 200, r.body);
    const series = r.json.metrics[0].series;
    assert.equal(series.length, 2, r.body);
    const svg = page.locator('#charts svg.chart');
    assert.equal(await svg.count(), 1);
    const groups = svg.locator('g.series');
    assert.equal(await groups.count(), 2);
    for (let i = 0; i < 2; i++) assert.equal(await groups.nth(i).locator('polyline').count(), 1, `series ${i}`);
    assert.equal(await svg.locator('circle.pt').count(), series.reduce((n, s) => n + s.points.length, 0));
    assert.deepEqual((await page.locator('#charts .legend li').allTextContents()).sort(), ['outcome=authorized', 'outcome=failed']);

    const rows = await tableRows(page);
    const expected = series.flatMap((s) => s.points.map((p) => [tableTime(p.time), `outcome=${s.attributes.outcome}`, String(p.value)]));
    assert.ok(expected.length >= 100, `only ${expected.length} points seeded`);
    assert.deepEqual(rows, expected);
    await page.locator('#charts details.points summary').click();
    await shot(page, 'debug-metrics-table');
  });

  test('the range links change the range and keep the metric and the grant', async () => {
    const { page } = alice;
    await page.goto(metricsUrl(`?grant=${grants.read}&name=${METRIC}&since=1h`));
    const hour = (await tableRows(page)).length;
    assert.equal(await page.locator('a.range[aria-current="page"]').textContent(), 'Last hour');
    await page.getByRole('link', { name: 'Last 15 minutes' }).click();
    await page.waitForURL((u) => u.searchParams.get('since') === '15m');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('grant'), grants.read);
    assert.equal(url.searchParams.get('name'), METRIC);
    assert.equal(await page.locator('a.range[aria-current="page"]').textContent(), 'Last 15 minutes');
    const quarter = await tableRows(page);
    assert.ok(quarter.length > 0 && quarter.length < hour, `${quarter.length} rows in 15m, ${hour} in 1h`);
    // every point shown is in the last 15 minutes (and a minute of slack for the clock)
    const oldest = Date.now() - 16 * 60e3;
    for (const [when] of quarter) assert.ok(Date.parse(`${when.replace(' ', 'T')}Z`) >= oldest, when);
    await page.getByRole('link', { name: 'Last 24 hours' }).click();
    await page.waitForURL((u) => u.searchParams.get('since') === '24h');
    assert.ok((await tableRows(page)).length >= hour);
    // a bad argument: the selector again with what is wrong, 400, nothing read
    const before = reads(await entries(), grants.read).length;
    const res = await page.goto(metricsUrl(`?grant=${grants.read}&name=${METRIC}&step=0s`));
    assert.equal(res.status(), 400);
    assert.match(await page.locator('.notice.error').textContent(), /'step' must be at least 1s/);
    assert.equal(await page.locator('#range-form').count(), 1);
    assert.equal(reads(await entries(), grants.read).length, before);
  });

  test('with JavaScript the value under the pointer is said in a live region', async () => {
    const { page } = alice;
    await page.goto(metricsUrl(`?grant=${grants.read}&name=${METRIC}&since=1h`));
    const svg = page.locator('#charts svg.chart');
    const readout = page.locator('.chart-readout');
    assert.equal(await readout.getAttribute('aria-live'), 'polite');
    const box = await svg.boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await page.waitForFunction(() => document.querySelector('.chart-readout')?.textContent.includes('UTC'));
    const said = await readout.textContent();
    assert.match(said, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})? UTC, outcome=(authorized|failed): \d+ payment/);
    const hot = page.locator('circle.pt.hot');
    assert.ok((await hot.count()) >= 1);
    assert.ok(said.includes(await hot.first().locator('title').textContent()), 'the readout is not the marked point');
    await shot(page, 'debug-metrics');
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await page.waitForFunction((before) => document.querySelector('.chart-readout').textContent !== before, said);
  });

  test('several metrics on one page: a chart each, one metrics.read each per load', async () => {
    const { page } = alice;
    const before = reads(await entries(), grants.read).length;
    const q = `?grant=${grants.read}&name=${METRIC}&name=http.server.request.duration&since=1h`;
    await page.goto(metricsUrl(q));
    await page.reload();
    assert.equal(await page.locator('#charts figure.chart').count(), 2);
    const mine = reads(await entries(), grants.read).slice(before);
    assert.deepEqual(mine.map((e) => e.data.params.name), [METRIC, 'http.server.request.duration', METRIC, 'http.server.request.duration']);
    assert.ok(mine.every((e) => e.actor === 'user:alice'));
    // the range links keep both names
    const href = new URL(await page.getByRole('link', { name: 'Last 6 hours' }).getAttribute('href'), jg.url);
    assert.deepEqual(href.searchParams.getAll('name'), [METRIC, 'http.server.request.duration']);
    assert.equal(href.searchParams.get('grant'), grants.read);
  });

  test('Sec-Fetch-Site cross-site (or absent) is refused 403 with nothing read', async () => {
    const path = `/debug/${SVC}/metrics?grant=${grants.read}&name=${METRIC}`;
    const ok = await raw(alice.context, path, { 'sec-fetch-site': 'same-origin' });
    assert.equal(ok.status, 200, 'the session cookie outside the browser does not work: the refusals below would prove nothing');
    const before = (await entries()).length;
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, {}]) {
      const r = await raw(alice.context, path, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(r.body, /Nothing was read/);
      assert.ok(!r.body.includes('<svg'), 'a chart in a refused page');
    }
    assert.equal((await entries()).length, before, 'a refused request recorded something');
  });

  test('on a phone: the names and a chart', async () => {
    const phone = await signIn('alice', { viewport: PHONE });
    await phone.page.goto(metricsUrl(`?grant=${grants.read}&since=1h`));
    assert.ok((await phone.page.locator('#metric-names a.metric-link').count()) >= 2);
    await shot(phone.page, 'debug-metrics-names-phone');
    await phone.page.goto(metricsUrl(`?grant=${grants.read}&name=${METRIC}&since=1h`));
    // the chart keeps a legible width and scrolls inside its frame; the page itself does not
    const box = await phone.page.locator('#charts .svg-wrap').boundingBox();
    assert.ok(box.width <= PHONE.width, `the chart's frame is ${box.width}px wide on a ${PHONE.width}px phone`);
    assert.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page scrolls sideways');
    await shot(phone.page, 'debug-metrics-phone');
  });
});
