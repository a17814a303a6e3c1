// Issue 20's scenario end to end, in Debian's Chromium driven by playwright-core against the real
// jitgate binary, the real development identity provider (alice signs in on its login page) and the
// real demo service (build/payments_demo, the reference agent), over the telemetry of `jitgate demo
// seed` (a payment failing three hops down after payment-accounts 2.4.0 was deployed):
//   1. alice, with read-logs, read-traces and read-metrics on payment-service (policies/payments.yaml:
//      at once), searches the logs, follows a failed payment's trace link to the trace page (the
//      waterfall with its root-cause span marked, the analysis naming payment-accounts 2.4.0), lists
//      the traces with an error, and opens the metrics page's chart;
//   2. with deploy-probe and read-pii on one grant (bob for the payments leads, then carol and grace
//      for privacy) she deploys a probe from the probes page, and on a second grant with
//      deploy-probe only another; the demo service's agent captures calls for both, and the events
//      appear unredacted on the first probe's page and redacted, marked so, on the second's;
//   3. a link on another site to those pages is refused (403, Sec-Fetch-Site cross-site) and records
//      nothing;
//   4. after the grants are revoked (one from My access by alice, one by bob through the API, one by
//      alice through the API) every debugging page refuses: logs, traces search, a trace, metrics,
//      the probes list and both probes' events, with nothing read or recorded;
//   5. every step's audit entry is in the export under its type of docs/audit-format.md, by the
//      right actor for the right grant, and each grant's receipt counts what was done with it.
// Lean by design (CI time): one jitgate, one browser, one signed-in context, sequential steps.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

import { startJitgate, cleanup } from './lib/harness.mjs';
import {
  launchChromium, closeBrowser, runCli, postAs, signIn, screenshot, auditEntries, ofType, requestActive,
  DEMO, ingestKeyFile, runDemo, deployFromForm,
} from './lib/debug-browser.mjs';

const SVC = 'payment-service';
const INC = 'INC-4711 card payments failing since the deploy';
const METRIC = 'payments.processed';
// a page on another site, served by the browser's router: its links lead to jitgate's pages
const ELSEWHERE = 'https://elsewhere.example';
// the guarded reads (and deployments) a page records, which a refused page must not
const READS = ['logs.read', 'traces.search', 'traces.read', 'metrics.read', 'probe.list', 'probe.events.read', 'probe.deploy', 'token.issued'];

describe('issue 20\'s scenario: logs, trace, metrics and probes in the browser, then revoked', () => {
  let jg;
  let browser;
  let page; // alice's, signed in
  let failing; // the demo's failing trace
  let keyFile;
  const contexts = [];
  const grants = {};
  const probes = {};

  const debugUrl = (path, grant) => `${jg.url}/debug/${SVC}/${path}${grant ? `${path.includes('?') ? '&' : '?'}grant=${grant}` : ''}`;
  const entries = () => auditEntries(jg);
  const countOf = (all, types) => all.filter((e) => types.includes(e.type)).length;
  const shot = (name) => screenshot(page, `scenario-${name}`);
  // The entries of type for grant appended after the `before` export.
  const since = (before, after, type, grant) => ofType(after, type, grant).slice(ofType(before, type, grant).length);
  // A click that loads a page; resolves the page's response.
  const load = async (locator) => (await Promise.all([page.waitForNavigation(), locator.click()]))[0];

  before(async () => {
    assert.ok(existsSync(DEMO), `${DEMO} is not built (make build)`);
    jg = await startJitgate();
    const s = runCli(jg, 'demo', 'seed');
    assert.equal(s.status, 0, s.stderr);
    failing = s.stdout.match(/a failing payment: trace ([0-9a-f]{32})/)?.[1];
    assert.ok(failing, s.stdout);
    keyFile = ingestKeyFile(jg, SVC);
    browser = await launchChromium();
    ({ page } = await signIn(jg, browser, contexts, 'alice', { viewport: { width: 1280, height: 900 } }));
  });

  after(async () => {
    await closeBrowser(browser, contexts);
    await cleanup(jg);
  });

  test('1. logs searched, the failing trace opened from a record, the traces listed, the metrics charted', async () => {
    grants.read = await requestActive(jg, { service: SVC, capabilities: ['read-logs', 'read-traces', 'read-metrics'], duration: '30m', justification: INC });
    const before = await entries();
    await page.goto(`${jg.url}/`);
    const card = page.locator(`article[data-request="${grants.read}"]`);
    await load(card.getByRole('link', { name: 'Logs' }));
    assert.equal(await page.locator('#grant-id').textContent(), grants.read);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');

    // the search: the failed payments of the last hour
    await page.locator('#q').fill('payment failed');
    await page.locator('#level').selectOption('error');
    await load(page.getByRole('button', { name: 'Search' }));
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('q'), 'payment failed');
    assert.equal(url.searchParams.get('grant'), grants.read);
    const bodies = await page.locator('ol#logs .log-body').allTextContents();
    assert.ok(bodies.length >= 3, `${bodies.length} failed payments found`);
    for (const b of bodies) assert.match(b, /^payment failed for \[REDACTED:email\]/);
    assert.ok(!/@example\.com/.test(await page.content()), 'personal data on a redacted page');
    await shot('logs');

    // the record of the failing trace: its attributes, then its trace link
    const rec = page.locator('ol#logs > li', { has: page.locator(`a.trace-link[href*="${failing}"]`) });
    assert.equal(await rec.count(), 1, 'the failing trace\'s record is not among the results');
    await rec.locator('summary').click();
    const link = rec.locator('a.trace-link');
    assert.equal(await link.getAttribute('href'), `/debug/${SVC}/traces/${failing}?grant=${grants.read}`);
    assert.equal((await load(link)).status(), 200);
    assert.equal(new URL(page.url()).pathname, `/debug/${SVC}/traces/${failing}`);

    // the waterfall: one bar per span, exactly one marked as the root cause (and failed)
    const svg = page.locator('figure.waterfall svg.waterfall');
    assert.ok((await svg.locator('g.span').count()) >= 5, 'too few span bars');
    const cause = svg.locator('g.span.root-cause');
    assert.equal(await cause.count(), 1, 'not exactly one root-cause bar');
    assert.match(await cause.getAttribute('class'), /\berror\b/);
    assert.match(await cause.locator('title').textContent(), /UPDATE accounts/);
    // the analysis in words names the cause's service and version
    const causeText = await page.locator('section.analysis li.root-cause').first().textContent();
    assert.match(causeText, /UPDATE accounts on payment-accounts 2\.4\.0/);
    assert.match(causeText, /DB_STATEMENT_TIMEOUT/);
    await shot('trace');

    // back to the traces search: the failed ones of the last hour, the failing trace among them
    await load(page.locator('#back'));
    await page.locator('#status').selectOption('error');
    await page.locator('#since').selectOption('1h');
    await load(page.getByRole('button', { name: 'Search' }));
    assert.equal(new URL(page.url()).searchParams.get('grant'), grants.read);
    assert.equal(await page.locator(`table#traces a.trace-link:has-text("${failing}")`).count(), 1);
    await shot('traces');

    // the metrics, from My access: a chart of the metric, one line per series
    await page.goto(`${jg.url}/`);
    await load(card.getByRole('link', { name: 'Metrics' }));
    await load(page.getByRole('link', { name: METRIC }));
    const chart = page.locator('#charts svg.chart');
    assert.equal(await chart.count(), 1);
    assert.ok((await chart.locator('g.series polyline').count()) >= 1, 'a chart without a series line');
    assert.ok((await chart.locator('circle.pt').count()) >= 2, 'a chart without points');
    await shot('metrics');

    // each read once, by alice, for this grant, with what she asked
    const after = await entries();
    const by = (type) => since(before, after, type, grants.read);
    const logs = by('logs.read');
    assert.equal(logs.length, 2, 'the page load and the search');
    // the words as their keyed marker, the one the auditor's POST /v1/audit/hash gives for them
    const q = await jg.auditor('POST', '/v1/audit/hash', { body: JSON.stringify({ value: 'payment failed', kind: 'query' }), headers: { 'content-type': 'application/json' } });
    assert.equal(q.status, 200, q.body);
    assert.equal(logs[1].data.params.q, q.json.markers[0].marker);
    const search = by('traces.search');
    assert.equal(search.length, 2, 'the search form\'s load and the search');
    assert.equal(search[1].data.params.errors_only, true);
    const reads = by('traces.read');
    assert.equal(reads.length, 1);
    assert.equal(reads[0].data.params.trace_id, failing);
    const metrics = by('metrics.read');
    assert.equal(metrics.length, 2, 'the list and the chart');
    assert.equal(metrics[1].data.params.name, METRIC);
    assert.equal(by('token.issued').length, 1, 'the pages minted more than one token');
    for (const e of [...logs, ...search, ...reads, ...metrics]) assert.equal(e.actor, 'user:alice', e.type);
  });

  test('2. probes deployed from the page; the agent\'s captures unredacted with read-pii, redacted and marked without', async () => {
    // deploy-probe and read-pii: bob for the payments leads, then two of privacy (carol, grace)
    const r = await postAs(jg, 'alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe', 'read-pii'], duration: '30m', justification: INC });
    assert.equal(r.status, 201, r.body);
    grants.pii = r.json.id;
    for (const [who, state] of [['bob', 'pending'], ['carol', 'pending'], ['grace', 'active']]) {
      const a = await postAs(jg, who, `/v1/requests/${grants.pii}/approve`);
      assert.equal(a.status, 200, `${who}: ${a.body}`);
      assert.equal(a.json.state, state, `after ${who}'s approval`);
    }
    grants.probe = await requestActive(jg, { service: SVC, capabilities: ['deploy-probe'], approvers: ['bob'], duration: '30m', justification: INC });
    const before = await entries();

    // the read-pii grant's probe, from My access
    await page.goto(`${jg.url}/`);
    await load(page.locator(`article[data-request="${grants.pii}"]`).getByRole('link', { name: 'Probes' }));
    assert.equal(await page.locator('#grant-id').textContent(), grants.pii);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'shown');
    probes.pii = await deployFromForm(page, SVC);
    // the deploy-probe-only grant's probe
    await page.goto(debugUrl('probes', grants.probe));
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    probes.redacted = await deployFromForm(page, SVC);

    const demo = await runDemo(jg, SVC, keyFile, 100, 2);
    assert.equal(demo.code, 0, demo.stderr);
    assert.ok(demo.stats.posted > 0, JSON.stringify(demo.stats));
    for (const id of Object.values(probes)) assert.ok(jg.db.count('probe_events', 'probe_id = ?', [id]) > 0, `probe ${id} captured nothing`);

    // the redacted probe's page (open since its deployment): Refresh shows the events, redacted
    await load(page.locator('#refresh'));
    assert.ok((await page.locator('#events tr.probe-event').count()) > 0);
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'redacted');
    assert.match(await page.locator('#pii-state').textContent(), /Redacted/);
    assert.match(await page.locator('#events').textContent(), /customer_email\[REDACTED:email\]/);
    assert.ok(!/@example\.com/.test(await page.content()), 'personal data on a redacted page');
    await shot('probe-events-redacted');

    // the read-pii probe's page: the same kind of events, the addresses shown
    await page.goto(debugUrl(`probes/${probes.pii}`, grants.pii));
    assert.equal(await page.locator('#pii-state').getAttribute('data-pii'), 'shown');
    assert.ok((await page.locator('#events tr.probe-event').count()) > 0);
    assert.match(await page.locator('#events').textContent(), /customer_email\s*customer\d+@example\.com/);
    assert.doesNotMatch(await page.locator('#events').textContent(), /REDACTED/);
    await shot('probe-events-pii');

    const after = await entries();
    for (const [grant, probe] of [[grants.pii, probes.pii], [grants.probe, probes.redacted]]) {
      const deploys = since(before, after, 'probe.deploy', grant);
      assert.equal(deploys.length, 1, grant);
      assert.equal(deploys[0].actor, 'user:alice');
      assert.equal(deploys[0].data.probe, probe);
      assert.ok(since(before, after, 'probe.list', grant).length >= 1, `no probe.list for ${grant}`);
      const reads = since(before, after, 'probe.events.read', grant);
      assert.ok(reads.length >= 1, `no probe.events.read for ${grant}`);
      for (const e of reads) assert.equal(e.actor, 'user:alice');
      assert.ok(since(before, after, 'probe.events.ingested', grant).length >= 1, `the agent's events for ${grant} not recorded`);
    }
    assert.equal(ofType(after, 'probe.events.read', grants.pii).at(-1).data.pii, true, 'an unredacted read not marked pii');
  });

  test('3. a link on another site to the acting pages is refused and reads nothing', async () => {
    const targets = [debugUrl(`probes/${probes.pii}`, grants.pii), debugUrl(`traces/${failing}`, grants.read), debugUrl('logs?q=payment', grants.read)];
    await page.context().route(`${ELSEWHERE}/**`, (route) => route.fulfill({
      contentType: 'text/html',
      body: `<!doctype html><title>elsewhere</title>${targets.map((t, i) => `<a id="t${i}" href="${t}">look</a>`).join(' ')}`,
    }));
    const before = (await entries()).length;
    for (let i = 0; i < targets.length; i++) {
      await page.goto(`${ELSEWHERE}/`);
      const res = await load(page.locator(`#t${i}`));
      assert.equal(new URL(page.url()).origin, jg.url);
      assert.equal(res.status(), 403, targets[i]);
      assert.match(await page.locator('main').textContent(), /not from a link on another site.*Nothing was read/s);
      // refused for where the link was, not for the grant: a same-origin Continue to the same page
      const target = new URL(targets[i]);
      assert.equal(new URL(await page.locator('a#continue').getAttribute('href'), jg.url).href, target.href);
      const html = await page.content();
      assert.ok(!html.includes('@example.com') && !html.includes('probe-event') && !html.includes('UPDATE accounts'), 'data in a refused page');
      if (i === 0) await shot('cross-site-refused');
    }
    await page.context().unroute(`${ELSEWHERE}/**`);
    assert.equal((await entries()).length, before, 'a cross-site navigation recorded something');
  });

  test('4. after revocation every debugging page refuses, and nothing is read', async () => {
    // alice revokes the read grant from My access; bob (its approver) the read-pii one; alice the other through the API
    await page.goto(`${jg.url}/`);
    const form = page.locator(`article[data-request="${grants.read}"] form[action$="/revoke"]`);
    await form.locator('input[name=reason]').fill('found it: payment-accounts 2.4.0');
    await load(form.getByRole('button', { name: 'Revoke' }));
    assert.equal(new URL(page.url()).searchParams.get('ok'), 'revoked');
    let r = await postAs(jg, 'bob', `/v1/grants/${grants.pii}/revoke`, { reason: 'rolled back' });
    assert.equal(r.status, 200, r.body);
    r = await postAs(jg, 'alice', `/v1/grants/${grants.probe}/revoke`, { reason: 'done' });
    assert.equal(r.status, 200, r.body);
    for (const g of Object.values(grants)) assert.equal((await jg.as('alice', 'GET', `/v1/requests/${g}`)).json.state, 'revoked');

    const before = await entries();
    const pages = [
      ['logs', 'read-logs'], ['logs?q=payment', 'read-logs'], ['traces', 'read-traces'], [`traces/${failing}`, 'read-traces'],
      [`metrics?name=${METRIC}`, 'read-metrics'], ['probes', 'deploy-probe'], [`probes/${probes.pii}`, 'deploy-probe'],
      [`probes/${probes.redacted}`, 'deploy-probe'],
    ];
    for (const [path, cap] of pages) {
      // as the pages link to each other (with the grant) and as typed (without)
      for (const grant of [path.startsWith('probes') ? (path.includes(probes.redacted) ? grants.probe : grants.pii) : grants.read, null]) {
        const res = await page.goto(debugUrl(path, grant));
        assert.equal(res.status(), 403, `${path} with grant ${grant}`);
        assert.match(await page.locator('#no-capability').textContent(), new RegExp(`You have no active grant with ${cap} on ${SVC}`), path);
        assert.ok(!(await page.content()).includes('@example.com'), `personal data on ${path}`);
      }
    }
    await shot('revoked');
    const after = await entries();
    assert.equal(countOf(after, READS), countOf(before, READS), 'a page read (or minted) after revocation');
    assert.equal(after.length, before.length, 'a refused page recorded something');
    assert.equal(jg.db.count('session_grant_tokens'), 0, 'a revoked grant\'s token is still kept');
  });

  test('5. the audit log holds each step: request, approvals, grant, revocation, receipt', async () => {
    const all = await entries();
    // an entry's grant: data.grant in the reads and the receipt, data.request in the lifecycle's entries
    const about = (type, grant) => all.filter((e) => e.type === type && (e.data.grant ?? e.data.request) === grant);
    const one = (type, grant) => {
      const found = about(type, grant);
      assert.equal(found.length, 1, `${found.length} ${type} for ${grant}`);
      return found[0];
    };
    // requests: the read grant is granted at once (expires_at in its request.created)
    const created = Object.fromEntries(Object.entries(grants).map(([k, g]) => [k, one('request.created', g)]));
    for (const e of Object.values(created)) {
      assert.equal(e.actor, 'user:alice');
      assert.equal(e.data.service, SVC);
    }
    assert.equal(created.read.data.state, 'active');
    assert.ok(created.read.data.expires_at > 0, 'the at-once grant has no expires_at in its request.created');
    assert.equal(created.pii.data.state, 'pending');
    // the approvals: bob, carol, grace in this order, the last activating the read-pii grant
    const approvals = about('request.approved', grants.pii);
    assert.deepEqual(approvals.map((e) => e.actor), ['user:bob', 'user:carol', 'user:grace']);
    // bob toward the leads' requirement (the first), carol and grace toward privacy's (the second)
    assert.deepEqual(approvals.at(-1).data.assignment, [{ approver: 'bob', requirements: [0] }, { approver: 'carol', requirements: [1] }, { approver: 'grace', requirements: [1] }]);
    assert.equal(approvals.at(-1).data.activated, true);
    assert.ok(approvals.slice(0, 2).every((e) => e.data.activated !== true), 'activated before privacy approved twice');
    // the revocations by whom they were made, each followed by the grant's receipt
    assert.equal(one('grant.revoked', grants.read).actor, 'user:alice');
    assert.equal(one('grant.revoked', grants.pii).actor, 'user:bob');
    assert.equal(one('grant.revoked', grants.probe).actor, 'user:alice');
    const receipt = (g) => one('grant.receipt', g).data;
    const read = receipt(grants.read);
    assert.equal(read.log_queries, ofType(all, 'logs.read', grants.read).length);
    assert.ok(read.log_queries >= 2 && read.trace_reads >= 3 && read.metric_reads >= 2, JSON.stringify(read));
    assert.equal(read.unused, false);
    const pii = receipt(grants.pii);
    assert.equal(pii.probes_deployed, 1);
    assert.ok(pii.probe_events > 0 && pii.pii_reads >= 1, JSON.stringify(pii));
    assert.deepEqual(pii.approvers, ['bob', 'carol', 'grace']);
    const probe = receipt(grants.probe);
    assert.equal(probe.probes_deployed, 1);
    assert.equal(probe.pii_reads, 0);
    assert.ok(probe.probe_events > 0, JSON.stringify(probe));
  });
});
