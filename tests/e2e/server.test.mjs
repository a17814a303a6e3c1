// The server's threads (docs/operations.md#threads): a few event loops carry every connection, the
// handlers that may block run on limits.worker_threads workers, and a guarded call waits for its
// durable audit entry with its connection suspended, not a thread held.  What users rely on:
//   - guarded calls and /healthz answer while the workers are stuck on a hanging identity provider;
//   - SIGTERM under guarded load ends cleanly (exit 0): no call is cut while it waits for its entry,
//     and every call that was answered 200 has its entry in the log.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { startJitgate, cleanup, TEST_LIMITS } from './lib/harness.mjs';
import { hangProvider, unknownKidToken } from './lib/common.mjs';

const SVC = 'payment-gateway';
const PROBES = `/v1/services/${SVC}/probes`;
const INC = 'INC-5120 checkout latency in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
const named = (name, p) => p.catch((e) => { throw new Error(`${name}: ${e.message}`); });

// alice's deploy-probe grant (approved by bob) and a capability token for it
async function probeToken(jg) {
  const r = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
  assert.equal(r.status, 201, r.body);
  const ok = await jg.as('bob', 'POST', `/v1/requests/${r.json.id}/approve`, json({}));
  assert.equal(ok.status, 200, ok.body);
  const t = await jg.as('alice', 'POST', `/v1/grants/${r.json.id}/token`, json({}));
  assert.equal(t.status, 201, t.body);
  return t.json;
}


describe('event loops, workers and suspended connections', () => {
  test('the only worker stuck on a hanging provider: guarded calls and /healthz still answer at once', async () => {
    const jg = await startJitgate({ minRefresh: 1, extraConfig: `${TEST_LIMITS}\n  worker_threads: 1\n` });
    let hang;
    try {
      const { token } = await probeToken(jg);
      const guarded = () => jg.request('GET', PROBES, { headers: { authorization: `Bearer ${token}` } });
      assert.equal((await guarded()).status, 200);
      await jg.tokenFor('carol'); // carol's bearer token, for a call that needs a worker

      // the provider stops answering: same port, connections accepted, never a byte back
      hang = await hangProvider(jg.idp);
      const { held } = hang;
      await sleep(1100); // past jwks_min_refresh_seconds

      // a call with an unknown key id holds the only worker in the JWKS fetch
      const t0 = Date.now();
      const stuck = named('the call needing the JWKS', jg.request('GET', '/v1/requests?mine=true', { headers: { authorization: `Bearer ${unknownKidToken()}` } }));
      while (held.length === 0 && Date.now() - t0 < 3000) await sleep(20);
      assert.ok(held.length >= 1, 'jitgate did not contact the provider');
      await sleep(200);
      // another worker-run call queues behind it: proof that no worker is free
      const s3 = Date.now();
      const queued = named('the queued worker call', jg.as('carol', 'GET', '/v1/requests?mine=true')).then((r) => ({ r, ms: Date.now() - s3 }));

      const calls = await Promise.all(Array.from({ length: 24 }, (_, i) => {
        const s = Date.now();
        return named(i % 4 === 0 ? '/healthz' : 'a guarded call', i % 4 === 0 ? jg.request('GET', '/healthz') : guarded()).then((r) => ({ status: r.status, ms: Date.now() - s }));
      }));
      const worst = Math.max(...calls.map((c) => c.ms));
      for (const c of calls) assert.equal(c.status, 200);
      assert.ok(worst < 1500, `guarded calls waited for the workers: ${worst} ms`);

      const { r: q, ms: qms } = await queued;
      assert.equal(q.status, 200, q.body);
      assert.ok(qms > 1500 && qms > worst, `the queued worker call (${qms} ms) did not wait: the worker was not busy`);
      assert.equal((await stuck).status, 401);
    } finally {
      if (hang) hang.close();
      await cleanup(jg);
    }
  });

  // libmicrohttpd is given only the options that apply: one event loop is its internal polling
  // thread, not a pool of one (which it used to answer at every start with a warning).
  for (const loops of [1, 2]) {
    test(`event_threads: ${loops} starts with no libmicrohttpd warning, and serves`, async () => {
      const jg = await startJitgate({ idp: false, extraConfig: `${TEST_LIMITS}\n  event_threads: ${loops}\n` });
      try {
        assert.equal((await jg.request('GET', '/healthz')).status, 200);
        await jg.stop('SIGTERM');
        assert.match(jg.stderr, /"msg":"jitgate serving"/);
        const mhd = jg.logLines().filter((l) => l.source === 'libmicrohttpd' || /thread pool/i.test(l.msg));
        assert.deepEqual(mhd, [], `libmicrohttpd complained:\n${jg.stderr}`);
      } finally {
        await cleanup(jg);
      }
    });
  }

  test('SIGTERM under guarded load: exit 0, and every call answered 200 has its probe.list entry', async () => {
    const jg = await startJitgate();
    try {
      const { token } = await probeToken(jg);
      const { jti } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: jg.ca });
      let stop = false;
      let answered = 0;
      const statuses = [];
      const worker = async () => {
        while (!stop) {
          try {
            const r = await jg.request('GET', PROBES, { headers: { authorization: `Bearer ${token}` }, agent });
            statuses.push(r.status);
            if (r.status === 200) answered++;
          } catch {
            return; // the server closed: this client stops
          }
        }
      };
      const clients = Array.from({ length: 16 }, worker);
      // the load must be real before the signal: 200 calls answered 200 within a bound, or the
      // test fails saying what came back instead (it used to wait forever on a run of 503s)
      const until = Date.now() + 30000;
      while (answered < 200 && Date.now() < until) await sleep(10);
      if (answered < 200) {
        stop = true;
        await Promise.all(clients);
        agent.destroy();
        const histogram = {};
        for (const s of statuses) histogram[s] = (histogram[s] ?? 0) + 1;
        assert.fail(`only ${answered} calls answered 200 within 30 s; statuses: ${JSON.stringify(histogram)}\n${jg.stderr.slice(-2000)}`);
      }
      const exited = jg.stop('SIGTERM');
      const { code, signal } = await exited;
      stop = true;
      await Promise.all(clients);
      agent.destroy();
      assert.equal(signal, null, `jitgate died of ${signal}:\n${jg.stderr.slice(-2000)}`);
      assert.equal(code, 0, jg.stderr.slice(-2000));
      for (const s of statuses) assert.ok(s === 200 || s === 503, `unexpected status ${s}`);
      const ok = statuses.filter((s) => s === 200).length;
      const entries = jg.db.entries({ type: 'probe.list' }).filter((e) => e.json.data?.jti === jti).length;
      assert.ok(entries >= ok, `${ok} calls answered 200 but only ${entries} probe.list entries`);
    } finally {
      await cleanup(jg);
    }
  });
});
