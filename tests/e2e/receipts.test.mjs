// Access receipts (docs/audit-format.md, "Access receipts") against the real
// binary on the store the suite runs with: a grant used for log queries and a
// probe whose agent stored events, revoked; a grant never used, expired on its
// own.  Each gets a grant.receipt right after its end entry, shown on the
// request (API); `jitgate audit receipt` recomputes it from an export and from
// an archive directory and finds it matches; and an export with one action
// entry removed - rebuilt and re-signed by a key of the test's own, which the
// auditor is told to trust - gives a mismatch naming the counts that moved.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate } from './lib/harness.mjs';
import { leafHash, nodeHash, keyId, EMPTY_ROOT } from './lib/independent-verifier.mjs';

const SVC = 'payment-gateway';
const INC = 'INC-4711 payment retries failing in eu-west';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const json = (body, token) => ({
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
});

const lines = (text) => text.split('\n').slice(0, -1);
const unlines = (ls) => ls.map((l) => l + '\n').join('');

// RFC 6962 MTH over leaf hashes.
function mth(leaves) {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

// An export of entries 0..n-1 made anew from entry lines: each renumbered and
// re-linked (the rest of its bytes unchanged: still canonical), the header
// and a checkpoint signed by priv under origin (docs/audit-format.md §4, §5).
function rebuildExport(origin, entryLines, priv, pub) {
  const out = [];
  let prev = '0'.repeat(64);
  const leaves = [];
  entryLines.forEach((l, seq) => {
    const e = l.replace(/,"prev":"[0-9a-f]{64}","seq":\d+,"ts":/, `,"prev":"${prev}","seq":${seq},"ts":`);
    assert.notEqual(e.indexOf(`"seq":${seq},`), -1);
    const leaf = leafHash(Buffer.from(e));
    leaves.push(leaf);
    prev = leaf.toString('hex');
    out.push(e);
  });
  const body = `${origin}\n${leaves.length}\n${mth(leaves).toString('base64')}\n`;
  const blob = Buffer.alloc(68);
  blob.writeUInt32BE(keyId(origin, pub), 0);
  sign(null, Buffer.from(body), priv).copy(blob, 4);
  const note = `${body}\n\u2014 ${origin} ${blob.toString('base64')}\n`;
  const header = { format: 'jitgate-audit-export', from: 0, left: [], origin, right: [], to: leaves.length - 1, tree_size: leaves.length, v: 1 };
  return unlines([JSON.stringify(header), ...out, JSON.stringify({ checkpoint: note })]);
}

describe('access receipts', () => {
  let jg, work, keyFile, key, archive;
  const post = (user, path, body) => jg.as(user, 'POST', path, json(body ?? {}));
  const withToken = (token, method, path, body) => jg.request(method, path, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : json(body, token));
  const cli = (...args) => runJitgate(args);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'jg-receipts-'));
    archive = join(work, 'archive');
    mkdirSync(archive, { mode: 0o750 }); // made by the operator: jitgate refuses a missing one
    jg = await startJitgate({ extraConfig: `audit:\n  archive_dir: ${archive}\n` });
    let r = cli('service', 'add', SVC, '--owners', 'payments-eng,payments-leads', '-c', jg.configPath);
    assert.equal(r.code, 0, r.stderr);
    r = cli('ingest-key', 'create', SVC, '-c', jg.configPath);
    assert.equal(r.code, 0, r.stderr);
    keyFile = r.stdout.trim();
    r = cli('keys', 'list', '-c', jg.configPath);
    key = /^checkpoint \d{4} \(active\) (\S+)$/m.exec(r.stdout)[1];
  });
  after(async () => {
    await cleanup(jg);
    rmSync(work, { recursive: true, force: true });
  });

  let used, usedReceipt, probeId, unused;

  test('a grant used for log queries and a probe, revoked: its receipt counts each action', async () => {
    const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs', 'deploy-probe'], duration: '30m', justification: INC });
    assert.equal(q.status, 201, q.body);
    const ok = await post('bob', `/v1/requests/${q.json.id}/approve`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.json.state, 'active');
    used = ok.json.id;
    const tok = await post('alice', `/v1/grants/${used}/token`);
    assert.equal(tok.status, 201, tok.body);
    const token = tok.json.token;
    for (const path of [`/v1/services/${SVC}/logs?q=timeout`, `/v1/services/${SVC}/logs`]) {
      const r = await withToken(token, 'GET', path);
      assert.equal(r.status, 200, r.body);
    }
    const d = await withToken(token, 'POST', `/v1/services/${SVC}/probes`, {
      function: 'PaymentProcessor.selectProvider', capture_args: true, capture_return: false, sampling_rate: 1, duration: 600,
    });
    assert.equal(d.status, 201, d.body);
    probeId = d.json.id;
    const ev = await jg.request('POST', `/v1/agents/probes/${probeId}/events`, json({ events: [{ n: 1 }, { n: 2 }, { n: 3 }] }, keyFile));
    assert.ok(ev.status === 200 || ev.status === 201, ev.body);
    // a read for another service: refused (recorded as guard.refused), counted as the grant's refusal
    const no = await withToken(token, 'GET', '/v1/services/payment-ledger/logs');
    assert.equal(no.status, 401, no.body);

    // while it runs: its use so far, no receipt yet
    let g = await jg.as('alice', 'GET', `/v1/requests/${used}`);
    assert.equal(g.json.usage.log_queries, 2);
    assert.equal(g.json.unused, false);
    assert.equal(g.json.receipt, undefined);

    const rv = await post('alice', `/v1/grants/${used}/revoke`, { reason: 'fixed' });
    assert.equal(rv.status, 200, rv.body);
    g = await jg.as('alice', 'GET', `/v1/requests/${used}`);
    const r = g.json.receipt;
    assert.ok(r, g.body);
    usedReceipt = r;
    assert.equal(r.grant, used);
    assert.equal(r.requester, 'alice');
    assert.deepEqual(r.approvers, ['bob']);
    assert.deepEqual(r.capabilities, ['read-logs', 'deploy-probe']);
    assert.equal(r.end, 'grant.revoked');
    assert.equal(r.started_at, g.json.approved_at);
    assert.equal(r.expires_at, g.json.expires_at);
    assert.equal(r.tokens_issued, 1);
    assert.equal(r.log_queries, 2);
    assert.equal(r.probes_deployed, 1);
    assert.equal(r.probe_events, 3);
    assert.equal(r.refusals, 1);
    assert.equal(r.pii_reads, 0);
    assert.equal(r.actions, 3);
    assert.equal(r.unused, false);
    assert.equal(g.json.unused, false);
  });

  test('a grant never used expires on its own: its receipt flags it', async () => {
    const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-metrics'], duration: 2, justification: 'a quick look' });
    assert.equal(q.status, 201, q.body);
    unused = q.json.id;
    const t0 = Date.now();
    let g;
    for (;;) {
      g = await jg.as('alice', 'GET', `/v1/requests/${unused}`);
      if (g.json.receipt || Date.now() - t0 > 8000) break;
      await sleep(200);
    }
    assert.equal(g.json.state, 'expired', g.body);
    assert.equal(g.json.receipt.end, 'grant.expired');
    assert.equal(g.json.receipt.unused, true);
    assert.equal(g.json.receipt.actions, 0);
    assert.deepEqual(g.json.receipt.approvers, []);
    assert.equal(g.json.unused, true);
  });

  test('My access shows each receipt, and flags the grant never used', async () => {
    const page = await jg.as('alice', 'GET', '/');
    assert.equal(page.status, 200, page.body);
    const card = (id) => {
      const at = page.body.indexOf(`data-request="${id}"`);
      assert.ok(at >= 0, `no card for ${id}`);
      return page.body.slice(at, page.body.indexOf('</article>', at));
    };
    const usedCard = card(used), unusedCard = card(unused);
    assert.match(usedCard, /<dt>Receipt<\/dt>/);
    assert.match(usedCard, /2 log queries, 1 probe deployed, 3 probe events stored, \d+ bytes of probe events, 1 token issued, 1 refused call/);
    assert.doesNotMatch(usedCard, /Granted but never used/);
    assert.match(unusedCard, /<dt>Receipt<\/dt>/);
    assert.match(unusedCard, /Granted but never used/);
  });

  let exported;
  test('recomputed from an export, each receipt matches; the entries name the probe and the grant', () => {
    const file = join(work, 'all.jsonl');
    const r = cli('audit', 'export', '-c', jg.configPath, '-o', file);
    assert.equal(r.code, 0, r.stderr);
    exported = readFileSync(file, 'utf8');
    const entries = lines(exported).slice(1, -1).map((l) => JSON.parse(l));
    const deploy = entries.find((e) => e.type === 'probe.deploy');
    assert.equal(deploy.data.probe, probeId, 'probe.deploy records the id the probe got');
    const ingested = entries.find((e) => e.type === 'probe.events.ingested');
    assert.equal(ingested.data.grant, used);
    assert.equal(ingested.data.probe, probeId);
    // the receipt follows its end entry at once
    const i = entries.findIndex((e) => e.type === 'grant.receipt' && e.data.grant === used);
    assert.equal(entries[i - 1].type, 'grant.revoked');
    assert.equal(entries[i].data.last_seq, entries[i - 1].seq);
    assert.deepEqual(entries[i].data, usedReceipt);

    for (const id of [used, unused]) {
      const c = cli('audit', 'receipt', file, id, '--key', key);
      assert.equal(c.code, 0, c.stdout + c.stderr);
      assert.match(c.stdout, /^MATCH: /);
    }
    // no receipt for a grant the file does not hold; a key not trusted makes it invalid
    let c = cli('audit', 'receipt', file, 'req_nosuchgrant', '--key', key);
    assert.equal(c.code, 6, c.stdout + c.stderr);
    assert.match(c.stdout, /^NOT FOUND: /);
    const other = generateKeyPairSync('ed25519');
    const pub = other.publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    const origin = JSON.parse(lines(exported)[0]).origin;
    const otherKey = `${origin}+${keyId(origin, pub).toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`;
    c = cli('audit', 'receipt', file, used, '--key', otherKey);
    assert.equal(c.code, 5, c.stdout + c.stderr);
    assert.match(c.stdout, /^INVALID: /);
  });

  test('from the archive directory too', async () => {
    // a checkpoint made after the receipts; the archive catches up with it
    assert.equal((await jg.auditor('POST', '/v1/audit/checkpoint')).status, 201);
    const t0 = Date.now();
    let c;
    for (;;) {
      c = cli('audit', 'receipt', archive, used, '--key', key);
      if (c.code === 0 || Date.now() - t0 > 10000) break;
      await sleep(300);
    }
    assert.equal(c.code, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /^MATCH: /);
  });

  test('an export with one log query removed, re-signed by a trusted test key: mismatch', () => {
    const origin = JSON.parse(lines(exported)[0]).origin;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    const testKey = `${origin}+${keyId(origin, pub).toString(16).padStart(8, '0')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`;
    const entryLines = lines(exported).slice(1, -1);
    // Sanity: rebuilt whole, it verifies under the test key and the receipt still matches.
    const whole = join(work, 'whole.jsonl');
    writeFileSync(whole, rebuildExport(origin, entryLines, privateKey, pub));
    let c = cli('audit', 'verify', whole, '--key', testKey);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    c = cli('audit', 'receipt', whole, used, '--key', testKey);
    assert.equal(c.code, 0, c.stdout + c.stderr);

    const k = entryLines.findIndex((l) => { const e = JSON.parse(l); return e.type === 'logs.read' && e.data.grant === used; });
    assert.ok(k >= 0);
    const cut = join(work, 'cut.jsonl');
    writeFileSync(cut, rebuildExport(origin, entryLines.filter((_, i) => i !== k), privateKey, pub));
    c = cli('audit', 'verify', cut, '--key', testKey);
    assert.equal(c.code, 0, `the forged export is a valid log under the test key: ${c.stdout}${c.stderr}`);
    c = cli('audit', 'receipt', cut, used, '--key', testKey);
    assert.equal(c.code, 1, c.stdout + c.stderr);
    assert.match(c.stdout, /^MISMATCH: /);
    const shown = JSON.parse(c.stdout.slice(c.stdout.indexOf('\n') + 1));
    for (const f of ['log_queries', 'actions', 'entries', 'last_seq'])
      assert.ok(shown.differences.includes(f), `${f} in ${shown.differences}`);
    assert.equal(shown.recorded.log_queries, 2);
    assert.equal(shown.recomputed.log_queries, 1);
    // the other grant's counts are untouched by the cut; only its positions moved
    c = cli('audit', 'receipt', cut, unused, '--key', testKey);
    assert.equal(c.code, 1, c.stdout + c.stderr);
    assert.deepEqual(JSON.parse(c.stdout.slice(c.stdout.indexOf('\n') + 1)).differences.sort(), ['first_seq', 'last_seq']);
  });
});
