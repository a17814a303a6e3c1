// The reference agent (agent/, libjitgate-agent) end to end: the real server,
// the real demo service build/payments_demo linked with the agent library,
// and an engineer (alice, approved by bob) who deploys a probe on
// PaymentProcessor.selectProvider with amount gt 1000, sampling 0.5 and
// capture_args.  The agent polls, matches, samples and posts; the engineer
// reads the events back redacted; revoking the grant stops them.  Drivers
// of the same library (tests/agent/) check the resend after a 400 and the
// CPU guard stopping a really dear probe and reporting it to jitgate.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, BIN, ROOT } from './lib/harness.mjs';

const SVC = 'payment-gateway';
const FN = 'PaymentProcessor.selectProvider';
const INC = 'INC-4711 payment retries failing in eu-west';
const DEMO = process.env.JG_PAYMENTS_DEMO ?? join(ROOT, 'build', 'payments_demo'); // a sanitizer build may stand in
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

describe('reference agent (payments_demo)', () => {
  let jg;
  let keyFile;

  const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
  const stored = (probeId) => jg.db.count('probe_events', 'probe_id = ?', [probeId]);
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const withToken = (token, method, path, body) => jg.request(method, path, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : { body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

  // Runs the demo; resolves {code, stats (its last stdout line), stderr}.
  // instance: the name the agent gives itself in its probe status reports (JG_AGENT_INSTANCE).
  function runDemo(rate, seconds, instance) {
    const env = { ...process.env };
    if (instance === undefined) delete env.JG_AGENT_INSTANCE; else env.JG_AGENT_INSTANCE = instance;
    const p = spawn(DEMO, [jg.url, SVC, keyFile, join(jg.dir, 'cert.pem'), String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const done = new Promise((ok) => p.on('exit', (code) => {
      let stats = null;
      try { stats = JSON.parse(out.trim().split('\n').pop()); } catch { /* none */ }
      ok({ code, stats, stdout: out, stderr: err });
    }));
    return { proc: p, done };
  }

  async function readAll(token, probeId) {
    const events = [];
    let after = 0;
    for (;;) {
      const r = await withToken(token, 'GET', `/v1/services/${SVC}/probes/${probeId}/events?limit=1000&after=${after}`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json.redacted, true);
      events.push(...r.json.events);
      if (r.json.next_after === null) return { events, body: r.body };
      after = r.json.next_after;
    }
  }

  before(async () => {
    assert.ok(existsSync(DEMO), `${DEMO} is not built (make build)`);
    jg = await startJitgate();
    let r = cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads');
    assert.equal(r.status, 0, r.stderr);
    r = cli('ingest-key', 'create', SVC);
    assert.equal(r.status, 0, r.stderr);
    keyFile = join(jg.dir, 'payment-gateway.key');
    writeFileSync(keyFile, r.stdout, { mode: 0o600 });
  });
  after(() => cleanup(jg));

  let grant;
  let token;
  let probe;

  test('the demo agent captures matching calls, sampled at about 0.5, at most the default 10 a second; the engineer reads them redacted', async (ctx) => {
    const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC });
    assert.equal(q.status, 201, q.body);
    const ok = await post('bob', `/v1/requests/${q.json.id}/approve`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.state, 'active');
    grant = ok.json;
    const tok = await post('alice', `/v1/grants/${grant.id}/token`);
    assert.equal(tok.status, 201, tok.body);
    token = tok.json.token;

    const d = await withToken(token, 'POST', `/v1/services/${SVC}/probes`, {
      function: FN, capture_args: true, capture_return: false, sampling_rate: 0.5, duration: 600,
      conditions: [{ field: 'amount', op: 'gt', value: 1000 }],
      // the default rate (10 a second); hits enough for this test's run and the next one's
      limits: { max_hits: 1000 },
    });
    assert.equal(d.status, 201, d.body);
    probe = d.json;
    const deployedAt = Date.now();

    const demo = runDemo(200, 4);
    // events arrive within 5 s of deploying
    let first = null;
    while (Date.now() - deployedAt < 5000) {
      if (stored(probe.id) > 0) { first = Date.now() - deployedAt; break; }
      await sleep(100);
    }
    assert.ok(first !== null, `no event within 5 s of deploying (demo stderr: ${await Promise.race([demo.done.then((r) => r.stderr), sleep(10).then(() => '(running)')])})`);

    const res = await demo.done;
    assert.equal(res.code, 0, res.stderr);
    const s = res.stats;
    assert.ok(s, `no stats line: ${res.stdout}`);
    assert.equal(s.calls, 800);
    assert.ok(s.polls_ok >= 1, JSON.stringify(s));
    assert.ok(s.matched > 200 && s.matched <= s.over_1000, JSON.stringify(s));
    assert.equal(s.posted, s.captured, `every captured event was posted: ${JSON.stringify(s)}`);
    assert.equal(s.dropped, 0);

    ctx.diagnostic(`first event ${first} ms after deploying; demo: ${JSON.stringify(s)}`);
    const { events, body } = await readAll(token, probe.id);
    assert.equal(events.length, s.posted, 'the server holds what the agent posted');
    assert.equal(stored(probe.id), s.posted);
    // the list gives each live probe the number of its events stored
    const listed = await withToken(token, 'GET', `/v1/services/${SVC}/probes`);
    assert.equal(listed.status, 200, listed.body);
    const mine = listed.json.probes.find((x) => x.id === probe.id);
    assert.ok(mine, listed.body);
    assert.equal(mine.events, s.posted, 'the probe list counts the events the agent posted');
    // sampling comes before the rate bucket: what was sampled is binomial(matched, 0.5), within 5 sigma
    const n = s.matched;
    const sigma = Math.sqrt(n * 0.25);
    const sampled = s.captured + s.skipped_rate;
    assert.ok(Math.abs(sampled - n / 2) <= 5 * sigma, `sampled ${sampled} of ${n} matching calls`);
    // the probe's default rate (docs/agents.md): a bucket of 10 a second with a burst of 10 over the
    // 4 s run, far below its max_hits (1000)
    assert.ok(s.captured >= 10 && s.captured <= 10 + 10 * 4, JSON.stringify(s));
    assert.ok(s.skipped_rate > 0, JSON.stringify(s));
    assert.equal(s.skipped_max_hits, 0);
    assert.equal(s.truncated, 0);
    // a probe this cheap is never stopped by the CPU guard, however busy the host
    assert.equal(s.cpu_disabled, 0, JSON.stringify(s));
    for (const e of events) {
      const ev = e.event;
      assert.ok(ev, JSON.stringify(e));
      assert.equal(ev.function, FN);
      assert.match(ev.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(ev.args.amount > 1000, JSON.stringify(ev));
      assert.ok(['EUR', 'USD', 'GBP'].includes(ev.args.currency));
      assert.equal(ev.args.customer_email, '[REDACTED:email]');
      assert.ok(!('return' in ev), 'capture_return was false');
      assert.ok(!('truncated' in ev), 'nothing was over the limits');
    }
    assert.ok(!/@example\.com/.test(body), 'an email was read back without read-pii');
    // what is stored is what the agent sent
    assert.match(jg.db.rows('SELECT event FROM probe_events WHERE probe_id = ? LIMIT 1', [probe.id])[0]?.event ?? '', /customer\d+@example\.com/);
  });

  test('after the grant is revoked no new events arrive', async (t) => {
    assert.ok(probe, 'the previous test deployed no probe');
    const demo = runDemo(200, 7);
    const start = stored(probe.id);
    // the agent is capturing again
    const until = Date.now() + 5000;
    while (stored(probe.id) === start && Date.now() < until) await sleep(100);
    assert.ok(stored(probe.id) > start, 'the second demo run posted nothing');

    const rv = await post('alice', `/v1/grants/${grant.id}/revoke`, { reason: 'found it' });
    assert.equal(rv.status, 200, rv.body);
    const count = stored(probe.id);
    await sleep(3000);
    assert.equal(stored(probe.id), count, 'events arrived after the grant was revoked');

    const res = await demo.done;
    assert.equal(res.code, 0, res.stderr);
    t.diagnostic(`demo: ${JSON.stringify(res.stats)}; stored before ${start}, at revocation ${count}`);
    // everything jitgate accepted came before the revocation; what was queued after it was dropped (409)
    assert.equal(start + res.stats.posted, count, JSON.stringify(res.stats));
    assert.ok(res.stats.dropped > 0, JSON.stringify(res.stats));
    assert.equal(res.stats.captured, res.stats.posted + res.stats.dropped);
    assert.equal(stored(probe.id), count);
  });

  test('an expired probe records nothing past its expires_at', async (t) => {
    const { token: tok } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe'], justification: INC });
    // 6 s of probe in 9 s of calls: long enough that the agent, started and polling under the load
    // of the whole suite (two of them at once in make test), still posts some events in time
    const d = await withToken(tok, 'POST', `/v1/services/${SVC}/probes`, {
      function: FN, capture_args: true, sampling_rate: 1, duration: 6, conditions: [],
    });
    assert.equal(d.status, 201, d.body);
    const res = await runDemo(100, 9).done;
    assert.equal(res.code, 0, res.stderr);
    t.diagnostic(`demo: ${JSON.stringify(res.stats)}; expires_at ${d.json.expires_at}`);
    const n = stored(d.json.id);
    assert.ok(n > 0, 'nothing was captured before expiry');
    assert.ok(res.stats.matched <= 6 * 100 + 20, `the agent kept matching after expiry: ${JSON.stringify(res.stats)}`);
    const { events } = await readAll(tok, d.json.id);
    assert.equal(events.length, n);
    for (const e of events) {
      assert.ok(Date.parse(e.event.ts) / 1000 < d.json.expires_at + 0.001, `captured after expiry: ${e.event.ts}`);
      assert.ok(e.received_at <= d.json.expires_at, JSON.stringify(e));
    }
  });
  test('an event nested 40 levels deep is cut at max_depth, named in truncated, and delivered with the rest', async () => {
    const { token: tok } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe'], justification: INC });
    const d = await withToken(tok, 'POST', `/v1/services/${SVC}/probes`, {
      function: 'Resend.check', capture_args: true, sampling_rate: 1, duration: 600, conditions: [],
    });
    assert.equal(d.status, 201, d.body);
    // n=1, then an event nested 40 levels deep (jitgate would refuse it whole: the agent cuts it at the
    // default max_depth 3 instead), then n=3, in one batch
    const r = spawnSync(join(ROOT, 'build', 'tests', 'agent_resend'),
      [jg.url, SVC, keyFile, join(jg.dir, 'cert.pem'), 'Resend.check'], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    const st = JSON.parse(r.stdout.trim());
    assert.deepEqual(st, { installed_seen: true, posted: 3, dropped: 0, truncated: 1 });
    const { events } = await readAll(tok, d.json.id);
    assert.deepEqual(events.map((e) => e.event.args.n), [1, 2, 3]);
    // args.x at depth 1, x.d at 2, x.d.d at 3 = max_depth: sent empty, its path named
    assert.deepEqual(events[1].event.args.x, { d: { d: {} } });
    assert.deepEqual(events[1].event.truncated, ['args.x.d.d']);
    assert.ok(!('truncated' in events[0].event) && !('truncated' in events[2].event));
  });

  test('a really dear probe is stopped by the agent\'s CPU guard and reported; the cheap probe beside it goes on', async () => {
    const { token: tok } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe'], justification: INC });
    // the condition scans a 1 MiB string on every call: far more than 1 ms of CPU a second
    const dear = await withToken(tok, 'POST', `/v1/services/${SVC}/probes`, {
      function: 'Costly.scan', capture_args: false, sampling_rate: 1, duration: 600,
      conditions: [{ field: 'note', op: 'contains', value: 'never-there' }], limits: { max_cpu_ms_per_second: 1 },
    });
    assert.equal(dear.status, 201, dear.body);
    const cheap = await withToken(tok, 'POST', `/v1/services/${SVC}/probes`, {
      function: 'Costly.cheap', capture_args: true, sampling_rate: 1, duration: 600, conditions: [],
    });
    assert.equal(cheap.status, 201, cheap.body);
    const r = spawnSync(join(ROOT, 'build', 'tests', 'agent_costly'),
      [jg.url, SVC, keyFile, join(jg.dir, 'cert.pem'), 'Costly.scan', 'Costly.cheap'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const st = JSON.parse(r.stdout.trim());
    assert.equal(st.installed_seen, true, r.stdout);
    assert.equal(st.cpu_disabled, 1, r.stdout);
    assert.equal(st.cpu_reported, 1, r.stdout);
    assert.equal(st.reports_failed, 0, r.stdout);
    assert.equal(st.posted, st.captured, r.stdout);
    assert.ok(st.posted >= 10, r.stdout); // the cheap probe captured throughout, dear's stop included

    // jitgate took the report: audited, the dear probe no longer polled, its grant's other probe unaffected
    const exp = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(exp.status, 200, exp.body);
    const dis = exp.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l))
      .filter((e) => e.type === 'probe.disabled' && e.data.probe === dear.json.id);
    assert.equal(dis.length, 1);
    assert.equal(dis[0].actor, `agent:${SVC}`);
    assert.equal(dis[0].data.reason, 'cpu');
    assert.ok(dis[0].data.cpu_ms_per_second > 1, JSON.stringify(dis[0].data));
    const poll = await jg.request('GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer ${readFileSync(keyFile, 'utf8').trim()}` } });
    assert.equal(poll.status, 200, poll.body);
    const polled = poll.json.probes.map((p) => p.id);
    assert.ok(!polled.includes(dear.json.id), 'the stopped probe is still polled');
    assert.ok(polled.includes(cheap.json.id), 'the cheap probe was stopped too');
    assert.equal(stored(dear.json.id), 0);
    assert.equal(stored(cheap.json.id), st.posted);
  });

  test('running agents report the probe installed: the list counts each instance', async (t) => {
    const { token: tok } = await jg.grantToken({ service: SVC, capabilities: ['deploy-probe'], justification: INC });
    const d = await withToken(tok, 'POST', `/v1/services/${SVC}/probes`, {
      function: FN, capture_args: true, sampling_rate: 0.1, duration: 600, conditions: [],
    });
    assert.equal(d.status, 201, d.body);
    const status = async () => {
      const r = await withToken(tok, 'GET', `/v1/services/${SVC}/probes`);
      assert.equal(r.status, 200, r.body);
      return r.json.probes.find((x) => x.id === d.json.id).status;
    };
    assert.deepEqual(await status(), { installed: 0, dropped: 0, failed: [] }, 'no agent ran since it was deployed');
    // each agent reports right after its first poll, at start; two name themselves, one does not
    const runs = [runDemo(20, 4, 'demo-a:1'), runDemo(20, 4, 'demo-b:2'), runDemo(20, 4)];
    let seen = null;
    const until = Date.now() + 3500;
    while (Date.now() < until) {
      seen = await status();
      if (seen.installed === 3) break;
      await sleep(100);
    }
    assert.deepEqual(seen, { installed: 3, dropped: 0, failed: [] }, 'three running agents');
    for (const run of runs) {
      const res = await run.done;
      assert.equal(res.code, 0, res.stderr);
      t.diagnostic(`demo: ${JSON.stringify(res.stats)}`);
      assert.ok(res.stats.status_sent >= 1, JSON.stringify(res.stats));
      assert.equal(res.stats.status_failed, 0, JSON.stringify(res.stats));
    }
    const rows = jg.db.rows('SELECT instance, state FROM probe_installs WHERE probe_id = ? ORDER BY instance', [d.json.id]);
    assert.equal(rows.length, 3, JSON.stringify(rows));
    assert.deepEqual(rows.slice(0, 2).map((r) => `${r.instance}=${r.state}`), ['demo-a:1=installed', 'demo-b:2=installed']);
    assert.match(rows[2].instance, /^.+:\d+$/, 'the third agent named itself <host>:<pid>');
    assert.equal(rows[2].state, 'installed');
  });
});
