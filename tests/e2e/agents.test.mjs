// The service catalog, ingest keys and the agent protocol (docs/agents.md), end
// to end: the real binary and its CLI against one SQLite file, its own real
// OpenID provider (alice payments-eng, bob payments-leads) and
// policies/payments.yaml (deploy-probe needs bob and an INC-… justification).
//
// The test plays the agent: it polls GET /v1/agents/probes with the ingest
// key the CLI printed, posts events for a probe an engineer deployed, and the
// engineer reads them back through the guard.  Revoking the grant, and
// expiry, take the probe away from the agent and refuse its events (409).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate, BIN, ROOT } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const OTHER = 'checkout-api';
const INC = 'INC-4711 payment retries failing in eu-west';
const PROBE = { function: 'PaymentProcessor.selectProvider', capture_args: true, capture_return: true, sampling_rate: 0.5, duration: 600, conditions: [{ field: 'amount', op: 'gt', value: 1000 }] };
const DEFAULT_LIMITS = { max_hits: 100, max_events_per_second: 10, max_depth: 3, max_string_bytes: 255, max_collection_items: 100, max_fields: 20, max_cpu_ms_per_second: 5 };
const REDACT_MODULE = existsSync(join(ROOT, 'include', 'jitgate', 'redact.h'));
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const sha256hex = (s) => createHash('sha256').update(s).digest('hex');
const KEY_RE = /^jgk_[A-Za-z0-9_-]{43}$/;

describe('service catalog, ingest keys and agents', () => {
  let jg;
  let keys = {}; // service -> the ingest key the agents of that service hold now

  // The CLI, with stdout and stderr kept on success too.
  const cli = (...args) => {
    const r = spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
  const agent = (key, method, path, body) => jg.request(method, path, {
    ...(body === undefined ? {} : json(body)),
    headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  });
  const poll = (key, service = SVC) => agent(key, 'GET', `/v1/agents/probes?service=${service}`);
  const postEvents = (key, probeId, events) => agent(key, 'POST', `/v1/agents/probes/${probeId}/events`, { events });
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : json(body));
  const withToken = (token, method, path, body) => jg.request(method, path, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : { body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

  // alice's deploy-probe grant approved by bob, and a capability token for it
  async function probeGrant(duration = '30m') {
    const r = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration, justification: INC });
    assert.equal(r.status, 201, r.body);
    const ok = await post('bob', `/v1/requests/${r.json.id}/approve`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.state, 'active');
    const t = await post('alice', `/v1/grants/${r.json.id}/token`);
    assert.equal(t.status, 201, t.body);
    return { grant: ok.json, token: t.json.token };
  }
  async function deploy(token, probe = PROBE) {
    const r = await withToken(token, 'POST', `/v1/services/${SVC}/probes`, probe);
    assert.equal(r.status, 201, r.body);
    return r.json;
  }
  const readEvents = (token, probeId, query = '') => withToken(token, 'GET', `/v1/services/${SVC}/probes/${probeId}/events${query}`);
  async function exportEntries() {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    return { text: r.body, entries: r.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l)) };
  }
  const polledIds = async (key) => {
    const r = await poll(key);
    assert.equal(r.status, 200, r.body);
    return r.json.probes.map((p) => p.id);
  };
  const storedEvents = (probeId) => jg.db.count('probe_events', 'probe_id = ?', [probeId]);

  before(async () => {
    jg = await startJitgate();
    assert.ok(jg.db.exists(), 'the test database is not where the test looks');
  });
  after(() => cleanup(jg));

  test('service add / list / remove through the CLI, each audited as the operator', async () => {
    let r = cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added service payment-gateway/);
    r = cli('service', 'add', OTHER, '--owners', 'checkout-eng');
    assert.equal(r.code, 0, r.stderr);
    r = cli('service', 'add', 'doomed-svc', '--owners', 'payments-eng,payments-eng');
    assert.equal(r.code, 0, r.stderr);

    // refusals: an existing name, a bad name, no owners, a bad group
    r = cli('service', 'add', SVC, '--owners', 'payments-eng');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
    r = cli('service', 'add', 'Bad_Name', '--owners', 'payments-eng');
    assert.equal(r.code, 2, r.stderr);
    r = cli('service', 'add', 'svc-no-owners');
    assert.equal(r.code, 2, r.stderr);
    r = cli('service', 'add', 'svc-bad-group', '--owners', 'a b');
    assert.equal(r.code, 2, r.stderr);

    r = cli('service', 'list');
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n');
    assert.match(rows[0], /^SERVICE\s+ADDED\s+INGEST KEY\s+OWNERS$/);
    const names = rows.slice(1).map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(names, ['checkout-api', 'doomed-svc', 'payment-gateway']);
    const pg = rows.find((l) => l.startsWith(SVC)).split(/\s+/);
    assert.equal(pg[2], 'none');
    assert.equal(pg[3], 'payments-eng,payments-leads');
    assert.equal(rows.find((l) => l.startsWith('doomed-svc')).split(/\s+/)[3], 'payments-eng', 'duplicate owners are dropped');

    r = cli('service', 'remove', 'doomed-svc');
    assert.equal(r.code, 0, r.stderr);
    r = cli('service', 'remove', 'doomed-svc');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such service/);
    assert.ok(!cli('service', 'list').stdout.includes('doomed-svc'));
    // added again after removal
    r = cli('service', 'add', 'doomed-svc', '--owners', 'sre-oncall');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(cli('service', 'list').stdout.includes('doomed-svc'));
    assert.equal(cli('service', 'remove', 'doomed-svc').code, 0);

    const user = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
    const { entries } = await exportEntries();
    const added = entries.filter((e) => e.type === 'service.added');
    assert.deepEqual(added.map((e) => e.data.service), [SVC, OTHER, 'doomed-svc', 'doomed-svc']);
    assert.deepEqual(added[0].data.owners, ['payments-eng', 'payments-leads']);
    assert.deepEqual(added[2].data.owners, ['payments-eng']);
    assert.ok(added.every((e) => e.actor === `operator:${user}`), JSON.stringify(added));
    const removed = entries.filter((e) => e.type === 'service.removed');
    assert.equal(removed.length, 2);
    assert.ok(removed.every((e) => e.data.service === 'doomed-svc' && e.actor === `operator:${user}`));
  });

  test('ingest-key create prints the key once; the store holds only its SHA-256', async () => {
    const r = cli('ingest-key', 'create', SVC);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^jgk_[A-Za-z0-9_-]{43}\n$/, 'stdout is the key alone');
    const key = r.stdout.trim();
    assert.match(r.stderr, /shown only this once/);
    assert.ok(!r.stderr.includes(key), 'the key went to stderr too');
    keys[SVC] = key;

    const rows = jg.db.rows('SELECT id, service, sha256, revoked_at FROM ingest_keys');
    assert.equal(rows.length, 1);
    const [{ id, service, sha256, revoked_at: revokedAt }] = rows;
    const hash = Buffer.from(sha256).toString('hex');
    assert.match(id, /^igk_[A-Za-z0-9_-]{16}$/);
    assert.equal(service, SVC);
    assert.equal(hash, sha256hex(key), 'the stored hash is not SHA-256 of the key string');
    assert.equal(revokedAt, null);
    // the key is nowhere in the database: not in a dump, not in the files' bytes
    const dump = jg.db.dump();
    assert.ok(!dump.includes(key.slice(4)), 'the key is in the database dump');
    // SQLite by nature: the bytes of its files (tests/e2e/README.md; on PostgreSQL the dump is it)
    if (jg.db.backend === 'sqlite') {
      for (const f of [jg.db.path, `${jg.db.path}-wal`]) {
        if (existsSync(f)) assert.ok(!readFileSync(f).includes(Buffer.from(key.slice(4))), `${f} holds the key`);
      }
    }

    // a second create is refused and prints no key; list shows the id only
    const again = cli('ingest-key', 'create', SVC);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, '');
    assert.match(again.stderr, /already has an active key/);
    const list = cli('service', 'list').stdout;
    assert.ok(list.includes(id) && !list.includes(key));
    assert.equal(cli('ingest-key', 'create', 'no-such-svc').code, 1);

    const o = cli('ingest-key', 'create', OTHER);
    assert.equal(o.code, 0, o.stderr);
    keys[OTHER] = o.stdout.trim();
    assert.match(keys[OTHER], KEY_RE);

    const { entries } = await exportEntries();
    const created = entries.filter((e) => e.type === 'ingest_key.created');
    assert.deepEqual(created.map((e) => e.data.service), [SVC, OTHER]);
    assert.equal(created[0].data.key_id, id);
    assert.ok(!JSON.stringify(entries).includes(key.slice(4)), 'the key is in the audit log');
  });

  test('agent poll: no key, a malformed, unknown or foreign key are refused; the right key sees its service', async () => {
    let r = await poll(null);
    assert.equal(r.status, 401, r.body);
    assert.equal(r.json.error.code, 'unauthorized');
    assert.match(r.headers['www-authenticate'] ?? '', /^Bearer realm="jitgate-ingest"/);
    for (const wrong of [`jgk_${randomBytes(32).toString('base64url')}`, 'jgk_short', keys[SVC].slice(0, -1) + (keys[SVC].endsWith('A') ? 'B' : 'A'), keys[SVC].slice(4), `${keys[SVC]}x`]) {
      r = await poll(wrong);
      assert.equal(r.status, 401, `${wrong}: ${r.body}`);
      assert.equal(r.json.error.code, 'unauthorized');
    }
    r = await poll(keys[OTHER]);
    assert.equal(r.status, 403, r.body);
    r = await agent(keys[SVC], 'GET', '/v1/agents/probes');
    assert.equal(r.status, 400, r.body);
    r = await poll(keys[SVC]);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.service, SVC);
    assert.deepEqual(r.json.probes, []);
    assert.ok(Math.abs(r.json.now - Date.now() / 1000) < 30);
    assert.ok(r.json.poll_seconds > 0);
    assert.equal(r.headers['cache-control'], 'no-store');
  });

  test('rotate: the old key stops at once; revoke: no key works; create again', async () => {
    const old = keys[SVC];
    let r = cli('ingest-key', 'rotate', SVC);
    assert.equal(r.code, 0, r.stderr);
    const rotated = r.stdout.trim();
    assert.match(rotated, KEY_RE);
    assert.notEqual(rotated, old);
    assert.equal((await poll(old)).status, 401);
    assert.equal((await poll(rotated)).status, 200);
    assert.equal(jg.db.count('ingest_keys', 'service = ? AND revoked_at IS NULL', [SVC]), 1);

    r = cli('ingest-key', 'revoke', SVC);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes('jgk_'));
    assert.equal((await poll(rotated)).status, 401);
    r = cli('ingest-key', 'revoke', SVC);
    assert.equal(r.code, 1, 'nothing left to revoke');
    r = cli('ingest-key', 'rotate', SVC);
    assert.equal(r.code, 1, 'nothing to rotate');
    assert.equal(r.stdout, '');

    r = cli('ingest-key', 'create', SVC);
    assert.equal(r.code, 0, r.stderr);
    keys[SVC] = r.stdout.trim();
    assert.equal((await poll(keys[SVC])).status, 200);

    const { entries } = await exportEntries();
    const rot = entries.filter((e) => e.type === 'ingest_key.rotated');
    assert.equal(rot.length, 1);
    assert.equal(rot[0].data.service, SVC);
    assert.match(rot[0].data.revoked_key, /^igk_/);
    assert.notEqual(rot[0].data.revoked_key, rot[0].data.key_id);
    const rev = entries.filter((e) => e.type === 'ingest_key.revoked');
    assert.deepEqual(rev.map((e) => e.data.key_id), [rot[0].data.key_id]);
  });

  let main; // alice's grant and token, and the probe she deployed

  test('a deployed probe is served to the agent; events posted are read back by the engineer', async () => {
    const { grant, token } = await probeGrant('30m');
    const probe = await deploy(token);
    main = { grant, token, probe };

    const r = await poll(keys[SVC]);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.probes.length, 1);
    const p = r.json.probes[0];
    assert.deepEqual(Object.keys(p).sort(), ['capture_args', 'capture_return', 'conditions', 'expires_at', 'function', 'id', 'kind', 'limits', 'sampling_rate']);
    assert.deepEqual(p, { id: probe.id, function: PROBE.function, kind: 'snapshot', capture_args: true, capture_return: true, sampling_rate: 0.5, conditions: PROBE.conditions, expires_at: probe.expires_at, limits: DEFAULT_LIMITS });
    assert.ok(p.expires_at <= grant.expires_at);
    // the other service's agents see nothing of it
    assert.equal((await poll(keys[OTHER], SVC)).status, 403);
    const o = await poll(keys[OTHER], OTHER);
    assert.deepEqual(o.json.probes, []);

    const events = [
      { ts: '2026-11-25T18:04:31.123Z', function: PROBE.function, args: { amount: 1500, currency: 'EUR', customer: 'jane.doe@example.com' }, return: 'adyen' },
      { ts: '2026-11-25T18:04:31.456Z', function: PROBE.function, args: { amount: 2500, currency: 'USD', customer: 'anon', password: 'hunter2' }, return: 'stripe', note: 'ünïcode ✓' },
      { ts: '2026-11-25T18:04:31.789Z', function: PROBE.function, args: { amount: 9000, nested: { list: [1, 2, 3], empty: {} } }, return: null },
    ];
    const s = await postEvents(keys[SVC], probe.id, events);
    assert.equal(s.status, 201, s.body);
    assert.equal(s.json.stored, 3);
    assert.equal(s.json.last_id - s.json.first_id, 2);
    assert.equal(storedEvents(probe.id), 3);

    const read = await readEvents(token, probe.id);
    assert.equal(read.status, 200, read.body);
    assert.equal(read.headers['cache-control'], 'no-store');
    assert.equal(read.json.probe, probe.id);
    assert.equal(read.json.service, SVC);
    assert.equal(read.json.events.length, 3);
    assert.deepEqual(read.json.events.map((e) => e.id), [s.json.first_id, s.json.first_id + 1, s.json.first_id + 2]);
    assert.ok(read.json.events.every((e) => Math.abs(e.received_at - Date.now() / 1000) < 30));
    assert.equal(read.json.next_after, null);
    if (REDACT_MODULE) {
      // without read-pii the email is redacted, a sensitive key's value withheld, the rest intact
      assert.equal(read.json.redacted, true);
      assert.equal(read.json.events[0].event.args.customer, '[REDACTED:email]');
      assert.ok(!read.body.includes('jane.doe@example.com'));
      assert.deepEqual(read.json.events[0].event, { ...events[0], args: { ...events[0].args, customer: '[REDACTED:email]' } });
      assert.equal(read.json.events[1].event.args.password, '[REDACTED:field]');
      assert.ok(!read.body.includes('hunter2'));
      assert.equal(read.json.events[1].event.note, events[1].note);
      assert.deepEqual(read.json.events[2].event, events[2]);
      // what is stored is what the agent sent
      assert.match(jg.db.rows('SELECT event FROM probe_events WHERE id = ?', [s.json.first_id])[0]?.event ?? '', /jane\.doe@example\.com/);
    } else {
      // the redaction module is not in the tree yet: the reply says so
      assert.equal(read.json.redacted, false);
      assert.deepEqual(read.json.events.map((e) => e.event), events);
    }

    // pages: limit and after
    const p1 = await readEvents(token, probe.id, '?limit=2');
    assert.equal(p1.status, 200, p1.body);
    assert.equal(p1.json.events.length, 2);
    assert.equal(p1.json.next_after, s.json.first_id + 1);
    const p2 = await readEvents(token, probe.id, `?limit=2&after=${p1.json.next_after}`);
    assert.deepEqual(p2.json.events.map((e) => e.id), [s.json.first_id + 2]);
    assert.equal(p2.json.next_after, null);
    for (const q of ['?limit=1001', '?limit=0', '?limit=x', '?after=-1']) assert.equal((await readEvents(token, probe.id, q)).status, 400, q);

    // the audit log: one ingest entry (count, ids, SHA-256 of what was stored), and the reads
    const { entries } = await exportEntries();
    const ing = entries.filter((e) => e.type === 'probe.events.ingested');
    assert.equal(ing.length, 1);
    assert.equal(ing[0].actor, `agent:${SVC}`);
    // bytes: what the stored texts weigh, as a probe budget's max_bytes counts them
    const bytes = events.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0);
    assert.deepEqual({ ...ing[0].data, ingest_key: undefined }, { probe: probe.id, grant: grant.id, service: SVC, count: 3, bytes, refused: 0, first_id: s.json.first_id, last_id: s.json.last_id, sha256: sha256hex(events.map((e) => JSON.stringify(e) + '\n').join('')), ingest_key: undefined });
    assert.match(ing[0].data.ingest_key, /^igk_/);
    const reads = entries.filter((e) => e.type === 'probe.events.read');
    assert.ok(reads.length >= 3);
    assert.ok(reads.every((e) => e.actor === 'user:alice' && e.data.params.probe === probe.id && e.data.grant === grant.id));
  });

  test('with read-pii the engineer reads the events as stored (redacted: false)', async () => {
    // deploy-probe + read-pii: bob for the probe, grace and carol for the PII
    const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe', 'read-pii'], duration: '30m', justification: INC });
    assert.equal(q.status, 201, q.body);
    for (const who of ['bob', 'grace', 'carol']) assert.equal((await post(who, `/v1/requests/${q.json.id}/approve`)).status, 200);
    const t = await post('alice', `/v1/grants/${q.json.id}/token`);
    assert.equal(t.status, 201, t.body);
    assert.deepEqual(t.json.capabilities.sort(), ['deploy-probe', 'read-pii']);
    const probe = await deploy(t.json.token, { ...PROBE, conditions: [] });
    assert.ok((await polledIds(keys[SVC])).includes(probe.id));
    const ev = { ts: '2026-11-25T18:05:00.000Z', args: { customer: 'jane.doe@example.com', card: '4111 1111 1111 1111' } };
    assert.equal((await postEvents(keys[SVC], probe.id, [ev])).status, 201);
    const r = await readEvents(t.json.token, probe.id);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.redacted, false);
    assert.deepEqual(r.json.events.map((e) => e.event), [ev]);
    // the token without read-pii cannot read this grant's probe at all
    assert.equal((await readEvents(main.token, probe.id)).status, 404);
    const del = await withToken(t.json.token, 'DELETE', `/v1/services/${SVC}/probes/${probe.id}`);
    assert.equal(del.status, 200, del.body);
    assert.ok(!(await polledIds(keys[SVC])).includes(probe.id), 'a removed probe is still served');
    assert.equal((await postEvents(keys[SVC], probe.id, [ev])).status, 409);
  });

  test('a bad batch is refused whole (400 naming the index); foreign keys and probes are 404', async () => {
    // a probe of alice's grant whose limits are not what this test is about (docs/agents.md, Limits)
    const id = (await deploy(main.token, { ...PROBE, limits: { max_hits: 10000, max_events_per_second: 100 } })).id;
    const before = storedEvents(id);
    const ok = { ts: 1, function: PROBE.function };
    // a value nesting objects and arrays d levels deep (d = 1: a flat object)
    const nest = (d) => (d === 1 ? { v: 1 } : d % 2 ? { n: nest(d - 1) } : [nest(d - 1)]);
    const cases = [
      [{ events: [ok, ok, 'not an object', ok] }, /events\[2\]/, 2],
      [{ events: [ok, { big: 'x'.repeat(16 * 1024) }] }, /events\[1\].*16384/, 1],
      [{ events: [[1, 2]] }, /events\[0\]/, 0],
      [{ events: [ok, { deep: nest(32) }] }, /events\[1\].*32 levels/, 1],
      [{ events: [] }, /1 to 100/, undefined],
      [{ events: Array.from({ length: 101 }, () => ok) }, /1 to 100/, undefined],
      [{ events: [ok], extra: 1 }, /unknown field 'extra'/, undefined],
      [{ event: [ok] }, /unknown field/, undefined],
    ];
    for (const [body, why, index] of cases) {
      const r = await agent(keys[SVC], 'POST', `/v1/agents/probes/${id}/events`, body);
      assert.equal(r.status, 400, r.body);
      assert.equal(r.json.error.code, 'bad_request');
      assert.match(r.json.error.message, why);
      assert.equal(r.json.error.index, index);
    }
    // exactly 16384 bytes and 100 events are fine
    const pad = 16384 - JSON.stringify({ big: '' }).length;
    let r = await postEvents(keys[SVC], id, [{ big: 'y'.repeat(pad) }]);
    assert.equal(r.status, 201, r.body);
    await sleep(1100); // the probe's bucket holds 100 events: full again a second later
    r = await postEvents(keys[SVC], id, Array.from({ length: 100 }, (_, i) => ({ i })));
    assert.equal(r.status, 201, r.body);
    assert.deepEqual([r.json.stored, r.json.refused], [100, []]);
    await sleep(1100);
    r = await postEvents(keys[SVC], id, [{ deep: nest(31) }]);
    assert.equal(r.status, 201, r.body);
    assert.equal(storedEvents(id), before + 102);

    // malformed JSON, no key, another service's key, an unknown probe
    r = await jg.request('POST', `/v1/agents/probes/${id}/events`, { body: '{"events":[', headers: { authorization: `Bearer ${keys[SVC]}`, 'content-type': 'application/json' } });
    assert.equal(r.status, 400, r.body);
    assert.equal((await postEvents(null, id, [ok])).status, 401);
    r = await postEvents(keys[OTHER], id, [ok]);
    assert.equal(r.status, 404, r.body);
    r = await postEvents(keys[SVC], 'prb_doesnotexist', [ok]);
    assert.equal(r.status, 404, r.body);
    assert.equal(storedEvents(id), before + 102);

    // the events of alice's probe are not readable with the token of another grant
    const other = await probeGrant('10m');
    const x = await readEvents(other.token, id);
    assert.equal(x.status, 404, x.body);
    // nor summed up: the list counts a probe's events for its own grant only
    const listed = async (token) => {
      const l = await withToken(token, 'GET', `/v1/services/${SVC}/probes`);
      assert.equal(l.status, 200, l.body);
      return l.json.probes.find((p) => p.id === id);
    };
    assert.equal((await listed(main.token)).events, storedEvents(id));
    const seen = await listed(other.token);
    assert.ok(seen, 'another grant lists the probe');
    assert.ok(!('events' in seen), `another grant sees the probe's event count: ${JSON.stringify(seen)}`);
    assert.equal((await readEvents(main.token, 'prb_doesnotexist')).status, 404);
    assert.equal((await jg.request('GET', `/v1/services/${SVC}/probes/${id}/events`)).status, 401);
  });

  test('revoking the grant takes the probe from the agent; its events are refused (409), nothing stored', async () => {
    const id = main.probe.id;
    assert.ok((await polledIds(keys[SVC])).includes(id));
    const before = storedEvents(id);
    const rv = await post('alice', `/v1/grants/${main.grant.id}/revoke`, { reason: 'found it' });
    assert.equal(rv.status, 200, rv.body);
    assert.equal(rv.json.state, 'revoked');
    assert.ok(!(await polledIds(keys[SVC])).includes(id), 'the agent still sees a probe of a revoked grant');
    const r = await postEvents(keys[SVC], id, [{ ts: 2, late: true }]);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'probe_not_live');
    assert.equal(storedEvents(id), before);
  });

  test('an expired probe is never served again, and its events are refused', async () => {
    const { token } = await probeGrant('30m');
    const probe = await deploy(token, { ...PROBE, duration: 1 });
    const first = await poll(keys[SVC]);
    // served while jitgate's clock (whole seconds) is before expires_at: certainly so when the
    // poll came back within that second (a deploy late in a second gets a probe of well under 1 s)
    if (Math.floor(Date.now() / 1000) < probe.expires_at) assert.ok(first.json.probes.some((p) => p.id === probe.id));
    await sleep(Math.max(0, probe.expires_at * 1000 - Date.now()) + 1100);
    for (let i = 0; i < 3; i++) {
      assert.ok(!(await polledIds(keys[SVC])).includes(probe.id), 'an expired probe was served');
      await sleep(300);
    }
    const r = await postEvents(keys[SVC], probe.id, [{ ts: 3 }]);
    assert.equal(r.status, 409, r.body);
    assert.equal(storedEvents(probe.id), 0);

    // a probe clipped to a 3-second grant goes when the grant does
    const short = await probeGrant(3);
    const clipped = await deploy(short.token);
    assert.ok(clipped.expires_at <= short.grant.expires_at);
    await sleep(Math.max(0, short.grant.expires_at * 1000 - Date.now()) + 1100);
    assert.ok(!(await polledIds(keys[SVC])).includes(clipped.id));
    assert.equal((await postEvents(keys[SVC], clipped.id, [{ ts: 4 }])).status, 409);
  });

  test('removing a service revokes its key; the audit export verifies offline', async () => {
    let r = cli('service', 'remove', OTHER);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await poll(keys[OTHER], OTHER)).status, 401);
    assert.equal(jg.db.count('ingest_keys', 'service = ? AND revoked_at IS NULL', [OTHER]), 0);

    const { text, entries } = await exportEntries();
    const rm = entries.find((e) => e.type === 'service.removed' && e.data.service === OTHER);
    assert.match(rm.data.revoked_key, /^igk_/);
    const keyFile = join(jg.dir, 'checkpoint.pub');
    const k = runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', jg.configPath]);
    assert.equal(k.code, 0, k.stderr);
    writeFileSync(keyFile, k.stdout);
    const exportFile = join(jg.dir, 'agents-export.jsonl');
    writeFileSync(exportFile, text);
    const v = runJitgate(['audit', 'verify', exportFile, '--key', keyFile]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^VALID/);
    // the server still verifies the log the CLI appended to
    assert.equal((await jg.request('GET', '/readyz')).status, 200);
  });
});

describe('probe event retention', () => {
  let jg;
  before(async () => { jg = await startJitgate({ extraConfig: 'probes:\n  event_retention_seconds: 3\n' }); });
  after(() => cleanup(jg));

  test('events older than probes.event_retention_seconds are deleted by the sweeper', async () => {
    const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
    const count = () => jg.db.count('probe_events');
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads').status, 0);
    const key = cli('ingest-key', 'create', SVC).stdout.trim();
    assert.match(key, KEY_RE);
    const json = (o, auth) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` } });
    const r = await jg.as('alice', 'POST', '/v1/requests', { body: JSON.stringify({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201, r.body);
    assert.equal((await jg.as('bob', 'POST', `/v1/requests/${r.json.id}/approve`, { body: '{}', headers: { 'content-type': 'application/json' } })).status, 200);
    const t = await jg.as('alice', 'POST', `/v1/grants/${r.json.id}/token`, { body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(t.status, 201, t.body);
    const d = await jg.request('POST', `/v1/services/${SVC}/probes`, json(PROBE, t.json.token));
    assert.equal(d.status, 201, d.body);

    const post = () => jg.request('POST', `/v1/agents/probes/${d.json.id}/events`, json({ events: [{ args: { amount: 1500 } }, { args: { amount: 2500 } }] }, key));
    assert.equal((await post()).status, 201);
    assert.equal(count(), 2);
    await sleep(1500);
    assert.equal((await post()).status, 201); // 1.5 s younger
    assert.equal(count(), 4);
    // the first two go once they are more than 3 s old, the last two stay until theirs
    const deadline = Date.now() + 6000;
    while (count() > 2 && Date.now() < deadline) await sleep(200);
    assert.equal(count(), 2, 'the old events were not deleted');
    const left = await jg.request('GET', `/v1/services/${SVC}/probes/${d.json.id}/events`, { headers: { authorization: `Bearer ${t.json.token}` } });
    assert.equal(left.status, 200, left.body);
    assert.equal(left.json.events.length, 2);
    while (count() > 0 && Date.now() < deadline + 3000) await sleep(200);
    assert.equal(count(), 0, 'the newer events outlived their retention');
  });
  test('the same sweeper deletes ended sessions and stale login flows, and keeps live ones', async () => {
    const now = Math.floor(Date.now() / 1000);
    const hex = (c) => Buffer.from(c.repeat(64), 'hex'); // 'a': 32 bytes 0xaa
    const row = (id, last, exp) => ({ id_sha256: hex(id), sub: `u-${id}`, email: `u${id}@example.com`, name: 'U', groups: '[]', csrf: 'csrf', created_at: now - 100, last_seen: last, expires_at: exp });
    jg.db.insertFixture('sessions', [row('a', now, now - 5), row('b', now - 7200, now + 3600), row('c', now, now + 3600)]);
    jg.db.insertFixture('auth_flows', [
      { state_sha256: hex('d'), nonce: 'n', code_verifier: 'v', return_to: '/', created_at: now - 700 },
      { state_sha256: hex('e'), nonce: 'n', code_verifier: 'v', return_to: '/', created_at: now },
    ]);
    // the subjects of the sessions, the first byte (hex) of each flow's state hash, in a list
    const q = (t) => jg.db.rows(`SELECT ${t === 'sessions' ? 'sub AS v' : 'state_sha256 AS v'} FROM ${t}`)
      .map((r) => (t === 'sessions' ? r.v : r.v.subarray(0, 1).toString('hex').toUpperCase())).join(',');
    const deadline = Date.now() + 5000;
    while ((q('sessions') !== 'u-c' || q('auth_flows') !== 'EE') && Date.now() < deadline) await sleep(200);
    assert.equal(q('sessions'), 'u-c', 'past its end (a) and idle for 2 h (b) go; the live one (c) stays');
    assert.equal(q('auth_flows'), 'EE', 'a login flow older than 10 minutes goes');
  });
});

// Probe status (docs/agents.md, "Probe status"): agent instances say after each poll which
// probes they installed and which they could not; the engineer's list counts the instances
// that reported within 3 x probes.agent_poll_seconds (1 s here: 3 s) and shows why the others
// failed, to the grant that deployed the probe only.  The test plays two agent instances.
describe('probe status', () => {
  let jg;
  let key;
  let otherKey;
  const grants = [];
  const probes = [];
  const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
  const json = (o, auth) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) } });
  const status = (body, k = key) => jg.request('POST', '/v1/agents/probes/status', json(body, k));
  const report = (instance, installed, failed = [], k = key) => status({ service: SVC, instance, installed, failed }, k);
  // the probes as grant i's token lists them, by id
  async function listed(i) {
    const r = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${grants[i].token}` } });
    assert.equal(r.status, 200, r.body);
    return Object.fromEntries(r.json.probes.map((p) => [p.id, p]));
  }
  async function exportText() {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    return r.body;
  }

  before(async () => {
    jg = await startJitgate({ extraConfig: 'probes:\n  agent_poll_seconds: 1\n' });
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads').status, 0);
    assert.equal(cli('service', 'add', OTHER, '--owners', 'payments-eng').status, 0);
    key = cli('ingest-key', 'create', SVC).stdout.trim();
    otherKey = cli('ingest-key', 'create', OTHER).stdout.trim();
    assert.match(key, KEY_RE);
    assert.match(otherKey, KEY_RE);
    // two grants of alice, one probe each
    for (let i = 0; i < 2; i++) {
      const r = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
      assert.equal(r.status, 201, r.body);
      assert.equal((await jg.as('bob', 'POST', `/v1/requests/${r.json.id}/approve`, json({}))).status, 200);
      const t = await jg.as('alice', 'POST', `/v1/grants/${r.json.id}/token`, json({}));
      assert.equal(t.status, 201, t.body);
      grants.push({ id: r.json.id, token: t.json.token });
      const d = await jg.request('POST', `/v1/services/${SVC}/probes`, json(PROBE, t.json.token));
      assert.equal(d.status, 201, d.body);
      probes.push(d.json.id);
    }
  });
  after(() => cleanup(jg));

  test('the poll advises probes.agent_poll_seconds', async () => {
    const r = await jg.request('GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.poll_seconds, 1);
    assert.deepEqual(r.json.probes.map((p) => p.id).sort(), [...probes].sort());
  });

  test('two instances installed it: installed 2; a failure is shown with its code and message to its own grant only; nothing audited', async () => {
    const [p0, p1] = probes;
    let l = await listed(0);
    assert.deepEqual(l[p0].status, { installed: 0, dropped: 0, failed: [] }, 'before any report');
    const before = await exportText();
    const msg = '<script>alert(1)</script> max_depth 9 > 8';
    let r = await report('host-a:101', [p0, p1]);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { ok: true });
    assert.equal(r.headers['cache-control'], 'no-store');
    r = await report('host-b:202', [p0], [{ id: p1, code: 'bad_limits', message: msg }]);
    assert.equal(r.status, 200, r.body);

    l = await listed(0);
    assert.deepEqual(l[p0].status, { installed: 2, dropped: 0, failed: [] });
    // p1 is grant 1's: grant 0 sees how many installed it, not why one failed
    assert.deepEqual(l[p1].status, { installed: 1 });
    l = await listed(1);
    assert.deepEqual(l[p1].status, { installed: 1, dropped: 0, failed: [{ instance: 'host-b:202', code: 'bad_limits', message: msg }] });
    assert.deepEqual(l[p0].status, { installed: 2 });

    // the reports themselves left no entry (the lists did: probe.list; the export: audit.exported)
    const after = (await exportText()).trim().split('\n').slice(1, -1).map((e) => JSON.parse(e));
    const old = before.trim().split('\n').length - 2;
    const added = after.slice(old).map((e) => e.type);
    assert.ok(added.length > 0 && added.every((t) => t === 'probe.list' || t === 'audit.exported'), added.join(','));
  });

  test('an instance that stops reporting stops counting after 3 polls; a new report replaces the old', async () => {
    const [p0, p1] = probes;
    // host-a keeps reporting (now it failed p1), host-b falls silent
    const until = Date.now() + 4500;
    while (Date.now() < until) {
      assert.equal((await report('host-a:101', [p0], [{ id: p1, code: 'too_many_probes', message: '500 installed' }])).status, 200);
      await sleep(500);
    }
    let l = await listed(1);
    assert.deepEqual(l[p0].status, { installed: 1 });
    assert.deepEqual(l[p1].status, { installed: 0, dropped: 0, failed: [{ instance: 'host-a:101', code: 'too_many_probes', message: '500 installed' }] });
    // and then everyone falls silent
    await sleep(4000);
    l = await listed(1);
    assert.deepEqual(l[p0].status, { installed: 0 });
    assert.deepEqual(l[p1].status, { installed: 0, dropped: 0, failed: [] });
    // the sweeper deletes the rows of silent instances
    const deadline = Date.now() + 5000;
    while (jg.db.count('probe_installs') > 0 && Date.now() < deadline) await sleep(200);
    assert.equal(jg.db.count('probe_installs'), 0);
  });

  test('another service\'s probe or no probe is ignored; bad reports are 4xx and change nothing', async () => {
    const [p0] = probes;
    // the other service's agent names p0: accepted, counted nowhere
    let r = await report('spy:1', [p0, 'prb_doesnotexist'], [{ id: p0, code: 'bad_limits', message: 'x' }], otherKey);
    assert.equal(r.status, 403, 'the body names SVC, the key is OTHER\'s');
    r = await status({ service: OTHER, instance: 'spy:1', installed: [p0, 'prb_doesnotexist'], failed: [{ id: p0, code: 'bad_limits', message: 'x' }] }, otherKey);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual((await listed(0))[p0].status, { installed: 0, dropped: 0, failed: [] });
    assert.equal(jg.db.count('probe_installs'), 0);

    r = await jg.request('POST', '/v1/agents/probes/status', json({ service: SVC, instance: 'a', installed: [] }));
    assert.equal(r.status, 401, r.body);
    const long = 'm'.repeat(257);
    const bad = [
      [{ service: SVC, instance: 'a', installed: [], extra: 1 }, /unknown field/],
      [{ instance: 'a', installed: [] }, /'service' is required/],
      [{ service: SVC, installed: [] }, /'instance'/],
      [{ service: SVC, instance: '', installed: [] }, /'instance'/],
      [{ service: SVC, instance: 'a\nb', installed: [] }, /'instance'/],
      [{ service: SVC, instance: 'i'.repeat(129), installed: [] }, /'instance'/],
      [{ service: SVC, instance: 'a', installed: 'prb_x' }, /at most 500/],
      [{ service: SVC, instance: 'a', installed: Array(501).fill(p0) }, /at most 500/],
      [{ service: SVC, instance: 'a', installed: [42] }, /probe ids/],
      [{ service: SVC, instance: 'a', installed: ['not an id'] }, /probe ids/],
      [{ service: SVC, instance: 'a', failed: [{ id: p0, code: 'Bad', message: '' }] }, /code/],
      [{ service: SVC, instance: 'a', failed: [{ id: p0, code: 'c'.repeat(65), message: '' }] }, /code/],
      [{ service: SVC, instance: 'a', failed: [{ id: p0, code: 'x', message: long }] }, /message/],
      [{ service: SVC, instance: 'a', failed: [{ id: p0, code: 'x' }] }, /\{id, code, message\}/],
      [{ service: SVC, instance: 'a', failed: [{ id: p0, code: 'x', message: '', more: 1 }] }, /\{id, code, message\}/],
      [{ service: SVC, instance: 'a', installed: [p0], dropped: [3] }, /'dropped'/],
      [{ service: SVC, instance: 'a', installed: [p0], dropped: { [p0]: -1 } }, /'dropped'/],
      [{ service: SVC, instance: 'a', installed: [p0], dropped: { [p0]: 1.5 } }, /'dropped'/],
      [{ service: SVC, instance: 'a', installed: [p0], dropped: { [p0]: 2 ** 53 + 2 } }, /'dropped'/],
      [{ service: SVC, instance: 'a', installed: [p0], dropped: { [probes[1]]: 1 } }, /'dropped'/],
      [{ service: SVC, instance: 'a', installed: [], failed: [{ id: p0, code: 'x', message: '' }], dropped: { [p0]: 1 } }, /'dropped'/],
    ];
    for (const [body, re] of bad) {
      r = await status(body);
      assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 100)}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
      assert.match(r.json.error.message, re);
    }
    assert.equal(jg.db.count('probe_installs'), 0, 'a bad report stored something');
    // the longest of each is taken
    r = await status({ service: SVC, instance: 'i'.repeat(128), installed: Array(500).fill(p0), failed: [{ id: probes[1], code: 'c'.repeat(64), message: 'm'.repeat(256) }] });
    assert.equal(r.status, 200, r.body);
    assert.equal(jg.db.count('probe_installs'), 2);
  });

  test('events the agents lost add up in the status, shown to the probe\'s own grant only', async () => {
    const [p0, p1] = probes;
    assert.equal((await status({ service: SVC, instance: 'host-a:101', installed: [p0, p1], dropped: { [p0]: 7 } })).status, 200);
    assert.equal((await status({ service: SVC, instance: 'host-b:202', installed: [p0], dropped: { [p0]: 2 ** 53 - 1 - 7 } })).status, 200);
    assert.equal((await status({ service: SVC, instance: 'host-c:303', installed: [p0] })).status, 200);
    let l = await listed(0);
    assert.ok(l[p0].status.installed >= 3, JSON.stringify(l[p0].status)); // and the test before's instance
    assert.equal(l[p0].status.dropped, 2 ** 53 - 1);
    assert.equal(l[p1].status.dropped, undefined, 'another grant\'s probe: how many it lost is a count of its events');
    l = await listed(1);
    assert.equal(l[p1].status.dropped, 0);
    assert.equal(l[p0].status.dropped, undefined);
  });
});
