// The HTTPS server as a client sees it: health, readiness, JSON refusals,
// caps, TLS versions, plain HTTP refused, logs, graceful shutdown, and
// start-up refusals for bad configuration.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import http from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJitgate, cleanup, makeCert, writeConfig, freePort, runJitgate, sqliteOnly, postgresOnly, ROOT } from './lib/harness.mjs';

const SECURITY_HEADERS = {
  'strict-transport-security': /max-age=\d+/,
  'content-security-policy': /default-src 'none'.*frame-ancestors 'none'/,
  'x-content-type-options': /^nosniff$/,
  'referrer-policy': /^no-referrer$/,
  'cache-control': /no-store/,
  'x-request-id': /^[0-9a-f]{32}$/,
};

function assertJsonError(r, status, code) {
  assert.equal(r.status, status, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.equal(r.json?.error?.code, code, r.body);
  assert.equal(typeof r.json.error.message, 'string');
  for (const [h, re] of Object.entries(SECURITY_HEADERS)) assert.match(r.headers[h] ?? '', re, h);
}

// Sends request (headers only) on a raw TLS connection and collects what comes back within ms of
// the send: { answered, head, body, text }, answered once a whole response (head and the body
// its Content-Length names) is in.
function rawExchange(jg, request, ms) {
  return new Promise((ok, fail) => {
    let text = '';
    let timer;
    const s = tls.connect({ host: '127.0.0.1', port: jg.port, ca: jg.ca }, () => {
      s.write(request);
      timer = setTimeout(() => { s.destroy(); ok({ answered: false, head: '', body: '', text }); }, ms);
    });
    s.setEncoding('utf8');
    s.on('data', (d) => {
      text += d;
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = text.slice(0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      const body = text.slice(end + 4);
      if (Buffer.byteLength(body) >= length) {
        clearTimeout(timer);
        s.destroy();
        ok({ answered: true, head, body, text });
      }
    });
    s.on('error', (e) => { clearTimeout(timer); fail(e); });
  });
}

describe('jitgate HTTPS server', () => {
  let jg;
  before(async () => {
    jg = await startJitgate({ extraConfig: 'limits:\n  max_body_bytes: 2048\n  max_header_bytes: 4096\n  max_url_bytes: 1024\n' });
  });
  after(() => cleanup(jg));

  test('GET /healthz answers 200 with security headers and a request id', async () => {
    const r = await jg.request('GET', '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok' });
    for (const [h, re] of Object.entries(SECURITY_HEADERS)) assert.match(r.headers[h] ?? '', re, h);
    const again = await jg.request('GET', '/healthz');
    assert.notEqual(again.headers['x-request-id'], r.headers['x-request-id']);
  });

  test('GET /readyz answers 200 while the store answers', async () => {
    const r = await jg.request('GET', '/readyz');
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'ready');
  });

  test('an unknown path is a JSON 404', async () => {
    assertJsonError(await jg.request('GET', '/no/such/thing'), 404, 'not_found');
  });

  test('a known path with the wrong method is a JSON 405 with Allow', async () => {
    const r = await jg.request('DELETE', '/healthz');
    assertJsonError(r, 405, 'method_not_allowed');
    assert.equal(r.headers.allow, 'GET');
  });

  test('a body over the cap is a JSON 413 before it is read', async () => {
    const r = await jg.request('GET', '/healthz', { body: 'x'.repeat(4096), headers: { 'content-type': 'application/json' } });
    assertJsonError(r, 413, 'payload_too_large');
    // "before it is read": 10 MiB declared (limits.max_body_bytes is 1 MiB), not one byte of it
    // sent. The 413 must come while the body is still unsent - a server that waited for it would
    // answer only at limits.request_timeout (30 s), if at all.
    const raw = await rawExchange(jg, 'POST /v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n'
      + 'Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n', 2000);
    assert.ok(raw.answered, `no reply within 2 s of the headers (the body is unsent): ${raw.text}`);
    assert.match(raw.text, /^HTTP\/1\.1 413 /);
    assert.match(raw.head, /\r\ncontent-type: application\/json/i);
    assert.equal(JSON.parse(raw.body).error.code, 'payload_too_large', raw.text);
  });

  test('a chunked body over the cap is a JSON 413', async () => {
    const r = await jg.request('GET', '/healthz', { body: 'y'.repeat(8192), headers: { 'transfer-encoding': 'chunked' } });
    assertJsonError(r, 413, 'payload_too_large');
  });

  test('headers over the cap are a JSON 431, not the library page', async () => {
    const r = await jg.request('GET', '/healthz', { headers: { authorization: `Bearer ${'a'.repeat(100 * 1024)}` } });
    assertJsonError(r, 431, 'request_header_fields_too_large');
  });

  test('a request target over the cap is a JSON 414', async () => {
    const r = await jg.request('GET', `/healthz?q=${'a'.repeat(2000)}`);
    assertJsonError(r, 414, 'uri_too_long');
  });

  test('TLS 1.2 and 1.3 are accepted', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3']) {
      const proto = await new Promise((ok, fail) => {
        const s = tls.connect({ host: '127.0.0.1', port: jg.port, ca: jg.ca, minVersion: v, maxVersion: v }, () => {
          const p = s.getProtocol();
          s.end();
          ok(p);
        });
        s.on('error', fail);
      });
      assert.equal(proto, v);
    }
  });

  // The client lowers its own security level so that only the server can refuse.
  const tls11Client = (port, ca) => new Promise((ok) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, rejectUnauthorized: false, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
      const p = s.getProtocol();
      s.end();
      ok({ connected: true, protocol: p });
    });
    s.on('error', (e) => ok({ connected: false, error: e.code ?? e.message }));
  });

  test('control: the TLS 1.1 client connects to a server that allows TLS 1.1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jg-tls11-'));
    const { key, cert } = makeCert(dir);
    const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert), minVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const r = await tls11Client(server.address().port, readFileSync(cert));
      assert.deepEqual(r, { connected: true, protocol: 'TLSv1.1' });
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('TLS 1.1 is refused by jitgate', async () => {
    const r = await tls11Client(jg.port, jg.ca);
    assert.equal(r.connected, false, `TLS 1.1 handshake succeeded: ${JSON.stringify(r)}`);
  });

  test('a plain-HTTP request to the TLS port gets no HTTP answer', async () => {
    const outcome = await new Promise((ok) => {
      const req = http.get({ host: '127.0.0.1', port: jg.port, path: '/healthz', timeout: 5000 }, (res) => ok({ status: res.statusCode }));
      req.on('error', (e) => ok({ error: e.code ?? e.message }));
      req.on('timeout', () => { req.destroy(); ok({ error: 'timeout' }); });
    });
    assert.equal(outcome.status, undefined, `plain HTTP got status ${outcome.status}`);
    assert.ok(outcome.error);
  });

  test('/metrics counts requests per route and status in Prometheus format', async () => {
    await jg.request('GET', '/healthz');
    await jg.request('GET', '/nope');
    const r = await jg.request('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^jitgate_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+$/m);
    assert.match(r.body, /^jitgate_http_requests_total\{method="GET",route="unmatched",status="404"\} \d+$/m);
    assert.match(r.body, /^jitgate_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",status="200",le="\+Inf"\} \d+$/m);
    assert.doesNotMatch(r.body, /\/nope/); // raw paths never become labels
  });

  test('every request is one JSON log line with its request id, and no secret is logged', async () => {
    const secret = 'Bearer s3cr3t-token-value';
    const r = await jg.request('GET', '/healthz', { headers: { authorization: secret, cookie: 'session=c00kie-value' } });
    await new Promise((ok) => setTimeout(ok, 100));
    const lines = jg.logLines();
    const line = lines.find((l) => l.request_id === r.headers['x-request-id']);
    assert.ok(line, 'no log line for the request');
    assert.equal(line.route, '/healthz');
    assert.equal(line.status, 200);
    assert.equal(typeof line.latency_ms, 'number');
    assert.ok(line.time && line.level);
    assert.ok(!jg.stderr.includes('s3cr3t'), 'the Authorization header leaked into the log');
    assert.ok(!jg.stderr.includes('c00kie'), 'the cookie leaked into the log');
  });
});

// Polls GET path until it answers status (within ms); the last reply.
async function untilStatus(jg, path, status, ms) {
  const until = Date.now() + ms;
  let r;
  for (;;) {
    r = await jg.request('GET', path);
    if (r.status === status || Date.now() > until) return r;
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

describe('readiness follows the store', () => {
  let jg;
  before(async () => { jg = await startJitgate(); });
  after(() => cleanup(jg));

  sqliteOnly(test)('/readyz fails with a JSON 503 when the database file is removed; /healthz still answers', async () => {
    assert.equal((await jg.request('GET', '/readyz')).status, 200);
    rmSync(join(jg.dir, 'jitgate.db'));
    const r = await jg.request('GET', '/readyz');
    assertJsonError(r, 503, 'unavailable');
    assert.equal((await jg.request('GET', '/healthz')).status, 200);
  });

  // The PostgreSQL counterpart: the connections lost and none possible (the database closed to
  // new sessions, jitgate's ended), then open again - readiness follows, in both directions.
  postgresOnly(test)('/readyz fails with a JSON 503 while the database cannot be reached, and recovers; /healthz still answers', async () => {
    assert.equal((await jg.request('GET', '/readyz')).status, 200);
    jg.store.reachable(false);
    try {
      const r = await untilStatus(jg, '/readyz', 503, 5000);
      assertJsonError(r, 503, 'unavailable');
      assert.equal((await jg.request('GET', '/healthz')).status, 200);
    } finally {
      jg.store.reachable(true);
    }
    // reconnections back off up to 5 s (store.h)
    assert.equal((await untilStatus(jg, '/readyz', 200, 15000)).status, 200);
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM lets an in-flight request finish, then exits 0', async () => {
    const jg = await startJitgate();
    try {
      // Start a request whose body is still coming when SIGTERM arrives.
      const socket = tls.connect({ host: '127.0.0.1', port: jg.port, ca: jg.ca });
      await new Promise((ok) => socket.once('secureConnect', ok));
      let reply = '';
      socket.on('data', (d) => { reply += d; });
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n12345');
      await new Promise((ok) => setTimeout(ok, 200));
      jg.proc.kill('SIGTERM');
      await new Promise((ok) => setTimeout(ok, 300));
      assert.equal(jg.exited, null, 'jitgate exited with a request in flight');
      socket.write('67890');
      const exit = await jg.exitPromise;
      assert.match(reply, /^HTTP\/1\.1 200/);
      assert.match(reply, /\{"status":"ok"\}/);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(jg.logLines().some((l) => l.msg === 'jitgate stopped'));
    } finally {
      await cleanup(jg);
    }
  });
});

describe('start-up refusals', () => {
  let dir, port;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-cfg-'));
    makeCert(dir);
    port = await freePort();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('an unknown configuration key stops start-up with exit 3, naming key and line', () => {
    const cfg = writeConfig(dir, port, 'limits:\n  max_bodyy_bytes: 10\n');
    const r = runJitgate(['serve', '-c', cfg]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /jitgate\.yaml:17: unknown key 'limits\.max_bodyy_bytes'/);
  });

  test('--check-config validates without starting', () => {
    const cfg = writeConfig(dir, port);
    const ok = runJitgate(['serve', '--check-config', '-c', cfg]);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /configuration is valid/);
    const bad = writeConfig(dir, port, 'limits:\n  max_connections: "many"\n');
    const r = runJitgate(['serve', '--check-config', '-c', bad]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /'limits\.max_connections' must be an integer/);
  });

  test('a PostgreSQL database URL is checked before anything connects', () => {
    const cfg = writeConfig(dir, port).replace(/$/, '');
    const text = readFileSync(cfg, 'utf8');
    writeFileSync(cfg, text.replace('sqlite://jitgate.db', 'postgres://db.internal/jitgate'));
    let r = runJitgate(['serve', '-c', cfg]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /'database\.url': a database host that is not loopback needs sslmode=verify-full/);
    writeFileSync(cfg, text.replace('sqlite://jitgate.db', 'postgres://jitgate:hunter2@127.0.0.1/jitgate'));
    r = runJitgate(['serve', '-c', cfg]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /a password in the database URL is refused/);
    assert.doesNotMatch(r.stderr, /hunter2/);
    // telemetry stays a SQLite file in this version: with a PostgreSQL state database it is named
    writeFileSync(cfg, text.replace('sqlite://jitgate.db', 'postgres://db.internal/jitgate?sslmode=verify-full'));
    r = runJitgate(['serve', '-c', cfg]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /'telemetry\.database' is required with a postgres:\/\/ database\.url/);
    const named = `${text.replace('sqlite://jitgate.db', 'postgres://db.internal/jitgate?sslmode=verify-full')}telemetry:\n  database: telemetry.db\n`;
    writeFileSync(cfg, named);
    r = runJitgate(['serve', '--check-config', '-c', cfg]);
    assert.equal(r.code, 0, r.stderr);
    // a server nobody answers for: exit 4, saying so
    writeFileSync(cfg, named.replace('postgres://db.internal/jitgate?sslmode=verify-full', 'postgres://127.0.0.1:1/jitgate'));
    r = runJitgate(['serve', '-c', cfg]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /cannot open the store: .*127\.0\.0\.1.*1/);
    r = runJitgate(['migrate', '-c', cfg]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /cannot open the store/);
  });

  test('pending migrations stop serve with exit 4 until jitgate migrate runs', () => {
    const cfg = writeConfig(dir, port);
    const r = runJitgate(['serve', '-c', cfg]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /migration\(s\) pending: run 'jitgate migrate/);
    const m = runJitgate(['migrate', '-c', cfg]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /schema is current/);
  });

  test('a TLS key readable by others is refused', () => {
    const cfg = writeConfig(dir, port);
    assert.equal(runJitgate(['keys', 'generate', '-c', cfg]).code, 0);
    chmodSync(join(dir, 'key.pem'), 0o644);
    try {
      const r = runJitgate(['serve', '-c', cfg]);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /accessible to group or others/);
    } finally {
      chmodSync(join(dir, 'key.pem'), 0o600);
    }
  });

  test('usage errors exit 2 and --help exits 0', () => {
    assert.equal(runJitgate(['frobnicate']).code, 2);
    assert.equal(runJitgate(['serve', '--bogus']).code, 2);
    const h = runJitgate(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /usage: jitgate <command>/);
    assert.match(runJitgate(['version']).stdout, /^jitgate \d+\.\d+\.\d+/);
  });
});

describe('the command line', () => {
  test('output that cannot be written fails the command: exit 1, and it says so', () => {
    // /dev/full takes the open and refuses every write (ENOSPC), as a full disk does
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [['version'], ['--help'], ['policy', '--help']]) {
        const r = runJitgate(args, { stdio: ['ignore', full, 'pipe'] });
        assert.equal(r.code, 1, `jitgate ${args.join(' ')} > /dev/full`);
        assert.match(r.stderr, /the output could not be written: No space left on device/);
      }
    } finally {
      closeSync(full);
    }
  });

  test('token inspect shows "?" for a time no calendar date stands for', () => {
    // the token is not verified: its claims can hold any number
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b64({ alg: 'EdDSA', kid: 'k1' })}.${b64({ sub: 'alice', nbf: 1700000000, exp: 1e17 })}.c2ln`;
    const r = runJitgate(['token', 'inspect', token]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /alice may use \? on service \? from 2023-11-14T22:13:20Z until \? \(/);
  });
});
