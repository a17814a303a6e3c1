// Scheduled start (docs/api.md, "Scheduled start") against the real binary, the real store
// (SQLite, or PostgreSQL under `make e2e-pg`) and the real development identity provider.  The
// server's wall clock is moved forward with libfaketime (as faults.test.mjs does: an offset
// file re-read on every call, CLOCK_MONOTONIC real, so the sweeper keeps ticking every second);
// jumps stay within the provider's 10-minute token lifetime, so the same tokens keep working.
//
//   tokens refused before starts_at, the grant active at starts_at (grant.activated by the sweeper,
//     the window starts_at .. starts_at + duration), a start too far ahead or in the past refused
//   approval after starts_at: active at once, for its whole duration from the approval
//   revocation (approver) and cancellation (requester) before the start: it never starts
//   lost group before the start: not activated (grant.not_activated, revoked by system); a token
//     for an active grant is refused to a caller whose groups no longer qualify
//   an old access token (issued before a sign-in that lost the group) used after it: the groups
//     seen stay the newer ones, no token is issued with it, the scheduled grant does not start
//   approval after starts_at of a requester who lost the group: not activated either
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, Jitgate, BIN } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
const nowS = () => Math.floor(Date.now() / 1000);

// A server whose wall clock is the real one plus the offset written by setOffset(seconds).
async function fakedServer() {
  assert.ok(existsSync(FAKETIME_LIB), 'libfaketime is missing: deploy/install-deps.sh installs it');
  const owner = await startJitgate();
  await owner.stop();
  const offset = join(owner.dir, 'faketime');
  writeFileSync(offset, '+0\n');
  const env = { LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: offset, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_DONT_RESET: '1' };
  const jg = new Jitgate(owner.dir, owner.port, join(owner.dir, 'cert.pem'), owner.configPath);
  Object.assign(jg, { idp: owner.idp, tokens: owner.tokens, db: owner.db, telemetryDb: owner.telemetryDb });
  jg.start = function start() {
    this.proc = spawn(BIN, ['serve', '-c', this.configPath], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exitPromise = new Promise((ok) => this.proc.on('exit', (code, signal) => { this.exited = { code, signal }; ok(this.exited); }));
    return this.waitReady();
  };
  await jg.start();
  // cleanup(owner) stops this process, the provider and the store
  owner.proc = jg.proc;
  owner.exited = jg.exited;
  owner.exitPromise = jg.exitPromise;
  return { jg, owner, setOffset: (s) => writeFileSync(offset, `${s >= 0 ? '+' : ''}${s}\n`) };
}

function actors(jg) {
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : json(body));
  return {
    post,
    // alice asks for a probe (one approval by payments-leads) starting at startsAt
    probeAt: (startsAt, duration = '30m') => post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration, justification: INC, starts_at: startsAt }),
    approve: (id) => post('bob', `/v1/requests/${id}/approve`),
    issue: (id) => post('alice', `/v1/grants/${id}/token`),
    get: (id) => jg.as('alice', 'GET', `/v1/requests/${id}`),
    guarded: (token) => jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } }),
  };
}

const stateOf = (jg, id) => jg.db.rows('SELECT state FROM access_requests WHERE id = ?', [id])[0]?.state ?? '';

async function waitState(jg, id, want, ms = 5000) {
  const t0 = Date.now();
  while (stateOf(jg, id) !== want && Date.now() - t0 < ms) await sleep(100);
  return stateOf(jg, id);
}

function entriesOf(jg, type) {
  return jg.db.entries().map((e) => e.json).filter((e) => e.type === type);
}

// alice's grant active now (read-logs, to ask a token for) and her probe grant approved to start
// in 5 minutes: what a loss of her group is then tested against
async function activeAndScheduled(a) {
  const now = await a.post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'checking gateway errors' });
  assert.equal(now.json.state, 'active', now.body);
  const start = nowS() + 300;
  const req = await a.probeAt(start);
  assert.equal((await a.approve(req.json.id)).json.state, 'scheduled');
  return { now, start, req };
}

// A token asked for by a caller whose groups no longer qualify: refused, nothing issued.
function assertNoLongerQualifies(jg, refused) {
  assert.equal(refused.status, 403, refused.body);
  assert.match(refused.json.error.message, /no longer qualify/);
  assert.equal(entriesOf(jg, 'token.issued').length, 0);
}

// The clock past the start of scheduled grant id: revoked by the sweeper, never activated; the
// one grant.not_activated entry.
async function passStartNotActivated(jg, setOffset, start, id) {
  setOffset(start - nowS() + 1);
  assert.equal(await waitState(jg, id, 'revoked'), 'revoked');
  assert.equal(entriesOf(jg, 'grant.activated').length, 0);
  const not = entriesOf(jg, 'grant.not_activated');
  assert.equal(not.length, 1);
  return not[0];
}

describe('scheduled start (the server clock moved with libfaketime)', () => {
  test('tokens refused before starts_at; active at starts_at for its duration; bounds of starts_at', async () => {
    const { jg, owner, setOffset } = await fakedServer();
    try {
      const a = actors(jg);
      const start = nowS() + 300;
      // too far ahead for the policy (max_schedule_ahead: 7 days by default), in the past, unparsable
      const far = await a.probeAt(nowS() + 8 * 86400);
      assert.equal(far.status, 403, far.body);
      assert.match(far.json.error.message, /max_schedule_ahead/);
      const past = await a.probeAt(nowS() - 3600);
      assert.equal(past.status, 400, past.body);
      assert.equal((await a.probeAt('next tuesday')).status, 400);
      // RFC 3339 text is taken as well as Unix seconds
      const req = await a.probeAt(new Date(start * 1000).toISOString());
      assert.equal(req.status, 201, req.body);
      assert.equal(req.json.starts_at, start);
      assert.equal(req.json.state, 'pending');
      const ok = await a.approve(req.json.id);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.json.state, 'scheduled');
      assert.equal(ok.json.activated_at, undefined);
      const early = await a.issue(req.json.id);
      assert.equal(early.status, 409, early.body);
      assert.match(early.json.error.message, /not active/);
      const listed = await jg.as('alice', 'GET', '/v1/requests?mine=true&state=scheduled');
      assert.equal(listed.status, 200, listed.body);
      assert.deepEqual(listed.json.requests.map((r) => [r.id, r.starts_at]), [[req.json.id, start]]);
      await sleep(1500); // sweeper rounds before the start change nothing
      assert.equal(stateOf(jg, req.json.id), 'scheduled');
      assert.equal(entriesOf(jg, 'grant.activated').length, 0);

      setOffset(start - nowS() + 1); // the server's clock just past starts_at
      assert.equal(await waitState(jg, req.json.id, 'active'), 'active');
      const shown = await a.get(req.json.id);
      assert.equal(shown.json.activated_at, start);
      assert.equal(shown.json.expires_at, start + 1800);
      const activated = entriesOf(jg, 'grant.activated');
      assert.equal(activated.length, 1);
      assert.equal(activated[0].actor, 'system');
      assert.deepEqual(activated[0].data, { grant: req.json.id, service: SVC, activated_at: start, expires_at: start + 1800 });
      const tok = await a.issue(req.json.id);
      assert.equal(tok.status, 201, tok.body);
      assert.ok(tok.json.expires_at <= start + 1800);
      assert.equal((await a.guarded(tok.json.token)).status, 200);
      await sleep(1500); // started once
      assert.equal(entriesOf(jg, 'grant.activated').length, 1);
    } finally {
      await cleanup(owner);
    }
  });

  test('approval after starts_at: active at once, for its whole duration from the approval', async () => {
    const { jg, owner, setOffset } = await fakedServer();
    try {
      const a = actors(jg);
      const start = nowS() + 120;
      const req = await a.probeAt(start);
      assert.equal(req.status, 201, req.body);
      setOffset(240); // the start passed without an approval: the request still waits
      await sleep(1500);
      assert.equal(stateOf(jg, req.json.id), 'pending');
      const before = nowS() + 240;
      const ok = await a.approve(req.json.id);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.json.state, 'active');
      assert.ok(ok.json.activated_at >= before && ok.json.activated_at <= nowS() + 241, `activated_at ${ok.json.activated_at}`);
      assert.equal(ok.json.expires_at, ok.json.activated_at + 1800);
      const tok = await a.issue(req.json.id);
      assert.equal(tok.status, 201, tok.body);
      assert.equal((await a.guarded(tok.json.token)).status, 200);
      assert.equal(entriesOf(jg, 'grant.activated').length, 0); // activated by its approval
    } finally {
      await cleanup(owner);
    }
  });

  test('revocation and cancellation before the start: the grant never starts', async () => {
    const { jg, owner, setOffset } = await fakedServer();
    try {
      const a = actors(jg);
      const start = nowS() + 300;
      const r1 = await a.probeAt(start);
      const r2 = await a.probeAt(start);
      assert.equal((await a.approve(r1.json.id)).json.state, 'scheduled');
      assert.equal((await a.approve(r2.json.id)).json.state, 'scheduled');
      // someone without a say cannot revoke it (dave is no approver and not the requester)
      assert.equal((await a.post('dave', `/v1/grants/${r1.json.id}/revoke`, { reason: 'no' })).status, 404);
      const rev = await a.post('bob', `/v1/grants/${r1.json.id}/revoke`, { reason: 'the window moved' });
      assert.equal(rev.status, 200, rev.body);
      assert.equal(rev.json.state, 'revoked');
      const can = await a.post('alice', `/v1/requests/${r2.json.id}/cancel`);
      assert.equal(can.status, 200, can.body);
      assert.equal(can.json.state, 'cancelled');
      const revoked = entriesOf(jg, 'grant.revoked').at(-1);
      assert.equal(revoked.data.request, r1.json.id);
      assert.equal(revoked.data.was, 'scheduled');
      assert.equal(entriesOf(jg, 'request.cancelled').at(-1).data.was, 'scheduled');
      setOffset(start - nowS() + 1);
      await sleep(2500);
      assert.equal(stateOf(jg, r1.json.id), 'revoked');
      assert.equal(stateOf(jg, r2.json.id), 'cancelled');
      assert.equal(entriesOf(jg, 'grant.activated').length, 0);
      assert.equal((await a.issue(r1.json.id)).status, 409);
      assert.equal((await a.issue(r2.json.id)).status, 409);
    } finally {
      await cleanup(owner);
    }
  });

  test('lost group before the start: not activated; a token is refused to a caller who left the group', async () => {
    const { jg, owner, setOffset } = await fakedServer();
    try {
      const a = actors(jg);
      const { now, start, req } = await activeAndScheduled(a);
      // the directory moves alice out of payments-eng; her next authentication carries that
      await jg.idp.setGroups('alice', ['sales']);
      delete jg.tokens.alice;
      assertNoLongerQualifies(jg, await a.issue(now.json.id));
      const not = await passStartNotActivated(jg, setOffset, start, req.json.id);
      const row = jg.db.rows('SELECT ended_by, end_reason, activated_at FROM access_requests WHERE id = ?', [req.json.id])[0];
      assert.equal(row.ended_by, 'system');
      assert.match(row.end_reason, /no longer qualifies/);
      assert.equal(row.activated_at, null);
      assert.equal(not.actor, 'system');
      assert.equal(not.data.grant, req.json.id);
      assert.match(not.data.reason, /no longer qualifies/);
      // back in the group: a token again (the grant that was active all along)
      await jg.idp.setGroups('alice', ['payments-eng']);
      delete jg.tokens.alice;
      assert.equal((await a.issue(now.json.id)).status, 201);
    } finally {
      await cleanup(owner);
    }
  });

  test('an old token used after a newer sign-in that lost the group restores nothing', async () => {
    const { jg, owner, setOffset } = await fakedServer();
    try {
      const a = actors(jg);
      const { now, start, req } = await activeAndScheduled(a);
      const old = jg.tokens.alice; // issued while alice was in payments-eng, still valid
      await sleep(1100); // the newer token's iat is a later second
      await jg.idp.setGroups('alice', ['sales']);
      delete jg.tokens.alice;
      assert.equal((await a.get(req.json.id)).status, 200); // the newer authentication: sales
      const groupsSeen = () => jg.db.rows('SELECT groups FROM identity_groups WHERE subject = ?', ['alice'])[0]?.groups;
      assert.equal(groupsSeen(), '["sales"]');
      // the old token, used later (the server's clock a minute on): still the newer groups
      setOffset(60);
      const withOld = (method, path) => jg.request(method, path, { ...json({}), headers: { ...json({}).headers, authorization: `Bearer ${old}` } });
      assert.equal((await withOld('GET', `/v1/requests/${req.json.id}`)).status, 200);
      assert.equal(groupsSeen(), '["sales"]');
      assertNoLongerQualifies(jg, await withOld('POST', `/v1/grants/${now.json.id}/token`));
      await passStartNotActivated(jg, setOffset, start, req.json.id);
      assert.equal((await withOld('POST', `/v1/grants/${req.json.id}/token`)).status, 409);
    } finally {
      await cleanup(owner);
    }
  });

  test('approval after starts_at of a requester who lost the group: not activated', async () => {
    const { jg, owner, setOffset } = await fakedServer();
    try {
      const a = actors(jg);
      const start = nowS() + 120;
      const req = await a.probeAt(start);
      assert.equal(req.status, 201, req.body);
      await jg.idp.setGroups('alice', ['sales']);
      delete jg.tokens.alice;
      assert.equal((await a.get(req.json.id)).status, 200); // her newest authentication: sales
      setOffset(240);
      await sleep(1500);
      assert.equal(stateOf(jg, req.json.id), 'pending');
      const ok = await a.approve(req.json.id);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.json.state, 'revoked');
      assert.equal(ok.json.activated_at, undefined);
      const approved = entriesOf(jg, 'request.approved').at(-1);
      assert.equal(approved.data.activated, false);
      const not = entriesOf(jg, 'grant.not_activated');
      assert.equal(not.length, 1);
      assert.equal(not[0].actor, 'system');
      assert.equal(not[0].data.grant, req.json.id);
      assert.match(not[0].data.reason, /no longer qualifies/);
      assert.equal(entriesOf(jg, 'grant.activated').length, 0);
      assert.equal((await a.issue(req.json.id)).status, 409);
    } finally {
      await cleanup(owner);
    }
  });
});
