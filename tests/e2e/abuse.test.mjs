// Abuse resistance end to end (issue 9, point 3): rate limits on failed authentications and on
// new requests (429 + Retry-After, per address and per proven identity), the per-address
// connection cap and the slow-client deadline, paging with opaque cursors, and answers that do
// not tell another user's request from one that does not exist.
//
// Every loopback address is local on Linux, so a request made from 127.0.0.N (localAddress) is
// a different client address to jitgate: each check uses its own address and its own buckets.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startJitgate, cleanup } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const sql = (db, statements) => execFileSync('sqlite3', [db], { input: statements, encoding: 'utf8' });
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });

function assert429(r, pattern) {
  assert.equal(r.status, 429, r.body);
  assert.equal(r.json?.error?.code, 'too_many_requests', r.body);
  assert.match(r.json.error.message, pattern);
  const after = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(after) && after >= 1, `Retry-After: ${r.headers['retry-after']}`);
  return after;
}

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} missing from /metrics`);
  return Number(line.split(' ')[1]);
}

describe('rate limits (small limits: 5 failures at 6/min, 3 requests per identity, 5 per address, 5 sign-ins per address)', () => {
  let jg;
  const from = (addr, method, path, opts = {}) => jg.request(method, path, { ...opts, localAddress: addr });
  const asFrom = async (addr, user, method, path, opts = {}) => from(addr, method, path,
    { ...opts, headers: { authorization: `Bearer ${await jg.tokenFor(user)}`, ...(opts.headers ?? {}) } });

  before(async () => {
    jg = await startJitgate({
      extraConfig: ['limits:', '  auth_failures_per_minute: 6', '  auth_failures_burst: 5',
        '  requests_per_minute: 1', '  requests_burst: 3', '  requests_per_address_per_minute: 1',
        '  requests_address_burst: 5', ''].join('\n'),
    });
  });
  after(() => cleanup(jg));

  test('bad bearer tokens: 401 five times, then 429 for that address only, even with a good token', async () => {
    const A = '127.0.0.2';
    for (let i = 0; i < 5; i++) {
      const r = await from(A, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(r.status, 401, r.body);
    }
    const after = assert429(await from(A, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } }),
      /too many failed authentications from this address; retry in \d+ seconds/);
    assert.ok(after <= 10, `one failure refills in 10 s, Retry-After was ${after}`);
    assert429(await asFrom(A, 'alice', 'GET', '/v1/me'), /from this address/);
    const other = await asFrom('127.0.0.1', 'alice', 'GET', '/v1/me');
    assert.equal(other.status, 200, other.body);
  });

  test('bad capability tokens, ingest keys and sign-in answers count as failures too', async () => {
    const cases = [
      ['127.0.0.3', 'GET', `/v1/services/${SVC}/probes`, { authorization: 'Bearer aaa.bbb.ccc' }],
      ['127.0.0.4', 'GET', `/v1/agents/probes?service=${SVC}`, { authorization: `Bearer jgk_${'A'.repeat(43)}` }],
      ['127.0.0.5', 'GET', '/auth/callback?state=forged-state&code=forged-code', {}],
    ];
    for (const [addr, method, path, headers] of cases) {
      for (let i = 0; i < 5; i++) {
        const r = await from(addr, method, path, { headers });
        assert.equal(r.status, 401, `${path}: ${r.body}`);
      }
      assert429(await from(addr, method, path, { headers }), /failed authentications from this address/);
    }
  });

  test('a request without any credential is no failure: never 429', async () => {
    for (let i = 0; i < 12; i++) {
      const r = await from('127.0.0.6', 'GET', '/v1/me');
      assert.equal(r.status, 401, r.body);
    }
  });

  test('failures of a proven identity (a revoked grant\'s token) limit that identity from any address', async () => {
    const c = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
    assert.equal(c.status, 201, c.body);
    assert.equal((await jg.as('bob', 'POST', `/v1/requests/${c.json.id}/approve`, json({}))).status, 200);
    const t = await jg.as('alice', 'POST', `/v1/grants/${c.json.id}/token`, json({}));
    assert.equal(t.status, 201, t.body);
    const ok = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${t.json.token}` } });
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await jg.as('alice', 'POST', `/v1/grants/${c.json.id}/revoke`, json({ reason: 'done' }))).status, 200);
    for (let i = 0; i < 5; i++) {
      const r = await from('127.0.0.7', 'GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${t.json.token}` } });
      assert.equal(r.status, 401, r.body);
    }
    // alice, from an address with no failures at all, with her valid single sign-on token
    assert429(await asFrom('127.0.0.8', 'alice', 'GET', '/v1/me'), /too many failed authentications for this identity/);
    const bob = await asFrom('127.0.0.8', 'bob', 'GET', '/v1/me');
    assert.equal(bob.status, 200, bob.body);
  });

  test('new requests: 3 per identity, then 429; a dry run is not counted', async () => {
    const A = '127.0.0.9';
    const create = (user) => asFrom(A, user, 'POST', '/v1/requests', json({ service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'limits' }));
    for (let i = 0; i < 3; i++) {
      const r = await create('dave');
      assert.equal(r.status, 201, r.body);
    }
    const r = await create('dave');
    assert429(r, /too many new access requests for this identity/);
    const mine = await asFrom(A, 'dave', 'GET', '/v1/requests?mine=true');
    assert.equal(mine.json.requests.length, 3, 'the refused request was stored');
    const dry = await asFrom(A, 'dave', 'POST', '/v1/requests?dry_run=true', json({ service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'limits' }));
    assert.equal(dry.status, 200, dry.body);
  });

  test('new requests: 5 per address, whoever asks', async () => {
    const A = '127.0.0.10';
    const create = (user) => asFrom(A, user, 'POST', '/v1/requests', json({ service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'limits' }));
    for (const user of ['carol', 'carol', 'carol', 'grace', 'grace']) {
      const r = await create(user);
      assert.notEqual(r.status, 429, r.body); // created, or denied by policy: both count
    }
    assert429(await create('grace'), /too many new access requests from this address/);
    // frank has made no request at all, but asks from the same address
    assert429(await create('frank'), /from this address/);
  });

  test('sign-ins: 5 per address (each calls the provider and holds a worker), then a 429 page; no login is stored', async () => {
    const A = '127.0.0.12';
    for (let i = 0; i < 5; i++) {
      const r = await from(A, 'GET', '/auth/login');
      assert.equal(r.status, 302, r.body);
    }
    const flows = () => Number(sql(join(jg.dir, 'jitgate.db'), 'SELECT count(*) FROM auth_flows;').trim());
    const before = flows();
    const r = await from(A, 'GET', '/auth/login');
    assert.equal(r.status, 429, r.body);
    assert.match(r.headers['content-type'], /^text\/html/);
    assert.match(r.body, /Too many sign-ins/);
    assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
    assert.equal(flows(), before, 'a refused sign-in stored a login flow');
    // another address is not affected
    assert.equal((await from('127.0.0.13', 'GET', '/auth/login')).status, 302);
  });

  test('/metrics counts failures and refusals, and the tables stay within their capacity', async () => {
    const m = await jg.request('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.ok(metric(m.body, 'jitgate_auth_failures_total') >= 25);
    assert.ok(metric(m.body, 'jitgate_rate_limited_total{limit="auth_failures"}') >= 6);
    assert.ok(metric(m.body, 'jitgate_rate_limited_total{limit="requests"}') >= 3);
    assert.ok(metric(m.body, 'jitgate_rate_limited_total{limit="sign_ins"}') >= 1);
    assert.ok(metric(m.body, 'jitgate_rate_limit_entries{table="auth_failures_address"}') >= 5);
  });
});

describe('slow clients, paging and enumeration', () => {
  let jg;
  before(async () => {
    jg = await startJitgate({
      extraConfig: ['limits:', '  request_timeout: 3', '  connection_timeout: 60', '  max_connections_per_address: 4',
        '  auth_failures_burst: 1000', '  requests_burst: 1000', '  requests_address_burst: 1000', ''].join('\n'),
    });
  });
  after(() => cleanup(jg));

  // A TLS client that sends a request head one header line every 300 ms and never ends it.
  function slowloris(localAddress) {
    return new Promise((ok, fail) => {
      const started = Date.now();
      const s = tls.connect({ host: '127.0.0.1', port: jg.port, ca: jg.ca, localAddress }, () => {
        s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        let n = 0;
        const timer = setInterval(() => { if (!s.destroyed) s.write(`X-Slow-${n++}: a\r\n`); }, 300);
        s.on('close', () => { clearInterval(timer); ok({ closedAfter: Date.now() - started, lines: n }); });
      });
      s.on('error', () => {});
      setTimeout(() => fail(new Error('the slow client was never cut off')), 20000).unref();
    });
  }

  test('a client that never finishes its headers is cut off after request_timeout; others are served meanwhile', async () => {
    const slow = slowloris('127.0.0.20');
    await sleep(1000);
    const t0 = Date.now();
    const r = await jg.request('GET', '/healthz', { localAddress: '127.0.0.20' });
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 < 1000, 'another client waited on the slow one');
    const { closedAfter, lines } = await slow;
    assert.ok(closedAfter >= 2500 && closedAfter < 6000, `cut off after ${closedAfter} ms`);
    assert.ok(lines >= 5, 'the slow client was never idle, so the idle timeout did not cut it');
    const m = await jg.request('GET', '/metrics');
    assert.ok(metric(m.body, 'jitgate_slow_connections_cut_total') >= 1);
  });

  test('one address holds at most 4 connections; other addresses are still served', async () => {
    const held = [];
    for (let i = 0; i < 4; i++) {
      const s = net.connect({ host: '127.0.0.1', port: jg.port, localAddress: '127.0.0.21' });
      s.on('error', () => {});
      held.push(s);
      await new Promise((ok) => s.on('connect', ok));
    }
    await sleep(200);
    await assert.rejects(jg.request('GET', '/healthz', { localAddress: '127.0.0.21' }), 'a fifth connection was accepted');
    const other = await jg.request('GET', '/healthz', { localAddress: '127.0.0.22' });
    assert.equal(other.status, 200);
    // the silent connections are cut at the deadline; the address may connect again
    await Promise.all(held.map((s) => new Promise((ok) => (s.destroyed ? ok() : s.on('close', ok)))));
    const again = await jg.request('GET', '/healthz', { localAddress: '127.0.0.21' });
    assert.equal(again.status, 200);
  });

  test('GET /v1/requests pages with limit and an opaque cursor; bad limits and cursors are 400', async () => {
    const made = [];
    for (let i = 0; i < 7; i++) {
      const r = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['read-logs'], duration: '1h', justification: `paging ${i}` }));
      assert.equal(r.status, 201, r.body);
      made.push(r.json.id);
    }
    const seen = [];
    let path = '/v1/requests?mine=true&limit=3';
    const sizes = [];
    for (let pages = 0; pages < 10; pages++) {
      const r = await jg.as('alice', 'GET', path);
      assert.equal(r.status, 200, r.body);
      sizes.push(r.json.requests.length);
      seen.push(...r.json.requests.map((q) => q.id));
      if (!r.json.next_cursor) break;
      assert.match(r.json.next_cursor, /^[A-Za-z0-9_-]+$/);
      assert.doesNotMatch(Buffer.from(r.json.next_cursor, 'base64url').toString('latin1'), /req_/);
      path = `/v1/requests?mine=true&limit=3&cursor=${r.json.next_cursor}`;
    }
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.deepEqual([...seen].sort(), [...made].sort(), 'pages skipped or repeated a request');
    const all = await jg.as('alice', 'GET', '/v1/requests?mine=true');
    assert.deepEqual(all.json.requests.map((q) => q.id), seen, 'pages are not in list order');
    assert.equal(all.json.next_cursor, undefined);

    for (const q of ['limit=201', 'limit=0', 'limit=-1', 'limit=ten', 'cursor=', 'cursor=garbage', `cursor=${'A'.repeat(300)}`]) {
      const r = await jg.as('alice', 'GET', `/v1/requests?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
    }
    const first = await jg.as('alice', 'GET', '/v1/requests?mine=true&limit=1');
    const c = first.json.next_cursor;
    const tampered = c.slice(0, 20) + (c[20] === 'A' ? 'B' : 'A') + c.slice(21);
    const r = await jg.as('alice', 'GET', `/v1/requests?mine=true&cursor=${tampered}`);
    assert.equal(r.status, 400, r.body);
    assert.match(r.json.error.message, /'cursor' is not valid/);
  });

  test('another user\'s request answers exactly like one that does not exist', async () => {
    const c = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
    assert.equal(c.status, 201, c.body);
    const real = c.json.id;
    const fake = `req_${'x'.repeat(real.length - 4)}`;
    const calls = [
      ['GET', (id) => `/v1/requests/${id}`],
      ['POST', (id) => `/v1/requests/${id}/approve`, {}],
      ['POST', (id) => `/v1/requests/${id}/deny`, { reason: 'no' }],
      ['POST', (id) => `/v1/requests/${id}/cancel`, {}],
      ['POST', (id) => `/v1/requests/${id}/review`, { note: 'seen' }],
      ['POST', (id) => `/v1/grants/${id}/revoke`, { reason: 'stop' }],
      ['POST', (id) => `/v1/grants/${id}/token`, {}],
    ];
    // dave (payments-eng, contractors) neither made nor may approve alice's deploy-probe request
    for (const [method, path, body] of calls) {
      const opts = body ? json(body) : {};
      const theirs = await jg.as('dave', method, path(real), opts);
      const none = await jg.as('dave', method, path(fake), opts);
      assert.equal(theirs.status, 404, `${method} ${path('ID')}: ${theirs.body}`);
      assert.equal(theirs.status, none.status, `${method} ${path('ID')}`);
      assert.deepEqual(theirs.json, none.json, `${method} ${path('ID')}`);
      assert.equal(theirs.headers['www-authenticate'], none.headers['www-authenticate']);
    }
    // and it is absent from dave's list
    const list = await jg.as('dave', 'GET', '/v1/requests');
    assert.ok(!list.json.requests.some((q) => q.id === real));
    // while bob, an approver, sees it
    assert.equal((await jg.as('bob', 'GET', `/v1/requests/${real}`)).status, 200);
  });
});
