// Metric probes (docs/agents.md, "Probe kinds"): the agent counts the calls a probe matches, or puts
// one numeric field of theirs in a histogram with OpenTelemetry's default buckets, and sends one
// point per interval; jitgate shows the points as the metric probe.<id>, read with read-metrics.
// End to end through real HTTPS: the real binary against one database (SQLite, or PostgreSQL with
// JG_E2E_DB=postgres), its own OpenID provider, policies/payments.yaml, and the demo service
// build/payments_demo linked with the reference agent.
//
// What a user relies on: a metric probe is deployed with a clear spec (400s naming the field
// otherwise); its conditions and field on personal data need read-pii to deploy and to read; the
// demo's calls arrive as points whose counts are exactly the calls the agent matched, with no
// argument value anywhere; the points are read with read-metrics only, never as probe events; an
// agent's malformed point is refused per event; the deploy is audited with its spec.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, ROOT } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const FN = 'PaymentProcessor.selectProvider';
const INC = 'INC-4711 payment retries failing in eu-west';
const DEMO = process.env.JG_PAYMENTS_DEMO ?? join(ROOT, 'build', 'payments_demo');
const COUNT = { function: FN, kind: 'metric', metric: { type: 'count', interval_seconds: 1 }, duration: 600 };
const HIST = { function: FN, kind: 'metric', metric: { type: 'histogram', field: 'amount', interval_seconds: 1 }, duration: 600 };
// OpenTelemetry's default explicit bucket boundaries
const BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

describe('probe kinds: metric probes', () => {
  let jg;
  let key;
  let keyFile;
  const tok = {};

  const json = (o, auth) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) } });
  const bearer = (t) => ({ headers: { authorization: `Bearer ${t}` } });
  const deploy = (spec, t = tok.probe) => jg.request('POST', `/v1/services/${SVC}/probes`, json(spec, t));
  const metrics = (t, query = '') => jg.request('GET', `/v1/services/${SVC}/metrics?since=1h${query}`, bearer(t));
  const postPoints = (id, events) => jg.request('POST', `/v1/agents/probes/${id}/events`, json({ events }, key));
  const point = (metric, ts = new Date().toISOString()) => ({ ts, event_id: 'e'.repeat(32), function: FN, metric });
  const histPoint = (counts, { sum = 1, min = 1, max = 1 } = {}) =>
    point({ start: new Date(Date.now() - 1000).toISOString(), count: counts.reduce((a, b) => a + b, 0), sum, min, max, counts });

  before(async () => {
    assert.ok(existsSync(DEMO), `${DEMO} is not built (make build)`);
    jg = await startJitgate();
    ({ key, keyFile } = jg.serviceWithKey(SVC));
    ({ token: tok.probe } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe'], justification: INC }));
    ({ token: tok.probePii } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe', 'read-pii'], justification: INC, approvers: ['bob', 'grace', 'carol'] }));
    ({ token: tok.metrics } = await jg.grantToken({ service: SVC, capabilities: ['read-metrics'], justification: INC, approvers: [] }));
    ({ token: tok.logs } = await jg.grantToken({ service: SVC, capabilities: ['read-logs'], justification: INC, approvers: [] }));
    ({ token: tok.metricsPii } = await jg.grantToken({ service: SVC, capabilities: ['read-metrics', 'read-pii'], justification: INC, approvers: ['grace', 'carol'] }));
  });
  after(() => cleanup(jg));

  test('a bad metric spec is a 400 naming the field; nothing is deployed', async () => {
    const bad = [
      [{ function: FN, kind: 'metric', duration: 600 }, 'metric'],
      [{ ...COUNT, metric: { type: 'gauge' } }, 'metric'],
      [{ ...COUNT, metric: 'count' }, 'metric'],
      [{ ...COUNT, metric: { type: 'histogram' } }, 'metric'],
      [{ ...COUNT, metric: { type: 'histogram', field: 'a b' } }, 'metric'],
      [{ ...COUNT, metric: { type: 'count', field: 'amount' } }, 'metric'],
      [{ ...COUNT, metric: { type: 'count', interval_seconds: 0 } }, 'metric'],
      [{ ...COUNT, metric: { type: 'count', interval_seconds: 301 } }, 'metric'],
      [{ ...COUNT, metric: { type: 'count', buckets: [1, 2] } }, 'metric'],
      [{ ...COUNT, capture_args: true }, 'capture_args'],
      [{ ...COUNT, capture_return: true }, 'capture_return'],
      [{ ...COUNT, template: '{amount}' }, 'template'],
      [{ function: FN, duration: 600, metric: { type: 'count' } }, 'metric'],
      [{ ...COUNT, args: [{ index: 0, name: 'amount', type: 'i64' }] }, 'args'],
    ];
    for (const [spec, field] of bad) {
      const r = await deploy(spec);
      assert.equal(r.status, 400, `${JSON.stringify(spec)}: ${r.body}`);
      assert.equal(r.json.error.field, field, r.body);
    }
    const list = await jg.request('GET', `/v1/services/${SVC}/probes`, bearer(tok.probe));
    assert.deepEqual(list.json.probes, []);
  });

  test('a condition or a histogram on personal data needs read-pii to deploy', async () => {
    let r = await deploy({ ...COUNT, conditions: [{ field: 'customer_email', op: 'contains', value: '@example.com' }] });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error.code, 'insufficient_capability');
    r = await deploy({ ...HIST, metric: { type: 'histogram', field: 'customer_email' } });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error.code, 'insufficient_capability');
    assert.match(r.json.error.message, /histogram of 'customer_email'.*read-pii/);
  });

  test('the demo\'s calls arrive as points counting exactly the calls matched; read with read-metrics only', async () => {
    const c = await deploy(COUNT);
    assert.equal(c.status, 201, c.body);
    assert.deepEqual(c.json.metric, { type: 'count', interval_seconds: 1 });
    const h = await deploy({ ...HIST, metric: { type: 'histogram', field: 'amount' } });
    assert.equal(h.status, 201, h.body);
    assert.deepEqual(h.json.metric, { type: 'histogram', field: 'amount', interval_seconds: 10 });
    const poll = await jg.request('GET', `/v1/agents/probes?service=${SVC}`, bearer(key));
    assert.deepEqual(poll.json.probes.find((p) => p.id === h.json.id).metric, h.json.metric);
    assert.equal(poll.json.probes.find((p) => p.id === c.json.id).kind, 'metric');

    // 20 calls a second for 3 seconds; the agent stops with one last point of each probe
    const run = spawnSync(DEMO, [jg.url, SVC, keyFile, join(jg.dir, 'cert.pem'), '20', '3'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(run.status, 0, run.stderr);
    const stats = JSON.parse(run.stdout);
    assert.ok(stats.matched >= 10, run.stdout);
    assert.equal(stats.matched % 2, 0, 'both probes see every call: ' + run.stdout);
    const calls = stats.matched / 2;

    // the count: delta points of calls, one a second (interval_seconds 1), adding up to the calls
    let r = await metrics(tok.metrics, `&name=probe.${c.json.id}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.metrics.length, 1, r.body);
    const [count] = r.json.metrics;
    assert.equal(count.name, `probe.${c.json.id}`);
    assert.deepEqual([count.kind, count.temporality, count.monotonic], ['sum', 'delta', true]);
    const countPoints = count.series[0].points;
    assert.ok(countPoints.length >= 2, `one point a second: ${r.body}`);
    assert.equal(countPoints.reduce((a, p) => a + p.value, 0), calls);

    // the histogram of amount (1-5000 in the demo): the same calls, in OpenTelemetry's buckets
    r = await metrics(tok.metrics, `&name=probe.${h.json.id}`);
    assert.equal(r.status, 200, r.body);
    const [hist] = r.json.metrics;
    assert.deepEqual([hist.kind, hist.temporality], ['histogram', 'delta']);
    const hp = hist.series[0].points;
    assert.equal(hp.reduce((a, p) => a + p.count, 0), calls);
    for (const p of hp) {
      assert.deepEqual(p.buckets.map((b) => b.upper_bound), [...BOUNDS, '+Inf']);
      assert.equal(p.buckets.reduce((a, b) => a + b.count, 0), p.count);
      assert.equal(p.buckets[0].count, 0, 'no amount is 0 or less');
      assert.ok(p.buckets.slice(13).every((b) => b.count === 0), 'no amount above 5000');
      assert.ok(p.min >= 1 && p.max <= 5000 && p.min <= p.max, JSON.stringify(p));
      assert.ok(p.sum >= p.count * p.min && p.sum <= p.count * p.max, JSON.stringify(p));
    }
    // a step folds delta points into their windows' totals; nothing is lost
    r = await metrics(tok.metrics, `&name=probe.${c.json.id}&step=3600s`);
    assert.equal(r.status, 200, r.body);
    const folded = r.json.metrics[0].series[0].points;
    assert.ok(folded.length >= 1 && folded.length <= 2, r.body);
    assert.equal(folded.reduce((a, p) => a + p.value, 0), calls);

    // listed with the service's metrics; no argument value anywhere in what jitgate keeps
    r = await metrics(tok.metrics);
    assert.equal(r.status, 200, r.body);
    const names = r.json.metrics.map((m) => m.name);
    assert.ok(names.includes(`probe.${c.json.id}`) && names.includes(`probe.${h.json.id}`), r.body);
    const rows = await jg.db.rows('SELECT event FROM probe_events WHERE probe_id = ?', [h.json.id]);
    assert.ok(rows.length >= 1);
    for (const { event } of rows) {
      assert.doesNotMatch(event, /example\.com|EUR|USD|GBP|adyen|stripe|mollie/, event);
      assert.deepEqual(Object.keys(JSON.parse(event)).sort(), ['event_id', 'function', 'metric', 'ts']);
    }

    // read-metrics only: not with deploy-probe or read-logs, and never as probe events
    for (const t of [tok.probe, tok.logs]) {
      r = await metrics(t, `&name=probe.${c.json.id}`);
      assert.equal(r.status, 403, r.body);
      assert.equal(r.json.error.code, 'insufficient_capability');
    }
    r = await jg.request('GET', `/v1/services/${SVC}/probes/${c.json.id}/events`, bearer(tok.probe));
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'metric_probe');
    assert.match(r.json.error.message, new RegExp(`probe\\.${c.json.id}`));

    // the deploy is audited with its spec; each read of the points too
    const exp = await jg.auditor('GET', '/v1/audit/export');
    const entries = exp.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l));
    const deployed = entries.filter((e) => e.type === 'probe.deploy' && e.data.probe === h.json.id);
    assert.equal(deployed.length, 1);
    assert.equal(deployed[0].data.params.kind, 'metric');
    assert.deepEqual(deployed[0].data.params.metric, { type: 'histogram', field: 'amount' });
    assert.ok(entries.some((e) => e.type === 'metrics.read' && e.data.params.name === `probe.${h.json.id}`));
  });

  test('a probe on personal data: its points need read-pii to read, and only such readers see it listed', async () => {
    const d = await deploy({ ...COUNT, conditions: [{ field: 'customer_email', op: 'contains', value: '@' }] }, tok.probePii);
    assert.equal(d.status, 201, d.body);
    const stored = await postPoints(d.json.id, [point({ start: new Date(Date.now() - 1000).toISOString(), count: 4 })]);
    assert.equal(stored.status, 201, stored.body);
    assert.equal(stored.json.stored, 1, stored.body);

    const refusals = (await jg.db.entries({ type: 'guard.refused' })).length;
    let r = await metrics(tok.metrics, `&name=probe.${d.json.id}`);
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error.code, 'insufficient_capability');
    assert.match(r.json.error.message, /read-pii/);
    // refused by the guard, recorded as a refusal (not as a read)
    assert.equal((await jg.db.entries({ type: 'guard.refused' })).length, refusals + 1);
    r = await metrics(tok.metrics);
    assert.ok(!r.json.metrics.some((m) => m.name === `probe.${d.json.id}`), r.body);

    r = await metrics(tok.metricsPii, `&name=probe.${d.json.id}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.metrics[0].series[0].points.map((p) => p.value), [4]);
    r = await metrics(tok.metricsPii);
    assert.ok(r.json.metrics.some((m) => m.name === `probe.${d.json.id}`), r.body);
  });

  test('an agent that sends anything but a well-formed point is refused per event', async () => {
    const d = await deploy({ ...HIST, duration: 300 });
    assert.equal(d.status, 201, d.body);
    const ok = [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const r = await postPoints(d.json.id, [
      histPoint(ok, { sum: 20009, min: 3, max: 20000 }),
      { ...histPoint(ok), args: { amount: 3 } },
      histPoint(ok.slice(1)),
      { ...histPoint(ok), metric: { ...histPoint(ok).metric, count: 5 } },
      histPoint(ok, { min: 5, max: 1 }),
      point({ start: new Date().toISOString(), count: 4 }),
      { ...histPoint(ok), message: 'charge 3' },
      point({ ...histPoint(ok).metric, start: new Date(Date.now() + 60000).toISOString() }),
      { ...histPoint(ok), event_id: { email: 'ann@example.com' } },
      { ...histPoint(ok), function: 'Other.function' },
      // a point from 20 minutes ago: it would spend a hit and show in no window read near now
      point(histPoint(ok).metric, new Date(Date.now() - 20 * 60000).toISOString()),
    ]);
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.stored, 1, r.body);
    assert.deepEqual(r.json.refused, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((index) => ({ index, code: 'over_limits' })));
    const m = await metrics(tok.metrics, `&name=probe.${d.json.id}`);
    assert.equal(m.status, 200, m.body);
    const [p] = m.json.metrics[0].series[0].points;
    assert.deepEqual([p.count, p.sum, p.min, p.max], [4, 20009, 3, 20000]);
    assert.deepEqual(p.buckets.map((b) => b.count), ok);
  });

  test('a histogram\'s min, max and sum that are card numbers are redacted for a reader without read-pii', async () => {
    // a field whose name says nothing: what it holds is only seen when it is read
    const d = await deploy({ ...HIST, metric: { type: 'histogram', field: 'ref' }, duration: 300 });
    assert.equal(d.status, 201, d.body);
    const card = 4111111111111111;
    const one = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const r = await postPoints(d.json.id, [histPoint(one, { sum: card, min: card, max: card })]);
    assert.equal(r.json.stored, 1, r.body);
    let m = await metrics(tok.metrics, `&name=probe.${d.json.id}`);
    assert.equal(m.status, 200, m.body);
    let [p] = m.json.metrics[0].series[0].points;
    assert.deepEqual([p.min, p.max, p.sum], Array(3).fill('[REDACTED:card]'));
    assert.ok(!m.body.includes('4111111111111111'), m.body);
    m = await metrics(tok.metricsPii, `&name=probe.${d.json.id}`);
    [p] = m.json.metrics[0].series[0].points;
    assert.deepEqual([p.min, p.max, p.sum], [card, card, card]);
  });
});
