// Capability tokens, the guard and the probes behind it, end to end: the real
// binary, its own real OpenID provider (alice payments-eng, bob
// payments-leads, dave contractors+payments-eng, erin auditors), a real
// SQLite file and policies/payments.yaml (deploy-probe needs bob and an
// INC-… justification of at least 20 characters).
//
// Tokens are checked the way a third party would (node:crypto against the
// JWKS, nothing of jitgate's), then forged in every way the guard must
// refuse; the audit log is tampered with underneath running servers.  A
// token's own exp and nbf cannot be forged without jitgate's key: they are
// covered by tests/unit/test_token.c.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const PROBES = `/v1/services/${SVC}/probes`;
const INC = 'INC-4711 payment retries failing in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

function decode(token) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    signature: Buffer.from(s, 'base64url'),
    input: `${h}.${p}`,
  };
}

// RFC 7638 thumbprint of an EC public JWK
const thumbprint = (k) => createHash('sha256').update(JSON.stringify({ crv: k.crv, kty: k.kty, x: k.x, y: k.y })).digest('base64url');

// A third party's verification (docs/tokens.md), with node:crypto and the JWKS only.
function verifyOffline(token, jwks, { iss, aud, now = nowS() }) {
  if (token.length > 4096) return 'too long';
  const parts = token.split('.');
  if (parts.length !== 3) return 'not three parts';
  const { header, payload, signature, input } = decode(token);
  if (JSON.stringify(Object.keys(header).sort()) !== '["alg","kid","typ"]' || header.alg !== 'ES256' || header.typ !== 'JWT') return 'header';
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return 'unknown kid';
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  if (signature.length !== 64 || !verify('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }, signature)) return 'signature';
  if (payload.iss !== iss || payload.aud !== aud || payload.token_use !== 'jitgate-capability') return 'claims';
  if (!(payload.nbf - 30 <= now && now < payload.exp + 30)) return 'time';
  return 'ok';
}

// Deploy-probe grants for alice, approved by bob; tokens for them.
function actors(getJg) {
  const post = (user, path, body) => getJg().as(user, 'POST', path, body === undefined ? {} : json(body));
  async function probeGrant(duration = '30m') {
    const r = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration, justification: INC });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.state, 'pending');
    const ok = await post('bob', `/v1/requests/${r.json.id}/approve`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.state, 'active');
    return ok.json;
  }
  async function issue(grantId, user = 'alice') {
    const r = await post(user, `/v1/grants/${grantId}/token`);
    assert.equal(r.status, 201, r.body);
    return r.json;
  }
  const withToken = (token, method, path, body) => getJg().request(method, path, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : { body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  return { post, probeGrant, issue, withToken };
}

const PROBE = { function: 'PaymentProcessor.selectProvider', capture_args: true, capture_return: false, sampling_rate: 0.5, duration: 600, conditions: [{ field: 'amount', op: 'gt', value: 1000 }] };

describe('capability tokens, the guard and probes', () => {
  let jg, jwks;
  const { post, probeGrant, issue, withToken } = actors(() => jg);
  let main; // {grant, token reply} of alice's 30-minute deploy-probe grant
  let short; // a 2-second grant, its token and the first (allowed) call
  const issued = []; // every jti handed out by jitgate in this describe

  async function exportEntries() {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    const lines = r.body.trim().split('\n').slice(1, -1);
    return lines.map((l) => ({ ...JSON.parse(l), raw: l }));
  }
  const guardedEntries = async () => (await exportEntries()).filter((e) => e.type.startsWith('probe.'));
  async function refused(token, { path = PROBES, status = 401, why = null } = {}) {
    const before = (await guardedEntries()).length;
    const r = token === undefined ? await jg.request('GET', path) : await withToken(token, 'GET', path);
    assert.equal(r.status, status, r.body);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.ok(r.json?.error?.code, r.body);
    if (status === 401) assert.match(r.headers['www-authenticate'] ?? '', /^Bearer realm="jitgate"/);
    if (why) assert.match(r.json.error.message, why);
    assert.equal((await guardedEntries()).length, before, 'a refused call left a guarded audit entry');
    return r;
  }
  const newToken = async (grantId) => { const t = await issue(grantId); issued.push(decode(t.token).payload.jti); return t; };

  before(async () => {
    jg = await startJitgate({ extraConfig: 'audit:\n  verify_budget: 100\n' });
    // started first so that its 2 seconds run out while other tests run
    const g = await probeGrant(2);
    const t = await newToken(g.id);
    const first = await withToken(t.token, 'GET', PROBES);
    short = { grant: g, token: t.token, first };
    jwks = (await jg.request('GET', '/.well-known/jwks.json')).json;
  });
  after(() => cleanup(jg));

  test('issue: 201 {token, expires_at ≤ grant end, audit.seq, curl}; header and claims as documented', async () => {
    const g = await probeGrant('30m');
    const t0 = nowS();
    const r = await post('alice', `/v1/grants/${g.id}/token`);
    assert.equal(r.status, 201, r.body);
    assert.equal(r.headers['cache-control'], 'no-store');
    const t = r.json;
    main = { grant: g, reply: t };
    issued.push(decode(t.token).payload.jti);
    assert.equal(t.token_type, 'jitgate-capability');
    assert.equal(t.grant, g.id);
    assert.equal(t.service, SVC);
    assert.deepEqual(t.capabilities, ['deploy-probe']);
    assert.ok(t.expires_at <= g.expires_at, `token outlives its grant: ${t.expires_at} > ${g.expires_at}`);
    assert.ok(t.expires_at >= t0 + 290 && t.expires_at <= t0 + 302, `default lifetime 300 s: ${t.expires_at - t0}`);
    assert.equal(typeof t.audit.seq, 'number');
    assert.equal(t.curl, `curl -H "Authorization: Bearer $TOKEN" ${jg.url}${PROBES}`);

    assert.match(t.token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const { header, payload, signature } = decode(t.token);
    assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'JWT');
    assert.equal(header.kid, jwks.keys[0].kid);
    assert.equal(signature.length, 64);
    assert.deepEqual(Object.keys(payload).sort(), ['aud', 'audit', 'caps', 'exp', 'grant', 'iat', 'iss', 'jti', 'nbf', 'sub', 'token_use']);
    assert.equal(payload.iss, jg.url);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.aud, SVC);
    assert.ok(Number.isInteger(payload.iat) && Math.abs(payload.iat - t0) <= 2);
    assert.equal(payload.nbf, payload.iat);
    assert.equal(payload.exp, t.expires_at);
    assert.match(payload.jti, /^tok_[A-Za-z0-9_-]+$/);
    assert.equal(payload.grant, g.id);
    assert.deepEqual(payload.caps, ['deploy-probe']);
    assert.equal(payload.token_use, 'jitgate-capability');
    assert.deepEqual(Object.keys(payload.audit).sort(), ['hash', 'seq']);
    assert.equal(payload.audit.seq, t.audit.seq);
    assert.match(payload.audit.hash, /^[0-9a-f]{64}$/);

    // the anchor is the token.issued entry, and the hash is its leaf hash
    const entry = (await exportEntries()).find((e) => e.seq === t.audit.seq);
    assert.equal(entry.type, 'token.issued');
    assert.equal(entry.actor, 'user:alice');
    assert.deepEqual({ grant: entry.data.grant, jti: entry.data.jti, service: entry.data.service, exp: entry.data.exp },
      { grant: g.id, jti: payload.jti, service: SVC, exp: payload.exp });
    const leaf = createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(entry.raw)])).digest('hex');
    assert.equal(payload.audit.hash, leaf);

    // and it works
    const list = await withToken(t.token, 'GET', PROBES);
    assert.equal(list.status, 200, list.body);
    // (a token without read-pii: condition values on personal data would be shown redacted)
    // with the grant's probe budget: the payments policy sets none, so nothing bounds it
    assert.deepEqual(list.json, {
      service: SVC, redacted: true, probes: [],
      budget: {
        grant: g.id, budget: { max_probes: null, max_hits: null, max_bytes: null }, used: { probes: 0, hits: 0, bytes: 0 },
        remaining: { probes: null, hits: null, bytes: null }, probes_exhausted: false, events_exhausted: false,
      },
    });
  });

  test('a third party verifies the token offline with node:crypto and the JWKS', async () => {
    const r = await jg.request('GET', '/.well-known/jwks.json');
    assert.equal(r.status, 200);
    assert.equal(r.json.keys.length, 1);
    const k = r.json.keys[0];
    assert.deepEqual({ kty: k.kty, crv: k.crv, alg: k.alg, use: k.use }, { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    assert.equal(k.d, undefined, 'the JWKS publishes a private key');
    assert.equal(k.kid, thumbprint(k), 'kid is not the RFC 7638 thumbprint');
    const opts = { iss: jg.url, aud: SVC };
    assert.equal(verifyOffline(main.reply.token, r.json, opts), 'ok');
    // the same checks refuse what they should
    const { input, signature } = decode(main.reply.token);
    const flipped = Buffer.from(signature);
    flipped[10] ^= 1;
    assert.equal(verifyOffline(`${input}.${flipped.toString('base64url')}`, r.json, opts), 'signature');
    assert.equal(verifyOffline(main.reply.token, r.json, { ...opts, aud: 'payment-other' }), 'claims');
    assert.equal(verifyOffline(main.reply.token, r.json, { ...opts, now: main.reply.expires_at + 31 }), 'time');
  });

  test('only the requester gets a token (404 for others); pending and revoked grants get 409', async () => {
    for (const who of ['dave', 'bob', 'erin']) {
      const r = await post(who, `/v1/grants/${main.grant.id}/token`);
      assert.equal(r.status, 404, `${who}: ${r.body}`);
      assert.equal(r.json.error.code, 'not_found');
    }
    assert.equal((await post('alice', '/v1/grants/req_doesnotexist/token')).status, 404);
    const pending = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '10m', justification: INC });
    assert.equal(pending.json.state, 'pending');
    let r = await post('alice', `/v1/grants/${pending.json.id}/token`);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'conflict');
    const g = await probeGrant('10m');
    assert.equal((await post('alice', `/v1/grants/${g.id}/revoke`, { reason: 'done' })).status, 200);
    r = await post('alice', `/v1/grants/${g.id}/token`);
    assert.equal(r.status, 409, r.body);
    // an unauthenticated caller gets no token either
    assert.equal((await jg.request('POST', `/v1/grants/${main.grant.id}/token`)).status, 401);
    const types = (await exportEntries()).filter((e) => e.type === 'token.issued').map((e) => e.data.jti);
    assert.deepEqual(types.sort(), [...issued].sort(), 'a refused issuance was recorded as token.issued');
  });

  // ---- refused: 401 (403 for a missing capability), each on GET /probes

  test('refused: no token', async () => {
    await refused(undefined, { why: /capability token is required/ });
    await refused('', {}); // "Bearer " alone
  });

  test('refused: an SSO access token is not a capability token', async () => {
    await refused(await jg.tokenFor('alice'));
  });

  test('refused: garbage', async () => {
    await refused('garbage', { why: /not a signed JWT/ });
    await refused('a.b.c', { why: /header is malformed/ });
    await refused(`${b64u({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0].kid })}.%%%.***`);
  });

  test('refused: alg none', async () => {
    const { payload } = decode(main.reply.token);
    await refused(`${b64u({ alg: 'none', typ: 'JWT', kid: jwks.keys[0].kid })}.${b64u(payload)}.`, { why: /must be ES256/ });
    await refused(`${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(payload)}.`, { why: /must be ES256/ });
  });

  test('refused: alg none spelled NoNe (and ES256 spelled es256)', async () => {
    const { payload, signature } = decode(main.reply.token);
    await refused(`${b64u({ alg: 'NoNe', typ: 'JWT', kid: jwks.keys[0].kid })}.${b64u(payload)}.`, { why: /must be ES256/ });
    await refused(`${b64u({ alg: 'es256', typ: 'JWT', kid: jwks.keys[0].kid })}.${b64u(payload)}.${signature.toString('base64url')}`, { why: /must be ES256/ });
  });

  test('refused: HS256 keyed with the public key PEM from the JWKS', async () => {
    const k = jwks.keys[0];
    const pem = createPublicKey({ key: { kty: k.kty, crv: k.crv, x: k.x, y: k.y }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const { payload } = decode(main.reply.token);
    const input = `${b64u({ alg: 'HS256', typ: 'JWT', kid: k.kid })}.${b64u(payload)}`;
    for (const key of [pem, pem.trim()]) {
      const sig = createHmac('sha256', key).update(input).digest('base64url');
      await refused(`${input}.${sig}`, { why: /must be ES256/ });
    }
  });

  test('refused: a kid jitgate does not publish', async () => {
    const { payload, signature } = decode(main.reply.token);
    await refused(`${b64u({ alg: 'ES256', typ: 'JWT', kid: 'not-a-key' })}.${b64u(payload)}.${signature.toString('base64url')}`, { why: /key jitgate does not publish/ });
    await refused(`${b64u({ alg: 'ES256', typ: 'JWT' })}.${b64u(payload)}.${signature.toString('base64url')}`, { why: /exactly alg, typ JWT and kid/ });
    await refused(`${b64u({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0].kid, jku: 'https://evil.example/jwks' })}.${b64u(payload)}.${signature.toString('base64url')}`, { why: /exactly alg, typ JWT and kid/ });
  });

  test('refused: signed by a P-256 key jitgate never published, under jitgate\'s kid', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { payload } = decode(main.reply.token);
    const input = `${b64u({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0].kid })}.${b64u(payload)}`;
    const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    await refused(`${input}.${sig.toString('base64url')}`, { why: /signature does not verify/ });
    // a DER signature of the same key is not even well-formed JWS
    const der = sign('sha256', Buffer.from(input), privateKey);
    await refused(`${input}.${der.toString('base64url')}`, { why: /signature (is malformed|does not verify)/ });
  });

  test('refused: claims altered under a genuine signature', async () => {
    const { header, payload, signature } = decode(main.reply.token);
    const forged = { ...payload, caps: ['deploy-probe', 'read-pii'], exp: payload.exp + 86400 };
    await refused(`${b64u(header)}.${b64u(forged)}.${signature.toString('base64url')}`, { why: /signature does not verify/ });
  });

  test('refused: aud is another service (payment-gateway token on payment-other)', async () => {
    await refused(main.reply.token, { path: '/v1/services/payment-other/probes', why: /another service/ });
    const r = await withToken(main.reply.token, 'POST', '/v1/services/payment-other/probes', PROBE);
    assert.equal(r.status, 401, r.body);
  });

  // Since the attack review of issue 15 (F1) a path segment that names no live service is recorded
  // as a keyed marker, not in clear: the escaping now decides what the marker is taken over.
  test('refused: a service path that is not UTF-8 is recorded in guard.refused as the marker of its escaped bytes', async () => {
    const { payload } = decode(main.reply.token);
    const cases = [
      ['pay%FFment', 'pay\\xFFment'], // a byte that is no UTF-8
      ['caf%C3%A9%C3', 'café\\xC3'], // a character, then a cut one
      ['a%5Cb%ED%A0%80', 'a\\\\b\\xED\\xA0\\x80'], // a backslash (doubled), an encoded surrogate
    ];
    for (const [path, escaped] of cases) {
      const before = (await exportEntries()).length;
      await refused(main.reply.token, { path: `/v1/services/${path}/probes`, why: /another service/ });
      const added = (await exportEntries()).slice(before).filter((e) => e.type === 'guard.refused');
      const hash = await jg.auditor('POST', '/v1/audit/hash', json({ value: escaped }));
      assert.equal(hash.status, 200, hash.body);
      assert.deepEqual(added.map((e) => ({ ...e.data, reason: undefined })), [{
        grant: payload.grant, jti: payload.jti, service: hash.json.markers[0].marker, token_service: SVC,
        capability: 'deploy-probe', action: 'probe.list', reason: undefined,
      }], `${path}: the refusal was not recorded, or not as the marker of its escaped text`);
    }
  });

  test('refused: capability not granted (a read-logs grant\'s token) is 403', async () => {
    const g = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'checking gateway errors' });
    assert.equal(g.json.state, 'active');
    const t = await newToken(g.json.id);
    assert.deepEqual(decode(t.token).payload.caps, ['read-logs']);
    const r = await refused(t.token, { status: 403 });
    assert.equal(r.json.error.code, 'insufficient_capability');
    assert.match(r.json.error.message, /deploy-probe/);
    assert.match(r.headers['www-authenticate'], /insufficient_scope/);
  });

  test('refused: the grant expired (a 2-second grant; its token worked before)', async () => {
    assert.equal(short.first.status, 200, short.first.body);
    const end = short.grant.expires_at * 1000 + 50;
    if (Date.now() < end) await sleep(end - Date.now());
    const { payload } = decode(short.token);
    assert.ok(payload.exp <= short.grant.expires_at);
    assert.ok(nowS() < payload.exp + 30, 'within the exp leeway: only the grant check can refuse');
    await refused(short.token, { why: /grant is no longer active/ });
    const r = await post('alice', `/v1/grants/${short.grant.id}/token`);
    assert.equal(r.status, 409, r.body);
  });

  test('refused: the grant revoked (on the very next call); its probes are disabled at once', async () => {
    const g = await probeGrant('30m');
    const t = await newToken(g.id);
    const p = await withToken(t.token, 'POST', PROBES, { ...PROBE, function: 'Revoked.soon' });
    assert.equal(p.status, 201, p.body);
    const seen = await withToken(main.reply.token, 'GET', PROBES);
    assert.ok(seen.json.probes.some((x) => x.id === p.json.id && x.grant === g.id), seen.body);
    assert.equal((await withToken(t.token, 'GET', PROBES)).status, 200);

    const rv = await post('alice', `/v1/grants/${g.id}/revoke`, { reason: 'done' });
    assert.equal(rv.status, 200, rv.body);
    await refused(t.token, { why: /grant is no longer active/ });
    const del = await withToken(t.token, 'DELETE', `${PROBES}/${p.json.id}`);
    assert.equal(del.status, 401, del.body);

    // another active grant of the service, with a new token, sees none of the revoked grant's probes
    const other = await newToken(main.grant.id);
    const list = await withToken(other.token, 'GET', PROBES);
    assert.equal(list.status, 200, list.body);
    assert.deepEqual(list.json.probes.filter((x) => x.grant === g.id), []);
  });

  // ---- forged with jitgate's own token key (root on the host): the anchor must be the token's own issuance

  // Signs payload with the newest token key of the running instance, as whoever holds key_dir could.
  function mint(payload) {
    const dir = join(jg.dir, 'keys');
    const file = readdirSync(dir).filter((f) => /^token-\d{4}\.pem$/.test(f)).sort().pop();
    const key = createPrivateKey(readFileSync(join(dir, file)));
    const input = `${b64u({ alg: 'ES256', typ: 'JWT', kid: thumbprint(createPublicKey(key).export({ format: 'jwk' })) })}.${b64u(payload)}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }
  const leafOf = (e) => createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(e.raw)])).digest('hex');
  const LOGS = `/v1/services/${SVC}/logs`;
  // a forged token: 401, no logs.read recorded, one guard.refused entry naming its jti and why
  async function forgedRefused(token, why) {
    const before = await exportEntries();
    const r = await withToken(token, 'GET', LOGS);
    assert.equal(r.status, 401, r.body);
    assert.equal(r.json.error.code, 'unauthorized');
    assert.match(r.headers['www-authenticate'] ?? '', /^Bearer realm="jitgate", error="invalid_token"/);
    assert.match(r.json.error.message, why);
    // what the guard wrote meanwhile (not the exports themselves, nor the expiry sweeper's entries)
    const added = (await exportEntries()).slice(before.length).filter((e) => e.data?.jti !== undefined);
    assert.deepEqual(added.map((e) => e.type), ['guard.refused'], 'a forged token was not recorded as refused (or was served)');
    const { payload } = decode(token);
    assert.equal(added[0].actor, `user:${payload.sub}`);
    assert.equal(added[0].data.jti, payload.jti);
    assert.equal(added[0].data.grant, payload.grant);
    assert.equal(added[0].data.action, 'logs.read');
    assert.match(added[0].data.reason, why);
  }
  // alice's read-logs grant (active at once), its genuine token and that token's token.issued entry
  async function readLogsGrant() {
    const g = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'checking gateway errors' });
    assert.equal(g.json.state, 'active', g.body);
    const t = await newToken(g.json.id);
    const { payload } = decode(t.token);
    const entry = (await exportEntries()).find((e) => e.seq === t.audit.seq);
    return { grant: g.json, token: t.token, payload, entry };
  }

  test('forged with the real key: the claims of a genuine token, re-signed, pass (the key is the real one)', async () => {
    const { payload, entry } = await readLogsGrant();
    assert.equal(entry.type, 'token.issued');
    assert.deepEqual(entry.data, { capabilities: ['read-logs'], exp: payload.exp, grant: payload.grant, jti: payload.jti, service: SVC });
    const copy = mint({ ...payload, iat: payload.iat - 1, nbf: payload.nbf - 1 });
    const r = await withToken(copy, 'GET', LOGS);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.redacted, true);
  });

  test('forged with the real key: read-pii added to a read-logs grant\'s token (anchored at its own issuance) is 401 + guard.refused', async () => {
    const { token, payload } = await readLogsGrant();
    for (const caps of [['read-logs', 'read-pii'], ['read-pii', 'read-logs'], ['read-logs', 'read-logs', 'read-pii']]) {
      const forged = mint({ ...payload, caps });
      // on the logs endpoint read-pii would serve the logs unredacted
      await forgedRefused(forged, /capabilities/);
    }
    // the same token with a later exp than its issuance says
    await forgedRefused(mint({ ...payload, exp: payload.exp + 600 }), /expiry/);
    // and its own anchor with a hash that is not the entry's
    const wrong = payload.audit.hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    await forgedRefused(mint({ ...payload, audit: { ...payload.audit, hash: wrong } }), /does not match the log/);
    // the genuine token is untouched by the refusals of its forgeries
    const ok = await withToken(token, 'GET', LOGS);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.redacted, true);
  });

  test('forged with the real key: a token anchored at another entry (service.added, another token\'s issuance) is 401 + guard.refused', async () => {
    const { token, payload } = await readLogsGrant();
    const other = await readLogsGrant(); // another grant of alice's: another token.issued
    const twin = await newToken(other.grant.id); // a second token of that grant
    const add = runJitgate(['service', 'add', 'payment-forged', '--owners', 'payments-eng', '-c', jg.configPath]);
    assert.equal(add.code, 0, add.stderr);
    const entries = await exportEntries();
    const serviceAdded = entries.filter((e) => e.type === 'service.added').pop();
    assert.ok(serviceAdded, 'no service.added entry');
    const anchors = [
      serviceAdded,
      entries.find((e) => e.type === 'request.created' && e.data.request === payload.grant), // its own grant's request
      other.entry, // another grant's token.issued
      entries.find((e) => e.seq === twin.audit.seq), // the same grant's other token
    ];
    for (const e of anchors) {
      const forged = mint({ ...payload, caps: ['read-logs', 'read-pii'], audit: { seq: e.seq, hash: leafOf(e) } });
      await forgedRefused(forged, /issuance|anchor/);
      // the token's own capabilities do not help either
      await forgedRefused(mint({ ...payload, audit: { seq: e.seq, hash: leafOf(e) } }), /issuance|anchor/);
    }
    // a token claiming another token's issuance as a whole (its jti and grant) but alice's own grant
    await forgedRefused(mint({ ...other.payload, grant: payload.grant }), /issuance|anchor/);
    assert.equal((await withToken(token, 'GET', LOGS)).status, 200);
    assert.equal((await withToken(twin.token, 'GET', LOGS)).status, 200);
  });

  test('a token whose capabilities its grant does not hold (the grant row edited in the store) is 401 + guard.refused', async () => {
    const { grant, token } = await readLogsGrant();
    jg.db.exec('UPDATE access_requests SET capabilities = ? WHERE id = ?', ['["read-traces"]', grant.id]);
    await forgedRefused(token, /not all its grant's/);
  });

  // ---- sizes

  test('a 100 kB Authorization header is a JSON 431; a 7 kB malformed token a JSON 401', async () => {
    const big = await jg.request('GET', PROBES, { headers: { authorization: `Bearer ${'a'.repeat(100 * 1024)}` } });
    assert.equal(big.status, 431, big.body.slice(0, 200));
    assert.match(big.headers['content-type'], /^application\/json/);
    assert.equal(big.json.error.code, 'request_header_fields_too_large');
    const { input } = decode(main.reply.token);
    await refused('x'.repeat(7 * 1024), { why: /longer than 4096/ });
    await refused(`${input}.${'A'.repeat(7 * 1024)}`, { why: /longer than 4096/ });
    // just under the limit, but a signature part far too long for ES256
    await refused(`${input}.${'A'.repeat(4000 - input.length)}`, { why: /signature is malformed/ });
  });

  // ---- probes

  test('probes: create (clipped to a 60-second grant\'s end), list, delete (200, then 404)', async () => {
    const g60 = await probeGrant(60);
    const t60 = await newToken(g60.id);
    assert.ok(t60.expires_at <= g60.expires_at);
    const t0 = nowS();
    const r = await withToken(t60.token, 'POST', PROBES, PROBE);
    assert.equal(r.status, 201, r.body);
    const p = r.json;
    assert.match(p.id, /^prb_/);
    assert.equal(p.grant, g60.id);
    assert.ok(p.expires_at <= g60.expires_at, `probe outlives its grant: ${p.expires_at} > ${g60.expires_at}`);
    assert.ok(p.expires_at >= g60.expires_at - 1);
    assert.ok(p.duration <= 60 && p.duration >= 55, `duration ${p.duration}`);
    assert.equal(p.function, PROBE.function);

    // a long grant: 600 s, not clipped
    const r2 = await withToken(main.reply.token, 'POST', PROBES, { function: 'Ledger.post', duration: 600 });
    assert.equal(r2.status, 201, r2.body);
    assert.ok(Math.abs(r2.json.expires_at - (t0 + 600)) <= 2, JSON.stringify(r2.json));

    const list = await withToken(main.reply.token, 'GET', PROBES);
    assert.equal(list.status, 200, list.body);
    const mine = list.json.probes.find((x) => x.id === p.id);
    assert.deepEqual({ ...mine, created_at: 0 }, {
      id: p.id, grant: g60.id, function: PROBE.function, kind: 'snapshot', capture_args: true, capture_return: false,
      sampling_rate: 0.5, conditions: PROBE.conditions, created_by: 'user:alice', created_at: 0, expires_at: p.expires_at,
      // the default limits (docs/agents.md, "Limits"); no event count: the probe is another grant's
      limits: { max_hits: 100, max_events_per_second: 10, max_depth: 3, max_string_bytes: 255, max_collection_items: 100, max_fields: 20, max_cpu_ms_per_second: 5 },
      // no agent reported it; another grant's probe shows no failures (docs/api.md)
      status: { installed: 0 },
    });
    const defaults = list.json.probes.find((x) => x.id === r2.json.id);
    assert.deepEqual([defaults.capture_args, defaults.capture_return, defaults.sampling_rate, defaults.conditions], [false, false, 1, []]);

    // another grant's token (alice's 30-minute grant) cannot remove this grant's probe
    const foreign = await withToken(main.reply.token, 'DELETE', `${PROBES}/${p.id}`);
    assert.equal(foreign.status, 404, foreign.body);
    const d = await withToken(t60.token, 'DELETE', `${PROBES}/${p.id}`);
    assert.equal(d.status, 200, d.body);
    assert.deepEqual(d.json, { id: p.id, deleted: true });
    const again = await withToken(t60.token, 'DELETE', `${PROBES}/${p.id}`);
    assert.equal(again.status, 404, again.body);
    const none = await withToken(t60.token, 'DELETE', `${PROBES}/prb_doesnotexist`);
    assert.equal(none.status, 404, none.body);
    // ids that cannot be probe ids (one not even UTF-8, which the audit entry could not hold)
    const guardedBefore = (await guardedEntries()).length;
    for (const bad of ['%FF', `prb_${'x'.repeat(61)}`, 'prb_%22%5C']) {
      const x = await withToken(t60.token, 'DELETE', `${PROBES}/${bad}`);
      assert.equal(x.status, 404, `${bad}: ${x.body}`);
    }
    assert.equal((await guardedEntries()).length, guardedBefore, 'a delete of no possible probe was recorded');
    const after = await withToken(main.reply.token, 'GET', PROBES);
    assert.ok(!after.json.probes.some((x) => x.id === p.id), 'a deleted probe is still listed');
    assert.ok(after.json.probes.some((x) => x.id === r2.json.id));
  });

  test('probes: each bad field is a 400 naming it; nothing is stored or recorded', async () => {
    const before = await withToken(main.reply.token, 'GET', PROBES);
    const cond = (c) => ({ ...PROBE, conditions: [c] });
    const { duration: _d, ...noDuration } = PROBE;
    const { function: _f, ...noFunction } = PROBE;
    const cases = [
      ['function', noFunction],
      ['function', { ...PROBE, function: '' }],
      ['function', { ...PROBE, function: 'rm -rf /' }],
      ['function', { ...PROBE, function: 'a;b' }],
      ['function', { ...PROBE, function: 'x'.repeat(201) }],
      ['function', { ...PROBE, function: 42 }],
      ['capture_args', { ...PROBE, capture_args: 'yes' }],
      ['capture_args', { ...PROBE, capture_args: 1 }],
      ['capture_return', { ...PROBE, capture_return: null }],
      ['sampling_rate', { ...PROBE, sampling_rate: 0 }],
      ['sampling_rate', { ...PROBE, sampling_rate: 1.5 }],
      ['sampling_rate', { ...PROBE, sampling_rate: -0.1 }],
      ['sampling_rate', { ...PROBE, sampling_rate: 'x' }],
      ['duration', { ...PROBE, duration: 0 }],
      ['duration', noDuration],
      ['duration', { ...PROBE, duration: 86401 }],
      ['duration', { ...PROBE, duration: '10m' }],
      ['duration', { ...PROBE, duration: 1.5 }],
      ['conditions', cond({ field: 'amount', op: 'like', value: 1 })],
      ['conditions', cond({ field: 'amount', op: 'gt', value: 'big' })],
      ['conditions', cond({ field: 'amount', op: 'lt', value: true })],
      ['conditions', cond({ field: '', op: 'eq', value: 1 })],
      ['conditions', cond({ field: 'amount', op: 'eq' })],
      ['conditions', cond({ field: 'amount', op: 'eq', value: 1, extra: 2 })],
      ['conditions', cond({ field: 'amount', op: 'eq', value: { nested: 1 } })],
      ['conditions', cond('amount > 5')],
      ['conditions', { ...PROBE, conditions: Array.from({ length: 17 }, (_, i) => ({ field: `f${i}`, op: 'eq', value: i })) }],
      ['conditions', { ...PROBE, conditions: { field: 'amount', op: 'eq', value: 1 } }],
      ['colour', { ...PROBE, colour: 'red' }],
    ];
    for (const [field, body] of cases) {
      const r = await withToken(main.reply.token, 'POST', PROBES, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
      assert.equal(r.json.error.field, field, `${JSON.stringify(body)}: ${r.body}`);
    }
    // the limits themselves are accepted
    const edge = await withToken(main.reply.token, 'POST', PROBES, { function: 'Edge.case', sampling_rate: 1, duration: 1,
      conditions: Array.from({ length: 16 }, (_, i) => ({ field: `f${i}`, op: 'contains', value: `v${i}` })) });
    assert.equal(edge.status, 201, edge.body);
    const notJson = await jg.request('POST', PROBES, { body: '[1,2]', headers: { authorization: `Bearer ${main.reply.token}`, 'content-type': 'application/json' } });
    assert.equal(notJson.status, 400);
    const after = await withToken(main.reply.token, 'GET', PROBES);
    // the 1-second probe may already be gone; nothing else changed
    assert.deepEqual(after.json.probes.filter((x) => x.id !== edge.json.id).map((x) => x.id), before.json.probes.map((x) => x.id));
    const deployed = (await guardedEntries()).filter((e) => e.type === 'probe.deploy');
    assert.ok(!deployed.some((e) => e.data.params?.colour || e.data.params?.function === 'rm -rf /'), 'a refused body was recorded as deployed');
  });

  // ---- audit

  test('every guarded action is in the audit export with grant and jti, recorded before its result', async () => {
    const t = await newToken(main.grant.id);
    const jti = decode(t.token).payload.jti;
    const body = { function: 'Audit.me', capture_args: false, sampling_rate: 0.25, duration: 120, conditions: [{ field: 'currency', op: 'eq', value: 'EUR' }] };
    const c = await withToken(t.token, 'POST', PROBES, body);
    assert.equal(c.status, 201, c.body);
    assert.equal((await withToken(t.token, 'GET', PROBES)).status, 200);
    assert.equal((await withToken(t.token, 'DELETE', `${PROBES}/${c.json.id}`)).status, 200);

    const entries = await exportEntries();
    const mine = entries.filter((e) => e.data?.jti === jti);
    assert.deepEqual(mine.map((e) => e.type), ['token.issued', 'probe.deploy', 'probe.list', 'probe.delete']);
    for (const e of mine) {
      assert.equal(e.actor, 'user:alice');
      assert.equal(e.data.grant, main.grant.id);
    }
    const [, deploy, list, del] = mine;
    assert.deepEqual({ ...deploy.data, jti: 'x' }, {
      grant: main.grant.id, jti: 'x', service: SVC, capability: 'deploy-probe', capabilities: ['deploy-probe'],
      // audit entries hold integers only: the real number is written as its decimal text
      params: { ...body, sampling_rate: '0.25' },
      // the id the probe got, made before the guard's checks: the entry names what it created
      probe: c.json.id,
    });
    assert.equal(list.data.capability, 'deploy-probe');
    assert.equal(list.data.params ?? null, null);
    assert.deepEqual(del.data.params, { probe: c.json.id });
    // every delete says what it deleted
    assert.deepEqual(entries.filter((e) => e.type === 'probe.delete' && typeof e.data.params?.probe !== 'string'), []);
    // recorded before the probe existed: the entry's time is not after the probe's creation
    const createdAt = c.json.expires_at - c.json.duration;
    assert.ok(deploy.ts <= createdAt * 1000 + 999, `recorded at ${deploy.ts} ms, the probe created at ${createdAt} s`);
    assert.ok(deploy.seq < list.seq && list.seq < del.seq);

    // only tokens jitgate issued ever passed the guard
    const guarded = entries.filter((e) => e.type.startsWith('probe.'));
    assert.ok(guarded.length >= 10, `only ${guarded.length} guarded entries`);
    const strangers = guarded.filter((e) => !issued.includes(e.data.jti));
    assert.deepEqual(strangers, [], 'a guarded entry names a token jitgate did not issue in this run');
  });

  // ---- rotation (restarts the server)

  test('rotated key: the JWKS lists both, old tokens still verify, new tokens carry the new kid', async () => {
    const old = await newToken(main.grant.id);
    const oldKid = decode(old.token).header.kid;
    const r = runJitgate(['keys', 'rotate', '--kind', 'token', '-c', jg.configPath]);
    assert.equal(r.code, 0, r.stderr);
    // the running server signs with the key it loaded until it restarts
    assert.equal(decode((await issue(main.grant.id)).token).header.kid, oldKid);
    await jg.stop();
    jg.exited = null;
    await jg.start();

    const set = (await jg.request('GET', '/.well-known/jwks.json')).json;
    assert.equal(set.keys.length, 2);
    assert.ok(set.keys.every((k) => k.kid === thumbprint(k)));
    assert.ok(set.keys.some((k) => k.kid === oldKid));
    const fresh = await newToken(main.grant.id);
    const newKid = decode(fresh.token).header.kid;
    assert.notEqual(newKid, oldKid);
    assert.ok(set.keys.some((k) => k.kid === newKid));
    for (const tok of [old.token, fresh.token]) {
      assert.equal(verifyOffline(tok, set, { iss: jg.url, aud: SVC }), 'ok');
      const l = await withToken(tok, 'GET', PROBES);
      assert.equal(l.status, 200, l.body);
    }
    // the old JWKS does not know the new key
    assert.equal(verifyOffline(fresh.token, jwks, { iss: jg.url, aud: SVC }), 'unknown kid');
  });

  // ---- last: breaks this server's log for good

  test('an older, unrelated entry edited underneath (the rolling verifier): within ~3 s every guarded call is 503, /readyz fails', async () => {
    const t = await newToken(main.grant.id);
    assert.equal((await withToken(t.token, 'GET', PROBES)).status, 200);
    assert.equal((await jg.request('GET', '/readyz')).status, 200);
    const n = jg.db.count('probes');
    // entry 0: alice's first request, nothing to do with this token
    jg.db.tamperEntry(0, (text) => text.replaceAll('INC-4711', 'INC-4712'));
    assert.match(jg.db.entry(0).text, /INC-4712/);
    const t0 = Date.now();
    let r;
    for (;;) {
      r = await withToken(t.token, 'GET', PROBES);
      if (r.status !== 200 || Date.now() - t0 > 5000) break;
      await sleep(100);
    }
    assert.equal(r.status, 503, r.body);
    assert.ok(Date.now() - t0 <= 3500, `took ${Date.now() - t0} ms`);
    assert.match(r.json.error.message, /nothing was done/);
    for (const [m, p, b] of [['POST', PROBES, PROBE], ['DELETE', `${PROBES}/prb_x`], ['GET', PROBES]]) {
      const x = await withToken(t.token, m, p, b);
      assert.equal(x.status, 503, `${m}: ${x.body}`);
    }
    assert.equal(jg.db.count('probes'), n, 'a probe was stored after the log broke');
    const ready = await jg.request('GET', '/readyz');
    assert.equal(ready.status, 503, ready.body);
    assert.match(ready.json.error.message, /audit log does not verify/);
    assert.ok(jg.logLines().some((l) => /no longer verifies/.test(l.msg) && /entry 0/.test(l.why ?? '')), jg.stderr.slice(-2000));
  });
});

describe('a token whose anchor entry is edited underneath a running server', () => {
  let jg;
  const { probeGrant, issue, withToken } = actors(() => jg);
  before(async () => { jg = await startJitgate(); });
  after(() => cleanup(jg));

  test('the next guarded call is 503, nothing is acted upon, /readyz fails', async () => {
    const g = await probeGrant('30m');
    const t = await issue(g.id);
    const other = await issue(g.id);
    const p = await withToken(t.token, 'POST', PROBES, PROBE);
    assert.equal(p.status, 201, p.body); // the anchor is in the verified log now
    const count = () => jg.db.count('probes');
    assert.equal(count(), 1);
    assert.equal((await jg.request('GET', '/readyz')).status, 200);

    // one character of the token.issued entry at audit.seq
    jg.db.tamperEntry(t.audit.seq, (text) => text.replaceAll('"service":"payment-gateway"', '"service":"payment-gatewaz"'));
    assert.match(jg.db.entry(t.audit.seq).text, /token\.issued.*gatewaz|gatewaz.*token\.issued/);

    const r = await withToken(t.token, 'POST', PROBES, { ...PROBE, function: 'Never.deployed' });
    assert.equal(r.status, 503, r.body);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.match(r.json.error.message, /audit log does not verify; nothing was done/);
    assert.equal(count(), 1, 'a probe was created on a broken log');
    assert.equal(jg.db.count('probes', 'function = ?', ['Never.deployed']), 0);
    // fail closed for everyone, not only this token
    const x = await withToken(other.token, 'GET', PROBES);
    assert.equal(x.status, 503, x.body);
    const ready = await jg.request('GET', '/readyz');
    assert.equal(ready.status, 503, ready.body);
    assert.ok(jg.logLines().some((l) => /no longer verifies/.test(l.msg) && new RegExp(`entry ${t.audit.seq}: .*anchored`).test(l.why ?? '')), jg.stderr.slice(-2000));
    // and no guarded action was recorded after the break
    // the entries whose text holds "type":"probe. (matched as SQL LIKE would: ASCII case-insensitively)
    const after = jg.db.entries((e) => e.text.toLowerCase().includes('"type":"probe.')).length;
    assert.equal(after, 1, 'only the first deploy is recorded');
  });
});

describe('the newest entry edited underneath a running server', () => {
  let jg;
  const { probeGrant, issue, withToken } = actors(() => jg);
  before(async () => { jg = await startJitgate(); });
  after(() => cleanup(jg));

  // Verify-then-append: the batch that writes the next entry first re-verifies
  // every entry appended since the last verification, inside its transaction.
  test('the next audited action is refused before it is recorded or done', async () => {
    const g = await probeGrant('30m');
    const t = await issue(g.id);
    const first = await withToken(t.token, 'GET', PROBES);
    assert.equal(first.status, 200, first.body);
    const maxSeq = () => jg.db.rows('SELECT max(seq) AS m FROM audit_log')[0].m;
    const last = maxSeq();
    assert.match(jg.db.entry(last).text, /"type":"probe\.list"/);

    // edited after the background check (every second) has verified it too: the next append
    // still re-reads the newest entry, the one no later entry links to, when anything else may
    // have written since (once only the race with that check made this pass)
    await new Promise((ok) => setTimeout(ok, 1500));
    jg.db.tamperEntry(last, (text) => text.replaceAll('"probe.list"', '"probe.lisT"'));

    const r = await withToken(t.token, 'POST', PROBES, PROBE);
    assert.equal(r.status, 503, r.body);
    assert.match(r.json.error.message, /nothing was done/);
    assert.equal(jg.db.count('probes'), 0, 'a probe was created on a broken log');
    assert.equal(maxSeq(), last, 'an entry was appended after the edited one');
    assert.equal((await jg.request('GET', '/readyz')).status, 503);
    assert.ok(jg.logLines().some((l) => /no longer verifies/.test(l.msg) && new RegExp(`entry ${last}:`).test(l.why ?? '')), jg.stderr.slice(-2000));
  });
});
