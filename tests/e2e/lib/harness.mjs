// Harness for end-to-end tests: a real jitgate process over real HTTPS.
//
// startJitgate() makes a temporary directory with a fresh TLS certificate,
// a configuration on a free loopback port and a migrated store, starts
// `build/jitgate serve`, and waits until /healthz answers.  Everything the
// server writes to stderr is kept (JSON lines) so tests can check its logs.
//
// The store is chosen by JG_E2E_DB (tests/e2e/README.md): `sqlite` (the default) is a
// jitgate.db file in the directory, as always; `postgres` gives every instance a fresh state
// database on a throwaway PostgreSQL cluster - the one of `tests/lib/pg-cluster.sh run` when its
// JG_PG_* variables are set, else one started for this process (tests/e2e/lib/pg.mjs) - with
// the roles of a real deployment (docs/operations.md, "PostgreSQL roles"): the database belongs
// to an owner role that runs `jitgate migrate` (database.owner_url), and jitgate serves as a
// login role that is only a member of jitgate_serving.  Telemetry follows the store: a SQLite
// file (telemetry.db in the directory) with SQLite, the state database itself with PostgreSQL
// (telemetry.database = database.url: its partitioned tables and pre-tokenized search).
// Either way jg.db and jg.telemetryDb are the backend-neutral helpers (tests/e2e/lib/db.mjs) on
// the instance's databases.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, chmodSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import https from 'node:https';

import { ROOT, SHOTS, freePort } from './common.mjs';
import { startIdp, accessToken } from './idp.mjs';
import { openDb, PgDb, pgCreateDatabase, pgDropDatabase, pgUrl } from './db.mjs';
import { startPg } from './pg.mjs';

export { ROOT, SHOTS, freePort };

// The store backend of this run: JG_E2E_DB=sqlite|postgres.
export const DB_BACKEND = process.env.JG_E2E_DB ?? 'sqlite';
if (!['sqlite', 'postgres'].includes(DB_BACKEND)) throw new Error(`JG_E2E_DB must be sqlite or postgres, not '${DB_BACKEND}'`);
export const ON_SQLITE = DB_BACKEND === 'sqlite';

// sqliteOnly(test)(name, fn), sqliteOnly(describe)(name, fn): a test of what SQLite is by nature
// (its files: permissions, immutable flags, the file size limit, file backups) registers in the
// SQLite configuration only; on PostgreSQL it does not exist and its PostgreSQL counterpart is
// another test.  tests/e2e/README.md lists each one with that counterpart.
export function sqliteOnly(register) {
  if (ON_SQLITE) return register;
  return (name) => console.log(`SQLite by nature, not part of the ${DB_BACKEND} run: ${name} (tests/e2e/README.md)`);
}
// postgresOnly(test)(name, fn): the PostgreSQL counterpart of a test of SQLite by nature (a lost
// connection for a removed file, a role's privileges for a file's modes): it runs in the
// PostgreSQL configuration only.
export function postgresOnly(register) {
  if (!ON_SQLITE) return register;
  return (name) => console.log(`PostgreSQL by nature, not part of the ${DB_BACKEND} run: ${name} (tests/e2e/README.md)`);
}
// JITGATE_BIN picks another build of the binary (make e2e-lsan: one built with -fsanitize=address).
export const BIN = process.env.JITGATE_BIN ?? join(ROOT, 'build', 'jitgate');
// JG_E2E_STOP=SIGTERM makes cleanup() stop servers gracefully, so a leak checker runs at exit.
const CLEANUP_SIGNAL = process.env.JG_E2E_STOP ?? 'SIGKILL';

export function makeCert(dir) {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-days', '2', '-subj', '/CN=jitgate-test', '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  chmodSync(key, 0o600);
  return { key, cert };
}

// The suites send many bad credentials and create many requests from one address within a
// minute, far past the production defaults (docs/operations.md#limits): unless a test writes its
// own `limits:` block, servers under test get these.  tests/e2e/abuse.test.mjs tests the limits.
export const TEST_LIMITS = [
  'limits:',
  '  auth_failures_burst: 100000',
  '  requests_burst: 100000',
  '  requests_address_burst: 100000',
  '  max_connections_per_address: 256',
].join('\n');

// Writes a configuration; extra is appended YAML text.  oidc: { issuer, clientSecretFile,
// minRefresh } (default: a provider address where nothing listens: identity-free tests do not
// need one).  policyDir defaults to the repository's policies/.
// store ({ url, ownerUrl }) names a PostgreSQL database instead of jitgate.db; the telemetry
// goes into it too (telemetry.database named, as a PostgreSQL state database requires; a test
// that names its own keeps it).  replica ({ name, publicUrl }) is for one of several replicas
// sharing dir (startReplicas): the file name of its configuration and the public URL they share
// (the load balancer's).
export function writeConfig(dir, port, extra = '', oidc = {}, policyDir = join(ROOT, 'policies'), store = {}, replica = {}) {
  const path = join(dir, replica.name ?? 'jitgate.yaml');
  if (!/^limits:/m.test(extra)) extra = `${TEST_LIMITS}\n${extra}`;
  if (store.url) extra = withTelemetryDatabase(extra, store.url);
  writeFileSync(path, [
    `listen: "127.0.0.1:${port}"`,
    `public_url: "${replica.publicUrl ?? `https://127.0.0.1:${port}`}"`,
    'log_level: info',
    'tls:',
    '  cert_file: cert.pem',
    '  key_file: key.pem',
    'database:',
    `  url: "${store.url ?? 'sqlite://jitgate.db'}"`,
    ...(store.ownerUrl ? [`  owner_url: "${store.ownerUrl}"`] : []),
    `migrations_dir: ${join(ROOT, 'migrations')}`,
    `policy_dir: ${policyDir}`,
    'key_dir: keys',
    'oidc:',
    `  issuer: "${oidc.issuer ?? 'http://127.0.0.1:9'}"`,
    '  client_id: jitgate',
    // the development provider's clients: the web sign-in and the CLI (deploy/dev-idp)
    '  allowed_clients: [jitgate, jitgate-cli]',
    ...(oidc.clientSecretFile ? [`  client_secret_file: ${oidc.clientSecretFile}`] : []),
    ...(oidc.minRefresh ? [`  jwks_min_refresh_seconds: ${oidc.minRefresh}`] : []),
    extra,
  ].join('\n') + '\n');
  return path;
}

// extra with `database: "url"` in its telemetry: block (a block of its own when it has none).
function withTelemetryDatabase(extra, url) {
  const lines = extra.split('\n');
  const at = lines.findIndex((l) => /^telemetry:\s*$/.test(l));
  if (at < 0) return `${extra}\ntelemetry:\n  database: "${url}"\n`;
  let end = at + 1;
  while (end < lines.length && /^\s/.test(lines[end])) end++;
  if (lines.slice(at + 1, end).some((l) => /^\s+database:/.test(l))) return extra; // the test names its own
  lines.splice(at + 1, 0, `  database: "${url}"`);
  return lines.join('\n');
}

// The PostgreSQL cluster of this process: the one of `tests/lib/pg-cluster.sh run` (its JG_PG_*
// variables), else one started here once (it goes when the process ends).  { url, adminUrl }:
// the cluster's role jitgate (unused here) and the superuser.
let ownCluster = null;
async function pgCluster() {
  if (process.env.JG_PG_URL && process.env.JG_PG_ADMIN_URL) return { url: process.env.JG_PG_URL, adminUrl: process.env.JG_PG_ADMIN_URL };
  ownCluster ??= startPg();
  const pg = await ownCluster;
  return { url: pg.url, adminUrl: pg.adminUrl };
}

// The login roles of the instances, made once per cluster (trust authentication on loopback, as
// every role of tests/lib/pg-cluster.sh): the owner of the databases, which may create the group
// role jitgate_serving at the first migration (CREATEROLE), and the role jitgate serves with,
// which owns nothing and gets jitgate_serving after the first migration (grantServing).
export const PG_OWNER = 'jg_e2e_owner';
export const PG_SERVING = 'jg_e2e_serving';
const rolesMade = new Set();
function pgRoles(adminUrl) {
  if (rolesMade.has(adminUrl)) return;
  new PgDb(adminUrl).psql(`DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_OWNER}') THEN CREATE ROLE ${PG_OWNER} LOGIN CREATEROLE; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_SERVING}') THEN CREATE ROLE ${PG_SERVING} LOGIN; END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;\n`, 'the e2e roles');
  rolesMade.add(adminUrl);
}

// As the DBA would once jitgate_serving exists: the serving login role becomes a member (once).
const granted = new Set();
function grantServing(adminUrl) {
  if (granted.has(adminUrl)) return;
  new PgDb(adminUrl).psql(`GRANT jitgate_serving TO ${PG_SERVING};\n`, 'GRANT jitgate_serving');
  granted.add(adminUrl);
}

// A fresh state database for one instance, owned by the owner role: the serving and owner URLs
// for the configuration, a db.mjs helper on it as the superuser, and drop().
export async function pgStore() {
  const cluster = await pgCluster();
  pgRoles(cluster.adminUrl);
  const name = `jg_${randomBytes(6).toString('hex')}`;
  pgCreateDatabase(cluster.adminUrl, name, { owner: PG_OWNER });
  return {
    ...cluster,
    role: PG_SERVING,
    owner: PG_OWNER,
    url: pgUrl(cluster.url, { database: name, role: PG_SERVING }),
    ownerUrl: pgUrl(cluster.url, { database: name, role: PG_OWNER }),
    name,
    db: openDb(pgUrl(cluster.adminUrl, { database: name })),
    // SQL as the superuser on the cluster's own database (for what a database cannot do to
    // itself: ALTER DATABASE, ending its sessions)
    admin: (sql) => new PgDb(cluster.adminUrl).psql(`${sql};\n`, 'admin SQL'),
    // The PostgreSQL counterparts of SQLite's file faults (tests/e2e/README.md):
    // endSessions(): every session on the database ends (as in a server restart or a failover);
    // jitgate's connections are found closed and replaced at their next use.
    endSessions: () => new PgDb(cluster.adminUrl).psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid();\n`, 'ending sessions'),
    // reachable(false): no connection can be made to the database (and the open ones end);
    // reachable(true) opens it again.
    reachable(on) {
      this.admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${on ? 'true' : 'false'}`);
      if (!on) this.endSessions();
    },
    // readOnly(true): every session made from now on is read-only by default (as on a server
    // whose default_transaction_read_only is set); the open ones end, so jitgate's next ones are.
    readOnly(on) {
      this.admin(`ALTER DATABASE ${name} ${on ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`);
      this.endSessions();
    },
    grantServing: () => grantServing(cluster.adminUrl),
    drop: () => pgDropDatabase(cluster.adminUrl, name),
  };
}

// The store of a copy of jg's stopped deployment, for tests that change the copy and never the
// original: the files were copied to the directory of configPath (the copy's configuration).  On
// SQLite that is the copied jitgate.db; on PostgreSQL a new database made from jg's (CREATE
// DATABASE ... TEMPLATE; privileges come with it), written into configPath for both roles and for
// the telemetry when it is in that database.  Returns its db.mjs helper with drop(), which removes what
// the copy made.
export function copyStore(jg, configPath) {
  if (jg.db.backend === 'sqlite') {
    const db = openDb(`sqlite://${join(dirname(configPath), relative(jg.dir, jg.db.path))}`);
    db.drop = () => {};
    return db;
  }
  const name = `jg_${randomBytes(6).toString('hex')}`;
  pgCreateDatabase(jg.store.adminUrl, name, { owner: jg.store.owner, template: jg.db.database });
  let text = readFileSync(configPath, 'utf8');
  for (const [from, role] of [[jg.store.url, jg.store.role], [jg.store.ownerUrl, jg.store.owner]]) {
    if (!text.includes(`url: "${from}"`)) throw new Error(`${configPath} does not name ${from}`);
    text = text.replace(`url: "${from}"`, `url: "${pgUrl(from, { database: name, role })}"`);
  }
  text = text.replace(`  database: "${jg.store.url}"`, `  database: "${pgUrl(jg.store.url, { database: name, role: jg.store.role })}"`);
  writeFileSync(configPath, text);
  const db = openDb(pgUrl(jg.store.adminUrl, { database: name }));
  db.drop = () => pgDropDatabase(jg.store.adminUrl, name);
  return db;
}

export function runJitgate(args, opts = {}) {
  try {
    const stdout = execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    return { code: e.status, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export class Jitgate {
  constructor(dir, port, cert, configPath) {
    this.dir = dir;
    this.port = port;
    this.url = `https://127.0.0.1:${port}`;
    this.ca = readFileSync(cert);
    this.configPath = configPath;
    this.stderr = '';
    this.exited = null;
  }

  start() {
    this.proc = spawn(BIN, ['serve', '-c', this.configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exitPromise = new Promise((ok) => this.proc.on('exit', (code, signal) => {
      this.exited = { code, signal };
      ok(this.exited);
    }));
    return this.waitReady();
  }

  async waitReady(timeoutMs = 10000) {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`jitgate exited early: ${JSON.stringify(this.exited)}\n${this.stderr}`);
      try {
        const r = await this.request('GET', '/healthz');
        if (r.status === 200) return this;
      } catch { /* not listening yet */ }
      if (Date.now() > until) throw new Error(`jitgate did not start:\n${this.stderr}`);
      await new Promise((ok) => setTimeout(ok, 50));
    }
  }

  // One HTTPS request on a fresh connection.  Resolves {status, headers, body, json}.
  // localAddress (e.g. '127.0.0.2') makes the request come from another loopback address.
  request(method, path, { headers = {}, body = null, agent = false, localAddress } = {}) {
    // Node sends a GET body with neither Content-Length nor chunked framing: say which.
    if (body !== null && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
      headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    }
    // Like curl, a body over 1 MiB waits for 100 Continue: a server that refuses it early (413)
    // answers before the body is sent.  Written blindly, the body meets a closed connection and
    // the reset can destroy the 413 in flight (ECONNRESET instead of an answer).
    const expect = body !== null && Buffer.byteLength(body) > 1024 * 1024 &&
      !Object.keys(headers).some((h) => /^expect$/i.test(h));
    if (expect) headers = { ...headers, expect: '100-continue' };
    return new Promise((ok, fail) => {
      const req = https.request({ host: '127.0.0.1', port: this.port, method, path, headers, ca: this.ca, agent, localAddress }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json = null;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          ok({ status: res.statusCode, headers: res.headers, body: text, json });
        });
      });
      req.on('error', fail);
      if (expect) {
        req.on('continue', () => req.end(body));
      } else {
        if (body !== null) req.write(body);
        req.end();
      }
    });
  }

  // A real access token from the test's identity provider for user (cached per user).
  async tokenFor(user) {
    this.tokens ??= {};
    if (!this.tokens[user]) this.tokens[user] = (await accessToken(this.idp, user, { audience: this.url })).access_token;
    return this.tokens[user];
  }

  async as(user, method, path, opts = {}) {
    const token = await this.tokenFor(user);
    return this.request(method, path, { ...opts, headers: { authorization: `Bearer ${token}`, ...(opts.headers ?? {}) } });
  }

  // A capability token of a grant asked by requester and approved by each of approvers in turn
  // (payments.yaml: bob approves deploy-probe on payment-gateway alone); resolves { grant, token }.
  async grantToken({ service, capabilities, justification, requester = 'alice', approvers = ['bob'], duration = '30m' }) {
    const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
    const r = await this.as(requester, 'POST', '/v1/requests', json({ service, capabilities, duration, justification }));
    if (r.status !== 201) throw new Error(`request: ${r.status} ${r.body}`);
    for (const a of approvers) {
      const ok = await this.as(a, 'POST', `/v1/requests/${r.json.id}/approve`, json({}));
      if (ok.status !== 200) throw new Error(`approve by ${a}: ${ok.status} ${ok.body}`);
    }
    const t = await this.as(requester, 'POST', `/v1/grants/${r.json.id}/token`, json({}));
    if (t.status !== 201) throw new Error(`token: ${t.status} ${t.body}`);
    return { grant: r.json.id, token: t.json.token };
  }

  // A service in the catalog with an ingest key, written 0600 to <dir>/ingest.key for an agent.
  serviceWithKey(service, owners = 'payments-eng,payments-leads') {
    const cli = (...args) => spawnSync(BIN, [...args, '-c', this.configPath], { encoding: 'utf8' });
    const added = cli('service', 'add', service, '--owners', owners);
    if (added.status !== 0) throw new Error(`service add: ${added.stderr}`);
    const key = cli('ingest-key', 'create', service).stdout.trim();
    const keyFile = join(this.dir, 'ingest.key');
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    return { key, keyFile };
  }

  // erin is the development provider's auditor.
  auditor(method, path, opts = {}) {
    return this.as('erin', method, path, opts);
  }

  logLines() {
    return this.stderr.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  }

  async stop(signal = 'SIGTERM') {
    if (!this.exited) this.proc.kill(signal);
    return this.exitPromise;
  }
}

// Starts a server in a fresh directory, with its own development identity provider unless
// opts.idp === false.  opts.extraConfig is appended YAML; opts.minRefresh sets the JWKS interval.
// opts.oidc ({ issuer, clientSecretFile, minRefresh }, with idp: false) names a provider the test
// runs itself.  opts.copyPolicies copies the repository's policies/ to <dir>/policies and serves
// that copy (jg.policyDir), for tests that change policy files.  opts.backend overrides JG_E2E_DB;
// opts.store names the PostgreSQL database to serve from (below).
export async function startJitgate(opts = {}) {
  const backend = opts.backend ?? DB_BACKEND;
  const dir = mkdtempSync(join(tmpdir(), 'jg-e2e-'));
  const policyDir = opts.copyPolicies ? join(dir, 'policies') : join(ROOT, 'policies');
  if (opts.copyPolicies) cpSync(join(ROOT, 'policies'), policyDir, { recursive: true });
  // opts.policyFiles ({ 'name.yaml': text }, with copyPolicies) adds policies to that copy
  for (const [name, text] of Object.entries(opts.policyFiles ?? {})) writeFileSync(join(policyDir, name), text);
  const { cert } = makeCert(dir);
  const port = await freePort();
  const idp = opts.idp === false ? null : await startIdp({ jitgateUrl: `https://127.0.0.1:${port}` });
  // a copy the server may read as a secret (0600), wherever the provider keeps its own
  let clientSecretFile;
  if (idp) {
    clientSecretFile = join(dir, 'client-secret');
    writeFileSync(clientSecretFile, idp.clientSecret + '\n', { mode: 0o600 });
  }
  // opts.store: a database the test made itself ({ url, ownerUrl, db, grantServing(), drop() }, the
  // shape of pgStore()), e.g. on a cluster with a standby and a multi-host URL
  const store = opts.store ?? (backend === 'postgres' ? await pgStore() : null);
  const configPath = writeConfig(dir, port, opts.extraConfig ?? '', idp ? { issuer: idp.url, clientSecretFile, minRefresh: opts.minRefresh } : (opts.oidc ?? {}), policyDir,
    store ? { url: store.url, ownerUrl: store.ownerUrl } : {});
  const m = runJitgate(['migrate', '-c', configPath]);
  if (m.code !== 0 && store) {
    store.drop();
    if (idp) await idp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  if (m.code !== 0) throw new Error(`migrate failed: ${m.stderr}`);
  if (store) store.grantServing();
  const k = runJitgate(['keys', 'generate', '-c', configPath]);
  if (k.code !== 0) throw new Error(`keys generate failed: ${k.stderr}`);
  const jg = new Jitgate(dir, port, cert, configPath);
  jg.idp = idp;
  jg.policyDir = policyDir;
  jg.store = store;
  jg.db = store ? store.db : openDb(`sqlite://${join(dir, 'jitgate.db')}`);
  jg.telemetryDb = store ? store.db : openDb(`sqlite://${join(dir, 'telemetry.db')}`);
  try {
    await jg.start();
  } catch (e) {
    if (idp) await idp.stop();
    if (store) store.drop();
    throw e;
  }
  return jg;
}

export async function cleanup(jg) {
  if (!jg) return;
  if (CLEANUP_SIGNAL !== 'SIGKILL' && !jg.exited) {
    const killer = setTimeout(() => jg.proc.kill('SIGKILL'), 30000);
    await jg.stop(CLEANUP_SIGNAL);
    clearTimeout(killer);
  }
  await jg.stop('SIGKILL');
  if (jg.idp) await jg.idp.stop();
  if (jg.store) jg.store.drop();
  rmSync(jg.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- several replicas

// A round-robin TCP balancer on a free loopback port in front of ports (TLS passes through: the
// replicas share one certificate).  A connection goes to the next port that accepts it; a port
// that refuses (a killed replica) is skipped, as a load balancer's health check would.
async function startBalancer(ports) {
  let next = 0;
  const open = new Set();
  const server = net.createServer((client) => {
    client.pause();
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => {});
    const tryPort = (left) => {
      if (left === 0 || client.destroyed) { client.destroy(); return; }
      const port = ports[next++ % ports.length];
      const upstream = net.connect(port, '127.0.0.1');
      upstream.once('error', () => tryPort(left - 1));
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        open.add(upstream);
        upstream.on('close', () => { open.delete(upstream); client.destroy(); });
        client.on('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryPort(ports.length);
  });
  const port = await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok(server.address().port));
  });
  return {
    port,
    close: () => new Promise((ok) => { for (const s of open) s.destroy(); server.close(() => ok()); }),
  };
}

// startReplicas(n, opts): n jitgate processes serving one PostgreSQL database, as replicas behind
// a load balancer are deployed (docs/operations.md, "Running several replicas"): one directory
// with one key_dir and one TLS certificate, one identity provider, one public_url - that of a
// round-robin balancer started here (startBalancer) - and each replica listening on a port of
// its own with a configuration of its own (jitgate-<i>.yaml); the telemetry lives in the state
// database, shared as in production.  The database is migrated and the keys generated once, before any replica starts.
// opts: extraConfig (YAML every replica gets), copyPolicies and policyFiles as for
// startJitgate.  Resolves { replicas, front, dir, store, db, idp, restart(i), close() }:
// replicas[i] is a Jitgate on its own port (its url is the public one, so tokens are for the
// audience every replica checks); front is a Jitgate object (never started) whose requests go
// through the balancer.  PostgreSQL only: SQLite serves one process per file.
export async function startReplicas(n, opts = {}) {
  if ((opts.backend ?? DB_BACKEND) !== 'postgres') throw new Error('startReplicas needs JG_E2E_DB=postgres');
  const dir = mkdtempSync(join(tmpdir(), 'jg-replicas-'));
  const policyDir = opts.copyPolicies ? join(dir, 'policies') : join(ROOT, 'policies');
  if (opts.copyPolicies) cpSync(join(ROOT, 'policies'), policyDir, { recursive: true });
  for (const [name, text] of Object.entries(opts.policyFiles ?? {})) writeFileSync(join(policyDir, name), text);
  const { cert } = makeCert(dir);
  const ports = [];
  for (let i = 0; i < n; i++) ports.push(await freePort());
  const lb = await startBalancer(ports);
  const publicUrl = `https://127.0.0.1:${lb.port}`;
  const set = { dir, replicas: [], lb, idp: null, store: null };
  set.close = async () => {
    for (const jg of set.replicas) if (jg.proc) await jg.stop('SIGKILL');
    await lb.close();
    if (set.idp) await set.idp.stop();
    if (set.store) set.store.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    set.idp = await startIdp({ jitgateUrl: publicUrl });
    const clientSecretFile = join(dir, 'client-secret');
    writeFileSync(clientSecretFile, set.idp.clientSecret + '\n', { mode: 0o600 });
    set.store = await pgStore();
    set.db = set.store.db;
    const configs = ports.map((port, i) => writeConfig(dir, port, opts.extraConfig ?? '',
      { issuer: set.idp.url, clientSecretFile }, policyDir, { url: set.store.url, ownerUrl: set.store.ownerUrl },
      { name: `jitgate-${i}.yaml`, publicUrl }));
    for (const c of configs) { // one database: the first migrates, the others find nothing pending
      const m = runJitgate(['migrate', '-c', c]);
      if (m.code !== 0) throw new Error(`migrate failed: ${m.stderr}`);
    }
    set.store.grantServing();
    const k = runJitgate(['keys', 'generate', '-c', configs[0]]);
    if (k.code !== 0) throw new Error(`keys generate failed: ${k.stderr}`);
    set.replicas = ports.map((port, i) => {
      const jg = new Jitgate(dir, port, cert, configs[i]);
      jg.ownUrl = jg.url;
      jg.url = publicUrl;
      jg.idp = set.idp;
      jg.policyDir = policyDir;
      jg.store = set.store;
      jg.db = set.store.db;
      jg.telemetryDb = set.store.db;
      return jg;
    });
    await Promise.all(set.replicas.map((jg) => jg.start()));
  } catch (e) {
    await set.close();
    throw e;
  }
  set.front = new Jitgate(dir, lb.port, cert, set.replicas[0].configPath);
  set.front.idp = set.idp;
  set.front.tokens = set.replicas[0].tokens ??= {};
  for (const jg of set.replicas) jg.tokens = set.front.tokens; // one token per user for all
  // Starts replica i again (after a kill): it verifies the whole log before it listens.
  set.restart = async (i) => {
    const jg = set.replicas[i];
    if (!jg.exited) await jg.stop('SIGKILL');
    jg.exited = null;
    jg.stderr = '';
    return jg.start();
  };
  return set;
}
