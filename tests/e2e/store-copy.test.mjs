// `jitgate store copy` end to end (docs/operations.md, "Moving from SQLite to PostgreSQL"): a
// populated deployment - requests (active and pending), approvals, a refused action, a capability
// token, a probe and its captured events, a signed-in session and a sign-in in progress, pending
// notifications in the outbox, the audit log with checkpoints pushed to an off-host sink - is
// stopped and copied into a fresh, migrated database of each engine; jitgate then serves from the
// copy on the same port with the same state: the same requests, the old session cookie and the
// old capability token still work (its anchor is proven into the copied log), new probe events
// are numbered after the copied ones, the copy's log holds the newest off-host checkpoint, and an
// export of it passes `jitgate audit verify`.  A second copy into the now non-empty target is
// refused; so are a source whose log does not verify and a target not yet migrated.
//
// The source is the run's engine (JG_E2E_DB), the targets are both: `make e2e` copies SQLite to
// PostgreSQL and to SQLite, `make e2e-pg` PostgreSQL to SQLite and to PostgreSQL.
import { test, describe, before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DB_BACKEND, Jitgate, cleanup, copyStore, pgStore, postgresOnly, runJitgate, startJitgate } from './lib/harness.mjs';
import { openDb } from './lib/db.mjs';
import { CookieJar, driveLogin } from './lib/idp.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const TABLES = ['deployment', 'audit_log', 'audit_nodes', 'audit_head', 'audit_checkpoints', 'audit_checkpoint_pushes',
  'audit_cosignatures', 'audit_stream', 'store_probe', 'auth_flows', 'sessions', 'identity_groups', 'session_grant_tokens', 'services', 'ingest_keys', 'access_requests', 'approvals',
  'action_refusals', 'notify_marks', 'probes', 'probe_events', 'probe_grant_usage', 'probe_installs', 'notify_outbox', 'audit_state', 'audit_grant_usage'];
// the tables this deployment must have filled, so that the copy is shown to carry each kind of row
const FILLED = ['audit_log', 'audit_nodes', 'audit_checkpoints', 'audit_checkpoint_pushes', 'audit_cosignatures', 'auth_flows', 'sessions', 'identity_groups',
  'services', 'ingest_keys', 'access_requests', 'approvals', 'action_refusals', 'probes', 'probe_events', 'probe_installs', 'notify_outbox',
  'audit_state', 'audit_grant_usage', 'probe_grant_usage'];
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// A request through a cookie jar, as a browser would send it (identity.test.mjs does the same).
async function browse(jg, jar, method, path) {
  const url = new URL(path, jg.url);
  const cookie = jar.header(url.href);
  const r = await jg.request(method, url.pathname + url.search, { headers: cookie ? { cookie } : {} });
  const lines = r.headers['set-cookie'] ?? [];
  jar.store(url.href, { headers: { getSetCookie: () => lines } });
  return r;
}

// The configuration of jg with its database replaced by { url, ownerUrl }, its telemetry by a file
// of its own (store copy leaves telemetry behind; in the PostgreSQL pass the source's telemetry lives
// in the source's database, which a copy must not migrate or share) and its checkpoint sink by sink:
// each copy is a deployment of its own, publishing to its own sink.
function retarget(jg, name, { url, ownerUrl }, sink) {
  let text = readFileSync(jg.configPath, 'utf8');
  text = text.replace(/^database:\n(  .*\n)+/m, `database:\n  url: "${url}"\n${ownerUrl ? `  owner_url: "${ownerUrl}"\n` : ''}`);
  text = text.replace(/^  sink_dir: .*$/m, `  sink_dir: ${sink}`);
  text = text.replace(/^telemetry:\n(  .*\n)*/m, '');
  text += `telemetry:\n  database: "${name.replace(/\.yaml$/, '')}-telemetry.db"\n`;
  const path = join(jg.dir, name);
  writeFileSync(path, text);
  return path;
}

// A fresh database of engine for the copy: { copyUrl (the owner's), config, db, sink, drop }; its
// sink starts as a copy of the source's (sink), as when a deployment moves with its sink.
async function target(jg, engine, tag, sink) {
  const own = join(jg.dir, `${tag}-sink`);
  cpSync(sink, own, { recursive: true });
  if (engine === 'postgres') {
    const s = await pgStore();
    const config = retarget(jg, `${tag}.yaml`, { url: s.url, ownerUrl: s.ownerUrl }, own);
    const m = runJitgate(['migrate', '-c', config]);
    assert.equal(m.code, 0, m.stderr);
    s.grantServing();
    return { copyUrl: s.ownerUrl, config, db: s.db, sink: own, drop: () => s.drop() };
  }
  const file = join(jg.dir, `${tag}.db`);
  const config = retarget(jg, `${tag}.yaml`, { url: `sqlite://${file}` }, own);
  const m = runJitgate(['migrate', '-c', config]);
  assert.equal(m.code, 0, m.stderr);
  return { copyUrl: `sqlite://${file}`, config, db: openDb(`sqlite://${file}`), sink: own, drop: () => {} };
}

// The URL store copy reads the source through: the file, or the database as its owner.
const sourceUrl = (jg) => (jg.store ? jg.store.ownerUrl : `sqlite://${jg.db.path}`);

describe(`store copy from ${DB_BACKEND}`, () => {
  let jg;
  let dir;
  let sink;
  let keyFile;
  const state = {};

  const cli = (...args) => runJitgate([...args, '-c', jg.configPath]);
  const json = (body) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const withToken = (server, token, method, path, body) => server.request(method, path, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : { body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

  // Servers a test started on copies (stopped in its finally).
  const servers = [];
  // jitgate on to's database: n new requests and a checkpoint of them, pushed to to's sink; its
  // size and the note's path
  const serve = async (to, n, why) => {
    const s = new Jitgate(jg.dir, jg.port, join(jg.dir, 'cert.pem'), to.config);
    s.idp = jg.idp;
    s.tokens = jg.tokens;
    servers.push(s);
    await s.start();
    for (let i = 0; i < n; i++) {
      const q = await s.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '1h', justification: `${why} (${i})` }));
      assert.equal(q.status, 201, q.body);
    }
    const cp = await s.auditor('POST', '/v1/audit/checkpoint');
    assert.equal(cp.status, 201, cp.body);
    const note = join(to.sink, `checkpoint-${String(cp.json.size).padStart(20, '0')}.note`);
    for (let i = 0; i < 100 && !existsSync(note); i++) await sleep(100);
    assert.ok(existsSync(note), `${note} never reached the sink`);
    await s.stop();
    assert.equal(s.exited.code, 0, s.stderr);
    return { size: cp.json.size, note };
  };
  const stopServers = async () => {
    for (const s of servers.splice(0)) if (!s.exited) await s.stop('SIGKILL');
  };
  const check = (to, ...how) => runJitgate(['audit', 'check', '-c', to.config, ...how]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-copy-'));
    sink = join(dir, 'sink');
    mkdirSync(sink);
    writeFileSync(join(dir, 'secret'), 'a-webhook-secret-of-32-bytes-0000\n', { mode: 0o600 });
    jg = await startJitgate({
      extraConfig: [
        'audit:',
        '  origin: jitgate.test/audit',
        '  checkpoint_every_seconds: 1',
        `  sink_dir: ${sink}`,
        'notifications:',
        '  sinks:',
        '    - name: down', '      type: webhook', '      url: https://127.0.0.1:9/hook', // nothing listens
        `      secret_file: ${join(dir, 'secret')}`, '      max_attempts: 1000',
        '      audiences: [approvers, requester, security, operators]',
      ].join('\n'),
    });

    // the catalog, an ingest key, a grant with a token, a probe and its events
    let r = cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads');
    assert.equal(r.code, 0, r.stderr);
    r = cli('ingest-key', 'create', SVC);
    assert.equal(r.code, 0, r.stderr);
    keyFile = r.stdout.trim();
    assert.match(keyFile, /^jgk_/);
    const q = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
    assert.equal(q.status, 201, q.body);
    const ok = await jg.as('bob', 'POST', `/v1/requests/${q.json.id}/approve`, json({}));
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.state, 'active');
    state.active = q.json.id;
    // an extension of it, waiting for approval (made in the grant's second, most likely: the copy
    // must still insert the grant before the extension that refers to it)
    const x = await jg.as('alice', 'POST', `/v1/requests/${state.active}/extend`, json({ duration: '10m', justification: INC }));
    assert.equal(x.status, 201, x.body);
    assert.equal(x.json.state, 'pending');
    state.extension = x.json.id;
    const tok = await jg.as('alice', 'POST', `/v1/grants/${state.active}/token`, json({}));
    assert.equal(tok.status, 201, tok.body);
    state.token = tok.json.token;
    const d = await withToken(jg, state.token, 'POST', `/v1/services/${SVC}/probes`, {
      function: 'PaymentProcessor.selectProvider', capture_args: true, capture_return: false, sampling_rate: 1, duration: 600, conditions: [],
    });
    assert.equal(d.status, 201, d.body);
    state.probe = d.json.id;
    const ev = await jg.request('POST', `/v1/agents/probes/${state.probe}/events`, {
      body: JSON.stringify({ events: [1, 2, 3].map((i) => ({ ts: '2026-11-25T18:04:31.123Z', function: 'PaymentProcessor.selectProvider', args: { amount: 1000 + i } })) }),
      headers: { authorization: `Bearer ${keyFile}`, 'content-type': 'application/json' },
    });
    assert.equal(ev.status, 201, ev.body);
    state.lastEvent = ev.json.last_id;
    // an agent instance that installed it (probe_installs)
    const st = await jg.request('POST', '/v1/agents/probes/status', {
      body: JSON.stringify({ service: SVC, instance: 'host-a:4242', installed: [state.probe], failed: [] }),
      headers: { authorization: `Bearer ${keyFile}`, 'content-type': 'application/json' },
    });
    assert.equal(st.status, 200, st.body);

    // a pending request, and a refused action on it (alice may not approve her own)
    const p = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '1h', justification: INC }));
    assert.equal(p.status, 201, p.body);
    assert.equal(p.json.state, 'pending');
    state.pending = p.json.id;
    assert.equal((await jg.as('alice', 'POST', `/v1/requests/${state.pending}/approve`, json({}))).status, 403);

    // bob signed in with a browser, and someone's sign-in left half-way
    state.jar = new CookieJar();
    const login = await browse(jg, state.jar, 'GET', '/auth/login?return_to=/v1/me');
    assert.equal(login.status, 302, login.body);
    const callback = new URL(await driveLogin(login.headers.location, 'bob'));
    assert.equal((await browse(jg, state.jar, 'GET', callback.pathname + callback.search)).status, 303);
    assert.equal((await browse(jg, state.jar, 'GET', '/v1/me')).json.sub, 'bob');
    assert.equal((await jg.request('GET', '/auth/login')).status, 302);

    // the newest checkpoint covers everything and is in the sink
    const cp = await jg.auditor('POST', '/v1/audit/checkpoint');
    assert.equal(cp.status, 201, cp.body);
    const name = `checkpoint-${String(jg.db.count('audit_log')).padStart(20, '0')}.note`;
    for (let i = 0; i < 100 && !(existsSync(sink) && readdirSync(sink).includes(name)); i++) await sleep(100);
    assert.ok(readdirSync(sink).includes(name), `${name} never reached the sink`);
    // a witness's cosignature of it, inserted by hand (this test has no witness; witness.test.mjs
    // shows real ones stored): the copy must carry the table like any other
    jg.db.insertFixture('audit_cosignatures', [{ size: cp.json.size, witness: 'witness.test/w', key_id: 1,
      line: '\u2014 witness.test/w AAAAAQAAAABkGFDL\n', cosigned_at: 1700000000, stored_at: Date.now() }]);
    // a notification waiting in the outbox (its sink is down)
    for (let i = 0; i < 50 && jg.db.count('notify_outbox', "state = 'pending'") === 0; i++) await sleep(100);

    state.events = (await withToken(jg, state.token, 'GET', `/v1/services/${SVC}/probes/${state.probe}/events?limit=100&after=0`)).json.events;
    assert.equal(state.events.length, 3);
    // after that guarded read: a grant shows its use so far (usage), which the read changed
    state.requests = {};
    for (const id of [state.active, state.pending, state.extension]) state.requests[id] = (await jg.as('alice', 'GET', `/v1/requests/${id}`)).json;
    await jg.stop();
    assert.equal(jg.exited.code, 0);
    state.counts = Object.fromEntries(TABLES.map((t) => [t, jg.db.count(t)]));
    for (const t of FILLED) assert.ok(state.counts[t] > 0, `the source's ${t} is empty: the test would not show it copied`);
    state.entries = jg.db.entries().map((e) => e.raw.toString('hex'));
  });
  after(async () => {
    await cleanup(jg);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const engine of ['postgres', 'sqlite']) {
    test(`into ${engine}: every table and the audit log byte for byte; jitgate serves the same state from the copy`, async (t) => {
      const to = await target(jg, engine, `copy-${engine}`, sink);
      let copy;
      try {
        const t0 = Date.now();
        const r = runJitgate(['store', 'copy', '-c', jg.configPath, '--from', sourceUrl(jg), '--to', to.copyUrl]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        t.diagnostic(`store copy ${DB_BACKEND} -> ${engine}: ${Date.now() - t0} ms for ${state.counts.audit_log} entries`);
        assert.match(r.stdout, new RegExp(`audit log: ${state.counts.audit_log} entries, verified`));
        assert.match(r.stdout, /copied 26 tables, each with the source's row count/);
        assert.match(r.stdout, /the same chain as the source's/);
        for (const tbl of TABLES) assert.equal(to.db.count(tbl), state.counts[tbl], `${tbl}: rows in the copy`);
        assert.deepEqual(to.db.entries().map((e) => e.raw.toString('hex')), state.entries, 'the audit log is copied byte for byte');

        copy = new Jitgate(jg.dir, jg.port, join(jg.dir, 'cert.pem'), to.config);
        copy.idp = jg.idp;
        copy.tokens = jg.tokens;
        await copy.start();
        for (const [id, before] of Object.entries(state.requests)) {
          const now = await copy.as('alice', 'GET', `/v1/requests/${id}`);
          assert.equal(now.status, 200, now.body);
          assert.deepEqual(now.json, before, `request ${id} as it was`);
        }
        // the session and the capability token issued before the move still work
        const me = await browse(copy, state.jar, 'GET', '/v1/me');
        assert.equal(me.status, 200, me.body);
        assert.equal(me.json.sub, 'bob');
        const events = await withToken(copy, state.token, 'GET', `/v1/services/${SVC}/probes/${state.probe}/events?limit=100&after=0`);
        assert.equal(events.status, 200, events.body);
        assert.deepEqual(events.json.events, state.events);
        // new rows continue after the copied ones (PostgreSQL: the identity sequence was set)
        const ev = await copy.request('POST', `/v1/agents/probes/${state.probe}/events`, {
          body: JSON.stringify({ events: [{ ts: '2026-11-25T18:05:00.000Z', function: 'PaymentProcessor.selectProvider', args: { amount: 2000 } }] }),
          headers: { authorization: `Bearer ${keyFile}`, 'content-type': 'application/json' },
        });
        assert.equal(ev.status, 201, ev.body);
        assert.equal(ev.json.first_id, state.lastEvent + 1);
        // the lifecycle goes on where it stopped
        const ok = await copy.as('bob', 'POST', `/v1/requests/${state.pending}/approve`, json({}));
        assert.equal(ok.status, 200, ok.body);
        assert.equal(ok.json.state, 'active');

        // the copied log holds the newest off-host checkpoint, and an export verifies offline
        const chk = runJitgate(['audit', 'check', '-c', to.config, '--against-sink', to.sink]);
        assert.equal(chk.code, 0, chk.stdout + chk.stderr);
        assert.match(chk.stdout, /they contain the off-host checkpoint .* \(size \d+\)/);
        const exp = await copy.auditor('GET', '/v1/audit/export');
        assert.equal(exp.status, 200, exp.body);
        const pub = runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', to.config]);
        assert.equal(pub.code, 0, pub.stderr);
        writeFileSync(join(jg.dir, 'checkpoint.pub'), pub.stdout);
        writeFileSync(join(jg.dir, `export-${engine}.jsonl`), exp.body);
        const v = runJitgate(['audit', 'verify', join(jg.dir, `export-${engine}.jsonl`), '--key', join(jg.dir, 'checkpoint.pub')]);
        assert.equal(v.code, 0, v.stdout);
        assert.match(v.stdout, /^VALID/);
        await copy.stop();
        assert.equal(copy.exited.code, 0, copy.stderr);

        // a second copy into the same database is refused, and changes nothing
        const snapshot = () => ({ counts: TABLES.map((tbl) => to.db.count(tbl)), log: to.db.entries().map((e) => e.raw.toString('hex')),
          requests: to.db.rows('SELECT id, state FROM access_requests ORDER BY id') });
        const was = snapshot();
        assert.ok(was.log.length > state.entries.length, 'the copy served and appended');
        const again = runJitgate(['store', 'copy', '-c', jg.configPath, '--from', sourceUrl(jg), '--to', to.copyUrl]);
        assert.equal(again.code, 4, again.stdout + again.stderr);
        assert.match(again.stderr, /refused: the target is not empty \(audit_log holds \d+ row\(s\)\)/);
        assert.deepEqual(snapshot(), was, 'the refused copy changed the target');
      } finally {
        if (copy && !copy.exited) await copy.stop('SIGKILL');
        to.drop();
      }
    });
  }

  test('a source whose log does not verify is not copied: exit 5, the target stays empty', async () => {
    const to = await target(jg, DB_BACKEND, 'copy-bad', sink);
    const fork = join(dir, 'tampered');
    try {
      // a copy of the stopped source (the harness's copyStore), tampered with
      writeFileSync(`${fork}.yaml`, readFileSync(jg.configPath, 'utf8'));
      let badUrl;
      if (jg.store) {
        const db = copyStore(jg, `${fork}.yaml`);
        to.dropFork = db.drop;
        db.tamperEntry(2, (text) => text.replace('"type":"', '"type":"x'));
        badUrl = readFileSync(`${fork}.yaml`, 'utf8').match(/owner_url: "([^"]+)"/)[1];
      } else {
        writeFileSync(`${fork}.db`, readFileSync(jg.db.path));
        openDb(`sqlite://${fork}.db`).tamperEntry(2, (text) => text.replace('"type":"', '"type":"x'));
        badUrl = `sqlite://${fork}.db`;
      }
      const r = runJitgate(['store', 'copy', '-c', jg.configPath, '--from', badUrl, '--to', to.copyUrl]);
      assert.equal(r.code, 5, r.stdout + r.stderr);
      assert.match(r.stderr, /source: the audit log does not verify: first bad seq 2/);
      assert.equal(to.db.count('audit_log'), 0);
      assert.equal(to.db.count('access_requests'), 0);
    } finally {
      to.dropFork?.();
      to.drop();
    }
  });

  test('a target that was not migrated, or a source file that does not exist, is refused and nothing is created', async () => {
    const typo = join(dir, 'no-such.db');
    const r = runJitgate(['store', 'copy', '-c', jg.configPath, '--from', `sqlite://${typo}`, '--to', sourceUrl(jg)]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /source: .*no-such\.db: No such file or directory/);
    assert.ok(!existsSync(typo), 'a mistyped path became a file');

    const s = await pgStore();
    try {
      const n = runJitgate(['store', 'copy', '-c', jg.configPath, '--from', sourceUrl(jg), '--to', s.ownerUrl]);
      assert.equal(n.code, 4, n.stderr);
      assert.match(n.stderr, /target: \d+ migration\(s\) pending: migrate it first/);
      assert.deepEqual(s.db.tables(), [], 'the copy created something in an unmigrated database');
    } finally {
      s.drop();
    }
    assert.equal(runJitgate(['store', 'copy', '-c', jg.configPath, '--from', sourceUrl(jg)]).code, 2);
  });
  // A PostgreSQL database restored with the server's own tools (docs/operations.md, "Backup and
  // restore on PostgreSQL") is held to the newest published checkpoint by `audit check
  // --against-sink`.  The stopped source stands for a backup; the deployment restored from it first
  // (live) went on and published a checkpoint; a second restore of the same backup (old) is older
  // than that, and once served it writes a history of its own that verifies by itself: a fork.
  test('audit check --against-sink: a restore older than the published checkpoint, or forked from it, exits 5', async () => {
    const live = await target(jg, 'postgres', 'fork-live', sink);
    const old = await target(jg, 'postgres', 'fork-old', sink);
    try {
      for (const to of [live, old]) {
        const c = runJitgate(['store', 'copy', '-c', jg.configPath, '--from', sourceUrl(jg), '--to', to.copyUrl]);
        assert.equal(c.code, 0, c.stdout + c.stderr);
      }
      const published = await serve(live, 2, INC);
      assert.ok(published.size > state.counts.audit_log);
      let r = check(live, '--against-sink', live.sink);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`they contain the off-host checkpoint .* \\(size ${published.size}\\)`));

      // the second restore verifies on its own, but lacks entries the world has seen
      r = check(old);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      r = check(old, '--against-sink', live.sink);
      assert.equal(r.code, 5, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^INVALID: the log holds ${state.counts.audit_log} entries but the off-host checkpoint \\S+ covers ${published.size}: ${published.size - state.counts.audit_log} entries already published are missing`));

      // served anyway, it appends past the published size a history of its own
      const forked = await serve(old, 4, 'INC-4712 another history');
      assert.ok(forked.size > published.size, `${forked.size} entries, ${published.size} published`);
      r = check(old);
      assert.equal(r.code, 0, `the fork verifies on its own: ${r.stdout}${r.stderr}`);
      for (const how of [['--against-sink', live.sink], ['--checkpoint', published.note]]) {
        r = check(old, ...how);
        assert.equal(r.code, 5, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`^INVALID: the log is not consistent with the off-host checkpoint \\S+ \\(size ${published.size}\\): its history differs from what was published \\(a fork or a rewrite\\)`));
      }
      // the deployment that published it holds it
      assert.equal(check(live, '--checkpoint', published.note).code, 0);
      // a note that is not this deployment's checkpoint proves nothing
      const junk = join(dir, 'checkpoint-99999999999999999999.note');
      writeFileSync(junk, readFileSync(published.note, 'utf8').replace(/\n\d+\n/, '\n99999999999999999999\n'));
      r = check(live, '--checkpoint', junk);
      assert.equal(r.code, 5, r.stdout + r.stderr);
      assert.match(r.stdout, /not a checkpoint of this log signed by a checkpoint key of key_dir/);
    } finally {
      await stopServers();
      live.drop();
      old.drop();
    }
  });
  // The documented logical backup (docs/operations.md, "Backup and restore on PostgreSQL"): pg_dump
  // -Fc as the owner, pg_restore into an empty database owned by the owner.  A dump taken before
  // the deployment published its newest checkpoint is refused by the check; one taken after passes
  // it, and jitgate serves from the restored database (its triggers and grants came with it).
  postgresOnly(test)('pg_dump and pg_restore: the restored database is held to the sink; an older dump is refused, a current one serves', async () => {
    const live = await target(jg, 'postgres', 'dump-live', sink);
    const restores = [];
    const dump = (name) => {
      const file = join(dir, `${name}.dump`);
      execFileSync('pg_dump', ['-Fc', '-f', file, '-d', live.copyUrl], { stdio: ['ignore', 'ignore', 'pipe'] });
      return file;
    };
    const restore = async (file, tag) => {
      const s = await pgStore(); // empty, owned by the owner role
      restores.push(s);
      execFileSync('pg_restore', ['--exit-on-error', '--no-password', '-d', s.ownerUrl, file], { stdio: ['ignore', 'ignore', 'pipe'] });
      const config = retarget(jg, `${tag}.yaml`, { url: s.url, ownerUrl: s.ownerUrl }, live.sink);
      // nothing pending in the restored database; its telemetry file is new
      const m = runJitgate(['migrate', '-c', config]);
      assert.equal(m.code, 0, m.stderr);
      return { config, sink: live.sink, db: s.db };
    };
    try {
      const c = runJitgate(['store', 'copy', '-c', jg.configPath, '--from', sourceUrl(jg), '--to', live.copyUrl]);
      assert.equal(c.code, 0, c.stdout + c.stderr);
      const before = dump('before');
      const published = await serve(live, 2, INC);
      const current = dump('current');

      const stale = await restore(before, 'restored-before');
      let r = check(stale);
      assert.equal(r.code, 0, `the older dump verifies on its own: ${r.stdout}${r.stderr}`);
      r = check(stale, '--against-sink', live.sink);
      assert.equal(r.code, 5, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^INVALID: the log holds ${state.counts.audit_log} entries but the off-host checkpoint \\S+ covers ${published.size}`));

      const now = await restore(current, 'restored-current');
      assert.deepEqual(now.db.entries().map((e) => e.raw.toString('hex')), live.db.entries().map((e) => e.raw.toString('hex')));
      r = check(now, '--against-sink', live.sink);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`they contain the off-host checkpoint .* \\(size ${published.size}\\)`));
      // served from the restore: the old token works, the log goes on and still holds the checkpoint
      const s = new Jitgate(jg.dir, jg.port, join(jg.dir, 'cert.pem'), now.config);
      s.idp = jg.idp;
      s.tokens = jg.tokens;
      servers.push(s);
      await s.start();
      const events = await withToken(s, state.token, 'GET', `/v1/services/${SVC}/probes/${state.probe}/events?limit=100&after=0`);
      assert.equal(events.status, 200, events.body);
      const q = await s.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '1h', justification: INC }));
      assert.equal(q.status, 201, q.body);
      await s.stop();
      assert.equal(s.exited.code, 0, s.stderr);
      r = check(now, '--against-sink', live.sink);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    } finally {
      await stopServers();
      for (const s of restores) s.drop();
      live.drop();
    }
  });
});
