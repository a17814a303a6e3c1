// Budgets carried by the grant (docs/policies.md, "Probe budgets"), end to end through real HTTPS:
// the real binary against one database (SQLite, or PostgreSQL with JG_E2E_DB=postgres), its own
// real OpenID provider (alice payments-eng, bob payments-leads) and the repository's policies plus
// one that gives deploy-probe on budget-api a probe_budget of 3 probes, 10 hits and 1 MiB.
//
// The budget is shown to the approver (the approval page, in words) and carried by the decision and
// the capability token (claim probe_budget); the server counts every probe deployed on the grant
// (a deleted one too) and refuses the fourth (409 budget_exhausted); two agents of the service
// posting at once for two probes of the grant store exactly max_hits events between them, the rest
// refused per event with code budget; the grant's probes are then disabled, and the audit export
// holds each probe.budget_exhausted once.  On PostgreSQL the same race runs across two replicas of
// one database.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startJitgate, startReplicas, cleanup, runJitgate, postgresOnly } from './lib/harness.mjs';
import { driveLogin } from './lib/idp.mjs';

const SVC = 'budget-api';
const INC = 'INC-4711 payment retries failing in eu-west';
const SESSION = '__Host-jitgate_session';
const LOGIN = '__Host-jitgate_login';
const POLICY = `policy: budget-debug
description: deploy-probe on budget-api within a budget (tests/e2e/probe-budget.test.mjs)
services: [${SVC}]
rules:
  - capabilities: [deploy-probe]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: {approvers: {groups: [payments-leads]}, count: 1}
    probe_budget: {max_probes: 3, max_hits: 10, max_bytes: 1048576}
`;
const BUDGET = { max_probes: 3, max_hits: 10, max_bytes: 1048576 };
const PROBE = { function: 'PaymentProcessor.selectProvider', capture_args: true, duration: 600, limits: { max_events_per_second: 100 } };

const json = (o, auth) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) } });
const claims = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

// A browser session for user: the Cookie header value.
async function sessionFor(jg, user) {
  const login = await jg.request('GET', '/auth/login');
  assert.equal(login.status, 302, login.body);
  const state = new URL(login.headers.location).searchParams.get('state');
  const callback = new URL(await driveLogin(login.headers.location, user));
  const cb = await jg.request('GET', callback.pathname + callback.search, { headers: { cookie: `${LOGIN}=${state}` } });
  assert.equal(cb.status, 303, cb.body);
  return cb.headers['set-cookie'].find((l) => l.startsWith(`${SESSION}=`)).split(';')[0];
}

async function entries(jg, type) {
  const r = await jg.auditor('GET', '/v1/audit/export');
  assert.equal(r.status, 200, r.body);
  return r.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l)).filter((e) => e.type === type);
}

// alice asks for deploy-probe on SVC; bob sees the budget on his approval page and approves; the
// token carries it.  Resolves { grant, token }.
async function budgetedGrant(jg) {
  const r = await jg.as('alice', 'POST', '/v1/requests', json({ service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC }));
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.state, 'pending', r.body);
  assert.deepEqual(r.json.decision.probe_budget, BUDGET);
  const page = await jg.request('GET', '/approvals', { headers: { cookie: await sessionFor(jg, 'bob') } });
  assert.equal(page.status, 200, page.body.slice(0, 400));
  const card = page.body.slice(page.body.indexOf(`data-request="${r.json.id}"`));
  assert.ok(card.length > 0, 'the request is on the approval page');
  assert.match(card.slice(0, card.indexOf('</article>')), /<dt>Probe budget<\/dt><dd class="probe-budget">at most 3 probes, 10 hits, 1 MiB<\/dd>/);
  assert.equal((await jg.as('bob', 'POST', `/v1/requests/${r.json.id}/approve`, json({}))).status, 200);
  const t = await jg.as('alice', 'POST', `/v1/grants/${r.json.id}/token`, json({}));
  assert.equal(t.status, 201, t.body);
  assert.deepEqual(claims(t.json.token).probe_budget, BUDGET);
  return { grant: r.json.id, token: t.json.token };
}

// The grant's probes: three deployed (one deleted: it still counts), the fourth refused; then two
// agents post 8 events each at once, through agents[0] and agents[1] (Jitgate objects), for the two
// live probes: exactly 10 stored.
async function spendBudget(jg, agents, key, token) {
  const deploy = (spec) => jg.request('POST', `/v1/services/${SVC}/probes`, json(spec, token));
  const list = async () => {
    const r = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.body);
    return r.json;
  };
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await deploy(PROBE);
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.budget.used.probes, i + 1);
    assert.equal(r.json.budget.remaining.probes, 2 - i);
    ids.push(r.json.id);
    if (i === 0) {
      const d = await jg.request('DELETE', `/v1/services/${SVC}/probes/${r.json.id}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(d.status, 200, d.body);
    }
  }
  const live = ids.slice(1);
  for (let i = 0; i < 2; i++) {
    const r = await deploy(PROBE);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'budget_exhausted');
  }
  let l = await list();
  assert.deepEqual(l.probes.map((p) => p.id).sort(), [...live].sort());
  assert.deepEqual(l.budget.budget, BUDGET);
  assert.deepEqual(l.budget.used, { probes: 3, hits: 0, bytes: 0 });

  const ev = (i) => ({ ts: `t${i}`, function: PROBE.function, args: { i } });
  const posts = await Promise.all(live.map((id, a) => agents[a].request('POST', `/v1/agents/probes/${id}/events`,
    json({ events: Array.from({ length: 8 }, (_, i) => ev(a * 100 + i)) }, key))));
  for (const r of posts) assert.equal(r.status, 201, r.body);
  assert.equal(posts.reduce((n, r) => n + r.json.stored, 0), 10, 'two agents stored more than max_hits between them');
  const refused = posts.flatMap((r) => r.json.refused);
  assert.equal(refused.length, 6);
  assert.ok(refused.every((x) => x.code === 'budget'), JSON.stringify(refused));
  assert.equal(jg.db.count('probe_events', 'probe_id IN (?, ?)', live), 10);

  // spent: both probes disabled, posts refused, nothing listed, no deploy
  for (const id of live) {
    const r = await agents[0].request('POST', `/v1/agents/probes/${id}/events`, json({ events: [ev(999)] }, key));
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'probe_disabled');
  }
  l = await list();
  assert.deepEqual(l.probes, []);
  assert.equal(l.budget.used.hits, 10);
  assert.equal(l.budget.remaining.hits, 0);
  assert.equal(l.budget.events_exhausted, true);
  return live;
}

async function checkAudit(jg, grant, live) {
  const ex = (await entries(jg, 'probe.budget_exhausted')).filter((e) => e.data.grant === grant);
  assert.deepEqual(ex.map((e) => e.data.reason), ['max_probes', 'max_hits'], 'each kind once, in order');
  assert.equal(ex[0].actor, 'user:alice');
  assert.deepEqual(ex[0].data.budget, BUDGET);
  assert.equal(ex[0].data.used.probes, 3);
  assert.equal(ex[1].actor, `agent:${SVC}`);
  assert.equal(ex[1].data.used.hits, 10);
  assert.deepEqual([...ex[1].data.disabled].sort(), [...live].sort());
}

describe('probe budgets carried by the grant', () => {
  let jg;
  let key;

  before(async () => {
    jg = await startJitgate({ copyPolicies: true, policyFiles: { 'budget.yaml': POLICY } });
    const cli = (...args) => runJitgate([...args, '-c', jg.configPath]);
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads').code, 0);
    key = cli('ingest-key', 'create', SVC).stdout.trim();
  });
  after(() => cleanup(jg));

  test('the approver sees the budget, the token carries it, and two agents at once cannot spend more than it', async () => {
    const { grant, token } = await budgetedGrant(jg);
    const live = await spendBudget(jg, [jg, jg], key, token);
    await checkAudit(jg, grant, live);
    // the probes page shows the grant's budget and what it spent
    const page = await jg.request('GET', `/debug/${SVC}/probes?grant=${grant}`,
      { headers: { cookie: await sessionFor(jg, 'alice'), 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'navigate' } });
    assert.equal(page.status, 200, page.body.slice(0, 400));
    assert.match(page.body, /<dd data-budget>at most 3 probes, 10 hits, 1 MiB<\/dd>/);
    assert.match(page.body, /<dd data-used>3 probes deployed, 10 hits, \d+ bytes<\/dd>/);
    assert.match(page.body, /<dd data-exhausted>spent/);

    // the grant's use and its receipt say what the probes spent, recomputed the same from an export
    const spent = (await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } })).json.budget.used;
    let g = await jg.as('alice', 'GET', `/v1/requests/${grant}`);
    assert.equal(g.json.usage.probe_events, 10);
    assert.equal(g.json.usage.probe_bytes, spent.bytes);
    assert.ok(spent.bytes > 0);
    assert.equal(g.json.usage.probe_budget_exhausted, 2, 'max_probes, then max_hits');
    assert.equal((await jg.as('alice', 'POST', `/v1/grants/${grant}/revoke`, json({ reason: 'done' }))).status, 200);
    g = await jg.as('alice', 'GET', `/v1/requests/${grant}`);
    const r = g.json.receipt;
    assert.ok(r, g.body);
    assert.deepEqual([r.probes_deployed, r.probe_events, r.probe_bytes, r.probe_budget_exhausted], [5, 10, spent.bytes, 2]);
    const file = join(jg.dir, 'export.jsonl');
    const cli = (...args) => runJitgate(args);
    assert.equal(cli('audit', 'export', '-c', jg.configPath, '-o', file).code, 0);
    const keyLine = /^checkpoint \d{4} \(active\) (\S+)$/m.exec(cli('keys', 'list', '-c', jg.configPath).stdout)[1];
    const c = cli('audit', 'receipt', file, grant, '--key', keyLine);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /^MATCH: /);
    const mine = await jg.as('alice', 'GET', '/');
    assert.match(mine.body, new RegExp(`10 probe events stored, ${spent.bytes} bytes of probe events, 2 probe budget limits spent`));
  });

  test('a dry run answers what would be installed (clipped, limits filled, the budget) without installing or counting it', async () => {
    const { grant, token } = await budgetedGrant(jg);
    const preview = (spec, q = '?dry_run=true') => jg.request('POST', `/v1/services/${SVC}/probes${q}`, json(spec, token));
    const previews = async () => (await entries(jg, 'probe.deploy_preview')).filter((e) => e.data.grant === grant);
    const expires = (await jg.as('alice', 'GET', `/v1/requests/${grant}`)).json.expires_at;
    for (let i = 0; i < 4; i++) { // more than max_probes: none of them counts
      const r = await preview({ ...PROBE, duration: 7200, limits: { max_hits: 50 } });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json.dry_run, true);
      assert.equal(r.json.probe.id, undefined, 'a dry run made a probe id');
      assert.equal(r.json.probe.grant, grant);
      assert.equal(r.json.probe.expires_at, expires, 'not clipped to the grant\'s end');
      assert.ok(r.json.probe.duration <= 1800 && r.json.probe.duration > 1700, r.body);
      assert.deepEqual(r.json.probe.limits, { max_hits: 50, max_events_per_second: 10, max_depth: 3, max_string_bytes: 255, max_collection_items: 100, max_fields: 20, max_cpu_ms_per_second: 5 });
      assert.deepEqual(r.json.budget.budget, BUDGET);
      assert.deepEqual(r.json.budget.used, { probes: 0, hits: 0, bytes: 0 });
      assert.deepEqual(r.json.budget.remaining, { probes: 3, hits: 10, bytes: 1048576 });
    }
    assert.equal((await previews()).length, 4);
    assert.equal((await previews())[0].actor, 'user:alice');
    // the errors of a real deploy, nothing recorded as a preview for a body refused before the guard
    let r = await preview({ ...PROBE, limits: { max_hits: 0 } });
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.field, 'max_hits');
    r = await preview({ ...PROBE, conditions: [{ field: 'customer.email', op: 'eq', value: 'ann@example.com' }] });
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error.code, 'insufficient_capability');
    r = await preview(PROBE, '?dry_run=yes');
    assert.equal(r.status, 400, r.body);
    assert.match(r.json.error.message, /'dry_run' must be true or false/);
    assert.equal((await previews()).length, 4);
    r = await jg.request('GET', `/v1/services/${SVC}/probes`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(r.json.probes, []);
    assert.equal(r.json.budget.used.probes, 0);
    // three real deploys spend max_probes; then the dry run says a fourth would be refused
    for (let i = 0; i < 3; i++) assert.equal((await preview(PROBE, '')).status, 201);
    r = await preview(PROBE);
    assert.equal(r.status, 409, r.body);
    assert.equal(r.json.error.code, 'budget_exhausted');
    // a preview is not a deploy: the receipt's usage counts the three
    r = await jg.as('alice', 'GET', `/v1/requests/${grant}`);
    assert.equal(r.json.usage.probes_deployed, 3);
  });
});

postgresOnly(describe)('probe budgets across two replicas of one database', () => {
  let set;
  let key;

  before(async () => {
    set = await startReplicas(2, { copyPolicies: true, policyFiles: { 'budget.yaml': POLICY } });
    const cli = (...args) => runJitgate([...args, '-c', set.replicas[0].configPath]);
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads').code, 0);
    key = cli('ingest-key', 'create', SVC).stdout.trim();
  });
  after(() => set?.close());

  test('two agents posting to two replicas at once store exactly max_hits between them', async () => {
    const { grant, token } = await budgetedGrant(set.replicas[0]);
    const live = await spendBudget(set.replicas[1], set.replicas, key, token);
    await checkAudit(set.replicas[0], grant, live);
  });
});
