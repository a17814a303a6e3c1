// Backend-neutral database access for the end-to-end tests: what a test reads from or does to
// jitgate's store underneath the running server, the same on SQLite and on PostgreSQL.
//
//   const db = openDb('sqlite:///tmp/x/jitgate.db');       // or postgres://postgres@127.0.0.1:P/db
//   db.count('probe_events', 'probe_id = ?', [id])           // a number
//   db.rows('SELECT id, sha256 FROM ingest_keys WHERE service = ?', [svc])   // [{ id, sha256 }]
//   db.entries({ type: 'probe.list' }); db.entry(3)          // audit entries, decoded here
//   db.tamperEntry(3, (text) => text.replace('a', 'b'))     // past the append-only guard
//
// Tests use the harness's instance objects (jg.db, jg.telemetryDb); openDb() is for files a test
// makes itself (a backup) and for the helper's own tests (tests/e2e/db.test.mjs).
//
// Both engines are driven through their command-line clients, synchronously, as the tests did
// before (sqlite3 and psql; pg_dump for dump()), so a test reads a count in a polling loop or an
// assertion without awaiting.  SQL given to rows(), count() and exec() must be neutral: what both
// engines accept and mean alike (no json_extract, CAST(... AS BLOB), hex(), group_concat,
// sqlite_schema, `x IS NULL` as a value); decode in JavaScript instead.  Parameters are `?` (not
// ?NNN); the command-line clients bind nothing, so each value is written into the statement as a
// quoted literal (literal() below: strings with '' doubled, blobs as hex), never as raw text.
// Values come back typed: integers as numbers (BigInt beyond 2^53), reals as numbers, text as
// strings, blobs/bytea as Buffers, NULL as null, PostgreSQL booleans as booleans.
//
// The append-only guard: audit_log, audit_nodes and audit_checkpoints refuse UPDATE and DELETE by
// trigger (migrations/sqlite/0002_audit.sql; on PostgreSQL also by privilege, migrations/postgres/).  The tamper
// operations lift it for their own transaction only and put it back before committing: on
// SQLite by dropping the tables' triggers and re-creating them from their stored SQL; on
// PostgreSQL by ALTER TABLE ... DISABLE/ENABLE TRIGGER USER as the superuser (who also holds
// every privilege the serving role lacks).  The URL given to openDb() for PostgreSQL must name a
// role that may do that (the cluster's superuser: tests/lib/pg-cluster.sh's `postgres`), not the
// role jitgate serves with.
//
// What is SQLite by nature (files, their modes and sizes, backup files) is not here: the list of
// those tests and their PostgreSQL counterparts is in tests/e2e/README.md.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const MAX_OUTPUT = 1024 * 1024 * 1024;
const IDENT = /^[a-z_][a-z0-9_]*$/;
const BUSY_MS = 10000; // how long a statement waits for the running server's locks
const SEP = '@@jg-db-rows@@';

function ident(name) {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new Error(`db: not a plain SQL identifier: ${JSON.stringify(name)}`);
  return name;
}

function intOf(text) {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

// A value as an SQL literal of the dialect ('sqlite' or 'postgres').
export function literal(v, dialect) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`db: ${v} has no SQL literal`);
    return Number.isInteger(v) ? v.toFixed(0) : String(v);
  }
  if (typeof v === 'boolean') return dialect === 'postgres' ? (v ? 'TRUE' : 'FALSE') : (v ? '1' : '0');
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
    const hex = Buffer.from(v).toString('hex');
    return dialect === 'postgres' ? `decode('${hex}', 'hex')` : `X'${hex}'`;
  }
  if (typeof v === 'string') {
    if (v.includes('\0')) throw new Error('db: a string with a NUL byte: pass a Buffer');
    return `'${v.replaceAll("'", "''")}'`;
  }
  throw new Error(`db: cannot bind a ${typeof v}`);
}

// sql with each `?` outside quotes replaced by the literal of the next parameter.
export function bind(sql, params, dialect) {
  let out = '';
  let n = 0;
  let quote = null;
  for (const c of sql) {
    if (quote) {
      if (c === quote) quote = null;
      out += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      out += c;
    } else if (c === '?') {
      if (n >= params.length) throw new Error(`db: more ? than the ${params.length} parameter(s) in: ${sql}`);
      out += literal(params[n++], dialect);
    } else {
      out += c;
    }
  }
  if (quote) throw new Error(`db: an unclosed ${quote} in: ${sql}`);
  if (n !== params.length) throw new Error(`db: ${params.length} parameters for ${n} ? in: ${sql}`);
  return out;
}

// One statement: no trailing semicolon (rows() wraps it in a subquery on PostgreSQL).
function statement(sql) {
  return sql.replace(/[\s;]+$/, '');
}

function cliError(what, e) {
  const detail = `${e.stderr ?? ''}${e.stdout ? `\n${e.stdout}` : ''}`.trim() || e.message;
  return new Error(`db: ${what} failed: ${detail}`);
}

// Decodes an audit entry row: its exact bytes, their text, and the parsed JSON (null when the
// bytes are not JSON, as in a test that wrote garbage).
function entryOf(row) {
  const raw = Buffer.isBuffer(row.entry) ? row.entry : Buffer.from(String(row.entry), 'utf8');
  const text = raw.toString('utf8');
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { seq: Number(row.seq), raw, text, json };
}

function bytesOf(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw new Error('db: a tamper function must return a string or a Buffer');
}

// What the two engines share: every operation in terms of rows(), a write script and a guard.
class Db {
  // count(table, where?, params?): rows of table (matching the neutral condition where).
  count(table, where = '', params = []) {
    const cond = where ? ` WHERE ${where}` : '';
    return Number(this.rows(`SELECT count(*) AS n FROM ${ident(table)}${cond}`, params)[0].n);
  }

  // exec(sql, params?): one neutral writing statement (no guard lifted), in its own transaction.
  exec(sql, params = []) {
    this.script([bind(statement(sql), params, this.dialect)]);
  }

  // insertFixture(table, rows): rows (objects, all with the same keys) inserted in one transaction.
  insertFixture(table, rows) {
    if (rows.length === 0) return;
    const cols = Object.keys(rows[0]).map(ident);
    const values = rows.map((r) => {
      const keys = Object.keys(r);
      if (keys.length !== cols.length || !cols.every((c) => keys.includes(c))) throw new Error(`db: insertFixture(${table}): every row needs the columns ${cols.join(', ')}`);
      return `(${cols.map((c) => literal(r[c], this.dialect)).join(', ')})`;
    });
    this.script([`INSERT INTO ${ident(table)} (${cols.join(', ')}) VALUES ${values.join(', ')}`]);
  }

  // entries(filter?): audit entries in seq order, each { seq, raw, text, json }.  filter is a
  // predicate, or { from, to, type, where }: a seq range (inclusive), json.type equal to a string
  // or matching a RegExp, and a predicate.
  entries(filter = {}) {
    const f = typeof filter === 'function' ? { where: filter } : filter;
    const cond = [];
    const params = [];
    if (f.from !== undefined) { cond.push('seq >= ?'); params.push(f.from); }
    if (f.to !== undefined) { cond.push('seq <= ?'); params.push(f.to); }
    const where = cond.length ? ` WHERE ${cond.join(' AND ')}` : '';
    return this.rows(`SELECT seq, entry FROM audit_log${where} ORDER BY seq`, params).map(entryOf).filter((e) => {
      if (f.type !== undefined) {
        const type = e.json?.type;
        if (f.type instanceof RegExp ? !(typeof type === 'string' && f.type.test(type)) : type !== f.type) return false;
      }
      return f.where ? f.where(e) : true;
    });
  }

  // entry(seq): one entry ({ seq, raw, text, json }) or null.
  entry(seq) {
    return this.entries({ from: seq, to: seq })[0] ?? null;
  }

  // tamperEntries({ seq: fn }): each named entry replaced by fn(text, raw) (a string or a Buffer),
  // all in one transaction, past the guard.  Every entry must exist and every fn change it: a
  // tampering test whose edit missed would otherwise pass for the wrong reason.
  tamperEntries(edits) {
    const seqs = Object.keys(edits).map(Number);
    const current = new Map(this.entries({ where: (e) => seqs.includes(e.seq), from: Math.min(...seqs), to: Math.max(...seqs) }).map((e) => [e.seq, e]));
    const stmts = seqs.map((seq) => {
      const e = current.get(seq);
      if (!e) throw new Error(`db: no audit entry ${seq} to tamper with`);
      const next = bytesOf(edits[seq](e.text, e.raw));
      if (next.equals(e.raw)) throw new Error(`db: the edit of audit entry ${seq} changed nothing`);
      return bind('UPDATE audit_log SET entry = ? WHERE seq = ?', [next, seq], this.dialect);
    });
    this.guarded(['audit_log'], stmts);
  }

  // tamperEntry(seq, fn): tamperEntries({ [seq]: fn }).
  tamperEntry(seq, fn) {
    this.tamperEntries({ [seq]: fn });
  }

  // deleteEntries(from, to = from): entries from..to (inclusive; to = Infinity for the tail),
  // past the guard; the chain head is left as it is.
  deleteEntries(from, to = from) {
    const n = this.count('audit_log', to === Infinity ? 'seq >= ?' : 'seq >= ? AND seq <= ?', to === Infinity ? [from] : [from, to]);
    if (n === 0) throw new Error(`db: no audit entries ${from}..${to} to delete`);
    const stmt = to === Infinity
      ? bind('DELETE FROM audit_log WHERE seq >= ?', [from], this.dialect)
      : bind('DELETE FROM audit_log WHERE seq >= ? AND seq <= ?', [from, to], this.dialect);
    this.guarded(['audit_log'], [stmt]);
  }

  // truncateLog(size): the log cut to its first size entries and the chain head's size set to
  // match (as someone hiding the tail would), past the guards of both tables.
  truncateLog(size) {
    this.guarded(['audit_log', 'audit_head'], [
      bind('DELETE FROM audit_log WHERE seq >= ?', [size], this.dialect),
      bind('UPDATE audit_head SET size = ? WHERE id = 1', [size], this.dialect),
    ]);
  }

  // checkpoint(size): the stored checkpoint of that size ({ size, note, created_at }) or null.
  checkpoint(size) {
    return this.rows('SELECT size, note, created_at FROM audit_checkpoints WHERE size = ?', [size])[0] ?? null;
  }

  // tamperCheckpoint(size, fn): the checkpoint's note replaced by fn(note), past the guard.
  tamperCheckpoint(size, fn) {
    const cp = this.checkpoint(size);
    if (!cp) throw new Error(`db: no checkpoint of size ${size} to tamper with`);
    const note = fn(cp.note);
    if (typeof note !== 'string') throw new Error('db: a checkpoint note is text');
    if (note === cp.note) throw new Error(`db: the edit of checkpoint ${size} changed nothing`);
    this.guarded(['audit_checkpoints'], [bind('UPDATE audit_checkpoints SET note = ? WHERE size = ?', [note, size], this.dialect)]);
  }

  // deleteCheckpoint(size): the checkpoint and the record of its pushes to sinks, past the guard.
  deleteCheckpoint(size) {
    if (!this.checkpoint(size)) throw new Error(`db: no checkpoint of size ${size} to delete`);
    this.guarded(['audit_checkpoints'], [
      bind('DELETE FROM audit_checkpoint_pushes WHERE size = ?', [size], this.dialect),
      bind('DELETE FROM audit_checkpoints WHERE size = ?', [size], this.dialect),
    ]);
  }
}

// Parses the output of `sqlite3 -header -quote`: rows of SQL literals ('text' with '' doubled,
// X'hex', NULL, numbers) separated by commas, one row a line (text may hold newlines); the first
// row names the columns.
export function parseSqliteQuote(out) {
  const lines = [];
  let row = [];
  let i = 0;
  while (i < out.length) {
    let v;
    if (out[i] === "'") {
      let s = '';
      i++;
      for (;;) {
        const q = out.indexOf("'", i);
        if (q < 0) throw new Error('db: sqlite3 output: an unclosed string');
        s += out.slice(i, q);
        if (out[q + 1] === "'") { s += "'"; i = q + 2; } else { i = q + 1; break; }
      }
      v = s;
    } else if (out.startsWith("X'", i)) {
      const q = out.indexOf("'", i + 2);
      const hex = out.slice(i + 2, q);
      if (q < 0 || !/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error('db: sqlite3 output: a bad blob');
      v = Buffer.from(hex, 'hex');
      i = q + 1;
    } else if (out.startsWith('NULL', i)) {
      v = null;
      i += 4;
    } else {
      const m = /^-?(\d+)(\.\d+)?([eE][-+]?\d+)?/.exec(out.slice(i, i + 64));
      if (!m) throw new Error(`db: sqlite3 output: unexpected ${JSON.stringify(out.slice(i, i + 20))}`);
      v = m[2] || m[3] ? Number(m[0]) : intOf(m[0]);
      i += m[0].length;
    }
    row.push(v);
    if (out[i] === ',') {
      i++;
    } else if (out[i] === '\n' || i === out.length) {
      lines.push(row);
      row = [];
      i++;
    } else {
      throw new Error(`db: sqlite3 output: unexpected ${JSON.stringify(out.slice(i, i + 20))} after a value`);
    }
  }
  if (lines.length === 0) return [];
  const [names, ...data] = lines;
  return data.map((r) => Object.fromEntries(names.map((n, k) => [n, r[k]])));
}

export class SqliteDb extends Db {
  constructor(path) {
    super();
    this.backend = 'sqlite';
    this.dialect = 'sqlite';
    this.path = path;
    this.url = `sqlite://${path}`;
  }

  cli(args, input, what) {
    try {
      return execFileSync('sqlite3', ['-bail', '-cmd', `.timeout ${BUSY_MS}`, ...args, this.path], { input, encoding: 'utf8', maxBuffer: MAX_OUTPUT });
    } catch (e) {
      throw cliError(`${what} on ${this.path}`, e);
    }
  }

  exists() {
    return existsSync(this.path);
  }

  rows(sql, params = []) {
    const out = this.cli(['-readonly', '-header', '-quote'], `${bind(statement(sql), params, this.dialect)};\n`, 'a query');
    return parseSqliteQuote(out);
  }

  // Statements in one write transaction, taken at once (BEGIN IMMEDIATE).
  script(stmts) {
    this.cli([], `BEGIN IMMEDIATE;\n${stmts.map((s) => `${s};\n`).join('')}COMMIT;\n`, 'a write');
  }

  // stmts with the triggers of tables dropped, and re-created from their own SQL before COMMIT.
  guarded(tables, stmts) {
    const triggers = this.rows(`SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name IN (${tables.map((t) => literal(ident(t), 'sqlite')).join(', ')}) ORDER BY name`);
    this.script([
      ...triggers.map((t) => `DROP TRIGGER ${ident(t.name)}`),
      ...stmts,
      ...triggers.map((t) => t.sql),
    ]);
  }

  dump() {
    return this.cli(['-readonly'], '.dump\n', '.dump');
  }

  // tables(): the names of the tables (virtual ones included) and views, sorted.
  tables() {
    return this.rows("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name").map((r) => r.name);
  }
}

// psql's result types (\gdesc) -> how a value's text becomes a JavaScript value.
function pgValue(type, text) {
  if (text === null) return null;
  if (/^(smallint|integer|bigint)$/.test(type)) return intOf(text);
  if (/^(numeric|real|double precision)/.test(type)) return Number(text);
  if (type === 'boolean') return text === 'true';
  if (type === 'bytea') {
    if (!/^\\x([0-9a-f]{2})*$/.test(text)) throw new Error('db: psql output: a bad bytea');
    return Buffer.from(text.slice(2), 'hex');
  }
  return text;
}

export class PgDb extends Db {
  constructor(url) {
    super();
    this.backend = 'postgres';
    this.dialect = 'postgres';
    this.url = url;
    this.database = decodeURIComponent(new URL(url).pathname.slice(1));
  }

  psql(input, what, { readOnly = false, url = this.url } = {}) {
    const env = { ...process.env, PGCONNECT_TIMEOUT: '5' };
    if (readOnly) env.PGOPTIONS = '-c default_transaction_read_only=on';
    try {
      return execFileSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', url], { input, env, encoding: 'utf8', maxBuffer: MAX_OUTPUT });
    } catch (e) {
      throw cliError(`${what} on ${this.database}`, e);
    }
  }

  exists() {
    const server = new URL(this.url);
    server.pathname = '/postgres';
    const out = this.psql(`SELECT count(*) FROM pg_database WHERE datname = ${literal(this.database, 'postgres')};\n`, 'a lookup', { url: server.href });
    return out.trim() === '1';
  }

  // The query twice in one read-only session: \gdesc for the result's column types, then its
  // rows as JSON (json_each_text keeps each value's exact text: bigints, bytea as \x hex).
  rows(sql, params = []) {
    const q = bind(statement(sql), params, this.dialect);
    const out = this.psql(`${q}\n\\gdesc\n\\echo ${SEP}\n` +
      `SELECT coalesce(json_agg((SELECT json_agg(json_build_array(key, value)) FROM json_each_text(row_to_json(jg_rows)))), '[]') FROM (${q}) jg_rows;\n`,
    'a query', { readOnly: true });
    const at = out.indexOf(`${SEP}\n`);
    if (at < 0) throw new Error(`db: psql output without the separator: ${out.slice(0, 200)}`);
    const types = out.slice(0, at).split('\n').filter(Boolean).map((l) => l.slice(l.lastIndexOf('|') + 1));
    return JSON.parse(out.slice(at + SEP.length + 1)).map((r) => {
      if (r.length !== types.length) throw new Error('db: psql output: columns and types differ');
      return Object.fromEntries(r.map(([k, v], i) => [k, pgValue(types[i], v)]));
    });
  }

  script(stmts) {
    this.psql(`BEGIN;\nSET LOCAL lock_timeout = '${BUSY_MS}ms';\n${stmts.map((s) => `${s};\n`).join('')}COMMIT;\n`, 'a write');
  }

  // stmts with the tables' user triggers disabled, enabled again before COMMIT (ALTER TABLE is
  // transactional: no other session ever sees them off).
  guarded(tables, stmts) {
    this.script([
      ...tables.map((t) => `ALTER TABLE ${ident(t)} DISABLE TRIGGER USER`),
      ...stmts,
      ...tables.map((t) => `ALTER TABLE ${ident(t)} ENABLE TRIGGER USER`),
    ]);
  }

  dump() {
    try {
      return execFileSync('pg_dump', ['--no-password', '-d', this.url], { encoding: 'utf8', maxBuffer: MAX_OUTPUT, env: { ...process.env, PGCONNECT_TIMEOUT: '5' } });
    } catch (e) {
      throw cliError(`pg_dump of ${this.database}`, e);
    }
  }

  // tables(): the names of the tables and views outside the system schemas, sorted.
  tables() {
    return this.rows("SELECT table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY table_name")
      .map((r) => r.name);
  }
}

// openDb(url): sqlite://PATH (an absolute path) or postgres://ROLE@HOST:PORT/DATABASE.
export function openDb(url) {
  if (url.startsWith('sqlite://')) {
    const path = url.slice('sqlite://'.length);
    if (!path.startsWith('/')) throw new Error(`db: ${url}: give an absolute path (sqlite:///...)`);
    return new SqliteDb(path);
  }
  if (/^postgres(ql)?:\/\//.test(url)) return new PgDb(url);
  throw new Error(`db: unknown database URL ${url}`);
}

// Databases on a PostgreSQL server, for the harness and the helper's tests.  serverUrl names the
// superuser and any database of the server (the one connected to for CREATE/DROP DATABASE).
export function pgCreateDatabase(serverUrl, name, { owner = null, template = null } = {}) {
  const db = new PgDb(serverUrl);
  const opts = `${owner ? ` OWNER ${ident(owner)}` : ''}${template ? ` TEMPLATE ${ident(template)}` : ''}`;
  db.psql(`CREATE DATABASE ${ident(name)}${opts};\n`, `CREATE DATABASE ${name}`);
}

export function pgDropDatabase(serverUrl, name) {
  new PgDb(serverUrl).psql(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE);\n`, `DROP DATABASE ${name}`);
}

// The URL of database name on the server of url, as role.
export function pgUrl(url, { database, role } = {}) {
  const u = new URL(url);
  if (database !== undefined) u.pathname = `/${encodeURIComponent(database)}`;
  if (role !== undefined) u.username = role;
  return u.href;
}
