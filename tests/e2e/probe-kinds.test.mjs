// Probe kinds (docs/agents.md, "Probe kinds"): a log probe sends one message rendered by the agent
// from its template, and nothing it captured.  End to end through real HTTPS: the real binary
// against one database (SQLite, or PostgreSQL with JG_E2E_DB=postgres), its own OpenID provider,
// policies/payments.yaml, and the demo service build/payments_demo linked with the reference agent.
//
// What a user relies on: a log probe is deployed with a template (clear 400s otherwise), its
// placeholders on personal data need read-pii as conditions do, the demo's calls arrive as
// messages with the right values and no argument values beside them, an agent that sends
// captured values for a log probe is refused per event, and the deploy is audited with the
// template.
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
const LOG = { function: FN, kind: 'log', template: 'charge {amount} {currency} via {return}', duration: 600 };

describe('probe kinds: log probes', () => {
  let jg;
  let key;
  let keyFile;
  let token;

  const json = (o, auth) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) } });
  const deploy = (spec) => jg.request('POST', `/v1/services/${SVC}/probes`, json(spec, token));
  const events = async (id) => {
    const r = await jg.request('GET', `/v1/services/${SVC}/probes/${id}/events?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.body);
    return r.json.events;
  };

  before(async () => {
    assert.ok(existsSync(DEMO), `${DEMO} is not built (make build)`);
    jg = await startJitgate();
    ({ key, keyFile } = jg.serviceWithKey(SVC));
    ({ token } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe'], justification: INC }));
  });
  after(() => cleanup(jg));

  test('a bad kind or template is a 400 naming the field; nothing is deployed', async () => {
    const bad = [
      [{ ...LOG, kind: 'histogram' }, 'kind'],
      [{ ...LOG, kind: 7 }, 'kind'],
      [{ function: FN, kind: 'log', duration: 600 }, 'template'],
      [{ ...LOG, template: 'no placeholder' }, 'template'],
      [{ ...LOG, template: 'a } b {amount}' }, 'template'],
      [{ ...LOG, template: '{customer[0]}' }, 'template'],
      [{ ...LOG, template: 'x'.repeat(510) + '{a}' }, 'template'],
      [{ ...LOG, capture_args: true }, 'capture_args'],
      [{ ...LOG, capture_return: true }, 'capture_return'],
      [{ function: FN, duration: 600, template: '{amount}' }, 'template'],
    ];
    for (const [spec, field] of bad) {
      const r = await deploy(spec);
      assert.equal(r.status, 400, `${JSON.stringify(spec)}: ${r.body}`);
      assert.equal(r.json.error.field, field, r.body);
    }
    const list = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(list.json.probes, []);
  });

  test('a placeholder on personal data needs read-pii, as a condition on it does', async () => {
    const r = await deploy({ ...LOG, template: 'receipt for {customer_email}' });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error.code, 'insufficient_capability');
    assert.match(r.json.error.message, /\{customer_email\}.*read-pii/);
    // a condition on it, the template naming nothing personal: refused the same for a log probe
    const c = await deploy({ ...LOG, conditions: [{ field: 'customer_email', op: 'eq', value: 'ann@example.com' }] });
    assert.equal(c.status, 403, c.body);
    assert.equal(c.json.error.code, 'insufficient_capability');
    assert.match(c.json.error.message, /customer_email.*read-pii/);
  });

  test('the demo\'s calls arrive as rendered messages, nothing captured beside them; the deploy is audited with its template', async () => {
    const d = await deploy(LOG);
    assert.equal(d.status, 201, d.body);
    assert.equal(d.json.kind, 'log');
    const listed = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } });
    const mine = listed.json.probes.find((p) => p.id === d.json.id);
    assert.equal(mine.kind, 'log');
    assert.equal(mine.template, LOG.template);
    const poll = await jg.request('GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer ${key}` } });
    const polled = poll.json.probes.find((p) => p.id === d.json.id);
    assert.equal(polled.kind, 'log');
    assert.equal(polled.template, LOG.template);

    const run = spawnSync(DEMO, [jg.url, SVC, keyFile, join(jg.dir, 'cert.pem'), '20', '3'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(run.status, 0, run.stderr);
    const got = await events(d.json.id);
    assert.ok(got.length >= 5, `only ${got.length} events: ${run.stdout}`);
    for (const { event } of got) {
      assert.match(event.message, /^charge \d+ (EUR|USD|GBP) via (adyen|stripe|mollie)$/);
      const [, amount, currency, provider] = event.message.match(/^charge (\d+) (\w+) via (\w+)$/);
      // the demo's own rule (select_provider): the values are the call's, not made up
      assert.equal(provider, Number(amount) > 2500 ? 'adyen' : currency === 'USD' ? 'stripe' : 'mollie');
      assert.ok(!('args' in event) && !('return' in event), JSON.stringify(event));
      assert.equal(event.function, FN);
    }
    const exp = await jg.auditor('GET', '/v1/audit/export');
    const deployed = exp.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l))
      .filter((e) => e.type === 'probe.deploy' && e.data.probe === d.json.id);
    assert.equal(deployed.length, 1);
    assert.equal(deployed[0].data.params.kind, 'log');
    assert.equal(deployed[0].data.params.template, LOG.template);
  });

  test('an agent that sends captured values for a log probe is refused per event', async () => {
    const d = await deploy({ ...LOG, limits: { max_string_bytes: 16 } });
    assert.equal(d.status, 201, d.body);
    // "charge ", " " and " via ": 13 bytes of text, 3 placeholders of at most 32 (strings are cut to
    // 16, but a number may take 32): up to 109 bytes
    const r = await jg.request('POST', `/v1/agents/probes/${d.json.id}/events`, json({ events: [
      { message: 'charge 1 EUR via mollie' },
      { message: 'charge 1 EUR via mollie', args: { amount: 1 } },
      { args: { amount: 1 } },
      { message: 'm'.repeat(109) },
      { message: 'm'.repeat(110) },
    ] }, key));
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.stored, 2, r.body);
    assert.deepEqual(r.json.refused, [1, 2, 4].map((index) => ({ index, code: 'over_limits' })));
  });
});
