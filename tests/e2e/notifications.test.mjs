// Notifications and the audit stream, end to end: the real binary, its own OpenID provider, and
// real HTTPS (and TLS syslog) receivers started by this test.  Retry and backoff intervals are
// configured short (the production defaults are in docs/notifications.md) so that an outage of
// a few seconds exercises the same code as one of a minute.
//
//   alice payments-eng   bob payments-leads   frank sre-oncall (break-glass)
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import { startJitgate, cleanup, makeCert, freePort, runJitgate } from './lib/harness.mjs';

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (o) => ({ body: JSON.stringify(o), headers: { 'content-type': 'application/json' } });
const INC = 'INC-4711 payment retries failing in eu-west';
const SECRET = 'receiver-shared-secret-0123456789';

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// The receiver side of docs/notifications.md: the signature over "<timestamp>.<body>", and a
// timestamp within five minutes of the receiver's clock (replays outside it are refused).
function verifySignature(headers, body, secret, nowSeconds = Math.floor(Date.now() / 1000)) {
  const ts = headers['x-jitgate-timestamp'];
  const sig = headers['x-jitgate-signature'] ?? '';
  if (!/^[0-9]+$/.test(ts ?? '') || Math.abs(nowSeconds - Number(ts)) > 300) return false;
  const want = 'sha256=' + createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex');
  return sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
}

// An HTTPS receiver: records every delivery; respond(delivery, n) gives the status (or 'hang').
async function receiver(tlsFiles, respond = () => 200, port = null) {
  const r = { got: [], port: port ?? await freePort() };
  r.listen = () => new Promise((ok) => {
    r.server = https.createServer({ key: readFileSync(tlsFiles.key), cert: readFileSync(tlsFiles.cert) }, (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const d = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        try { d.json = JSON.parse(d.body); } catch { /* NDJSON or Slack text */ }
        r.got.push(d);
        const status = respond(d, r.got.length);
        if (status === 'hang') return; // never answers
        setTimeout(() => { res.writeHead(status); res.end(); }, d.delay ?? 0);
      });
    });
    // While r.down, a connection is reset at once: the receiver is down to jitgate, yet its port stays
    // held, so that no other process's connection can take it before the receiver comes back.
    r.server.on('connection', (sock) => { if (r.down) sock.destroy(); });
    r.server.listen(r.port, '127.0.0.1', ok);
  });
  r.close = () => new Promise((ok) => { if (!r.server) return ok(); r.server.closeAllConnections(); r.server.close(() => ok()); r.server = null; });
  r.events = (type) => r.got.filter((d) => d.json?.type === type);
  return r;
}

const testPolicy = `policy: notify-test
services: ["notify-*"]
remind_after: 2s
escalate_after: 4s
escalate_to: oncall-leads
rules:
  - capabilities: [deploy-probe]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: {approvers: {groups: [payments-leads]}, count: 1}
  - capabilities: [read-logs]
    requesters: {groups: [payments-eng]}
    max_duration: 1h
    approval: none
`;

describe('notifications', () => {
  let jg, dir, files, main, flaky, slack, hang, outage, dead, esc;
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : json(body));
  const pendingReq = (service = 'payment-gateway') =>
    post('alice', '/v1/requests', { service, capabilities: ['deploy-probe'], duration: '30m', justification: INC });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-notify-'));
    files = makeCert(dir);
    writeFileSync(join(dir, 'secret'), SECRET + '\n', { mode: 0o600 });
    main = await receiver(files);
    flaky = await receiver(files, (d, n) => (n <= 3 ? 500 : 200));
    slack = await receiver(files);
    hang = await receiver(files, () => 'hang');
    outage = await receiver(files); // down (every connection reset) until the outage test ends it
    outage.down = true;
    dead = await receiver(files, () => 503);
    esc = await receiver(files);
    for (const r of [main, flaky, slack, hang, outage, dead, esc]) await r.listen();
    const sink = (name, r, more = []) => [
      `    - name: ${name}`, '      type: webhook', `      url: https://127.0.0.1:${r.port}/hook`,
      `      secret_file: ${join(dir, 'secret')}`, `      ca_file: ${files.cert}`, ...more.map((l) => `      ${l}`)];
    const extraConfig = [
      'audit:',
      '  checkpoint_every_seconds: 1',
      '  verify_budget: 100',
      '  sink_url: "https://127.0.0.1:9/checkpoints"', // nothing listens: the operators hear of it
      'notifications:',
      '  retry_base_ms: 200',
      '  retry_max_ms: 1000',
      '  max_attempts: 30',
      '  expiry_warning_seconds: 3',
      '  review_overdue_seconds: 2',
      '  alert_after_seconds: 2',
      '  sinks:',
      ...sink('main', main, ['audiences: [approvers, requester, security, operators]']),
      ...sink('flaky', flaky, ['events: [request.pending]', 'policies: [payments-debug]']),
      '    - name: slack', '      type: slack', `      url: https://127.0.0.1:${slack.port}/services/T0/B0/x`,
      `      ca_file: ${files.cert}`, '      audiences: [approvers]', '      groups: [payments-leads]',
      ...sink('hang', hang, ['events: [request.pending]', 'timeout_ms: 10000']),
      ...sink('outage', outage, ['events: [request.pending]', 'policies: [payments-debug]']),
      ...sink('dead', dead, ['events: [request.pending]', 'policies: [payments-debug]', 'max_attempts: 5']),
      ...sink('escalation', esc, ['audiences: [approvers]', 'groups: [oncall-leads]']),
    ].join('\n');
    jg = await startJitgate({ copyPolicies: true, policyFiles: { 'notify-test.yaml': testPolicy }, extraConfig });
  });
  after(async () => {
    for (const r of [main, flaky, slack, hang, outage, dead, esc]) await r?.close();
    await cleanup(jg);
    rmSync(dir, { recursive: true, force: true });
  });

  let reqId, pendingAt;
  test('a pending request reaches its approvers: signed webhook, idempotency key, payload', async () => {
    pendingAt = Date.now();
    const r = await pendingReq();
    assert.equal(r.status, 201, r.body);
    assert.equal(r.json.state, 'pending');
    reqId = r.json.id;
    const d = await until('request.pending at main', () => main.events('request.pending').find((x) => x.json.request.id === reqId));
    assert.ok(verifySignature(d.headers, d.body, SECRET), 'the signature verifies with the shared secret');
    assert.match(d.headers['x-jitgate-idempotency-key'], /^ntf_[A-Za-z0-9_-]{16,}$/);
    assert.equal(d.headers['x-jitgate-idempotency-key'], d.json.id);
    assert.equal(d.headers['idempotency-key'], `"${d.json.id}"`);
    assert.equal(d.headers['x-jitgate-event'], 'request.pending');
    assert.equal(d.headers['content-type'], 'application/json');
    assert.deepEqual(d.json.audiences, ['approvers']);
    assert.deepEqual(d.json.approvers.groups, ['payments-leads', 'sre-leads']);
    assert.equal(d.json.request.requester, 'alice');
    assert.equal(d.json.request.service, 'payment-gateway');
    assert.deepEqual(d.json.request.capabilities, ['deploy-probe']);
    assert.equal(d.json.request.justification, INC);
    assert.equal(d.json.request.policy, 'payments-debug');
    assert.equal(d.json.links.approvals, `${jg.url}/approvals`);
  });

  test('a wrong secret or a stale timestamp is detectable by the receiver', async () => {
    const d = main.events('request.pending').find((x) => x.json.request.id === reqId);
    assert.ok(verifySignature(d.headers, d.body, SECRET));
    assert.equal(verifySignature(d.headers, d.body, SECRET + 'x'), false, 'wrong secret');
    assert.equal(verifySignature(d.headers, d.body.replace('alice', 'mallory'), SECRET), false, 'altered body');
    const ts = Number(d.headers['x-jitgate-timestamp']);
    assert.ok(Math.abs(ts - Date.now() / 1000) < 30, 'the timestamp is the time of sending');
    assert.equal(verifySignature(d.headers, d.body, SECRET, ts + 301), false, 'a replay six minutes later');
    // a replay with a fresh timestamp does not carry a valid signature for it
    assert.equal(verifySignature({ ...d.headers, 'x-jitgate-timestamp': String(ts + 301) }, d.body, SECRET, ts + 301), false);
  });

  test('500 three times, then 200: delivered once acknowledged, same idempotency key each time', async () => {
    await until('the fourth attempt', () => flaky.got.length >= 4);
    await sleep(1500); // nothing after the acknowledgement
    assert.equal(flaky.got.length, 4);
    const keys = new Set(flaky.got.map((d) => d.headers['x-jitgate-idempotency-key']));
    assert.equal(keys.size, 1, 'one key across all attempts');
    assert.deepEqual(flaky.got.map((d) => d.headers['x-jitgate-attempt']), ['1', '2', '3', '4']);
    assert.ok(flaky.got.every((d) => d.body === flaky.got[0].body), 'the same notification each time');
    assert.ok(flaky.got.every((d) => verifySignature(d.headers, d.body, SECRET)), 'each attempt signed afresh');
    const gaps = flaky.got.slice(1).map((d, i) => d.at - flaky.got[i].at);
    assert.ok(gaps[1] > gaps[0] && gaps[2] > gaps[1], `backoff grows: ${gaps}`);
  });

  test('a Slack-compatible message: text, blocks with the request and a link to the approval page', async () => {
    const d = await until('the slack message', () => slack.got.find((x) => x.json?.text?.includes('payment-gateway')));
    assert.match(d.json.text, /^Access request waiting for approval: alice on payment-gateway \(deploy-probe\)/);
    const text = JSON.stringify(d.json.blocks);
    for (const want of ['*Requester*\\nalice', '*Service*\\npayment-gateway', '*Capabilities*\\ndeploy-probe', INC])
      assert.ok(text.includes(want), `blocks hold ${want}`);
    const button = d.json.blocks.find((b) => b.type === 'actions').elements[0];
    assert.equal(button.url, `${jg.url}/approvals`);
    assert.equal(d.headers['x-jitgate-signature'], undefined, 'no secret configured for this sink');
  });

  test('a receiver that hangs does not slow POST /v1/requests', async () => {
    await until('the hanging receiver got the first one', () => hang.got.length >= 1);
    const times = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const r = await pendingReq();
      times.push(performance.now() - t0);
      assert.equal(r.status, 201, r.body);
    }
    // the hanging sink's timeout is 10 s; each request answered far below it
    assert.ok(Math.max(...times) < 2000, `latencies ${times.map((t) => t.toFixed(0))} ms`);
  });

  test('a receiver down for a while misses nothing', async () => {
    await sleep(2500); // down, while jitgate keeps retrying with backoff
    assert.equal(outage.got.length, 0, 'nothing got through while the receiver was down');
    outage.down = false;
    const want = main.events('request.pending').map((d) => d.json.request.id).filter((id) => id);
    await until('every pending request at the returning receiver', () => {
      const got = new Set(outage.got.map((d) => d.json.request.id));
      return want.every((id) => got.has(id)) && got.size >= 6;
    });
    assert.ok(outage.got.every((d) => verifySignature(d.headers, d.body, SECRET)));
  });

  test('after max_attempts a notification is dead-lettered and counted in /metrics', async () => {
    const m = await until('dead letters in /metrics', async () => {
      const r = await jg.request('GET', '/metrics');
      return /jitgate_notifications_total\{sink="dead",result="dead"\} [1-9]/.test(r.body) ? r.body : null;
    }, 20000);
    const attempts = dead.got.filter((d) => d.json.request.id === reqId);
    assert.equal(attempts.length, 5, 'max_attempts: 5');
    assert.match(m, /jitgate_notifications_total\{sink="flaky",result="delivered"\} [1-9]/);
    assert.match(m, /jitgate_notifications_total\{sink="flaky",result="retried"\} 3\n/);
    assert.match(m, /jitgate_notifications_queued\{sink="dead",state="dead"\} [1-9]/);
  });

  test('decisions reach the requester: approved, denied, cancelled', async () => {
    const a = await post('bob', `/v1/requests/${reqId}/approve`);
    assert.equal(a.status, 200, a.body);
    const r2 = await pendingReq();
    assert.equal((await post('bob', `/v1/requests/${r2.json.id}/deny`, { reason: 'not now' })).status, 200);
    const r3 = await pendingReq();
    assert.equal((await post('alice', `/v1/requests/${r3.json.id}/cancel`)).status, 200);
    for (const [type, id] of [['request.approved', reqId], ['request.denied', r2.json.id], ['request.cancelled', r3.json.id]]) {
      const d = await until(type, () => main.events(type).find((x) => x.json.request.id === id));
      assert.deepEqual(d.json.audiences, ['requester']);
      assert.equal(d.json.request.requester, 'alice');
      assert.equal(d.json.links.my_access, `${jg.url}/`);
      assert.equal(d.json.links.approvals, undefined, 'a requester is not sent to the approval page');
    }
    assert.equal(main.events('request.approved')[0].json.request.state, 'active');
    assert.equal(main.events('request.denied')[0].json.request.end_reason, 'not now');
  });

  test('break-glass use goes to the approvers and the security channel, then overdue review', async () => {
    const r = await post('frank', '/v1/requests', { service: 'payment-gateway', capabilities: ['read-logs'], duration: '10m', justification: 'INC-9 outage, everything down', break_glass: true });
    assert.equal(r.status, 201, r.body);
    const d = await until('break_glass.used', () => main.events('break_glass.used').find((x) => x.json.request.id === r.json.id));
    assert.deepEqual(d.json.audiences, ['approvers', 'security']);
    assert.ok(d.json.approvers.groups.includes('payments-leads'));
    assert.equal(d.json.request.break_glass, true);
    const o = await until('grant.review_overdue', () => main.events('grant.review_overdue').find((x) => x.json.request.id === r.json.id));
    assert.ok(o.at - d.at >= 900, 'review_overdue_seconds: 2 (whole seconds)');
  });

  test('a grant ending soon, then ended, is told to the requester', async () => {
    const r = await post('alice', '/v1/requests', { service: 'payment-gateway', capabilities: ['read-logs'], duration: 5, justification: 'quick look' });
    assert.equal(r.status, 201, r.body);
    const soon = await until('grant.expiring', () => main.events('grant.expiring').find((x) => x.json.request.id === r.json.id));
    const gone = await until('grant.expired', () => main.events('grant.expired').find((x) => x.json.request.id === r.json.id));
    assert.ok(soon.at < gone.at);
    assert.equal(gone.json.request.state, 'expired');
  });

  test('a grant that ends sends its receipt to the requester and to those who approved it', async () => {
    // reqId: alice's deploy-probe grant, approved by bob above, never used
    const rv = await post('alice', `/v1/grants/${reqId}/revoke`, { reason: 'done' });
    assert.equal(rv.status, 200, rv.body);
    const d = await until('grant.receipt', () => main.events('grant.receipt').find((x) => x.json.request.id === reqId));
    assert.deepEqual(d.json.audiences.sort(), ['approvers', 'requester']);
    assert.deepEqual(d.json.approvers.users, ['bob']);
    const r = d.json.request.receipt;
    assert.equal(r.grant, reqId);
    assert.equal(r.requester, 'alice');
    assert.deepEqual(r.approvers, ['bob']);
    assert.equal(r.end, 'grant.revoked');
    assert.equal(r.unused, true);
    assert.equal(d.json.request.unused, true);
    // the same receipt the request shows
    assert.deepEqual((await jg.as('alice', 'GET', `/v1/requests/${reqId}`)).json.receipt, r);
  });

  test('reminder after remind_after, escalation to the fallback group after escalate_after', async () => {
    const t0 = Date.now();
    const r = await pendingReq('notify-api');
    assert.equal(r.status, 201, r.body);
    const id = r.json.id;
    const rem = await until('request.reminder', () => main.events('request.reminder').find((x) => x.json.request.id === id));
    assert.ok(rem.at - t0 >= 1000, `reminded after ${rem.at - t0} ms (remind_after: 2s)`);
    assert.deepEqual(rem.json.approvers.groups, ['payments-leads']);
    const e = await until('request.escalated', () => esc.events('request.escalated').find((x) => x.json.request.id === id));
    assert.ok(e.at - t0 >= 3000, `escalated after ${e.at - t0} ms (escalate_after: 4s)`);
    assert.deepEqual(e.json.approvers.groups, ['oncall-leads']);
    assert.ok(verifySignature(e.headers, e.body, SECRET));
    await sleep(1500);
    assert.equal(main.events('request.reminder').filter((x) => x.json.request.id === id).length, 1, 'once');
    assert.equal(esc.got.length, 1, 'the fallback group hears only of the escalation');
  });

  test('operators hear when checkpoints do not reach their off-host sink', async () => {
    const d = await until('audit.checkpoint_sink_failed', () => main.events('audit.checkpoint_sink_failed')[0]);
    assert.deepEqual(d.json.audiences, ['operators']);
    assert.equal(d.json.alert.sink, 'url');
    assert.match(d.json.alert.message, /has not reached the off-host HTTPS sink/);
  });

  test('a notification is in the outbox only when its change committed', async () => {
    // a refused request (bad body) changes nothing and tells no one
    const before = main.got.length;
    const r = await post('alice', '/v1/requests', { service: 'payment-gateway', capabilities: ['deploy-probe'], duration: '30m' });
    assert.equal(r.status, 400);
    await sleep(600);
    assert.equal(main.got.filter((d) => d.json?.type === 'request.pending').length,
      main.got.slice(0, before).filter((d) => d.json?.type === 'request.pending').length);
  });

  // last: it breaks this server's log
  test('operators hear when the audit log stops verifying', async () => {
    // the first entry naming alice (matched as SQL LIKE would: ASCII case-insensitively), edited
    const first = jg.db.entries((e) => e.text.toLowerCase().includes('user:alice'))[0];
    jg.db.tamperEntry(first.seq, (text) => text.replaceAll('user:alice', 'user:alicf'));
    const d = await until('audit.verification_failed', () => main.events('audit.verification_failed')[0]);
    assert.deepEqual(d.json.audiences, ['operators']);
    assert.match(d.json.alert.message, /altered|does not verify|entry [0-9]+/);
    assert.ok(verifySignature(d.headers, d.body, SECRET));
    // audited actions now fail closed, and a change that did not happen notifies no one
    const pendings = main.events('request.pending').length;
    const r = await pendingReq();
    assert.equal(r.status, 503, r.body);
    await sleep(800);
    assert.equal(main.events('request.pending').length, pendings);
  });
});

// ---- the audit stream -----------------------------------------------------------------------

// The export of everything, via the CLI (a checkpoint first, so it covers the newest entry).
function exportAll(jg) {
  assert.equal(runJitgate(['audit', 'checkpoint', '-c', jg.configPath]).code, 0);
  const out = join(jg.dir, 'all.jsonl');
  const r = runJitgate(['audit', 'export', '-c', jg.configPath, '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(out, 'utf8').trim().split('\n').slice(1, -1);
}

// Received entries (in arrival order) against the log: in order, complete, and duplicated only
// by one rewind at the restart (recognisable by seq, byte-identical).
function checkStream(received, log) {
  const seqs = received.map((e) => JSON.parse(e).seq);
  assert.equal(seqs[0], 0);
  let rewinds = 0;
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] === seqs[i - 1] + 1) continue;
    rewinds++;
    assert.ok(seqs[i] <= seqs[i - 1] + 1 && seqs[i] > 0, `a gap after seq ${seqs[i - 1]}: ${seqs[i]}`);
  }
  assert.ok(rewinds <= 1, `duplicates only across the restart (${rewinds} rewinds)`);
  const bySeq = new Map();
  received.forEach((e, i) => {
    if (bySeq.has(seqs[i])) assert.equal(bySeq.get(seqs[i]), e, 'a duplicate is the same entry');
    bySeq.set(seqs[i], e);
  });
  assert.equal(bySeq.size, log.length);
  log.forEach((line, seq) => assert.equal(bySeq.get(seq), line, `entry ${seq} arrived as stored`));
}

// Waits for the stream to go quiet, exports the log (which appends a checkpoint entry) and
// waits until every exported entry has arrived; returns the exported entries.
async function wholeLog(jg, entries) {
  let last = -1;
  await until('the stream to go quiet', async () => {
    const n = entries().length;
    if (n === last) return true;
    last = n;
    await sleep(1000);
    return false;
  }, 30000);
  const log = exportAll(jg);
  await until('every exported entry at the SIEM', () => {
    const got = new Set(entries().map((e) => JSON.parse(e).seq));
    return log.every((_, seq) => got.has(seq));
  });
  return log;
}

async function killMidStream(jg, receivedCount, afterKill, makeEntries) {
  for (let i = 0; i < 16; i++) {
    const r = await jg.as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: `stream ${i}` }));
    assert.equal(r.status, 201, r.body);
  }
  await until('part of the stream', () => receivedCount() >= 4);
  await jg.stop('SIGKILL');
  const atKill = receivedCount();
  assert.ok(atKill < 16, `killed mid-stream (${atKill} entries had arrived)`);
  afterKill();
  jg.exited = null;
  await jg.start();
  await makeEntries();
  return atKill;
}

describe('audit stream: HTTPS webhook', () => {
  let jg, dir, files, siem, slow = true; // a slow receiver until the kill, so that it is mid-stream
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-stream-'));
    files = makeCert(dir);
    writeFileSync(join(dir, 'secret'), SECRET, { mode: 0o600 });
    siem = await receiver(files, (d) => { d.delay = slow ? 300 : 0; return 200; });
    await siem.listen();
    jg = await startJitgate({ extraConfig: ['audit_stream:', '  type: webhook', `  url: https://127.0.0.1:${siem.port}/ingest`,
      `  ca_file: ${files.cert}`, `  secret_file: ${join(dir, 'secret')}`, '  batch_size: 2', '  retry_base_ms: 100', '  retry_max_ms: 500'].join('\n') });
  });
  after(async () => { await siem?.close(); await cleanup(jg); rmSync(dir, { recursive: true, force: true }); });

  const entries = () => siem.got.flatMap((d) => d.body.trim().split('\n'));

  test('killed mid-stream and restarted: every entry arrives, in order, duplicates only at the restart', async () => {
    await killMidStream(jg, () => entries().length, () => { slow = false; }, async () => {
      for (let i = 0; i < 3; i++) await jg.as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: `after ${i}` }));
    });
    const log = await wholeLog(jg, entries);
    checkStream(entries().filter((e) => JSON.parse(e).seq < log.length), log);
    for (const d of siem.got) {
      assert.equal(d.headers['content-type'], 'application/x-ndjson');
      assert.ok(verifySignature(d.headers, d.body, SECRET));
      const seqs = d.body.trim().split('\n').map((e) => JSON.parse(e).seq);
      assert.equal(Number(d.headers['x-jitgate-first-seq']), seqs[0]);
      assert.equal(Number(d.headers['x-jitgate-last-seq']), seqs.at(-1));
    }
    const m = await jg.request('GET', '/metrics');
    assert.match(m.body, /jitgate_audit_stream_next_seq\{type="webhook"\} [1-9]/);
  });
});

describe('audit stream: syslog (RFC 5424) over TLS', () => {
  let jg, dir, files, server, slow = true;
  const messages = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-syslog-'));
    files = makeCert(dir);
    const port = await freePort();
    // RFC 5425 octet counting; the close_notify answering jitgate's comes a little later
    server = tls.createServer({ key: readFileSync(files.key), cert: readFileSync(files.cert), allowHalfOpen: true }, (sock) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        for (;;) {
          const sp = buf.indexOf(0x20);
          if (sp < 0) break;
          const len = Number(buf.subarray(0, sp).toString());
          if (buf.length < sp + 1 + len) break;
          messages.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
          buf = buf.subarray(sp + 1 + len);
        }
      });
      sock.on('end', () => setTimeout(() => sock.end(), slow ? 300 : 0));
      sock.on('error', () => {});
    });
    await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
    jg = await startJitgate({ extraConfig: ['audit_stream:', '  type: syslog', `  address: "127.0.0.1:${port}"`,
      `  ca_file: ${files.cert}`, '  batch_size: 2', '  retry_base_ms: 100', '  retry_max_ms: 500'].join('\n') });
  });
  after(async () => { server?.close(); await cleanup(jg); rmSync(dir, { recursive: true, force: true }); });

  const parse = (m) => {
    const r = /^<110>1 (\S+) 127\.0\.0\.1 jitgate - audit \[jitgate@32473 seq="(\d+)" type="([a-z._-]+)"\] (.*)$/s.exec(m);
    assert.ok(r, `an RFC 5424 message: ${m.slice(0, 120)}`);
    return { time: r[1], seq: Number(r[2]), type: r[3], entry: r[4] };
  };
  const entries = () => messages.map((m) => parse(m).entry);

  test('killed mid-stream and restarted: every entry arrives, in order, duplicates only at the restart', async () => {
    await killMidStream(jg, () => messages.length, () => { slow = false; }, async () => {
      for (let i = 0; i < 3; i++) await jg.as('alice', 'POST', '/v1/requests', json({ service: 'payment-gateway', capabilities: ['read-logs'], duration: '1h', justification: `after ${i}` }));
    });
    const log = await wholeLog(jg, entries);
    checkStream(entries().filter((e) => JSON.parse(e).seq < log.length), log);
    for (const m of messages) {
      const p = parse(m);
      const e = JSON.parse(p.entry);
      assert.equal(p.seq, e.seq);
      assert.equal(p.type, e.type);
      assert.equal(p.time, new Date(e.ts).toISOString());
    }
  });
});
