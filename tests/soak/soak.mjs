// `make soak`: a mixed workload at a fixed rate against one jitgate instance, for a set time.
//
//   SOAK_SECONDS=600  how long the workload runs (after set-up)
//   SOAK_RATE=50      operations started per second (open loop: a slow server does not slow
//                     the arrivals; at most SOAK_INFLIGHT operations run at once)
//   SOAK_WARMUP=60    seconds excluded from the memory check
//   SOAK_RSS_GROWTH_MB=16  the largest allowed growth of jitgate's RSS from the end of the
//                     warm-up to the end of the run (medians of the samples of a minute each)
//   SOAK_OUT=build/soak/result.json  where the figures are written
//
// The real binary over HTTPS, its own development OpenID provider (tests/e2e/lib/), a real
// SQLite file.  The mix: new requests (read-logs granted at once; deploy-probe pending), bob's
// approvals of the pending ones, capability tokens, guarded reads (probe list) and writes
// (probe deploy), agents polling and posting events with an ingest key, request lists.  At the
// end the audit log is exported and verified offline with `jitgate audit verify`, and the
// server must stop cleanly.  Exit 1 when an operation failed, the memory grew past the
// threshold, or the log does not verify.
import https from 'node:https';
import os from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startJitgate, cleanup, runJitgate, BIN, ROOT } from '../e2e/lib/harness.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d);
const SECONDS = env('SOAK_SECONDS', 600);
const RATE = env('SOAK_RATE', 50);
const WARMUP = env('SOAK_WARMUP', Math.min(60, Math.floor(SECONDS / 4)));
const GROWTH_MB = env('SOAK_RSS_GROWTH_MB', 16);
const INFLIGHT = env('SOAK_INFLIGHT', 64);
const OUT = process.env.SOAK_OUT ?? join(ROOT, 'build', 'soak', 'result.json');
const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// The soak is one engineer population behind one address: the per-identity and per-address
// request limits are raised to what the mix needs (about 6 new requests/s); the failure limits
// keep their defaults (the mix makes no failures).
const LIMITS = ['limits:', '  requests_per_minute: 100000', '  requests_burst: 1000',
  '  requests_per_address_per_minute: 100000', '  requests_address_burst: 1000',
  '  max_connections_per_address: 256', ''].join('\n');

const jg = await startJitgate({ extraConfig: LIMITS });
const agent = new https.Agent({ keepAlive: true, maxSockets: 32, ca: jg.ca });
let failed = false;

function call(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let data = null;
  if (body !== undefined) {
    data = JSON.stringify(body);
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(data));
  }
  return new Promise((ok, fail) => {
    const req = https.request({ host: '127.0.0.1', port: jg.port, method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        ok({ status: res.statusCode, body: text, json });
      });
    });
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    if (data !== null) req.write(data);
    req.end();
  });
}
const as = async (user, method, path, body) => call(method, path, { token: await jg.tokenFor(user), body });
const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });

// ---- set-up: a service with an ingest key, an approved deploy-probe grant and a probe

let r = cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads');
if (r.status !== 0) throw new Error(r.stderr);
r = cli('ingest-key', 'create', SVC);
const ingestKey = (r.stdout + r.stderr).match(/jgk_[A-Za-z0-9_-]{43}/)?.[0];
if (!ingestKey) throw new Error(`no ingest key: ${r.stdout} ${r.stderr}`);

const grants = [];   // active deploy-probe grants of alice: { id, token, tokenAt }
const pending = [];  // deploy-probe requests waiting for bob
const probes = [];   // live probe ids (newest last)

async function newProbeGrant() {
  const c = await as('alice', 'POST', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '1h', justification: INC });
  const a = await as('bob', 'POST', `/v1/requests/${c.json.id}/approve`, {});
  const t = await as('alice', 'POST', `/v1/grants/${c.json.id}/token`, {});
  if (c.status !== 201 || a.status !== 200 || t.status !== 201) throw new Error(`set-up: ${c.body} ${a.body} ${t.body}`);
  grants.push({ id: c.json.id, token: t.json.token, tokenAt: Date.now() });
}
await newProbeGrant();
const probeBody = () => ({ function: 'PaymentProcessor.selectProvider', capture_args: true, capture_return: false, sampling_rate: 0.5, duration: 3000, conditions: [{ field: 'amount', op: 'gt', value: 1000 }] });
r = await call('POST', `/v1/services/${SVC}/probes`, { token: grants[0].token, body: probeBody() });
if (r.status !== 201) throw new Error(`set-up probe: ${r.body}`);
probes.push(r.json.id);

// ---- the mix: [name, weight, run] - run resolves to the reply; `want` is the expected status

const pick = (a) => a[Math.floor(Math.random() * a.length)];
const grant = () => grants[grants.length - 1];
const ops = [
  ['request.create', 10, async () => {
    if (Math.random() < 0.5) {
      return { want: 201, r: await as('alice', 'POST', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '1h', justification: 'soak read' }) };
    }
    const res = await as('alice', 'POST', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '1h', justification: INC });
    if (res.status === 201) pending.push(res.json.id);
    return { want: 201, r: res };
  }],
  ['request.approve', 4, async () => {
    const id = pending.shift();
    if (!id) return null;
    const res = await as('bob', 'POST', `/v1/requests/${id}/approve`, {});
    if (res.status === 200 && grants.length < 50) grants.push({ id, token: null, tokenAt: 0 });
    return { want: 200, r: res };
  }],
  ['token.issue', 8, async () => {
    const g = pick(grants);
    const res = await as('alice', 'POST', `/v1/grants/${g.id}/token`, {});
    if (res.status === 201) Object.assign(g, { token: res.json.token, tokenAt: Date.now() });
    return { want: 201, r: res };
  }],
  ['guarded.probe_list', 25, async () => {
    const g = grants.filter((x) => x.token && Date.now() - x.tokenAt < 240000);
    if (!g.length) return null;
    return { want: 200, r: await call('GET', `/v1/services/${SVC}/probes`, { token: pick(g).token }) };
  }],
  ['guarded.probe_deploy', 5, async () => {
    const g = grants.filter((x) => x.token && Date.now() - x.tokenAt < 240000);
    if (!g.length) return null;
    const res = await call('POST', `/v1/services/${SVC}/probes`, { token: pick(g).token, body: probeBody() });
    if (res.status === 201) { probes.push(res.json.id); if (probes.length > 20) probes.shift(); }
    return { want: 201, r: res };
  }],
  ['agent.poll', 15, async () => ({ want: 200, r: await call('GET', `/v1/agents/probes?service=${SVC}`, { token: ingestKey }) })],
  ['agent.events', 20, async () => {
    const events = Array.from({ length: 5 }, (_, i) => ({ ts: Date.now(), amount: 1000 + i, args: { user: 'customer-42', card: '4111 1111 1111 1111' }, return: null }));
    return { want: 201, r: await call('POST', `/v1/agents/probes/${pick(probes.slice(-5))}/events`, { token: ingestKey, body: { events } }) };
  }],
  ['request.list', 13, async () => ({ want: 200, r: await as(pick(['alice', 'bob', 'erin']), 'GET', '/v1/requests?limit=20') })],
];
const totalWeight = ops.reduce((s, o) => s + o[1], 0);
function chooseOp() {
  let x = Math.random() * totalWeight;
  for (const o of ops) { x -= o[1]; if (x < 0) return o; }
  return ops[0];
}

const stats = Object.fromEntries(ops.map(([n]) => [n, { n: 0, errors: 0, lat: [], samples: [] }]));
const rss = []; // [seconds since start, MiB]
const heap = []; // [seconds, heap in use MiB, SQLite MiB] from /metrics: what the RSS is made of
function sampleRss(t0) {
  const t = (Date.now() - t0) / 1000;
  try {
    const status = readFileSync(`/proc/${jg.proc.pid}/status`, 'utf8');
    const kb = (f) => Number(status.match(new RegExp(`${f}:\\s+(\\d+)`))?.[1] ?? NaN);
    rss.push([t, kb('VmRSS') / 1024, kb('RssAnon') / 1024, kb('RssFile') / 1024 + kb('RssShmem') / 1024, kb('Threads')]);
  } catch { /* exited */ }
  call('GET', '/metrics').then((m) => {
    const g = (name) => Number(m.body.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1]) / 2 ** 20;
    heap.push([t, g('jitgate_heap_inuse_bytes'), g('jitgate_sqlite_memory_bytes')]);
  }, () => {});
}

// ---- run

console.log(`soak: ${RATE} ops/s for ${SECONDS} s against ${jg.url} (pid ${jg.proc.pid}), warm-up ${WARMUP} s`);
const t0 = Date.now();
sampleRss(t0);
const rssTimer = setInterval(() => sampleRss(t0), 5000);
const idpTimer = setInterval(() => { jg.tokens = {}; }, 240000); // provider tokens last 10 minutes
let inflight = 0;
let dropped = 0; // arrivals skipped because SOAK_INFLIGHT operations were already running
let started = 0;
const running = new Set();
const total = Math.round(SECONDS * RATE);
let lastReport = t0;
for (let i = 0; i < total; i++) {
  const due = t0 + (i * 1000) / RATE;
  const wait = due - Date.now();
  if (wait > 0) await sleep(wait);
  if (Date.now() - lastReport >= 30000) {
    lastReport = Date.now();
    const done = Object.values(stats).reduce((s, x) => s + x.n, 0);
    const errs = Object.values(stats).reduce((s, x) => s + x.errors, 0);
    console.log(`  t=${Math.round((Date.now() - t0) / 1000)} s: ${done} operations, ${errs} errors, RSS ${rss.at(-1)?.[1].toFixed(1)} MiB`);
  }
  if (inflight >= INFLIGHT) { dropped++; continue; }
  const [name, , run] = chooseOp();
  inflight++;
  started++;
  const p = (async () => {
    const s0 = process.hrtime.bigint();
    let res;
    try { res = await run(); } catch (e) { res = { want: 'reply', r: { status: String(e.message), body: '' } }; }
    const ms = Number(process.hrtime.bigint() - s0) / 1e6;
    if (res === null) return; // nothing to do yet (no pending request, no token)
    const st = stats[name];
    st.n++;
    st.lat.push(ms);
    if (res.r.status !== res.want) {
      st.errors++;
      if (st.samples.length < 3) st.samples.push(`${res.r.status}: ${res.r.body.slice(0, 200)}`);
    }
  })().finally(() => { inflight--; running.delete(p); });
  running.add(p);
}
await Promise.all(running);
const elapsed = (Date.now() - t0) / 1000;
sampleRss(t0);
clearInterval(rssTimer);
clearInterval(idpTimer);

// ---- the audit log, exported and verified offline

const exp = await call('GET', '/v1/audit/export', { token: await jg.tokenFor('erin') });
const exportFile = join(jg.dir, 'soak-export.jsonl');
writeFileSync(exportFile, exp.body);
const keyFile = join(jg.dir, 'checkpoint.pub');
writeFileSync(keyFile, runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', jg.configPath]).stdout);
const v0 = Date.now();
const verify = runJitgate(['audit', 'verify', exportFile, '--key', keyFile]);
const verifyMs = Date.now() - v0;
const entries = exp.body.trim().split('\n').length - 2;
agent.destroy();
const stop = await jg.stop('SIGTERM');

// ---- figures

const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
const median = (a) => q(a, 0.5);
const rows = Object.entries(stats).map(([name, s]) => ({
  op: name, count: s.n, errors: s.errors, per_s: +(s.n / elapsed).toFixed(1),
  p50_ms: +median(s.lat).toFixed(1), p99_ms: +q(s.lat, 0.99).toFixed(1), max_ms: +Math.max(...s.lat).toFixed(1), samples: s.samples,
}));
const all = Object.values(stats).flatMap((s) => s.lat);
const after = rss.filter(([t]) => t >= WARMUP);
const base = median(after.filter(([t]) => t < WARMUP + 60).map(([, m]) => m));
const end = median(rss.filter(([t]) => t >= elapsed - 60).map(([, m]) => m));
const result = {
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version, kernel: os.release(), load_at_end: os.loadavg().map((x) => +x.toFixed(2)) },
  settings: { seconds: SECONDS, rate: RATE, warmup: WARMUP, inflight_cap: INFLIGHT, rss_growth_limit_mb: GROWTH_MB },
  elapsed_s: +elapsed.toFixed(1), operations: all.length, throughput_per_s: +(all.length / elapsed).toFixed(1),
  arrivals_dropped: dropped, errors: rows.reduce((s, x) => s + x.errors, 0),
  latency_ms: { p50: +median(all).toFixed(1), p99: +q(all, 0.99).toFixed(1) },
  ops: rows,
  heap_mib: heap.length ? { first: +heap[0][1].toFixed(1), last: +heap.at(-1)[1].toFixed(1), max: +Math.max(...heap.map((h) => h[1])).toFixed(1), sqlite_first: +heap[0][2].toFixed(1), sqlite_last: +heap.at(-1)[2].toFixed(1), samples: heap.map(([t, h, s]) => [+t.toFixed(0), +h.toFixed(1), +s.toFixed(1)]) } : null,
  rss_mib: { first: +rss[0][1].toFixed(1), after_warmup: +base.toFixed(1), last: +rss.at(-1)[1].toFixed(1), end_median: +end.toFixed(1), max: +Math.max(...rss.map(([, m]) => m)).toFixed(1), samples: rss.map(([t, m, anon, file, threads]) => [+t.toFixed(0), +m.toFixed(1), +anon.toFixed(1), +file.toFixed(1), threads]) },
  audit: { entries, export_bytes: exp.body.length, export_status: exp.status, verify_exit: verify.code, verify_ms: verifyMs, verify_out: verify.stdout.trim().split('\n')[0] },
  stop: stop,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n');

console.log(`\n${result.operations} operations in ${result.elapsed_s} s = ${result.throughput_per_s}/s (target ${RATE}/s; ${dropped} arrivals dropped at the in-flight cap), ${result.errors} errors`);
console.log('operation              count  errors   /s    p50 ms   p99 ms   max ms');
for (const x of rows) console.log(`${x.op.padEnd(22)} ${String(x.count).padStart(6)} ${String(x.errors).padStart(6)} ${String(x.per_s).padStart(5)} ${String(x.p50_ms).padStart(8)} ${String(x.p99_ms).padStart(8)} ${String(x.max_ms).padStart(8)}`);
console.log(`all                    ${String(all.length).padStart(6)}                ${String(result.latency_ms.p50).padStart(8)} ${String(result.latency_ms.p99).padStart(8)}`);
console.log(`RSS MiB: first ${result.rss_mib.first}, after warm-up ${result.rss_mib.after_warmup}, end ${result.rss_mib.end_median} (last ${result.rss_mib.last}), max ${result.rss_mib.max}`);
if (result.heap_mib) console.log(`heap in use MiB: first ${result.heap_mib.first}, last ${result.heap_mib.last}, max ${result.heap_mib.max}; of it SQLite: first ${result.heap_mib.sqlite_first}, last ${result.heap_mib.sqlite_last}`);
console.log(`audit: ${entries} entries exported (${(exp.body.length / 2 ** 20).toFixed(1)} MiB); verify exit ${verify.code} in ${verifyMs} ms: ${result.audit.verify_out}`);
console.log(`stopped: ${JSON.stringify(stop)}; figures in ${OUT}`);
for (const x of rows) for (const s of x.samples) console.log(`  ${x.op}: ${s}`);

if (result.errors > 0) { console.error('FAIL: operations failed'); failed = true; }
if (!(end - base <= GROWTH_MB)) { console.error(`FAIL: RSS grew ${(end - base).toFixed(1)} MiB after the warm-up (limit ${GROWTH_MB})`); failed = true; }
if (exp.status !== 200 || verify.code !== 0 || !/^VALID/.test(verify.stdout)) { console.error(`FAIL: the audit log does not verify: ${verify.stdout}${verify.stderr}`); failed = true; }
if (stop.code !== 0) { console.error('FAIL: jitgate did not stop cleanly'); failed = true; }
jg.exited = jg.exited ?? stop;
await cleanup(jg);
process.exit(failed ? 1 : 0);
