// jitgate-probe (probe/, docs/agents.md "jitgate-probe") end to end, as root, with real uprobes:
// the real server, the unmodified native program build/native_demo (copied per run so that its
// uprobes are told apart from anyone else's by file name), and an engineer (alice, approved by
// bob) who deploys native probes on charge(long amount, const char *note).  What is attached is
// read from the kernel with `bpftool perf list` (libbpf attaches through the perf uprobe PMU, so
// uprobe_events stays empty).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, BIN, ROOT } from './lib/harness.mjs';

const SVC = 'payment-gateway'; // a service the default policies cover
const INC = 'INC-5150 double charges on the native ledger';
const PROBE_BIN = process.env.JG_PROBE_BIN ?? join(ROOT, 'build', 'jitgate-probe'); // a sanitizer build may stand in
const DEMO_BIN = join(ROOT, 'build', 'native_demo');
const BPFTOOL = existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool';
const ARGS = [{ index: 0, name: 'amount', type: 'i64' }, { index: 1, name: 'note', type: 'str' }];
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// The uprobes the kernel holds on file (by `bpftool perf list`), as {pid, kind}.
function uprobesOn(file) {
  const r = spawnSync(BPFTOOL, ['-j', 'perf', 'list'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const all = r.stdout.trim() === '' ? [] : JSON.parse(r.stdout);
  return all.filter((x) => x.filename === file).map((x) => ({ pid: x.pid, kind: x.fd_type }));
}

async function until(what, fn, ms = 15000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('jitgate-probe: eBPF uprobes on an unmodified native program', () => {
  let jg;
  let keyFile;
  let demoPath;
  let demo;
  let total = 0; // the demo's running total: what charge() returns
  let grant;
  let token;

  const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
  const stored = (id) => jg.db.count('probe_events', 'probe_id = ?', [id]);
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const withToken = (method, path, body, tok = token) => jg.request(method, path, body === undefined
    ? { headers: { authorization: `Bearer ${tok}` } }
    : { body: JSON.stringify(body), headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' } });
  const deploy = (spec) => withToken('POST', `/v1/services/${SVC}/probes`, spec);

  async function newGrant() {
    const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '30m', justification: INC });
    assert.equal(q.status, 201, q.body);
    const ok = await post('bob', `/v1/requests/${q.json.id}/approve`);
    assert.equal(ok.status, 200, ok.body);
    grant = ok.json;
    const tok = await post('alice', `/v1/grants/${grant.id}/token`);
    assert.equal(tok.status, 201, tok.body);
    token = tok.json.token;
  }

  // The demo reads "AMOUNT NOTE" lines and answers "charged TOTAL" after each call of charge().
  function startDemo(path) {
    const p = spawn(path, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const waiters = [];
    const benches = [];
    p.stdout.on('data', (d) => {
      out += d;
      let i;
      while ((i = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        if (line.startsWith('{')) { benches.push(JSON.parse(line)); continue; } // a bench's result
        const w = waiters.shift();
        if (w) w(line);
      }
    });
    const next = () => new Promise((ok) => waiters.push(ok));
    const ready = next();
    return {
      proc: p,
      ready,
      benches,
      async call(amount, note) {
        const answer = next();
        p.stdin.write(`${amount} ${note}\n`);
        const line = await answer;
        total += amount + (note.length > 0 ? 1 : 0);
        assert.equal(line, `charged ${total}`);
        return total;
      },
    };
  }

  function startProbe(target) {
    const p = spawn(PROBE_BIN, ['--url', jg.url, '--service', SVC, '--key-file', keyFile,
      '--cacert', join(jg.dir, 'cert.pem'), '--target', target, '--instance', 'ledger-1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const r = { proc: p, stdout: '', stderr: '' };
    p.stdout.on('data', (d) => { r.stdout += d; });
    p.stderr.on('data', (d) => { r.stderr += d; });
    // 'close': the process exited and its stdout and stderr were read to the end
    r.exited = new Promise((ok) => p.on('close', (code, signal) => ok({ code, signal })));
    return r;
  }

  async function readAll(id, tok = token) {
    const r = await withToken('GET', `/v1/services/${SVC}/probes/${id}/events?limit=1000`, undefined, tok);
    assert.equal(r.status, 200, r.body);
    return r.json.events.map((e) => e.event);
  }

  before(async () => {
    assert.equal(process.getuid(), 0, 'uprobes need root (or CAP_BPF and CAP_PERFMON)');
    assert.ok(existsSync(PROBE_BIN) && existsSync(DEMO_BIN), 'build/jitgate-probe and build/native_demo are built (make build)');
    jg = await startJitgate();
    let r = cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads');
    assert.equal(r.status, 0, r.stderr);
    r = cli('ingest-key', 'create', SVC);
    assert.equal(r.status, 0, r.stderr);
    keyFile = join(jg.dir, 'ledger.key');
    writeFileSync(keyFile, r.stdout, { mode: 0o600 });
    demoPath = join(jg.dir, 'native_demo');
    copyFileSync(DEMO_BIN, demoPath);
    spawnSync('chmod', ['755', demoPath]);
    demo = startDemo(demoPath);
    await demo.ready;
    await newGrant();
  });
  after(async () => {
    if (demo) demo.proc.kill('SIGKILL');
    await cleanup(jg);
  });

  test('args are validated on deploy, conditions may name only declared args, and the poll lists them', async () => {
    const base = { function: 'charge', capture_args: true, duration: 60 };
    const bad = [
      [{ ...base, args: [] }, /'args' must be a list of 1 to 6/],
      [{ ...base, args: [{ index: 6, name: 'x', type: 'i64' }] }, /'args' must be/],
      [{ ...base, args: [{ index: 0, name: 'a', type: 'i64' }, { index: 0, name: 'b', type: 'i64' }] }, /each index and name once/],
      [{ ...base, args: [{ index: 0, name: 'a', type: 'i64' }, { index: 1, name: 'a', type: 'i64' }] }, /each index and name once/],
      [{ ...base, args: [{ index: 0, name: '1a', type: 'i64' }] }, /a field name/],
      [{ ...base, args: [{ index: 0, name: 'a', type: 'f64' }] }, /i64\|u64\|ptr\|str/],
      [{ ...base, args: [{ index: 0, name: 'a', type: 'i64', extra: 1 }] }, /'args' must be/],
      [{ ...base, args: ARGS, conditions: [{ field: 'currency', op: 'eq', value: 'EUR' }] }, /'currency' is not one of the probe's declared 'args'/],
    ];
    for (const [spec, msg] of bad) {
      const r = await deploy(spec);
      assert.equal(r.status, 400, `${JSON.stringify(spec)}: ${r.body}`);
      assert.match(r.json.error.message, msg);
    }
    // nothing was stored by the refusals
    assert.equal(jg.db.count('probes', 'service = ?', [SVC]), 0);

    // a condition on a declared sensitive name still needs read-pii
    const pii = await deploy({ ...base, args: [{ index: 1, name: 'email', type: 'str' }], conditions: [{ field: 'email', op: 'eq', value: 'x' }] });
    assert.equal(pii.status, 403, pii.body);

    const ok = await deploy({ ...base, args: ARGS, conditions: [{ field: 'amount', op: 'gt', value: 1 }], duration: 2 });
    assert.equal(ok.status, 201, ok.body);
    assert.deepEqual(ok.json.args, ARGS);
    const plain = await deploy({ ...base, duration: 2 });
    assert.equal(plain.status, 201, plain.body);
    const key = readFileSync(keyFile, 'utf8').trim();
    const poll = await jg.request('GET', `/v1/agents/probes?service=${SVC}`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(poll.status, 200, poll.body);
    const withArgs = poll.json.probes.find((p) => p.id === ok.json.id);
    assert.deepEqual(withArgs.args, ARGS);
    const without = poll.json.probes.find((p) => p.id === plain.json.id);
    assert.ok(without && !('args' in without), 'a probe without args is listed as before');
    const listed = await withToken('GET', `/v1/services/${SVC}/probes`);
    assert.deepEqual(listed.json.probes.find((p) => p.id === ok.json.id).args, ARGS);
    await sleep(2100); // both end before the next test's daemon polls
  });

  test('it attaches by symbol, captures matching calls with their integer, string and return values, stops at max_hits exactly, and detaches', async (t) => {
    const d = await deploy({
      function: 'charge', capture_args: true, capture_return: true, duration: 600, args: ARGS,
      conditions: [{ field: 'amount', op: 'gt', value: 1000 }],
      limits: { max_hits: 4, max_events_per_second: 100 },
    });
    assert.equal(d.status, 201, d.body);
    const probe = startProbe(demoPath);
    try {
      await until('the uprobe and uretprobe', () => uprobesOn(demoPath).length === 2);
      assert.deepEqual(uprobesOn(demoPath).map((x) => x.kind).sort(), ['uprobe', 'uretprobe']);
      const expected = [];
      const calls = [[500, 'small'], [1500, 'order-1'], [999, 'no'], [2000, 'zoe@example.com'], [-7, 'neg'],
        [3000, 'x'.repeat(300)], [4000, 'order-4'], [5000, 'order-5'], [6000, 'order-6']];
      for (const [amount, note] of calls) {
        const ret = await demo.call(amount, note);
        if (amount > 1000) expected.push({ amount, note, ret });
      }
      await until('4 events stored', () => stored(d.json.id) === 4);
      // max_hits: the probe is disabled by the server and the daemon detaches both probes
      await until('detached after max_hits', () => uprobesOn(demoPath).length === 0);
      await sleep(1500);
      assert.equal(stored(d.json.id), 4, 'exactly max_hits events were stored');
      const events = await readAll(d.json.id);
      assert.equal(events.length, 4);
      for (let i = 0; i < 4; i++) {
        const e = events[i];
        const x = expected[i];
        assert.equal(e.function, 'charge');
        assert.equal(e.instance, 'ledger-1');
        assert.match(e.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(Math.abs(Date.parse(e.ts) - Date.now()) < 30000, e.ts);
        assert.equal(e.args.amount, x.amount);
        assert.equal(e.return, x.ret, 'the return value joined to its entry');
        if (x.note.includes('@')) {
          assert.equal(e.args.note, '[REDACTED:email]', 'redacted for a reader without read-pii');
        } else if (x.note.length > 255) {
          // strings are cut to min(max_string_bytes, 256) = 255 and marked
          assert.equal(e.args.note, x.note.slice(0, 255));
          assert.deepEqual(e.truncated, ['args.note']);
        } else {
          assert.equal(e.args.note, x.note);
          assert.equal(e.truncated, undefined);
        }
      }
      t.diagnostic(JSON.stringify(events[0]));
    } finally {
      probe.proc.kill('SIGTERM');
      const ex = await probe.exited;
      assert.equal(ex.code, 0, probe.stderr);
    }
  });

  test('a string condition selects exactly its calls; SIGTERM detaches; after SIGKILL nothing stays attached', async () => {
    const d = await deploy({
      function: 'charge', capture_args: true, duration: 600, args: ARGS,
      conditions: [{ field: 'note', op: 'eq', value: 'hit-me' }],
      limits: { max_events_per_second: 100 },
    });
    assert.equal(d.status, 201, d.body);
    let probe = startProbe(demoPath);
    await until('attached', () => uprobesOn(demoPath).length === 1);
    assert.equal(uprobesOn(demoPath)[0].pid, probe.proc.pid, 'the daemon holds the uprobe');
    for (const [a, n] of [[1, 'hit-me'], [2, 'miss'], [3, 'hit-me-not'], [4, 'hit-me'], [5, 'hit-m']]) await demo.call(a, n);
    await until('2 events', () => stored(d.json.id) === 2);
    await sleep(1500);
    assert.equal(stored(d.json.id), 2);
    assert.deepEqual((await readAll(d.json.id)).map((e) => [e.args.amount, e.args.note]), [[1, 'hit-me'], [4, 'hit-me']]);

    probe.proc.kill('SIGTERM');
    let ex = await probe.exited;
    assert.equal(ex.code, 0, probe.stderr);
    assert.match(probe.stderr, /stopping: detaching every probe/);
    assert.equal(JSON.parse(probe.stdout.trim()).posted, 2);
    assert.deepEqual(uprobesOn(demoPath), [], 'SIGTERM detached everything');

    probe = startProbe(demoPath);
    await until('attached again', () => uprobesOn(demoPath).length === 1);
    probe.proc.kill('SIGKILL');
    ex = await probe.exited;
    assert.equal(ex.signal, 'SIGKILL');
    await until('nothing attached after SIGKILL', () => uprobesOn(demoPath).length === 0, 5000);
    // the program still runs, unprobed
    await demo.call(7, 'hit-me');
    assert.equal(stored(d.json.id), 2);
    const rm = await withToken('DELETE', `/v1/services/${SVC}/probes/${d.json.id}`);
    assert.equal(rm.status, 200, rm.body);
  });

  test('a stripped binary and an unknown symbol are clear errors; a probe detaches at its end', async () => {
    const stripped = join(jg.dir, 'native_demo_stripped');
    copyFileSync(demoPath, stripped);
    const s = spawnSync('strip', ['-s', stripped], { encoding: 'utf8' });
    assert.equal(s.status, 0, s.stderr);
    const d = await deploy({ function: 'charge', capture_args: true, duration: 10, args: ARGS });
    assert.equal(d.status, 201, d.body);
    const u = await deploy({ function: 'no_such_function', duration: 60 });
    assert.equal(u.status, 201, u.body);

    const bad = startProbe(stripped);
    await until('the stripped error', () => /no_symbols/.test(bad.stderr));
    assert.match(bad.stderr, new RegExp(`probe ${d.json.id} \\(charge\\): no_symbols: .*native_demo_stripped has no symbol table \\(stripped\\)`));
    bad.proc.kill('SIGTERM');
    await bad.exited;
    assert.deepEqual(uprobesOn(stripped), []);

    const probe = startProbe(demoPath);
    try {
      await until('the unknown symbol error', () => /symbol_not_found/.test(probe.stderr));
      assert.match(probe.stderr, new RegExp(`probe ${u.json.id} \\(no_such_function\\): symbol_not_found: .*native_demo defines no function named 'no_such_function'`));
      await until('attached', () => uprobesOn(demoPath).length === 1);
      // the deadline (expires_at - 1 s on the local clock) detaches it without a poll
      await until('detached at the end', () => uprobesOn(demoPath).length === 0, 12000);
      // (the log line may still be in the pipe when the kernel already shows the detach)
      await until('the deadline logged', () => new RegExp(`probe ${d.json.id} reached its deadline: detached`).test(probe.stderr), 2000);
    } finally {
      probe.proc.kill('SIGTERM');
      await probe.exited;
    }
  });

  test('sampling, the rate window and the CPU guard, in the kernel', async (t) => {
    // sampling 0.5 over 300 matching calls spread so that no second holds more than the rate
    const sp = await deploy({ function: 'charge', capture_args: true, duration: 600, args: ARGS, sampling_rate: 0.5,
      limits: { max_hits: 10000, max_events_per_second: 100 } });
    assert.equal(sp.status, 201, sp.body);
    let probe = startProbe(demoPath);
    try {
      await until('attached', () => uprobesOn(demoPath).length === 1);
      for (let chunk = 0; chunk < 6; chunk++) {
        for (let i = 0; i < 50; i++) await demo.call(1, 's');
        await sleep(1050);
      }
      await sleep(1500);
      const n = stored(sp.json.id);
      // binomial(300, 0.5): within 5 sigma of 150
      assert.ok(Math.abs(n - 150) <= 5 * Math.sqrt(75), `sampled ${n} of 300`);
      t.diagnostic(`sampling 0.5: ${n} of 300 calls`);
    } finally {
      probe.proc.kill('SIGTERM');
      await probe.exited;
    }
    const rm = await withToken('DELETE', `/v1/services/${SVC}/probes/${sp.json.id}`);
    assert.equal(rm.status, 200, rm.body);

    // 1,000 calls at once against a rate of 10 a second: one window's worth (two if the burst
    // straddles a second); the CPU budget at its most (100 ms a second) lets the traps through
    const rp = await deploy({ function: 'charge', capture_args: true, capture_return: true, duration: 600, args: ARGS,
      limits: { max_hits: 10000, max_events_per_second: 10, max_cpu_ms_per_second: 100 } });
    assert.equal(rp.status, 201, rp.body);
    probe = startProbe(demoPath);
    try {
      await until('attached', () => uprobesOn(demoPath).length === 2);
      demo.proc.stdin.write('bench 1000\n');
      await until('the bench', () => demo.benches.length === 1);
      await sleep(2000);
      const n = stored(rp.json.id);
      assert.ok(n >= 10 && n <= 20, `the rate window let ${n} of 1000 calls through`);
      assert.equal(uprobesOn(demoPath).length, 2, 'within its CPU budget the probe stays');
    } finally {
      probe.proc.kill('SIGTERM');
      await probe.exited;
    }
    const rm2 = await withToken('DELETE', `/v1/services/${SVC}/probes/${rp.json.id}`);
    assert.equal(rm2.status, 200, rm2.body);
    // 50,000 calls with their returns: 100,000 traps, at no less than 0.5 us each (the daemon charges
    // what it measured at start-up) far over the default 5 ms a second, so the guard detaches the
    // probe and jitgate disables it (reason cpu)
    const cp = await deploy({ function: 'charge', capture_return: true, duration: 600 });
    assert.equal(cp.status, 201, cp.body);
    probe = startProbe(demoPath);
    try {
      await until('attached', () => uprobesOn(demoPath).length === 2);
      assert.match(probe.stderr, /the probed thread's CPU per trap here: \d+ ns on entry, \d+ ns on return/);
      demo.proc.stdin.write('bench 50000\n');
      await until('the CPU guard detaches', () => uprobesOn(demoPath).length === 0, 20000);
      await until('the cpu report logged', () => new RegExp(`probe ${cp.json.id} costs about [0-9.]+ ms/s of traps \\(max 5\\): detached`).test(probe.stderr), 2000);
      await until('the probe disabled (cpu)', async () => {
        const r = await withToken('GET', `/v1/services/${SVC}/probes`);
        return !r.json.probes.some((p) => p.id === cp.json.id);
      }, 5000);
      assert.equal(jg.db.count('probes', "id = ? AND disabled_reason = 'cpu'", [cp.json.id]), 1);
      await until('the bench', () => demo.benches.length === 2, 60000);
    } finally {
      probe.proc.kill('SIGTERM');
      const ex = await probe.exited;
      assert.equal(ex.code, 0, probe.stderr);
      assert.equal(JSON.parse(probe.stdout.trim()).cpu_disabled, 1, probe.stdout + probe.stderr);
    }
    assert.equal(demo.benches.length, 2, 'both benches ran');
    t.diagnostic(`bench under the probe (entry + return): ${JSON.stringify(demo.benches[1])}`);
    await demo.call(0, 'after'); // the demo still answers, unprobed
  });

  test('revoking the grant detaches at the next poll', async () => {
    const d = await deploy({ function: 'charge', capture_args: true, duration: 600, args: ARGS });
    assert.equal(d.status, 201, d.body);
    const probe = startProbe(demoPath);
    try {
      await until('attached', () => uprobesOn(demoPath).length === 1);
      await demo.call(11, 'before');
      await until('1 event', () => stored(d.json.id) === 1);
      const rv = await post('alice', `/v1/grants/${grant.id}/revoke`, { reason: 'found it' });
      assert.equal(rv.status, 200, rv.body);
      // the server's poll_seconds is 10 (+-20 % jitter)
      await until('detached after the revocation', () => uprobesOn(demoPath).length === 0, 15000);
      await until('the revocation logged', () => new RegExp(`probe ${d.json.id} is no longer listed: detached`).test(probe.stderr), 2000);
      await demo.call(12, 'after');
      await sleep(1200);
      assert.equal(stored(d.json.id), 1);
    } finally {
      probe.proc.kill('SIGTERM');
      await probe.exited;
    }
  });
});
