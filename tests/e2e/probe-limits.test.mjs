// The per-probe limits (docs/agents.md, "Limits"), end to end through real
// HTTPS: the real binary against one database (SQLite, or PostgreSQL with
// JG_E2E_DB=postgres), its own real OpenID provider (alice payments-eng, bob
// payments-leads) and policies/payments.yaml.
//
// The test plays a misbehaving agent that ignores every limit and posts all
// it has: jitgate stores exactly what fits (the burst, max_hits, the shape of
// each event), refuses the rest per event, disables the probe at max_hits
// with an audited probe.disabled, takes it from the poll and refuses later
// posts (409).  Also: the limits at deploy (defaults, bounds, 400s) and the
// agent's report that its CPU guard disabled a probe.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startJitgate, cleanup, BIN } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const OTHER = 'checkout-api';
const INC = 'INC-4711 payment retries failing in eu-west';
const PROBE = { function: 'PaymentProcessor.selectProvider', capture_args: true, capture_return: true, duration: 600 };
const DEFAULTS = { max_hits: 100, max_events_per_second: 10, max_depth: 3, max_string_bytes: 255, max_collection_items: 100, max_fields: 20, max_cpu_ms_per_second: 5 };
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

describe('per-probe limits', () => {
  let jg;
  const keys = {};
  let token;

  const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
  const json = (o, auth) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) } });
  const poll = async (key) => {
    const r = await jg.request('GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200, r.body);
    return r.json.probes;
  };
  const postEvents = (key, id, events) => jg.request('POST', `/v1/agents/probes/${id}/events`, json({ events }, key));
  const disable = (key, id, body) => jg.request('POST', `/v1/agents/probes/${id}/disable`, json(body, key));
  const deployRaw = (spec) => jg.request('POST', `/v1/services/${SVC}/probes`, json(spec, token));
  const deploy = async (spec) => {
    const r = await deployRaw(spec);
    assert.equal(r.status, 201, r.body);
    return r.json;
  };
  const listed = async () => {
    const r = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.body);
    return r.json.probes;
  };
  const stored = (id) => jg.db.count('probe_events', 'probe_id = ?', [id]);
  const entries = async (type) => {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    return r.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l)).filter((e) => e.type === type);
  };

  before(async () => {
    jg = await startJitgate();
    for (const [svc, owners] of [[SVC, 'payments-eng,payments-leads'], [OTHER, 'checkout-eng']]) {
      assert.equal(cli('service', 'add', svc, '--owners', owners).status, 0);
      keys[svc] = cli('ingest-key', 'create', svc).stdout.trim();
    }
    ({ token } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe'], justification: INC }));
  });
  after(() => cleanup(jg));

  test('limits at deploy: defaults for members left out, bounds checked (400 naming the member), shown in the list and the poll', async () => {
    const bad = [
      [{ limits: 5 }, 'limits'],
      [{ limits: [1] }, 'limits'],
      [{ limits: { max_bytes: 10 } }, 'limits'],
      [{ limits: { max_hits: 0 } }, 'max_hits'],
      [{ limits: { max_hits: 10001 } }, 'max_hits'],
      [{ limits: { max_hits: '5' } }, 'max_hits'],
      [{ limits: { max_hits: 5.5 } }, 'max_hits'],
      [{ limits: { max_events_per_second: 101 } }, 'max_events_per_second'],
      [{ limits: { max_depth: 9 } }, 'max_depth'],
      [{ limits: { max_string_bytes: 15 } }, 'max_string_bytes'],
      [{ limits: { max_collection_items: 1001 } }, 'max_collection_items'],
      [{ limits: { max_fields: 0 } }, 'max_fields'],
      [{ limits: { max_cpu_ms_per_second: 101 } }, 'max_cpu_ms_per_second'],
    ];
    const before = (await listed()).length;
    for (const [extra, field] of bad) {
      const r = await deployRaw({ ...PROBE, ...extra });
      assert.equal(r.status, 400, `${JSON.stringify(extra)}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
      assert.equal(r.json.error.field, field, r.body);
    }
    assert.equal((await listed()).length, before, 'a refused deploy left a probe');

    const plain = await deploy(PROBE);
    const set = await deploy({ ...PROBE, limits: { max_hits: 10000, max_depth: 8, max_string_bytes: 16 } });
    const want = { [plain.id]: DEFAULTS, [set.id]: { ...DEFAULTS, max_hits: 10000, max_depth: 8, max_string_bytes: 16 } };
    // the deploy's reply shows all seven too
    assert.deepEqual(plain.limits, want[plain.id]);
    assert.deepEqual(set.limits, want[set.id]);
    for (const list of [await listed(), await poll(keys[SVC])]) {
      for (const id of [plain.id, set.id]) assert.deepEqual(list.find((p) => p.id === id)?.limits, want[id]);
    }
  });

  test('a misbehaving agent that ignores the limits is cut off by the server: exact counts, probe.disabled, 409 afterwards, gone from the poll', async () => {
    const probe = await deploy({ ...PROBE, limits: { max_hits: 32, max_events_per_second: 5, max_string_bytes: 16 } });
    assert.ok((await poll(keys[SVC])).some((p) => p.id === probe.id));
    const ev = (i) => ({ ts: `t${i}`, function: PROBE.function, args: { i, s: '0123456789abcdef' } });
    const batch = (from, n) => Array.from({ length: n }, (_, i) => ev(from + i));

    // a burst of 20 at once, one of them over max_string_bytes: 15 stored (the burst: 3 seconds' worth
    // at 5 a second), the rest refused per event
    const a = batch(0, 20);
    a[2].args.s += 'g';
    let r = await postEvents(keys[SVC], probe.id, a);
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.stored, 15);
    assert.equal(r.json.last_id - r.json.first_id, 14);
    assert.deepEqual(r.json.refused, [{ index: 2, code: 'over_limits' }, ...[16, 17, 18, 19].map((index) => ({ index, code: 'rate' }))]);
    assert.equal(stored(probe.id), 15);

    // after a pause longer than the burst takes to refill, the bucket holds the burst again, never more
    await sleep(3500);
    r = await postEvents(keys[SVC], probe.id, batch(20, 20));
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.stored, 15);
    assert.deepEqual(r.json.refused.map((x) => [x.index, x.code]), [15, 16, 17, 18, 19].map((i) => [i, 'rate']));
    assert.ok((await poll(keys[SVC])).some((p) => p.id === probe.id), 'rate refusals disabled the probe');

    // the batch that crosses max_hits (32) stores exactly up to it; the probe is disabled
    await sleep(1100);
    r = await postEvents(keys[SVC], probe.id, batch(40, 10));
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.stored, 2);
    assert.deepEqual(r.json.refused.map((x) => [x.index, x.code]), [2, 3, 4, 5, 6, 7, 8, 9].map((i) => [i, 'max_hits']));
    assert.equal(stored(probe.id), 32);

    const dis = (await entries('probe.disabled')).filter((e) => e.data.probe === probe.id);
    assert.equal(dis.length, 1);
    assert.equal(dis[0].actor, `agent:${SVC}`);
    assert.deepEqual({ ...dis[0].data }, { probe: probe.id, grant: probe.grant, service: SVC, reason: 'max_hits', max_hits: 32 });
    const ing = (await entries('probe.events.ingested')).filter((e) => e.data.probe === probe.id);
    assert.deepEqual(ing.map((e) => [e.data.count, e.data.refused]), [[15, 5], [15, 5], [2, 8]]);

    // afterwards: not polled, not listed, every post refused with nothing stored
    assert.ok(!(await poll(keys[SVC])).some((p) => p.id === probe.id), 'a disabled probe is still polled');
    assert.ok(!(await listed()).some((p) => p.id === probe.id), 'a disabled probe is still listed as live');
    await sleep(1100);
    r = await postEvents(keys[SVC], probe.id, [ev(99)]);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'probe_disabled');
    assert.equal(stored(probe.id), 32);
    // the engineer still reads what was stored
    const read = await jg.request('GET', `/v1/services/${SVC}/probes/${probe.id}/events?limit=100`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(read.status, 200, read.body);
    const first = [0, 1, ...Array.from({ length: 13 }, (_, i) => 3 + i)];
    const second = Array.from({ length: 15 }, (_, i) => 20 + i);
    assert.deepEqual(read.json.events.map((e) => e.event.args.i), [...first, ...second, 40, 41]);
  });

  test('the shape of captured values at each limit is stored, one past it refused per event', async () => {
    const probe = await deploy({ ...PROBE, limits: { max_depth: 2, max_string_bytes: 16, max_collection_items: 3, max_fields: 3, max_events_per_second: 100 } });
    const pairs = [
      [{ args: { a: { b: 1, c: {} } } }, { args: { a: { b: { c: 1 } } } }],
      [{ return: '0123456789abcdef' }, { return: '0123456789abcdefg' }],
      [{ error: 'éééééééé' }, { error: 'éééééééé!' }],
      [{ args: { l: [1, 2, 3] } }, { args: { l: [1, 2, 3, 4] } }],
      [{ args: { x: 1, y: 2, z: 3 } }, { args: { w: 0, x: 1, y: 2, z: 3 } }],
      [{ return: { x: 1, y: 2, z: 3 } }, { return: { w: 0, x: 1, y: 2, z: 3 } }],
    ];
    const r = await postEvents(keys[SVC], probe.id, pairs.flat());
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.stored, pairs.length);
    assert.deepEqual(r.json.refused, pairs.map((_, i) => ({ index: 2 * i + 1, code: 'over_limits' })));
  });

  test('the agent reports its CPU guard disabled a probe: audited, no longer polled, later posts 409', async () => {
    const probe = await deploy(PROBE);
    for (const body of [{}, { reason: 'slow', cpu_ms_per_second: 7 }, { reason: 'cpu' }, { reason: 'cpu', cpu_ms_per_second: '7' },
      { reason: 'cpu', cpu_ms_per_second: -1 }, { reason: 'cpu', cpu_ms_per_second: 7, extra: 1 }]) {
      const r = await disable(keys[SVC], probe.id, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
    }
    let r = await disable(keys[OTHER], probe.id, { reason: 'cpu', cpu_ms_per_second: 7.4 });
    assert.equal(r.status, 404, r.body);
    r = await disable(keys[SVC], 'prb_doesnotexist', { reason: 'cpu', cpu_ms_per_second: 7.4 });
    assert.equal(r.status, 404, r.body);
    r = await jg.request('POST', `/v1/agents/probes/${probe.id}/disable`, json({ reason: 'cpu', cpu_ms_per_second: 7.4 }));
    assert.equal(r.status, 401, r.body);
    assert.ok((await poll(keys[SVC])).some((p) => p.id === probe.id), 'a refused report disabled the probe');

    r = await disable(keys[SVC], probe.id, { reason: 'cpu', cpu_ms_per_second: 7.4 });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { probe: probe.id, disabled: 'cpu' });
    assert.ok(!(await poll(keys[SVC])).some((p) => p.id === probe.id), 'a disabled probe is still polled');
    r = await disable(keys[SVC], probe.id, { reason: 'cpu', cpu_ms_per_second: 9 });
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'probe_not_live');
    r = await postEvents(keys[SVC], probe.id, [{ ts: 1 }]);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'probe_disabled');

    const dis = (await entries('probe.disabled')).filter((e) => e.data.probe === probe.id);
    assert.equal(dis.length, 1);
    assert.equal(dis[0].actor, `agent:${SVC}`);
    assert.equal(dis[0].data.reason, 'cpu');
    assert.equal(dis[0].data.cpu_ms_per_second, 8); // whole milliseconds, rounded up
    assert.equal(dis[0].data.grant, probe.grant);
    assert.match(dis[0].data.ingest_key, /^igk_/);
  });
});
