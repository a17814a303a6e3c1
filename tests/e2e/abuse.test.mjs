// Abuse resistance end to end (issue 9, point 3; issue 15, points 4 and 5): rate limits on failed
// authentications (charged to the client address when a credential does not verify, to the
// credential itself - a capability token's jti, a session - when an authentic one is refused for
// its own state) and on new requests (429 + Retry-After), no lockout of anyone by failures other
// requests caused, the web forms held to the same limits as their API twins, the per-address
// connection cap and the slow-client deadline, paging with opaque cursors, and answers that do
// not tell another user's request from one that does not exist.
//
// Every loopback address is local on Linux, so a request made from 127.0.0.N (localAddress) is
// a different client address to jitgate: each check uses its own address and its own buckets.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { startJitgate, cleanup, runJitgate } from './lib/harness.mjs';
import { accessToken, driveLogin } from './lib/idp.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const SESSION = '__Host-jitgate_session';
const LOGIN = '__Host-jitgate_login';
const REFUSALS_PER_TOKEN = 10; // JG_THROTTLE_REFUSALS_PER_TOKEN
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

function assert429(r, pattern) {
  assert.equal(r.status, 429, r.body);
  assert.equal(r.json?.error?.code, 'too_many_requests', r.body);
  assert.match(r.json.error.message, pattern);
  assert.equal(r.headers['www-authenticate'], undefined, 'a 429 carries no credential challenge');
  const after = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(after) && after >= 1, `Retry-After: ${r.headers['retry-after']}`);
  return after;
}

function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} missing from /metrics`);
  return Number(line.split(' ')[1]);
}

// A browser session for user, signed in through the provider from address addr: the Cookie header
// value and the session's CSRF token.
async function sessionFor(jg, user, addr) {
  const login = await jg.request('GET', '/auth/login', { localAddress: addr });
  assert.equal(login.status, 302, login.body);
  const state = new URL(login.headers.location).searchParams.get('state');
  const callback = new URL(await driveLogin(login.headers.location, user));
  const cb = await jg.request('GET', callback.pathname + callback.search,
    { localAddress: addr, headers: { cookie: `${LOGIN}=${state}` } });
  assert.equal(cb.status, 303, cb.body);
  const cookie = cb.headers['set-cookie'].find((l) => l.startsWith(`${SESSION}=`)).split(';')[0];
  const me = await jg.request('GET', '/v1/me', { headers: { cookie } });
  assert.equal(me.status, 200, me.body);
  return { cookie, csrf: me.json.csrf_token };
}

// The audit log as an auditor exports it: its entries.
async function auditEntries(jg) {
  const r = await jg.auditor('GET', '/v1/audit/export');
  assert.equal(r.status, 200, r.body);
  return r.body.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type);
}

describe('rate limits (small limits: 5 failures at 6/min, 3 requests per identity, 5 per address, 5 sign-ins per address)', () => {
  let jg;
  const from = (addr, method, path, opts = {}) => jg.request(method, path, { ...opts, localAddress: addr });
  const asFrom = async (addr, user, method, path, opts = {}) => from(addr, method, path,
    { ...opts, headers: { authorization: `Bearer ${await jg.tokenFor(user)}`, ...(opts.headers ?? {}) } });

  before(async () => {
    jg = await startJitgate({
      minRefresh: 1,
      extraConfig: ['limits:', '  auth_failures_per_minute: 6', '  auth_failures_burst: 5',
        '  requests_per_minute: 1', '  requests_burst: 3', '  requests_per_address_per_minute: 1',
        '  requests_address_burst: 5', ''].join('\n'),
    });
  });
  after(() => cleanup(jg));

  // Replaces "bad bearer tokens: 401 five times, then 429 for that address only, even with a good
  // token": since issue 15 the address bucket only answers the requests that fail.
  test('garbage tokens from one address: 401 five times, then 429 for garbage only; every valid credential from it still works', async () => {
    const A = '127.0.0.2';
    for (let i = 0; i < 5; i++) {
      const r = await from(A, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(r.status, 401, r.body);
    }
    for (let i = 0; i < 16; i++) {
      const after = assert429(await from(A, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } }),
        /too many failed authentications from this address; retry in \d+ seconds/);
      assert.ok(after <= 10, `one failure refills in 10 s, Retry-After was ${after}`);
    }
    // a single sign-on token, from the same address
    const me = await asFrom(A, 'alice', 'GET', '/v1/me');
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json.sub, 'alice');
    // a browser session (signed in elsewhere), with a change that needs its CSRF token
    const s = await sessionFor(jg, 'bob', '127.0.0.40');
    const viaSession = await from(A, 'POST', '/v1/requests?dry_run=true', {
      body: JSON.stringify({ service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'x' }),
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' },
    });
    assert.equal(viaSession.status, 200, viaSession.body);
    // a capability token of a live grant
    const c = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
    assert.equal(c.status, 201, c.body);
    assert.equal((await jg.as('bob', 'POST', `/v1/requests/${c.json.id}/approve`, json({}))).status, 200);
    const t = await jg.as('alice', 'POST', `/v1/grants/${c.json.id}/token`, json({}));
    assert.equal(t.status, 201, t.body);
    const guarded = await from(A, 'GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${t.json.token}` } });
    assert.equal(guarded.status, 200, guarded.body);
    // an ingest key
    const cli = (...args) => runJitgate([...args, '-c', jg.configPath]);
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng').code, 0);
    const key = cli('ingest-key', 'create', SVC);
    assert.equal(key.code, 0, key.stderr);
    const agent = await from(A, 'GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer ${key.stdout.trim()}` } });
    assert.equal(agent.status, 200, agent.body);
    // and garbage is still refused with 429
    assert429(await from(A, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } }), /from this address/);
    assert429(await from(A, 'GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer jgk_${'A'.repeat(43)}` } }), /from this address/);
    // another address is not affected
    const other = await from('127.0.0.1', 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } });
    assert.equal(other.status, 401, other.body);
  });

  // Replaces "an address over its failure budget makes jitgate fetch nothing: a token naming an
  // unknown key is 429 without a JWKS fetch": after the provider rotated its key, every valid token
  // from an address someone else had spent was refused (attack review of issue 15, F8), while any
  // fresh address could spend the provider-wide fetch interval anyway.
  test('an address over its failure budget still gets the provider-wide JWKS fetch: after a key rotation a valid token from it works; garbage naming unknown keys stays 429', async () => {
    const A = '127.0.0.2';
    const unknownKid = () => `${b64({ alg: 'RS256', typ: 'at+jwt', kid: `unknown-${randomBytes(6).toString('hex')}` })}.${b64({ sub: 'alice' })}.${randomBytes(256).toString('base64url')}`;
    let r;
    for (let i = 0; i < 8 && r?.status !== 429; i++) r = await from(A, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } });
    assert429(r, /from this address/);
    const rot = await jg.idp.rotateKey();
    await sleep(1100); // jwks_min_refresh_seconds is 1 here
    const fresh = (await accessToken(jg.idp, 'bob', { audience: jg.url })).access_token;
    assert.equal(JSON.parse(Buffer.from(fresh.split('.')[0], 'base64url')).kid, rot.kid);
    let before = jg.idp.jwksRequests();
    const me = await from(A, 'GET', '/v1/me', { headers: { authorization: `Bearer ${fresh}` } });
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json.sub, 'bob');
    assert.equal(jg.idp.jwksRequests() - before, 1, 'the new key was not fetched');
    // garbage naming unknown keys from it: still 429, and no more fetches than the provider-wide
    // interval (1 s here) allows, as from any address
    await sleep(1100);
    before = jg.idp.jwksRequests();
    const t0 = Date.now();
    for (let i = 0; i < 10; i++)
      assert429(await from(A, 'GET', '/v1/me', { headers: { authorization: `Bearer ${unknownKid()}` } }), /from this address/);
    const intervals = 1 + Math.floor((Date.now() - t0) / 1000);
    await sleep(200);
    const fetched = jg.idp.jwksRequests() - before;
    assert.ok(fetched >= 1 && fetched <= intervals, `${fetched} JWKS fetches for 10 unknown kids in ${intervals} interval(s)`);
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

  // Replaces "failures of a proven identity (a revoked grant's token) limit that identity from any
  // address": a leaked token replayed after revocation locked its owner out of jitgate entirely.
  test('a revoked token replayed 50 times from another address: its owner is not locked out; the replays are charged to the token and capped in the log', async () => {
    const c = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
    assert.equal(c.status, 201, c.body);
    assert.equal((await jg.as('bob', 'POST', `/v1/requests/${c.json.id}/approve`, json({}))).status, 200);
    const t = await jg.as('alice', 'POST', `/v1/grants/${c.json.id}/token`, json({}));
    assert.equal(t.status, 201, t.body);
    const jti = JSON.parse(Buffer.from(t.json.token.split('.')[1], 'base64url')).jti;
    const ok = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${t.json.token}` } });
    assert.equal(ok.status, 200, ok.body);
    assert.equal((await jg.as('alice', 'POST', `/v1/grants/${c.json.id}/revoke`, json({ reason: 'done' }))).status, 200);
    const R = '127.0.0.7';
    const statuses = [];
    for (let i = 0; i < 50; i++) {
      const r = await from(R, 'GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${t.json.token}` } });
      statuses.push(r.status);
      if (r.status === 429) assert429(r, /too many failed uses of this credential/);
      else assert.equal(r.status, 401, r.body);
    }
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.ok(statuses.filter((s) => s === 429).length >= 40, statuses.join(','));
    // alice, from another address and from the replaying one, with her single sign-on token
    for (const addr of ['127.0.0.8', R]) {
      const me = await asFrom(addr, 'alice', 'GET', '/v1/me');
      assert.equal(me.status, 200, `${addr}: ${me.body}`);
    }
    // and with a new grant's token, from the replaying address
    const c2 = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
    assert.equal(c2.status, 201, c2.body);
    assert.equal((await jg.as('bob', 'POST', `/v1/requests/${c2.json.id}/approve`, json({}))).status, 200);
    const t2 = await jg.as('alice', 'POST', `/v1/grants/${c2.json.id}/token`, json({}));
    const again = await from(R, 'GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${t2.json.token}` } });
    assert.equal(again.status, 200, again.body);
    // the replays did not charge the address either: garbage from it is a plain 401
    assert.equal((await from(R, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } })).status, 401);
    // the audit log holds the first refusals of that token, no more
    const refused = (await auditEntries(jg)).filter((e) => e.type === 'guard.refused' && e.data.jti === jti);
    assert.equal(refused.length, REFUSALS_PER_TOKEN, `guard.refused entries for the replayed token: ${refused.length}`);
    const m = await jg.request('GET', '/metrics');
    assert.ok(metric(m.body, 'jitgate_guard_refusals_unrecorded_total') >= 50 - REFUSALS_PER_TOKEN);
  });

  test('a session without its CSRF token is charged to that session: 403 five times, then 429; its owner and the session with its token still work', async () => {
    const s = await sessionFor(jg, 'carol', '127.0.0.42');
    const A = '127.0.0.43';
    const dry = (headers) => from(A, 'POST', '/v1/requests?dry_run=true', {
      body: JSON.stringify({ service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'csrf' }),
      headers: { cookie: s.cookie, 'content-type': 'application/json', ...headers },
    });
    for (let i = 0; i < 5; i++) {
      const r = await dry(i % 2 ? { 'x-csrf-token': 'A'.repeat(43) } : {});
      assert.equal(r.status, 403, r.body);
      assert.equal(r.json.error.code, 'csrf');
    }
    assert429(await dry({}), /too many failed uses of this credential/);
    // the session itself, with its token
    const good = await dry({ 'x-csrf-token': s.csrf });
    assert.equal(good.status, 200, good.body);
    // carol's single sign-on token, from the same address and from another
    for (const addr of [A, '127.0.0.44']) {
      const me = await asFrom(addr, 'carol', 'GET', '/v1/me');
      assert.equal(me.status, 200, `${addr}: ${me.body}`);
    }
    // the address was not charged
    assert.equal((await from(A, 'GET', '/v1/me', { headers: { authorization: 'Bearer not-a-token' } })).status, 401);
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
    const flows = () => jg.db.count('auth_flows');
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
    assert.ok(metric(m.body, 'jitgate_rate_limit_entries{table="auth_failures_credential"}') >= 2);
    assert.ok(metric(m.body, 'jitgate_rate_limit_entries{table="guard_refusals_token"}') >= 1);
    assert.ok(!m.body.includes('auth_failures_identity'), 'the identity table is gone');
  });
});

describe('the web forms and their API twins share every limit (5 failures per session or address, 3 requests per identity)', () => {
  let jg;
  const FORM = 'application/x-www-form-urlencoded';
  const post = (s, path, fields, addr = '127.0.0.50') => jg.request('POST', path, {
    localAddress: addr, body: new URLSearchParams(fields).toString(), headers: { cookie: s.cookie, 'content-type': FORM },
  });
  const requestForm = (s, action, csrf = s.csrf) => post(s, '/request', {
    csrf, action, service: SVC, 'cap.read-logs': '1', duration: '1h', justification: 'web limits',
  });
  const body = { service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'api limits' };

  before(async () => {
    jg = await startJitgate({
      extraConfig: ['limits:', '  auth_failures_per_minute: 1', '  auth_failures_burst: 5',
        '  requests_per_minute: 1', '  requests_burst: 3', '  requests_per_address_per_minute: 1',
        '  requests_address_burst: 100', ''].join('\n'),
    });
  });
  after(() => cleanup(jg));

  test('the request form draws on the API\'s bucket: past it a 429 page with Retry-After, nothing stored; previews stay free', async () => {
    const s = await sessionFor(jg, 'alice', '127.0.0.51');
    for (let i = 0; i < 2; i++) {
      const r = await jg.request('POST', '/v1/requests', { ...json(body), headers: { ...json(body).headers, cookie: s.cookie, 'x-csrf-token': s.csrf } });
      assert.equal(r.status, 201, r.body);
    }
    const third = await requestForm(s, 'submit');
    assert.equal(third.status, 303, third.body);
    assert.equal(third.headers.location, '/?ok=created');
    for (let i = 0; i < 3; i++) {
      const r = await requestForm(s, 'submit');
      assert.equal(r.status, 429, r.body);
      assert.match(r.headers['content-type'], /^text\/html/);
      assert.match(r.body, /too many new access requests for this identity; retry in \d+ seconds/);
      assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
    }
    assert429(await jg.as('alice', 'POST', '/v1/requests', json(body)), /too many new access requests for this identity/);
    const mine = await jg.as('alice', 'GET', '/v1/requests?mine=true');
    assert.equal(mine.json.requests.length, 3, 'a request past the limit was stored');
    // what stores nothing costs nothing, on either side
    const preview = await requestForm(s, 'preview');
    assert.equal(preview.status, 200, preview.body);
    assert.equal((await jg.as('alice', 'POST', '/v1/requests?dry_run=true', json(body))).status, 200);
  });

  test('every form, and its API twin, without the session\'s CSRF token: 403 until the session\'s budget is spent, then 429; with the token the session still works', async () => {
    const s = await sessionFor(jg, 'bob', '127.0.0.52');
    const id = 'req_AAAAAAAAAAAAAAAAAAAAAA';
    const forms = [
      ['/request', { action: 'submit', service: SVC, 'cap.read-logs': '1', duration: '1h', justification: 'x' }],
      [`/requests/${id}/approve`, {}],
      [`/requests/${id}/deny`, { reason: 'no' }],
      [`/requests/${id}/review`, { note: 'seen' }],
      [`/requests/${id}/cancel`, {}],
      [`/grants/${id}/revoke`, { reason: 'stop' }],
      [`/grants/${id}/token`, {}],
      ['/audit/export', {}],
      ['/audit/checkpoint', {}],
      ['/auth/logout', {}],
    ];
    const twins = [
      ['/v1/requests', body], [`/v1/requests/${id}/approve`, {}], [`/v1/requests/${id}/deny`, { reason: 'no' }],
      [`/v1/requests/${id}/review`, { note: 'seen' }], [`/v1/requests/${id}/cancel`, {}],
      [`/v1/grants/${id}/revoke`, { reason: 'stop' }], [`/v1/grants/${id}/token`, {}], ['/v1/audit/checkpoint', {}],
    ];
    let refused = 0;
    for (const [path, fields] of forms) {
      for (;;) {
        const r = await post(s, path, { ...fields, csrf: 'A'.repeat(43) });
        if (r.status === 429) {
          assert.match(r.body, /too many failed uses of this credential/, `${path}: ${r.body}`);
          assert.ok(Number(r.headers['retry-after']) >= 1, path);
          break;
        }
        assert.equal(r.status, 403, `${path}: ${r.body}`);
        refused++;
        assert.ok(refused <= 5, `${path}: a sixth CSRF failure was answered 403`);
      }
    }
    assert.equal(refused, 5);
    for (const [path, b] of twins) {
      const r = await jg.request('POST', path, { localAddress: '127.0.0.50', ...json(b), headers: { ...json(b).headers, cookie: s.cookie } });
      assert429(r, /too many failed uses of this credential/);
    }
    // not locked out: the session with its token, and bob's other credentials
    const page = await jg.request('GET', '/approvals', { headers: { cookie: s.cookie } });
    assert.equal(page.status, 200, page.body);
    const preview = await post(s, '/request', { csrf: s.csrf, action: 'preview', service: SVC, 'cap.read-logs': '1', duration: '1h', justification: 'x' });
    assert.equal(preview.status, 200, preview.body);
    assert.equal((await jg.as('bob', 'GET', '/v1/me')).status, 200);
    const out = await post(s, '/auth/logout', { csrf: s.csrf });
    assert.equal(out.status, 303, out.body);
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

  // Finding A of issue 16: the cursor was handed to liboauth2's base64url decoder unchecked, before
  // authentication, and that decoder assert()s (SIGABRT) on a misplaced '=': one anonymous request
  // stopped the server.  Each of these must be a 400 JSON answer, and the server must go on.
  test('malformed base64url cursors, without credentials, are 400 and the server keeps answering', async () => {
    for (const c of ['a=', 'a==', '=', 'ab=c', 'abc=', 'a', 'ab%3D', '%3D%3D', 'AAAA=AAAA', 'A+/A', 'A.B']) {
      const r = await jg.request('GET', `/v1/requests?cursor=${c}`, { localAddress: '127.0.0.31' })
        .catch(async (e) => {
          await new Promise((ok) => setTimeout(ok, 200));
          assert.fail(`cursor=${c}: ${e.message}; server ${JSON.stringify(jg.exited)}: ${jg.stderr.slice(-300)}`);
        });
      assert.equal(r.status, 400, `cursor=${c}: ${r.body}`);
      assert.equal(r.json?.error?.code, 'bad_request', `cursor=${c}: ${r.body}`);
      assert.equal(jg.exited, null, `cursor=${c} stopped the server: ${JSON.stringify(jg.exited)}`);
    }
    const h = await jg.request('GET', '/healthz');
    assert.equal(h.status, 200);
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
