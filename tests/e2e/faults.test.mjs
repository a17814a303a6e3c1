// Fault injection against the real binary, a real SQLite file and the real
// development identity provider (docs/reliability.md, "Fault injection"):
//
//   SIGKILL during concurrent audited writes  every acknowledged action is in the log; it verifies
//   disk full (RLIMIT_FSIZE), read-only      503 JSON, nothing half-written, recovery without restart;
//                                            a database it cannot write at start: exit 4, saying why;
//                                            one it cannot open: exit 4, a clean teardown (helgrind)
//   identity provider hanging, then down     cached keys keep working, the fetch is bounded, no starvation;
//                                            hanging at start-up: start bounded, bearer calls a prompt 503
//   wall clock stepped back and forward      no grant outlives its approval (libfaketime, monotonic real)
//   a corrupted audit row                    fail closed; the operator is told which entry
//   SIGHUP with broken policies               the old set stays in force, the error is logged
//   backup under load and restore            the copy verifies and serves; tampered and stale refused
//
// Figures (durations, counts) are printed as "# figure ..." diagnostics for docs/reliability.md.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { startJitgate, cleanup, runJitgate, writeConfig, Jitgate, BIN, ROOT, sqliteOnly, postgresOnly, TEST_LIMITS } from './lib/harness.mjs';
import { openDb } from './lib/db.mjs';
import { hangProvider, unknownKidToken } from './lib/common.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
const figure = (name, value) => console.log(`# figure ${name}: ${value}`);
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

function entriesOf(exportText) {
  return exportText.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l));
}

async function exportLog(jg) {
  const r = await jg.auditor('GET', '/v1/audit/export');
  assert.equal(r.status, 200, r.body);
  return r.body;
}

// `jitgate audit verify` of an export with the deployment's public checkpoint key.
function verifyOffline(jg, text) {
  const key = join(jg.dir, 'checkpoint.pub');
  const k = runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', jg.configPath]);
  assert.equal(k.code, 0, k.stderr);
  writeFileSync(key, k.stdout);
  const file = join(jg.dir, `export-${Date.now()}.jsonl`);
  writeFileSync(file, text);
  return runJitgate(['audit', 'verify', file, '--key', key]);
}

// Another server process on the same directory and port (after a stop or a kill).
function again(jg, env) {
  const next = new Jitgate(jg.dir, jg.port, join(jg.dir, 'cert.pem'), jg.configPath);
  next.idp = jg.idp;
  next.tokens = jg.tokens;
  next.db = jg.db;
  next.telemetryDb = jg.telemetryDb;
  if (env) {
    next.start = function start() { // Jitgate.start with an environment of our own
      this.proc = spawn(BIN, ['serve', '-c', this.configPath], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
      this.proc.stderr.setEncoding('utf8');
      this.proc.stderr.on('data', (d) => { this.stderr += d; });
      this.exitPromise = new Promise((ok) => this.proc.on('exit', (code, signal) => { this.exited = { code, signal }; ok(this.exited); }));
      return this.waitReady();
    };
  }
  return next;
}

// Replaces a stopped or killed server with `next` for cleanup().
function adopt(old, next) {
  old.proc = next.proc;
  old.exited = next.exited;
  old.exitPromise = next.exitPromise;
}

function actors(jg) {
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : json(body));
  return {
    post,
    readLogs: (user = 'alice', duration = '1h') => post(user, '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration, justification: 'checking gateway errors' }),
    probeRequest: (duration = '30m') => post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration, justification: INC }),
    approve: (id) => post('bob', `/v1/requests/${id}/approve`),
    issue: (id) => post('alice', `/v1/grants/${id}/token`),
    guarded: (token) => jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } }),
  };
}

describe('crash: SIGKILL during concurrent writes', () => {
  test('every acknowledged action has its audit entry after restart; the log verifies offline', async () => {
    const jg = await startJitgate();
    try {
      const a = actors(jg);
      for (const u of ['alice', 'bob', 'dave', 'erin']) await jg.tokenFor(u);
      const acked = { created: new Set(), approved: new Set(), tokens: [] };
      const pending = [];
      const granted = [];
      let stop = false;
      let errors = 0;
      const loop = (fn) => (async () => { while (!stop) { try { await fn(); } catch { errors++; } } })();
      const workers = [
        ...Array.from({ length: 4 }, () => loop(async () => {
          const r = await a.readLogs(Math.random() < 0.5 ? 'alice' : 'dave');
          if (r.status === 201) { acked.created.add(r.json.id); if (r.json.requester === 'alice') granted.push(r.json.id); }
        })),
        ...Array.from({ length: 2 }, () => loop(async () => {
          const r = await a.probeRequest();
          if (r.status === 201) { acked.created.add(r.json.id); pending.push(r.json.id); }
        })),
        ...Array.from({ length: 2 }, () => loop(async () => {
          const id = pending.shift();
          if (!id) return sleep(5);
          const r = await a.approve(id);
          if (r.status === 200) acked.approved.add(id);
        })),
        ...Array.from({ length: 2 }, () => loop(async () => {
          const id = granted[Math.floor(Math.random() * granted.length)];
          if (!id) return sleep(5);
          const r = await a.issue(id);
          if (r.status === 201) acked.tokens.push(r.json.audit.seq);
        })),
      ];
      const t0 = Date.now();
      await sleep(2500);
      jg.proc.kill('SIGKILL');
      await jg.exitPromise;
      stop = true;
      await Promise.all(workers);
      const acknowledged = acked.created.size + acked.approved.size + acked.tokens.length;
      figure('sigkill acknowledged actions', `${acknowledged} in ${Date.now() - t0} ms (${acked.created.size} created, ${acked.approved.size} approved, ${acked.tokens.length} tokens; ${errors} cut off by the kill)`);
      assert.ok(acked.created.size > 20 && acked.approved.size > 2 && acked.tokens.length > 2, JSON.stringify({ c: acked.created.size, a: acked.approved.size, t: acked.tokens.length }));

      const started = Date.now();
      const next = again(jg);
      await next.start();
      adopt(jg, next);
      figure('restart after SIGKILL (start-up verification included)', `${Date.now() - started} ms`);
      const text = await exportLog(next);
      const entries = entriesOf(text);
      const created = new Set(entries.filter((e) => e.type === 'request.created').map((e) => e.data.request));
      const approved = new Set(entries.filter((e) => e.type === 'request.approved').map((e) => e.data.request));
      const missing = [...acked.created].filter((id) => !created.has(id));
      assert.deepEqual(missing, [], 'acknowledged requests without a request.created entry');
      assert.deepEqual([...acked.approved].filter((id) => !approved.has(id)), [], 'acknowledged approvals lost');
      for (const seq of acked.tokens) assert.equal(entries[seq]?.type, 'token.issued', `token anchored at ${seq}`);
      // nothing half-written: every stored request has its entry, and no entry names a request not stored
      const rows = jg.db.rows('SELECT id FROM access_requests').map((r) => r.id);
      assert.deepEqual(rows.sort(), [...created].sort());
      const v = verifyOffline(jg, text);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /^VALID/);
    } finally {
      await cleanup(jg);
    }
  });
});

describe('storage faults: 503, nothing half-written, recovery without restart', () => {
  // SQLite by nature: the file size limit of the process writing the file (tests/e2e/README.md)
  sqliteOnly(test)('disk full (RLIMIT_FSIZE on the process): 503 JSON, no row, no entry; the same request succeeds afterwards', async () => {
    const jg = await startJitgate();
    try {
      const a = actors(jg);
      const count = (table) => jg.db.count(table);
      assert.equal((await a.readLogs()).status, 201);
      const pend = await a.probeRequest();
      assert.equal(pend.status, 201);
      const before = { rows: count('access_requests'), log: count('audit_log'), approvals: count('approvals') };
      execFileSync('prlimit', ['--pid', String(jg.proc.pid), '--fsize=1:unlimited']);
      let created, approved, health, ready;
      try {
        created = await a.readLogs();
        approved = await a.approve(pend.json.id);
        health = await jg.request('GET', '/healthz');
        ready = await jg.request('GET', '/readyz');
      } finally {
        execFileSync('prlimit', ['--pid', String(jg.proc.pid), '--fsize=unlimited']);
      }
      for (const r of [created, approved]) {
        assert.equal(r.status, 503, r.body);
        assert.match(r.headers['content-type'], /^application\/json/);
        assert.equal(r.json.error.code, 'unavailable');
      }
      assert.equal(health.status, 200, 'liveness does not depend on writing');
      assert.equal(ready.status, 503, 'readiness ignored a full disk');
      // space is back: the background thread's probe write brings readiness back with no caller
      const t0 = Date.now();
      let back;
      do { await sleep(100); back = await jg.request('GET', '/readyz'); } while (back.status !== 200 && Date.now() - t0 < 5000);
      figure('disk full cleared: /readyz 200 again after', `${Date.now() - t0} ms`);
      assert.equal(back.status, 200);
      assert.deepEqual({ rows: count('access_requests'), log: count('audit_log'), approvals: count('approvals') }, before);
      assert.deepEqual(jg.db.rows('SELECT state FROM access_requests WHERE id = ?', [pend.json.id]), [{ state: 'pending' }]);
      // space is back: the same calls succeed on the same process
      const retry = await a.approve(pend.json.id);
      assert.equal(retry.status, 200, retry.body);
      assert.equal(retry.json.state, 'active');
      assert.equal((await a.readLogs()).status, 201);
      assert.equal(count('access_requests'), before.rows + 1);
      await jg.stop();
      const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
      assert.equal(check.code, 0, check.stdout);
    } finally {
      await cleanup(jg);
    }
  });

  // SQLite by nature: immutable database files (tests/e2e/README.md)
  sqliteOnly(test)('read-only database (immutable files, which bind root too): 503 JSON, nothing written; recovers when writable again', async () => {
    const jg = await startJitgate();
    try {
      const a = actors(jg);
      const count = (table) => jg.db.count(table);
      assert.equal((await a.readLogs()).status, 201);
      const before = { rows: count('access_requests'), log: count('audit_log') };
      // chmod would not stop root nor a descriptor already open; the immutable flag stops both
      const files = ['jitgate.db', 'jitgate.db-wal'].map((f) => join(jg.dir, f)).filter(existsSync);
      execFileSync('chattr', ['+i', ...files]);
      let created, list, ready;
      try {
        created = await a.readLogs();
        list = await jg.as('alice', 'GET', '/v1/requests?mine=true');
        await sleep(1200); // the background writer tries a checkpoint meanwhile
        ready = await jg.request('GET', '/readyz');
      } finally {
        execFileSync('chattr', ['-i', ...files]);
      }
      assert.equal(created.status, 503, created.body);
      assert.match(created.headers['content-type'], /^application\/json/);
      assert.equal(created.json.error.code, 'unavailable');
      assert.equal(list.status, 200, 'reads keep working on a read-only store');
      assert.equal(list.json.requests.length, before.rows);
      assert.equal(ready.status, 503, 'readiness ignored a store that cannot be written');
      assert.match(ready.json.error.message, /cannot be written/);
      assert.deepEqual({ rows: count('access_requests'), log: count('audit_log') }, before);
      // writable again: same process, same call
      const retry = await a.readLogs();
      assert.equal(retry.status, 201, retry.body);
      assert.equal(count('access_requests'), before.rows + 1);
      assert.equal((await jg.request('GET', '/readyz')).status, 200);
      await jg.stop();
      const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
      assert.equal(check.code, 0, check.stdout);
    } finally {
      await cleanup(jg);
    }
  });

  // SQLite by nature: the modes of the database file and its directory (tests/e2e/README.md)
  sqliteOnly(test)('read-only at start (chmod, unprivileged user): serve refuses with exit 4 and says why; starts once writable', async () => {
    const jg = await startJitgate({ idp: false });
    try {
      await jg.stop();
      const db = join(jg.dir, 'jitgate.db');
      // The checkout may lie under a directory the unprivileged user cannot enter (a clone in
      // /root/src, or under `mktemp -d`): it gets its own copy of what serve reads from there.
      const own = join(jg.dir, 'own');
      mkdirSync(own);
      copyFileSync(BIN, join(own, 'jitgate'));
      chmodSync(join(own, 'jitgate'), 0o755);
      cpSync(join(ROOT, 'migrations'), join(own, 'migrations'), { recursive: true });
      cpSync(jg.policyDir, join(own, 'policies'), { recursive: true });
      const config = readFileSync(jg.configPath, 'utf8');
      const moved = config.replace(/^migrations_dir: .*$/m, `migrations_dir: ${join(own, 'migrations')}`)
        .replace(/^policy_dir: .*$/m, `policy_dir: ${join(own, 'policies')}`);
      assert.ok(!moved.includes(ROOT), `the configuration still names the checkout:\n${moved}`);
      writeFileSync(jg.configPath, moved);
      execFileSync('chown', ['-R', '65534:65534', jg.dir]);
      const asNobody = (timeout) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(own, 'jitgate'), 'serve', '-c', jg.configPath], { encoding: 'utf8', timeout });
      assert.ok(!existsSync(`${db}-wal`), 'a clean stop leaves no -wal');
      chmodSync(jg.dir, 0o500); // the directory: no -wal can be created
      const dir = asNobody(10000);
      chmodSync(jg.dir, 0o700);
      assert.equal(dir.status, 4, dir.stderr);
      assert.match(dir.stderr, /jitgate\.db: .*writable by this user/);
      chmodSync(db, 0o444); // the file
      const file = asNobody(10000);
      assert.equal(file.status, 4, file.stderr);
      assert.match(file.stderr, /jitgate\.db: .*writable by this user/);
      // SQLite gives a -wal and -shm it creates the database file's mode: fix all three
      for (const f of ['jitgate.db', 'jitgate.db-wal', 'jitgate.db-shm'].map((n) => join(jg.dir, n)).filter(existsSync)) chmodSync(f, 0o600);
      // writable: it starts (and serves until the timeout ends it)
      const ok = asNobody(3000);
      assert.match(ok.stderr, /"msg":"jitgate serving"/, ok.stderr);
    } finally {
      await cleanup(jg);
    }
  });

  // The PostgreSQL counterpart of the full disk (tests/e2e/README.md): the database lost under
  // the writes - every session ended and no new one possible - then back.
  postgresOnly(test)('connection loss (the database unreachable): 503 JSON, no row, no entry; the same request succeeds once it is back', async () => {
    const jg = await startJitgate();
    try {
      const a = actors(jg);
      const count = (table) => jg.db.count(table);
      assert.equal((await a.readLogs()).status, 201);
      const pend = await a.probeRequest();
      assert.equal(pend.status, 201);
      const before = { rows: count('access_requests'), log: count('audit_log'), approvals: count('approvals') };
      jg.store.reachable(false);
      let created, approved, health, ready;
      try {
        created = await a.readLogs();
        approved = await a.approve(pend.json.id);
        health = await jg.request('GET', '/healthz');
        ready = await jg.request('GET', '/readyz');
      } finally {
        jg.store.reachable(true);
      }
      for (const r of [created, approved]) {
        assert.equal(r.status, 503, r.body);
        assert.match(r.headers['content-type'], /^application\/json/);
        assert.equal(r.json.error.code, 'unavailable');
      }
      assert.equal(health.status, 200, 'liveness does not depend on the database');
      assert.equal(ready.status, 503, 'readiness ignored a lost database');
      // reconnections back off up to 5 s (store.h): readiness comes back with no caller
      const t0 = Date.now();
      let back;
      do { await sleep(100); back = await jg.request('GET', '/readyz'); } while (back.status !== 200 && Date.now() - t0 < 15000);
      figure('connection loss cleared: /readyz 200 again after', `${Date.now() - t0} ms`);
      assert.equal(back.status, 200, back.body);
      assert.deepEqual({ rows: count('access_requests'), log: count('audit_log'), approvals: count('approvals') }, before);
      assert.deepEqual(jg.db.rows('SELECT state FROM access_requests WHERE id = ?', [pend.json.id]), [{ state: 'pending' }]);
      const retry = await a.approve(pend.json.id);
      assert.equal(retry.status, 200, retry.body);
      assert.equal(retry.json.state, 'active');
      assert.equal((await a.readLogs()).status, 201);
      assert.equal(count('access_requests'), before.rows + 1);
      await jg.stop();
      const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
      assert.equal(check.code, 0, check.stdout);
    } finally {
      await cleanup(jg);
    }
  });

  // On PostgreSQL a guarded read waits a round trip, so guarded routes run on workers, never on an
  // event loop (docs/architecture.md, threads): a database that is slow to answer them stalls them
  // alone.  One event loop, and guarded calls stuck behind a lock on access_requests: liveness and
  // the JWKS answer at once on that loop, and the stuck calls complete once the lock goes.
  postgresOnly(test)('a slow database stalls only the calls that wait for it: /healthz and the JWKS answer on the same event loop', async () => {
    const jg = await startJitgate({ extraConfig: `${TEST_LIMITS}\n  event_threads: 1\n` });
    let holder;
    try {
      const a = actors(jg);
      const pend = await a.probeRequest();
      assert.equal(pend.status, 201, pend.body);
      assert.equal((await a.approve(pend.json.id)).status, 200);
      const tok = await a.issue(pend.json.id);
      assert.equal(tok.status, 201, tok.body);
      assert.equal((await a.guarded(tok.json.token)).status, 200);
      // a session that holds access_requests for 3 s: every guarded read of a grant waits for it
      holder = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', jg.db.url], { stdio: ['pipe', 'ignore', 'pipe'] });
      let holderErr = '';
      holder.stderr.on('data', (d) => { holderErr += d; });
      const holderDone = new Promise((ok) => holder.on('exit', ok));
      holder.stdin.end("BEGIN;\nLOCK TABLE access_requests IN ACCESS EXCLUSIVE MODE;\n\\echo locked\nSELECT pg_sleep(3);\nCOMMIT;\n");
      // the lock is held once a new session's lock request on the table waits behind it
      let waiting = false;
      for (let i = 0; i < 50 && !waiting; i++) {
        await sleep(50);
        waiting = jg.db.rows("SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'access_requests' AND l.mode = 'AccessExclusiveLock' AND l.granted").at(0).n === 1;
      }
      assert.ok(waiting, `the lock was not taken: ${holderErr}`);
      const t0 = Date.now();
      const stuck = Array.from({ length: 4 }, () => a.guarded(tok.json.token).then((r) => ({ r, at: Date.now() - t0 })));
      await sleep(300); // the guarded calls are in and waiting on the lock
      const health = await jg.request('GET', '/healthz');
      const healthAt = Date.now() - t0;
      const jwks = await jg.request('GET', '/.well-known/jwks.json');
      const jwksAt = Date.now() - t0;
      figure('guarded calls stuck on a lock: /healthz answered after', `${healthAt} ms`);
      assert.equal(health.status, 200);
      assert.equal(jwks.status, 200);
      assert.ok(healthAt < 1500 && jwksAt < 1500, `the event loop waited with the stuck calls: /healthz at ${healthAt} ms, JWKS at ${jwksAt} ms`);
      const done = await Promise.all(stuck);
      assert.equal(await holderDone, 0, holderErr);
      for (const { r, at } of done) {
        assert.equal(r.status, 200, r.body);
        assert.ok(at >= 2000, `a guarded call answered at ${at} ms while the grant's table was locked`);
      }
    } finally {
      holder?.kill();
      await cleanup(jg);
    }
  });

  // The PostgreSQL counterpart of the immutable files: sessions read-only by default.
  postgresOnly(test)('read-only database (default_transaction_read_only): 503 JSON, nothing written, reads work; recovers when writable again', async () => {
    const jg = await startJitgate();
    try {
      const a = actors(jg);
      const count = (table) => jg.db.count(table);
      assert.equal((await a.readLogs()).status, 201);
      const before = { rows: count('access_requests'), log: count('audit_log') };
      jg.store.readOnly(true);
      let created, list, ready;
      try {
        created = await a.readLogs();
        list = await jg.as('alice', 'GET', '/v1/requests?mine=true');
        await sleep(1200); // the background writer tries a checkpoint meanwhile
        ready = await jg.request('GET', '/readyz');
      } finally {
        jg.store.readOnly(false);
      }
      assert.equal(created.status, 503, created.body);
      assert.match(created.headers['content-type'], /^application\/json/);
      assert.equal(created.json.error.code, 'unavailable');
      assert.equal(list.status, 200, 'reads keep working on a read-only store');
      assert.equal(list.json.requests.length, before.rows);
      assert.equal(ready.status, 503, 'readiness ignored a store that cannot be written');
      assert.match(ready.json.error.message, /cannot be written/);
      assert.deepEqual({ rows: count('access_requests'), log: count('audit_log') }, before);
      // writable again: same process, same call
      const retry = await a.readLogs();
      assert.equal(retry.status, 201, retry.body);
      assert.equal(count('access_requests'), before.rows + 1);
      const t0 = Date.now();
      let back;
      do { await sleep(100); back = await jg.request('GET', '/readyz'); } while (back.status !== 200 && Date.now() - t0 < 5000);
      assert.equal(back.status, 200, back.body);
      await jg.stop();
      const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
      assert.equal(check.code, 0, check.stdout);
    } finally {
      await cleanup(jg);
    }
  });

  // The PostgreSQL counterpart of the file modes at start: a database whose sessions are
  // read-only, and a serving role that cannot sign in.
  postgresOnly(test)('read-only or refused at start: serve exits 4 and says why; starts once writable', async () => {
    const jg = await startJitgate({ idp: false });
    try {
      await jg.stop();
      jg.store.readOnly(true);
      let r;
      try {
        r = spawnSync(BIN, ['serve', '-c', jg.configPath], { encoding: 'utf8', timeout: 10000 });
      } finally {
        jg.store.readOnly(false);
      }
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /transactions are read-only by default \(default_transaction_read_only\)/);
      // a role the server does not know (with trust on loopback, a wrong password cannot be shown)
      const config = readFileSync(jg.configPath, 'utf8');
      writeFileSync(jg.configPath, config.replace(/^ {2}url: "postgres:\/\/[a-z_0-9]+@/m, '  url: "postgres://jg_e2e_nobody@'));
      r = spawnSync(BIN, ['serve', '-c', jg.configPath], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /cannot open the store: .*jg_e2e_nobody/);
      writeFileSync(jg.configPath, config);
      const ok = spawnSync(BIN, ['serve', '-c', jg.configPath], { encoding: 'utf8', timeout: 3000 });
      assert.match(ok.stderr, /"msg":"jitgate serving"/, ok.stderr);
    } finally {
      await cleanup(jg);
    }
  });

  // The start-up failure paths tear down what they set up, and only that: under helgrind (which
  // knows which locks were initialised), a store that cannot be opened exits 4 with no error in
  // jitgate's own code (it destroyed the policy lock before initialising it).
  test('a store that cannot be opened: exit 4, and the teardown touches nothing it did not set up (helgrind)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jg-e2e-'));
    try {
      const config = writeConfig(dir, 1, '');
      writeFileSync(config, readFileSync(config, 'utf8').replace(/^ {2}url: .*$/m, `  url: "sqlite://${join(dir, 'missing', 'jitgate.db')}"`));
      const r = spawnSync('valgrind', ['--tool=helgrind', '--error-exitcode=99', `--suppressions=${join(ROOT, 'tests', 'e2e', 'lib', 'helgrind.supp')}`,
        BIN, 'serve', '-c', config], { encoding: 'utf8', timeout: 60000 });
      assert.equal(r.error, undefined, 'valgrind is installed (deploy/install-deps.sh)');
      assert.match(r.stderr, /cannot open the store: .*missing\/jitgate\.db/);
      assert.match(r.stderr, /ERROR SUMMARY: 0 errors/, r.stderr);
      assert.equal(r.status, 4, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});


describe('identity provider down or slow', () => {
  test('hanging provider: cached keys keep working, the JWKS fetch gives up within its timeout, other callers are not held up', async () => {
    const jg = await startJitgate({ minRefresh: 1 });
    let hang;
    try {
      assert.equal((await jg.as('alice', 'GET', '/v1/requests?mine=true')).status, 200); // keys fetched and cached
      await jg.tokenFor('bob');
      // the provider stops answering: same port, connections accepted, never a byte back
      hang = await hangProvider(jg.idp);
      const { held } = hang;
      await sleep(1100); // past jwks_min_refresh_seconds

      const t0 = Date.now();
      const slow = jg.request('GET', '/v1/requests?mine=true', { headers: { authorization: `Bearer ${unknownKidToken()}` } })
        .then((r) => ({ r, ms: Date.now() - t0 }));
      while (held.length === 0 && Date.now() - t0 < 3000) await sleep(20); // the fetch is now hanging
      assert.ok(held.length >= 1, 'jitgate did not contact the provider for the unknown kid');
      // meanwhile: 24 other calls, cached keys and anonymous endpoints, all prompt
      const others = await Promise.all(Array.from({ length: 24 }, (_, i) => {
        const s = Date.now();
        const p = i % 3 === 0 ? jg.request('GET', '/healthz') : jg.as(i % 3 === 1 ? 'alice' : 'bob', 'GET', '/v1/requests?mine=true');
        return p.then((r) => ({ status: r.status, ms: Date.now() - s }));
      }));
      const worst = Math.max(...others.map((o) => o.ms));
      figure('hanging provider: slowest of 24 concurrent other calls', `${worst} ms`);
      for (const o of others) assert.equal(o.status, 200);
      assert.ok(worst < 2000, `other callers were held up: ${worst} ms`);
      const { r, ms } = await Promise.race([slow, sleep(20000).then(() => assert.fail('the call that needed the JWKS never answered'))]);
      figure('hanging provider: the call that needed the JWKS answered after', `${ms} ms (${r.status})`);
      assert.equal(r.status, 401, r.body);
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.ok(ms >= 2500 && ms < 9000, `the JWKS fetch was not bounded by its timeout: ${ms} ms`);

      // the provider is down (connection refused): unknown keys fail fast, known ones still work
      hang.close();
      await sleep(1100);
      const t1 = Date.now();
      const down = await jg.request('GET', '/v1/requests?mine=true', { headers: { authorization: `Bearer ${unknownKidToken()}` } });
      figure('provider down: the call that needed the JWKS answered after', `${Date.now() - t1} ms (${down.status})`);
      assert.equal(down.status, 401);
      assert.ok(Date.now() - t1 < 2000);
      assert.equal((await jg.as('alice', 'GET', '/v1/requests?mine=true')).status, 200);
    } finally {
      if (hang) hang.close();
      await cleanup(jg);
    }
  });
  test('provider hanging at start-up: serve starts within the discovery timeout; bearer calls get a prompt 503, not a hang', async () => {
    const held = [];
    const hang = net.createServer((s) => { held.push(s); s.on('error', () => {}); });
    await new Promise((ok) => hang.listen(0, '127.0.0.1', ok));
    let jg;
    try {
      const t0 = Date.now();
      jg = await startJitgate({ idp: false, oidc: { issuer: `http://127.0.0.1:${hang.address().port}` } });
      const startMs = Date.now() - t0;
      figure('provider hanging at start-up: serve ready after', `${startMs} ms (certificate, migrate, keys included)`);
      assert.ok(startMs < 9500, `start-up waited on the provider: ${startMs} ms`);
      assert.ok(held.length >= 1, 'the provider was never contacted');
      assert.ok(jg.logLines().some((l) => l.msg === "oidc: cannot fetch the provider's keys; will retry"));
      const t1 = Date.now();
      const r = await jg.request('GET', '/v1/requests?mine=true', { headers: { authorization: `Bearer ${unknownKidToken()}` } });
      assert.equal(r.status, 503, r.body);
      assert.equal(r.json.error.code, 'unavailable');
      assert.ok(Date.now() - t1 < 2000, `a bearer call waited on the provider: ${Date.now() - t1} ms`);
      assert.equal((await jg.request('GET', '/healthz')).status, 200);
    } finally {
      hang.close();
      for (const s of held) s.destroy();
      await cleanup(jg);
    }
  });
});

describe('clock jumps (libfaketime drives the real binary; CLOCK_MONOTONIC stays real)', () => {
  // The process's wall clock is the real one shifted by the offset in this file, re-read on every call.
  async function fakedServer() {
    assert.ok(existsSync(FAKETIME_LIB), 'libfaketime is missing: deploy/install-deps.sh installs it');
    const jg = await startJitgate();
    await jg.stop();
    const offset = join(jg.dir, 'faketime');
    writeFileSync(offset, '+0\n');
    const env = { LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_DONT_RESET: '1' };
    const next = again(jg, env);
    await next.start();
    adopt(jg, next);
    return { jg: next, owner: jg, setOffset: (s) => writeFileSync(offset, `${s >= 0 ? '+' : ''}${s}\n`), env };
  }
  const stateOf = (jg, id) => jg.db.rows('SELECT state FROM access_requests WHERE id = ?', [id])[0]?.state ?? '';

  test('stepped back 25 s (and restarted meanwhile): a 6 s grant still ends 6 s after approval', async () => {
    const { jg, owner, setOffset, env } = await fakedServer();
    let cur = jg;
    try {
      const a = actors(jg);
      const req = await a.probeRequest(6);
      assert.equal(req.status, 201, req.body);
      const ok = await a.approve(req.json.id);
      assert.equal(ok.json.state, 'active');
      const approvedAt = Date.now();
      const tok = await a.issue(req.json.id);
      assert.equal(tok.status, 201);
      assert.equal((await a.guarded(tok.json.token)).status, 200);
      const lastEntry = Date.now(); // the guarded call's audit entry was written before this
      setOffset(-25); // inside the provider tokens' leeway, so the API stays usable
      await sleep(1500);
      // a restart while the clock is behind: the time of the newest audit entry is the floor
      await cur.stop();
      cur = again(jg, env);
      await cur.start();
      adopt(owner, cur);
      const downtime = Date.now() - lastEntry; // not counted while the wall clock is behind
      const warned = cur.logLines().find((l) => /wall clock is behind the newest audit entry/.test(l.msg));
      assert.ok(warned && warned.behind_ms > 20000, `no start-up warning about the clock: ${cur.stderr}`);
      const b = actors(cur);
      let lifetime = null;
      while (lifetime === null && Date.now() - approvedAt < 20000) {
        if (stateOf(jg, req.json.id) === 'expired') lifetime = Date.now() - approvedAt;
        else await sleep(100);
      }
      figure('clock -25 s with a restart: a 6 s grant ended after', `${lifetime} ms, of which ${downtime} ms from its last entry to the restart (without the fix: about 31 s)`);
      // 6 s, plus the time from the last entry to the restart (not counted while the wall clock is behind), plus the sweeper's tick
      assert.ok(lifetime !== null && lifetime < 6000 + downtime + 1500, `the grant outlived its approval: ${lifetime} ms (downtime ${downtime} ms)`);
      const call = await b.guarded(tok.json.token);
      assert.notEqual(call.status, 200, `the grant outlived its approval: ${call.body}`);
      const shown = await cur.as('alice', 'GET', `/v1/requests/${req.json.id}`);
      assert.equal(shown.json.state, 'expired');
      // audit timestamps never go backward
      const ts = jg.db.entries().map((e) => Number(e.json.ts));
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i] >= ts[i - 1], `entry ${i} is older than entry ${i - 1}`);
    } finally {
      await cleanup(owner);
    }
  });

  test('stepped forward 2 h: grants end at once (never late); stepping back does not revive them', async () => {
    const { jg, owner, setOffset } = await fakedServer();
    try {
      const a = actors(jg);
      const req = await a.probeRequest('30m');
      const ok = await a.approve(req.json.id);
      assert.equal(ok.json.state, 'active');
      const tok = await a.issue(req.json.id);
      assert.equal((await a.guarded(tok.json.token)).status, 200);
      setOffset(7200);
      const t0 = Date.now();
      let call;
      do { await sleep(100); call = await a.guarded(tok.json.token); } while (call.status === 200 && Date.now() - t0 < 3000);
      assert.equal(call.status, 401, call.body);
      while (stateOf(jg, req.json.id) !== 'expired' && Date.now() - t0 < 4000) await sleep(100);
      figure('clock +2h: grant expired by the sweeper after', `${Date.now() - t0} ms`);
      assert.equal(stateOf(jg, req.json.id), 'expired');
      setOffset(0);
      await sleep(500);
      assert.notEqual((await a.guarded(tok.json.token)).status, 200, 'stepping back revived a token');
      assert.equal(stateOf(jg, req.json.id), 'expired');
      // the provider's tokens are judged by the wall clock: once it is right again, sign-in works
      const shown = await jg.as('alice', 'GET', `/v1/requests/${req.json.id}`);
      assert.equal(shown.status, 200, shown.body);
      assert.equal(shown.json.state, 'expired');
    } finally {
      await cleanup(owner);
    }
  });
});

describe('a corrupted audit row', () => {
  test('fail closed at once and at the next start, naming the entry', async () => {
    const jg = await startJitgate({ extraConfig: 'audit:\n  verify_budget: 100\n' });
    try {
      const a = actors(jg);
      for (let i = 0; i < 4; i++) assert.equal((await a.readLogs()).status, 201);
      // garbage in the middle of entry 2: not even JSON any more
      jg.db.tamperEntry(2, (text) => `${text.slice(0, 40)}garbage`);
      const t0 = Date.now();
      let ready;
      do { await sleep(100); ready = await jg.request('GET', '/readyz'); } while (ready.status === 200 && Date.now() - t0 < 5000);
      figure('corrupted row: detected by the running server after', `${Date.now() - t0} ms`);
      assert.equal(ready.status, 503);
      const line = jg.logLines().find((l) => /no longer verifies/.test(l.msg));
      assert.ok(line, 'no operator message');
      assert.match(line.why, /^entry 2: /);
      const refused = await a.readLogs();
      assert.equal(refused.status, 503, refused.body);
      assert.equal(refused.json.error.code, 'unavailable');
      assert.equal(jg.db.count('access_requests'), 4, 'a write went through on a broken log');
      await jg.stop();
      const restart = again(jg);
      await assert.rejects(restart.start(), /exited early/);
      adopt(jg, restart);
      assert.equal(restart.exited.code, 5);
      const start = restart.logLines().find((l) => /does not verify/.test(l.msg));
      assert.equal(start.first_bad_seq, 2);
      const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
      assert.equal(check.code, 5);
      assert.match(check.stdout, /^INVALID: first bad seq 2: /);
    } finally {
      await cleanup(jg);
    }
  });
});

describe('SIGHUP with broken policies', () => {
  test('unparsable YAML, a missing directory: the set in force stays, the error is logged, requests in flight are unaffected', async () => {
    const jg = await startJitgate({ copyPolicies: true });
    try {
      const a = actors(jg);
      const file = join(jg.policyDir, 'payments.yaml');
      const original = readFileSync(file, 'utf8');
      const sha = (await a.post('alice', '/v1/requests?dry_run=true', { service: SVC, capabilities: ['read-logs'], duration: '3h', justification: 'x' })).json.decision.policy_sha256;
      let stop = false;
      const statuses = [];
      // three clients, so that requests are in flight through every reload even on a loaded machine
      // (one client completed as few as 5 over the three reloads there, on either backend)
      const client = async () => { while (!stop) statuses.push((await a.readLogs()).status); };
      const load = Promise.all([client(), client(), client()]);
      const refusals = () => jg.logLines().filter((l) => l.msg === 'policies refused').length;
      const breakages = [
        () => writeFileSync(file, 'policy: payments-debug\nrules: [\n  - {capabilities: [read-logs\n'),
        () => writeFileSync(file, '\t- not: yaml: at all\n'),
        () => renameSync(jg.policyDir, `${jg.policyDir}.gone`),
      ];
      for (const breakIt of breakages) {
        const seen = refusals();
        breakIt();
        jg.proc.kill('SIGHUP');
        const until = Date.now() + 5000;
        while (refusals() === seen) { assert.ok(Date.now() < until, 'no "policies refused" in the log'); await sleep(50); }
        const d = await a.post('alice', '/v1/requests?dry_run=true', { service: SVC, capabilities: ['read-logs'], duration: '3h', justification: 'x' });
        assert.equal(d.json.decision.decision, 'grant');
        assert.equal(d.json.decision.policy_sha256, sha, 'a broken set was put in force');
        if (existsSync(`${jg.policyDir}.gone`)) renameSync(`${jg.policyDir}.gone`, jg.policyDir);
        writeFileSync(file, original);
      }
      stop = true;
      await load;
      assert.ok(statuses.length > 5);
      assert.deepEqual([...new Set(statuses)], [201], 'a request failed during the reloads');
      const entries = entriesOf(await exportLog(jg)).filter((e) => e.type === 'policy.reload_refused');
      assert.equal(entries.length, 3);
      for (const e of entries) assert.equal(e.data.kept_sha256, sha);
    } finally {
      await cleanup(jg);
    }
  });
});

// SQLite by nature: jitgate backup/restore copy SQLite files (tests/e2e/README.md)
// On PostgreSQL `jitgate backup` and `restore` have nothing to copy: they refuse, pointing to the
// server's own tools (docs/operations.md, "Backups and restores"), and change nothing.
postgresOnly(describe)('backup and restore (PostgreSQL)', () => {
  test('jitgate backup and restore refuse a PostgreSQL database with exit 2, naming the tools to use', async () => {
    const jg = await startJitgate({ idp: false });
    try {
      const file = join(jg.dir, 'copy.db');
      const b = runJitgate(['backup', file, '-c', jg.configPath]);
      assert.equal(b.code, 2, b.stderr);
      assert.match(b.stderr, /the database is PostgreSQL: backup copies SQLite files only; back up PostgreSQL with its own tools \(pg_basebackup or pg_dump\)/);
      assert.ok(!existsSync(file), 'backup wrote a file');
      const r = runJitgate(['restore', file, '-c', jg.configPath]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /restore copies SQLite files only.*docs\/operations\.md/);
      assert.equal((await jg.request('GET', '/readyz')).status, 200);
    } finally {
      await cleanup(jg);
    }
  });
});

sqliteOnly(describe)('backup and restore', () => {
  test('a backup taken under load restores into a fresh directory, serves, and verifies; tampered and stale backups are refused', async () => {
    const sink = mkdtempSync(join(tmpdir(), 'jg-sink-'));
    const jg = await startJitgate({ extraConfig: `audit:\n  origin: jitgate.test/audit\n  checkpoint_every_entries: 5\n  sink_dir: ${sink}\n` });
    const fresh = mkdtempSync(join(tmpdir(), 'jg-restore-'));
    let restored;
    try {
      const a = actors(jg);
      let stop = false;
      let acked = 0;
      const load = Array.from({ length: 4 }, () => (async () => { while (!stop) if ((await a.readLogs()).status === 201) acked++; })());
      await sleep(800);
      const backup = join(fresh, 'backup.db');
      const t0 = Date.now();
      const b = runJitgate(['backup', backup, '-c', jg.configPath]);
      const backupMs = Date.now() - t0;
      await sleep(400);
      stop = true;
      await Promise.all(load);
      assert.equal(b.code, 0, b.stderr);
      const backedUp = Number(b.stdout.match(/: (\d+) audit entries, verified/)[1]);
      figure('backup under load (copy and verification)', `${backupMs} ms for ${backedUp} entries while ${acked} requests were acknowledged`);
      assert.ok(backedUp > 5 && acked > backedUp - 1, `${backedUp} entries backed up, ${acked} acknowledged`);
      assert.equal(statSync(backup).mode & 0o777, 0o600);
      // one snapshot across tables: every request in the copy has its entry in the copy's log, and no more
      const copy = openDb(`sqlite://${backup}`);
      const rowsIn = copy.rows('SELECT id FROM access_requests ORDER BY id').map((r) => r.id).join('\n');
      const entriesIn = copy.entries({ type: 'request.created' }).map((e) => e.json.data.request).sort().join('\n');
      assert.equal(rowsIn, entriesIn);
      assert.equal(rowsIn.split('\n').length, backedUp);
      assert.equal(runJitgate(['backup', backup, '-c', jg.configPath]).code, 1, 'a backup overwrote a file');

      // a restore refuses while jitgate runs on the database
      const busy = runJitgate(['restore', backup, '-c', jg.configPath]);
      assert.equal(busy.code, 4);
      assert.match(busy.stderr, /in use by a jitgate process/);

      // restore into a fresh deployment directory: same keys, config and sink, no database yet
      for (const f of ['cert.pem', 'key.pem', 'keys', 'client-secret']) cpSync(join(jg.dir, f), join(fresh, f), { recursive: true });
      const port = jg.port + 0;
      const cfg = readFileSync(jg.configPath, 'utf8').replaceAll(jg.dir, fresh);
      const freshCfg = join(fresh, 'jitgate.yaml');
      writeFileSync(freshCfg, cfg);
      // the sink has seen checkpoints past the backup only if the log grew: make sure it has the newest
      assert.equal((await jg.auditor('POST', '/v1/audit/checkpoint')).status, 201);
      const stale = runJitgate(['restore', backup, '-c', freshCfg]);
      assert.equal(stale.code, 5, stale.stderr);
      assert.match(stale.stderr, /refused: the backup holds \d+ audit entries but the off-host checkpoint .* covers \d+/);
      assert.ok(!existsSync(join(fresh, 'jitgate.db')) || statSync(join(fresh, 'jitgate.db')).size === 0);

      // a backup made now (the newest) restores
      await jg.stop();
      const current = join(fresh, 'current.db');
      assert.equal(runJitgate(['backup', current, '-c', jg.configPath]).code, 0);
      const tampered = join(fresh, 'tampered.db');
      cpSync(current, tampered);
      openDb(`sqlite://${tampered}`).tamperEntry(3, (text) => text.replaceAll('"duration":3600', '"duration":36000'));
      const bad = runJitgate(['restore', tampered, '-c', freshCfg]);
      assert.equal(bad.code, 5);
      assert.match(bad.stderr, /first bad seq 3/);

      const t1 = Date.now();
      const ok = runJitgate(['restore', current, '-c', freshCfg]);
      figure('restore (copy, verification, consistency, swap)', `${Date.now() - t1} ms`);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /consistent with the off-host checkpoint of size \d+/);
      // telemetry is not in a backup (its own file, kept days, not state): migrate makes an empty one
      const m = runJitgate(['migrate', '-c', freshCfg]);
      assert.equal(m.code, 0, m.stderr);
      restored = new Jitgate(fresh, port, join(fresh, 'cert.pem'), freshCfg);
      restored.idp = jg.idp;
      await restored.start();
      const text = await exportLog(restored);
      const v = verifyOffline(restored, text);
      assert.equal(v.code, 0, v.stdout);
      assert.ok(entriesOf(text).filter((e) => e.type === 'request.created').length >= acked);
    } finally {
      if (restored) await restored.stop('SIGKILL');
      await cleanup(jg);
      rmSync(fresh, { recursive: true, force: true });
      rmSync(sink, { recursive: true, force: true });
    }
  });

  test('a backup whose history forks from a kept checkpoint is refused even though it verifies on its own', async () => {
    const jg = await startJitgate({ idp: false, extraConfig: 'audit:\n  origin: jitgate.test/audit\n' });
    const forkDir = mkdtempSync(join(tmpdir(), 'jg-fork-'));
    try {
      await jg.stop();
      const exportWith = (cfg, from = '0') => assert.equal(runJitgate(['audit', 'export', '-c', cfg, '--from', from, '-o', '/dev/null']).code, 0);
      exportWith(jg.configPath);
      const early = join(jg.dir, 'early.db');
      assert.equal(runJitgate(['backup', early, '-c', jg.configPath]).code, 0);
      for (let i = 0; i < 3; i++) exportWith(jg.configPath);
      // the checkpoint an auditor kept (the log has 4 entries)
      const cp = runJitgate(['audit', 'checkpoint', '-c', jg.configPath]);
      assert.match(cp.stdout, /\n4\n/);
      const note = join(jg.dir, 'kept.note');
      writeFileSync(note, cp.stdout);
      // the fork: the early copy grown differently, signed with the same key
      for (const f of ['cert.pem', 'key.pem', 'keys', 'jitgate.yaml']) cpSync(join(jg.dir, f), join(forkDir, f), { recursive: true });
      cpSync(early, join(forkDir, 'jitgate.db'));
      const forkCfg = join(forkDir, 'jitgate.yaml');
      for (let i = 0; i < 6; i++) exportWith(forkCfg, '1');
      const forked = join(jg.dir, 'forked.db');
      assert.equal(runJitgate(['backup', forked, '-c', forkCfg]).code, 0);
      const r = runJitgate(['restore', forked, '-c', jg.configPath, '--checkpoint', note]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /not consistent with the off-host checkpoint/);
      // no sink and no --checkpoint: nothing to check against, refused
      const none = runJitgate(['restore', forked, '-c', jg.configPath]);
      assert.equal(none.code, 5);
      assert.match(none.stderr, /no off-host checkpoint/);
      // the database in place is untouched, and the genuine line restores against the kept note
      assert.match(runJitgate(['audit', 'check', '-c', jg.configPath]).stdout, /^VALID: 4 entries/);
      const genuine = join(jg.dir, 'genuine.db');
      assert.equal(runJitgate(['backup', genuine, '-c', jg.configPath]).code, 0);
      const ok = runJitgate(['restore', genuine, '-c', jg.configPath, '--checkpoint', note]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /kept as .*jitgate\.db\.pre-restore-\d+/);
    } finally {
      await cleanup(jg);
      rmSync(forkDir, { recursive: true, force: true });
    }
  });
});
