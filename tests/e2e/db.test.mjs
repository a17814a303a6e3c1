// The backend-neutral database helper of the end-to-end tests (tests/e2e/lib/db.mjs), on both
// engines with the same checks: a SQLite file and a throwaway PostgreSQL cluster of this file's
// own (tests/e2e/lib/pg.mjs), each with a small schema made here in the shape of jitgate's audit
// tables - append-only by trigger, and on PostgreSQL also by privilege for the serving role.
// Then the harness's PostgreSQL path (JG_E2E_DB=postgres): a fresh database per instance owned by
// the owner role that migrates it, jitgate serving as a role that owns nothing, copies for tampering.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openDb, bind, literal, pgUrl } from './lib/db.mjs';
import { startPg } from './lib/pg.mjs';
import { startJitgate, cleanup, writeConfig, copyStore, pgStore, runJitgate, PG_OWNER, PG_SERVING } from './lib/harness.mjs';

const SCHEMA = {
  sqlite: [
    'CREATE TABLE audit_log (seq INTEGER PRIMARY KEY CHECK (seq >= 0), entry BLOB NOT NULL) STRICT',
    'CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL) STRICT',
    'CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT',
    'CREATE TABLE audit_checkpoint_pushes (size INTEGER NOT NULL REFERENCES audit_checkpoints (size), sink TEXT NOT NULL, pushed_at INTEGER NOT NULL, PRIMARY KEY (size, sink)) STRICT',
    'CREATE TABLE fixture (id_sha256 BLOB PRIMARY KEY, sub TEXT NOT NULL, n INTEGER, r REAL) STRICT',
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
    "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
    "CREATE TRIGGER audit_head_grows BEFORE UPDATE OF size ON audit_head WHEN NEW.size < OLD.size BEGIN SELECT RAISE(ABORT, 'audit_head only grows'); END",
  ],
  postgres: [
    'CREATE TABLE audit_log (seq bigint PRIMARY KEY CHECK (seq >= 0), entry bytea NOT NULL)',
    'CREATE TABLE audit_head (id integer PRIMARY KEY CHECK (id = 1), size bigint NOT NULL)',
    'CREATE TABLE audit_checkpoints (size bigint PRIMARY KEY, note text NOT NULL, created_at bigint NOT NULL)',
    'CREATE TABLE audit_checkpoint_pushes (size bigint NOT NULL REFERENCES audit_checkpoints (size), sink text NOT NULL, pushed_at bigint NOT NULL, PRIMARY KEY (size, sink))',
    'CREATE TABLE fixture (id_sha256 bytea PRIMARY KEY, sub text NOT NULL, n bigint, r double precision)',
    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
    "CREATE FUNCTION grows() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.size < OLD.size THEN RAISE EXCEPTION 'audit_head only grows'; END IF; RETURN NEW; END $$",
    // a function that writes, to show that reads run read-only
    "CREATE FUNCTION writes() RETURNS text LANGUAGE sql AS $$ INSERT INTO fixture (id_sha256, sub) VALUES (decode('ff', 'hex'), 'ro') RETURNING sub $$",
    'CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()',
    'CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION refuse()',
    'CREATE TRIGGER audit_head_grows BEFORE UPDATE ON audit_head FOR EACH ROW EXECUTE FUNCTION grows()',
    // the serving role: appends and reads the log, moves the head, nothing more (issue 17, item 2)
    'GRANT SELECT, INSERT ON audit_log, audit_checkpoints, audit_checkpoint_pushes, fixture TO jitgate',
    'GRANT SELECT, UPDATE (size) ON audit_head TO jitgate',
  ],
};

const entryText = (seq, type, extra = '') => `{"seq":${seq},"ts":${1700000000000 + seq},"type":"${type}"${extra},"v":1}`;
const TYPES = ['request.created', 'probe.list', 'probe.deploy', 'probe.list', 'audit.exported', 'probe.list', 'token.issued', 'request.created'];

let pg;
before(async () => {
  pg = await startPg();
  // the harness's postgres path attaches to this cluster, as to the one of `pg-cluster.sh run`
  process.env.JG_PG_URL = pg.url;
  process.env.JG_PG_ADMIN_URL = pg.adminUrl;
});
after(async () => {
  await pg?.stop();
});

test('literals and placeholders: quotes doubled, blobs as hex, ? inside quotes left alone', () => {
  assert.equal(literal("it's", 'sqlite'), "'it''s'");
  assert.equal(literal(Buffer.from([0, 255]), 'sqlite'), "X'00ff'");
  assert.equal(literal(Buffer.from([0, 255]), 'postgres'), "decode('00ff', 'hex')");
  assert.equal(literal(2n ** 63n - 1n, 'postgres'), '9223372036854775807');
  assert.equal(literal(null, 'sqlite'), 'NULL');
  assert.equal(bind("SELECT '?', \"?\" FROM t WHERE a = ? AND b = ?", ["x'); DROP TABLE t; --", 7], 'sqlite'),
    "SELECT '?', \"?\" FROM t WHERE a = 'x''); DROP TABLE t; --' AND b = 7");
  assert.throws(() => bind('SELECT ?', [], 'sqlite'), /more \?/);
  assert.throws(() => bind('SELECT 1', [1], 'sqlite'), /1 parameters for 0/);
  assert.throws(() => literal('a\0b', 'sqlite'), /NUL/);
  assert.throws(() => literal(NaN, 'sqlite'), /no SQL literal/);
});

for (const backend of ['sqlite', 'postgres']) {
  describe(`db.mjs on ${backend}`, () => {
    let db, dir;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'jg-dbtest-'));
      if (backend === 'sqlite') {
        db = openDb(`sqlite://${join(dir, 'test.db')}`);
      } else {
        db = openDb(pg.adminUrl);
      }
      assert.equal(db.backend, backend);
      db.script(SCHEMA[backend]);
      db.exec('INSERT INTO audit_head (id, size) VALUES (1, ?)', [TYPES.length]);
      db.insertFixture('audit_log', TYPES.map((t, seq) => ({ seq, entry: Buffer.from(entryText(seq, t, seq === 2 ? ',"actor":"user:alice"' : '')) })));
      db.insertFixture('audit_checkpoints', [4, 8].map((size) => ({ size, note: `jitgate.test/audit\n${size}\nroot${size}=\n\n— sig${size}\n`, created_at: 1700000000 + size })));
      db.insertFixture('audit_checkpoint_pushes', [{ size: 8, sink: 'dir', pushed_at: 1700000100 }, { size: 4, sink: 'dir', pushed_at: 1700000090 }]);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('values come back typed: text, integers past 2^53, reals, blobs, NULL', () => {
      const odd = "it's \"quoted\", with a comma | a pipe\nand a newline, a \\backslash\\ and ünïcödé ✓";
      const rows = [
        { id_sha256: Buffer.alloc(32, 0xaa), sub: odd, n: 2n ** 62n + 1n, r: 0.1 },
        { id_sha256: Buffer.alloc(32, 0x00), sub: '', n: -5, r: null },
        { id_sha256: Buffer.from('00ff'.repeat(16), 'hex'), sub: 'NULL', n: null, r: 1e300 },
      ];
      db.insertFixture('fixture', rows);
      const back = db.rows('SELECT id_sha256, sub, n, r FROM fixture ORDER BY sub');
      assert.deepEqual(back, [rows[1], rows[2], rows[0]].map((r) => ({ ...r })));
      assert.equal(typeof back[2].n, 'bigint');
      assert.ok(Buffer.isBuffer(back[0].id_sha256));
      // parameters: text with quotes and a blob select the rows they name, and only those
      assert.deepEqual(db.rows('SELECT sub FROM fixture WHERE sub = ? OR id_sha256 = ? ORDER BY sub', [odd, Buffer.alloc(32, 0)]).map((r) => r.sub), ['', odd]);
      assert.deepEqual(db.rows("SELECT n FROM fixture WHERE sub = '?' OR n = ?", [-5]), [{ n: -5 }]);
      assert.deepEqual(db.rows('SELECT sub FROM fixture WHERE n > ?', [2n ** 62n]), [{ sub: odd }]);
      assert.deepEqual(db.rows('SELECT sub FROM fixture WHERE sub = ?', ['x']), []);
    });

    test('count, with and without a condition', () => {
      assert.equal(db.count('audit_log'), TYPES.length);
      assert.equal(db.count('audit_log', 'seq >= ? AND seq < ?', [2, 5]), 3);
      assert.equal(db.count('fixture', 'sub = ?', ['nothing']), 0);
      assert.throws(() => db.count('audit_log; DROP TABLE fixture'), /not a plain SQL identifier/);
    });

    test('exec writes; a failing statement throws with the engine\'s reason and changes nothing', () => {
      db.exec('INSERT INTO fixture (id_sha256, sub, n) VALUES (?, ?, ?)', [Buffer.alloc(32, 1), 'exec', 1]);
      assert.equal(db.count('fixture', 'sub = ?', ['exec']), 1);
      assert.throws(() => db.exec('INSERT INTO fixture (id_sha256, sub, n) VALUES (?, ?, ?)', [Buffer.alloc(32, 1), 'dup', 2]), /unique|UNIQUE|duplicate/);
      assert.throws(() => db.rows('SELECT nope FROM fixture'), /nope/);
      assert.throws(() => db.insertFixture('fixture', [{ id_sha256: Buffer.alloc(32, 2), sub: 'a' }, { id_sha256: Buffer.alloc(32, 3), n: 1 }]), /every row needs/);
      // a fixture insert is one transaction: a bad second row leaves no first row
      assert.throws(() => db.insertFixture('fixture', [{ id_sha256: Buffer.alloc(32, 4), sub: 'first' }, { id_sha256: Buffer.alloc(32, 4), sub: 'again' }]));
      assert.equal(db.count('fixture', 'sub = ?', ['first']), 0);
    });

    test('entries are decoded here: bytes, text, JSON; filters by range, type and predicate', () => {
      const all = db.entries();
      assert.deepEqual(all.map((e) => e.seq), TYPES.map((_, i) => i));
      assert.deepEqual(all.map((e) => e.json.type), TYPES);
      assert.ok(Buffer.isBuffer(all[3].raw));
      assert.equal(all[3].text, entryText(3, 'probe.list'));
      assert.deepEqual(db.entries({ type: 'probe.list' }).map((e) => e.seq), [1, 3, 5]);
      assert.deepEqual(db.entries({ type: /^probe\./, from: 2 }).map((e) => e.seq), [2, 3, 5]);
      assert.deepEqual(db.entries({ from: 6 }).map((e) => e.seq), [6, 7]);
      assert.deepEqual(db.entries((e) => e.text.includes('user:alice')).map((e) => e.seq), [2]);
      assert.equal(db.entry(4).json.type, 'audit.exported');
      assert.equal(db.entry(99), null);
    });

    test('the guard refuses plain writes; tamperEntry edits past it and puts it back', () => {
      assert.throws(() => db.exec("UPDATE audit_log SET entry = entry WHERE seq = 1"), /append-only/);
      assert.throws(() => db.exec('DELETE FROM audit_log WHERE seq = 1'), /append-only/);
      db.tamperEntry(1, (text) => text.replace('"probe.list"', '"probe.lisT"'));
      assert.equal(db.entry(1).text, entryText(1, 'probe.lisT'));
      assert.throws(() => db.exec('UPDATE audit_log SET entry = entry WHERE seq = 1'), /append-only/, 'the guard was not put back');
      // garbage, not JSON: json is null, the bytes are kept as written
      db.tamperEntry(1, (text) => `${text.slice(0, 10)}garbage`);
      assert.equal(db.entry(1).json, null);
      assert.equal(db.entry(1).text, `${entryText(1, 'probe.lisT').slice(0, 10)}garbage`);
      // an edit that misses, or an entry that is not there, is an error, not a silent no-op
      assert.throws(() => db.tamperEntry(2, (text) => text.replace('absent', 'x')), /changed nothing/);
      assert.throws(() => db.tamperEntry(99, (text) => `${text}x`), /no audit entry 99/);
      db.tamperEntry(1, () => entryText(1, 'probe.list'));
    });

    test('tamperEntries swaps two entries in one transaction', () => {
      const [a, b] = [db.entry(5), db.entry(6)];
      db.tamperEntries({ 5: () => b.raw, 6: () => a.raw });
      assert.equal(db.entry(5).text, b.text);
      assert.equal(db.entry(6).text, a.text);
      // one transaction: when the second edit fails, the first is not kept either
      assert.throws(() => db.tamperEntries({ 5: (t) => `${t} `, 6: (t) => t }), /changed nothing/);
      assert.equal(db.entry(5).text, b.text);
      db.tamperEntries({ 5: () => a.raw, 6: () => b.raw });
    });

    test('tamperCheckpoint and deleteCheckpoint (with its pushes) pass the guard; plain writes do not', () => {
      assert.throws(() => db.exec("UPDATE audit_checkpoints SET note = 'x' WHERE size = 4"), /append-only/);
      db.tamperCheckpoint(4, (note) => note.replaceAll('\n4\n', '\n5\n'));
      assert.match(db.checkpoint(4).note, /\n5\n/);
      assert.throws(() => db.tamperCheckpoint(4, (note) => note), /changed nothing/);
      db.tamperCheckpoint(4, () => db.checkpoint(8).note);
      assert.equal(db.checkpoint(4).note, db.checkpoint(8).note);
      db.deleteCheckpoint(8);
      assert.equal(db.checkpoint(8), null);
      assert.deepEqual(db.rows('SELECT size FROM audit_checkpoint_pushes ORDER BY size'), [{ size: 4 }]);
      assert.throws(() => db.exec('DELETE FROM audit_checkpoints WHERE size = 4'), /append-only/, 'the guard was not put back');
      assert.throws(() => db.deleteCheckpoint(8), /no checkpoint of size 8/);
    });

    test('deleteEntries and truncateLog; the head only grows except past the guard', () => {
      db.deleteEntries(4);
      assert.deepEqual(db.entries().map((e) => e.seq), [0, 1, 2, 3, 5, 6, 7]);
      assert.throws(() => db.deleteEntries(4), /no audit entries/);
      assert.throws(() => db.exec('UPDATE audit_head SET size = ? WHERE id = 1', [3]), /only grows/);
      db.truncateLog(6);
      assert.deepEqual(db.entries().map((e) => e.seq), [0, 1, 2, 3, 5]);
      assert.deepEqual(db.rows('SELECT size FROM audit_head'), [{ size: 6 }]);
      assert.throws(() => db.exec('UPDATE audit_head SET size = ? WHERE id = 1', [2]), /only grows/, 'the guard was not put back');
      assert.throws(() => db.exec('DELETE FROM audit_log WHERE seq = 0'), /append-only/);
      db.deleteEntries(3, Infinity);
      assert.deepEqual(db.entries().map((e) => e.seq), [0, 1, 2]);
    });

    test('dump holds the stored values; tables lists the tables; exists', () => {
      db.exec('INSERT INTO fixture (id_sha256, sub) VALUES (?, ?)', [Buffer.alloc(32, 9), 'dumped-marker-7f3a']);
      const dump = db.dump();
      assert.ok(dump.includes('dumped-marker-7f3a'), dump.slice(0, 300));
      assert.ok(dump.includes('audit_log'));
      assert.deepEqual(db.tables().filter((t) => !t.startsWith('sqlite_')),
        ['audit_checkpoint_pushes', 'audit_checkpoints', 'audit_head', 'audit_log', 'fixture']);
      assert.equal(db.exists(), true);
      const none = backend === 'sqlite' ? openDb(`sqlite://${join(dir, 'absent.db')}`) : openDb(pgUrl(pg.adminUrl, { database: 'absent' }));
      assert.equal(none.exists(), false);
    });

    if (backend === 'postgres') {
      test('the serving role cannot change an entry (privilege and trigger); the helper, as superuser, can', () => {
        const serving = openDb(pg.url);
        assert.equal(serving.rows('SELECT current_user AS u')[0].u, 'jitgate');
        assert.equal(serving.count('audit_log'), 3, 'the serving role reads the log');
        assert.throws(() => serving.exec('UPDATE audit_log SET entry = entry WHERE seq = 0'), /permission denied/);
        assert.throws(() => serving.tamperEntry(0, (t) => `${t} `), /owner|permission denied|must be/);
        assert.equal(db.entry(0).text, entryText(0, 'request.created'));
        db.tamperEntry(0, (t) => t.replace('request.created', 'request.createD'));
        assert.equal(serving.entry(0).json.type, 'request.createD');
        // reads run read-only: a writing statement through rows() is refused
        assert.throws(() => db.rows('SELECT writes() AS sub'), /read-only transaction/);
        assert.equal(db.count('fixture', 'sub = ?', ['ro']), 0);
      });
    } else {
      test('reads run read-only: a writing statement through rows() is refused', () => {
        assert.throws(() => db.rows("INSERT INTO fixture (id_sha256, sub) VALUES (X'ff', 'ro') RETURNING sub"), /readonly|read-only/);
        assert.equal(db.count('fixture', 'sub = ?', ['ro']), 0);
      });
    }
  });
}

describe('the harness on postgres (JG_E2E_DB=postgres)', () => {
  test('an instance serves from a fresh database as the serving role, migrated by the owner; cleanup drops it', async () => {
    const before = await pg.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'jg\\_%'");
    const jg = await startJitgate({ backend: 'postgres', idp: false });
    try {
      assert.equal((await jg.request('GET', '/readyz')).status, 200);
      const owner = await pg.sql(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '${jg.db.database}'`);
      assert.equal(owner, PG_OWNER);
      // every table is the owner's; jitgate's sessions are the serving role's, which owns nothing
      assert.equal(Number(jg.db.rows("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tableowner <> ?", [PG_OWNER])[0].n), 0);
      assert.ok(jg.db.tables().includes('audit_log'));
      const who = jg.db.rows("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jitgate'");
      assert.deepEqual(who.map((r) => r.usename), [PG_SERVING]);
      assert.equal(await pg.sql(`SELECT rolsuper::text || rolcreaterole::text || rolcreatedb::text FROM pg_roles WHERE rolname = '${PG_SERVING}'`), 'falsefalsefalse');
      // the telemetry is in the state database, its tables the owner's too
      assert.equal(jg.telemetryDb, jg.db);
      assert.ok(['logs', 'spans', 'metric_points', 'telemetry_schema_migrations'].every((t) => jg.db.tables().includes(t)));
    } finally {
      await cleanup(jg);
    }
    assert.equal(await pg.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'jg\\_%'"), before, 'cleanup left the database');
  });

  test('the configuration names both roles and the telemetry database (the state database); a telemetry block of the test keeps its keys', async () => {
    const store = await pgStore();
    const dir = mkdtempSync(join(tmpdir(), 'jg-dbtest-'));
    try {
      assert.match(store.url, new RegExp(`^postgres://${PG_SERVING}@127\\.0\\.0\\.1:\\d+/jg_[0-9a-f]{12}$`));
      assert.equal(store.ownerUrl, store.url.replace(PG_SERVING, PG_OWNER));
      // the owner may create tables in it (the migrations); the serving role may not
      openDb(store.ownerUrl).exec('CREATE TABLE probe_t (v integer)');
      assert.throws(() => openDb(store.url).exec('CREATE TABLE mine (v integer)'), /permission denied for schema public/);
      assert.deepEqual(store.db.tables(), ['probe_t']);
      const cfg = writeConfig(dir, 1, 'telemetry:\n  logs_retention_seconds: 2\naudit:\n  verify_budget: 50\n', {}, undefined, store);
      const text = readFileSync(cfg, 'utf8');
      assert.ok(text.includes(`database:\n  url: "${store.url}"\n  owner_url: "${store.ownerUrl}"\n`), text);
      assert.ok(text.includes(`telemetry:\n  database: "${store.url}"\n  logs_retention_seconds: 2\n`), text);
      assert.equal(text.match(/^telemetry:/gm).length, 1);
      const plain = readFileSync(writeConfig(dir, 1, '', {}, undefined, store), 'utf8');
      assert.ok(plain.includes(`\ntelemetry:\n  database: "${store.url}"\n`), plain);
      const r = runJitgate(['serve', '--check-config', '-c', cfg]);
      assert.equal(r.code, 0, r.stderr);

      // a copy for tampering: a new database made from this one, named in the copy's config
      const copyDir = mkdtempSync(join(tmpdir(), 'jg-dbtest-copy-'));
      try {
        const copyCfg = join(copyDir, 'jitgate.yaml');
        writeFileSync(copyCfg, text);
        const copy = copyStore({ dir, db: store.db, store }, copyCfg);
        assert.notEqual(copy.database, store.db.database);
        assert.deepEqual(copy.tables(), ['probe_t']);
        const copied = readFileSync(copyCfg, 'utf8');
        assert.ok(copied.includes(`  url: "${pgUrl(store.url, { database: copy.database })}"`), copied);
        assert.ok(copied.includes(`  owner_url: "${pgUrl(store.ownerUrl, { database: copy.database })}"`), copied);
        assert.ok(copied.includes(`telemetry:\n  database: "${pgUrl(store.url, { database: copy.database })}"`), copied);
        copy.exec('DROP TABLE probe_t');
        assert.deepEqual(store.db.tables(), ['probe_t'], 'the copy is not a copy');
        copy.drop();
        assert.equal(copy.exists(), false);
      } finally {
        rmSync(copyDir, { recursive: true, force: true });
      }
    } finally {
      store.drop();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(store.db.exists(), false);
  });
});
