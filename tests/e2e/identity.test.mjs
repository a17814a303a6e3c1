// Who is calling, against the real binary and the real development provider (oidc-provider): the
// browser login (authorization code + PKCE) end to end with its __Host- session cookie, a
// CSRF-guarded logout and the audit entries of both; `jitgate login` through the device flow;
// every kind of bad bearer token and bad callback refused with 401; ID tokens only a hostile
// provider would mint (wrong nonce, another client) refused; the old static auditor credential
// gone from the configuration; a flood of bad tokens costing the provider at most one JWKS fetch;
// a key rotation picked up without a restart; the provider down.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, createPublicKey, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';

import { startJitgate, cleanup, runJitgate, BIN } from './lib/harness.mjs';
import { driveLogin, accessToken, confirmDevice, CookieJar, decodeJwt } from './lib/idp.mjs';

const SESSION = '__Host-jitgate_session';
const LOGIN = '__Host-jitgate_login';
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

// ---------------------------------------------------------------- browser-side helpers

// A request to jitgate through a cookie jar (the provider's CookieJar, fed from node's https reply).
async function browse(jg, jar, method, path, opts = {}) {
  const url = new URL(path, jg.url);
  const headers = { ...(opts.headers ?? {}) };
  const cookie = jar.header(url.href);
  if (cookie) headers.cookie = cookie;
  const r = await jg.request(method, url.pathname + url.search, { ...opts, headers });
  const lines = r.headers['set-cookie'] ?? [];
  jar.store(url.href, { headers: { getSetCookie: () => lines } });
  return r;
}

// The Set-Cookie line for name: { value, attrs: {lowercased name: value|true} }, or null.
function setCookie(r, name) {
  const line = (r.headers['set-cookie'] ?? []).find((l) => l.startsWith(`${name}=`));
  if (!line) return null;
  const [pair, ...rest] = line.split(';').map((s) => s.trim());
  const attrs = {};
  for (const a of rest) {
    const eq = a.indexOf('=');
    attrs[(eq < 0 ? a : a.slice(0, eq)).toLowerCase()] = eq < 0 ? true : a.slice(eq + 1);
  }
  return { value: pair.slice(name.length + 1), attrs, line };
}

function assertNoSession(r) {
  const c = setCookie(r, SESSION);
  assert.ok(c === null || c.value === '', `a session cookie was set: ${c?.line}`);
}

function assertHtml(r, status, text) {
  assert.equal(r.status, status, r.body);
  assert.match(r.headers['content-type'], /^text\/html/);
  assert.match(r.body, /^<!doctype html>/i);
  if (text) assert.match(r.body, text);
}

// GET /auth/login in jar: the provider's authorization URL and the state jitgate chose.
async function startLogin(jg, jar, query = '') {
  const r = await browse(jg, jar, 'GET', `/auth/login${query}`);
  assert.equal(r.status, 302, r.body);
  const authz = new URL(r.headers.location);
  const state = authz.searchParams.get('state');
  assert.ok(state, 'the authorization URL has a state');
  assert.equal(setCookie(r, LOGIN)?.value, state, 'the login cookie carries the state');
  return { authz, state };
}

// Signs in as user at the provider: the redirect back to jitgate's /auth/callback (not followed).
async function loginAtProvider(jg, user, jar = new CookieJar()) {
  const { authz, state } = await startLogin(jg, jar);
  const callback = new URL(await driveLogin(authz.href, user));
  assert.equal(callback.origin + callback.pathname, `${jg.url}/auth/callback`);
  return { jar, callback, state };
}

const pathOf = (u) => u.pathname + u.search;

// ---------------------------------------------------------------- tokens

const bearer = (jg, token, path = '/v1/me', opts = {}) => jg.request('GET', path, {
  ...opts, headers: { authorization: `Bearer ${token}` },
});

// The provider's current private signing key (it keeps its private JWKS in idp.keyFile).
async function providerKey(idp) {
  const jwk = JSON.parse(readFileSync(idp.keyFile, 'utf8')).keys[0];
  return { kid: jwk.kid, jwk, key: await jose.importJWK(jwk, 'RS256') };
}

async function ownKey(kid = `own-${randomBytes(6).toString('hex')}`) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  return { kid, key: privateKey };
}

// Access-token claims as the provider writes them, for jitgate's audience.
function claims(jg, over = {}) {
  const t = now();
  return {
    iss: jg.idp.url, aud: jg.url, sub: 'alice', groups: ['payments-eng'], email: 'alice@example.com',
    client_id: 'jitgate-cli', jti: randomBytes(8).toString('hex'), iat: t, exp: t + 300, ...over,
  };
}

function sign(k, payload, header = {}) {
  return new jose.SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: k.kid, ...header }).sign(k.key);
}

// 401 with a Bearer challenge and the JSON error body.
function assertUnauthorized(r, { error = 'invalid_token', why } = {}) {
  assert.equal(r.status, 401, r.body);
  const www = r.headers['www-authenticate'];
  assert.ok(www, 'no WWW-Authenticate header');
  assert.match(www, /^Bearer realm="jitgate"/);
  if (error) assert.match(www, new RegExp(`error="${error}"`));
  else assert.doesNotMatch(www, /error=/);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.equal(r.json?.error?.code, 'unauthorized', r.body);
  assert.equal(typeof r.json.error.message, 'string');
  if (why) assert.match(r.json.error.message, why);
}

function exportEntries(text) {
  return text.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type);
}

// ---------------------------------------------------------------- a hostile provider

// Serves discovery, a JWKS with its own key, an authorization endpoint that redirects straight
// back with a code, and a token endpoint whose ID token is shaped by h.mode.
async function startHostileProvider() {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const kid = 'hostile-1';
  const pub = { ...(await jose.exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const codes = new Map();
  const h = { mode: 'good', tokenRequests: 0 };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, h.url);
    const json = (status, obj) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(obj));
    };
    if (u.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: h.url, authorization_endpoint: `${h.url}/authorize`, token_endpoint: `${h.url}/token`,
        jwks_uri: `${h.url}/jwks`, response_types_supported: ['code'], subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'], ...h.discoveryOverride,
      });
    }
    if (u.pathname === '/jwks') return json(200, { keys: [pub] });
    if (u.pathname === '/authorize') {
      const code = randomBytes(16).toString('base64url');
      codes.set(code, { nonce: u.searchParams.get('nonce'), client: u.searchParams.get('client_id'), mode: h.mode });
      const back = new URL(u.searchParams.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', u.searchParams.get('state'));
      back.searchParams.set('iss', h.url);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (u.pathname === '/token' && req.method === 'POST') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        h.tokenRequests++;
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const c = codes.get(form.get('code'));
        codes.delete(form.get('code'));
        if (!c) return json(400, { error: 'invalid_grant' });
        const t = now();
        const p = {
          iss: h.url, sub: 'hostile-user', aud: c.client, iat: t, exp: t + 300, nonce: c.nonce,
          groups: ['jitgate-admins'], email: 'hostile@example.com',
        };
        if (c.mode === 'wrong-nonce') p.nonce = randomBytes(32).toString('base64url');
        if (c.mode === 'no-nonce') delete p.nonce;
        if (c.mode === 'other-client') p.aud = 'other-client';
        if (c.mode === 'azp-other') { p.aud = [c.client, 'other-client']; p.azp = 'other-client'; }
        if (c.mode === 'several-aud-no-azp') p.aud = [c.client, 'other-client'];
        let idToken;
        if (c.mode === 'duplicate-sub') {
          // the signed bytes name two subjects: which one a parser keeps must not matter
          const text = `{"sub":"jitgate-admin-by-accident",${JSON.stringify(p).slice(1)}`;
          idToken = await new jose.CompactSign(new TextEncoder().encode(text))
            .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(privateKey);
        } else {
          idToken = await new jose.SignJWT(p).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(privateKey);
        }
        return json(200, { access_token: 'opaque', token_type: 'Bearer', expires_in: 300, id_token: idToken });
      });
      return undefined;
    }
    res.writeHead(404);
    return res.end();
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  h.url = `http://127.0.0.1:${server.address().port}`;
  h.stop = () => new Promise((ok) => { server.closeAllConnections(); server.close(() => ok()); });
  return h;
}

// ================================================================ the real provider

describe('identity against the development provider', () => {
  let jg;
  before(async () => { jg = await startJitgate(); });
  after(() => cleanup(jg));

  test('browser login: code flow, __Host- session cookie, /v1/me, CSRF-guarded logout, audited', async () => {
    const jar = new CookieJar();
    const login = await browse(jg, jar, 'GET', '/auth/login?return_to=/v1/me');
    assert.equal(login.status, 302, login.body);
    const authz = new URL(login.headers.location);
    assert.equal(authz.origin, jg.idp.url);
    assert.equal(authz.pathname, '/auth');
    const q = Object.fromEntries(authz.searchParams);
    assert.equal(q.response_type, 'code');
    assert.equal(q.client_id, 'jitgate');
    assert.equal(q.redirect_uri, `${jg.url}/auth/callback`);
    assert.equal(q.code_challenge_method, 'S256');
    assert.match(q.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.state, /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.nonce, /^[A-Za-z0-9_-]{43}$/);
    assert.match(q.scope, /\bopenid\b/);
    const lc = setCookie(login, LOGIN);
    assert.equal(lc.value, q.state);
    for (const a of ['secure', 'httponly']) assert.equal(lc.attrs[a], true, a);
    assert.equal(lc.attrs.samesite, 'Lax');
    assert.equal(lc.attrs.path, '/');

    const callback = new URL(await driveLogin(authz.href, 'alice'));
    assert.equal(`${callback.origin}${callback.pathname}`, `${jg.url}/auth/callback`);
    assert.equal(callback.searchParams.get('state'), q.state);
    assert.equal(callback.searchParams.get('iss'), jg.idp.url);
    assert.ok(callback.searchParams.get('code'));

    const cb = await browse(jg, jar, 'GET', pathOf(callback));
    assert.equal(cb.status, 303, cb.body);
    assert.equal(cb.headers.location, '/v1/me', 'return_to is honoured');
    const sc = setCookie(cb, SESSION);
    assert.ok(sc, 'no session cookie');
    assert.match(sc.value, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(sc.attrs.secure, true);
    assert.equal(sc.attrs.httponly, true);
    assert.equal(sc.attrs.samesite, 'Lax');
    assert.equal(sc.attrs.path, '/');
    assert.ok(Number(sc.attrs['max-age']) > 0, sc.line);
    assert.equal(sc.attrs.domain, undefined, '__Host- cookies carry no Domain');
    assert.equal(setCookie(cb, LOGIN)?.attrs['max-age'], '0', 'the login cookie is cleared');

    const me = await browse(jg, jar, 'GET', '/v1/me');
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json.sub, 'alice');
    assert.deepEqual(me.json.groups, ['payments-eng']);
    assert.equal(me.json.email, 'alice@example.com');
    assert.equal(me.json.authenticated_via, 'session');
    assert.match(me.json.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(me.json.expires_at > now());
    const csrf = me.json.csrf_token;

    // the landing page knows who is signed in and offers a CSRF-bound sign-out form
    const home = await browse(jg, jar, 'GET', '/');
    assert.equal(home.status, 200);
    assert.match(home.headers['content-type'], /^text\/html/);
    assert.match(home.body, /Signed in as Alice Engineer \(alice\); groups: payments-eng\./);
    assert.ok(home.body.includes(`name="csrf" value="${csrf}"`));

    // no CSRF token: 403, and the session lives on
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const noCsrf = await browse(jg, jar, 'POST', '/auth/logout', { headers: form, body: '' });
    assert.equal(noCsrf.status, 403, noCsrf.body);
    assert.equal(noCsrf.json.error.code, 'csrf');
    const wrongCsrf = await browse(jg, jar, 'POST', '/auth/logout', { headers: form, body: `csrf=${'A'.repeat(43)}` });
    assert.equal(wrongCsrf.status, 403, wrongCsrf.body);
    assert.equal((await browse(jg, jar, 'GET', '/v1/me')).status, 200, 'the session survived the refused logouts');

    const out = await browse(jg, jar, 'POST', '/auth/logout', { headers: form, body: `csrf=${encodeURIComponent(csrf)}` });
    assert.equal(out.status, 303, out.body);
    const cleared = setCookie(out, SESSION);
    assert.equal(cleared.value, '');
    assert.equal(cleared.attrs['max-age'], '0');
    const old = await jg.request('GET', '/v1/me', { headers: { cookie: `${SESSION}=${sc.value}` } });
    assertUnauthorized(old, { error: null, why: /session has ended/ });

    const entries = exportEntries((await jg.auditor('GET', '/v1/audit/export')).body);
    const loginEntry = entries.find((e) => e.type === 'auth.login');
    assert.ok(loginEntry, 'no auth.login entry');
    assert.equal(loginEntry.actor, 'user:alice');
    assert.equal(loginEntry.data.via, 'browser');
    const logoutEntry = entries.find((e) => e.type === 'auth.logout');
    assert.ok(logoutEntry, 'no auth.logout entry');
    assert.equal(logoutEntry.actor, 'user:alice');
    assert.ok(logoutEntry.seq > loginEntry.seq);
    assert.equal(entries.filter((e) => e.type === 'auth.logout').length, 1, 'refused logouts were audited');
  });

  test('an auditor exporting from a browser session must send the CSRF token (the export writes)', async () => {
    const { jar, callback } = await loginAtProvider(jg, 'erin');
    const cb = await browse(jg, jar, 'GET', pathOf(callback));
    assert.equal(cb.status, 303, cb.body);
    const csrf = (await browse(jg, jar, 'GET', '/v1/me')).json.csrf_token;
    const refused = await browse(jg, jar, 'GET', '/v1/audit/export');
    assert.equal(refused.status, 403, refused.body);
    assert.equal(refused.json.error.code, 'csrf');
    const ok = await browse(jg, jar, 'GET', '/v1/audit/export', { headers: { 'x-csrf-token': csrf } });
    assert.equal(ok.status, 200, ok.body);
    // reading without side effects needs no token
    assert.equal((await browse(jg, jar, 'GET', '/v1/audit/checkpoint')).status, 200);
  });

  test('device flow: `jitgate login` writes a 0600 token that /v1/me accepts as bob', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jg-login-'));
    const file = join(dir, 'token');
    const proc = spawn(BIN, ['login', '--issuer', jg.idp.url, '--client-id', 'jitgate-cli', '--audience', jg.url, '-o', file],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const exited = new Promise((ok) => proc.on('exit', (code, signal) => ok({ code, signal })));
    try {
      const until = Date.now() + 10000;
      let code;
      while (!(code = stdout.match(/enter the code: (\S+)/)?.[1])) {
        assert.ok(Date.now() < until, `no user code printed: ${stdout} ${stderr}`);
        await sleep(20);
      }
      assert.match(stdout, new RegExp(`open ${jg.idp.url}/device`));
      await confirmDevice(jg.idp, code, 'bob');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30000);
      const end = await exited;
      clearTimeout(timer);
      assert.deepEqual(end, { code: 0, signal: null }, stderr);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const token = readFileSync(file, 'utf8').trim();
      assert.ok(!stdout.includes(token) && !stderr.includes(token), 'the token was printed');
      const me = await bearer(jg, token);
      assert.equal(me.status, 200, me.body);
      assert.equal(me.json.sub, 'bob');
      assert.deepEqual(me.json.groups, ['payments-leads']);
      assert.equal(me.json.authenticated_via, 'bearer');
      assert.equal(me.json.csrf_token, undefined, 'bearer callers get no CSRF token');
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // ---- bearer tokens that must be refused

  test('control: a token the test signs with the provider\'s key and correct claims is accepted', async () => {
    const r = await bearer(jg, await sign(await providerKey(jg.idp), claims(jg)));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.sub, 'alice');
  });

  test('no token: 401 with a plain Bearer challenge', async () => {
    assertUnauthorized(await jg.request('GET', '/v1/me'), { error: null, why: /sign in/ });
  });

  test('garbage: 401', async () => {
    assertUnauthorized(await bearer(jg, 'not-a-token-at-all'), { why: /not a JWT/ });
    assertUnauthorized(await bearer(jg, 'a.b.c'), { why: /not a JWT/ });
    const basic = await jg.request('GET', '/v1/me', { headers: { authorization: 'Basic YWxpY2U6eA==' } });
    assertUnauthorized(basic, { error: 'invalid_request' });
  });

  test('a token signed by another key (own RSA key, own kid): 401', async () => {
    const r = await bearer(jg, await sign(await ownKey(), claims(jg)));
    assertUnauthorized(r, { why: /key the provider does not publish/ });
  });

  test('a token signed by another key under the provider\'s kid: 401', async () => {
    const k = await ownKey((await providerKey(jg.idp)).kid);
    assertUnauthorized(await bearer(jg, await sign(k, claims(jg))), { why: /signature does not verify/ });
  });

  test('alg none (none, None, NONE): 401', async () => {
    const { kid } = await providerKey(jg.idp);
    for (const alg of ['none', 'None', 'NONE']) {
      const t = `${b64({ alg, typ: 'at+jwt', kid })}.${b64(claims(jg))}.`;
      assertUnauthorized(await bearer(jg, t), { why: /algorithm is not accepted/ });
      const withSig = `${b64({ alg, typ: 'at+jwt', kid })}.${b64(claims(jg))}.${randomBytes(32).toString('base64url')}`;
      assertUnauthorized(await bearer(jg, withSig), { why: /algorithm is not accepted/ });
    }
  });

  test('HS256 keyed with the provider\'s public key (PEM, n bytes, JWK text): 401', async () => {
    const { kid, jwk } = await providerKey(jg.idp);
    const pubJwk = { kty: jwk.kty, n: jwk.n, e: jwk.e };
    const pub = createPublicKey({ key: pubJwk, format: 'jwk' });
    const secrets = {
      spki: pub.export({ type: 'spki', format: 'pem' }),
      pkcs1: pub.export({ type: 'pkcs1', format: 'pem' }),
      n: Buffer.from(jwk.n, 'base64url'),
      jwk: JSON.stringify({ ...pubJwk, kid, alg: 'RS256', use: 'sig' }),
    };
    for (const [name, secret] of Object.entries(secrets)) {
      for (const alg of ['HS256', 'HS512']) {
        const input = `${b64({ alg, typ: 'at+jwt', kid })}.${b64(claims(jg))}`;
        const mac = createHmac(alg === 'HS256' ? 'sha256' : 'sha512', secret).update(input).digest('base64url');
        const r = await bearer(jg, `${input}.${mac}`);
        assert.equal(r.status, 401, `${alg} with ${name}: ${r.body}`);
        assertUnauthorized(r, { why: /algorithm is not accepted/ });
      }
    }
  });

  test('expired beyond the 30 s leeway: 401 (within it: accepted)', async () => {
    const k = await providerKey(jg.idp);
    const t = now();
    const r = await bearer(jg, await sign(k, claims(jg, { iat: t - 700, exp: t - 120 })));
    assertUnauthorized(r, { why: /the token has expired/ });
    assertUnauthorized(await bearer(jg, await sign(k, claims(jg, { iat: t - 700, exp: t - 35 }))), { why: /has expired/ });
    const noExp = claims(jg);
    delete noExp.exp;
    assertUnauthorized(await bearer(jg, await sign(k, noExp)), { why: /has expired/ });
    assertUnauthorized(await bearer(jg, await sign(k, claims(jg, { exp: t + 300.5 }))), { why: /has expired/ });
    // oidc.leeway_seconds (30 s by default) covers clock skew for exp too
    const skewed = await bearer(jg, await sign(k, claims(jg, { iat: t - 600, exp: t - 15 })));
    assert.equal(skewed.status, 200, skewed.body);
  });

  test('nbf in the future: 401', async () => {
    const r = await bearer(jg, await sign(await providerKey(jg.idp), claims(jg, { nbf: now() + 300 })));
    assertUnauthorized(r, { why: /not valid yet \(nbf\)/ });
  });

  test('iat in the future: 401', async () => {
    const t = now();
    const r = await bearer(jg, await sign(await providerKey(jg.idp), claims(jg, { iat: t + 300, exp: t + 600 })));
    assertUnauthorized(r, { why: /issued in the future/ });
  });

  test('wrong iss: 401', async () => {
    const k = await providerKey(jg.idp);
    for (const iss of [`${jg.idp.url}/`, 'http://127.0.0.1:1', jg.idp.url.replace('127.0.0.1', 'localhost')]) {
      assertUnauthorized(await bearer(jg, await sign(k, claims(jg, { iss }))), { why: /not issued by the configured provider/ });
    }
    const noIss = claims(jg);
    delete noIss.iss;
    assertUnauthorized(await bearer(jg, await sign(k, noIss)), { why: /not issued by/ });
  });

  test('wrong aud: 401', async () => {
    const k = await providerKey(jg.idp);
    for (const aud of ['https://other.example', `${jg.url}/`, ['https://other.example'], 'jitgate', []]) {
      assertUnauthorized(await bearer(jg, await sign(k, claims(jg, { aud }))), { why: /not meant for jitgate/ });
    }
    const ok = await bearer(jg, await sign(k, claims(jg, { aud: ['https://other.example', jg.url] })));
    assert.equal(ok.status, 200, 'an audience list naming jitgate is accepted');
  });

  test('a token of a client jitgate does not accept (azp / client_id not in oidc.allowed_clients): 401', async () => {
    const k = await providerKey(jg.idp);
    // the real provider's clients are accepted, by either claim
    for (const over of [{ client_id: 'jitgate' }, { client_id: 'jitgate-cli' }, { client_id: undefined, azp: 'jitgate-cli' },
      { azp: 'jitgate', client_id: 'jitgate' }]) {
      const r = await bearer(jg, await sign(k, JSON.parse(JSON.stringify(claims(jg, over)))));
      assert.equal(r.status, 200, `${JSON.stringify(over)}: ${r.body}`);
    }
    // a token the same provider issued to another application, for jitgate's audience
    for (const over of [{ client_id: 'other-app' }, { client_id: undefined, azp: 'other-app' },
      { client_id: 'jitgate-cli', azp: 'other-app' }, { client_id: 'other-app', azp: 'jitgate-cli' },
      { client_id: 'JITGATE-CLI' }, { client_id: ['jitgate-cli'] }, { client_id: 7 }]) {
      const r = await bearer(jg, await sign(k, JSON.parse(JSON.stringify(claims(jg, over)))));
      assertUnauthorized(r, { why: /client jitgate does not accept \(azp\/client_id\)|azp\/client_id/ });
    }
  });

  test('a token that names no client (neither azp nor client_id): 401', async () => {
    const k = await providerKey(jg.idp);
    const none = claims(jg);
    delete none.client_id;
    assertUnauthorized(await bearer(jg, await sign(k, none)), { why: /names no client \(azp or client_id\)/ });
  });

  test('duplicate keys in a signed access token: 401, whichever value a parser would keep', async () => {
    const k = await providerKey(jg.idp);
    const sub = (first, second) => {
      const c = claims(jg);
      delete c.sub;
      const text = JSON.stringify(c);
      return `{"sub":${JSON.stringify(first)},${text.slice(1, -1)},"sub":${JSON.stringify(second)}}`;
    };
    const signRaw = (text) => new jose.CompactSign(new TextEncoder().encode(text))
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: k.kid }).sign(k.key);
    // control: the same construction without a duplicate is accepted
    const c = claims(jg);
    const ok = await bearer(jg, await signRaw(JSON.stringify(c)));
    assert.equal(ok.status, 200, ok.body);
    for (const text of [
      sub('alice', 'oscar'),
      sub('oscar', 'alice'),
      JSON.stringify(c).replace(/^\{/, '{"groups":["jitgate-admins"],'),
      JSON.stringify(c).replace(/^\{/, '{"aud":"https://other.example",'),
      JSON.stringify({ ...c, extra: { a: 1 } }).replace('{"a":1}', '{"a":1,"a":2}'),
    ]) {
      assertUnauthorized(await bearer(jg, await signRaw(text)), { why: /duplicate/ });
    }
  });

  test('payload tampered with after signing: 401', async () => {
    const real = await jg.tokenFor('alice');
    assert.equal((await bearer(jg, real)).status, 200);
    const [h, p, s] = real.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    const forged = `${h}.${b64({ ...payload, sub: 'oscar', groups: ['jitgate-admins'] })}.${s}`;
    assertUnauthorized(await bearer(jg, forged), { why: /signature does not verify/ });
    const sigFlip = Buffer.from(s, 'base64url');
    sigFlip[10] ^= 1;
    assertUnauthorized(await bearer(jg, `${h}.${p}.${sigFlip.toString('base64url')}`));
  });

  test('an ID token used as a bearer token: 401', async () => {
    const t = await accessToken(jg.idp, 'alice', { audience: jg.url, nonce: 'n' });
    assert.notEqual(decodeJwt(t.id_token).header.typ, 'at+jwt');
    assertUnauthorized(await bearer(jg, t.id_token), { why: /typ must be at\+jwt/ });
    // typ JWT with otherwise perfect access-token claims and the real key: still not an access token
    const k = await providerKey(jg.idp);
    assertUnauthorized(await bearer(jg, await sign(k, claims(jg), { typ: 'JWT' })), { why: /typ must be at\+jwt/ });
    const noTyp = await new jose.SignJWT(claims(jg)).setProtectedHeader({ alg: 'RS256', kid: k.kid }).sign(k.key);
    assertUnauthorized(await bearer(jg, noTyp), { why: /typ must be at\+jwt/ });
  });

  test('a 7 kB garbage token: 401', async () => {
    const blob = randomBytes(5200).toString('base64url'); // ~7 kB
    assert.ok(blob.length > 6900);
    assertUnauthorized(await bearer(jg, blob), { why: /not a JWT/ });
    const parts = `${blob.slice(0, 2300)}.${blob.slice(2300, 4600)}.${blob.slice(4600)}`;
    assertUnauthorized(await bearer(jg, parts));
    const { kid } = await providerKey(jg.idp);
    const bigPayload = `${b64({ alg: 'RS256', typ: 'at+jwt', kid })}.${blob}.${randomBytes(256).toString('base64url')}`;
    assertUnauthorized(await bearer(jg, bigPayload));
    // and beyond jitgate's 8 kB limit
    const huge = `${b64({ alg: 'RS256', typ: 'at+jwt', kid })}.${randomBytes(7000).toString('base64url')}.x`;
    assertUnauthorized(await bearer(jg, huge), { why: /longer than 8192/ });
    assert.equal((await bearer(jg, await jg.tokenFor('alice'))).status, 200, 'the server is fine');
  });

  // ---- callbacks that must be refused

  test('a callback whose state does not match the login cookie: 401, and the real login survives', async () => {
    const { jar, callback } = await loginAtProvider(jg, 'alice');
    const forged = new URL(callback);
    forged.searchParams.set('state', randomBytes(32).toString('base64url'));
    const r = await browse(jg, jar, 'GET', pathOf(forged));
    assertHtml(r, 401, /state mismatch/);
    assertNoSession(r);
    // an attacker setting both cookie and state to a value jitgate never issued
    const x = randomBytes(32).toString('base64url');
    forged.searchParams.set('state', x);
    const both = await jg.request('GET', pathOf(forged), { headers: { cookie: `${LOGIN}=${x}` } });
    assertHtml(both, 401, /unknown, too old or already used/);
    assertNoSession(both);
    // no cookie at all
    const none = await jg.request('GET', pathOf(callback));
    assertHtml(none, 401, /state mismatch/);
    assertNoSession(none);
    // the refused attempts did not burn the real one
    const ok = await browse(jg, jar, 'GET', pathOf(callback));
    assert.equal(ok.status, 303, ok.body);
    assert.ok(setCookie(ok, SESSION)?.value);
  });

  test('a replayed authorization code is refused by jitgate and by the provider', async () => {
    const { jar, callback, state } = await loginAtProvider(jg, 'alice');
    const first = await browse(jg, jar, 'GET', pathOf(callback));
    assert.equal(first.status, 303, first.body);
    // the same callback again, still carrying the login cookie: the flow was single use
    const again = await jg.request('GET', pathOf(callback), { headers: { cookie: `${LOGIN}=${state}` } });
    assertHtml(again, 401, /already used/);
    assertNoSession(again);
    // the same code delivered with a fresh login's state: jitgate redeems it, the provider refuses
    const jar2 = new CookieJar();
    const fresh = await startLogin(jg, jar2);
    const replay = new URL(callback);
    replay.searchParams.set('state', fresh.state);
    const r = await browse(jg, jar2, 'GET', pathOf(replay));
    assertHtml(r, 401, /identity provider refused the code \(invalid_grant\)/);
    assertNoSession(r);
  });

  test('a code stolen from another login (not yet redeemed) is refused by the provider (PKCE)', async () => {
    const victim = await loginAtProvider(jg, 'bob');
    const attacker = new CookieJar();
    const a = await startLogin(jg, attacker);
    const injected = new URL(victim.callback);
    injected.searchParams.set('state', a.state);
    const r = await browse(jg, attacker, 'GET', pathOf(injected));
    assertHtml(r, 401, /refused the code/);
    assertNoSession(r);
  });

  test('a callback replayed after a successful login: 401', async () => {
    const { jar, callback } = await loginAtProvider(jg, 'alice');
    const ok = await browse(jg, jar, 'GET', pathOf(callback));
    assert.equal(ok.status, 303, ok.body);
    const sess = setCookie(ok, SESSION).value;
    const again = await browse(jg, jar, 'GET', pathOf(callback));
    assertHtml(again, 401);
    assertNoSession(again);
    // the session of the successful login is unaffected
    const me = await jg.request('GET', '/v1/me', { headers: { cookie: `${SESSION}=${sess}` } });
    assert.equal(me.status, 200, me.body);
  });

  test('a callback carrying the provider\'s error opens no session', async () => {
    const jar = new CookieJar();
    const { state } = await startLogin(jg, jar);
    const r = await browse(jg, jar, 'GET', `/auth/callback?error=access_denied&state=${state}`);
    assertHtml(r, 401, /did not sign you in/);
    assertNoSession(r);
  });

  test('the static auditor credential is gone: auth.static_auditor_token_file is refused (exit 3)', () => {
    const path = join(jg.dir, 'static-auditor.yaml');
    writeFileSync(join(jg.dir, 'auditor-token'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    writeFileSync(path, `${readFileSync(jg.configPath, 'utf8')}auth:\n  static_auditor_token_file: auditor-token\n`);
    for (const args of [['serve', '-c', path], ['serve', '--check-config', '-c', path]]) {
      const r = runJitgate(args, { timeout: 10000 });
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /unknown key 'auth\.static_auditor_token_file'/);
    }
  });

  test('a flood of 1,000 bad tokens costs the provider at most one JWKS fetch and is answered fast', async (t) => {
    const real = await providerKey(jg.idp);
    const mine = await ownKey(real.kid); // the provider's kid, another key: bad signatures
    const tokens = [];
    for (let i = 0; i < 1000; i++) {
      if (i % 2 === 0) { // a kid nobody publishes (fresh each time), any signature
        const kid = `unknown-${i}-${randomBytes(4).toString('hex')}`;
        tokens.push(`${b64({ alg: 'RS256', typ: 'at+jwt', kid })}.${b64(claims(jg))}.${randomBytes(256).toString('base64url')}`);
      } else {
        tokens.push(await sign(mine, claims(jg)));
      }
    }
    await sleep(100);
    const fetchesBefore = jg.idp.jwksRequests();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: jg.ca });
    const statuses = new Map();
    const t0 = Date.now();
    try {
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < tokens.length) {
          const r = await bearer(jg, tokens[next++], '/v1/me', { agent });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      }));
    } finally {
      agent.destroy();
    }
    const elapsed = Date.now() - t0;
    await sleep(200);
    const extra = jg.idp.jwksRequests() - fetchesBefore;
    t.diagnostic(`1000 bad tokens in ${elapsed} ms; JWKS fetches during the flood: ${extra}; total ${jg.idp.jwksRequests()}`);
    assert.deepEqual([...statuses], [[401, 1000]]);
    assert.ok(extra <= 1, `${extra} JWKS fetches during the flood`);
    assert.ok(elapsed < 20000, `the flood took ${elapsed} ms`);
    assert.equal((await bearer(jg, await jg.tokenFor('alice'))).status, 200, 'good tokens still work');
  });
});

// ================================================================ a hostile provider

describe('ID tokens the real provider cannot produce (a hostile provider of the test\'s own)', () => {
  let hostile;
  let jg;
  before(async () => {
    hostile = await startHostileProvider();
    jg = await startJitgate({ idp: false, oidc: { issuer: hostile.url } });
  });
  after(async () => {
    await cleanup(jg);
    await hostile?.stop();
  });

  async function hostileLogin(mode) {
    hostile.mode = mode;
    const jar = new CookieJar();
    const { authz } = await startLogin(jg, jar);
    assert.equal(authz.origin, hostile.url);
    const back = await fetch(authz, { redirect: 'manual' });
    assert.equal(back.status, 302);
    const callback = new URL(back.headers.get('location'));
    const before = hostile.tokenRequests;
    const r = await browse(jg, jar, 'GET', pathOf(callback));
    assert.equal(hostile.tokenRequests, before + 1, 'jitgate redeemed the code');
    return { r, jar };
  }

  test('control: a well-formed ID token from this provider signs in', async () => {
    const { r, jar } = await hostileLogin('good');
    assert.equal(r.status, 303, r.body);
    assert.ok(setCookie(r, SESSION)?.value);
    const me = await browse(jg, jar, 'GET', '/v1/me');
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json.sub, 'hostile-user');
  });

  for (const [mode, why] of [
    ['wrong-nonce', /nonce does not match/],
    ['no-nonce', /nonce does not match/],
    ['other-client', /not meant for jitgate \(aud\)/],
    ['azp-other', /issued to another client \(azp\)/],
    ['several-aud-no-azp', /several audiences and no azp/],
    ['duplicate-sub', /duplicate/],
  ]) {
    test(`an ID token with ${mode}: 401 page, no session`, async () => {
      const { r, jar } = await hostileLogin(mode);
      assertHtml(r, 401, why);
      assertNoSession(r);
      assertUnauthorized(await browse(jg, jar, 'GET', '/v1/me'), { error: null });
    });
  }
});

// ================================================================ key rotation

describe('the provider rotates its signing key', () => {
  let jg;
  before(async () => { jg = await startJitgate({ minRefresh: 1 }); });
  after(() => cleanup(jg));

  test('tokens signed with the new key are accepted without a restart; dropped keys stop verifying', async () => {
    const old = (await accessToken(jg.idp, 'alice', { audience: jg.url })).access_token;
    assert.equal((await bearer(jg, old)).status, 200);

    const rot = await jg.idp.rotateKey();
    const fresh = (await accessToken(jg.idp, 'alice', { audience: jg.url })).access_token;
    assert.equal(decodeJwt(fresh).header.kid, rot.kid);
    assert.notEqual(rot.kid, decodeJwt(old).header.kid);
    await sleep(1100); // > jwks_min_refresh_seconds since the last fetch
    const before = jg.idp.jwksRequests();
    const r = await bearer(jg, fresh);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.sub, 'alice');
    assert.equal(jg.idp.jwksRequests() - before, 1, 'one JWKS fetch for the new kid');
    assert.equal((await bearer(jg, old)).status, 200, 'the retained old key still verifies');
    assert.equal(jg.exited, null, 'jitgate was not restarted');

    // a rotation that drops every earlier key: after the next fetch, their tokens are refused
    const rot2 = await jg.idp.rotateKey({ retain: false });
    const newest = (await accessToken(jg.idp, 'alice', { audience: jg.url })).access_token;
    assert.equal(decodeJwt(newest).header.kid, rot2.kid);
    await sleep(1100);
    assert.equal((await bearer(jg, newest)).status, 200);
    assertUnauthorized(await bearer(jg, old), { why: /key the provider does not publish/ });
    assertUnauthorized(await bearer(jg, fresh), { why: /key the provider does not publish/ });
  });

  test('a flood of unknown kids refetches the JWKS at most about once per second (interval 1 s)', async (t) => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: jg.ca });
    const before = jg.idp.jwksRequests();
    const statuses = new Map();
    const t0 = Date.now();
    try {
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (Date.now() - t0 < 2500) {
          const kid = `unknown-${randomBytes(6).toString('hex')}`;
          const token = `${b64({ alg: 'RS256', typ: 'at+jwt', kid })}.${b64(claims(jg))}.${randomBytes(256).toString('base64url')}`;
          const r = await bearer(jg, token, '/v1/me', { agent });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      }));
    } finally {
      agent.destroy();
    }
    const elapsed = Date.now() - t0;
    await sleep(200);
    const fetches = jg.idp.jwksRequests() - before;
    const n = statuses.get(401) ?? 0;
    t.diagnostic(`${n} unknown-kid requests in ${elapsed} ms caused ${fetches} JWKS fetches`);
    assert.deepEqual([...statuses.keys()], [401]);
    assert.ok(n > 100, `only ${n} requests`);
    // whole-second clock: at most one fetch per second boundary crossed, and at least one per
    // second once the interval has passed (the limiter does not lock the provider out)
    assert.ok(fetches >= 2 && fetches <= Math.ceil(elapsed / 1000) + 1, `${fetches} fetches in ${elapsed} ms`);
  });
});

// ================================================================ the provider down

describe('the provider is down', () => {
  let jg;
  let never;
  before(async () => {
    jg = await startJitgate();
    never = await startJitgate({ idp: false }); // its issuer is an address where nothing listens
  });
  after(async () => {
    await cleanup(jg);
    await cleanup(never);
  });

  test('cached keys still verify; unknown keys are 401; a login cannot complete (503 page)', async (t) => {
    const token = await jg.tokenFor('alice');
    assert.equal((await bearer(jg, token)).status, 200);
    await jg.idp.kill();

    const me = await bearer(jg, token);
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json.sub, 'alice');
    const unknown = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: 'unknown-kid' })}.${b64(claims(jg))}.${randomBytes(256).toString('base64url')}`;
    assertUnauthorized(await bearer(jg, unknown), { why: /key the provider does not publish/ });

    // A new login: discovery was done at start-up and is kept, so /auth/login may still send the
    // browser to the (dead) provider; the callback cannot redeem the code and says so.
    const jar = new CookieJar();
    const login = await browse(jg, jar, 'GET', '/auth/login');
    if (login.status === 503) {
      assertHtml(login, 503, /identity provider cannot be reached/);
      t.diagnostic('/auth/login answers 503 while the provider is down');
      return;
    }
    assert.equal(login.status, 302, login.body);
    assert.ok(login.headers.location.startsWith(`${jg.idp.url}/auth?`), login.headers.location);
    t.diagnostic('/auth/login still redirects to the dead provider (discovery cached); the callback answers 503');
    const state = new URL(login.headers.location).searchParams.get('state');
    const cb = await browse(jg, jar, 'GET', `/auth/callback?code=${randomBytes(16).toString('base64url')}&state=${state}&iss=${encodeURIComponent(jg.idp.url)}`);
    assertHtml(cb, 503, /identity provider cannot be reached/);
    assertNoSession(cb);
  });

  test('a provider never reached: /auth/login is a 503 page and bearer tokens get 503', async () => {
    const login = await never.request('GET', '/auth/login');
    assertHtml(login, 503, /identity provider cannot be reached/);
    assertNoSession(login);
    assert.equal(setCookie(login, LOGIN), null, 'no login cookie for a login that cannot start');
    const t = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' })}.${b64({ sub: 'alice' })}.${randomBytes(256).toString('base64url')}`;
    const r = await bearer(never, t);
    assert.equal(r.status, 503, r.body);
    assert.equal(r.json.error.code, 'unavailable');
    assert.match(r.json.error.message, /keys cannot be fetched/);
  });
});

// ================================================================ discovery cannot aim jitgate elsewhere
describe('a discovery document naming endpoints off the provider\'s origin (SSRF)', () => {
  let hostile;
  let elsewhere;
  let hits = 0;
  let jg;
  before(async () => {
    elsewhere = http.createServer((req, res) => { hits++; res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"keys":[]}'); });
    await new Promise((ok) => elsewhere.listen(0, '127.0.0.1', ok));
    hostile = await startHostileProvider();
    const other = `http://127.0.0.1:${elsewhere.address().port}`;
    hostile.discoveryOverride = { jwks_uri: `${other}/jwks`, token_endpoint: `${other}/token` };
    jg = await startJitgate({ idp: false, oidc: { issuer: hostile.url } });
  });
  after(async () => {
    await cleanup(jg);
    await hostile?.stop();
    await new Promise((ok) => { elsewhere.closeAllConnections(); elsewhere.close(() => ok()); });
  });

  test('jitgate refuses the document and never fetches the other origin', async () => {
    const login = await jg.request('GET', '/auth/login');
    assert.ok(login.status >= 500, `sign-in went ahead with a foreign jwks_uri: ${login.status}`);
    const bearer = await jg.request('GET', '/v1/me', { headers: { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln' } });
    assert.equal(bearer.status, 401);
    assert.equal(hits, 0, 'jitgate fetched a URL on another origin');
    assert.ok(jg.logLines().some((l) => /discovery document names an endpoint/.test(l.msg)), jg.stderr.slice(-2000));
  });
});
