// A probe's max_hits across replicas (docs/agents.md, "Hits, rate and disabling"; docs/operations.md,
// "Running several replicas"): two jitgate replicas on one PostgreSQL database, started as
// replicas.test.mjs starts them (harness startReplicas).  Agents of one service post to whichever
// replica the balancer gives them; here a misbehaving agent posts many batches for one probe to both
// replicas at once.  What a user relies on: the probe holds exactly max_hits events, however the batches
// interleave (each batch reads and locks the probe's row, FOR UPDATE, in the audit writer's
// transaction); every event is either stored, refused per event, or in a batch refused whole (409) once
// the probe is disabled; one probe.disabled entry, no probe.events.ingested after it, and the log
// verifies.
// PostgreSQL only: a SQLite file serves one process (tests/e2e/README.md).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { startReplicas, postgresOnly, runJitgate } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const json = (o, auth) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) } });

postgresOnly(describe)('a probe\'s max_hits on two replicas of one database', () => {
  let set;
  let key;
  let token;
  const A = () => set.replicas[0];
  const B = () => set.replicas[1];
  const cli = (jg, ...args) => runJitgate([...args, '-c', jg.configPath]);

  before(async () => {
    set = await startReplicas(2);
    let r = cli(A(), 'service', 'add', SVC, '--owners', 'payments-eng,payments-leads');
    assert.equal(r.code, 0, r.stderr);
    r = cli(B(), 'ingest-key', 'create', SVC);
    assert.equal(r.code, 0, r.stderr);
    key = r.stdout.trim();
    const q = await A().as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
    assert.equal(q.status, 201, q.body);
    assert.equal((await B().as('bob', 'POST', `/v1/requests/${q.json.id}/approve`, json({}))).status, 200);
    const t = await A().as('alice', 'POST', `/v1/grants/${q.json.id}/token`, json({}));
    assert.equal(t.status, 201, t.body);
    token = t.json.token;
  });
  after(async () => { if (set) await set.close(); });

  test('batches racing on both replicas store exactly max_hits events; the rest is refused, one probe.disabled', async () => {
    const MAX = 57;
    const d = await A().request('POST', `/v1/services/${SVC}/probes`, json({
      function: 'PaymentProcessor.selectProvider', capture_args: true, duration: 600,
      limits: { max_hits: MAX, max_events_per_second: 100 }, // burst 300: the rate never refuses here
    }, token));
    assert.equal(d.status, 201, d.body);
    const probe = d.json.id;

    // 2 replicas x 6 batches x 20 events = 240 events for 57 hits, all in flight at once
    const batches = [];
    for (let i = 0; i < 12; i++) {
      const events = Array.from({ length: 20 }, (_, j) => ({ ts: Date.now(), args: { batch: i, n: j } }));
      batches.push((i % 2 ? B() : A()).request('POST', `/v1/agents/probes/${probe}/events`, json({ events }, key)));
    }
    const replies = await Promise.all(batches);
    let stored = 0;
    let refused = 0;
    let whole = 0;
    for (const r of replies) {
      if (r.status === 201) {
        stored += r.json.stored;
        for (const x of r.json.refused) assert.equal(x.code, 'max_hits', r.body);
        refused += r.json.refused.length;
        assert.equal(r.json.stored + r.json.refused.length, 20, r.body);
      } else {
        assert.equal(r.status, 409, r.body);
        assert.equal(r.json.error.code, 'probe_disabled', r.body);
        whole += 20;
      }
    }
    assert.equal(stored, MAX, 'replies acknowledged more or fewer events than max_hits');
    assert.equal(stored + refused + whole, 240);
    assert.equal(set.db.count('probe_events', 'probe_id = ?', [probe]), MAX);

    // each batch's stored events are its first ones, in order: refusal at max_hits is per event, a tail
    const rows = set.db.rows('SELECT event FROM probe_events WHERE probe_id = ? ORDER BY id', [probe]);
    const byBatch = new Map();
    for (const { event } of rows) {
      const { batch, n } = JSON.parse(event).args;
      byBatch.set(batch, [...(byBatch.get(batch) ?? []), n]);
    }
    for (const ns of byBatch.values()) assert.deepEqual(ns, ns.map((_, i) => i));

    const ingested = set.db.entries({ type: 'probe.events.ingested', where: (e) => e.json.data.probe === probe });
    assert.equal(ingested.reduce((n, e) => n + e.json.data.count, 0), MAX);
    const disabled = set.db.entries({ type: 'probe.disabled', where: (e) => e.json.data.probe === probe });
    assert.equal(disabled.length, 1);
    assert.equal(disabled[0].json.data.reason, 'max_hits');
    assert.equal(disabled[0].json.data.max_hits, MAX);
    assert.ok(ingested.every((e) => e.seq < disabled[0].seq), 'events were recorded after the probe was disabled');

    // neither replica polls it any longer, and the one chain verifies
    for (const jg of [A(), B()]) {
      const p = await jg.request('GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(p.status, 200, p.body);
      assert.ok(!p.json.probes.some((x) => x.id === probe), 'a disabled probe is still polled');
    }
    const exp = await B().auditor('GET', '/v1/audit/export');
    assert.equal(exp.status, 200, exp.body);
    const pub = cli(A(), 'keys', 'public', '--kind', 'checkpoint');
    assert.equal(pub.code, 0, pub.stderr);
    writeFileSync(join(set.dir, 'checkpoint.pub'), pub.stdout);
    writeFileSync(join(set.dir, 'export.jsonl'), exp.body);
    const v = runJitgate(['audit', 'verify', join(set.dir, 'export.jsonl'), '--key', join(set.dir, 'checkpoint.pub')]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
  });
});
