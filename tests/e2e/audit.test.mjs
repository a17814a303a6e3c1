// The audit log as operators and auditors rely on it, against the real
// server and a real SQLite file: exports verify; a store tampered with
// underneath stops the server at start-up naming the entry (the whole log
// when there is no verified state, the entries after it when there is one);
// a fault found while serving is stored and stops every later start; writes fail
// closed (503, nothing changed) when the store is read-only or full and
// recover afterwards; a SIGKILL during concurrent appends loses nothing
// that was acknowledged; checkpoints reach the off-host sinks.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { startJitgate, cleanup, runJitgate, Jitgate, freePort, makeCert, BIN, copyStore, sqliteOnly, postgresOnly, PG_SERVING } from './lib/harness.mjs';
import { openDb } from './lib/db.mjs';

async function exportLog(jg, query = '') {
  const r = await jg.auditor('GET', `/v1/audit/export${query}`);
  assert.equal(r.status, 200, r.body);
  return r.body;
}

function publicKey(jg) {
  const file = join(jg.dir, 'checkpoint.pub');
  const r = runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', jg.configPath]);
  assert.equal(r.code, 0, r.stderr);
  writeFileSync(file, r.stdout);
  return file;
}

function verifyFile(text, key, dir) {
  const file = join(dir, `export-${Math.random().toString(16).slice(2)}.jsonl`);
  writeFileSync(file, text);
  return runJitgate(['audit', 'verify', file, '--key', key]);
}

describe('auditor endpoints', () => {
  let jg;
  before(async () => { jg = await startJitgate(); });
  after(() => cleanup(jg));

  test('export needs the auditor credential (401 with WWW-Authenticate)', async () => {
    const none = await jg.request('GET', '/v1/audit/export');
    assert.equal(none.status, 401);
    assert.match(none.headers['www-authenticate'], /^Bearer/);
    const wrong = await jg.request('GET', '/v1/audit/export', { headers: { authorization: 'Bearer not-the-token-at-all' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers['www-authenticate'], /invalid_token/);
  });

  test('an export is itself audited, ends with a checkpoint covering it, and verifies offline', async () => {
    const first = await exportLog(jg);
    const second = await exportLog(jg);
    const lines = second.trim().split('\n');
    const header = JSON.parse(lines[0]);
    assert.equal(header.format, 'jitgate-audit-export');
    const entries = lines.slice(1, -1).map((l) => JSON.parse(l));
    assert.equal(entries.length, 2);
    assert.deepEqual(entries.map((e) => e.type), ['audit.exported', 'audit.exported']);
    assert.deepEqual(entries.map((e) => e.seq), [0, 1]);
    assert.equal(entries[0].actor, 'user:erin');
    const cp = JSON.parse(lines.at(-1)).checkpoint;
    assert.match(cp, /^127\.0\.0\.1:\d+\/audit\n2\n[A-Za-z0-9+/]{43}=\n\n\u2014 /);
    const key = publicKey(jg);
    const v = verifyFile(second, key, jg.dir);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^VALID: .*entries 0\.\.1/);
    assert.equal(verifyFile(first, key, jg.dir).code, 0);
  });

  test('a partial export (from > 0, to < size - 1) verifies on its own', async () => {
    for (let i = 0; i < 6; i++) await exportLog(jg);
    const part = await exportLog(jg, '?from=3&to=5');
    const header = JSON.parse(part.split('\n')[0]);
    assert.ok(header.left.length > 0 && header.right.length > 0, part.split('\n')[0]);
    const v = verifyFile(part, publicKey(jg), jg.dir);
    assert.equal(v.code, 0, v.stdout);
    assert.match(v.stdout, /entries 3\.\.5/);
  });

  test('the landing page offers sign-in to a stranger', async () => {
    const r = await jg.request('GET', '/');
    assert.equal(r.status, 200);
    assert.match(r.body, /href="\/auth\/login"/);
  });

  test('bad ranges are 400 and change nothing', async () => {
    const before = (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
    for (const q of ['?from=abc', '?from=-1', '?to=999999', '?from=5&to=2', '?from=01']) {
      const r = await jg.auditor('GET', `/v1/audit/export${q}`);
      assert.equal(r.status, 400, `${q}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
    }
    const proof = await jg.auditor('GET', '/v1/audit/proof');
    assert.equal(proof.status, 400);
    const after = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    assert.equal(after.size, before.size, 'a refused request appended to the log');
  });

  test('inclusion and consistency proofs are served for checkpointed sizes', async () => {
    const cp = (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
    const p = await jg.auditor('GET', `/v1/audit/proof?seq=1&size=${cp.size}`);
    assert.equal(p.status, 200);
    assert.equal(p.json.root, cp.root);
    assert.equal(p.json.proof.length, Math.ceil(Math.log2(cp.size)));
    const c = await jg.auditor('GET', `/v1/audit/consistency?from=2&to=${cp.size}`);
    assert.equal(c.status, 200);
    assert.equal(c.json.root_to, cp.root);
  });
});

describe('start-up verification (the whole log: no verified state) catches a store tampered with underneath', () => {
  let base, cfgText;
  before(async () => {
    const jg = await startJitgate();
    for (let i = 0; i < 9; i++) await exportLog(jg); // 9 entries, a checkpoint after each
    await jg.stop();
    base = jg;
    cfgText = readFileSync(jg.configPath, 'utf8');
  });
  after(async () => {
    if (base.idp) await base.idp.stop();
    rmSync(base.dir, { recursive: true, force: true });
  });

  // Copies the stopped deployment and its store, changes the copy's store with tamper(db) (the
  // db.mjs helper on it), starts `serve` and returns its exit and log.  The verified state row is
  // removed unless keepState: these cases edit entries and checkpoints the state already covers,
  // which a start from the state does not read again (docs/operations.md); without it `serve`
  // verifies the whole log, as on a deployment's first start with this version.
  function tamperedStart(tamper, { serve = true, keepState = false } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'jg-tamper-'));
    cpSync(base.dir, dir, { recursive: true });
    const cfg = join(dir, 'jitgate.yaml');
    writeFileSync(cfg, cfgText);
    const db = copyStore(base, cfg);
    assert.equal(db.count('audit_state'), 1, 'the base deployment keeps a verified state');
    tamper(db);
    if (!keepState) db.exec('DELETE FROM audit_state');
    const r = serve ? spawnSync(BIN, ['serve', '-c', cfg], { encoding: 'utf8', timeout: 10000 }) : { status: null, stderr: '' };
    const check = runJitgate(['audit', 'check', '-c', cfg]);
    db.drop();
    rmSync(dir, { recursive: true, force: true });
    const line = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => /does not verify/.test(l.msg));
    return { status: r.status, line, check };
  }

  const cases = [
    ['one byte changed in an entry', (db) => db.tamperEntry(3, (text) => text.replaceAll('"from":0', '"from":1')), 3, /bad hash link|tree node/],
    ['an entry deleted', (db) => db.deleteEntries(4), 4, /row 5 sits where entry 4 belongs/],
    ['two entries swapped', (db) => {
      const [five, six] = [db.entry(5), db.entry(6)];
      db.tamperEntries({ 5: () => six.raw, 6: () => five.raw });
    }, 5, /gap or reordering/],
    ['an entry re-serialised with other key order', (db) => db.tamperEntry(2, (text) => `{"v":1,${text.replaceAll(',"v":1}', '}').slice(1)}`), 2, /not canonical/],
    ['the tail truncated below a checkpoint', (db) => db.truncateLog(7), null, /truncated|chain head/],
  ];
  for (const [name, tamper, seq, why] of cases) {
    test(`${name}: serve exits 5 naming the entry; audit check agrees`, () => {
      const r = tamperedStart(tamper);
      assert.equal(r.status, 5, JSON.stringify(r));
      assert.ok(r.line, 'no "does not verify" log line');
      assert.match(r.line.why, why);
      if (seq !== null) assert.equal(r.line.first_bad_seq, seq, JSON.stringify(r.line));
      assert.equal(r.check.code, 5);
      assert.match(r.check.stdout, /^INVALID: /);
    });
  }

  test('a checkpoint whose size or root was edited: serve exits 5', () => {
    const sizeEdited = tamperedStart((db) => db.tamperCheckpoint(5, (note) => note.replaceAll('\n5\n', '\n6\n')));
    assert.equal(sizeEdited.status, 5);
    assert.match(sizeEdited.line.why, /not validly signed/);
    const rootEdited = tamperedStart((db) => db.tamperCheckpoint(5, () => db.checkpoint(4).note));
    assert.equal(rootEdited.status, 5);
  });

  test('a checkpoint signed by another key: serve exits 5', () => {
    // Sign a checkpoint for the same origin with a key of another deployment.
    const other = mkdtempSync(join(tmpdir(), 'jg-otherkey-'));
    cpSync(base.dir, other, { recursive: true });
    rmSync(join(other, 'keys'), { recursive: true, force: true });
    const cfg = join(other, 'jitgate.yaml');
    writeFileSync(cfg, cfgText);
    const otherDb = copyStore(base, cfg);
    assert.equal(runJitgate(['keys', 'generate', '-c', cfg]).code, 0);
    otherDb.deleteCheckpoint(9); // the deployment pushes to no sink: no other pushes to forget
    const note = runJitgate(['audit', 'checkpoint', '-c', cfg]).stdout; // signed by the other key
    otherDb.drop();
    rmSync(other, { recursive: true, force: true });
    assert.match(note, /\n9\n/);
    const r = tamperedStart((db) => db.tamperCheckpoint(9, () => note));
    assert.equal(r.status, 5);
    assert.match(r.line.why, /not validly signed/);
  });

  test('the tail truncated below the verified state: serve exits 5 from the state alone', () => {
    const r = tamperedStart((db) => db.truncateLog(7), { keepState: true });
    assert.equal(r.status, 5, JSON.stringify(r));
    assert.match(r.line.why, /verified state covers \d+ entries but the log holds only 7/);
  });

  test('the untampered copy starts and verifies (control)', () => {
    const r = tamperedStart(() => {}, { serve: false });
    assert.equal(r.check.code, 0, r.check.stdout);
    assert.match(r.check.stdout, /^VALID: 9 entries/);
  });
});

// SQLite by nature: immutable database files and the file size limit (tests/e2e/README.md)
sqliteOnly(describe)('fail closed when the store cannot be written', () => {
  let jg;
  before(async () => { jg = await startJitgate(); await exportLog(jg); });
  after(() => cleanup(jg));

  async function sizeNow() {
    return (await jg.auditor('POST', '/v1/audit/checkpoint')).json.size;
  }

  test('read-only database file: 503, nothing appended; recovers when cleared', async () => {
    const before = await sizeNow();
    const files = ['jitgate.db', 'jitgate.db-wal'].map((f) => join(jg.dir, f)).filter(existsSync);
    execFileSync('chattr', ['+i', ...files]);
    let r;
    try {
      r = await jg.auditor('GET', '/v1/audit/export');
    } finally {
      execFileSync('chattr', ['-i', ...files]);
    }
    assert.equal(r.status, 503, r.body);
    assert.equal(r.json.error.code, 'unavailable');
    assert.equal(await sizeNow(), before, 'the refused export left an entry');
    await exportLog(jg);
    assert.equal(await sizeNow(), before + 1);
  });

  test('disk full (file size limit): 503, nothing appended; recovers when cleared', async () => {
    const before = await sizeNow();
    execFileSync('prlimit', ['--pid', String(jg.proc.pid), '--fsize=1:unlimited']);
    let r;
    try {
      r = await jg.auditor('GET', '/v1/audit/export');
    } finally {
      execFileSync('prlimit', ['--pid', String(jg.proc.pid), '--fsize=unlimited']);
    }
    assert.equal(r.status, 503, r.body);
    assert.equal(await sizeNow(), before);
    await exportLog(jg);
    assert.equal(await sizeNow(), before + 1);
    await jg.stop();
    const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
    assert.equal(check.code, 0, check.stdout);
  });
});

// The PostgreSQL counterparts (tests/e2e/README.md): a database whose sessions are read-only, and
// one that cannot be reached - then writable and reachable again, with no restart.
postgresOnly(describe)('fail closed when the store cannot be written (PostgreSQL)', () => {
  let jg;
  before(async () => { jg = await startJitgate(); await exportLog(jg); });
  after(() => cleanup(jg));

  async function sizeNow() {
    return (await jg.auditor('POST', '/v1/audit/checkpoint')).json.size;
  }

  test('read-only database (default_transaction_read_only): 503, nothing appended; recovers when cleared', async () => {
    const before = await sizeNow();
    jg.store.readOnly(true);
    let r;
    try {
      r = await jg.auditor('GET', '/v1/audit/export');
    } finally {
      jg.store.readOnly(false);
    }
    assert.equal(r.status, 503, r.body);
    assert.equal(r.json.error.code, 'unavailable');
    assert.equal(await sizeNow(), before, 'the refused export left an entry');
    await exportLog(jg);
    assert.equal(await sizeNow(), before + 1);
  });

  test('connection loss (the database takes no connections): 503, nothing appended; serves again after reconnecting', async () => {
    const before = await sizeNow();
    jg.store.reachable(false);
    let r;
    try {
      r = await jg.auditor('GET', '/v1/audit/export');
    } finally {
      jg.store.reachable(true);
    }
    assert.equal(r.status, 503, r.body);
    assert.equal(r.json.error.code, 'unavailable');
    // reconnections back off up to 5 s (store.h): the first calls after may still get 503
    const until = Date.now() + 15000;
    let again;
    do {
      await new Promise((ok) => setTimeout(ok, 200));
      again = await jg.auditor('GET', '/v1/audit/export');
    } while (again.status !== 200 && Date.now() < until);
    assert.equal(again.status, 200, again.body);
    assert.equal(await sizeNow(), before + 1, 'a refused export left an entry');
    await jg.stop();
    const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
    assert.equal(check.code, 0, check.stdout);
  });
});

// Append-only by privilege (issue 17): jitgate serves as a role that PostgreSQL itself does not
// let change or remove what the log holds; the triggers come second.
postgresOnly(describe)('the audit log is append-only by privilege (PostgreSQL)', () => {
  let jg;
  before(async () => {
    jg = await startJitgate();
    for (let i = 0; i < 3; i++) await exportLog(jg);
  });
  after(() => cleanup(jg));

  test('through the serving role\'s connection, PostgreSQL refuses to update, delete or truncate entries and to shrink the head', async () => {
    // the role jitgate serves with is the one refused (its sessions, by name)
    const sessions = jg.db.rows("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jitgate'");
    assert.deepEqual(sessions.map((s) => s.usename), [PG_SERVING]);
    const serving = openDb(jg.store.url);
    assert.equal(serving.rows('SELECT current_user AS u')[0].u, PG_SERVING);
    const entry = serving.entry(1);
    assert.ok(entry, 'the serving role reads the log');
    const edited = Buffer.from(entry.text.replace('"v":1', '"v":2'));
    for (const [sql, params] of [
      ['UPDATE audit_log SET entry = ? WHERE seq = 1', [edited]],
      ['DELETE FROM audit_log WHERE seq = 1', []],
      ['TRUNCATE audit_log', []],
    ]) assert.throws(() => serving.exec(sql, params), /permission denied for table audit_log/, sql);
    assert.throws(() => serving.exec('DELETE FROM audit_nodes'), /permission denied for table audit_nodes/);
    assert.throws(() => serving.exec("UPDATE audit_checkpoints SET note = 'x'"), /permission denied for table audit_checkpoints/);
    assert.throws(() => serving.exec('UPDATE audit_head SET size = 1 WHERE id = 1'), /audit_head only moves forward/);
    assert.throws(() => serving.exec('UPDATE audit_head SET id = 2'), /permission denied for table audit_head/);
    assert.throws(() => serving.exec('DELETE FROM audit_head'), /permission denied for table audit_head/);
    assert.deepEqual(jg.db.entry(1).raw, entry.raw);
    // and the server, on that same role, still appends and verifies
    await exportLog(jg);
    assert.equal((await jg.request('GET', '/readyz')).status, 200);
    await jg.stop();
    const check = runJitgate(['audit', 'check', '-c', jg.configPath]);
    assert.equal(check.code, 0, check.stdout);
  });
});

describe('crash safety', () => {
  test('SIGKILL during concurrent appends loses no acknowledged entry; the log verifies after restart', async () => {
    const jg = await startJitgate();
    try {
      let acknowledged = 0;
      let stop = false;
      // the auditor's token first: 16 sign-ins at the provider at once would eat the appending window
      await jg.tokenFor('erin');
      const worker = async () => {
        while (!stop) {
          try {
            const r = await jg.auditor('GET', '/v1/audit/export?from=0&to=0');
            if (r.status === 200) acknowledged++;
          } catch { /* the server died mid-request: not acknowledged */ }
        }
      };
      const workers = Array.from({ length: 16 }, worker);
      await new Promise((ok) => setTimeout(ok, 1500));
      jg.proc.kill('SIGKILL');
      await jg.exitPromise;
      stop = true;
      await Promise.all(workers);
      assert.ok(acknowledged > 20, `only ${acknowledged} appends acknowledged`);
      // Restart on the same files: start-up verification must pass.
      const again = new Jitgate(jg.dir, jg.port, join(jg.dir, 'cert.pem'), jg.configPath);
      again.idp = jg.idp;
      await again.start();
      const all = await exportLog(again);
      const exported = all.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l)).filter((e) => e.type === 'audit.exported');
      // every acknowledged export, plus the one we just made, is in the log
      assert.ok(exported.length >= acknowledged + 1, `${exported.length} entries < ${acknowledged} acknowledged + 1`);
      await again.stop();
      jg.exited = again.exited;
    } finally {
      await cleanup(jg);
    }
  });
});

describe('off-host checkpoint sinks', () => {
  test('checkpoints reach a directory and an HTTPS endpoint', async () => {
    const sinkDir = mkdtempSync(join(tmpdir(), 'jg-sink-'));
    const certDir = mkdtempSync(join(tmpdir(), 'jg-sinkcert-'));
    const { key, cert } = makeCert(certDir);
    const received = [];
    const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { received.push({ type: req.headers['content-type'], body }); res.end('ok'); });
    });
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    const jg = await startJitgate({ extraConfig: `audit:\n  checkpoint_every_entries: 2\n  sink_dir: ${sinkDir}\n  sink_url: https://127.0.0.1:${server.address().port}/checkpoints\n  sink_ca_file: ${cert}\n` });
    try {
      await exportLog(jg);
      await exportLog(jg);
      const latest = (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
      const want = `checkpoint-${String(latest.size).padStart(20, '0')}.note`;
      const until = Date.now() + 5000;
      while ((!readdirSync(sinkDir).includes(want) || !received.some((r) => r.body === latest.note)) && Date.now() < until) {
        await new Promise((ok) => setTimeout(ok, 100));
      }
      const files = readdirSync(sinkDir).sort();
      assert.ok(files.length >= 2, files.join(','));
      assert.ok(files.includes(want), files.join(','));
      assert.equal(readFileSync(join(sinkDir, want), 'utf8'), latest.note);
      assert.ok(received.length >= 2);
      assert.match(received[0].type, /^text\/plain/);
      assert.ok(received.some((r) => r.body === latest.note));
    } finally {
      await cleanup(jg);
      server.close();
      rmSync(sinkDir, { recursive: true, force: true });
      rmSync(certDir, { recursive: true, force: true });
    }
  });
});

describe('verification while serving', () => {
  test('an older entry edited underneath a running server is caught by the rolling verifier: /readyz fails', async () => {
    const jg = await startJitgate({ extraConfig: 'audit:\n  verify_budget: 100\n' });
    try {
      for (let i = 0; i < 5; i++) await exportLog(jg);
      assert.equal((await jg.request('GET', '/readyz')).status, 200);
      jg.db.tamperEntry(1, (text) => text.replaceAll('"from":0', '"from":7'));
      const until = Date.now() + 5000;
      let r;
      do {
        await new Promise((ok) => setTimeout(ok, 200));
        r = await jg.request('GET', '/readyz');
      } while (r.status === 200 && Date.now() < until);
      assert.equal(r.status, 503, 'the edit was not detected within the window');
      assert.match(r.json.error.message, /audit log does not verify/);
      const line = jg.logLines().find((l) => /no longer verifies/.test(l.msg));
      assert.ok(line, 'no operator log line');
      assert.match(line.why, /entry 1/);
      // and nothing more is written to a log known to be broken: audited actions fail closed
      const more = await jg.auditor('GET', '/v1/audit/export');
      assert.equal(more.status, 503, more.body);
    } finally {
      await cleanup(jg);
    }
  });
});

describe('the verified state: start from it, and a fault found while serving is kept (issue 18)', () => {
  const QUIET = 'audit:\n  checkpoint_every_entries: 1000000\n  checkpoint_every_seconds: 3600\n';
  const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });

  // `serve` on jg's files, expected to refuse: its exit status and its "does not verify" line.
  function refusedStart(jg) {
    const r = spawnSync(BIN, ['serve', '-c', jg.configPath], { encoding: 'utf8', timeout: 20000 });
    const lines = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    return { status: r.status, line: lines.find((l) => /does not verify/.test(l.msg)), stderr: r.stderr };
  }

  async function restart(jg) {
    const again = new Jitgate(jg.dir, jg.port, join(jg.dir, 'cert.pem'), jg.configPath);
    again.idp = jg.idp;
    await again.start();
    return again;
  }

  const stateSize = (jg) => Number(jg.db.rows('SELECT size FROM audit_state')[0].size);

  test('serve verifies only the entries after the state: an edit after it exits 5 naming the entry, a state edited exits 5', async () => {
    const jg = await startJitgate({ extraConfig: QUIET });
    let again;
    try {
      for (let i = 0; i < 3; i++) await exportLog(jg); // each ends with a checkpoint: the state follows
      for (let i = 0; i < 2; i++) { // entries no checkpoint covers yet
        const r = await jg.as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: `state test ${i}` }));
        assert.equal(r.status, 201, r.body);
      }
      await jg.stop();
      const size = Number(jg.db.rows('SELECT size FROM audit_head')[0].size);
      const from = stateSize(jg);
      assert.ok(from > 0 && from < size, `the state (${from}) must lie inside the log (${size})`);

      // a clean restart reads only the entries after the state
      again = await restart(jg);
      const ok = again.logLines().find((l) => l.msg === 'audit log verified');
      assert.equal(ok.from, 'verified state', JSON.stringify(ok));
      assert.equal(ok.state_size, from);
      assert.equal(ok.tail_verified, size - from);
      await again.stop();

      // an entry after the state edited while stopped: refused, naming it
      const victim = size - 1 > from ? size - 2 : size - 1;
      const original = jg.db.entry(victim).raw;
      jg.db.tamperEntry(victim, (text) => text.replace(/("ts":\d*)(\d)/, (m, a, d) => a + ((Number(d) + 1) % 10)));
      let r = refusedStart(jg);
      assert.equal(r.status, 5, r.stderr);
      assert.equal(r.line.first_bad_seq, victim, JSON.stringify(r.line));
      jg.db.tamperEntry(victim, () => original);

      // the state's own columns edited (its MAC no longer verifies): refused
      jg.db.exec('UPDATE audit_state SET size = size WHERE id = 1'); // a no-op edit changes nothing
      assert.equal((await restart(jg).then(async (x) => { await x.stop(); return 0; })), 0);
      jg.db.exec("UPDATE audit_state SET origin = 'elsewhere/audit' WHERE id = 1");
      r = refusedStart(jg);
      assert.equal(r.status, 5, r.stderr);
      assert.match(r.line.why, /verified state \(audit_state\) does not verify/);
    } finally {
      if (again && !again.exited) await again.stop();
      await cleanup(jg);
    }
  });

  test('a fault found while serving is stored: every restart exits 5 naming the entry, even once the edit is undone; removing the state re-verifies everything', async () => {
    const jg = await startJitgate({ extraConfig: 'audit:\n  verify_budget: 100\n' });
    let again;
    try {
      for (let i = 0; i < 4; i++) await exportLog(jg);
      const original = jg.db.entry(1).raw;
      jg.db.tamperEntry(1, (text) => text.replaceAll('"from":0', '"from":7'));
      const until = Date.now() + 8000;
      while (!jg.logLines().some((l) => /fault is stored/.test(l.msg)) && Date.now() < until) {
        await new Promise((ok) => setTimeout(ok, 200));
      }
      const stored = jg.logLines().find((l) => /fault is stored/.test(l.msg));
      assert.ok(stored, `the rolling verifier found nothing to store:\n${jg.stderr}`);
      assert.equal(stored.first_bad_seq, 1);
      await jg.stop();

      for (let i = 0; i < 2; i++) { // a restart never clears the alarm
        const r = refusedStart(jg);
        assert.equal(r.status, 5, r.stderr);
        assert.equal(r.line.first_bad_seq, 1, JSON.stringify(r.line));
        assert.match(r.line.why, /stored/);
      }
      // nor does undoing the edit: the alarm is the operator's to clear
      jg.db.tamperEntry(1, () => original);
      assert.equal(refusedStart(jg).status, 5);

      // the operator, having investigated, removes the row: the next start verifies the whole log
      jg.db.exec('DELETE FROM audit_state');
      again = await restart(jg);
      const ok = again.logLines().find((l) => l.msg === 'audit log verified');
      assert.equal(ok.from, 'whole log', JSON.stringify(ok));
      assert.equal(ok.state_written, true);
      await again.stop();
      // (and with the edit still there, that full verification would have refused: the first describe)
    } finally {
      if (again && !again.exited) await again.stop();
      await cleanup(jg);
    }
  });

  // One sample of jg's /metrics, or null when it is not exported (yet).
  async function metric(jg, name) {
    const r = await jg.request('GET', '/metrics');
    assert.equal(r.status, 200);
    const line = r.body.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ').at(-1)) : null;
  }

  test('an edit of an old entry made while stopped is caught by the rolling verifier within the computed window; a restart then exits 5 naming the entry', async () => {
    // a small budget: the window is what the sweep achieves at it (and at least its 1 s period)
    const cfg = `${QUIET}  verify_budget: 2\n`;
    const jg = await startJitgate({ extraConfig: cfg });
    let again;
    try {
      for (let i = 0; i < 6; i++) await exportLog(jg); // each ends with a checkpoint: the state follows
      const until = async (what, fn, ms = 20000) => {
        const end = Date.now() + ms;
        for (;;) {
          const v = await fn();
          if (v || Date.now() > end) return v;
          await new Promise((ok) => setTimeout(ok, 100));
        }
      };
      // the sweep ran: its window is exported, with its rate and CPU share
      assert.ok(await until('a window', () => metric(jg, 'jitgate_audit_detection_window_seconds')), 'no window exported');
      assert.equal(await metric(jg, 'jitgate_audit_verifier_sweeping'), 1);
      assert.ok(await metric(jg, 'jitgate_audit_verifier_entries_per_second') > 0);
      const share = await metric(jg, 'jitgate_audit_verifier_cpu_share');
      assert.ok(share >= 0 && share <= 1, `cpu share ${share}`);
      await jg.stop();
      const from = stateSize(jg);
      assert.ok(from > 2, `the state (${from}) must cover the entry edited`);
      jg.db.tamperEntry(1, (text) => text.replaceAll('"from":0', '"from":7'));

      // the start does not read entry 1 again (the state vouches for it): it serves ...
      again = await restart(jg);
      const t0 = Date.now();
      const ok = again.logLines().find((l) => l.msg === 'audit log verified');
      assert.equal(ok.from, 'verified state', JSON.stringify(ok));
      // ... until the sweep reaches it: /readyz fails
      const ready = await until('readyz 503', async () => ((await again.request('GET', '/readyz')).status === 503 ? Date.now() : null), 30000);
      assert.ok(ready, `the edit was not detected:\n${again.stderr.slice(-2000)}`);
      const window = await metric(again, 'jitgate_audit_detection_window_seconds');
      assert.ok(window > 0, 'no window exported');
      // within the window, plus the sweep's first round a second after the start and a slack
      assert.ok(ready - t0 <= window * 1000 + 1000 + 2000, `detected after ${ready - t0} ms, window ${window} s`);
      const line = again.logLines().find((l) => /no longer verifies/.test(l.msg));
      assert.match(line.why, /^entry 1: /);
      const stored = await until('stored', () => again.logLines().find((l) => /fault is stored/.test(l.msg)), 5000);
      assert.equal(stored.first_bad_seq, 1);
      const refused = await again.auditor('GET', '/v1/audit/export');
      assert.equal(refused.status, 503, refused.body); // audited actions fail closed
      await again.stop();

      const r = refusedStart(jg);
      assert.equal(r.status, 5, r.stderr);
      assert.equal(r.line.first_bad_seq, 1, JSON.stringify(r.line));
      assert.match(r.line.why, /stored/);
    } finally {
      if (again && !again.exited) await again.stop();
      await cleanup(jg);
    }
  });

  test('audit.reverify_seconds is accepted with a deprecation warning; the sweep\'s cursor is stored at stop and read back at the next start', async () => {
    const jg = await startJitgate({ extraConfig: `${QUIET}  reverify_seconds: 60\n` });
    let again;
    try {
      const warn = jg.logLines().find((l) => /'audit.reverify_seconds' is deprecated/.test(l.msg));
      assert.ok(warn, jg.stderr.slice(-2000));
      assert.equal(warn.level, 'warn');
      for (let i = 0; i < 3; i++) await exportLog(jg);
      // the sweep has begun (its first round is a second after the start): its cursor is stored at stop
      for (let end = Date.now() + 10000; !jg.logLines().some((x) => /rolling verifier sweeps/.test(x.msg)) && Date.now() < end;) {
        await new Promise((ok) => setTimeout(ok, 100));
      }
      await jg.stop();
      const row = jg.db.rows('SELECT sweep_seq FROM audit_state')[0];
      assert.notEqual(row.sweep_seq, null, 'no cursor stored');
      again = await restart(jg);
      const sweeping = await (async () => {
        const end = Date.now() + 10000;
        for (;;) {
          const l = again.logLines().find((x) => /rolling verifier sweeps/.test(x.msg));
          if (l || Date.now() > end) return l;
          await new Promise((ok) => setTimeout(ok, 100));
        }
      })();
      assert.ok(sweeping, again.stderr.slice(-2000));
      assert.equal(sweeping.from, Number(row.sweep_seq)); // from the stored cursor (test_audit_state.c: not from 0)
    } finally {
      if (again && !again.exited) await again.stop();
      await cleanup(jg);
    }
  });
});
