// The debugging pages across replicas (docs/web.md, "Debugging pages"; docs/operations.md, "Running
// several replicas"): two jitgate replicas on one PostgreSQL database, started as replicas.test.mjs
// starts them (harness startReplicas: one key_dir, one identity provider, one public URL).  A page
// keeps one capability token per (session, grant) in the database, sealed under the session-token
// key of key_dir (src/identity/session_grant.c).  What a user relies on: signed in on replica A, the
// logs page of her grant works on replica B with the same session cookie and reuses the token A
// minted (one token.issued, not two: B opened A's sealed row with the shared key), and the other way
// round; a revocation through A refuses the page on B at its next load, and the kept token is gone.
// PostgreSQL only: a SQLite file serves one process (tests/e2e/README.md).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startReplicas, postgresOnly } from './lib/harness.mjs';
import { driveLogin, CookieJar } from './lib/idp.mjs';

const SVC = 'payment-gateway';
const SESSION = '__Host-jitgate_session';
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });

postgresOnly(describe)('the debugging pages on two replicas of one database', () => {
  let set;
  let cookie; // alice's session cookie, from signing in on replica A
  const A = () => set.replicas[0];
  const B = () => set.replicas[1];

  const logsPage = (jg, grant) => jg.request('GET', `/debug/${SVC}/logs?grant=${grant}`,
    { headers: { cookie, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'navigate' } });
  const issued = (grant) => set.db.entries({ type: 'token.issued', where: (e) => e.json.data.grant === grant });
  const reads = (grant) => set.db.entries({ type: 'logs.read', where: (e) => e.json.data.grant === grant });
  const kept = (grant) => set.db.count('session_grant_tokens', 'grant_id = ?', [grant]);

  // alice asks for read-logs on SVC, granted at once by the policy; resolves the grant's id.
  async function activeGrant(jg, justification) {
    const r = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['read-logs'], duration: '1h', justification }));
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.state, 'active', r.body);
    return r.json.id;
  }

  // A page load that read: 200, the grant named, one more logs.read entry for it.
  async function loadReads(jg, grant) {
    const before_ = reads(grant).length;
    const page = await logsPage(jg, grant);
    assert.equal(page.status, 200, page.body.slice(0, 600));
    assert.match(page.body, new RegExp(`<code id="grant-id">${grant}</code>`));
    assert.equal(reads(grant).length, before_ + 1, 'the page did its audited read');
    return page;
  }

  before(async () => {
    set = await startReplicas(2);
    // alice signs in through replica A, at the real identity provider
    const jar = new CookieJar();
    const login = await A().request('GET', '/auth/login');
    assert.equal(login.status, 302, login.body);
    jar.store(`${A().url}/auth/login`, { headers: { getSetCookie: () => login.headers['set-cookie'] ?? [] } });
    const callback = new URL(await driveLogin(login.headers.location, 'alice'));
    const cb = await A().request('GET', callback.pathname + callback.search, { headers: { cookie: jar.header(callback.href) } });
    assert.equal(cb.status, 303, cb.body);
    cookie = cb.headers['set-cookie'].find((l) => l.startsWith(`${SESSION}=`)).split(';')[0];
    const me = await A().request('GET', '/v1/me', { headers: { cookie } });
    assert.equal(me.status, 200, me.body);
    assert.equal(me.json.authenticated_via, 'session');
  });
  after(async () => {
    await set?.close();
  });

  test('a token kept on A is reused on B; a revocation through A refuses the page on B and drops the token', async () => {
    const grant = await activeGrant(A(), 'INC-4711 kept token across replicas');
    await loadReads(A(), grant);
    assert.equal(issued(grant).length, 1, 'the first load minted one token');
    assert.equal(kept(grant), 1, 'and kept it');
    const sealed = set.db.rows('SELECT sealed FROM session_grant_tokens WHERE grant_id = ?', [grant])[0].sealed;

    await loadReads(B(), grant);
    await loadReads(B(), grant);
    assert.equal(issued(grant).length, 1, 'replica B minted a token of its own instead of opening the kept one');
    assert.equal(kept(grant), 1);
    assert.deepEqual(set.db.rows('SELECT sealed FROM session_grant_tokens WHERE grant_id = ?', [grant])[0].sealed, sealed,
      'the kept token was replaced');

    const rev = await A().as('alice', 'POST', `/v1/grants/${grant}/revoke`, json({ reason: 'fixed' }));
    assert.equal(rev.status, 200, rev.body);
    assert.equal(kept(grant), 0, 'the kept token outlived its grant');
    const readsBefore = reads(grant).length;
    const refused = await logsPage(B(), grant);
    assert.equal(refused.status, 403, refused.body.slice(0, 600));
    assert.match(refused.body, /id="no-capability"/);
    assert.match(refused.body, /Nothing was read/);
    assert.equal(reads(grant).length, readsBefore, 'a read after the revocation');
    assert.equal(issued(grant).length, 1, 'a token minted for a revoked grant');
    assert.equal(kept(grant), 0);
  });

  test('the other way round: a token minted on B is reused on A', async () => {
    const grant = await activeGrant(B(), 'INC-4711 kept token, minted on B');
    await loadReads(B(), grant);
    assert.equal(issued(grant).length, 1);
    assert.equal(kept(grant), 1);
    await loadReads(A(), grant);
    assert.equal(issued(grant).length, 1, 'replica A minted a token of its own instead of opening the kept one');
    assert.equal(kept(grant), 1);
  });
});
