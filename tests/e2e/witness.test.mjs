// `jitgate witness serve` (docs/witness.md) against c2sp.org/tlog-witness v1.0.0 and
// tlog-cosignature v1.0.1, checked from the specs alone: the logs here are built in the test (RFC
// 6962 trees, Ed25519 notes signed with node:crypto) or are a real jitgate's audit log, and each
// cosignature is verified with node:crypto over the message the spec defines - no jitgate code
// checks jitgate's witness.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, freePort, makeCert, postgresOnly, sqliteOnly, runJitgate, startJitgate, startReplicas, cleanup } from './lib/harness.mjs';
import { leafHash, nodeHash, EMPTY_ROOT, verifyConsistency } from './lib/independent-verifier.mjs';

const sha256 = (...parts) => { const h = createHash('sha256'); for (const p of parts) h.update(p); return h.digest(); };
const EM_DASH = '\u2014';
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

// ---- a log made in the test: RFC 6962 tree hashes and RFC 9162 consistency proofs -------------

const split = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; }; // largest power of 2 < n
function mth(leaves) {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}
function subproof(m, leaves, complete) {
  const n = leaves.length;
  if (m === n) return complete ? [] : [mth(leaves)];
  const k = split(n);
  if (m <= k) return [...subproof(m, leaves.slice(0, k), complete), mth(leaves.slice(k))];
  return [...subproof(m - k, leaves.slice(k), false), mth(leaves.slice(0, k))];
}
const consistency = (m, leaves) => (m === 0 || m === leaves.length ? [] : subproof(m, leaves, true));

class TestLog {
  constructor(origin, seed = 'a') {
    this.origin = origin;
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    this.priv = privateKey;
    this.pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    this.id = sha256(Buffer.from(origin), Buffer.from([0x0a, 0x01]), this.pub).subarray(0, 4);
    this.vkey = `${origin}+${this.id.toString('hex')}+${Buffer.concat([Buffer.from([1]), this.pub]).toString('base64')}`;
    this.leaves = [];
    this.seed = seed;
  }
  grow(n) { for (let i = 0; i < n; i++) this.leaves.push(leafHash(Buffer.from(`${this.seed}-${this.leaves.length}`))); }
  body(size = this.leaves.length, root = mth(this.leaves.slice(0, size))) {
    return `${this.origin}\n${size}\n${root.toString('base64')}\n`;
  }
  note(size, root, key = this.priv, id = this.id) {
    const text = this.body(size, root);
    const sig = sign(null, Buffer.from(text), key);
    return `${text}\n${EM_DASH} ${this.origin} ${Buffer.concat([id, sig]).toString('base64')}\n`;
  }
  proof(m, n = this.leaves.length) { return consistency(m, this.leaves.slice(0, n)); }
}

const request = (old, proof, note) =>
  `old ${old}\n${proof.map((h) => Buffer.from(h).toString('base64') + '\n').join('')}\n${note}`;

// ---- the witness process ------------------------------------------------------------------------

function keygen(dir, name) {
  const r = runJitgate(['witness', 'keygen', '--name', name, '-o', join(dir, `${name.replace(/\W/g, '_')}.key`)]);
  assert.equal(r.code, 0, r.stderr);
  return { name, vkey: r.stdout.trim(), file: join(dir, `${name.replace(/\W/g, '_')}.key`) };
}

// vkey "<name>+<id>+<base64(0x04 || key)>" -> {name, id, key}, checked as tlog-cosignature says.
function cosignerKey(vkey) {
  const [name, hex, b64] = [vkey.slice(0, vkey.indexOf('+')), vkey.split('+')[1], vkey.split('+').slice(2).join('+')];
  const raw = Buffer.from(b64, 'base64');
  assert.equal(raw.length, 33);
  assert.equal(raw[0], 0x04, 'a cosigner key is of type 0x04');
  const pub = raw.subarray(1);
  const id = sha256(Buffer.from(name), Buffer.from([0x0a, 0x04]), pub).subarray(0, 4);
  assert.equal(id.toString('hex'), hex, 'key ID = SHA-256(name || 0x0A || 0x04 || key)[:4]');
  return { name, id, key: createPublicKey({ key: Buffer.concat([SPKI_ED25519, pub]), format: 'der', type: 'spki' }) };
}

// Checks one cosignature line over the note text (body); returns its timestamp.
function checkCosignature(line, body, w) {
  const m = new RegExp(`^${EM_DASH} (\\S+) (\\S+)\\n$`).exec(line);
  assert.ok(m, `one signature line: ${JSON.stringify(line)}`);
  assert.equal(m[1], w.name);
  const blob = Buffer.from(m[2], 'base64');
  assert.equal(blob.length, 4 + 8 + 64, 'key ID, timestamp, Ed25519 signature');
  assert.deepEqual(blob.subarray(0, 4), w.id);
  const t = blob.readBigUInt64BE(4);
  const msg = Buffer.from(`cosignature/v1\ntime ${t}\n${body}`);
  assert.ok(cryptoVerify(null, msg, w.key, blob.subarray(12)), 'the cosignature verifies');
  assert.ok(!cryptoVerify(null, Buffer.from(body), w.key, blob.subarray(12)), 'and not as a plain note signature');
  return Number(t);
}

class Witness {
  constructor(dir, name, logs) {
    this.dir = dir;
    this.key = keygen(dir, name);
    this.cosigner = cosignerKey(this.key.vkey);
    this.logs = logs;
    this.state = join(dir, `${this.key.name.replace(/\W/g, '_')}.db`);
    const { cert, key } = makeCert(join(dir));
    // each witness its own certificate files (makeCert writes cert.pem/key.pem in dir)
    this.certFile = join(dir, `${this.key.name.replace(/\W/g, '_')}.cert.pem`);
    this.keyFile = join(dir, `${this.key.name.replace(/\W/g, '_')}.key.pem`);
    writeFileSync(this.certFile, readFileSync(cert));
    writeFileSync(this.keyFile, readFileSync(key), { mode: 0o600 });
    this.ca = readFileSync(this.certFile);
  }
  // the port, before the first start (a jitgate configured with the witness needs it)
  async reserve() { this.port ??= await freePort(); return this; }
  get url() { return `https://127.0.0.1:${this.port}`; }
  async start() {
    await this.reserve();
    this.config = join(this.dir, `${this.key.name.replace(/\W/g, '_')}.yaml`);
    writeFileSync(this.config, [
      `name: ${this.key.name}`, `key_file: ${this.key.file}`, `state: ${this.state}`,
      `listen: 127.0.0.1:${this.port}`, `tls: {cert_file: ${this.certFile}, key_file: ${this.keyFile}}`, 'logs:',
      ...this.logs.map((l) => `  - origin: ${l.origin}\n    keys: ["${l.vkey}"]`), ''].join('\n'));
    this.stderr = '';
    this.proc = spawn(BIN, ['witness', 'serve', '-c', this.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exit = new Promise((ok) => this.proc.on('exit', (code, signal) => ok({ code, signal })));
    for (let i = 0; i < 100; i++) {
      try { await this.get('/checkpoint?origin=x'); return; } catch { await new Promise((r) => setTimeout(r, 50)); }
    }
    throw new Error(`the witness did not start: ${this.stderr}`);
  }
  async stop(signal = 'SIGTERM') { this.proc.kill(signal); return this.exit; }
  call(method, path, body) {
    return new Promise((ok, fail) => {
      const req = https.request({ host: '127.0.0.1', port: this.port, path, method, ca: this.ca, agent: false,
        headers: body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { data += d; });
        res.on('end', () => ok({ status: res.statusCode, type: res.headers['content-type'], body: data }));
      });
      req.on('error', fail);
      req.end(body);
    });
  }
  get(path) { return this.call('GET', path); }
  add(body) { return this.call('POST', '/add-checkpoint', body); }
  async held(origin) {
    const r = await this.get(`/checkpoint?origin=${encodeURIComponent(origin)}`);
    return r.status === 200 ? Number(r.body.split('\n')[1]) : 0;
  }
}

describe('witness: add-checkpoint on a log built in the test', () => {
  let dir, log, other, w;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
    log = new TestLog('log.e2e.example/one');
    other = new TestLog('log.e2e.example/two', 'b');
    w = new Witness(dir, 'witness.e2e.example/w1', [log, other]);
    await w.start();
  });
  after(async () => {
    if (w?.proc) await w.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('keygen writes the signer key 0600 and never over an existing file', () => {
    assert.equal(statSync(w.key.file).mode & 0o777, 0o600);
    assert.match(readFileSync(w.key.file, 'utf8'), /^PRIVATE\+KEY\+witness\.e2e\.example\/w1\+[0-9a-f]{8}\+/);
    const again = runJitgate(['witness', 'keygen', '--name', 'x.example/w', '-o', w.key.file]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists/);
  });

  test('cosigns a first checkpoint, then each consistent extension; the cosignature verifies', async () => {
    log.grow(5);
    const t0 = Math.floor(Date.now() / 1000);
    let r = await w.add(request(0, [], log.note(5)));
    assert.equal(r.status, 200, r.body);
    const t = checkCosignature(r.body, log.body(5), w.cosigner);
    assert.ok(t >= t0 - 1 && t <= Math.floor(Date.now() / 1000) + 1, 'timestamped now');
    for (const [from, grow] of [[5, 3], [8, 9], [17, 1], [18, 46]]) {
      log.grow(grow);
      const n = log.leaves.length;
      const proof = log.proof(from);
      assert.ok(verifyConsistency(from, n, mth(log.leaves.slice(0, from)), mth(log.leaves), proof.map((h) => h.toString('hex'))));
      r = await w.add(request(from, proof, log.note(n)));
      assert.equal(r.status, 200, `${from} -> ${n}: ${r.body}`);
      checkCosignature(r.body, log.body(n), w.cosigner);
    }
    assert.equal(await w.held(log.origin), 64);
    // the same checkpoint again: sizes and roots equal, cosigned again
    r = await w.add(request(64, [], log.note(64)));
    assert.equal(r.status, 200, r.body);
    // the monitoring read: the log's note as sent, and the cosignature
    const m = await w.get(`/checkpoint?origin=${encodeURIComponent(log.origin)}`);
    assert.equal(m.status, 200);
    assert.ok(m.body.startsWith(log.note(64)));
    checkCosignature(m.body.slice(log.note(64).length), log.body(64), w.cosigner);
  });

  test('refuses with the statuses the spec lists, and keeps what it holds', async () => {
    const held = log.leaves.length; // 64, from the test above
    log.grow(6);
    const n = log.leaves.length;
    const good = request(held, log.proof(held), log.note(n));
    const intruder = generateKeyPairSync('ed25519').privateKey;
    const cases = [
      // 404: an origin it does not follow (signed by a key of its own)
      [new TestLog('unknown.e2e.example/log').note(0, EMPTY_ROOT), 0, 404],
      // 403: the right origin, signed by another key under the log's name and key ID
      [request(held, log.proof(held), log.note(n, undefined, intruder)), null, 403],
      // 403: signed only by a key the witness does not know for this origin (the other log's)
      [request(held, log.proof(held), log.note(n).replace(log.origin + ' ', other.origin + ' ')), null, 403],
      // 400: old size above the checkpoint's
      [request(n + 1, [], log.note(n)), null, 400],
      // 400: malformed - no old line, a leading zero, a bad proof line, no blank line, 64 proof lines
      [log.note(n), null, 400],
      [good.replace(`old ${held}`, `old 0${held}`), null, 400],
      [good.replace(/\n[A-Za-z0-9+/]{43}=\n/, '\nnot-base64\n'), null, 400],
      [`old ${held}\n${log.note(n)}`, null, 400],
      [request(held, Array(64).fill(Buffer.alloc(32)), log.note(n)), null, 400],
      // 400: a proof from size 0 must be empty
      [request(0, [Buffer.alloc(32)], log.note(n)), null, 400],
      // 409: not the size held (a log that lost track), with the size held in the body
      [request(held - 1, log.proof(held - 1), log.note(n)), held, 409],
      [request(0, [], log.note(n)), held, 409],
      // 409: the size held, another root (a fork at the same size)
      [request(held, [], log.note(held, sha256(Buffer.from('fork')))), held, 409],
      // 422: the right old size, a proof that does not verify
      [request(held, log.proof(held).map((h, i) => (i === 0 ? sha256(h) : h)), log.note(n)), null, 422],
    ];
    for (const [body, size409, status] of cases) {
      const r = await w.add(body.startsWith('old ') ? body : size409 === 0 ? request(0, [], body) : body);
      assert.equal(r.status, status, `${JSON.stringify(body.slice(0, 60))}: ${r.body}`);
      if (status === 409) {
        assert.equal(r.type, 'text/x.tlog.size');
        assert.equal(r.body, `${size409}\n`);
      }
      assert.equal(await w.held(log.origin), held, 'nothing moved');
    }
    // a rewritten history: another tree of the new size whose first 64 leaves differ, with a
    // proof made from that tree (consistent with itself, not with what the witness holds)
    const forked = new TestLog(log.origin, 'forked');
    Object.assign(forked, { priv: log.priv, pub: log.pub, id: log.id });
    forked.grow(n);
    let r = await w.add(request(held, forked.proof(held), forked.note(n)));
    assert.equal(r.status, 422, r.body);
    assert.match(w.stderr, /"msg":"witness: checkpoint refused".*"status":422/);
    r = await w.add(good);
    assert.equal(r.status, 200, r.body);
    assert.equal(await w.held(log.origin), n);
  });

  test('compare-and-store is atomic: of 16 racing extensions from one size, one wins', async () => {
    const from = other.leaves.length;
    const first = await w.add(request(0, [], (other.grow(2), other.note(2))));
    assert.equal(first.status, 200, first.body);
    other.grow(16);
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) =>
      w.add(request(2, other.proof(2, 3 + i), other.note(3 + i)))));
    const won = answers.filter((a) => a.status === 200);
    assert.equal(from, 0);
    assert.equal(won.length, 1, answers.map((a) => a.status).join(','));
    const lost = answers.filter((a) => a.status === 409);
    assert.equal(lost.length, 15, answers.map((a) => a.status).join(','));
    const held = await w.held(other.origin);
    for (const a of lost) assert.equal(a.body, `${held}\n`);
  });

  test('a witness killed and restarted keeps its state', async () => {
    const held = await w.held(log.origin);
    assert.ok(held > 0);
    await w.stop('SIGKILL');
    await w.start(); // the same port, key and state file
    assert.equal(await w.held(log.origin), held);
    const r = await w.add(request(0, [], log.note(held)));
    assert.equal(r.status, 409);
    assert.equal(r.body, `${held}\n`);
  });
});

describe('witness: a real jitgate audit log', () => {
  const ORIGIN = 'witness.e2e.example/audit';
  let jg, w, dir;
  before(async () => {
    jg = await startJitgate({ extraConfig: `audit:\n  origin: ${ORIGIN}\n` });
    const keys = runJitgate(['keys', 'list', '-c', jg.configPath]);
    const vkey = /^checkpoint \d{4} \(active\) (\S+)$/m.exec(keys.stdout)[1];
    dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
    w = new Witness(dir, 'witness.e2e.example/w2', [{ origin: ORIGIN, vkey }]);
    await w.start();
  });
  after(async () => {
    if (w?.proc) await w.stop('SIGKILL');
    await cleanup(jg);
    rmSync(dir, { recursive: true, force: true });
  });

  test("jitgate's checkpoints and consistency proofs are cosigned; a forked history is refused", async () => {
    const checkpoint = async () => (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    const c1 = await checkpoint();
    let r = await w.add(request(0, [], c1.note));
    assert.equal(r.status, 200, r.body);
    checkCosignature(r.body, c1.note.slice(0, c1.note.indexOf('\n\n') + 1), w.cosigner);
    for (let i = 0; i < 3; i++) await jg.auditor('GET', '/v1/audit/entries?limit=1');
    await jg.auditor('GET', '/v1/audit/export');
    const c2 = await checkpoint();
    assert.ok(c2.size > c1.size);
    const proof = (await jg.auditor('GET', `/v1/audit/consistency?from=${c1.size}&to=${c2.size}`)).json.proof;
    r = await w.add(request(c1.size, proof.map((h) => Buffer.from(h, 'hex')), c2.note));
    assert.equal(r.status, 200, r.body);
    checkCosignature(r.body, c2.note.slice(0, c2.note.indexOf('\n\n') + 1), w.cosigner);
    // the same size over another root, signed with jitgate's own checkpoint key - what a host
    // rewriting its own log would send - is a conflict; an edited note without that signature
    // is not the log's at all
    const text = c2.note.slice(0, c2.note.indexOf('\n\n') + 1);
    const forkText = text.replace(/\n([A-Za-z0-9+/]{43}=)\n$/, `\n${sha256(Buffer.from('rewritten')).toString('base64')}\n`);
    assert.notEqual(forkText, text);
    const priv = createPrivateKey(readFileSync(join(jg.dir, 'keys', 'checkpoint-0001.pem')));
    const sigLine = c2.note.slice(c2.note.indexOf('\n\n') + 2);
    const id = Buffer.from(sigLine.split(' ')[2], 'base64').subarray(0, 4);
    const forkNote = `${forkText}\n${EM_DASH} ${ORIGIN} ${Buffer.concat([id, sign(null, Buffer.from(forkText), priv)]).toString('base64')}\n`;
    r = await w.add(request(c2.size, [], forkNote));
    assert.equal(r.status, 409, r.body);
    assert.equal(r.body, `${c2.size}\n`);
    r = await w.add(request(c2.size, [], c2.note.replace(text, forkText)));
    assert.equal(r.status, 403, r.body);
    assert.equal(await w.held(ORIGIN), c2.size);
  });
});

describe('witness: jitgate pushes its checkpoints to two witnesses (audit.witnesses)', () => {
  const ORIGIN = 'pushed.e2e.example/audit';
  let jg, w1, w2, dir, vkey;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
    w1 = await new Witness(dir, 'witness.e2e.example/p1', []).reserve();
    w2 = await new Witness(dir, 'witness.e2e.example/p2', []).reserve();
    const server = (w) => `    - {url: "${w.url}", key: "${w.key.vkey}", ca_file: ${w.certFile}}`;
    jg = await startJitgate({ extraConfig: `audit:\n  origin: ${ORIGIN}\n  witnesses:\n    min: 2\n    servers:\n${server(w1)}\n${server(w2)}\n` });
    const keys = runJitgate(['keys', 'list', '-c', jg.configPath]);
    vkey = /^checkpoint \d{4} \(active\) (\S+)$/m.exec(keys.stdout)[1];
    for (const w of [w1, w2]) {
      w.logs = [{ origin: ORIGIN, vkey }];
      await w.start();
    }
  });
  after(async () => {
    for (const w of [w1, w2]) if (w?.proc && !w.proc.exitCode && !w.proc.signalCode) await w.stop('SIGKILL');
    await cleanup(jg);
    rmSync(dir, { recursive: true, force: true });
  });

  const checkpoint = async () => (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
  // an audited call (audit.hashed): the log grows by one entry
  const append = async () => {
    const r = await jg.auditor('POST', '/v1/audit/hash', { headers: { 'content-type': 'application/json' }, body: '{"value":"x"}' });
    assert.equal(r.status, 200, r.body);
  };
  async function until(what, ok, ms = 30000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = await what();
      if (ok(v)) return v;
      if (Date.now() > end) assert.fail(`timed out: ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  // the cosignature lines of a note, each checked against its witness
  function cosignatures(note, size) {
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    assert.match(body, new RegExp(`^${ORIGIN}\n${size}\n`));
    const lines = note.slice(note.indexOf('\n\n') + 2).split(/(?<=\n)/).filter((l) => !l.includes(` ${ORIGIN} `));
    return lines.map((l) => {
      const w = [w1, w2].find((x) => l.startsWith(`${EM_DASH} ${x.key.name} `));
      assert.ok(w, `a line of a configured witness: ${l}`);
      checkCosignature(l, body, w.cosigner);
      return w.key.name;
    }).sort();
  }

  test('each checkpoint is cosigned by both witnesses and published; the note carries both cosignatures', async () => {
    await append();
    const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    const cp = await until(checkpoint, (c) => c.size === made.size && c.cosignatures === 2);
    assert.equal(cp.published, true);
    assert.equal(cp.published_size, made.size);
    assert.deepEqual(cosignatures(cp.note, made.size), [w1.key.name, w2.key.name]);
    for (const w of [w1, w2]) assert.equal(await w.held(ORIGIN), made.size);
    // the witness's own record is the same checkpoint
    const m = await w1.get(`/checkpoint?origin=${encodeURIComponent(ORIGIN)}`);
    assert.ok(m.body.startsWith(made.note));
  });

  test('an export ends with a published checkpoint; audit verify --witness checks the cosignatures offline', async () => {
    const exp = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(exp.status, 200);
    const file = join(dir, 'export.jsonl');
    writeFileSync(file, exp.body);
    const verify = (f, ...args) => runJitgate(['audit', 'verify', f, '--key', vkey, ...args]);
    let r = verify(file, '--witness', w1.key.vkey, '--witness', w2.key.vkey, '--min-witnesses', '2');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^VALID: .*; cosigned by 2 of the 2 witnesses given$/m);
    // without a cosignature: 2 required fails, 1 passes
    const lines = exp.body.split('\n');
    const last = JSON.parse(lines.at(-2));
    const w2line = last.checkpoint.split(/(?<=\n)/).find((l) => l.startsWith(`${EM_DASH} ${w2.key.name} `));
    assert.ok(w2line);
    const write = (name, note) => {
      const f = join(dir, name);
      writeFileSync(f, [...lines.slice(0, -2), JSON.stringify({ checkpoint: note }), ''].join('\n'));
      return f;
    };
    const removed = write('removed.jsonl', last.checkpoint.replace(w2line, ''));
    r = verify(removed, '--witness', w1.key.vkey, '--witness', w2.key.vkey);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^INVALID: the checkpoint is cosigned by 1 of the 2 witnesses given/m);
    r = verify(removed, '--witness', w1.key.vkey, '--witness', w2.key.vkey, '--min-witnesses', '1');
    assert.equal(r.code, 0, r.stdout);
    // a forged cosignature (one byte of the signature changed) does not count
    const blob = Buffer.from(w2line.split(' ')[2].trim(), 'base64');
    blob[20] ^= 1;
    const forged = write('forged.jsonl', last.checkpoint.replace(w2line, `${EM_DASH} ${w2.key.name} ${blob.toString('base64')}\n`));
    r = verify(forged, '--witness', w1.key.vkey, '--witness', w2.key.vkey);
    assert.equal(r.code, 1, r.stdout);
    // a log key is not a witness key
    r = verify(file, '--witness', vkey);
    assert.equal(r.code, 2, r.stdout);
  });

  test('with a witness down, new checkpoints are not published; it catches up when it is back', async () => {
    const before = await checkpoint();
    await w2.stop('SIGTERM');
    await append();
    const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    assert.ok(made.size > before.size);
    const cp = await until(checkpoint, (c) => c.size === made.size && c.cosignatures === 1);
    assert.equal(cp.published, false);
    assert.equal(cp.published_size, before.published_size, 'the last published one is still the newest published');
    assert.deepEqual(cosignatures(cp.note, made.size), [w1.key.name]);
    // the tiles start from the newest published checkpoint, cosigned by both; what only the
    // unpublished one covers is not served yet (docs/audit-format.md, "The log as tiles")
    const tiles = await jg.auditor('GET', '/audit/checkpoint');
    assert.equal(tiles.status, 200);
    assert.deepEqual(cosignatures(tiles.body, before.published_size), [w1.key.name, w2.key.name]);
    const bundle = (size) => `/audit/tile/entries/${String(Math.floor(size / 256)).padStart(3, '0')}.p/${size % 256}`;
    assert.ok(made.size % 256 > before.published_size % 256, 'the test stays within one bundle');
    assert.equal((await jg.auditor('GET', bundle(made.size))).status, 404);
    assert.equal((await jg.auditor('GET', bundle(before.published_size))).status, 200);
    await w2.start();
    const back = await until(checkpoint, (c) => c.size >= made.size && c.cosignatures === 2, 45000);
    assert.equal(back.published, true);
    assert.equal((await jg.auditor('GET', bundle(made.size))).status, 200);
    assert.equal(await w2.held(ORIGIN), back.size, 'proved from the size it held before');
  });

  test('a witness that already holds jitgate\'s own newest checkpoint is not reported as a fork', async () => {
    const held = await w1.held(ORIGIN);
    await w1.stop('SIGTERM');
    await append();
    const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    await new Promise((r) => setTimeout(r, 8000)); // jitgate's backoff for w1 grows past a few seconds (found by review)
    const mark = jg.stderr.length;
    await w1.start();
    // a third party (or a 200 lost on the way back) gives w1 jitgate's own checkpoint first
    const c = (await jg.auditor('GET', `/v1/audit/consistency?from=${held}&to=${made.size}`)).json;
    const r = await w1.add(request(held, c.proof.map((h) => Buffer.from(h, 'hex')), made.note));
    assert.equal(r.status, 200, r.body);
    await until(checkpoint, (cp) => cp.size === made.size && cp.cosignatures === 2, 45000);
    assert.doesNotMatch(jg.stderr.slice(mark), /a witness holds another root at this size/, 'a false fork alarm');
  });

  test('a witness that holds another history is reported, never counted', async () => {
    // w1 is fed a fork of the next size by hand, signed with the log's own key: jitgate's next
    // checkpoint of another root cannot extend it
    const cp = await checkpoint();
    await append();
    const priv = createPrivateKey(readFileSync(join(jg.dir, 'keys', 'checkpoint-0001.pem')));
    const id = Buffer.from(cp.note.slice(cp.note.indexOf('\n\n') + 2).split(' ')[2], 'base64').subarray(0, 4);
    const size = cp.size + 1;
    const fakeRoot = sha256(Buffer.from('another history'));
    const text = `${ORIGIN}\n${size}\n${fakeRoot.toString('base64')}\n`;
    // no valid proof exists from cp to a made-up root: use a witness restarted on empty state
    await w1.stop('SIGKILL');
    rmSync(w1.state, { force: true });
    rmSync(`${w1.state}-wal`, { force: true });
    rmSync(`${w1.state}-shm`, { force: true });
    await w1.start();
    const fork = `${text}\n${EM_DASH} ${ORIGIN} ${Buffer.concat([id, sign(null, Buffer.from(text), priv)]).toString('base64')}\n`;
    const r = await w1.add(request(0, [], fork));
    assert.equal(r.status, 200, r.body);
    const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    assert.equal(made.size, size);
    await until(() => Promise.resolve(jg.stderr), (e) => /a witness holds another root at this size/.test(e), 20000);
    // w2's cosignature may land after w1's refusal was reported (the same round, or the next)
    const now = await until(checkpoint, (c) => c.size === size && c.cosignatures >= 1, 20000);
    assert.equal(now.cosignatures, 1, 'only w2 cosigned it');
    assert.equal(now.published, false);
  });
});

// Several replicas on one database (PostgreSQL by nature, as replicas.test.mjs): only the leader of
// "audit-checkpoints" pushes, and a new leader does not push again what the old one had cosigned.
postgresOnly(describe)('witness: two replicas push through their checkpoint leader', () => {
  const ORIGIN = 'replicas.e2e.example/audit';
  let set, w, dir;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
    w = await new Witness(dir, 'witness.e2e.example/r1', []).reserve();
    set = await startReplicas(2, { extraConfig: `audit:\n  origin: ${ORIGIN}\n  witnesses:\n    min: 1\n    servers:\n      - {url: "${w.url}", key: "${w.key.vkey}", ca_file: ${w.certFile}}\n` });
    const keys = runJitgate(['keys', 'list', '-c', set.replicas[0].configPath]);
    w.logs = [{ origin: ORIGIN, vkey: /^checkpoint \d{4} \(active\) (\S+)$/m.exec(keys.stdout)[1] }];
    await w.start();
  });
  after(async () => {
    if (w?.proc && !w.proc.exitCode && !w.proc.signalCode) await w.stop('SIGKILL');
    await set?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cosignedSizes = () => w.stderr.split('\n').filter((l) => l.includes('"msg":"witness: checkpoint cosigned"'))
    .map((l) => JSON.parse(l).size);
  async function published(jg, size) {
    for (let i = 0; i < 150; i++) {
      const c = (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
      if (c.size === size && c.published) return c;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.fail(`checkpoint ${size} never published`);
  }

  test('a checkpoint asked of either replica is cosigned once, and seen published on both', async () => {
    for (const jg of set.replicas) {
      const r = await jg.auditor('POST', '/v1/audit/hash', { headers: { 'content-type': 'application/json' }, body: '{"value":"x"}' });
      assert.equal(r.status, 200, r.body);
      const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
      for (const other of set.replicas) assert.equal((await published(other, made.size)).cosignatures, 1);
    }
    const sizes = cosignedSizes();
    assert.deepEqual(sizes, [...new Set(sizes)], `each size cosigned once: ${sizes}`);
  });

  test('killed leaders hand over: the survivor pushes what is new and nothing twice', async () => {
    // whichever replica leads, kill one, then the other is (or becomes) the leader
    for (const [killed, alive] of [[0, 1], [1, 0]]) {
      const before = cosignedSizes().length;
      await set.replicas[killed].stop('SIGKILL');
      const jg = set.replicas[alive];
      const r = await jg.auditor('POST', '/v1/audit/hash', { headers: { 'content-type': 'application/json' }, body: '{"value":"y"}' });
      assert.equal(r.status, 200, r.body);
      const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
      assert.equal((await published(jg, made.size)).cosignatures, 1);
      const sizes = cosignedSizes();
      assert.deepEqual(sizes, [...new Set(sizes)], `each size cosigned once: ${sizes}`);
      assert.ok(sizes.length > before);
      await set.restart(killed);
    }
  });
});

// A host rolled back to an old backup (SQLite by nature: `jitgate restore` copies SQLite files; the
// PostgreSQL counterpart is "a witness that holds another history is reported, never counted"
// above, in both passes): nothing on the host notices - no sink is configured - but both witnesses
// hold the newer history and refuse the rewritten one.
sqliteOnly(describe)('witness: a log restored from an old backup and rewritten is refused by both witnesses', () => {
  const ORIGIN = 'rollback.e2e.example/audit';
  let jg, w1, w2, dir;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jg-witness-'));
    w1 = await new Witness(dir, 'witness.e2e.example/b1', []).reserve();
    w2 = await new Witness(dir, 'witness.e2e.example/b2', []).reserve();
    const server = (w) => `    - {url: "${w.url}", key: "${w.key.vkey}", ca_file: ${w.certFile}}`;
    jg = await startJitgate({ extraConfig: `audit:\n  origin: ${ORIGIN}\n  witnesses:\n    min: 2\n    servers:\n${server(w1)}\n${server(w2)}\n` });
    const keys = runJitgate(['keys', 'list', '-c', jg.configPath]);
    for (const w of [w1, w2]) {
      w.logs = [{ origin: ORIGIN, vkey: /^checkpoint \d{4} \(active\) (\S+)$/m.exec(keys.stdout)[1] }];
      await w.start();
    }
  });
  after(async () => {
    for (const w of [w1, w2]) if (w?.proc && !w.proc.exitCode && !w.proc.signalCode) await w.stop('SIGKILL');
    await cleanup(jg);
    rmSync(dir, { recursive: true, force: true });
  });

  test('both refuse (409 or 422) and jitgate reports each; the rewritten checkpoint is never published', async () => {
    const append = async (v) => {
      const r = await jg.auditor('POST', '/v1/audit/hash', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: v }) });
      assert.equal(r.status, 200, r.body);
    };
    const publish = async () => {
      const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
      for (let i = 0; i < 150; i++) {
        const c = (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
        if (c.size === made.size && c.published) return c;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.fail(`checkpoint ${made.size} never published`);
    };
    await append('a');
    const older = await publish();
    const olderNote = join(dir, 'older.note');
    writeFileSync(olderNote, older.note);
    const backup = join(dir, 'old.db');
    const b = runJitgate(['backup', backup, '-c', jg.configPath]);
    assert.equal(b.code, 0, b.stderr);
    for (const v of ['b', 'c', 'd']) await append(v);
    const newer = await publish();
    for (const w of [w1, w2]) assert.equal(await w.held(ORIGIN), newer.size);

    await jg.stop();
    // restored against the older checkpoint it matches (no sink holds the newer one)
    const r = runJitgate(['restore', backup, '-c', jg.configPath, '--checkpoint', olderNote]);
    assert.equal(r.code, 0, r.stderr);
    jg.exited = null;
    jg.stderr = '';
    await jg.start();
    // another history up to (at least) the size the witnesses hold
    for (let v = 0; jg.db.count('audit_log') < newer.size; v++) await append(`rewritten-${v}`);
    const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    assert.ok(made.size >= newer.size);
    assert.notEqual(made.note, newer.note.slice(0, made.note.length));
    const refused = made.size === newer.size ? /a witness holds another root at this size/ : /a witness refused the consistency proof/;
    for (let i = 0; i < 100; i++) {
      const reported = jg.stderr.split('\n').filter((l) => refused.test(l));
      if (new Set(reported.map((l) => JSON.parse(l).witness)).size === 2) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    const reported = jg.stderr.split('\n').filter((l) => refused.test(l)).map((l) => JSON.parse(l));
    assert.deepEqual([...new Set(reported.map((l) => l.witness))].sort(), [w1.key.name, w2.key.name]);
    for (const l of reported) assert.equal(l.level, 'error');
    for (const w of [w1, w2]) {
      assert.equal(await w.held(ORIGIN), newer.size, 'the witness kept the history it saw');
      assert.match(w.stderr, made.size === newer.size ? /"status":409/ : /"status":422/);
    }
    const c = (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
    assert.equal(c.size, made.size);
    assert.equal(c.cosignatures, 0);
    assert.equal(c.published, false);
  });
});
