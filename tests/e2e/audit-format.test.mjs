// docs/audit-format.md, checked against the real binary: exports made by
// `jitgate audit export` and by GET /v1/audit/export are accepted both by
// `jitgate audit verify` and by an independent verifier written from the
// document alone (lib/independent-verifier.mjs, node:crypto only), and both
// reject the same forgeries - naming the same first bad entry when there is
// one.  The proofs of /v1/audit/proof and /v1/audit/consistency verify with
// the RFC 9162 algorithms against roots taken from signed checkpoints.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate, writeConfig } from './lib/harness.mjs';
import {
  verifyExport, verifyInclusion, verifyConsistency, leafHash, nodeHash, keyId, parseNote, parseCheckpointBody,
  EMPTY_ROOT,
} from './lib/independent-verifier.mjs';

const ORIGIN = 'audit-format.e2e.example/audit';
const ORIGIN_CONFIG = `audit:\n  origin: ${ORIGIN}\n`;

// The verifier key string of the active checkpoint key, as `jitgate keys list` prints it.
function verifierKey(cfg) {
  const r = runJitgate(['keys', 'list', '-c', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const m = /^checkpoint \d{4} \(active\) (\S+)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1];
}

function cliExport(cfg, file, args = []) {
  const r = runJitgate(['audit', 'export', '-c', cfg, '-o', file, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(file, 'utf8');
}

const lines = (text) => text.split('\n').slice(0, -1); // every line ends with '\n'
const unlines = (ls) => ls.map((l) => l + '\n').join('');
const header = (text) => JSON.parse(lines(text)[0]);
const noteOf = (text) => JSON.parse(lines(text).at(-1)).checkpoint;
const withNote = (text, note) => unlines([...lines(text).slice(0, -1), JSON.stringify({ checkpoint: note })]);

// Moves "key":value pairs around without touching the value bytes: the same entry, other key order.
function reorderKeys(entry) {
  const parsed = JSON.parse(entry);
  const keys = Object.keys(parsed).reverse();
  const raw = {};
  for (const k of keys) {
    const m = new RegExp(`"${k}":(\\{[^}]*\\}|"[^"]*"|-?\\d+)`).exec(entry);
    raw[k] = m[1];
  }
  return '{' + keys.map((k) => `"${k}":${raw[k]}`).join(',') + '}';
}

describe('audit export format: jitgate audit verify and an independent verifier agree', () => {
  let jg, cfg, key, work;
  let full, part, served; // exports: all entries; CLI from=5 to=12; server from=7 to=9
  const notes = new Map(); // size -> checkpoint note of this log

  let n = 0;
  function cliVerify(text, { old, keyArg } = {}) {
    const file = join(work, `v${n++}.jsonl`);
    writeFileSync(file, text);
    const args = ['audit', 'verify', file, '--key', keyArg ?? key];
    if (old !== undefined) {
      const oldFile = join(work, `old${n++}.note`);
      writeFileSync(oldFile, old);
      args.push('--checkpoint', oldFile);
    }
    return runJitgate(args);
  }

  function bothAccept(text, old) {
    const ours = verifyExport(text, key, old);
    const cli = cliVerify(text, { old });
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /^VALID: /);
    assert.equal(ours.ok, true, JSON.stringify(ours));
    const h = header(text);
    assert.deepEqual([ours.origin, ours.from, ours.to, ours.treeSize], [h.origin, h.from, h.to, h.tree_size]);
    assert.match(cli.stdout, new RegExp(`entries ${h.from}\\.\\.${h.to} verified against the signed checkpoint of size ${h.tree_size}`));
    return ours;
  }

  // Both refuse; the same first bad seq (or none); the reasons start alike.
  function bothReject(text, { old, why } = {}) {
    const ours = verifyExport(text, key, old);
    const cli = cliVerify(text, { old });
    assert.equal(cli.code, 1, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /^INVALID: /);
    assert.equal(ours.ok, false, 'the independent verifier accepted what jitgate refused');
    const m = /^INVALID: first bad seq (\d+): (.*)$/m.exec(cli.stdout);
    const cliSeq = m ? Number(m[1]) : undefined;
    const cliWhy = m ? m[2] : cli.stdout.replace(/^INVALID: /, '').trim();
    assert.equal(ours.seq, cliSeq, `jitgate: ${cli.stdout} ours: ${JSON.stringify(ours)}`);
    const lead = (s) => s.split(':')[0];
    assert.equal(lead(ours.why), lead(cliWhy), `jitgate: ${cliWhy} | ours: ${ours.why}`);
    if (why) {
      assert.match(cliWhy, why);
      assert.match(ours.why, why);
    }
    return { ours, cli: cliWhy, seq: cliSeq };
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'jg-format-'));
    jg = await startJitgate({ extraConfig: ORIGIN_CONFIG });
    cfg = jg.configPath;
    key = verifierKey(cfg);
    // 20 entries through the server, each export followed by a checkpoint of its size.
    for (let i = 1; i <= 20; i++) {
      const r = await jg.auditor('GET', '/v1/audit/export');
      assert.equal(r.status, 200, r.body);
      assert.equal(header(r.body).tree_size, i);
      notes.set(i, noteOf(r.body));
    }
    // The CLI appends to the same log while the server runs (the head lives in the database).
    full = cliExport(cfg, join(work, 'full.jsonl')); // entries 0..20
    part = cliExport(cfg, join(work, 'part.jsonl'), ['--from', '5', '--to', '12']);
    const r = await jg.auditor('GET', '/v1/audit/export?from=7&to=9');
    assert.equal(r.status, 200, r.body);
    served = r.body;
    for (const t of [full, part, served]) notes.set(header(t).tree_size, noteOf(t));
  });
  after(async () => {
    await cleanup(jg);
    rmSync(work, { recursive: true, force: true });
  });

  test('the exports have the documented shape', () => {
    const h = header(full);
    assert.deepEqual(Object.keys(h), ['format', 'from', 'left', 'origin', 'right', 'to', 'tree_size', 'v']);
    assert.deepEqual([h.format, h.v, h.origin, h.from, h.to, h.tree_size], ['jitgate-audit-export', 1, ORIGIN, 0, 20, 21]);
    assert.deepEqual([h.left, h.right], [[], []]);
    // The header line is itself compact with sorted keys (as jansson writes it).
    assert.equal(lines(full)[0], JSON.stringify(Object.fromEntries(Object.entries(h))));
    const entries = lines(full).slice(1, -1).map((l) => JSON.parse(l));
    assert.equal(entries.length, 21);
    entries.forEach((e, i) => {
      assert.deepEqual(Object.keys(e), ['actor', 'data', 'prev', 'seq', 'ts', 'type', 'v']);
      assert.equal(e.seq, i);
      assert.equal(e.v, 1);
      assert.equal(e.type, 'audit.exported');
    });
    assert.equal(entries[0].prev, '0'.repeat(64));
    assert.equal(entries[1].prev, leafHash(Buffer.from(lines(full)[1])).toString('hex'));
    assert.equal(entries[0].actor, 'user:erin');
    assert.match(entries[20].actor, /^operator:/);
    // The checkpoint note: body, blank line, one signature line with the em dash.
    const note = noteOf(full);
    assert.match(note, new RegExp(`^${ORIGIN}\\n21\\n[A-Za-z0-9+/]{43}=\\n\\n\u2014 ${ORIGIN} [A-Za-z0-9+/]{91}=\\n$`));
    const sig = Buffer.from(note.split('\n')[4].split(' ')[2], 'base64');
    assert.equal(sig.length, 68);
    assert.equal(sig.readUInt32BE(0), parseInt(key.slice(key.indexOf('+') + 1, key.indexOf('+') + 9), 16));
  });

  // strtoull clamps 2^64 to ULLONG_MAX, which `audit export` read as "to the end": a bad --to
  // exported the whole log (and recorded an export of everything) instead of being refused.
  test('audit export refuses range arguments that are not 64-bit decimals, appending nothing', async () => {
    const before = await jg.db.count('audit_log');
    for (const args of [['--to', '18446744073709551616'], ['--from', '18446744073709551616'],
      ['--to', '99999999999999999999999'], ['--from', '-1'], ['--to', '+5'], ['--from', ' 5'], ['--to', '0x10']]) {
      const r = runJitgate(['audit', 'export', '-c', cfg, '-o', join(work, 'refused.jsonl'), ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal(await jg.db.count('audit_log'), before, 'a refused export appended to the log');
  });

  test('left and right are the documented perfect subtrees (CLI from=5 to=12)', () => {
    const h = header(part);
    assert.deepEqual([h.from, h.to, h.tree_size], [5, 12, 22]);
    // left: [0,4) and [4,5); right tiles [13,22): [13,14) [14,16) [16,20) [20,22).
    assert.equal(h.left.length, 2);
    assert.equal(h.right.length, 4);
    const leaves = lines(full).slice(1, -1).map((l) => leafHash(Buffer.from(l)));
    assert.equal(h.left[1], leaves[4].toString('hex'));
    assert.equal(h.right[0], leaves[13].toString('hex'));
    bothAccept(part);
  });

  test('genuine exports are accepted by both (CLI full and partial, server partial)', () => {
    const a = bothAccept(full);
    assert.equal(a.root, Buffer.from(parseCheckpointBody(parseNote(noteOf(full)).text).root).toString('hex'));
    bothAccept(part);
    const h = header(served);
    assert.ok(h.from === 7 && h.left.length === 3 && h.right.length > 0, lines(served)[0]);
    bothAccept(served);
  });

  test('jitgate audit verify takes the key as a string, a file holding it, or the PEM public key', () => {
    const keyFile = join(work, 'verifier.key');
    writeFileSync(keyFile, key + '\n');
    assert.equal(cliVerify(part, { keyArg: keyFile }).code, 0);
    const pem = runJitgate(['keys', 'public', '--kind', 'checkpoint', '-c', cfg]);
    const pemFile = join(work, 'checkpoint.pub');
    writeFileSync(pemFile, pem.stdout);
    assert.equal(cliVerify(part, { keyArg: pemFile }).code, 0);
    // The verifier key is name + key ID + base64(0x01 || the PEM's raw key).
    const raw = createPublicKey(pem.stdout).export({ format: 'der', type: 'spki' }).subarray(12);
    // Split at the first two '+' only: base64 may hold '+' itself.
    const p1 = key.indexOf('+'), p2 = key.indexOf('+', p1 + 1);
    const [name, id, b64] = [key.slice(0, p1), key.slice(p1 + 1, p2), key.slice(p2 + 1)];
    assert.equal(name, ORIGIN);
    assert.equal(b64, Buffer.concat([Buffer.from([1]), raw]).toString('base64'));
    assert.equal(parseInt(id, 16), keyId(ORIGIN, raw));
    // No key: usage error (exit 2); a key inside the export is never used.
    const file = join(work, 'nokey.jsonl');
    writeFileSync(file, part);
    assert.equal(runJitgate(['audit', 'verify', file]).code, 2);
  });

  // (a) one byte changed in an entry
  test('a byte changed in an entry: both reject, naming that entry', () => {
    const ls = lines(full);
    const edit = (i, from, to) => { const c = [...ls]; c[i] = c[i].replace(from, to); assert.notEqual(c[i], ls[i]); return unlines(c); };
    // Still well-formed: the next entry's prev no longer matches; the edited one is named.
    assert.equal(bothReject(edit(1 + 7, '"from":0', '"from":1'), { why: /^bad hash link/ }).seq, 7);
    assert.equal(bothReject(edit(1 + 3, /"ts":(\d)/, '"ts":9')).seq, 3);
    assert.equal(bothReject(edit(1 + 0, 'user:erin', 'user:eriN')).seq, 0);
    // No longer JSON: named where it fails.
    assert.equal(bothReject(edit(1 + 9, '"seq":9,', '"seq":9;'), { why: /^not JSON/ }).seq, 9);
    // The last entry has no successor: only the signed root catches it.
    const r = bothReject(edit(1 + 20, '"from":0', '"from":2'), { why: /^root mismatch/ });
    assert.equal(r.seq, undefined);
    // In a partial export too.
    const pl = lines(part);
    pl[1 + 2] = pl[1 + 2].replace('"from":0', '"from":3'); // entry 7
    assert.equal(bothReject(unlines(pl)).seq, 7);
  });

  // (b) an entry deleted
  test('an entry deleted: both reject', () => {
    const ls = lines(full);
    assert.equal(bothReject(unlines(ls.filter((_, i) => i !== 1 + 6)), { why: /^gap or reordering/ }).seq, 6);
    assert.equal(bothReject(unlines(ls.filter((_, i) => i !== 1 + 0))).seq, 0);
    // The last one: the header promised more.
    assert.equal(bothReject(unlines(ls.filter((_, i) => i !== 1 + 20)), { why: /^size mismatch/ }).seq, 20);
    // ... and the header's `to` edited to match: [20, 21) then needs a right hash the file lacks.
    const h = header(full);
    const c = ls.filter((_, i) => i !== 1 + 20);
    c[0] = JSON.stringify({ ...h, to: 19 });
    bothReject(unlines(c), { why: /^malformed export|^root mismatch/ });
  });

  // (c) two entries swapped
  test('two entries swapped: both reject', () => {
    const ls = lines(full);
    const c = [...ls];
    [c[1 + 10], c[1 + 11]] = [c[1 + 11], c[1 + 10]];
    assert.equal(bothReject(unlines(c), { why: /^gap or reordering/ }).seq, 10);
    const p = lines(part);
    [p[1], p[2]] = [p[2], p[1]];
    assert.equal(bothReject(unlines(p)).seq, 5);
  });

  // (d) an entry re-serialised
  test('an entry re-serialised (other key order, whitespace, escapes, number form): both reject', () => {
    const ls = lines(full);
    const variants = [
      reorderKeys(ls[1 + 4]),
      ls[1 + 4].replace(',"seq":', ', "seq":'),
      ls[1 + 4] + ' ',
      ls[1 + 4].replace('"type":"audit.exported"', '"type":"audit\\u002eexported"'),
      ls[1 + 4].replace('"from":0', '"from":-0'),
      ls[1 + 4].replace('"from":0', '"from":0.0'),
      ls[1 + 4].replace('"v":1}', '"v":1,"v":1}'),
      JSON.stringify(JSON.parse(ls[1 + 4]), null, 1).replace(/\n/g, ''),
    ];
    for (const v of variants) {
      assert.notEqual(v, ls[1 + 4]);
      const c = [...ls];
      c[1 + 4] = v;
      assert.equal(bothReject(unlines(c), { why: /^not canonical|^not JSON/ }).seq, 4, v);
    }
    // The reordered entry is the same JSON value: only the bytes differ.
    assert.deepEqual(JSON.parse(reorderKeys(ls[1 + 4])), JSON.parse(ls[1 + 4]));
  });

  // (e) a checkpoint signed by another key, or with a damaged signature
  test('a checkpoint signed by another key or with a flipped signature byte: both reject', () => {
    const note = noteOf(full);
    const body = note.slice(0, note.indexOf('\n\n') + 1);
    // Another deployment's key signs the very same body under the same name.
    const otherDir = mkdtempSync(join(tmpdir(), 'jg-format-key-'));
    try {
      const otherCfg = writeConfig(otherDir, 1, ORIGIN_CONFIG);
      assert.equal(runJitgate(['keys', 'generate', '-c', otherCfg]).code, 0);
      const priv = createPrivateKey(readFileSync(join(otherDir, 'keys', 'checkpoint-0001.pem')));
      const pub = createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(12);
      const blob = Buffer.alloc(68);
      blob.writeUInt32BE(keyId(ORIGIN, pub), 0);
      sign(null, Buffer.from(body), priv).copy(blob, 4);
      const forged = `${body}\n\u2014 ${ORIGIN} ${blob.toString('base64')}\n`;
      // Sanity: the forged note is well-formed and verifies under the other key.
      const otherKey = verifierKey(otherCfg);
      assert.equal(verifyExport(withNote(full, forged), otherKey).ok, true);
      bothReject(withNote(full, forged), { why: /^bad signature/ });
      // Both signatures on one note: the trusted one still verifies (other keys are ignored).
      bothAccept(withNote(full, note + forged.slice(body.length + 1)));
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
    // One byte of the Ed25519 signature flipped (the base64 stays canonical).
    const sigLine = note.split('\n')[4];
    const blob = Buffer.from(sigLine.split(' ')[2], 'base64');
    blob[20] ^= 0x01;
    const flipped = note.replace(sigLine, `\u2014 ${ORIGIN} ${blob.toString('base64')}`);
    bothReject(withNote(full, flipped), { why: /^bad signature/ });
    // A damaged key ID: the note no longer names the trusted key.
    blob[20] ^= 0x01;
    blob[0] ^= 0x80;
    bothReject(withNote(full, note.replace(sigLine, `\u2014 ${ORIGIN} ${blob.toString('base64')}`)), { why: /^bad signature/ });
  });

  // (f) a checkpoint whose size or root was edited
  test('a checkpoint (or header) whose size or root was edited: both reject', () => {
    const note = noteOf(full);
    bothReject(withNote(full, note.replace('\n21\n', '\n20\n')), { why: /^bad signature/ });
    const other = parseCheckpointBody(parseNote(notes.get(20)).text).root.toString('base64');
    bothReject(withNote(full, note.replace(/\n[A-Za-z0-9+/]{43}=\n\n/, `\n${other}\n\n`)), { why: /^bad signature/ });
    // A genuine older checkpoint in place of the export's own: the sizes disagree.
    bothReject(withNote(full, notes.get(20)), { why: /^size mismatch/ });
    // (Cut down to entries 0..19 with the checkpoint of size 20, the file is genuine again.)
    const ls = lines(full);
    ls[0] = JSON.stringify({ ...header(full), tree_size: 20, to: 19 });
    ls.splice(-2, 2, JSON.stringify({ checkpoint: notes.get(20) }));
    bothAccept(unlines(ls));
    // The header's tree_size edited: it no longer matches the signed size.
    const ls2 = lines(full);
    ls2[0] = JSON.stringify({ ...header(full), tree_size: 22 });
    bothReject(unlines(ls2), { why: /^size mismatch/ });
    // A proof hash in left or right edited: the root disagrees.
    const p = lines(part);
    const h = header(part);
    h.right[2] = h.right[2].replace(/^./, (c) => (c === '0' ? '1' : '0'));
    p[0] = JSON.stringify(h);
    bothReject(unlines(p), { why: /^root mismatch/ });
    const h2 = header(part);
    h2.left.pop();
    p[0] = JSON.stringify(h2);
    bothReject(unlines(p), { why: /^malformed export/ });
  });

  // (g) consistency with an older checkpoint
  test('--checkpoint OLD: accepted when this log extends it, refused for another log', () => {
    bothAccept(full, notes.get(3)); // 3 in [from, to + 1]
    bothAccept(full, notes.get(21)); // the export's own size
    bothAccept(part, notes.get(8)); // 8 in [5, 13]
    bothAccept(part, notes.get(5)); // = from: the root of the left subtrees
    bothAccept(part, notes.get(13)); // = to + 1
    bothReject(part, { old: notes.get(3), why: /^cannot check consistency/ }); // below from
    bothReject(part, { old: notes.get(16), why: /^cannot check consistency/ }); // inside right
    bothReject(full, { old: noteOf(part), why: /^not consistent/ }); // newer than the export
    // Another log with the same origin and the same key: its checkpoint of size 3 is validly signed
    // but its tree is not a prefix of ours.
    const dir = mkdtempSync(join(tmpdir(), 'jg-format-fork-'));
    try {
      const forkCfg = writeConfig(dir, 1, ORIGIN_CONFIG);
      writeFileSync(forkCfg, readFileSync(forkCfg, 'utf8').replace('key_dir: keys', `key_dir: ${join(jg.dir, 'keys')}`));
      assert.equal(runJitgate(['migrate', '-c', forkCfg]).code, 0);
      for (let i = 0; i < 3; i++) cliExport(forkCfg, join(dir, 'e.jsonl'));
      const forkNote = runJitgate(['audit', 'checkpoint', '-c', forkCfg]);
      assert.equal(forkNote.code, 0, forkNote.stderr);
      assert.match(forkNote.stdout, new RegExp(`^${ORIGIN}\\n3\\n`));
      assert.notEqual(forkNote.stdout, notes.get(3));
      // The fork's own export verifies with our key: same key, same origin.
      bothAccept(readFileSync(join(dir, 'e.jsonl'), 'utf8'));
      bothReject(full, { old: forkNote.stdout, why: /^not consistent/ });
      bothReject(part, { old: forkNote.stdout, why: /^cannot check consistency/ });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('malformed files: both reject', () => {
    bothReject(full.slice(0, -1), { why: /^malformed export/ }); // no final newline
    bothReject(unlines(lines(full).slice(0, -1)), { why: /^malformed export/ }); // no checkpoint line
    const ls = lines(full);
    ls[0] = ls[0].replace('jitgate-audit-export', 'something-else');
    bothReject(unlines(ls), { why: /^malformed export/ });
  });

  test('inclusion and consistency proofs verify against signed checkpoint roots (RFC 9162)', async () => {
    const cp = (await jg.auditor('GET', '/v1/audit/checkpoint')).json;
    const signed = parseCheckpointBody(parseNote(cp.note).text);
    assert.equal(signed.root.toString('hex'), cp.root);
    assert.equal(Number(signed.size), cp.size);
    const entries = lines(full).slice(1, -1);
    for (const seq of [0, 5, 13, 20]) {
      const p = (await jg.auditor('GET', `/v1/audit/proof?seq=${seq}&size=${cp.size}`)).json;
      assert.deepEqual(Object.keys(p).sort(), ['leaf_hash', 'proof', 'root', 'seq', 'tree_size']);
      const leaf = leafHash(Buffer.from(entries[seq]));
      assert.equal(p.leaf_hash, leaf.toString('hex'));
      assert.ok(verifyInclusion(seq, cp.size, leaf, p.proof, signed.root), `seq ${seq}`);
      assert.ok(!verifyInclusion(seq + 1, cp.size, leaf, p.proof, signed.root));
      assert.ok(!verifyInclusion(seq, cp.size, leafHash(Buffer.from(entries[seq] + ' ')), p.proof, signed.root));
    }
    for (const m of [1, 3, 8, 13, 20, 21]) {
      const old = parseCheckpointBody(parseNote(notes.get(m)).text);
      const c = (await jg.auditor('GET', `/v1/audit/consistency?from=${m}&to=${cp.size}`)).json;
      assert.deepEqual(Object.keys(c).sort(), ['from', 'proof', 'root_from', 'root_to', 'to']);
      assert.ok(verifyConsistency(m, cp.size, old.root, signed.root, c.proof), `from ${m}`);
      if (c.proof.length > 0) {
        const bad = [...c.proof];
        bad[0] = bad[0].replace(/^./, (x) => (x === '0' ? '1' : '0'));
        assert.ok(!verifyConsistency(m, cp.size, old.root, signed.root, bad));
      }
    }
    // The empty tree is a prefix of every tree; a tree is consistent with itself.
    assert.ok(verifyConsistency(0, cp.size, EMPTY_ROOT, signed.root, []));
    assert.ok(!verifyConsistency(0, cp.size, signed.root, signed.root, []));
    assert.ok(verifyConsistency(cp.size, cp.size, signed.root, signed.root, []));
    const z = (await jg.auditor('GET', `/v1/audit/consistency?from=0&to=${cp.size}`)).json;
    assert.deepEqual([z.proof, z.root_from], [[], EMPTY_ROOT.toString('hex')]);
  });
});

// RFC 6962's reference tree (shared/vectors/rfc6962.md) through the same hashing.
test('the independent verifier hashes the RFC 6962 reference tree', () => {
  const data = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
  const leaves = data.map((h) => leafHash(Buffer.from(h, 'hex')));
  assert.equal(leaves[0].toString('hex'), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  const mth = (a) => {
    if (a.length === 1) return a[0];
    let k = 1;
    while (k * 2 < a.length) k *= 2;
    return nodeHash(mth(a.slice(0, k)), mth(a.slice(k)));
  };
  assert.equal(mth(leaves.slice(0, 3)).toString('hex'), 'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77');
  assert.equal(mth(leaves).toString('hex'), '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
});
