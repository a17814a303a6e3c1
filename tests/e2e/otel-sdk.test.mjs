// OTLP compatibility with a real sender: the official OpenTelemetry JavaScript SDK and its
// OTLP/HTTP JSON exporters (@opentelemetry/exporter-{trace,logs,metrics}-otlp-http, as pinned in
// package-lock.json) send a trace, log records and metrics to jitgate's ingest endpoints with a
// service's ingest key (tests/e2e/lib/otel-sender.mjs, run as its own process); an engineer reads
// them back through the guard.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startJitgate, cleanup, BIN, ROOT } from './lib/harness.mjs';

const SVC = 'payment-service';

describe('the OpenTelemetry JavaScript SDK as a sender', () => {
  let jg;
  let sent;
  let token;

  before(async () => {
    jg = await startJitgate();
    const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng').status, 0);
    const key = cli('ingest-key', 'create', SVC).stdout.trim();
    const r = spawnSync(process.execPath, [join(ROOT, 'tests', 'e2e', 'lib', 'otel-sender.mjs')], {
      encoding: 'utf8',
      timeout: 30000,
      env: { ...process.env, JG_URL: jg.url, JG_KEY: key, NODE_EXTRA_CA_CERTS: join(jg.dir, 'cert.pem') },
    });
    assert.equal(r.status, 0, r.stderr);
    sent = JSON.parse(r.stdout);
    const post = (user, path, body) => jg.as(user, 'POST', path, body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {});
    const g = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs', 'read-traces', 'read-metrics'], duration: '1h', justification: 'INC-1 checking the SDK' });
    assert.equal(g.status, 201, g.body);
    token = (await post('alice', `/v1/grants/${g.json.id}/token`)).json.token;
  });
  after(() => cleanup(jg));

  const read = (path) => jg.request('GET', path, { headers: { authorization: `Bearer ${token}` } });

  test('every export was accepted (200)', () => {
    assert.deepEqual(sent.failures, []);
    assert.ok(jg.logLines().filter((l) => l.route?.startsWith('/v1/ingest/')).every((l) => l.status === 200), jg.stderr.slice(-2000));
    for (const kind of ['traces', 'logs', 'metrics']) {
      assert.ok(jg.logLines().some((l) => l.route === `/v1/ingest/${kind}` && l.status === 200), `no ${kind} export arrived`);
    }
  });

  test('the trace reads back as the SDK made it', async () => {
    const r = await read(`/v1/services/${SVC}/traces/${sent.trace_id}`);
    assert.equal(r.status, 200, r.body);
    const [root] = r.json.spans;
    assert.equal(root.span_id, sent.root);
    assert.equal(root.name, 'POST /v1/refunds');
    assert.equal(root.kind, 'server');
    assert.equal(root.status, 'error');
    assert.equal(root.error, 'refund failed');
    assert.equal(root.service_version, '9.9.9');
    assert.equal(root.instance, 'sdk-1');
    assert.deepEqual(root.attributes, { 'http.route': '/v1/refunds', 'refund.amount_cents': 4200, 'customer.email': '[REDACTED:email]' });
    assert.equal(root.children.length, 1);
    const child = root.children[0];
    assert.equal(child.span_id, sent.child);
    assert.equal(child.parent_span_id, sent.root);
    assert.deepEqual([child.kind, child.status, child.error, child.error_code], ['client', 'error', 'deadlock detected', 'DEADLOCK']);
    assert.deepEqual(child.events.map((e) => [e.name, e.attributes]), [['retry', { attempt: 2 }]]);
  });

  test('the log records read back, one linked to the trace', async () => {
    const r = await read(`/v1/services/${SVC}/logs`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.logs.length, 2);
    const linked = await read(`/v1/services/${SVC}/logs?trace_id=${sent.trace_id}`);
    assert.equal(linked.json.logs.length, 1);
    const [rec] = linked.json.logs;
    assert.deepEqual({ level: rec.level, severity_text: rec.severity_text, body: rec.body, attributes: rec.attributes, span_id: rec.span_id, scope: rec.scope },
      { level: 'error', severity_text: 'ERROR', body: 'refund failed for [REDACTED:email]', attributes: { 'refund.id': 'rf_1', attempt: 2 }, span_id: sent.root, scope: { name: 'jitgate-e2e', version: '1.0.0' } });
    assert.equal(rec.resource['service.name'], SVC);
  });

  test('the counter and the histogram read back as series', async () => {
    const c = await read(`/v1/services/${SVC}/metrics?name=refunds.processed`);
    assert.equal(c.status, 200, c.body);
    const [counter] = c.json.metrics;
    assert.deepEqual([counter.kind, counter.temporality, counter.monotonic, counter.unit], ['sum', 'cumulative', true, '{refund}']);
    assert.deepEqual(counter.series[0].attributes, { outcome: 'failed', 'service.instance.id': 'sdk-1' });
    assert.ok(counter.series[0].points.every((p) => p.value === 3));
    const h = (await read(`/v1/services/${SVC}/metrics?name=refund.duration`)).json.metrics[0];
    assert.equal(h.kind, 'histogram');
    const p = h.series[0].points[0];
    assert.deepEqual([p.count, p.sum, p.min, p.max], [1, 120, 120, 120]);
    assert.equal(p.buckets.at(-1).upper_bound, '+Inf');
    assert.equal(p.buckets.find((b) => b.count === 1).upper_bound, 250);
  });
});
