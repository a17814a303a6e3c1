// Extending a grant without interruption (docs/api.md, "Extending a grant"; issue 19): the real
// binary, its own OpenID provider, a real store (SQLite, or PostgreSQL with JG_E2E_DB=postgres)
// and a policy of its own, ext-lab:
//
//   read-logs     no approval, max_duration 1h, max_total_duration 2h
//   read-metrics  no approval, max_duration 1h (max_total_duration not set: no extension beyond 1h)
//   read-traces   one approval from payments-leads, max_duration 1h, max_total_duration 4h
//   break_glass   sre-oncall
//
//   alice payments-eng   bob payments-leads   carol payments-leads+privacy
//   dave contractors+payments-eng   frank sre-oncall   erin auditors
//
// Each step is checked in the reply, in the stored grant and in the audit export.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate } from './lib/harness.mjs';

const SVC = 'ext-lab';
const INC = 'INC-4711 payment retries failing in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const nowS = () => Math.floor(Date.now() / 1000);
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });

const LAB = `policy: ext-lab
services: [ext-lab]
rules:
  - capabilities: [read-logs]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    max_total_duration: 2h
    approval: none
  - capabilities: [read-metrics]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: none
  - capabilities: [read-traces]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    max_total_duration: 4h
    approval: {approvers: {groups: [payments-leads]}, count: 1}
break_glass:
  requesters: {groups: [sre-oncall]}
  max_duration: 1h
  justification: {pattern: "INC-[0-9]+"}
`;

describe('extending a grant', () => {
  let jg;
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : json(body));
  const get = (user, path) => jg.as(user, 'GET', path);
  const extend = (user, id, body) => post(user, `/v1/requests/${id}/extend`, { justification: INC, ...body });
  const withToken = (token, path) => jg.request('GET', path, { headers: { authorization: `Bearer ${token}` } });

  async function grant(capabilities, duration = '1h', approver = null, user = 'alice') {
    const r = await post(user, '/v1/requests', { service: SVC, capabilities, duration, justification: INC });
    assert.equal(r.status, 201, r.body);
    if (approver) {
      const a = await post(approver, `/v1/requests/${r.json.id}/approve`);
      assert.equal(a.status, 200, a.body);
      return a.json;
    }
    assert.equal(r.json.state, 'active');
    return r.json;
  }
  async function show(id, user = 'alice') {
    const r = await get(user, `/v1/requests/${id}`);
    assert.equal(r.status, 200, r.body);
    return r.json;
  }
  async function entries() {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    return r.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l));
  }
  const countExtensions = (grantId) => jg.db.count('access_requests', 'extends = ?', [grantId]);

  before(async () => { jg = await startJitgate({ copyPolicies: true, policyFiles: { 'ext-lab.yaml': LAB } }); });
  after(() => cleanup(jg));

  test('jitgate policy test knows extensions: input extension_total, expect max_total_duration', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jg-ext-policy-'));
    try {
      writeFileSync(join(dir, 'ext-lab.yaml'), LAB);
      const cases = (metricsMax) => `- name: within max_total_duration
  input: {user: alice, groups: [payments-eng], service: ext-lab, capabilities: [read-logs], duration: 30m, extension_total: 2h}
  expect: {decision: grant, max_total_duration: 2h}
- name: beyond it, max_total_duration defaulting to max_duration
  input: {user: alice, groups: [payments-eng], service: ext-lab, capabilities: [read-metrics], duration: 1s, extension_total: 1h1s}
  expect: {decision: deny, max_total_duration: ${metricsMax}, reason_contains: "max_total_duration 1h of ext-lab#rules[1]"}
`;
      writeFileSync(join(dir, 'ext-lab.test.yaml'), cases('1h'));
      let r = runJitgate(['policy', 'test', dir]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /2 passed, 0 failed/);
      writeFileSync(join(dir, 'ext-lab.test.yaml'), cases('2h'));
      r = runJitgate(['policy', 'test', dir]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /expected max_total_duration 2h, got 1h/);
      // a max_total_duration shorter than max_duration is refused by name and line
      writeFileSync(join(dir, 'ext-lab.yaml'), LAB.replace('max_total_duration: 2h', 'max_total_duration: 30m'));
      r = runJitgate(['policy', 'check', dir]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /ext-lab\.yaml:7: 'rules\[0\]\.max_total_duration' must not be shorter than max_duration/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('allowed by policy without approval: granted at once, the grant ends later (grant.extended)', async () => {
    const g = await grant(['read-logs']);
    assert.equal(g.extends, null);
    assert.deepEqual(g.extensions, []);
    assert.equal(g.activated_at, g.approved_at);
    const r = await extend('alice', g.id, { duration: '30m' });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.state, 'granted');
    assert.equal(r.json.extends, g.id);
    assert.equal(r.json.duration, 1800);
    assert.equal(r.json.service, SVC);
    assert.deepEqual(r.json.capabilities, ['read-logs']);
    assert.equal(r.json.decision.max_total_duration, 7200);
    assert.equal(r.json.expires_at, g.expires_at + 1800);
    const after1 = await show(g.id);
    assert.equal(after1.state, 'active');
    assert.equal(after1.expires_at, g.expires_at + 1800);
    assert.deepEqual(after1.extensions.map((e) => [e.id, e.state, e.duration]), [[r.json.id, 'granted', 1800]]);
    // a token issued now runs to at most the new end
    const t = await post('alice', `/v1/grants/${g.id}/token`);
    assert.equal(t.status, 201, t.body);
    assert.ok(t.json.expires_at <= after1.expires_at);

    const log = await entries();
    const asked = log.find((e) => e.type === 'grant.extension_requested' && e.data.request === r.json.id);
    assert.ok(asked, 'grant.extension_requested');
    assert.equal(asked.actor, 'user:alice');
    assert.equal(asked.data.grant, g.id);
    assert.equal(asked.data.duration, 1800);
    assert.equal(asked.data.total, 3600 + 1800);
    assert.equal(asked.data.state, 'granted');
    const moved = log.find((e) => e.type === 'grant.extended' && e.data.extension === r.json.id);
    assert.ok(moved, 'grant.extended');
    assert.deepEqual(moved.data, { grant: g.id, extension: r.json.id, previous_expires_at: g.expires_at, expires_at: g.expires_at + 1800 });
    assert.ok(moved.seq > asked.seq);
  });

  test('max_total_duration: a total beyond it is denied (403 with the decision, audited, nothing stored); up to it is granted', async () => {
    const g = await grant(['read-logs']);
    const over = await extend('alice', g.id, { duration: '1h1s' });
    assert.equal(over.status, 403, over.body);
    assert.equal(over.json.error.code, 'denied');
    assert.match(over.json.error.message, /max_total_duration 2h of ext-lab#rules\[0\]/);
    assert.equal(over.json.decision.decision, 'deny');
    assert.equal(countExtensions(g.id), 0);
    assert.equal((await show(g.id)).expires_at, g.expires_at);
    const denied = (await entries()).filter((e) => e.type === 'request.denied' && e.data.grant === g.id);
    assert.equal(denied.length, 1);
    assert.equal(denied[0].data.total, 7201);
    assert.equal(denied[0].data.duration, 3601);
    assert.equal(denied[0].actor, 'user:alice');

    const upTo = await extend('alice', g.id, { duration: 3600 });
    assert.equal(upTo.status, 201, upTo.body);
    assert.equal(upTo.json.state, 'granted');
    assert.equal((await show(g.id)).expires_at, g.expires_at + 3600);
    // and now it is at its total: one more second is too much
    const more = await extend('alice', g.id, { duration: 1 });
    assert.equal(more.status, 403, more.body);
  });

  test('max_total_duration defaults to max_duration: no extension beyond it unless a policy allows more', async () => {
    const full = await grant(['read-metrics'], '1h');
    const r = await extend('alice', full.id, { duration: 1 });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.decision.max_total_duration, 3600);
    assert.match(r.json.error.message, /max_total_duration 1h of ext-lab#rules\[1\]/);
    const half = await grant(['read-metrics'], '30m');
    const ok = await extend('alice', half.id, { duration: '30m' });
    assert.equal(ok.status, 201, ok.body);
    // a grant of several capabilities is bound by the smallest: read-logs allows 2h, read-metrics 1h
    const both = await grant(['read-logs', 'read-metrics'], '1h');
    const no = await extend('alice', both.id, { duration: '10m' });
    assert.equal(no.status, 403, no.body);
    assert.equal(no.json.decision.max_total_duration, 3600);
  });

  test('approvals required: pending until an eligible approver (never the requester) approves; one pending at most', async () => {
    const g = await grant(['read-traces'], '1h', 'bob');
    const r = await extend('alice', g.id, { duration: '1h' });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.state, 'pending');
    assert.equal(r.json.extends, g.id);
    assert.ok(r.json.pending_until <= g.expires_at, 'an extension waits at most until its grant ends');
    assert.equal(r.json.requirements.length, 1);
    assert.deepEqual(r.json.requirements[0].approvers.groups, ['payments-leads']);
    // until granted, the grant runs to its current end
    assert.equal((await show(g.id)).expires_at, g.expires_at);

    // one pending at most
    const second = await extend('alice', g.id, { duration: '10m' });
    assert.equal(second.status, 409, second.body);
    assert.match(second.json.error.message, new RegExp(`pending extension \\(${r.json.id}\\)`));
    assert.equal(countExtensions(g.id), 1);

    // approvers see it in their queue, marked as an extension of the grant
    const queue = await get('carol', '/v1/requests?awaiting=me');
    assert.equal(queue.status, 200, queue.body);
    const queued = queue.json.requests.find((q) => q.id === r.json.id);
    assert.ok(queued, 'the extension is in the approver\'s queue');
    assert.equal(queued.extends, g.id);

    // separation of duties: not the requester, not someone who is no approver
    const own = await post('alice', `/v1/requests/${r.json.id}/approve`);
    assert.equal(own.status, 403, own.body);
    const dave = await post('dave', `/v1/requests/${r.json.id}/approve`);
    assert.ok(dave.status === 403 || dave.status === 404, dave.body);
    assert.equal((await show(r.json.id)).state, 'pending');

    const ok = await post('carol', `/v1/requests/${r.json.id}/approve`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.state, 'granted');
    assert.equal(ok.json.expires_at, g.expires_at + 3600);
    const moved = await show(g.id);
    assert.equal(moved.expires_at, g.expires_at + 3600);
    assert.equal(moved.state, 'active');
    const log = await entries();
    const approved = log.find((e) => e.type === 'request.approved' && e.data.request === r.json.id);
    assert.ok(approved);
    assert.equal(approved.actor, 'user:carol');
    assert.equal(approved.data.grant, g.id);
    assert.equal(approved.data.granted, true);
    assert.equal(approved.data.activated, false);
    const ext = log.find((e) => e.type === 'grant.extended' && e.data.extension === r.json.id);
    assert.deepEqual(ext.data, { grant: g.id, extension: r.json.id, previous_expires_at: g.expires_at, expires_at: g.expires_at + 3600 });
    assert.equal(ext.actor, 'user:carol');
    assert.equal(ext.seq, approved.seq + 1, 'grant.extended is written with the last approval');

    // once decided, another may be asked; the requester may cancel it, an approver deny one
    const next = await extend('alice', g.id, { duration: '30m' });
    assert.equal(next.status, 201, next.body);
    const cancel = await post('alice', `/v1/requests/${next.json.id}/cancel`);
    assert.equal(cancel.status, 200, cancel.body);
    assert.equal(cancel.json.state, 'cancelled');
    const third = await extend('alice', g.id, { duration: '30m' });
    assert.equal(third.status, 201, third.body);
    const deny = await post('bob', `/v1/requests/${third.json.id}/deny`, { reason: 'enough' });
    assert.equal(deny.status, 200, deny.body);
    assert.equal(deny.json.state, 'denied');
    const final = await show(g.id);
    assert.equal(final.expires_at, g.expires_at + 3600);
    // oldest first (created in the same second, they may come in any order)
    assert.deepEqual(Object.fromEntries(final.extensions.map((e) => [e.id, e.state])),
      { [r.json.id]: 'granted', [next.json.id]: 'cancelled', [third.json.id]: 'denied' });
    const listed = await get('alice', '/v1/requests?mine=true&state=granted');
    assert.ok(listed.json.requests.some((q) => q.id === r.json.id && q.extends === g.id));
  });

  test('break-glass grants cannot be extended: 409, nothing stored', async () => {
    const r = await post('frank', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '30m', justification: INC, break_glass: true });
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.state, 'active');
    assert.equal(r.json.break_glass, true);
    const x = await extend('frank', r.json.id, { duration: '10m' });
    assert.equal(x.status, 409, x.body);
    assert.match(x.json.error.message, /break-glass grants cannot be extended/);
    assert.equal(countExtensions(r.json.id), 0);
  });

  test('refused when not active, not a grant, not the requester\'s, or malformed', async () => {
    // a pending request is no grant yet
    const p = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-traces'], duration: '1h', justification: INC });
    assert.equal(p.status, 201, p.body);
    let x = await extend('alice', p.json.id, { duration: '10m' });
    assert.equal(x.status, 409, x.body);
    assert.match(x.json.error.message, /the grant is pending, not active/);
    // a revoked grant
    const g = await grant(['read-logs']);
    assert.equal((await post('alice', `/v1/grants/${g.id}/revoke`, { reason: 'done' })).status, 200);
    x = await extend('alice', g.id, { duration: '10m' });
    assert.equal(x.status, 409, x.body);
    assert.match(x.json.error.message, /the grant is revoked, not active/);
    // an extension is not extended itself
    const g2 = await grant(['read-logs']);
    const e = await extend('alice', g2.id, { duration: '10m' });
    assert.equal(e.status, 201, e.body);
    x = await extend('alice', e.json.id, { duration: '10m' });
    assert.equal(x.status, 409, x.body);
    assert.match(x.json.error.message, /extension request/);
    // someone else's grant: 404 when they may not see it, 403 (recorded) when they may
    x = await extend('dave', g2.id, { duration: '10m' });
    assert.equal(x.status, 404, x.body);
    const t = await grant(['read-traces'], '1h', 'bob');
    x = await extend('bob', t.id, { duration: '10m' });
    assert.equal(x.status, 403, x.body);
    assert.ok((await entries()).some((en) => en.type === 'request.action_refused' && en.actor === 'user:bob' && en.data.action === 'extend' && en.data.request === t.id));
    // no such request
    x = await extend('alice', 'req_nope', { duration: '10m' });
    assert.equal(x.status, 404, x.body);
    // malformed bodies change nothing
    for (const body of [{ duration: 0 }, { duration: '31d' }, { duration: 'soon' }, { duration: '10m', justification: '' }, { duration: '10m', service: 'other' }]) {
      x = await post('alice', `/v1/requests/${t.id}/extend`, { justification: INC, ...body });
      assert.equal(x.status, 400, `${JSON.stringify(body)}: ${x.body}`);
    }
    assert.equal(countExtensions(t.id), 0);
  });

  test('a pending extension ends with its grant: revoked, or run out (the sweeper)', async () => {
    const g = await grant(['read-traces'], '1h', 'bob');
    const e = await extend('alice', g.id, { duration: '10m' });
    assert.equal(e.status, 201, e.body);
    assert.equal((await post('bob', `/v1/grants/${g.id}/revoke`, { reason: 'incident closed' })).status, 200);
    const gone = await show(e.json.id);
    assert.equal(gone.state, 'expired');
    const late = await post('carol', `/v1/requests/${e.json.id}/approve`);
    assert.equal(late.status, 409, late.body);
    const log = await entries();
    const revoked = log.find((en) => en.type === 'grant.revoked' && en.data.request === g.id);
    const expired = log.find((en) => en.type === 'request.expired' && en.data.request === e.json.id);
    assert.ok(revoked && expired);
    assert.deepEqual(expired.data, { request: e.json.id, was: 'pending', grant: g.id });
    // in the transaction of the grant's end: its end entry, its access receipt, the extension's expiry
    const receipt = log.find((en) => en.type === 'grant.receipt' && en.data.grant === g.id);
    assert.equal(receipt.seq, revoked.seq + 1, 'the receipt right after the grant\'s end');
    assert.equal(expired.seq, revoked.seq + 2, 'in the transaction of the grant\'s end');
    // the extension's entries name the grant but neither ask for nor approve it: the receipt, recomputed
    // from an export, still matches (docs/audit-format.md §9.2)
    assert.deepEqual(receipt.data.approvers, ['bob']);
    const dir = mkdtempSync(join(tmpdir(), 'jg-ext-receipt-'));
    try {
      const file = join(dir, 'all.jsonl');
      let r = runJitgate(['audit', 'export', '-c', jg.configPath, '-o', file]);
      assert.equal(r.code, 0, r.stderr);
      r = runJitgate(['keys', 'list', '-c', jg.configPath]);
      const key = /^checkpoint \d{4} \(active\) (\S+)$/m.exec(r.stdout)[1];
      r = runJitgate(['audit', 'receipt', file, g.id, '--key', key]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^MATCH: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('no interruption: a guarded call just before the old end, and one after it with a newly issued token, both succeed', async () => {
    const LEN = 12;
    const g = await grant(['read-traces'], LEN, 'bob');
    const control = await grant(['read-traces'], LEN, 'bob'); // not extended
    const lapsing = await grant(['read-traces'], LEN, 'bob'); // its extension is never approved
    const oldEnd = g.expires_at;
    const t1 = await post('alice', `/v1/grants/${g.id}/token`);
    assert.equal(t1.status, 201, t1.body);
    assert.ok(t1.json.expires_at <= oldEnd, 'a token never outlives the grant\'s end when issued');
    const e = await extend('alice', g.id, { duration: 120 });
    assert.equal(e.status, 201, e.body);
    const lapse = await extend('alice', lapsing.id, { duration: 120 });
    assert.equal(lapse.status, 201, lapse.body);
    assert.equal((await post('carol', `/v1/requests/${e.json.id}/approve`)).status, 200);
    assert.equal((await show(g.id)).expires_at, oldEnd + 120);

    const path = `/v1/services/${SVC}/traces`;
    await sleep(Math.max(0, (oldEnd - 3) * 1000 - Date.now()));
    assert.ok(nowS() < oldEnd);
    const before1 = await withToken(t1.json.token, path);
    assert.equal(before1.status, 200, `just before the old end: ${before1.body}`);

    await sleep(Math.max(0, (oldEnd + 2) * 1000 - Date.now()));
    assert.ok(nowS() > oldEnd);
    const t2 = await post('alice', `/v1/grants/${g.id}/token`);
    assert.equal(t2.status, 201, t2.body);
    assert.ok(t2.json.expires_at > oldEnd && t2.json.expires_at <= oldEnd + 120);
    const after1 = await withToken(t2.json.token, path);
    assert.equal(after1.status, 200, `after the old end, with a new token: ${after1.body}`);
    assert.equal((await show(g.id)).state, 'active');

    // the same without the extension: the grant is over, no token is issued
    const c = await post('alice', `/v1/grants/${control.id}/token`);
    assert.equal(c.status, 409, c.body);
    // and an extension still pending at its grant's end expired with it
    let st;
    for (let i = 0; i < 50 && (st = (await show(lapse.json.id)).state) === 'pending'; i++) await sleep(200);
    assert.equal(st, 'expired');
    assert.equal((await show(lapsing.id)).state, 'expired');
    const late = await post('bob', `/v1/requests/${lapse.json.id}/approve`);
    assert.equal(late.status, 409, late.body);
    const log = await entries();
    assert.ok(log.some((en) => en.type === 'request.expired' && en.data.request === lapse.json.id));
  });
});
