// The probes page in a real browser (docs/web.md, "Probes"): Debian's Chromium driven by
// playwright-core against the real jitgate binary, the real development identity provider and the
// real demo service (build/payments_demo, linked with the reference agent).  alice without
// deploy-probe gets the no-capability page; with a deploy-probe grant (approved by bob, a payments
// lead) she deploys a probe from the form, the demo agent captures calls, and the events appear on
// the probe's page by its own refresh (JavaScript, every 5 s at most) - redacted and marked; with a
// grant holding deploy-probe and read-pii (bob, then grace and carol for privacy) they appear
// unredacted.  Remove removes the probe.  The audit log holds probe.deploy, probe.events.read,
// probe.list and probe.delete entries by user:alice; a cross-site GET of the events page is 403
// and records nothing; a deployment posted without the session's CSRF token is refused.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

import { startJitgate, cleanup } from './lib/harness.mjs';
import {
  launchChromium, closeBrowser, runCli, postAs, signIn as signInAs, sessionRequest, screenshot, auditEntries, ofType, requestActive,
  DEMO, DEMO_FN as FN, ingestKeyFile, runDemo as runDemoAs, deployFromForm as deployFromFormOn,
} from './lib/debug-browser.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

describe('the probes page in Chromium', () => {
  let jg;
  let browser;
  let alice; // { context, page }
  let keyFile;
  const contexts = [];
  const grants = {};
  const probes = {};

  const cli = (...args) => runCli(jg, ...args);
  const post = (user, path, body) => postAs(jg, user, path, body);
  const probesUrl = (query = '') => `${jg.url}/debug/${SVC}/probes${query}`;
  const stored = (probeId) => jg.db.count('probe_events', 'probe_id = ?', [probeId]);

  const entries = () => auditEntries(jg);

  const request = (capabilities, approvers, duration = '30m') =>
    requestActive(jg, { service: SVC, capabilities, approvers, duration, justification: INC });

  const signIn = (user) => signInAs(jg, browser, contexts, user, { viewport: DESKTOP });

  const raw = (context, method, path, headers, body) => sessionRequest(jg, context, method, path, headers, body);

  // the phone's width, then back to the desktop's (not to whatever size the page had)
  const shot = (page, name) => screenshot(page, name, { phone: PHONE, restore: DESKTOP });

  const runDemo = (rate, seconds) => runDemoAs(jg, SVC, keyFile, rate, seconds);
  const deployFromForm = (page) => deployFromFormOn(page, SVC);

  before(async () => {
    assert.ok(existsSync(DEMO), `${DEMO} is not built (make build)`);
    jg = await startJitgate();
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads').status, 0);
    keyFile = ingestKeyFile(jg, SVC);
    browser = await launchChromium();
    alice = await signIn('alice');
  });

  after(async () => {
    await closeBrowser(browser, contexts);
    await cleanup(jg);
  });

  test('without deploy-probe: the no-capability page, nothing recorded', async () => {
    const { page } = alice;
    grants.logs = await request(['read-logs'], []);
    const before = (await entries()).length;
    const res = await page.goto(probesUrl());
    assert.equal(res.status(), 403);
    assert.match(await page.locator('#no-capability').textContent(), /You have no active grant with deploy-probe on payment-gateway/);
    assert.equal(await page.locator('#request-link').getAttribute('href'), `/request?service=${SVC}&capabilities=deploy-probe&duration=1h`);
    assert.equal((await page.goto(probesUrl(`?grant=${grants.logs}`))).status(), 403);
    assert.equal((await entries()).length, before, 'a refused page recorded something');
  });

  test('deploy from the form; the agent captures; the events appear by refresh, redacted and marked', async () => {
    const { page } = alice;
    grants.probe = await request(['deploy-probe'], ['bob']);
    await page.goto(`${jg.url}/`);
    const card = page.locator(`article[data-request="${grants.probe}"]`);
    assert.equal(await card.getByRole('link', { name: 'Probes' }).getAttribute('href'), `/debug/${SVC}/probes?grant=${grants.probe}`);
    await card.getByRole('link', { name: 'Probes' }).click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/probes`);
    assert.equal(await page.locator('#grant-id').textContent(), grants.probe);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    assert.ok(await page.locator('#no-probes').isVisible());
    assert.match(await page.locator('#duration-clip').textContent(), /ends with this grant at the latest/);
    await shot(page, 'debug-probes-empty');

    const before = await entries();
    probes.redacted = await deployFromForm(page);
    const deployed = Date.now();
    assert.equal(new URL(page.url()).searchParams.get('grant'), grants.probe);
    assert.ok(await page.locator('#no-events').isVisible());
    const demo = runDemo(100, 3);
    // no reload: the page's script refreshes the events (every 5 s at most)
    await page.locator('#events tr.probe-event').first().waitFor({ timeout: 20000 });
    const shownAt = Date.now();
    const res = await demo;
    assert.equal(res.code, 0, res.stderr);
    assert.ok(res.stats.posted > 0, JSON.stringify(res.stats));
    await page.locator('#refresh').click();
    await page.waitForLoadState();
    const rows = page.locator('#events tr.probe-event');
    // the API's page of events: the first 100, then a link to the later ones with after=
    const total = stored(probes.redacted);
    assert.equal(await rows.count(), Math.min(total, 100));
    assert.equal(await page.locator('#later').count(), total > 100 ? 1 : 0);
    const text = await page.locator('#events').textContent();
    assert.match(text, /customer_email\[REDACTED:email\]/);
    assert.match(text, /amount\d+/);
    const html = await page.content();
    assert.ok(!/@example\.com/.test(html), 'personal data on a redacted page');
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    await shot(page, 'debug-probes-events');

    const after = await entries();
    const deploys = ofType(after, 'probe.deploy', grants.probe).slice(ofType(before, 'probe.deploy', grants.probe).length);
    assert.equal(deploys.length, 1);
    assert.equal(deploys[0].actor, 'user:alice');
    assert.equal(deploys[0].data.probe, probes.redacted);
    const reads = ofType(after, 'probe.events.read', grants.probe);
    assert.ok(reads.length >= 2, `the refreshes were not reads: ${reads.length}`);
    for (const e of reads) assert.equal(e.actor, 'user:alice');
    // at most one refresh per 5 s: the first load, then one per 5 s until the events showed, one for the click
    const allowed = 1 + Math.floor((shownAt - deployed) / 5000) + 1 + 1;
    assert.ok(reads.length <= allowed, `${reads.length} reads in ${shownAt - deployed} ms`);
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(html), 'a token in the page');
  });

  test('the probes page lists the live probe with its options; a cross-site GET is refused and recorded nothing', async () => {
    const { page } = alice;
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    const row = page.locator(`#probes tr[data-probe="${probes.redacted}"]`);
    assert.match(await row.textContent(), /PaymentProcessor\.selectProvider/);
    assert.match(await row.textContent(), /amount gt 1000/);
    assert.match(await row.textContent(), /arguments/);
    const count = stored(probes.redacted);
    assert.ok(count > 0, 'no event stored: the count below would prove little');
    assert.equal(await row.locator('td[data-events]').textContent(), String(count), 'the events stored for the probe');
    // where it is installed: agents' reports; why one failed, as the agent wrote it, escaped
    const key = readFileSync(keyFile, 'utf8').trim();
    const report = (body) => jg.request('POST', '/v1/agents/probes/status', {
      body: JSON.stringify({ service: SVC, ...body }), headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    });
    const evil = '<img src=x onerror="window.pwned=1">depth 9 & more';
    assert.equal((await report({ instance: 'host-y:8', installed: [probes.redacted], dropped: { [probes.redacted]: 3 }, failed: [] })).status, 200);
    assert.equal((await report({ instance: 'host-x:9', installed: [], failed: [{ id: probes.redacted, code: 'bad_limits', message: evil }] })).status, 200);
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    const cell = row.locator('td[data-installed]');
    assert.ok(Number(await cell.locator('[data-installed-count]').getAttribute('data-installed-count')) >= 1);
    assert.match(await cell.textContent(), /\d+ instances?/);
    // what host-y lost before posting (the demo's own agent lost nothing)
    assert.equal(await cell.locator('[data-dropped]').getAttribute('data-dropped'), '3');
    assert.match(await cell.textContent(), /3 events lost by the agents/);
    const failedItem = cell.locator('li[data-failed-instance="host-x:9"]');
    assert.equal(await failedItem.textContent(), `failed on host-x:9: bad_limits ${evil}`);
    assert.equal(await cell.locator('img').count(), 0, 'the agent\'s message became markup');
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.ok(ofType(await entries(), 'probe.list', grants.probe).length >= 1);
    await shot(page, 'debug-probes');

    const path = `/debug/${SVC}/probes/${probes.redacted}?grant=${grants.probe}`;
    const ok = await raw(alice.context, 'GET', path, { 'sec-fetch-site': 'same-origin' });
    assert.equal(ok.status, 200, 'the session cookie outside the browser does not work: the refusals below would prove nothing');
    const before = (await entries()).length;
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, {}]) {
      const r = await raw(alice.context, 'GET', path, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(r.body, /Nothing was read/);
      assert.ok(!r.body.includes('customer_email'), 'events in a refused page');
    }
    assert.equal((await entries()).length, before, 'a refused request recorded something');
  });

  test('a deployment without the session\'s CSRF token is refused and deploys nothing', async () => {
    const before = await entries();
    const live = jg.db.count('probes');
    const body = `function=${encodeURIComponent(FN)}&sampling_rate=1&duration=900&capture_args=1`;
    for (const headers of [{}, { 'sec-fetch-site': 'cross-site' }]) {
      const r = await raw(alice.context, 'POST', `/debug/${SVC}/probes?grant=${grants.probe}`, {
        'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded', ...headers,
      }, body);
      assert.equal(r.status, 403, r.body);
    }
    // with a token that is not the session's
    const r = await raw(alice.context, 'POST', `/debug/${SVC}/probes?grant=${grants.probe}`, {
      'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded',
    }, `${body}&csrf=not-the-token`);
    assert.equal(r.status, 403, r.body);
    assert.equal(jg.db.count('probes'), live, 'a probe was deployed');
    const after = await entries();
    assert.equal(ofType(after, 'probe.deploy').length, ofType(before, 'probe.deploy').length);
  });

  test('a bad form is the form again with what is wrong, nothing deployed', async () => {
    const { page } = alice;
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    const before = ofType(await entries(), 'probe.deploy').length;
    await page.locator('#function').fill('not a function name');
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.waitForLoadState();
    assert.match(await page.locator('#deploy-error').textContent(), /'function' is required/);
    assert.equal(ofType(await entries(), 'probe.deploy').length, before);
  });

  test('with deploy-probe and read-pii on one grant the events are unredacted', async () => {
    const { page } = alice;
    grants.pii = await request(['deploy-probe', 'read-pii'], ['bob', 'grace', 'carol']);
    await page.goto(probesUrl(`?grant=${grants.pii}`));
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'shown');
    probes.pii = await deployFromForm(page);
    const res = await runDemo(100, 3);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(stored(probes.pii) > 0, JSON.stringify(res.stats));
    await page.locator('#refresh').click();
    await page.waitForLoadState();
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'shown');
    assert.match(await page.locator('#events').textContent(), /customer_email\s*customer\d+@example\.com/);
    await shot(page, 'debug-probes-pii');
    const read = ofType(await entries(), 'probe.events.read', grants.pii).at(-1);
    assert.equal(read.actor, 'user:alice');
    // the redacted grant's probe still reads redacted
    await page.goto(`${jg.url}/debug/${SVC}/probes/${probes.redacted}?grant=${grants.probe}`);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    assert.ok(!/@example\.com/.test(await page.content()));
  });

  test('Remove removes the probe (probe.delete by alice)', async () => {
    const { page } = alice;
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    const before = ofType(await entries(), 'probe.delete', grants.probe).length;
    const row = page.locator(`#probes tr[data-probe="${probes.redacted}"]`);
    await row.getByRole('button', { name: /Remove/ }).click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/probes`);
    assert.equal(new URL(page.url()).searchParams.get('grant'), grants.probe);
    assert.equal(await page.locator(`#probes tr[data-probe="${probes.redacted}"]`).count(), 0);
    const dels = ofType(await entries(), 'probe.delete', grants.probe).slice(before);
    assert.equal(dels.length, 1);
    assert.equal(dels[0].actor, 'user:alice');
    assert.equal(dels[0].data.probe ?? dels[0].data.params?.probe, probes.redacted);
    // the agent no longer gets it
    const n = stored(probes.redacted);
    await runDemo(100, 2);
    await sleep(200);
    assert.equal(stored(probes.redacted), n, 'a removed probe still captured');
  });

  test('a log probe from the form: the events show its rendered messages, nothing captured beside them', async () => {
    const { page } = alice;
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    await page.locator('#function').fill(FN);
    await page.locator('#template').fill('charge {amount} {currency} via {return}');
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.waitForURL((u) => /^\/debug\/[^/]+\/probes\/[^/]+$/.test(u.pathname));
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
    const deploy = ofType(await entries(), 'probe.deploy', grants.probe).at(-1);
    assert.equal(deploy.data.probe, id);
    assert.equal(deploy.data.params.kind, 'log');
    assert.equal(deploy.data.params.capture_args, false); // the checked box does not apply to a log probe
    const res = await runDemo(100, 2);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(stored(id) > 0, JSON.stringify(res.stats));
    await page.locator('#refresh').click();
    await page.waitForLoadState();
    const messages = await page.locator('#events td.event-message').allTextContents();
    assert.equal(messages.length, Math.min(stored(id), 100));
    for (const m of messages) assert.match(m, /^charge \d+ (EUR|USD|GBP) via (adyen|stripe|mollie)$/);
    assert.ok(!/@example\.com/.test(await page.content()));
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    const row = page.locator(`#probes tr[data-probe="${id}"]`);
    assert.equal(await row.locator('code.probe-template').textContent(), 'charge {amount} {currency} via {return}');
  });

  test('a metric probe from the form: deployed as a histogram, shown with its metric probe.<id>, which the deploy leads to', async () => {
    const { page } = alice;
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    await page.locator('#function').fill(FN);
    // a message and a metric at once: refused, nothing deployed
    await page.locator('#template').fill('charge {amount}');
    await page.locator('#metric').selectOption('count');
    const deploys = ofType(await entries(), 'probe.deploy', grants.probe).length;
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.waitForLoadState();
    assert.match(await page.content(), /a message or sends a metric, not both/);
    assert.equal(ofType(await entries(), 'probe.deploy', grants.probe).length, deploys);

    await page.goto(probesUrl(`?grant=${grants.probe}`));
    await page.locator('#function').fill(FN);
    await page.locator('#metric').selectOption('histogram');
    await page.locator('#metric_field').fill('amount');
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.waitForURL((u) => u.pathname === `/debug/${SVC}/metrics`);
    const name = new URL(page.url()).searchParams.get('name');
    assert.match(name, /^probe\.prb_/);
    const id = name.slice('probe.'.length);
    const deploy = ofType(await entries(), 'probe.deploy', grants.probe).at(-1);
    assert.equal(deploy.data.probe, id);
    assert.equal(deploy.data.params.kind, 'metric');
    assert.deepEqual(deploy.data.params.metric, { type: 'histogram', field: 'amount' });
    assert.equal(deploy.data.params.capture_args, false); // the checked box does not apply to a metric probe
    await page.goto(probesUrl(`?grant=${grants.probe}`));
    const row = page.locator(`#probes tr[data-probe="${id}"]`);
    assert.match(await row.textContent(), /histogram of amount/);
    assert.equal(await row.locator('a.probe-metric').textContent(), name);
    assert.equal(await row.getByRole('link', { name: 'Events' }).count(), 0);
  });
});
