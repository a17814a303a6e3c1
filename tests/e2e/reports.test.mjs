// Access reviews (issue 19, item 4): GET /v1/reports/access and `jitgate report access`, computed
// from the audit log, against the real server, the real identity provider and the real store
// (SQLite, and PostgreSQL with JG_E2E_DB=postgres).
//
// One period holds a grant never used, one used with read-pii (two approvers), an unreviewed
// break-glass grant, a reviewed and used one, an extended one (POST /v1/requests/{id}/extend), and a
// denied request; scheduled grants (approved before their start, cancelled or revoked before it); a grant requested before the
// period and one of another service are not in it.  The report says who asked, the capabilities,
// the window, the approvers, break-glass and its review, the usage and the flags, in JSON and CSV;
// auditors see every service, a service's owners theirs alone, others nothing.  It rests on the
// log: an edit of the tables does not change it, an edit of an entry makes it refuse.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { copyFileSync, mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startJitgate, cleanup, runJitgate, makeCert, freePort, BIN, ROOT, SHOTS } from './lib/harness.mjs';
import { loginAtProvider } from './lib/debug-browser.mjs';

const SVC = 'payment-gateway';
const OTHER = 'payment-refunds';
const EXT = 'ext-lab'; // a policy that lets read-logs grants be extended (issue 19, item 1)
const EXT_POLICY = `policy: ext-lab
services: [ext-lab]
rules:
  - capabilities: [read-logs]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    max_total_duration: 2h
    approval: none
`;
const INC = 'INC-4711 refunds failing for one customer';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const DOC_SHOTS = join(ROOT, 'docs', 'screenshots');

// Saved under build/screenshots/; with UPDATE_SCREENSHOTS=1 also into docs/screenshots/.
async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOC_SHOTS, { recursive: true });
    copyFileSync(file, join(DOC_SHOTS, `${name}.png`));
  }
}

// RFC 4180 as jitgate writes it: every cell quoted, quotes doubled, CRLF
function parseCsv(text) {
  const rows = [];
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const cells = [];
    const re = /"((?:[^"]|"")*)"(,|$)/g;
    let m;
    while ((m = re.exec(line)) !== null) {
      cells.push(m[1].replaceAll('""', '"'));
      if (m[2] === '') break;
    }
    rows.push(cells);
  }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

describe('access reviews', () => {
  let jg;
  let from; let to;
  const ids = {};

  const json = (body) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const post = (user, path, body = {}) => jg.as(user, 'POST', path, json(body));
  const withToken = (token, path) => jg.request('GET', path, { headers: { authorization: `Bearer ${token}` } });
  const report = (user, query) => jg.as(user, 'GET', `/v1/reports/access?${query}`);
  const period = (extra = '') => `from=${from}&to=${to}${extra}`;

  async function request(user, body, approvers = []) {
    const q = await post(user, '/v1/requests', { service: SVC, duration: '20m', justification: INC, ...body });
    assert.equal(q.status, 201, q.body);
    let last = q;
    for (const a of approvers) {
      last = await post(a, `/v1/requests/${q.json.id}/approve`);
      assert.equal(last.status, 200, last.body);
    }
    return { id: q.json.id, state: last.json.state };
  }
  async function token(user, id) {
    const t = await post(user, `/v1/grants/${id}/token`);
    assert.equal(t.status, 201, t.body);
    return t.json.token;
  }

  before(async () => {
    jg = await startJitgate({ copyPolicies: true, policyFiles: { 'ext-lab.yaml': EXT_POLICY } });
    for (const [svc, owners] of [[SVC, 'payments-leads'], [OTHER, 'sre'], [EXT, 'payments-leads']]) {
      const r = spawnSync(BIN, ['service', 'add', svc, '--owners', owners, '-c', jg.configPath], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    // before the period
    ids.before = (await request('alice', { capabilities: ['read-logs'] })).id;
    await sleep(1100);
    from = Math.floor(Date.now() / 1000);
    // never used, then revoked
    ids.unused = (await request('alice', { capabilities: ['read-logs'] })).id;
    const rv = await post('alice', `/v1/grants/${ids.unused}/revoke`, { reason: 'not needed after all' });
    assert.equal(rv.status, 200, rv.body);
    // read-pii, two approvers, used with the token
    const pii = await request('alice', { capabilities: ['read-pii', 'read-logs'], duration: '10m' }, ['carol', 'grace']);
    assert.equal(pii.state, 'active');
    ids.pii = pii.id;
    const t = await token('alice', ids.pii);
    const logs = await withToken(t, `/v1/services/${SVC}/logs`);
    assert.equal(logs.status, 200, logs.body);
    // break-glass, never reviewed, never used
    ids.bg = (await request('frank', { capabilities: ['read-logs'], break_glass: true, justification: 'SEV-12 payments down' })).id;
    // break-glass, used and reviewed by bob
    ids.bgOk = (await request('frank', { capabilities: ['read-logs'], break_glass: true, justification: 'SEV-13 payments down' })).id;
    const bgToken = await token('frank', ids.bgOk);
    assert.equal((await withToken(bgToken, `/v1/services/${SVC}/logs`)).status, 200);
    const rev = await post('bob', `/v1/requests/${ids.bgOk}/review`, { note: 'checked' });
    assert.equal(rev.status, 200, rev.body);
    // denied: not a grant
    ids.denied = (await request('alice', { capabilities: ['deploy-probe'] })).id;
    assert.equal((await post('bob', `/v1/requests/${ids.denied}/deny`, { reason: 'no' })).status, 200);
    // another service in the same period
    const other = await post('alice', '/v1/requests', { service: OTHER, capabilities: ['read-logs'], duration: '20m', justification: INC });
    assert.equal(other.status, 201, other.body);
    ids.other = other.json.id;
    // extended, and used
    const ext = await post('alice', '/v1/requests', { service: EXT, capabilities: ['read-logs'], duration: '30m', justification: INC });
    assert.equal(ext.status, 201, ext.body);
    ids.ext = ext.json.id;
    const extToken = await token('alice', ids.ext);
    assert.equal((await withToken(extToken, `/v1/services/${EXT}/logs`)).status, 200);
    const x = await post('alice', `/v1/requests/${ids.ext}/extend`, { duration: '30m', justification: INC });
    assert.equal(x.status, 201, x.body);
    assert.equal(x.json.state, 'granted', x.body);
    to = Math.floor(Date.now() / 1000) + 1;
  });
  after(() => cleanup(jg));

  const grantOf = (r, id) => r.json.grants.find((g) => g.grant === id);

  test('JSON: each grant of the period with its requester, window, approvers, review, usage and flags', async () => {
    const r = await report('erin', period(`&service=${SVC}`));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.service, SVC);
    assert.deepEqual(r.json.grants.map((g) => g.grant).sort(), [ids.unused, ids.pii, ids.bg, ids.bgOk].sort());
    assert.ok(r.json.verified_size > r.json.scanned.last_seq, 'the report reads beyond the verified log');

    const unused = grantOf(r, ids.unused);
    assert.equal(unused.requester, 'alice');
    assert.deepEqual(unused.capabilities, ['read-logs']);
    assert.deepEqual(unused.flags, ['never_used']);
    assert.deepEqual(unused.approvers, []);
    assert.equal(unused.window.end_reason, 'revoked');
    assert.ok(unused.window.start >= from && unused.window.end >= unused.window.start);
    // its end wrote a signed receipt (grant.receipt): that is its summary, and it agrees
    assert.equal(unused.receipt.source, 'grant.receipt');
    assert.equal(unused.receipt.data.grant, ids.unused);
    assert.equal(unused.receipt.data.requester, unused.requester);
    assert.equal(unused.receipt.data.unused, true);
    assert.equal(unused.receipt.data.actions, unused.usage.actions_total);

    const pii = grantOf(r, ids.pii);
    assert.deepEqual(pii.flags, ['read_pii_used']);
    assert.deepEqual(pii.approvers, ['carol', 'grace']);
    assert.equal(pii.state, 'active');
    assert.equal(pii.window.end, null);
    assert.equal(pii.window.expires_at - pii.window.start, 600);
    assert.equal(pii.usage.tokens_issued, 1);
    assert.equal(pii.usage.actions['logs.read'], 1);
    assert.equal(pii.usage.pii_reads, 1);
    assert.equal(pii.receipt.source, 'log');

    const bg = grantOf(r, ids.bg);
    assert.equal(bg.break_glass, true);
    assert.equal(bg.review, null);
    assert.deepEqual(bg.flags, ['never_used', 'break_glass_unreviewed']);

    const bgOk = grantOf(r, ids.bgOk);
    assert.deepEqual(bgOk.flags, []);
    assert.equal(bgOk.review.by, 'bob');
    assert.equal(bgOk.usage.actions_total, 1);

    // nothing a person wrote is copied (justifications, reasons, notes)
    assert.ok(!r.body.includes('INC-4711') && !r.body.includes('not needed') && !r.body.includes('checked'), r.body);
  });

  test('CSV: the same grants and flags, one line each', async () => {
    const r = await report('erin', period(`&service=${SVC}&format=csv`));
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type'], /^text\/csv/);
    assert.match(r.headers['content-disposition'], /attachment; filename="access-payment-gateway-\d+-\d+\.csv"/);
    const rows = parseCsv(r.body);
    assert.equal(rows.length, 4);
    const by = Object.fromEntries(rows.map((x) => [x.grant, x]));
    assert.equal(by[ids.unused].flags, 'never_used');
    assert.equal(by[ids.unused].end_reason, 'revoked');
    assert.equal(by[ids.pii].flags, 'read_pii_used');
    assert.equal(by[ids.pii].approvers, 'carol grace');
    assert.equal(by[ids.pii].pii_reads, '1');
    assert.equal(by[ids.pii].capabilities, 'read-pii read-logs');
    assert.equal(by[ids.bg].flags, 'never_used break_glass_unreviewed');
    assert.equal(by[ids.bg].break_glass, 'yes');
    assert.equal(by[ids.bgOk].reviewed_by, 'bob');
    assert.match(by[ids.bgOk].reviewed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Accept: text/csv asks for the same
    const a = await jg.as('erin', 'GET', `/v1/reports/access?${period(`&service=${SVC}`)}`, { headers: { accept: 'text/csv' } });
    assert.equal(a.status, 200);
    assert.equal(a.body, r.body);
  });

  test('an extended grant (grant.extended): flagged, its end moved, in JSON and CSV', async () => {
    const r = await report('bob', period(`&service=${EXT}`));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.grants.length, 1, r.body);
    const g = r.json.grants[0];
    assert.equal(g.grant, ids.ext);
    assert.deepEqual(g.flags, ['extended']);
    assert.equal(g.extensions, 1);
    assert.equal(g.window.expires_at - g.window.start, 3600);
    assert.equal(g.usage.actions['logs.read'], 1);
    const csv = parseCsv((await report('bob', period(`&service=${EXT}&format=csv`))).body);
    assert.equal(csv.length, 1);
    assert.equal(csv[0].flags, 'extended');
    assert.equal(csv[0].extensions, '1');
  });

  test('auditors see every service; owners their own; nobody else', async () => {
    const all = await report('erin', period());
    assert.equal(all.status, 200, all.body);
    assert.ok(all.json.grants.some((g) => g.service === OTHER), `the other service is missing: ${all.body}`);
    assert.ok(!all.json.grants.some((g) => g.grant === ids.before), 'a grant from before the period');
    // bob owns payment-gateway (payments-leads)
    const own = await report('bob', period(`&service=${SVC}`));
    assert.equal(own.status, 200, own.body);
    assert.equal(own.json.grants.length, 4);
    for (const [user, q] of [['bob', period()], ['bob', period(`&service=${OTHER}`)], ['alice', period(`&service=${SVC}`)],
      ['bob', period('&service=no-such-service')]]) {
      const r = await report(user, q);
      assert.equal(r.status, 403, `${user} ${q}: ${r.body}`);
      assert.equal(r.json.error.code, 'forbidden');
    }
    assert.equal((await jg.request('GET', `/v1/reports/access?${period()}`)).status, 401);
    for (const q of [`from=${to}&to=${from}`, 'from=x', `${period()}&format=xml`, `${period()}&service=Bad!`]) {
      const r = await report('erin', q);
      assert.equal(r.status, 400, `${q}: ${r.body}`);
    }
  });

  test('jitgate report access prints the same from the server and from an export', async () => {
    const cli = (args, env = {}) => spawnSync(BIN, ['report', 'access', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    const tok = await jg.tokenFor('erin');
    const tokenFile = join(jg.dir, 'erin.token');
    writeFileSync(tokenFile, tok + '\n', { mode: 0o600 });
    const caFile = join(jg.dir, 'cert.pem');
    const fromServer = cli(['--url', jg.url, '--token-file', tokenFile, '--ca-file', caFile,
      '--from', String(from), '--to', String(to), '--service', SVC, '--format', 'csv']);
    assert.equal(fromServer.status, 0, fromServer.stderr);
    const api = await report('erin', period(`&service=${SVC}&format=csv`));
    assert.equal(fromServer.stdout, api.body);

    const pub = runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', jg.configPath]);
    assert.equal(pub.code, 0, pub.stderr);
    const key = join(jg.dir, 'checkpoint.pub');
    writeFileSync(key, pub.stdout);
    const exp = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(exp.status, 200, exp.body);
    const file = join(jg.dir, 'export.jsonl');
    writeFileSync(file, exp.body);
    const fromFile = cli(['--file', file, '--key', key, '--from', String(from), '--to', String(to), '--service', SVC, '--format', 'json']);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    const j = JSON.parse(fromFile.stdout);
    const live = (await report('erin', period(`&service=${SVC}`))).json;
    // the export ends earlier than the live log: compare what both hold
    const strip = (g) => ({ ...g, entries: undefined, receipt: undefined });
    assert.deepEqual(j.grants.map(strip), live.grants.map(strip));
    const text = cli(['--file', file, '--key', key, '--from', String(from), '--to', String(to), '--service', SVC]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${ids.bg}[^]*NOT REVIEWED`));
    // an export with one entry changed does not verify: no report
    const lines = exp.body.split('\n');
    const k = lines.findIndex((l) => l.includes('"logs.read"'));
    lines[k] = lines[k].replace('"logs.read"', '"logs.reaD"');
    writeFileSync(file, lines.join('\n'));
    const bad = cli(['--file', file, '--key', key, '--from', String(from), '--to', String(to)]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /verify/);
  });

  test('the page in Chromium: the grants and their flags, the CSV, owners and others', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
    try {
      const signIn = async (user, viewport = { width: 1280, height: 860 }) => {
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, acceptDownloads: true });
        context.setDefaultTimeout(10000);
        const page = await context.newPage();
        await page.goto(`${jg.url}/`);
        await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
        await loginAtProvider(jg, page, user);
        await page.waitForURL(`${jg.url}/`);
        return page;
      };
      // erin (auditor) finds the page in the navigation and asks for the period by days
      const erin = await signIn('erin');
      await erin.getByRole('link', { name: 'Access reviews' }).click();
      await erin.waitForURL(/\/reports\/access$/);
      const day = (t) => new Date(t * 1000).toISOString().slice(0, 10);
      await erin.locator('input[name=service]').fill(SVC);
      await erin.locator('input[name=since]').fill(day(from));
      await erin.locator('input[name=until]').fill(day(to + 86400));
      await erin.getByRole('button', { name: 'Show' }).click();
      await erin.waitForURL(/from=\d+&to=\d+&service=payment-gateway/);
      // the whole day includes the grant made before the period: the exact period leaves it out
      assert.equal(await erin.locator(`tr[data-grant="${ids.before}"]`).count(), 1);
      const res = await erin.goto(`${jg.url}/reports/access?${period(`&service=${SVC}`)}`);
      assert.equal(res.status(), 200);
      assert.equal(await erin.locator('#grants tbody tr').count(), 4);
      const flags = async (id) => erin.locator(`tr[data-grant="${id}"] .flag`).evaluateAll((els) => els.map((e) => e.dataset.flag));
      assert.deepEqual(await flags(ids.unused), ['never_used']);
      assert.deepEqual(await flags(ids.pii), ['read_pii_used']);
      assert.deepEqual(await flags(ids.bg), ['never_used', 'break_glass_unreviewed']);
      assert.deepEqual(await flags(ids.bgOk), []);
      assert.match(await erin.locator(`tr[data-grant="${ids.bg}"]`).innerText(), /not reviewed/);
      assert.match(await erin.locator(`tr[data-grant="${ids.bgOk}"]`).innerText(), /reviewed by bob/);
      assert.match(await erin.locator(`tr[data-grant="${ids.pii}"]`).innerText(), /carol, grace/);
      assert.equal(await erin.locator('.flag-counts li[data-flag="never_used"]').innerText(), 'never used: 2');
      await shot(erin, 'access-review');
      // the CSV link downloads what the API gives
      const [download] = await Promise.all([erin.waitForEvent('download'), erin.locator('#csv').click()]);
      const csv = readFileSync(await download.path(), 'utf8');
      assert.equal(csv, (await report('erin', period(`&service=${SVC}&format=csv`))).body);
      // bob owns the service: its page, on a phone; not every service
      const bob = await signIn('bob', { width: 390, height: 844 });
      const own = await bob.goto(`${jg.url}/reports/access?${period(`&service=${SVC}`)}`);
      assert.equal(own.status(), 200);
      assert.equal(await bob.locator('#grants tbody tr').count(), 4);
      await shot(bob, 'access-review-owner-phone');
      const all = await bob.goto(`${jg.url}/reports/access?${period()}`);
      assert.equal(all.status(), 403);
      // alice neither audits nor owns it
      const alice = await signIn('alice');
      const no = await alice.goto(`${jg.url}/reports/access?${period(`&service=${SVC}`)}`);
      assert.equal(no.status(), 403);
      assert.match(await alice.locator('main').innerText(), /auditor rights or ownership/);
      await shot(alice, 'access-review-refused');
    } finally {
      await browser.close();
    }
  });

  test('scheduled grants: approved before their start is a grant; cancelled or revoked before it, one that never started', async () => {
    await sleep(1100); // a period of its own
    const f2 = Math.floor(Date.now() / 1000);
    const startsAt = f2 + 3600;
    const sched = async () => {
      const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC, starts_at: startsAt });
      assert.equal(q.status, 201, q.body);
      const ok = await post('bob', `/v1/requests/${q.json.id}/approve`);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.json.state, 'scheduled', ok.body);
      return q.json.id;
    };
    const waiting = await sched();
    const cancelled = await sched();
    assert.equal((await post('alice', `/v1/requests/${cancelled}/cancel`)).status, 200);
    const revoked = await sched();
    assert.equal((await post('bob', `/v1/grants/${revoked}/revoke`, { reason: 'not now' })).status, 200);
    const r = await report('erin', `from=${f2}&to=${Math.floor(Date.now() / 1000) + 1}&service=${SVC}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.grants.map((g) => g.grant).sort(), [waiting, cancelled, revoked].sort());
    const w = grantOf(r, waiting);
    assert.equal(w.state, 'scheduled');
    assert.equal(w.starts_at, startsAt);
    assert.deepEqual(w.window, { start: null, expires_at: startsAt + 1800, end: null, end_reason: null });
    assert.deepEqual(w.approvers, ['bob']);
    for (const [id, why] of [[cancelled, 'cancelled'], [revoked, 'revoked']]) {
      const g = grantOf(r, id);
      assert.equal(g.state, 'ended');
      assert.equal(g.window.start, null);
      assert.equal(g.window.end_reason, why);
      assert.deepEqual(g.flags, ['never_used', 'never_started']);
    }
  });

  test('the report rests on the log: the tables do not change it, an edited entry stops it', async () => {
    const before = (await report('erin', period(`&service=${SVC}`))).json;
    // the tables say someone else asked and that the break-glass grant was reviewed
    jg.db.exec("UPDATE access_requests SET requester = 'mallory', reviewed_by = 'user:mallory', reviewed_at = 1 WHERE id = ?", [ids.bg]);
    const after = await report('erin', period(`&service=${SVC}`));
    assert.equal(after.status, 200);
    assert.equal(grantOf(after, ids.bg).requester, 'frank');
    assert.deepEqual(grantOf(after, ids.bg).flags, ['never_used', 'break_glass_unreviewed']);
    assert.deepEqual(after.json.grants.map((g) => g.flags), before.grants.map((g) => g.flags));
    // an entry of the period edited in the store: the report is refused, not made from it
    const e = jg.db.entries((x) => x.json?.type === 'grant.reviewed' && x.json.data.request === ids.bgOk)[0];
    jg.db.tamperEntry(e.seq, (text) => text.replace('"user:bob"', '"user:bab"'));
    const r = await report('erin', period(`&service=${SVC}`));
    assert.equal(r.status, 503, r.body);
    assert.match(r.json.error.message, /does not verify/);
  });
});

// Every reports.review_period, once per service across restarts (notify_marks), the owners of
// each service hear that its review is due, with links to the report of the period just ended.
describe('access reviews: the review-due notice', () => {
  let jg; let dir; let files; let owners; let others;
  const SECRET = 'receiver-shared-secret-0123456789';
  const PERIOD = 3600;

  async function receiver() {
    const r = { got: [], port: await freePort() };
    await new Promise((ok) => {
      r.server = https.createServer({ key: readFileSync(files.key), cert: readFileSync(files.cert) }, (req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          try { r.got.push(JSON.parse(Buffer.concat(chunks).toString('utf8'))); } catch { /* not JSON */ }
          res.writeHead(200);
          res.end();
        });
      });
      r.server.listen(r.port, '127.0.0.1', ok);
    });
    r.close = () => new Promise((ok) => { r.server.closeAllConnections(); r.server.close(() => ok()); });
    r.due = () => r.got.filter((e) => e.type === 'report.review_due');
    return r;
  }
  async function until(what, fn, ms = 15000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-review-'));
    files = makeCert(dir);
    writeFileSync(join(dir, 'secret'), SECRET + '\n', { mode: 0o600 });
    owners = await receiver();
    others = await receiver();
    const sink = (name, r, groups) => [
      `    - name: ${name}`, '      type: webhook', `      url: https://127.0.0.1:${r.port}/hook`,
      `      secret_file: ${join(dir, 'secret')}`, `      ca_file: ${files.cert}`, '      audiences: [owners]',
      `      groups: [${groups}]`];
    const extraConfig = ['reports:', `  review_period: ${PERIOD}`, 'notifications:', '  sinks:',
      ...sink('owners', owners, 'payments-leads'), ...sink('others', others, 'sre')].join('\n');
    jg = await startJitgate({ extraConfig });
    for (const svc of [SVC, OTHER]) {
      const r = spawnSync(BIN, ['service', 'add', svc, '--owners', 'payments-leads', '-c', jg.configPath], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => {
    await owners?.close();
    await others?.close();
    await cleanup(jg);
    rmSync(dir, { recursive: true, force: true });
  });

  test('once per service and period, to its owners, with a link to the report', async () => {
    await sleep(2500);
    assert.equal(owners.due().length, 0, 'a review is due before a period has passed');
    // SVC was added two periods and a bit ago (the catalog's clock moved, not the server's)
    const [{ created_at: created }] = jg.db.rows('SELECT created_at FROM services WHERE name = ?', [SVC]);
    jg.db.exec(`UPDATE services SET created_at = ${created - 2 * PERIOD - 10} WHERE name = ?`, [SVC]);
    const ev = await until('report.review_due', () => owners.due()[0]);
    const c = created - 2 * PERIOD - 10;
    assert.deepEqual(ev.audiences, ['owners']);
    assert.equal(ev.review.service, SVC);
    assert.deepEqual(ev.review.owners, ['payments-leads']);
    assert.equal(ev.review.from, c + PERIOD);
    assert.equal(ev.review.to, c + 2 * PERIOD);
    assert.equal(ev.links.report, `${jg.url}/v1/reports/access?service=${SVC}&from=${c + PERIOD}&to=${c + 2 * PERIOD}`);
    assert.equal(ev.links.report_page, `${jg.url}/reports/access?service=${SVC}&from=${c + PERIOD}&to=${c + 2 * PERIOD}`);
    // the link works for an owner
    const r = await jg.as('bob', 'GET', new URL(ev.links.report).pathname + new URL(ev.links.report).search);
    assert.equal(r.status, 200, r.body);
    // once: not again, not after a restart, not to a sink for other groups, not for the young service
    await sleep(2500);
    await jg.stop();
    jg.exited = null;
    await jg.start();
    await sleep(2500);
    assert.equal(owners.due().length, 1, JSON.stringify(owners.due()));
    assert.equal(others.due().length, 0);
    assert.equal(jg.db.count('notify_marks', "request_id = ?", [`service:${SVC}`]), 1);
  });
});
