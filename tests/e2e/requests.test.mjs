// The access-request lifecycle end to end: the real binary, its own real
// OpenID provider (bearer tokens for the development users), a real SQLite
// file and the example policy policies/payments.yaml (served from a copy, so
// the SIGHUP test may break and fix it).
//
//   alice payments-eng       bob payments-leads       carol payments-leads+privacy
//   grace privacy            dave contractors+payments-eng
//   erin auditors            frank sre-oncall         oscar jitgate-admins
//
// Every step is checked in the reply and, at the end, in the audit export,
// which must verify offline with `jitgate audit verify`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });

// What the audit export must hold at the end: [type, predicate on the entry, label].
const expected = [];
const expectAudit = (type, label, pred) => expected.push({ type, label, pred });
const forRequest = (id, extra = () => true) => (e) => e.data.request === id && extra(e);
// An action refused to a signed-in user for lack of rights: recorded as request.action_refused.
let refusals = 0;
const expectRefused = (user, action, id, reason, label) => {
  refusals++;
  expectAudit('request.action_refused', label, (e) => e.actor === `user:${user}` && e.data.action === action &&
    (typeof id === 'string' ? e.data.request === id && e.data.service === SVC : e.data.user === id.user) && reason.test(e.data.reason));
};

describe('access requests, end to end', () => {
  let jg;
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : json(body));
  const get = (user, path) => jg.as(user, 'GET', path);
  const create = (user, body) => post(user, '/v1/requests', { service: SVC, ...body });

  async function exportEntries() {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    const lines = r.body.trim().split('\n');
    return { text: r.body, entries: lines.slice(1, -1).map((l) => JSON.parse(l)) };
  }
  async function mine(user) {
    const r = await get(user, '/v1/requests?mine=true');
    assert.equal(r.status, 200, r.body);
    return r.json.requests.map((q) => `${q.id}:${q.state}`).sort();
  }
  const progress = (q) => q.requirements.map((x) => x.approved);

  // sod-lab: approvers by user and by group, with and without shared_approvers
  const SOD_LAB = `policy: sod-lab
services: [sod-lab]
rules:
  - capabilities: [read-logs]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: {approvers: {users: [bob, erin]}, count: 1}
  - capabilities: [read-traces]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: {approvers: {groups: [privacy]}, count: 1}
  - capabilities: [read-metrics]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: {approvers: {groups: [payments-leads]}, count: 1, shared_approvers: true}
  - capabilities: [deploy-probe]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: {approvers: {groups: [privacy], users: [oscar]}, count: 1, shared_approvers: true}
`;

  before(async () => { jg = await startJitgate({ copyPolicies: true, policyFiles: { 'sod-lab.yaml': SOD_LAB } }); });
  after(() => cleanup(jg));

  test('read-logs needs no approval: 201, active at once, expires_at = approved_at + duration', async () => {
    const r = await create('alice', { capabilities: ['read-logs'], duration: '1h', justification: 'checking gateway errors' });
    assert.equal(r.status, 201, r.body);
    const q = r.json;
    assert.equal(q.state, 'active');
    assert.equal(q.requester, 'alice');
    assert.equal(q.duration, 3600);
    assert.equal(q.decision.decision, 'grant');
    assert.deepEqual(q.decision.matched_rules, ['payments-debug#rules[0]']);
    assert.deepEqual(q.requirements, []);
    assert.equal(typeof q.approved_at, 'number');
    assert.equal(q.expires_at, q.approved_at + 3600);
    assert.ok(Math.abs(q.approved_at - Date.now() / 1000) < 30, 'approved_at is not now');
    const again = await get('alice', `/v1/requests/${q.id}`);
    assert.equal(again.status, 200);
    assert.equal(again.json.state, 'active');
    expectAudit('request.created', 'read-logs granted at once', forRequest(q.id, (e) => e.data.state === 'active' && e.actor === 'user:alice'));
  });

  test('deploy-probe: pending; the requester cannot approve (403); bob activates it; a further approval is 409', async () => {
    const r = await create('alice', { capabilities: ['deploy-probe'], duration: '30m', justification: INC });
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    assert.equal(r.json.state, 'pending');
    assert.equal(r.json.incident, 'INC-4711');
    assert.equal(r.json.approved_at, undefined);
    assert.equal(r.json.expires_at, undefined);
    assert.deepEqual(r.json.requirements.map((x) => [x.approvers.groups, x.count, x.approved]),
      [[['payments-leads', 'sre-leads'], 1, 0]]);

    const self = await post('alice', `/v1/requests/${id}/approve`);
    assert.equal(self.status, 403, self.body);
    assert.match(self.json.error.message, /your own request/);
    expectRefused('alice', 'approve', id, /your own request/, 'alice approves her own');

    const ok = await post('bob', `/v1/requests/${id}/approve`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.state, 'active');
    assert.deepEqual(progress(ok.json), [1]);
    assert.deepEqual(ok.json.approvals.map((a) => a.approver), ['bob']);
    assert.equal(ok.json.expires_at, ok.json.approved_at + 1800);

    const more = await post('carol', `/v1/requests/${id}/approve`);
    assert.equal(more.status, 409, more.body);
    assert.match(more.json.error.message, /active, not pending/);
    expectAudit('request.created', 'deploy-probe pending', forRequest(id, (e) => e.data.state === 'pending' && e.data.incident === 'INC-4711'));
    expectAudit('request.approved', 'bob activates deploy-probe', forRequest(id, (e) => e.actor === 'user:bob' && e.data.activated === true && e.data.expires_at === ok.json.expires_at));
  });

  test('read-pii needs two distinct privacy approvers; one person counts once', async () => {
    const r = await create('alice', { capabilities: ['read-pii'], duration: '20m', justification: 'customer 4711 reports a double charge' });
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    assert.equal(r.json.state, 'pending');

    // bob (payments-leads) is no approver of this request, so it is not visible to him: the
    // code answers 404, not 403 (access.h: "404: also when the caller may not see it").
    const bob = await post('bob', `/v1/requests/${id}/approve`);
    assert.equal(bob.status, 404, bob.body);
    assert.match(bob.json.error.message, /^no such request$/);
    expectRefused('bob', 'approve', id, /not visible/, 'bob approves a request he may not see');
    // erin (auditor) can see it but is no approver either: that is the 403.
    const erin = await post('erin', `/v1/requests/${id}/approve`);
    assert.equal(erin.status, 403, erin.body);
    assert.match(erin.json.error.message, /not an eligible approver/);
    expectRefused('erin', 'approve', id, /not an eligible approver/, 'erin is no approver');

    const c1 = await post('carol', `/v1/requests/${id}/approve`);
    assert.equal(c1.status, 200, c1.body);
    assert.equal(c1.json.state, 'pending');
    assert.deepEqual(progress(c1.json), [1]);

    const c2 = await post('carol', `/v1/requests/${id}/approve`);
    assert.equal(c2.status, 409, c2.body);
    assert.match(c2.json.error.message, /already approved/);
    const still = await get('alice', `/v1/requests/${id}`);
    assert.equal(still.json.state, 'pending');
    assert.deepEqual(progress(still.json), [1], "carol's second approval counted");

    const g = await post('grace', `/v1/requests/${id}/approve`);
    assert.equal(g.status, 200, g.body);
    assert.equal(g.json.state, 'active');
    assert.deepEqual(progress(g.json), [2]);
    assert.deepEqual(g.json.approvals.map((a) => a.approver).sort(), ['carol', 'grace']);
    expectAudit('request.approved', 'carol counts 1 for read-pii', forRequest(id, (e) => e.actor === 'user:carol' && e.data.activated === false));
    expectAudit('request.approved', 'grace completes read-pii', forRequest(id, (e) => e.actor === 'user:grace' && e.data.activated === true));
  });

  test('deploy-probe + read-pii stays pending until every requirement is met', async () => {
    // bob for the probe, then carol and grace for the PII
    let r = await create('alice', { capabilities: ['deploy-probe', 'read-pii'], duration: '30m', justification: INC });
    assert.equal(r.status, 201, r.body);
    let id = r.json.id;
    assert.deepEqual(r.json.requirements.map((x) => [x.count, x.approved]), [[1, 0], [2, 0]]);
    assert.equal(r.json.decision.max_duration, 1800, 'the smaller maximum of the two rules');
    let s = await post('bob', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'pending');
    assert.deepEqual(progress(s.json), [1, 0]);
    s = await post('grace', `/v1/requests/${id}/approve`);
    assert.equal(s.json.state, 'pending');
    assert.deepEqual(progress(s.json), [1, 1]);
    s = await post('carol', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'active');
    // carol is also a lead, but the probe requirement was met: she counted for the PII only
    assert.deepEqual(progress(s.json), [1, 2]);
    assert.deepEqual(s.json.approvals.filter((a) => a.approver === 'carol').map((a) => a.requirement), [1]);
    expectAudit('request.approved', 'carol counted only toward read-pii', forRequest(id, (e) => e.actor === 'user:carol' && e.data.activated === true && JSON.stringify(e.data.requirements_counted) === '[1]'));

  });

  // Separation of duties (issue 15, item 9).  These replace the end of the test above, which
  // asserted that one approval by carol (payments-leads and privacy) counted toward the probe's
  // lead requirement and a privacy one at once.
  test('carol alone cannot fill a lead and a privacy requirement: with grace the request stays pending', async () => {
    const r = await create('alice', { capabilities: ['read-pii', 'deploy-probe'], duration: '30m', justification: INC });
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    assert.deepEqual(r.json.requirements.map((x) => [x.approvers.groups, x.count, x.shared_approvers]),
      [[['payments-leads', 'sre-leads'], 1, false], [['privacy'], 2, false]]);
    let s = await post('carol', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'pending');
    assert.deepEqual(progress(s.json), [1, 0], 'one approval counted toward two requirements');
    assert.deepEqual(s.json.approvals.map((a) => [a.approver, a.requirement]), [['carol', 0]]);
    s = await post('carol', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 409, s.body);
    assert.match(s.json.error.message, /already approved/);
    // before: carol (lead + privacy) and grace (privacy) made it active - a lead and two privacy
    // officers asked for, two people gave
    s = await post('grace', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'pending', 'two people met three approvals');
    assert.equal(progress(s.json).reduce((a, b) => a + b, 0), 2);
    s = await get('alice', `/v1/requests/${id}`);
    assert.equal(s.json.state, 'pending');
    expectAudit('request.approved', 'carol counts toward one requirement', forRequest(id, (e) => e.actor === 'user:carol' && JSON.stringify(e.data.requirements_counted) === '[0]' && JSON.stringify(e.data.eligible_for) === '[0,1]' && e.data.activated === false));
    expectAudit('request.approved', 'grace leaves it pending', forRequest(id, (e) => e.actor === 'user:grace' && e.data.activated === false));
  });

  test('an earlier approval moves to make room: carol, then bob (a lead), then grace', async () => {
    const r = await create('alice', { capabilities: ['deploy-probe', 'read-pii'], duration: '30m', justification: INC });
    const id = r.json.id;
    let s = await post('carol', `/v1/requests/${id}/approve`);
    assert.deepEqual(progress(s.json), [1, 0]); // carol took the lead requirement
    // first come, first served would refuse bob: the lead requirement is met.  carol moves.
    s = await post('bob', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'pending');
    assert.deepEqual(progress(s.json), [1, 1]);
    assert.deepEqual(s.json.approvals.map((a) => [a.approver, a.requirement]).sort(), [['bob', 0], ['carol', 1]]);
    s = await post('grace', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'active');
    assert.deepEqual(progress(s.json), [1, 2]);
    expectAudit('request.approved', 'bob moves carol to privacy', forRequest(id, (e) => e.actor === 'user:bob' && JSON.stringify(e.data.requirements_counted) === '[0]' && JSON.stringify(e.data.assignment) === JSON.stringify([{ approver: 'carol', requirements: [1] }, { approver: 'bob', requirements: [0] }])));
    expectAudit('request.approved', 'grace activates lead + two privacy', forRequest(id, (e) => e.actor === 'user:grace' && e.data.activated === true));
  });

  test('an approval that would count for nothing is refused, and not awaited', async () => {
    // sod-lab: read-logs by bob or erin (1), read-traces by privacy (1)
    const r = await create('alice', { service: 'sod-lab', capabilities: ['read-logs', 'read-traces'], duration: '30m', justification: 'looking at the lab' });
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    let s = await post('bob', `/v1/requests/${id}/approve`);
    assert.deepEqual(progress(s.json), [1, 0]);
    const awaiting = async (user) => (await get(user, '/v1/requests?awaiting=me')).json.requests.map((q) => q.id);
    assert.ok(!(await awaiting('erin')).includes(id), 'erin is offered an approval that cannot count');
    assert.ok((await awaiting('grace')).includes(id));
    s = await post('erin', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 409, s.body);
    assert.match(s.json.error.message, /not needed/);
    s = await get('alice', `/v1/requests/${id}`);
    assert.deepEqual(s.json.approvals.map((a) => a.approver), ['bob'], 'the refused approval was kept');
    s = await post('grace', `/v1/requests/${id}/approve`);
    assert.equal(s.json.state, 'active');
  });

  test('shared_approvers: carol fills two requirements only when both rules share', async () => {
    // read-metrics (payments-leads) and deploy-probe (privacy) share; read-traces (privacy) does not
    let r = await create('alice', { service: 'sod-lab', capabilities: ['read-metrics', 'deploy-probe'], duration: '30m', justification: 'looking at the lab' });
    assert.deepEqual(r.json.requirements.map((x) => x.shared_approvers), [true, true]);
    let s = await post('carol', `/v1/requests/${r.json.id}/approve`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'active');
    assert.deepEqual(progress(s.json), [1, 1]);
    assert.deepEqual(s.json.approvals.map((a) => [a.approver, a.requirement]), [['carol', 0], ['carol', 1]]);

    r = await create('alice', { service: 'sod-lab', capabilities: ['read-traces', 'read-metrics'], duration: '30m', justification: 'looking at the lab' });
    assert.deepEqual(r.json.requirements.map((x) => x.shared_approvers), [false, true]);
    s = await post('carol', `/v1/requests/${r.json.id}/approve`);
    assert.equal(s.json.state, 'pending');
    assert.equal(progress(s.json).reduce((a, b) => a + b, 0), 1);
  });

  test('dave (contractor) is denied read-pii by the deny rule; nothing is stored', async () => {
    const before = await mine('dave');
    const r = await create('dave', { capabilities: ['read-pii'], duration: '10m', justification: 'customer 4711 reports a double charge' });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error.code, 'denied');
    assert.equal(r.json.decision.decision, 'deny');
    assert.deepEqual(r.json.decision.matched_rules, ['payments-debug#deny[0]']);
    assert.match(r.json.decision.reason, /denied by payments-debug#deny\[0\]: capability read-pii/);
    // payments-eng alone would have made it pending (alice's case above)
    const alice = await post('alice', '/v1/requests?dry_run=true', { service: SVC, capabilities: ['read-pii'], duration: '10m', justification: 'x' });
    assert.equal(alice.json.decision.decision, 'pending');
    // and dave still gets what the deny rule does not cover
    const logs = await post('dave', '/v1/requests?dry_run=true', { service: SVC, capabilities: ['read-logs'], duration: '10m', justification: 'x' });
    assert.equal(logs.json.decision.decision, 'grant');
    assert.deepEqual(await mine('dave'), before);
    expectAudit('request.denied', 'dave denied by the deny rule', (e) => e.actor === 'user:dave' && e.data.decision?.matched_rules?.[0] === 'payments-debug#deny[0]');
  });

  test('break-glass: active at once, flagged, in the review queue until reviewed once, never by the requester', async () => {
    // the example break-glass covers no personal data and needs the incident's id (issue 15,
    // item 9; this test broke the glass for read-pii before)
    const pii = await create('frank', { capabilities: ['read-pii'], duration: '30m', justification: 'gateway down, paging says INC-9001', break_glass: true });
    assert.equal(pii.status, 403, pii.body);
    assert.match(pii.json.decision.reason, /break-glass not allowed for capability read-pii/);
    const noId = await create('frank', { capabilities: ['deploy-probe'], duration: '30m', justification: 'gateway down, nobody answers', break_glass: true });
    assert.equal(noId.status, 403, noId.body);
    assert.match(noId.json.decision.reason, /justification does not satisfy payments-debug#break_glass/);
    const r = await create('frank', { capabilities: ['deploy-probe'], duration: '30m', justification: 'gateway down, paging says INC-9001', break_glass: true });
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    assert.equal(r.json.state, 'active');
    assert.equal(r.json.break_glass, true);
    assert.equal(r.json.decision.break_glass, true);
    assert.deepEqual(r.json.decision.matched_rules, ['payments-debug#break_glass']);
    assert.equal(r.json.review, null);
    assert.equal(r.json.expires_at, r.json.approved_at + 1800);

    const queue = async (user) => (await get(user, '/v1/requests?review=pending')).json.requests.map((q) => q.id);
    assert.ok((await queue('bob')).includes(id), 'not in bob\'s review queue');
    assert.ok(!(await queue('dave')).includes(id), 'dave (no approver) sees the review queue');

    const own = await post('frank', `/v1/requests/${id}/review`, { note: 'all fine' });
    assert.equal(own.status, 403, own.body);
    assert.match(own.json.error.message, /your own/);
    expectRefused('frank', 'review', id, /your own break-glass/, 'frank reviews his own break-glass');
    const stranger = await post('dave', `/v1/requests/${id}/review`, { note: 'x' });
    assert.equal(stranger.status, 404, stranger.body);
    expectRefused('dave', 'review', id, /not visible/, 'dave reviews what he may not see');

    const rv = await post('bob', `/v1/requests/${id}/review`, { note: 'checked the incident, justified' });
    assert.equal(rv.status, 200, rv.body);
    assert.deepEqual({ by: rv.json.review.by, note: rv.json.review.note }, { by: 'user:bob', note: 'checked the incident, justified' });
    assert.ok(!(await queue('bob')).includes(id), 'still in the queue after review');
    assert.ok(!(await queue('grace')).includes(id));

    const again = await post('grace', `/v1/requests/${id}/review`, { note: 'me too' });
    assert.equal(again.status, 409, again.body);
    assert.match(again.json.error.message, /already reviewed by user:bob/);
    expectAudit('request.created', 'frank break-glass', forRequest(id, (e) => e.data.break_glass === true && e.data.state === 'active'));
    expectAudit('grant.reviewed', 'bob reviews break-glass', forRequest(id, (e) => e.actor === 'user:bob' && e.data.note === 'checked the incident, justified'));
  });

  test('a 2-second grant expires on its own', async () => {
    const r = await create('alice', { capabilities: ['read-metrics'], duration: 2, justification: 'a quick look' });
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    assert.equal(r.json.state, 'active');
    assert.equal(r.json.expires_at, r.json.approved_at + 2);
    const t0 = Date.now();
    let q;
    for (;;) {
      q = (await get('alice', `/v1/requests/${id}`)).json;
      if (q.state !== 'active' || Date.now() - t0 > 6000) break;
      await sleep(200);
    }
    assert.equal(q.state, 'expired', JSON.stringify(q));
    assert.ok(Date.now() - t0 <= 4500, `took ${Date.now() - t0} ms`);
    assert.ok(q.ended_at >= q.expires_at, 'ended before its time');
    assert.equal(q.ended_by, 'system');
    assert.match(q.end_reason, /time ran out/);
    expectAudit('grant.expired', '2 s grant expired', forRequest(id, (e) => e.actor === 'system' && e.data.was === 'active'));
  });

  test('revocation is immediate; again is 409; a stranger gets 404', async () => {
    const r = await create('alice', { capabilities: ['read-traces'], duration: '1h', justification: 'trace a slow checkout' });
    const id = r.json.id;
    assert.equal(r.json.state, 'active');
    // dave cannot see alice's grant: 404 (not 403), the same as an id that does not exist
    const stranger = await post('dave', `/v1/grants/${id}/revoke`, { reason: 'mine now' });
    assert.equal(stranger.status, 404, stranger.body);
    expectRefused('dave', 'revoke', id, /not visible/, "dave revokes alice's grant");
    const none = await post('alice', '/v1/grants/req_doesnotexist/revoke', {});
    assert.equal(none.status, 404);
    const rv = await post('alice', `/v1/grants/${id}/revoke`, { reason: 'done early' });
    assert.equal(rv.status, 200, rv.body);
    assert.equal(rv.json.state, 'revoked');
    assert.equal(rv.json.ended_by, 'user:alice');
    assert.equal(rv.json.end_reason, 'done early');
    assert.equal((await get('alice', `/v1/requests/${id}`)).json.state, 'revoked');
    const again = await post('alice', `/v1/grants/${id}/revoke`, {});
    assert.equal(again.status, 409, again.body);
    expectAudit('grant.revoked', 'alice revokes read-traces', forRequest(id, (e) => e.actor === 'user:alice' && e.data.reason === 'done early'));
  });

  test('deny needs a reason; cancel is the requester\'s only', async () => {
    let r = await create('alice', { capabilities: ['deploy-probe'], duration: '15m', justification: INC });
    let id = r.json.id;
    let s = await post('bob', `/v1/requests/${id}/deny`, {});
    assert.equal(s.status, 400, s.body);
    assert.match(s.json.error.message, /'reason' is required/);
    s = await post('bob', `/v1/requests/${id}/deny`);
    assert.equal(s.status, 400, 'deny without a body');
    s = await post('alice', `/v1/requests/${id}/deny`, { reason: 'never mind' });
    assert.equal(s.status, 403, 'the requester denied her own');
    expectRefused('alice', 'deny', id, /your own request/, 'alice denies her own');
    s = await post('bob', `/v1/requests/${id}/deny`, { reason: 'no probes during the freeze' });
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'denied');
    assert.equal(s.json.end_reason, 'no probes during the freeze');
    s = await post('carol', `/v1/requests/${id}/approve`);
    assert.equal(s.status, 409, 'a denied request was approved');
    expectAudit('request.denied', 'bob denies with a reason', forRequest(id, (e) => e.actor === 'user:bob' && e.data.reason === 'no probes during the freeze'));

    r = await create('alice', { capabilities: ['deploy-probe'], duration: '15m', justification: INC });
    id = r.json.id;
    s = await post('bob', `/v1/requests/${id}/cancel`);
    assert.equal(s.status, 403, s.body);
    assert.match(s.json.error.message, /only the requester/);
    expectRefused('bob', 'cancel', id, /only the requester/, "bob cancels alice's request");
    s = await post('dave', `/v1/requests/${id}/cancel`);
    assert.equal(s.status, 404, s.body);
    expectRefused('dave', 'cancel', id, /not visible/, 'dave cancels what he may not see');
    s = await post('oscar', `/v1/requests/${id}/cancel`);
    assert.equal(s.status, 403, 'an admin cancelled someone else\'s request');
    expectRefused('oscar', 'cancel', id, /only the requester/, "oscar (admin) cancels alice's request");
    s = await post('alice', `/v1/requests/${id}/cancel`);
    assert.equal(s.status, 200, s.body);
    assert.equal(s.json.state, 'cancelled');
    s = await post('alice', `/v1/requests/${id}/cancel`);
    assert.equal(s.status, 409);
    expectAudit('request.cancelled', 'alice cancels', forRequest(id, (e) => e.actor === 'user:alice'));
  });

  test('concurrent approvals of one request make one transition (10 rounds)', async () => {
    const ids = [];
    for (let round = 0; round < 10; round++) {
      const r = await create('alice', { capabilities: ['read-pii'], duration: '10m', justification: `round ${round}: customer data check` });
      assert.equal(r.status, 201, r.body);
      const id = r.json.id;
      ids.push(id);
      // carol twice and grace, all at once: two count, carol's duplicate is a 409
      const replies = await Promise.all([
        post('carol', `/v1/requests/${id}/approve`),
        post('grace', `/v1/requests/${id}/approve`),
        post('carol', `/v1/requests/${id}/approve`),
      ]);
      const statuses = replies.map((x) => x.status);
      assert.deepEqual([...statuses].sort(), [200, 200, 409], `round ${round}: ${replies.map((x) => x.body).join('\n')}`);
      assert.equal(replies.filter((x) => x.status === 200 && x.json.state === 'active').length, 1, `round ${round}: not exactly one reply saw the activation`);
      const q = (await get('alice', `/v1/requests/${id}`)).json;
      assert.equal(q.state, 'active');
      assert.equal(q.approvals.length, 2);
      assert.deepEqual(q.approvals.map((a) => a.approver).sort(), ['carol', 'grace']);
      assert.equal(q.expires_at, q.approved_at + 600);
    }
    const { entries } = await exportEntries();
    for (const id of ids) {
      const approved = entries.filter((e) => e.type === 'request.approved' && e.data.request === id);
      assert.equal(approved.length, 2, `${id}: ${approved.length} approvals audited`);
      assert.equal(approved.filter((e) => e.data.activated === true).length, 1, `${id}: not exactly one activation`);
    }
  });

  test('bad input is refused with a clear message; nothing stored; 400s leave request.refused', async () => {
    const before = await mine('alice');
    const good = { service: SVC, capabilities: ['read-logs'], duration: '10m', justification: 'looking at logs' };
    const raw = (body, ctype) => jg.as('alice', 'POST', '/v1/requests', { body, headers: { 'content-type': ctype } });

    let r = await raw('{"service": "payment-gateway",', 'application/json');
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.code, 'malformed_json');
    r = await raw(JSON.stringify(good), 'text/plain');
    assert.equal(r.status, 415, r.body);
    assert.equal(r.json.error.code, 'unsupported_media_type');

    const cases = [
      ['unknown field', { ...good, colour: 'red' }, /unknown field 'colour'/],
      ['unknown capability', { ...good, capabilities: ['read-logs', 'read-secrets'] }, /unknown capability 'read-secrets'/],
      ['unknown service', { ...good, service: 'billing-api' }, /unknown service 'billing-api'/],
      ['missing justification', { service: SVC, capabilities: ['read-logs'], duration: '10m' }, /'justification' is required/],
      ['junk duration', { ...good, duration: 'soon' }, /'duration'/],
      ['negative duration', { ...good, duration: -5 }, /'duration' must be between/],
      // a name cut inside a UTF-8 sequence once made the reply a 500 and the audit entry empty
      ['non-ASCII capability', { ...good, capabilities: ['a' + '\u00e9'.repeat(40)] }, /unknown capability 'a\?{60,}\.\.\.'/],
    ];
    for (const [name, body, why] of cases) {
      r = await post('alice', '/v1/requests', body);
      assert.equal(r.status, 400, `${name}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request', name);
      assert.match(r.json.error.message, why, name);
      expectAudit('request.refused', `refusal: ${name}`, (e) => e.actor === 'user:alice' && why.test(e.data.reason));
    }
    // too long for the policy: a policy denial (403) naming the rule, not a 400
    r = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '2h', justification: INC });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.decision.decision, 'deny');
    assert.match(r.json.error.message, /duration 2h exceeds the maximum 1h of payments-debug#rules\[1\]/);
    expectAudit('request.denied', 'deploy-probe 2h denied', (e) => e.actor === 'user:alice' && /exceeds the maximum 1h/.test(e.data.decision?.reason ?? ''));
    // a justification the rule does not accept: also a policy denial
    r = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '10m', justification: 'probe please, it is broken' });
    assert.equal(r.status, 403, r.body);
    assert.match(r.json.error.message, /must match the pattern INC-\[0-9\]\+/);

    assert.deepEqual(await mine('alice'), before, 'a refused request was stored');
    // malformed JSON and a wrong media type are refused by the HTTP layer, before the
    // lifecycle: they leave no request.refused entry (checked in the last test).
  });

  test('dry_run returns the decision and stores nothing, not even an audit entry', async () => {
    const before = await mine('alice');
    const a = await exportEntries();
    const r = await post('alice', '/v1/requests?dry_run=true', { service: SVC, capabilities: ['deploy-probe', 'read-pii'], duration: '30m', justification: INC });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.decision.decision, 'pending');
    assert.equal(r.json.decision.requirements.length, 2);
    assert.equal(r.json.decision.incident, 'INC-4711');
    const denied = await post('dave', '/v1/requests?dry_run=true', { service: SVC, capabilities: ['read-pii'], duration: '30m', justification: 'x' });
    assert.equal(denied.status, 200, denied.body);
    assert.equal(denied.json.decision.decision, 'deny');
    const bad = await post('alice', '/v1/requests?dry_run=maybe', { service: SVC });
    assert.equal(bad.status, 400);
    assert.deepEqual(await mine('alice'), before);
    const b = await exportEntries();
    assert.equal(b.entries.length, a.entries.length + 1, 'dry runs appended to the log');
    assert.equal(b.entries.at(-1).type, 'audit.exported');
  });

  test('off-boarding revokes every active grant and cancels every pending request (admins only)', async () => {
    const act = await create('alice', { capabilities: ['read-logs'], duration: '1h', justification: 'before leaving' });
    const pend = await create('alice', { capabilities: ['deploy-probe'], duration: '15m', justification: INC });
    const other = await create('dave', { capabilities: ['read-logs'], duration: '1h', justification: 'dave stays' });
    assert.equal(other.json.state, 'active');
    const list = (await get('alice', '/v1/requests?mine=true')).json.requests;
    let nActive = list.filter((q) => q.state === 'active').length;
    const nPending = list.filter((q) => q.state === 'pending').length;
    assert.ok(nActive >= 1 && nPending >= 1 && list.length < 200);
    // more than one batch (the code once stopped after 256 and still answered 200)
    const BULK = 270;
    for (let i = 0; i < BULK; i += 15) {
      const rs = await Promise.all(Array.from({ length: 15 }, () => create('alice', { capabilities: ['read-metrics'], duration: '1h', justification: 'bulk' })));
      assert.ok(rs.every((x) => x.status === 201));
    }
    nActive += BULK;

    for (const who of ['bob', 'erin', 'alice']) {
      const no = await post(who, '/v1/users/alice/revoke');
      assert.equal(no.status, 403, `${who}: ${no.body}`);
      expectRefused(who, 'offboard', { user: 'alice' }, /needs admin rights/, `${who} off-boards alice`);
    }
    assert.deepEqual((await get('alice', `/v1/requests/${act.json.id}`)).json.state, 'active');
    // a "user" typed into the URL that names no requester is no identity: it is recorded as the
    // keyed marker of the whole text, never in clear (it may be anyone's personal data)
    for (const [typed, kind] of [['bob.smith@example.com +14155550132', 'field'], ['zoe.q@example.com', 'email'], ['Zoë Quinn', 'field']]) {
      const no = await post('grace', `/v1/users/${encodeURIComponent(typed)}/revoke`);
      assert.equal(no.status, 403, no.body);
      refusals++;
      expectAudit('request.action_refused', `grace off-boards ${typed}`, (e) => e.actor === 'user:grace' && e.data.action === 'offboard' &&
        new RegExp(`^\\[REDACTED:${kind}:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]{22}\\]$`).test(e.data.user));
    }
    const { text: afterTyped } = await exportEntries();
    for (const clear of ['bob.smith', '4155550132', 'zoe.q@', 'Zoë', 'Zo\\u00eb']) assert.ok(!afterTyped.includes(clear), `the export holds ${clear} in clear`);

    // a user that is no UTF-8 text names no one: 400, and no off-boarding is recorded
    const entriesBefore = (await exportEntries()).entries.length;
    for (const bad of ['%FF', 'alice%C0%80', '%ED%A0%80']) {
      const no = await post('oscar', `/v1/users/${bad}/revoke`);
      assert.equal(no.status, 400, `${bad}: ${no.body}`);
      assert.equal(no.json.error.code, 'bad_request');
      assert.match(no.json.error.message, /UTF-8/);
    }
    const written = (await exportEntries()).entries.slice(entriesBefore);
    assert.deepEqual(written.filter((e) => e.type !== 'audit.exported').map((e) => e.type), [], 'a refused off-boarding wrote entries');

    const r = await post('oscar', '/v1/users/alice/revoke');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { user: 'alice', revoked: nActive, cancelled: nPending });
    for (const state of ['active', 'pending']) {
      const left = (await get('alice', `/v1/requests?mine=true&state=${state}`)).json.requests;
      assert.equal(left.length, 0, `${left.length} ${state} left after off-boarding`);
    }
    assert.equal((await get('alice', `/v1/requests/${act.json.id}`)).json.state, 'revoked');
    const p = (await get('alice', `/v1/requests/${pend.json.id}`)).json;
    assert.equal(p.state, 'cancelled');
    assert.equal(p.ended_by, 'user:oscar');
    assert.equal((await get('dave', `/v1/requests/${other.json.id}`)).json.state, 'active', 'someone else was off-boarded too');
    expectAudit('grant.revoked', 'off-boarding revokes', forRequest(act.json.id, (e) => e.actor === 'user:oscar' && e.data.user === 'alice'));
    expectAudit('request.cancelled', 'off-boarding cancels', forRequest(pend.json.id, (e) => e.actor === 'user:oscar'));
  });

  test('SIGHUP: a broken policy dir keeps the old policies; a fixed one is reloaded', async () => {
    const file = join(jg.policyDir, 'payments.yaml');
    const original = readFileSync(file, 'utf8');
    const threeHours = { service: SVC, capabilities: ['read-logs'], duration: '3h', justification: 'long investigation' };
    const first = await post('alice', '/v1/requests?dry_run=true', threeHours);
    assert.equal(first.json.decision.decision, 'grant');
    const oldSha = first.json.decision.policy_sha256;

    const hup = async (msg) => {
      const seen = jg.logLines().filter((l) => l.msg === msg).length;
      jg.proc.kill('SIGHUP');
      const until = Date.now() + 5000;
      while (jg.logLines().filter((l) => l.msg === msg).length === seen) {
        assert.ok(Date.now() < until, `no "${msg}" in the log:\n${jg.stderr.slice(-2000)}`);
        await sleep(50);
      }
    };
    const auditOf = async (type) => {
      for (let i = 0; i < 40; i++) { // the refusal is logged just before it is audited
        const hit = (await exportEntries()).entries.filter((e) => e.type === type);
        if (hit.length) return hit;
        await sleep(50);
      }
      assert.fail(`no ${type} in the audit log`);
    };

    writeFileSync(file, original + 'bogus_key: true\n');
    await hup('policies refused');
    const refused = await auditOf('policy.reload_refused');
    assert.equal(refused.at(-1).data.kept_sha256, oldSha);
    const still = await post('alice', '/v1/requests?dry_run=true', threeHours);
    assert.equal(still.json.decision.decision, 'grant', 'a broken set was put in force');
    assert.equal(still.json.decision.policy_sha256, oldSha);
    const probe = await post('alice', '/v1/requests?dry_run=true', { service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC });
    assert.equal(probe.json.decision.decision, 'pending');

    // fixed, and reads now last at most 2h
    const fixed = original.replace(/max_duration: 4h/, 'max_duration: 2h');
    assert.notEqual(fixed, original);
    writeFileSync(file, fixed);
    const sha = (b) => createHash('sha256').update(b).digest('hex');
    const names = readdirSync(jg.policyDir).filter((n) => n.endsWith('.yaml') && !n.endsWith('.test.yaml') && !n.startsWith('.')).sort();
    const newSha = sha(names.map((n) => `${sha(readFileSync(join(jg.policyDir, n)))}  ${n}\n`).join(''));
    await hup('policies reloaded');
    const reloaded = (await auditOf('policy.reloaded')).at(-1);
    assert.equal(reloaded.data.previous_sha256, oldSha);
    assert.equal(reloaded.data.sha256, newSha);
    const now = await post('alice', '/v1/requests?dry_run=true', threeHours);
    assert.equal(now.json.decision.decision, 'deny');
    assert.match(now.json.decision.reason, /exceeds the maximum 2h/);
    assert.equal(now.json.decision.policy_sha256, newSha);
  });

  test('every step is in the audit export, and the export verifies offline', async () => {
    const { text, entries } = await exportEntries();
    assert.ok(expected.length >= 24, `only ${expected.length} expectations were registered`);
    const missing = expected.filter((x) => !entries.some((e) => e.type === x.type && x.pred(e)));
    assert.deepEqual(missing.map((x) => `${x.type}: ${x.label}`), []);
    // request.refused is a malformed create, nothing else: the HTTP layer's refusals (malformed
    // JSON, 415) and dry runs are not lifecycle steps
    assert.equal(entries.filter((e) => e.type === 'request.refused').length, 7);
    assert.equal(entries.filter((e) => e.type === 'request.refused' && /malformed|media/i.test(e.data.reason)).length, 0);
    // a refused action is request.action_refused, once per refusal above (within every budget);
    // conflicts (409), bad input (400) and ids of no request are not recorded
    assert.equal(entries.filter((e) => e.type === 'request.action_refused').length, refusals);
    assert.ok(refusals >= 13, `only ${refusals} refusals were registered`);
    assert.ok(entries.filter((e) => e.type === 'request.action_refused').every((e) => !/doesnotexist/.test(JSON.stringify(e.data))));

    const keyFile = join(jg.dir, 'checkpoint.pub');
    const k = runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', jg.configPath]);
    assert.equal(k.code, 0, k.stderr);
    writeFileSync(keyFile, k.stdout);
    const exportFile = join(jg.dir, 'requests-export.jsonl');
    writeFileSync(exportFile, text);
    const v = runJitgate(['audit', 'verify', exportFile, '--key', keyFile]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^VALID/);
  });
});

// Refused actions are evidence, but one identity cannot flood the log with them: at most
// requests.refused_actions_recorded per window, the rest counted and summed up once the window
// is over (here 3 per 2 seconds).
describe('refused actions: bounded per identity, the rest summed up', () => {
  let jg;
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : json(body));
  async function entries() {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    return r.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l));
  }
  const of = (list, type, user) => list.filter((e) => e.type === type && e.actor === `user:${user}`);

  before(async () => {
    jg = await startJitgate({ extraConfig: 'requests:\n  refused_actions_recorded: 3\n  refused_actions_window_seconds: 2\n' });
  });
  after(() => cleanup(jg));

  test('3 recorded per window, the rest counted; the sweeper writes the summary; others are not affected', async () => {
    const r = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC });
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    // alice: 5 self-approvals and 2 self-denials, each refused the same as always
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) assert.equal((await post('alice', `/v1/requests/${id}/approve`)).status, 403);
    for (let i = 0; i < 2; i++) assert.equal((await post('alice', `/v1/requests/${id}/deny`, { reason: 'mine' })).status, 403);
    // bob, meanwhile, has a budget of his own
    for (let i = 0; i < 2; i++) assert.equal((await post('bob', `/v1/requests/${id}/cancel`)).status, 403);
    assert.ok(Date.now() - t0 < 1800, 'too slow for a 2-second window');
    let list = await entries();
    assert.deepEqual(of(list, 'request.action_refused', 'alice').map((e) => [e.data.action, e.data.request]),
      [['approve', id], ['approve', id], ['approve', id]]);
    assert.deepEqual(of(list, 'request.action_refused', 'bob').map((e) => e.data.action), ['cancel', 'cancel']);
    assert.deepEqual(of(list, 'request.action_refusals_suppressed', 'alice'), [], 'summed up before its window was over');

    // the window ends; within a sweep (1 s) the summary is written, with nobody acting
    let summary;
    for (const until = Date.now() + 5000; Date.now() < until;) {
      summary = of(await entries(), 'request.action_refusals_suppressed', 'alice');
      if (summary.length) break;
      await sleep(200);
    }
    assert.equal(summary.length, 1, 'no summary of the suppressed refusals');
    const d = summary[0].data;
    assert.deepEqual({ suppressed: d.suppressed, recorded: d.recorded, actions: d.actions }, { suppressed: 4, recorded: 3, actions: { approve: 2, deny: 2 } });
    // her own request is no target worth naming: the counts say it all
    assert.deepEqual({ targets: d.targets, targets_left_out: d.targets_left_out }, { targets: [], targets_left_out: 0 });
    assert.equal(d.window_end - d.window_start, 2);
    assert.ok(Math.abs(d.window_start * 1000 - t0) < 1500, `window_start ${d.window_start}`);
    list = await entries();
    assert.deepEqual(of(list, 'request.action_refusals_suppressed', 'bob'), [], 'bob suppressed nothing');

    // a new window: alice's next refusal is recorded again
    assert.equal((await post('alice', `/v1/requests/${id}/approve`)).status, 403);
    list = await entries();
    assert.equal(of(list, 'request.action_refused', 'alice').length, 4);
    assert.equal(of(list, 'request.action_refusals_suppressed', 'alice').length, 1);
    // and none of it changed the request
    const q = await jg.as('alice', 'GET', `/v1/requests/${id}`);
    assert.equal(q.json.state, 'pending');
    assert.deepEqual(q.json.approvals, []);
  });

  // The attack of the issue 15 review (F7): spend the budget on harmless refusals first, then try
  // someone else's request - which the summary must still name.
  test('the budget spent first on one\'s own request does not hide which other request was tried', async () => {
    const own = await post('dave', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC });
    assert.equal(own.status, 201, own.body);
    const other = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC });
    assert.equal(other.status, 201, other.body);
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) assert.equal((await post('dave', `/v1/requests/${own.json.id}/approve`)).status, 403);
    assert.equal((await post('dave', `/v1/requests/${other.json.id}/approve`)).status, 404);
    assert.equal((await post('dave', `/v1/requests/${other.json.id}/deny`, { reason: 'no' })).status, 404);
    assert.ok(Date.now() - t0 < 1800, 'too slow for a 2-second window');
    let list = await entries();
    assert.deepEqual(of(list, 'request.action_refused', 'dave').map((e) => e.data.request), [own.json.id, own.json.id, own.json.id]);
    let summary = [];
    for (const until = Date.now() + 5000; Date.now() < until && !summary.length;) {
      await sleep(200);
      summary = of(await entries(), 'request.action_refusals_suppressed', 'dave');
    }
    assert.equal(summary.length, 1, 'no summary of the suppressed refusals');
    const d = summary[0].data;
    assert.deepEqual({ suppressed: d.suppressed, actions: d.actions, targets: d.targets, targets_left_out: d.targets_left_out },
      { suppressed: 2, actions: { approve: 1, deny: 1 }, targets: [other.json.id], targets_left_out: 0 });
  });
});
