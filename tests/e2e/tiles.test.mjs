// The audit log as C2SP tlog-tiles (docs/audit-format.md, "The log as tiles"), read over HTTPS by
// a client written here from the specs alone (c2sp.org/tlog-tiles, RFC 6962 hashing, the signed
// note of c2sp.org/signed-note through the test's own independent verifier): it fetches the
// checkpoint, recomputes the signed root from hash tiles, proves entries from their bundles, and
// notices a tile that was tampered with; the same client reads the archive directory
// (audit.archive_dir) as files, as a static web server would serve them, and `jitgate audit verify
// DIR` checks it offline.  No jitgate code checks jitgate's tiles.  Both stores.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate } from './lib/harness.mjs';
import { leafHash, nodeHash, parseVerifierKey, openCheckpoint, verifyInclusion, parseEntry } from './lib/independent-verifier.mjs';

const ORIGIN = 'tiles.e2e.example/audit';
const PREFIX = '/audit'; // the origin's path
const ENTRIES = 600; // two full level-0 tiles and a partial one; a partial level-1 tile of width 2

// ---- a tlog-tiles client ------------------------------------------------------------------------

// N as 3-digit groups, 'x' before all but the last (tlog-tiles, "Merkle Tree").
function encodeIndex(n) {
  const groups = [];
  do { groups.unshift(String(n % 1000).padStart(3, '0')); n = Math.floor(n / 1000); } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? 'x' : '') + g).join('/');
}
const tileName = (level, n, width) => `${PREFIX}/tile/${level}/${encodeIndex(n)}${width < 256 ? `.p/${width}` : ''}`;

class TileClient {
  constructor(get, size) {
    this.get = get; // (path) -> {status, body: Buffer}
    this.size = size;
    this.cache = new Map();
    this.fetches = 0;
    this.tamper = null; // (name, bytes) -> bytes: what a hostile network or server could do
  }
  // The width of tile n of a level in a tree of this.size (the spec's "partial tile" rule).
  width(level, n) {
    const hashes = Math.floor(this.size / 256 ** (level === 'entries' ? 0 : level));
    return Math.min(256, hashes - n * 256);
  }
  async tile(level, n) {
    const w = this.width(level, n);
    assert.ok(w > 0, `tile ${level}/${n} is beyond the tree`);
    const name = tileName(level, n, w);
    if (!this.cache.has(name)) {
      const r = await this.get(name);
      this.fetches++;
      assert.equal(r.status, 200, `${name}: ${r.body}`);
      let bytes = r.body;
      if (this.tamper) bytes = this.tamper(name, bytes);
      if (level !== 'entries') assert.equal(bytes.length, 32 * w, `${name}: ${w} hashes`);
      this.cache.set(name, bytes);
    }
    return this.cache.get(name);
  }
  // The hash of the perfect subtree of 2^h leaves, the k-th at that height.
  async subtree(h, k) {
    const level = Math.floor(h / 8), r = h - 8 * level; // the tile level, and heights within it
    const first = k * 2 ** r; // its first hash at the tile level
    const bytes = await this.tile(level, Math.floor(first / 256));
    let hs = [];
    for (let i = 0; i < 2 ** r; i++) hs.push(bytes.subarray(32 * ((first % 256) + i), 32 * ((first % 256) + i + 1)));
    while (hs.length > 1) hs = hs.flatMap((x, i) => (i % 2 ? [] : [nodeHash(x, hs[i + 1])]));
    return hs[0];
  }
  // MTH(D[a:a+n]) for the ranges RFC 6962's recursion makes (a is a multiple of n's power of two).
  async mth(a, n) {
    let k = 1;
    while (k * 2 <= n) k *= 2;
    if (k === n) return this.subtree(Math.log2(n), a / n);
    return nodeHash(await this.subtree(Math.log2(k), a / k), await this.mth(a + k, n - k));
  }
  // RFC 6962 PATH(m, D[a:a+n]), nearest the leaf first.
  async path(m, a, n) {
    if (n === 1) return [];
    let k = 1;
    while (k * 2 < n) k *= 2;
    if (m < k) return [...await this.path(m, a, k), await this.mth(a + k, n - k)];
    return [...await this.path(m - k, a + k, n - k), await this.mth(a, k)];
  }
  // Entry i's bytes from its bundle (big-endian uint16 length before each).
  async entry(i) {
    const bundle = await this.tile('entries', Math.floor(i / 256));
    let at = 0;
    for (let j = 0; ; j++) {
      assert.ok(at + 2 <= bundle.length, 'the bundle ends early');
      const len = bundle.readUInt16BE(at);
      if (j === i % 256) return bundle.subarray(at + 2, at + 2 + len);
      at += 2 + len;
    }
  }
}

// ---- the test ------------------------------------------------------------------------------------

describe('the audit log as tlog-tiles, read by a client written from the specs', () => {
  let jg, key, keyString, work, archive;

  const get = async (path) => {
    const token = await jg.tokenFor('erin');
    return rawGet(path, { authorization: `Bearer ${token}` });
  };
  // jg.request decodes the body as UTF-8; tiles are bytes.
  function rawGet(path, headers = {}) {
    return new Promise((ok, fail) => {
      const req = https.request({ host: '127.0.0.1', port: jg.port, method: 'GET', path, headers, ca: jg.ca, agent: false }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', fail);
      req.end();
    });
  }
  async function checkpoint() {
    const r = await get(`${PREFIX}/checkpoint`);
    assert.equal(r.status, 200, r.body.toString());
    const cp = openCheckpoint(r.body, [key]);
    assert.ok(cp, `the checkpoint does not verify with the log's key:\n${r.body}`);
    assert.equal(cp.origin, ORIGIN);
    return { note: r.body.toString(), size: Number(cp.size), root: cp.root, headers: r.headers };
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'jg-tiles-'));
    archive = join(work, 'archive');
    mkdirSync(archive, { mode: 0o750 }); // made by the operator: jitgate refuses a missing one
    jg = await startJitgate({ extraConfig: `audit:\n  origin: ${ORIGIN}\n  archive_dir: ${archive}\n` });
    const keys = runJitgate(['keys', 'list', '-c', jg.configPath]);
    assert.equal(keys.code, 0, keys.stderr);
    keyString = /^checkpoint \d{4} \(active\) (\S+)$/m.exec(keys.stdout)[1];
    key = parseVerifierKey(keyString);
    // ENTRIES audited actions (POST /v1/audit/hash records one entry each), 8 at a time
    for (let done = 0; done < ENTRIES;) {
      const batch = Math.min(8, ENTRIES - done);
      const rs = await Promise.all(Array.from({ length: batch }, (_, i) =>
        jg.auditor('POST', '/v1/audit/hash', { body: JSON.stringify({ value: `v${done + i}` }), headers: { 'content-type': 'application/json' } })));
      for (const r of rs) assert.equal(r.status, 200, r.body);
      done += batch;
    }
  });
  after(async () => {
    await cleanup(jg);
    rmSync(work, { recursive: true, force: true });
  });

  test('only auditors read the tiles; names are canonical; nothing beyond the checkpoint is served', async () => {
    assert.equal((await rawGet(`${PREFIX}/checkpoint`)).status, 401);
    assert.equal((await jg.as('alice', 'GET', `${PREFIX}/checkpoint`)).status, 403);
    assert.equal((await jg.as('alice', 'GET', `${PREFIX}/tile/0/000`)).status, 403);
    const made = await jg.auditor('POST', '/v1/audit/checkpoint');
    assert.equal(made.status, 201, made.body);
    const cp = await checkpoint();
    assert.equal(cp.size, made.json.size);
    assert.match(cp.headers['content-type'], /^text\/plain; charset=utf-8/);
    assert.match(cp.headers['cache-control'], /max-age=5\b/);
    // the same note as the JSON API's newest checkpoint (no witnesses configured)
    assert.equal(cp.note, (await jg.auditor('GET', '/v1/audit/checkpoint')).json.note);

    const t = await get(tileName(0, 0, 256));
    assert.equal(t.status, 200);
    assert.equal(t.headers['content-type'], 'application/octet-stream');
    assert.match(t.headers['cache-control'], /immutable/);
    for (const bad of ['0/0', '0/x000/001', '00/000', '0/000.p/0', '0/000.p/256', '64/000', 'entries/1', '0/000.p/012']) {
      const r = await jg.auditor('GET', `${PREFIX}/tile/${bad}`);
      assert.equal(r.status, 400, `${bad}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
    }
    // beyond the checkpoint: the next partial width, a full tile it does not fill, higher levels
    const w0 = cp.size % 256, n0 = Math.floor(cp.size / 256);
    for (const name of [tileName(0, n0, w0 + 1), tileName(0, n0, 256), tileName('entries', n0, w0 + 1),
      tileName(1, 0, Math.floor(cp.size / 256) + 1), tileName(1, 0, 256), tileName(2, 0, 1), tileName(7, 0, 1)]) {
      const r = await jg.auditor('GET', name);
      assert.equal(r.status, 404, `${name}: ${r.body}`);
    }
    // entries appended after it are served once a checkpoint covers them
    const r = await jg.auditor('POST', '/v1/audit/hash', { body: '{"value":"later"}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
    assert.equal((await checkpoint()).size, cp.size);
    assert.equal((await get(tileName('entries', n0, w0 + 1))).status, 404);
    assert.equal((await jg.auditor('POST', '/v1/audit/checkpoint')).status, 201);
    const next = await checkpoint();
    assert.ok(next.size > cp.size);
    assert.equal((await get(tileName('entries', n0, w0 + 1))).status, 200);
  });

  test('the signed root is recomputed from the hash tiles, and entries are proven from their bundles', async () => {
    assert.equal((await jg.auditor('POST', '/v1/audit/checkpoint')).status, 201);
    const cp = await checkpoint();
    assert.ok(cp.size > 512, `${cp.size} entries: full level-0 tiles and a level-1 tile`);
    const c = new TileClient(get, cp.size);
    assert.ok((await c.mth(0, cp.size)).equals(cp.root), 'the root from the tiles is not the signed root');
    for (const i of [0, 1, 255, 256, 511, 512, cp.size - 1]) {
      const bytes = await c.entry(i);
      const entry = parseEntry(bytes); // the audit entry format (docs/audit-format.md)
      assert.equal(Number(entry.seq), i);
      const proof = await c.path(i, 0, cp.size);
      assert.ok(verifyInclusion(i, cp.size, leafHash(bytes), proof, cp.root), `entry ${i} is not included`);
      // and its leaf hash is the level-0 tile's hash at its place
      const t0 = await c.tile(0, Math.floor(i / 256));
      assert.ok(t0.subarray(32 * (i % 256), 32 * (i % 256 + 1)).equals(leafHash(bytes)));
    }
    // the root and seven proofs from seven resources (3 level-0 tiles, 1 level-1, 3 bundles),
    // each fetched once: tiles, not a request per hash
    assert.equal(c.fetches, 7);
  });

  test('the archive directory holds the same tiles, is read like the log itself, and audit verify checks it', async () => {
    const made = (await jg.auditor('POST', '/v1/audit/checkpoint')).json;
    // the checkpoint leader archives it within its next rounds
    const end = Date.now() + 20000;
    let note = '';
    while (note !== made.note && Date.now() < end) {
      try { note = readFileSync(join(archive, 'checkpoint'), 'utf8'); } catch { /* not yet */ }
      if (note !== made.note) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(note, made.note, 'the newest checkpoint was not archived');
    // the same client, reading files as a static web server would serve them
    const files = async (path) => {
      try { return { status: 200, body: readFileSync(join(archive, path.slice(PREFIX.length))) }; } catch { return { status: 404, body: Buffer.from('') }; }
    };
    const cp = openCheckpoint(readFileSync(join(archive, 'checkpoint')), [key]);
    assert.equal(Number(cp.size), made.size);
    const c = new TileClient(files, made.size);
    assert.ok((await c.mth(0, made.size)).equals(cp.root), 'the root from the archived tiles');
    const served = new TileClient(get, made.size);
    for (const [level, n] of [[0, 0], [0, 1], [0, Math.floor(made.size / 256)], [1, 0], ['entries', 0], ['entries', Math.floor(made.size / 256)]]) {
      assert.ok((await c.tile(level, n)).equals(await served.tile(level, n)), `tile ${level}/${n}: archived = served`);
    }
    const i = made.size - 1;
    assert.ok(verifyInclusion(i, made.size, leafHash(await c.entry(i)), await c.path(i, 0, made.size), cp.root));
    // offline: jitgate audit verify DIR
    let r = runJitgate(['audit', 'verify', archive, '--key', keyString]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^VALID: archive .*signed checkpoint of size ${made.size}$`, 'm'));
    // a copy with one entry's byte changed in its bundle is refused, naming the entry
    const copy = join(work, 'tampered');
    cpSync(archive, copy, { recursive: true });
    const bundle = readFileSync(join(copy, 'tile/entries/000'));
    const at = bundle.indexOf('"ts":') + 6;
    bundle[at] = bundle[at] === 0x31 ? 0x32 : 0x31;
    writeFileSync(join(copy, 'tile/entries/000'), bundle);
    r = runJitgate(['audit', 'verify', copy, '--key', keyString]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^INVALID: first bad seq 0: /m);
    // --witness and --checkpoint belong to exports
    r = runJitgate(['audit', 'verify', archive, '--key', keyString, '--checkpoint', join(archive, 'checkpoint')]);
    assert.equal(r.code, 2);
  });

  test('a tampered tile or entry is detected by the client', async () => {
    const cp = await checkpoint();
    // one byte of a hash tile changed on the way: the root no longer matches
    const flip = new TileClient(get, cp.size);
    flip.tamper = (name, bytes) => {
      if (name !== tileName(1, 0, flip.width(1, 0))) return bytes;
      const b = Buffer.from(bytes);
      b[40] ^= 1;
      return b;
    };
    assert.equal((await flip.mth(0, cp.size)).equals(cp.root), false);
    // an entry rewritten in the store: its bundle and level-0 tile follow it, but the stored
    // subtree above (level 1) and the signed root do not - its inclusion fails
    const victim = 7;
    jg.db.tamperEntry(victim, (text) => text.replace(/("ts":\d*)(\d)/, (m, a, d) => a + ((Number(d) + 1) % 10)));
    const c = new TileClient(get, cp.size);
    const bytes = await c.entry(victim);
    assert.equal(Number(parseEntry(bytes).seq), victim);
    const proof = await c.path(victim, 0, cp.size);
    assert.equal(verifyInclusion(victim, cp.size, leafHash(bytes), proof, cp.root), false,
      'an edited entry still proves into the signed root');
    // an untouched entry of another level-1 subtree still proves
    const other = 300;
    const ob = await c.entry(other);
    assert.ok(verifyInclusion(other, cp.size, leafHash(ob), await c.path(other, 0, cp.size), cp.root));
  });
});
