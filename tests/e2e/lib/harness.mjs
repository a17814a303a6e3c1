// Harness for end-to-end tests: a real jitgate process over real HTTPS.
//
// startJitgate() makes a temporary directory with a fresh TLS certificate,
// a configuration on a free loopback port and a migrated SQLite file, starts
// `build/jitgate serve`, and waits until /healthz answers.  Everything the
// server writes to stderr is kept (JSON lines) so tests can check its logs.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, chmodSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';

import { ROOT, freePort } from './common.mjs';
import { startIdp, accessToken } from './idp.mjs';

export { ROOT, freePort };
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
export function writeConfig(dir, port, extra = '', oidc = {}, policyDir = join(ROOT, 'policies')) {
  const path = join(dir, 'jitgate.yaml');
  if (!/^limits:/m.test(extra)) extra = `${TEST_LIMITS}\n${extra}`;
  writeFileSync(path, [
    `listen: "127.0.0.1:${port}"`,
    `public_url: "https://127.0.0.1:${port}"`,
    'log_level: info',
    'tls:',
    '  cert_file: cert.pem',
    '  key_file: key.pem',
    'database:',
    '  url: "sqlite://jitgate.db"',
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
// that copy (jg.policyDir), for tests that change policy files.
export async function startJitgate(opts = {}) {
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
  const configPath = writeConfig(dir, port, opts.extraConfig ?? '', idp ? { issuer: idp.url, clientSecretFile, minRefresh: opts.minRefresh } : (opts.oidc ?? {}), policyDir);
  const m = runJitgate(['migrate', '-c', configPath]);
  if (m.code !== 0) throw new Error(`migrate failed: ${m.stderr}`);
  const k = runJitgate(['keys', 'generate', '-c', configPath]);
  if (k.code !== 0) throw new Error(`keys generate failed: ${k.stderr}`);
  const jg = new Jitgate(dir, port, cert, configPath);
  jg.idp = idp;
  jg.policyDir = policyDir;
  try {
    await jg.start();
  } catch (e) {
    if (idp) await idp.stop();
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
  rmSync(jg.dir, { recursive: true, force: true });
}
