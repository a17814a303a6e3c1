// `make run-ha` (deploy/run-ha.sh), scripted: it starts a PostgreSQL primary and synchronous standby,
// the development identity provider and two replicas; both answer /readyz; a request made through
// one replica is read through the other (one database); with one replica SIGKILLed the other
// still serves; Ctrl-C (SIGINT to the process group, as a terminal sends it) stops everything and
// removes both temporary directories.  PostgreSQL by nature: it runs in the PostgreSQL pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';

import { ROOT, freePort } from './lib/common.mjs';
import { postgresOnly } from './lib/harness.mjs';
import { accessToken } from './lib/idp.mjs';

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

function call(port, ca, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  return new Promise((ok, fail) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, headers, ca, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        ok({ status: res.statusCode, json, body: text });
      });
    });
    req.on('error', fail);
    req.end(body);
  });
}

// Whether anything accepts a TCP connection on port.
const listening = (port) => new Promise((ok) => {
  const s = net.connect(port, '127.0.0.1', () => { s.destroy(); ok(true); });
  s.on('error', () => ok(false));
});

postgresOnly(test)('make run-ha: two replicas on one replicated database; one killed, the other serves; Ctrl-C removes everything', async (t) => {
  const [a, b, idpPort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(join(ROOT, 'deploy', 'run-ha.sh'), [], {
    detached: true, // its own process group, which Ctrl-C would signal
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUN_HA_PORTS: `${a} ${b}`, RUN_HA_IDP_PORT: String(idpPort), JG_PG_BASE: '' },
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  try {
    for (const end = Date.now() + 90000; !out.includes('run-ha: ready') && Date.now() < end;) {
      if (child.exitCode !== null) break;
      await sleep(200);
    }
    assert.match(out, /run-ha: ready/, out);
    const ha = out.match(/(\S+)\/replica-a\.log/)[1];
    const base = out.match(/data in (\S+)\)/)[1];
    const pidA = Number(out.match(/replica a: .*\(pid (\d+),/)[1]);
    t.after(() => assert.ok(!existsSync(ha) && !existsSync(base), `${ha} or ${base} left behind`));
    const ca = readFileSync(join(ha, 'tls', 'cert.pem'));
    for (const port of [a, b]) {
      const r = await call(port, ca, 'GET', '/readyz');
      assert.equal(r.status, 200, r.body);
      assert.equal(r.json.status, 'ready');
    }

    // one database behind both: a request made through a is read through b
    const idpUrl = `http://127.0.0.1:${idpPort}`;
    const idp = { url: idpUrl, discovery: await (await fetch(`${idpUrl}/.well-known/openid-configuration`)).json() };
    const token = (await accessToken(idp, 'alice', { audience: `https://127.0.0.1:${a}` })).access_token;
    const made = await call(a, ca, 'POST', '/v1/requests', {
      token, body: JSON.stringify({ service: 'payment-service', capabilities: ['read-logs'], duration: '30m', justification: 'run-ha smoke test' }),
    });
    assert.equal(made.status, 201, made.body);
    const seen = await call(b, ca, 'GET', `/v1/requests/${made.json.id}`, { token });
    assert.equal(seen.status, 200, seen.body);
    assert.equal(seen.json.justification, 'run-ha smoke test');

    // replica a killed: b serves on
    process.kill(pidA, 'SIGKILL');
    const again = await call(b, ca, 'GET', `/v1/requests/${made.json.id}`, { token });
    assert.equal(again.status, 200, again.body);
    for (let i = 0; i < 50 && await listening(a); i++) await sleep(100);
    assert.equal(await listening(a), false, 'replica a still listens');

    // Ctrl-C
    process.kill(-child.pid, 'SIGINT');
    const end = await Promise.race([exited, sleep(30000).then(() => null)]);
    assert.ok(end, 'run-ha did not stop within 30 s of Ctrl-C');
    for (const port of [b, idpPort]) assert.equal(await listening(port), false, `port ${port} still listens`);
    // the cluster's watchdog may take a second to notice
    for (let i = 0; i < 50 && (existsSync(base) || existsSync(ha)); i++) await sleep(200);
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(ha) || l.includes(base));
    assert.deepEqual(left.filter((l) => !/watchdog|rm -rf/.test(l)), [], 'processes left behind');
  } finally {
    if (child.exitCode === null) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      await exited;
    }
  }
});
