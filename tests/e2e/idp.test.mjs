// The development OpenID provider (deploy/dev-idp/server.mjs) as jitgate relies on it: discovery;
// JWT access tokens for jitgate's audience with the user's groups, email and name; ID tokens with
// groups and nonce; only the fixed users can sign in; PKCE and the resource indicator enforced; the
// device flow end to end; the confidential web client and RP-initiated logout; the JWKS request
// counter; the signing key kept across restarts, replaced by a new key file or the rotate hook.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';

import {
  startIdp, driveLogin, driveLogout, accessToken, deviceAuthorization, confirmDevice, pollDeviceToken,
  decodeJwt, pkcePair, CookieJar, USERS, CLI_CLIENT_ID,
} from './lib/idp.mjs';

const JITGATE_URL = 'https://127.0.0.1:18443';

async function jwks(idp) {
  const r = await fetch(idp.discovery.jwks_uri);
  assert.equal(r.status, 200);
  return r.json();
}

// Verifies a token against the provider's published keys, as jitgate will.
async function verify(idp, token, options) {
  return jose.jwtVerify(token, jose.createLocalJWKSet(await jwks(idp)), {
    issuer: idp.url, algorithms: ['RS256'], ...options,
  });
}

function authorizationUrl(idp, params) {
  const u = new URL(idp.discovery.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

// Follows the provider's redirects from url with the jar's cookies: 'login' or 'consent' for the
// first form shown, or 'redirect' when it goes straight back to the client.
async function firstPrompt(url, jar) {
  const origin = new URL(url).origin;
  for (let i = 0; i < 10; i++) {
    const r = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(url) } });
    jar.store(url, r);
    const text = await r.text();
    if (r.status >= 300 && r.status < 400) {
      url = new URL(r.headers.get('location'), url).href;
      if (new URL(url).origin !== origin) return 'redirect';
      continue;
    }
    const m = text.match(/name="prompt" value="(\w+)"/);
    return m ? m[1] : `page ${r.status}`;
  }
  return 'loop';
}

describe('dev identity provider', () => {
  let idp;
  before(async () => { idp = await startIdp({ jitgateUrl: JITGATE_URL }); });
  after(() => idp?.stop());

  test('discovery names the loopback issuer and the endpoints jitgate uses', () => {
    const d = idp.discovery;
    assert.equal(d.issuer, `http://127.0.0.1:${idp.port}`);
    assert.equal(d.issuer, idp.url);
    for (const [field, path] of Object.entries({
      authorization_endpoint: '/auth',
      token_endpoint: '/token',
      jwks_uri: '/jwks',
      userinfo_endpoint: '/me',
      device_authorization_endpoint: '/device/auth',
      revocation_endpoint: '/token/revocation',
      end_session_endpoint: '/session/end',
    })) assert.equal(d[field], `${idp.url}${path}`, field);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(d.response_types_supported, ['code']);
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256']);
    assert.ok(d.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'));
    assert.ok(d.claims_supported.includes('groups'));
    assert.equal(d.authorization_response_iss_parameter_supported, true);
  });

  test('the start-up banner names issuer, clients and every user with groups', () => {
    const out = idp.stdout();
    assert.match(out, new RegExp(`issuer: +${idp.url.replace(/[.]/g, '\\.')}`));
    assert.match(out, /jitgate \(confidential/);
    assert.match(out, /jitgate-cli \(public/);
    for (const [user, groups] of Object.entries(USERS)) {
      assert.match(out, new RegExp(`^  ${user} +${groups.join(', ')}$`, 'm'), user);
    }
  });

  test('an access token for the audience is an RS256 at+jwt with aud, groups, email and name', async () => {
    const t = await accessToken(idp, 'alice');
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.expires_in, 600);
    const { header, payload } = decodeJwt(t.access_token);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.typ, 'at+jwt');
    const keys = (await jwks(idp)).keys;
    assert.ok(keys.some((k) => k.kid === header.kid), 'kid is in the JWKS');
    for (const k of keys) for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[p], undefined, `public JWKS has no ${p}`);
    assert.equal(payload.iss, idp.url);
    assert.equal(payload.aud, JITGATE_URL);
    assert.equal(payload.sub, 'alice');
    assert.deepEqual(payload.groups, ['payments-eng']);
    assert.equal(payload.email, 'alice@example.com');
    assert.equal(payload.name, 'Alice Engineer');
    assert.equal(payload.client_id, CLI_CLIENT_ID);
    assert.equal(payload.exp - payload.iat, 600);
    assert.equal(typeof payload.jti, 'string');
    const v = await verify(idp, t.access_token, { audience: JITGATE_URL, typ: 'at+jwt' });
    assert.equal(v.payload.sub, 'alice');
  });

  test('groups follow the user; a multi-group user gets all groups', async () => {
    const { payload } = decodeJwt((await accessToken(idp, 'dave', { scope: 'openid' })).access_token);
    assert.equal(payload.sub, 'dave');
    assert.deepEqual(payload.groups, ['contractors', 'payments-eng']);
    assert.equal(payload.email, 'dave@example.com');
  });

  test('the ID token carries groups, email, name and the nonce', async () => {
    const t = await accessToken(idp, 'carol', { nonce: 'nonce-4711' });
    const { header, payload } = decodeJwt(t.id_token);
    assert.equal(header.alg, 'RS256');
    assert.notEqual(header.typ, 'at+jwt');
    assert.equal(payload.iss, idp.url);
    assert.equal(payload.aud, CLI_CLIENT_ID);
    assert.equal(payload.sub, 'carol');
    assert.equal(payload.nonce, 'nonce-4711');
    assert.deepEqual(payload.groups, ['payments-leads', 'privacy']);
    assert.equal(payload.email, 'carol@example.com');
    assert.equal(payload.name, 'Carol Lead');
    await verify(idp, t.id_token, { audience: CLI_CLIENT_ID });
    // With scope=openid alone, groups is still in the ID token.
    const bare = decodeJwt((await accessToken(idp, 'bob', { scope: 'openid' })).id_token).payload;
    assert.deepEqual(bare.groups, ['payments-leads']);
    assert.equal(bare.nonce, undefined);
  });

  test('an unknown user cannot sign in', async () => {
    const url = authorizationUrl(idp, {
      client_id: CLI_CLIENT_ID, response_type: 'code', redirect_uri: 'http://127.0.0.1/callback',
      scope: 'openid', state: 's', code_challenge: pkcePair().challenge, code_challenge_method: 'S256',
      resource: JITGATE_URL,
    });
    await assert.rejects(driveLogin(url, 'mallory'), /403.*Unknown user mallory/);
    await assert.rejects(driveLogin(url, 'Alice'), /403/); // names are exact
    await assert.rejects(accessToken(idp, '__proto__'), /403/);
  });

  test('PKCE is required, also for the confidential client', async () => {
    for (const client of [
      { client_id: 'jitgate', redirect_uri: `${JITGATE_URL}/auth/callback` },
      { client_id: CLI_CLIENT_ID, redirect_uri: 'http://127.0.0.1/callback' },
    ]) {
      const loc = new URL(await driveLogin(authorizationUrl(idp, {
        ...client, response_type: 'code', scope: 'openid', state: 'st',
      }), 'alice'));
      assert.equal(loc.searchParams.get('error'), 'invalid_request', client.client_id);
      assert.match(loc.searchParams.get('error_description'), /PKCE|code_challenge/);
      assert.equal(loc.searchParams.get('code'), null);
    }
  });

  test('only jitgate\'s audience is served as a resource', async () => {
    await assert.rejects(accessToken(idp, 'alice', { audience: 'https://elsewhere.example' }), /invalid_target/);
  });

  test('without a resource indicator the access token is still a JWT for jitgate (default resource)', async () => {
    const t = await accessToken(idp, 'alice', { audience: null });
    const { header, payload } = decodeJwt(t.access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(payload.aud, JITGATE_URL);
    assert.ok(t.id_token);
  });

  test('device flow: device authorization, user confirms, token endpoint issues the JWT', async () => {
    const d = await deviceAuthorization(idp);
    assert.equal(d.verification_uri, `${idp.url}/device`);
    assert.match(d.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.equal(d.interval, undefined); // poll every 5 s (RFC 8628 default)
    const pending = await pollDeviceToken(idp, d.device_code);
    assert.equal(pending.status, 400);
    assert.equal(pending.json.error, 'authorization_pending');
    await assert.rejects(confirmDevice(idp, 'BCDF-GHJK', 'frank'), /not accepted/);
    const page = await confirmDevice(idp, d.user_code, 'frank');
    assert.match(page, /Sign-in Success/);
    const done = await pollDeviceToken(idp, d.device_code);
    assert.equal(done.status, 200, done.text);
    const { header, payload } = decodeJwt(done.json.access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(payload.aud, JITGATE_URL);
    assert.equal(payload.sub, 'frank');
    assert.deepEqual(payload.groups, ['sre-oncall']);
    assert.deepEqual(decodeJwt(done.json.id_token).payload.groups, ['sre-oncall']);
    await verify(idp, done.json.access_token, { audience: JITGATE_URL, typ: 'at+jwt' });
    const again = await pollDeviceToken(idp, d.device_code);
    assert.equal(again.status, 400);
    assert.equal(again.json.error, 'invalid_grant');
  });

  test('confidential web client: code flow with client_secret_basic, then RP-initiated logout', async () => {
    const { verifier, challenge } = pkcePair();
    const jar = new CookieJar();
    const loc = new URL(await driveLogin(authorizationUrl(idp, {
      client_id: 'jitgate', response_type: 'code', redirect_uri: `${JITGATE_URL}/auth/callback`,
      scope: 'openid email profile', state: 'web-state', nonce: 'web-nonce',
      code_challenge: challenge, code_challenge_method: 'S256', resource: JITGATE_URL,
    }), 'erin', jar));
    assert.equal(loc.origin + loc.pathname, `${JITGATE_URL}/auth/callback`);
    assert.equal(loc.searchParams.get('state'), 'web-state');
    assert.equal(loc.searchParams.get('iss'), idp.url);
    const code = loc.searchParams.get('code');
    const body = new URLSearchParams({
      grant_type: 'authorization_code', code, redirect_uri: `${JITGATE_URL}/auth/callback`, code_verifier: verifier,
    });
    const basic = (secret) => `Basic ${Buffer.from(`jitgate:${secret}`).toString('base64')}`;
    const wrong = await fetch(idp.discovery.token_endpoint, { method: 'POST', headers: { authorization: basic('nope'), 'content-type': 'application/x-www-form-urlencoded' }, body });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).error, 'invalid_client');
    const r = await fetch(idp.discovery.token_endpoint, { method: 'POST', headers: { authorization: basic(idp.clientSecret), 'content-type': 'application/x-www-form-urlencoded' }, body });
    const t = await r.json();
    assert.equal(r.status, 200, JSON.stringify(t));
    const id = decodeJwt(t.id_token).payload;
    assert.equal(id.aud, 'jitgate');
    assert.equal(id.nonce, 'web-nonce');
    assert.deepEqual(id.groups, ['auditors']);
    const at = decodeJwt(t.access_token).payload;
    assert.equal(at.aud, JITGATE_URL);
    assert.equal(at.client_id, 'jitgate');
    assert.deepEqual(at.groups, ['auditors']);

    const out = await driveLogout(idp, {
      id_token_hint: t.id_token, post_logout_redirect_uri: `${JITGATE_URL}/`, state: 'bye',
    }, jar);
    assert.equal(out, `${JITGATE_URL}/?state=bye`);
    // The session is gone: the next authorization asks for the login again.
    const again = authorizationUrl(idp, {
      client_id: 'jitgate', response_type: 'code', redirect_uri: `${JITGATE_URL}/auth/callback`,
      scope: 'openid', state: 's2', code_challenge: challenge, code_challenge_method: 'S256',
    });
    assert.equal(await firstPrompt(again, jar), 'login');
    assert.ok(new URL(await driveLogin(again, 'erin', jar)).searchParams.get('code'));
    // While signed in, no login form is shown.
    assert.notEqual(await firstPrompt(again, jar), 'login');
  });

  test('JWKS_REQUEST counts fetches of jwks_uri and nothing else', async () => {
    const before = idp.jwksRequests();
    await fetch(`${idp.url}/.well-known/openid-configuration`);
    await accessToken(idp, 'oscar');
    assert.equal(idp.jwksRequests(), before);
    await jwks(idp);
    await jwks(idp);
    await new Promise((ok) => setTimeout(ok, 100)); // let stdout arrive
    assert.equal(idp.jwksRequests(), before + 2);
  });

  test('the rotate-key hook signs with a new kid and keeps or drops the old public key', async () => {
    const oldKid = decodeJwt((await accessToken(idp, 'alice')).access_token).header.kid;
    const jar = new CookieJar();
    await accessToken(idp, 'bob', { jar });
    const rot = await idp.rotateKey();
    assert.equal(rot.previous_kid, oldKid);
    assert.notEqual(rot.kid, oldKid);
    assert.deepEqual((await jwks(idp)).keys.map((k) => k.kid), [rot.kid, oldKid]);
    // A session from before the rotation survives it.
    const t = await accessToken(idp, 'bob', { jar });
    assert.equal(decodeJwt(t.access_token).header.kid, rot.kid);
    assert.equal(decodeJwt(t.id_token).header.kid, rot.kid);
    await verify(idp, t.access_token, { audience: JITGATE_URL });
    const drop = await idp.rotateKey({ retain: false });
    assert.deepEqual((await jwks(idp)).keys.map((k) => k.kid), [drop.kid]);
    assert.equal(decodeJwt((await accessToken(idp, 'alice')).access_token).header.kid, drop.kid);
  });
});

describe('dev identity provider key file', () => {
  let idp;
  let dir;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'jg-idp-key-')); });
  after(async () => {
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the key is created 0600 in a 0700 directory and kept across restarts; a new file gives a new kid', async () => {
    const keyFile = join(dir, 'keys', 'jwks.json');
    idp = await startIdp({ jitgateUrl: JITGATE_URL, keyFile });
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'keys')).mode & 0o777, 0o700);
    assert.equal(statSync(idp.clientSecretFile).mode & 0o777, 0o600);
    const secret = idp.clientSecret;
    const first = await accessToken(idp, 'grace');
    const kid = decodeJwt(first.access_token).header.kid;
    const jwk = (await jwks(idp)).keys[0];
    assert.equal(kid, await jose.calculateJwkThumbprint(jwk, 'sha256'), 'kid is the RFC 7638 thumbprint');
    assert.equal(jwk.kty, 'RSA');
    assert.equal(jwk.alg, 'RS256');
    assert.equal(jwk.use, 'sig');

    const port = idp.port;
    await idp.restart();
    assert.equal(idp.port, port);
    assert.deepEqual((await jwks(idp)).keys.map((k) => k.kid), [kid]);
    assert.equal(idp.clientSecret, secret);
    // A token from before the restart still verifies; a new one has the same kid.
    await verify(idp, first.access_token, { audience: JITGATE_URL });
    assert.equal(decodeJwt((await accessToken(idp, 'grace')).access_token).header.kid, kid);

    await idp.restart({ keyFile: join(dir, 'other', 'jwks.json') });
    const newKid = decodeJwt((await accessToken(idp, 'grace')).access_token).header.kid;
    assert.notEqual(newKid, kid);
    assert.deepEqual((await jwks(idp)).keys.map((k) => k.kid), [newKid]);
    await assert.rejects(verify(idp, first.access_token, { audience: JITGATE_URL }), /no applicable key|JWKSNoMatchingKey/i);
  });
});
