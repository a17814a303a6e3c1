// Three replicas on one PostgreSQL database, end to end (docs/operations.md, "Running several
// replicas"): the real binary three times over, one key directory, one identity provider, one
// public URL behind a round-robin TCP balancer (harness startReplicas), a notification receiver
// and a SIEM receiver started here.  What a user relies on: a call works on whichever replica it
// lands; two replicas deciding at once count one decision; one chain however many replicas append,
// with nothing acknowledged missing, also when a replica is killed under load; sign-in, revocation
// and paging across replicas; each notification delivered once; expiry once per grant; the audit
// stream continuing without gaps when its leader dies; each checkpoint pushed off-host once, by
// one replica at a time, also when that replica dies.  PostgreSQL only: a SQLite file serves one
// process.
//
//   alice payments-eng   bob payments-leads   carol payments-leads+privacy   grace privacy
//   dave payments-eng (and contractors)   erin auditors
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { startReplicas, makeCert, freePort, runJitgate, postgresOnly } from './lib/harness.mjs';
import { driveLogin, CookieJar } from './lib/idp.mjs';
import { verifyExport } from './lib/independent-verifier.mjs';

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
const INC = 'INC-4711 payment retries failing in eu-west';
const SECRET = 'receiver-shared-secret-0123456789';
const SESSION = '__Host-jitgate_session';
// the jobs this file expects to run once across replicas
const ONCE = ['sweeper', 'notify-timer', 'audit-stream', 'audit-checkpoints', 'audit-verifier'];

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// An HTTPS receiver that records every delivery and answers 200 after delayMs.
async function receiver(tlsFiles, delayMs = () => 0) {
  const r = { got: [], port: await freePort() };
  r.server = https.createServer({ key: readFileSync(tlsFiles.key), cert: readFileSync(tlsFiles.cert) }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const d = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      try { d.json = JSON.parse(d.body); } catch { /* NDJSON */ }
      r.got.push(d);
      setTimeout(() => { res.writeHead(200); res.end(); }, delayMs());
    });
  });
  await new Promise((ok) => r.server.listen(r.port, '127.0.0.1', ok));
  r.close = () => new Promise((ok) => { r.server.closeAllConnections(); r.server.close(() => ok()); });
  return r;
}

// The value of one sample of a replica's /metrics, or null.
async function metric(jg, name, labels = '') {
  const r = await jg.request('GET', '/metrics');
  assert.equal(r.status, 200);
  const line = r.body.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').at(-1)) : null;
}

// The indexes of the live replicas that lead job now.
async function leadersOf(set, job) {
  const out = [];
  for (const [i, jg] of set.replicas.entries()) {
    if (jg.exited) continue;
    if (await metric(jg, 'jitgate_leader', `job="${job}"`) === 1) out.push(i);
  }
  return out;
}

const oneLeader = (set, job) => until(`one leader of ${job}`, async () => {
  const l = await leadersOf(set, job);
  return l.length === 1 ? l[0] + 1 : false; // 1-based, so replica 0 is truthy
}).then((i) => i - 1);

// `jitgate audit check` on the database, then an export verified by jitgate and by the
// independent verifier (tests/e2e/lib/independent-verifier.mjs).  Returns the exported entries.
function verifyWholeLog(set) {
  const cfg = set.replicas[0].configPath;
  const check = runJitgate(['audit', 'check', '-c', cfg]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.equal(runJitgate(['audit', 'checkpoint', '-c', cfg]).code, 0);
  const file = join(set.dir, `export-${Date.now()}.jsonl`);
  const ex = runJitgate(['audit', 'export', '-c', cfg, '-o', file]);
  assert.equal(ex.code, 0, ex.stderr);
  const key = runJitgate(['keys', 'list', '-c', cfg]).stdout.match(/^checkpoint \d+ \(active\) (\S+)$/m)[1];
  const v = runJitgate(['audit', 'verify', file, '--key', key]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /^VALID: /);
  const text = readFileSync(file);
  const ours = verifyExport(text, [key]);
  assert.equal(ours.ok, true, JSON.stringify(ours));
  return text.toString('utf8').trim().split('\n').slice(1, -1).map((l) => JSON.parse(l));
}

// Runs clients concurrently; client c sends perClient audited actions (a request for read-logs,
// granted at once: request.created) to replica targets[c % n], moving to the next live replica
// when its connection fails.  Returns the ids acknowledged with 201.
async function auditedLoad(set, { clients, perClient, onProgress = () => {} }) {
  const acked = [];
  const failures = [];
  let done = 0;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    let at = c % set.replicas.length;
    for (let k = 0; k < perClient; k++) {
      for (let tries = 0; ; tries++) {
        const jg = set.replicas[at];
        try {
          const r = await jg.as('alice', 'POST', '/v1/requests', json({
            service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: `load ${c}.${k}`,
          }));
          if (r.status === 201) { acked.push(r.json.id); break; }
          failures.push(`${r.status} ${r.body}`);
          if (r.status !== 503 || tries > 20) break;
          await sleep(100);
        } catch {
          // not acknowledged (the replica is gone): the client tries another one
          at = (at + 1) % set.replicas.length;
          if (tries > 20) break;
        }
      }
      onProgress(++done);
    }
  }));
  return { acked, failures };
}

postgresOnly(describe)('three replicas on one database', () => {
  let set, dir, files, hook, siem, cpSink, slowSiem = false;
  const r = (i) => set.replicas[i];
  const siemEntries = () => siem.got.flatMap((d) => d.body.trim().split('\n'));
  let streamLeaderKills = 0; // kills of the audit stream's leader: each may repeat one batch

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-replica-recv-'));
    files = makeCert(dir);
    writeFileSync(join(dir, 'secret'), SECRET + '\n', { mode: 0o600 });
    hook = await receiver(files, () => 30); // a little latency, so replicas would overlap
    siem = await receiver(files, () => (slowSiem ? 300 : 0));
    cpSink = await receiver(files, () => 250); // slow, so pushes of several replicas would overlap
    const extraConfig = [
      'audit:',
      '  checkpoint_every_seconds: 1',
      `  sink_url: https://127.0.0.1:${cpSink.port}/checkpoints`,
      `  sink_ca_file: ${files.cert}`,
      'notifications:',
      '  retry_base_ms: 200',
      '  retry_max_ms: 1000',
      '  sinks:',
      '    - name: hook',
      '      type: webhook',
      `      url: https://127.0.0.1:${hook.port}/hook`,
      `      secret_file: ${join(dir, 'secret')}`,
      `      ca_file: ${files.cert}`,
      '      audiences: [approvers, requester, security, operators]',
      'audit_stream:',
      '  type: webhook',
      `  url: https://127.0.0.1:${siem.port}/ingest`,
      `  ca_file: ${files.cert}`,
      '  batch_size: 5',
      '  retry_base_ms: 100',
      '  retry_max_ms: 500',
    ].join('\n');
    set = await startReplicas(3, { extraConfig });
  });
  after(async () => {
    await set?.close();
    await hook?.close();
    await siem?.close();
    await cpSink?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/readyz and /metrics name one policy set on every replica; each once-only job has one leader', async () => {
    const want = runJitgate(['policy', 'check', set.replicas[0].policyDir]).stdout.match(/sha256 ([0-9a-f]{64})/)[1];
    for (const jg of set.replicas) {
      const ready = await jg.request('GET', '/readyz');
      assert.equal(ready.status, 200, ready.body);
      assert.equal(ready.json.policies_sha256, want);
      assert.equal(await metric(jg, 'jitgate_policy_set_info', `sha256="${want}"`), 1);
    }
    for (const job of ONCE) await oneLeader(set, job);
    // one sweep at a time: only the leader of audit-verifier runs the rolling verifier
    const sweeper = await oneLeader(set, 'audit-verifier');
    await until('one replica sweeping, the leader', async () => {
      const on = await Promise.all(set.replicas.map((jg) => metric(jg, 'jitgate_audit_verifier_sweeping')));
      return on.every((v, i) => v === (i === sweeper ? 1 : 0));
    });
    assert.ok(await until('its window', () => metric(r(sweeper), 'jitgate_audit_detection_window_seconds')) > 0);
    for (const [i, jg] of set.replicas.entries()) {
      if (i !== sweeper) assert.equal(await metric(jg, 'jitgate_audit_detection_window_seconds'), null, `replica ${i} measures no sweep`);
    }
  });

  test('calls alternate across replicas and work on each', async () => {
    const created = await r(0).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: 'alternate' }));
    assert.equal(created.status, 201, created.body);
    const id = created.json.id;
    const seen = await r(1).as('alice', 'GET', `/v1/requests/${id}`);
    assert.equal(seen.status, 200, seen.body);
    assert.equal(seen.json.state, 'active');
    const tok = await r(2).as('alice', 'POST', `/v1/grants/${id}/token`);
    assert.equal(tok.status, 201, tok.body);
    for (const jg of set.replicas) {
      const g = await jg.request('GET', '/v1/services/payment-gateway/logs', { headers: { authorization: `Bearer ${tok.json.token}` } });
      assert.equal(g.status, 200, g.body);
    }
    // through the balancer: each new connection goes to the next replica
    const route = 'method="GET",route="/v1/requests/{id}",status="200"';
    const before_ = await Promise.all(set.replicas.map((jg) => metric(jg, 'jitgate_http_requests_total', route)));
    for (let i = 0; i < 9; i++) {
      const g = await set.front.as('alice', 'GET', `/v1/requests/${id}`);
      assert.equal(g.status, 200, g.body);
    }
    const after_ = await Promise.all(set.replicas.map((jg) => metric(jg, 'jitgate_http_requests_total', route)));
    after_.forEach((n, i) => assert.equal(n - (before_[i] ?? 0), 3, `replica ${i} served its third of the calls`));
  });

  test('two replicas approving the same request at the same moment count one approval (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      // read-pii needs two from privacy: carol twice at once must leave it at one
      const pii = await r(round % 3).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-pii'], duration: '10m', justification: `${INC} round ${round}` }));
      assert.equal(pii.status, 201, pii.body);
      assert.equal(pii.json.state, 'pending');
      const both = await Promise.all([0, 1].map((k) => r((round + k) % 3).as('carol', 'POST', `/v1/requests/${pii.json.id}/approve`)));
      assert.deepEqual(both.map((x) => x.status).sort(), [200, 409], both.map((x) => x.body).join('\n'));
      const now = await r((round + 2) % 3).as('carol', 'GET', `/v1/requests/${pii.json.id}`);
      assert.equal(now.json.state, 'pending');
      assert.equal(now.json.approvals.length, 1);
      assert.equal(now.json.requirements[0].approved, 1);
      const second = await r((round + 2) % 3).as('grace', 'POST', `/v1/requests/${pii.json.id}/approve`);
      assert.equal(second.status, 200, second.body);
      assert.equal(second.json.state, 'active');

      // deploy-probe needs one lead: bob and carol at once on two replicas, one of them counts
      const probe = await r(round % 3).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['deploy-probe'], duration: '30m', justification: `${INC} round ${round}` }));
      assert.equal(probe.status, 201, probe.body);
      const race = await Promise.all(['bob', 'carol'].map((who, k) => r((round + k + 1) % 3).as(who, 'POST', `/v1/requests/${probe.json.id}/approve`)));
      assert.deepEqual(race.map((x) => x.status).sort(), [200, 409], race.map((x) => x.body).join('\n'));
      for (const id of [pii.json.id, probe.json.id]) {
        const approved = set.db.entries({ type: 'request.approved', where: (e) => e.json.data.request === id });
        assert.equal(approved.length, id === pii.json.id ? 2 : 1, `request.approved entries of ${id}`);
        assert.equal(approved.filter((e) => e.json.data.activated).length, 1, `one activation of ${id}`);
      }
    }
  });

  test('3 replicas x 32 clients of audited actions: one chain, every acknowledged action in it, verified twice', async () => {
    const batches = () => Promise.all(set.replicas.map(async (jg) => ({
      all: await metric(jg, 'jitgate_audit_batches_total'),
      fast: await metric(jg, 'jitgate_audit_fast_batches_total'),
      declined: await metric(jg, 'jitgate_audit_fast_declined_total'),
    })));
    const before = await batches();
    const { acked, failures } = await auditedLoad(set, { clients: 96, perClient: 3 });
    assert.deepEqual(failures, []);
    assert.equal(acked.length, 96 * 3);
    const entries = verifyWholeLog(set);
    entries.forEach((e, i) => assert.equal(e.seq, i, 'one sequence without gaps'));
    const created = new Set(entries.filter((e) => e.type === 'request.created').map((e) => e.data.request));
    for (const id of acked) assert.ok(created.has(id), `acknowledged ${id} is in the log`);
    // each replica's own view of the chain followed the others: all still ready
    for (const jg of set.replicas) assert.equal((await jg.request('GET', '/readyz')).status, 200);
    // /metrics: each replica counts the batches it committed
    const after = await batches();
    after.forEach((a, i) => assert.ok(a.all > before[i].all, `replica ${i} committed no audit batch`));
  });

  test('guarded calls on three replicas at once: plain appends go in one round trip, and a head another replica moved is declined, not overwritten', async () => {
    const created = await r(0).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: 'fast path' }));
    assert.equal(created.status, 201, created.body);
    const tok = await r(1).as('alice', 'POST', `/v1/grants/${created.json.id}/token`);
    assert.equal(tok.status, 201, tok.body);
    const stats = () => Promise.all(set.replicas.map(async (jg) => ({
      fast: await metric(jg, 'jitgate_audit_fast_batches_total'),
      declined: await metric(jg, 'jitgate_audit_fast_declined_total'),
    })));
    const before = await stats();
    const statuses = await Promise.all(Array.from({ length: 24 }, async (_, c) => {
      const out = [];
      for (let k = 0; k < 8; k++) {
        const g = await r(c % 3).request('GET', '/v1/services/payment-gateway/logs', { headers: { authorization: `Bearer ${tok.json.token}` } });
        out.push(g.status);
      }
      return out;
    }));
    assert.deepEqual([...new Set(statuses.flat())], [200]);
    const after = await stats();
    const declined = after.reduce((n, a, i) => n + a.declined - before[i].declined, 0);
    assert.ok(declined > 0, 'three writers on one chain head, and the database never declined a fast batch');
    // then each replica alone: after a decline a writer pauses the fast path for 8 batches
    // (audit_writer.c), so 12 calls in a row must see it resume - under the burst above a
    // replica may lose every race, which says nothing about its fast path
    for (let i = 0; i < 3; i++) {
      const alone = await stats();
      for (let k = 0; k < 12; k++) {
        const g = await r(i).request('GET', '/v1/services/payment-gateway/logs', { headers: { authorization: `Bearer ${tok.json.token}` } });
        assert.equal(g.status, 200, g.body);
      }
      const done = await stats();
      assert.ok(done[i].fast > alone[i].fast, `replica ${i}: no batch went in one round trip`);
    }
    const entries = verifyWholeLog(set);
    const reads = entries.filter((e) => e.type === 'logs.read' && e.data.grant === created.json.id);
    assert.equal(reads.length, 24 * 8 + 3 * 12, 'every answered read has its entry, once');
  });

  test('SIGKILL of a replica under load: the others serve, nothing acknowledged is lost', async () => {
    const victim = 2;
    if ((await leadersOf(set, 'audit-stream')).includes(victim)) streamLeaderKills++;
    let killed = false;
    const { acked, failures } = await auditedLoad(set, {
      clients: 32, perClient: 8,
      onProgress: (n) => { if (n === 64 && !killed) { killed = true; r(victim).proc.kill('SIGKILL'); } },
    });
    assert.ok(killed, 'the replica was killed during the load');
    await r(victim).exitPromise;
    assert.deepEqual(failures, []);
    assert.equal(acked.length, 32 * 8, 'every client finished on the replicas left');
    for (const i of [0, 1]) assert.equal((await r(i).request('GET', '/readyz')).status, 200);
    const entries = verifyWholeLog(set);
    const created = new Set(entries.filter((e) => e.type === 'request.created').map((e) => e.data.request));
    for (const id of acked) assert.ok(created.has(id), `acknowledged ${id} is in the log`);
    // the once-only jobs it led moved to a live replica
    for (const job of ONCE) assert.notEqual(await oneLeader(set, job), victim);
    await set.restart(victim); // it verifies the whole log before it listens
    assert.equal((await r(victim).request('GET', '/readyz')).status, 200);
  });

  test('a sign-in started on one replica completes on another; the session works on the third', async () => {
    const jar = new CookieJar();
    // a browser behind the balancer: one origin, whichever replica answers
    const browse = async (jg, method, path, opts = {}) => {
      const url = new URL(path, jg.url);
      const headers = { ...(opts.headers ?? {}) };
      const cookie = jar.header(url.href);
      if (cookie) headers.cookie = cookie;
      const res = await jg.request(method, url.pathname + url.search, { ...opts, headers });
      const lines = res.headers['set-cookie'] ?? [];
      jar.store(url.href, { headers: { getSetCookie: () => lines } });
      return res;
    };
    const login = await browse(r(0), 'GET', '/auth/login');
    assert.equal(login.status, 302, login.body);
    const callback = new URL(await driveLogin(login.headers.location, 'alice'));
    assert.equal(`${callback.origin}${callback.pathname}`, `${set.front.url}/auth/callback`);
    const cb = await browse(r(1), 'GET', callback.pathname + callback.search);
    assert.equal(cb.status, 303, cb.body);
    const me = await browse(r(2), 'GET', '/v1/me');
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json.sub, 'alice');
    assert.equal(me.json.authenticated_via, 'session');
    // the CSRF token of one replica's answer signs out on another; the session ends on all
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const out = await browse(r(0), 'POST', '/auth/logout', { headers: form, body: `csrf=${encodeURIComponent(me.json.csrf_token)}` });
    assert.equal(out.status, 303, out.body);
    const session = cb.headers['set-cookie'].find((l) => l.startsWith(`${SESSION}=`)).split(';')[0];
    for (const jg of set.replicas) {
      const gone = await jg.request('GET', '/v1/me', { headers: { cookie: session } });
      assert.equal(gone.status, 401, gone.body);
    }
  });

  test('a revocation on one replica refuses the token on every replica at its next call', async () => {
    const created = await r(0).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: 'revocation' }));
    assert.equal(created.status, 201, created.body);
    const tok = await r(1).as('alice', 'POST', `/v1/grants/${created.json.id}/token`);
    assert.equal(tok.status, 201, tok.body);
    const call = (jg) => jg.request('GET', '/v1/services/payment-gateway/logs', { headers: { authorization: `Bearer ${tok.json.token}` } });
    for (const jg of set.replicas) assert.equal((await call(jg)).status, 200, 'accepted (and cached) on each replica');
    const rev = await r(2).as('alice', 'POST', `/v1/grants/${created.json.id}/revoke`, json({ reason: 'done' }));
    assert.equal(rev.status, 200, rev.body);
    for (const jg of set.replicas) {
      const g = await call(jg);
      assert.equal(g.status, 401, g.body);
      assert.match(g.json.error.message, /no longer active/);
    }
  });

  test('paging cursors sealed by one replica work on the others', async () => {
    const ids = [];
    for (let i = 0; i < 7; i++) {
      const c = await r(i % 3).as('dave', 'POST', '/v1/requests', json({ service: 'payment-api', capabilities: ['read-logs'], duration: '1h', justification: `page ${i}` }));
      assert.equal(c.status, 201, c.body);
      ids.push(c.json.id);
    }
    const got = [];
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const q = `/v1/requests?mine=true&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await r(page % 3).as('dave', 'GET', q);
      assert.equal(res.status, 200, res.body);
      got.push(...res.json.requests.map((x) => x.id));
      cursor = res.json.next_cursor ?? null;
      if (!cursor) break;
    }
    assert.equal(cursor, null, 'the pages end');
    assert.deepEqual([...got].sort(), [...ids].sort(), 'every request once, across replicas');
  });

  test('the outbox delivers each notification once while every replica delivers', async () => {
    const delivered = 'sink="hook",result="delivered"';
    const sent = () => Promise.all(set.replicas.map(async (jg) => (await metric(jg, 'jitgate_notifications_total', delivered)) ?? 0));
    const before_ = await sent();
    const ids = [];
    await Promise.all(Array.from({ length: 24 }, async (_, i) => {
      const c = await r(i % 3).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['deploy-probe'], duration: '30m', justification: `${INC} outbox ${i}` }));
      assert.equal(c.status, 201, c.body);
      ids.push(c.json.id);
    }));
    const pendingOf = (id) => hook.got.filter((d) => d.json?.type === 'request.pending' && d.json.request.id === id);
    await until('every request.pending delivered', () => ids.every((id) => pendingOf(id).length >= 1));
    await until('the outbox drained', () => set.db.count('notify_outbox', "state = 'pending'") === 0);
    await sleep(1500); // a second delivery would come within the idle poll of another replica
    for (const id of ids) assert.equal(pendingOf(id).length, 1, `request.pending of ${id} delivered once`);
    const keys = hook.got.map((d) => d.headers['x-jitgate-idempotency-key']);
    const dup = keys.filter((k, i) => keys.indexOf(k) !== i);
    assert.deepEqual(dup, [], 'no notification of the whole run was delivered twice');
    assert.equal(set.db.count('notify_outbox', "state = 'delivered'"), keys.length);
    assert.equal(set.db.count('notify_outbox', 'attempts <> 1'), 0, 'one attempt per notification');
    // not one replica doing all the work: the rows were shared out
    const byReplica = (await sent()).map((n, i) => n - before_[i]);
    assert.ok(byReplica.reduce((a, b) => a + b, 0) >= ids.length, `deliveries per replica: ${byReplica}`);
    assert.ok(byReplica.filter((n) => n > 0).length >= 2, `deliveries per replica: ${byReplica}`);
  });

  test('three replicas sweeping at once end each grant once (one grant.expired per grant)', async () => {
    const ids = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
      const c = await r(i % 3).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: 2, justification: `expiry ${i}` }));
      assert.equal(c.status, 201, c.body);
      return c.json.id;
    }));
    await until('every grant expired', async () => {
      for (const id of ids) if ((await r(0).as('alice', 'GET', `/v1/requests/${id}`)).json.state !== 'expired') return false;
      return true;
    });
    await sleep(2500); // every replica swept again meanwhile
    for (const id of ids) {
      const ended = set.db.entries({ type: 'grant.expired', where: (e) => e.json.data.request === id });
      assert.equal(ended.length, 1, `grant.expired of ${id}`);
      const told = hook.got.filter((d) => d.json?.type === 'grant.expired' && d.json.request.id === id);
      assert.equal(told.length, 1, `one grant.expired notification for ${id}`);
    }
  });

  test('checkpoints are pushed off-host by one replica at a time, and by the next when it is killed: each once, no gap', async () => {
    // a signed note's second line is the tree size it covers
    const pushedSizes = (from) => cpSink.got.slice(from).map((d) => Number(d.body.split('\n')[1]));
    const head = () => Number(set.db.rows('SELECT size FROM audit_head WHERE id = 1')[0].size);
    const unrecorded = () => set.db.count('audit_checkpoints', "NOT EXISTS (SELECT 1 FROM audit_checkpoint_pushes p WHERE p.size = audit_checkpoints.size AND p.sink = 'url')");
    const quiet = async (what) => {
      // nothing written meanwhile, the head checkpointed and that checkpoint pushed and recorded
      await until(what, () => {
        const h = head();
        const covered = h === 0 || set.db.count('audit_checkpoints', 'size = ?', [h]) === 1; // an empty log has none
        return covered && unrecorded() === 0 && head() === h;
      }, 30000);
    };
    await quiet('earlier checkpoints pushed'); // earlier kills may have repeated one: not counted here
    const from = cpSink.got.length;
    const act = async (i, label) => {
      const c = await r(i).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: label }));
      assert.equal(c.status, 201, c.body);
    };
    for (let i = 0; i < 12; i++) {
      await act(i % 3, `checkpoints ${i}`); // on every replica
      await sleep(250); // several checkpoints, a second apart
    }
    const onceEach = (sizes) => {
      const twice = sizes.filter((n, i) => sizes.indexOf(n) !== i);
      assert.deepEqual(twice, [], `no checkpoint pushed twice: ${sizes}`);
    };
    await quiet('the checkpoints of the first actions pushed');
    await sleep(2500); // a second push of any of them would come at another replica's next round
    const firstRound = pushedSizes(from).length;
    assert.ok(firstRound >= 2, `checkpoints pushed: ${pushedSizes(from)}`);
    onceEach(pushedSizes(from));

    const leader = await oneLeader(set, 'audit-checkpoints');
    if ((await leadersOf(set, 'audit-stream')).includes(leader)) streamLeaderKills++;
    r(leader).proc.kill('SIGKILL');
    await r(leader).exitPromise;
    const next = await oneLeader(set, 'audit-checkpoints');
    assert.notEqual(next, leader);
    const others = [0, 1, 2].filter((i) => i !== leader);
    for (let i = 0; i < 8; i++) {
      await act(others[i % 2], `after ${i}`); // the new leader's and the other replica's entries
      await sleep(250);
    }
    await quiet('the checkpoints after the kill pushed');
    await sleep(2500); // a second push of any of them would come at another replica's next round

    const sizes = pushedSizes(from);
    assert.ok(sizes.length > firstRound, `the new leader pushed: ${sizes}`);
    onceEach(sizes);
    sizes.forEach((n, i) => i === 0 || assert.ok(n > sizes[i - 1], `sizes strictly increase: ${sizes}`));
    const final = head();
    assert.equal(sizes.at(-1), final, 'the last push covers the final head');
    const stored = set.db.rows('SELECT size, note FROM audit_checkpoints WHERE size >= ? ORDER BY size', [sizes[0]]);
    assert.deepEqual(stored.map((c) => Number(c.size)), sizes, 'every checkpoint made was pushed, in order');
    cpSink.got.slice(from).forEach((d, i) => assert.equal(d.body, stored[i].note, 'pushed as stored'));
    await set.restart(leader);
  });

  test('the audit stream continues after its leader replica is killed: no gap, duplicates only at the hand-over', async () => {
    slowSiem = true; // batches in flight when the leader dies
    const leader = await oneLeader(set, 'audit-stream');
    const before_ = siemEntries().length;
    for (let i = 0; i < 20; i++) {
      const c = await r((leader + 1) % 3).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: `stream ${i}` }));
      assert.equal(c.status, 201, c.body);
    }
    await until('part of them at the SIEM', () => siemEntries().length > before_ + 5);
    r(leader).proc.kill('SIGKILL');
    await r(leader).exitPromise;
    streamLeaderKills++;
    slowSiem = false;
    const next = await oneLeader(set, 'audit-stream');
    assert.notEqual(next, leader);
    for (let i = 0; i < 5; i++) {
      const c = await r(next).as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: `after ${i}` }));
      assert.equal(c.status, 201, c.body);
    }
    const exported = verifyWholeLog(set).length;
    const stored = set.db.entries({ to: exported - 1 }).map((e) => e.text);
    await until('every entry at the SIEM', () => {
      const got = new Set(siemEntries().map((e) => JSON.parse(e).seq));
      return stored.every((_, seq) => got.has(seq));
    }, 30000);
    const received = siemEntries().filter((e) => JSON.parse(e).seq < stored.length);
    const seqs = received.map((e) => JSON.parse(e).seq);
    assert.equal(seqs[0], 0);
    let rewinds = 0;
    for (let i = 1; i < seqs.length; i++) {
      if (seqs[i] === seqs[i - 1] + 1) continue;
      assert.ok(seqs[i] <= seqs[i - 1], `a gap after seq ${seqs[i - 1]}: ${seqs[i]}`);
      assert.ok(seqs[i - 1] - seqs[i] < 5, 'a rewind repeats at most one batch (batch_size 5)');
      rewinds++;
    }
    assert.ok(rewinds <= streamLeaderKills, `duplicates only where a leader died (${rewinds} rewinds, ${streamLeaderKills} kills)`);
    const bySeq = new Map();
    for (const e of received) {
      const seq = JSON.parse(e).seq;
      if (bySeq.has(seq)) assert.equal(bySeq.get(seq), e, 'a duplicate is the same entry');
      bySeq.set(seq, e);
    }
    stored.forEach((text, seq) => assert.equal(bySeq.get(seq), text, `entry ${seq} arrived as stored`));
    await set.restart(leader);
  });
});
