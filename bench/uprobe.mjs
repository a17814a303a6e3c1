// bench/uprobe.mjs - what a jitgate-probe uprobe costs the probed program per call, next to the
// same function unprobed in the same run (bench/uprobe.sh; docs/performance.md).  As root.
//
// It starts its own jitgate and development IdP (tests/e2e/lib/harness.mjs), deploys native probes
// on charge() of build/native_demo through a grant, runs build/jitgate-probe against a copy of the
// demo, and has the demo time BENCH_UPROBE_CALLS calls of charge() and of charge_unprobed() (the
// same body, never probed) back to back ("bench N"), BENCH_RUNS times per case (the median is
// reported).  The probe's rate (1 a second) keeps the events few: what is measured is the trap and
// the BPF program's work on every call, whatever the conditions.  Prints one JSON line per case.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, BIN, ROOT } from '../tests/e2e/lib/harness.mjs';

const SVC = 'payment-gateway';
// few enough calls a run that the traps stay within the probe's CPU budget (100 ms a second at
// most) where a trap costs 10 us, and the guard never detaches the probe mid-run (checked below)
const CALLS = Number(process.env.BENCH_UPROBE_CALLS ?? 2000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BPFTOOL = '/usr/sbin/bpftool';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

function attached(file) {
  const r = spawnSync(BPFTOOL, ['-j', 'perf', 'list'], { encoding: 'utf8' });
  return r.stdout.trim() === '' ? 0 : JSON.parse(r.stdout).filter((x) => x.filename === file).length;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const jg = await startJitgate();
let demo;
try {
  const cli = (...a) => spawnSync(BIN, [...a, '-c', jg.configPath], { encoding: 'utf8' });
  cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads');
  const keyFile = join(jg.dir, 'key');
  writeFileSync(keyFile, cli('ingest-key', 'create', SVC).stdout, { mode: 0o600 });
  const post = (user, path, body) => jg.as(user, 'POST', path, { body: JSON.stringify(body ?? {}), headers: { 'content-type': 'application/json' } });
  const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '1h', justification: 'INC-1 bench of native probes' });
  const g = await post('bob', `/v1/requests/${q.json.id}/approve`);
  const token = (await post('alice', `/v1/grants/${g.json.id}/token`)).json.token;
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const demoPath = join(jg.dir, 'native_demo');
  copyFileSync(join(ROOT, 'build', 'native_demo'), demoPath);
  spawnSync('chmod', ['755', demoPath]);
  demo = spawn(demoPath, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const results = [];
  demo.stdout.on('data', (d) => {
    for (const line of String(d).split('\n')) if (line.startsWith('{')) results.push(JSON.parse(line));
  });
  const bench = async () => {
    const n = results.length;
    demo.stdin.write(`bench ${CALLS}\n`);
    while (results.length === n) await sleep(20);
    return results[n];
  };

  const cases = [
    ['no probe', null],
    ['uprobe, no args', { capture_args: false }],
    ['uprobe, i64 + str args', { capture_args: true, args: [{ index: 0, name: 'amount', type: 'i64' }, { index: 1, name: 'note', type: 'str' }] }],
    ['uprobe + uretprobe, i64 + str args', { capture_args: true, capture_return: true, args: [{ index: 0, name: 'amount', type: 'i64' }, { index: 1, name: 'note', type: 'str' }] }],
  ];
  for (const [name, spec] of cases) {
    let daemon = null;
    let probeId = null;
    if (spec) {
      const d = await jg.request('POST', `/v1/services/${SVC}/probes`, { headers: auth, body: JSON.stringify({ function: 'charge', duration: 3600, ...spec, limits: { max_hits: 10000, max_events_per_second: 1, max_cpu_ms_per_second: 100 } }) });
      if (d.status !== 201) throw new Error(d.body);
      probeId = d.json.id;
      daemon = spawn(join(ROOT, 'build', 'jitgate-probe'), ['--url', jg.url, '--service', SVC, '--key-file', keyFile, '--cacert', join(jg.dir, 'cert.pem'), '--target', demoPath], { stdio: ['ignore', 'ignore', 'inherit'] });
      const want = spec.capture_return ? 2 : 1;
      for (let i = 0; attached(demoPath) !== want; i++) {
        if (i > 300) throw new Error(`${name}: not attached`);
        await sleep(50);
      }
    }
    const base = [];
    const probed = [];
    for (let r = 0; r < RUNS; r++) {
      const x = await bench();
      base.push(x.unprobed_ns);
      probed.push(x.probed_ns);
      await sleep(1100); // a CPU-guard window of its own per run
    }
    const still = spec ? attached(demoPath) : 0;
    if (spec && still === 0) throw new Error(`${name}: the probe was detached during the runs (its CPU guard?): use fewer BENCH_UPROBE_CALLS`);
    if (daemon) {
      daemon.kill('SIGTERM');
      await new Promise((ok) => daemon.on('exit', ok));
      await jg.request('DELETE', `/v1/services/${SVC}/probes/${probeId}`, { headers: auth });
    }
    const b = median(base);
    const p = median(probed);
    console.log(JSON.stringify({ case: name, calls: CALLS, unprobed_ns: b, probed_ns: p, overhead_ns: Math.round((p - b) * 10) / 10, attached_throughout: spec ? still > 0 : null }));
  }
} finally {
  if (demo) demo.kill('SIGKILL');
  await cleanup(jg);
}
