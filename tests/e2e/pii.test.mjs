// No personal data through probes, none in clear in the audit log (issue 15, items 2 and 3),
// against the real server, the real identity provider and the real SQLite file.
//
// alice (payments-eng) holds deploy-probe and read-pii; dave (contractors + payments-eng)
// holds deploy-probe only, and contractors never get read-pii.  dave must not read the values
// of alice's conditions on personal data, nor condition on personal data himself: a condition
// is an oracle for the value it compares.  Then an export, after probes, reasons, a review
// note, a refused request and a log search that all hold an email address, a card number and
// a phone number, holds none of them in clear; the auditor finds each one through
// `jitgate audit hash` and POST /v1/audit/hash, which are audited without the value.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJitgate, cleanup, runJitgate, BIN } from './lib/harness.mjs';
import { verifyExport } from './lib/independent-verifier.mjs';

const SVC = 'payment-gateway';
const PROBES = `/v1/services/${SVC}/probes`;
const INC = 'INC-4711 refunds failing for one customer';
// the personal data of this file: none of it may reach the log in clear
const EMAIL = 'zoe.customer@example.com';
const CARD = '4111 1111 1111 1111';
const CARD_DIGITS = '4111111111111111';
const PHONE = '+44 20 7946 0958';
const NAME = 'Zoë Quintana-Example';
const CLEAR = [EMAIL, CARD, CARD_DIGITS, PHONE, NAME, '7946 0958', 'zoe.customer'];

describe('personal data: probes and the audit log', () => {
  let jg;
  let alice; // token: deploy-probe, read-pii, read-logs
  let dave; // token: deploy-probe
  let aliceProbe;

  const json = (body) => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const post = (user, path, body = {}) => jg.as(user, 'POST', path, json(body));
  const withToken = (token, method, path, body) => jg.request(method, path, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : { body: JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const exportText = async () => {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    return r.body;
  };
  const decodeJti = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).jti;
  const entries = (text) => text.trim().split('\n').slice(1).filter((l) => l.startsWith('{"actor"')).map((l) => JSON.parse(l));

  async function grant(user, approvers, capabilities, justification = INC) {
    const q = await post(user, '/v1/requests', { service: SVC, capabilities, duration: '20m', justification });
    assert.equal(q.status, 201, q.body);
    let last = q;
    for (const a of approvers) {
      last = await post(a, `/v1/requests/${q.json.id}/approve`);
      assert.equal(last.status, 200, last.body);
    }
    assert.equal(last.json.state, 'active', last.body);
    const t = await post(user, `/v1/grants/${q.json.id}/token`);
    assert.equal(t.status, 201, t.body);
    return { id: q.json.id, token: t.json.token };
  }

  before(async () => {
    jg = await startJitgate();
    const r = spawnSync(BIN, ['service', 'add', SVC, '--owners', 'payments-eng,payments-leads', '-c', jg.configPath], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // the justification names the customer: stored with the request, never in the log in clear
    alice = await grant('alice', ['bob', 'carol', 'grace'], ['deploy-probe', 'read-pii', 'read-logs'],
      `${INC}: ${EMAIL}, card ${CARD}, phone ${PHONE}`);
    dave = await grant('dave', ['bob'], ['deploy-probe']);
  });
  after(() => cleanup(jg));

  test('a token without read-pii sees another engineer\'s condition values on personal data redacted', async () => {
    const d = await withToken(alice.token, 'POST', PROBES, {
      function: 'Refunds.issue', capture_args: true, duration: 600,
      conditions: [
        { field: 'customer.email', op: 'eq', value: EMAIL },
        { field: 'customer.fullName', op: 'eq', value: NAME },
        { field: 'note', op: 'contains', value: PHONE },
        { field: 'ref', op: 'eq', value: Number(CARD_DIGITS) },
        { field: 'amount', op: 'gt', value: 1000 },
        { field: 'currency', op: 'eq', value: 'EUR' },
      ],
    });
    assert.equal(d.status, 201, d.body);
    aliceProbe = d.json.id;

    const seen = await withToken(dave.token, 'GET', PROBES);
    assert.equal(seen.status, 200, seen.body);
    for (const v of CLEAR) assert.ok(!seen.body.includes(v), `dave read ${v}: ${seen.body}`);
    assert.equal(seen.json.redacted, true);
    const p = seen.json.probes.find((x) => x.id === aliceProbe);
    assert.ok(p, seen.body);
    assert.deepEqual(p.conditions, [
      { field: 'customer.email', op: 'eq', value: '[REDACTED:field]' },
      { field: 'customer.fullName', op: 'eq', value: '[REDACTED:field]' },
      { field: 'note', op: 'contains', value: '[REDACTED:phone]' },
      { field: 'ref', op: 'eq', value: '[REDACTED:card]' },
      // what dave could have deployed himself stays readable
      { field: 'amount', op: 'gt', value: 1000 },
      { field: 'currency', op: 'eq', value: 'EUR' },
    ]);

    // alice's read-pii token reads them as deployed
    const own = await withToken(alice.token, 'GET', PROBES);
    assert.equal(own.status, 200, own.body);
    assert.equal(own.json.redacted, false);
    const mine = own.json.probes.find((x) => x.id === aliceProbe);
    assert.equal(mine.conditions[0].value, EMAIL);
    assert.equal(mine.conditions[1].value, NAME);
  });

  test('a token without read-pii cannot condition on personal data (403 saying why); nothing is deployed', async () => {
    const before = (await withToken(dave.token, 'GET', PROBES)).json.probes.map((x) => x.id);
    const probe = (c) => ({ function: 'Refunds.issue', duration: 600, conditions: [{ field: 'amount', op: 'gt', value: 1 }, c] });
    const cases = [
      { field: 'customer.email', op: 'eq', value: EMAIL },
      { field: 'customer.email', op: 'contains', value: 'zoe' }, // a sensitive field, whatever the value
      { field: 'customer.email', op: 'eq', value: 1 },
      { field: 'billingAddress.street', op: 'contains', value: 'Main' },
      { field: 'client_ip', op: 'eq', value: '10.0.0.1' },
      { field: 'note', op: 'contains', value: EMAIL }, // a value redaction would replace
      { field: 'note', op: 'contains', value: `call ${PHONE}` },
      { field: 'ref', op: 'eq', value: Number(CARD_DIGITS) },
    ];
    for (const c of cases) {
      const r = await withToken(dave.token, 'POST', PROBES, probe(c));
      assert.equal(r.status, 403, `${JSON.stringify(c)}: ${r.body}`);
      assert.equal(r.json.error.code, 'insufficient_capability');
      assert.match(r.json.error.message, /personal data.*read-pii/);
      assert.ok(r.json.error.message.includes(c.field), r.body);
    }
    // configured sensitive fields count too (redaction.sensitive_fields: iban is among the defaults)
    const iban = await withToken(dave.token, 'POST', PROBES, probe({ field: 'payer.IBAN', op: 'eq', value: 'x' }));
    assert.equal(iban.status, 403, iban.body);
    // plurals of the names count too (with a second token: each token's refusals are capped in the log)
    const t2 = await post('dave', `/v1/grants/${dave.id}/token`);
    assert.equal(t2.status, 201, t2.body);
    const plurals = [
      { field: 'customer.emails', op: 'contains', value: 'zoe.q' },
      { field: 'billing.Addresses', op: 'contains', value: 'High St' },
      { field: 'customer.DOBs', op: 'contains', value: '1990' },
      { field: 'order.cards', op: 'eq', value: 'x' },
    ];
    for (const c of plurals) {
      const r = await withToken(t2.json.token, 'POST', PROBES, probe(c));
      assert.equal(r.status, 403, `${JSON.stringify(c)}: ${r.body}`);
      assert.ok(r.json.error.message.includes(c.field), r.body);
    }
    assert.deepEqual((await withToken(dave.token, 'GET', PROBES)).json.probes.map((x) => x.id), before, 'a refused probe was stored');

    // conditions on other fields are still his to use
    const ok = await withToken(dave.token, 'POST', PROBES, probe({ field: 'currency', op: 'eq', value: 'EUR' }));
    assert.equal(ok.status, 201, ok.body);

    // each refusal is evidence, and none is recorded as a deployment
    const log = entries(await exportText());
    const davesDeploys = log.filter((e) => e.type === 'probe.deploy' && e.actor === 'user:dave');
    assert.equal(davesDeploys.length, 1, JSON.stringify(davesDeploys));
    const refused = log.filter((e) => e.type === 'guard.refused' && e.actor === 'user:dave' && e.data.capability === 'read-pii');
    assert.equal(refused.length, cases.length + 1 + plurals.length);
    assert.ok(refused.every((e) => e.data.action === 'probe.deploy'));
  });

  test('the audit log holds no personal data in clear; the auditor finds it by its marker', async () => {
    // reasons, a review note, a refused request and a search, each with personal data
    const q = await post('alice', '/v1/requests', { service: SVC, capabilities: ['deploy-probe'], duration: '20m', justification: INC });
    assert.equal(q.status, 201, q.body);
    const deny = await post('bob', `/v1/requests/${q.json.id}/deny`, { reason: `not for ${EMAIL}; use ${PHONE}` });
    assert.equal(deny.status, 200, deny.body);
    const g = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '20m', justification: INC });
    assert.equal(g.status, 201, g.body);
    const rv = await post('alice', `/v1/grants/${g.json.id}/revoke`, { reason: `done with card ${CARD}` });
    assert.equal(rv.status, 200, rv.body);
    const bg = await post('frank', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '30m', justification: 'SEV-12 payments down', break_glass: true });
    assert.equal(bg.status, 201, bg.body);
    const review = await post('bob', `/v1/requests/${bg.json.id}/review`, { note: `checked with ${EMAIL} at ${PHONE}` });
    assert.equal(review.status, 200, review.body);
    const refused = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '20m', justification: INC, [EMAIL]: 1 });
    assert.equal(refused.status, 400, refused.body);
    assert.ok(refused.body.includes(EMAIL), 'the caller is told which field, in clear');
    // a quote the reply cuts (64 bytes) is marked whole before it is cut for the log: no fragment
    // of the address is left that no scanner would match any more
    const LONG_KEY = `${'x'.repeat(45)} ${EMAIL}`;
    const cut = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '20m', justification: INC, [LONG_KEY]: 1 });
    assert.equal(cut.status, 400, cut.body);
    const badCap = await post('alice', '/v1/requests', { service: SVC, capabilities: [`${'y'.repeat(50)} ${CARD}`], duration: '20m', justification: INC });
    assert.equal(badCap.status, 400, badCap.body);
    const logs = await withToken(alice.token, 'GET', `/v1/services/${SVC}/logs?q=${encodeURIComponent(EMAIL)}`);
    assert.equal(logs.status, 200, logs.body);
    // a genuine token sent to a URL built from personal data: refused, and the refusal
    // (guard.refused) names the path's service only when it is a live service
    const OTHER = 'payment-other';
    assert.equal(spawnSync(BIN, ['service', 'add', OTHER, '--owners', 'payments-eng', '-c', jg.configPath]).status, 0);
    const segments = [EMAIL, `card ${CARD}`, NAME, 'zoe.customer', OTHER];
    for (const seg of segments) {
      const r = await withToken(alice.token, 'GET', `/v1/services/${encodeURIComponent(seg)}/logs`);
      assert.equal(r.status, 401, `${seg}: ${r.body}`);
    }

    const text = await exportText();
    for (const v of CLEAR) assert.ok(!text.includes(v), `the export holds ${v} in clear`);
    assert.ok(!text.includes('\\u00eb'), 'an escaped form of the name');
    // the export still verifies, with the independent verifier too
    const key = runJitgate(['keys', 'list', '-c', jg.configPath]).stdout.match(/^checkpoint \d+ \(active\) (\S+)$/m)[1];
    const file = join(jg.dir, 'pii-export.jsonl');
    writeFileSync(file, text);
    assert.equal(runJitgate(['audit', 'verify', file, '--key', key]).code, 0);
    assert.equal(verifyExport(Buffer.from(text), [key]).ok, true);

    // every place holds a keyed marker instead
    const kid = runJitgate(['keys', 'list', '-c', jg.configPath]).stdout.match(/^pii \d+ \(active\) kid (\S+)$/m)[1];
    const log = entries(text);
    const one = (pred, what) => { const e = log.filter(pred); assert.equal(e.length, 1, what); return e[0]; };
    const marker = (kind) => new RegExp(`\\[REDACTED:${kind}:${kid}:[A-Za-z0-9_-]{22}\\]`);
    const denied = one((e) => e.type === 'request.denied' && e.data.request === q.json.id, 'request.denied');
    assert.match(denied.data.reason, new RegExp(`^not for ${marker('email').source}; use ${marker('phone').source}$`));
    const revoked = one((e) => e.type === 'grant.revoked' && e.data.request === g.json.id, 'grant.revoked');
    assert.match(revoked.data.reason, new RegExp(`^done with card ${marker('card').source}$`));
    const reviewed = one((e) => e.type === 'grant.reviewed' && e.data.request === bg.json.id, 'grant.reviewed');
    assert.match(reviewed.data.note, marker('email'));
    const refusals = log.filter((e) => e.type === 'request.refused' && e.actor === 'user:alice');
    assert.equal(refusals.length, 3, JSON.stringify(refusals));
    assert.match(refusals[0].data.reason, new RegExp(`^unknown field '${marker('email').source}'$`));
    assert.match(refusals[1].data.reason, new RegExp(`^unknown field 'x{45} ${marker('email').source}'$`));
    assert.match(refusals[2].data.reason, new RegExp(`^unknown capability 'y{50} ${marker('card').source}' \\(`));
    const deploy = one((e) => e.type === 'probe.deploy' && e.actor === 'user:alice', 'probe.deploy');
    assert.deepEqual(deploy.data.params.conditions.map((c) => [c.field, typeof c.value === 'string' ? c.value.replace(marker('[a-z]+'), 'M') : c.value]),
      [['customer.email', 'M'], ['customer.fullName', 'M'], ['note', 'M'], ['ref', 'M'], ['amount', 1000], ['currency', 'EUR']]);
    assert.match(deploy.data.params.conditions[0].value, marker('field'));
    assert.match(deploy.data.params.conditions[2].value, marker('phone'));
    assert.match(deploy.data.params.conditions[3].value, marker('card'));
    const wrongService = log.filter((e) => e.type === 'guard.refused' && e.data.jti === decodeJti(alice.token)).map((e) => e.data.service);
    assert.equal(wrongService.length, segments.length, JSON.stringify(wrongService));
    assert.match(wrongService[0], new RegExp(`^${marker('email').source}$`));
    assert.match(wrongService[1], new RegExp(`^${marker('field').source}$`));
    assert.match(wrongService[2], new RegExp(`^${marker('field').source}$`));
    assert.match(wrongService[3], new RegExp(`^${marker('field').source}$`), 'a name that only looks like a service');
    assert.equal(wrongService[4], OTHER, 'a live service is named in clear');
    const read = one((e) => e.type === 'logs.read' && e.actor === 'user:alice', 'logs.read');
    assert.match(read.data.params.q, new RegExp(`^${marker('query').source}$`));
    assert.equal(read.data.params.q_sha256, undefined, 'the unkeyed hash is gone');

    // the auditor's tools: the CLI (value on stdin) and the API give the markers found above
    const tokenFile = join(jg.dir, 'erin.token');
    writeFileSync(tokenFile, `${await jg.tokenFor('erin')}\n`, { mode: 0o600 });
    const hash = (value, ...args) => spawnSync(BIN, ['audit', 'hash', '--url', jg.url, '--ca-file', join(jg.dir, 'cert.pem'), '--token-file', tokenFile, ...args],
      { input: value, encoding: 'utf8' });
    const cli = hash(`${EMAIL}\n`, '--stdin');
    assert.equal(cli.status, 0, cli.stderr);
    const emailMarker = cli.stdout.trim();
    assert.match(emailMarker, new RegExp(`^${marker('email').source}$`));
    assert.ok(denied.data.reason.includes(emailMarker) && reviewed.data.note.includes(emailMarker), 'the CLI marker is not the one in the log');
    assert.ok(text.includes(emailMarker));
    const api = await jg.auditor('POST', '/v1/audit/hash', json({ value: CARD }));
    assert.equal(api.status, 200, api.body);
    assert.equal(api.json.kind, 'card');
    assert.equal(api.json.markers.length, 1);
    assert.equal(api.json.markers[0].kid, kid);
    assert.equal(api.json.markers[0].active, true);
    assert.ok(revoked.data.reason.includes(api.json.markers[0].marker));
    // a value under another kind: the mac alone finds it (the field's marker, the query's)
    const field = await jg.auditor('POST', '/v1/audit/hash', json({ value: NAME }));
    assert.equal(field.json.kind, 'field');
    assert.equal(deploy.data.params.conditions[1].value, field.json.markers[0].marker);
    assert.equal(wrongService[2], field.json.markers[0].marker, 'the refused path\'s marker is the value\'s');
    const query = await jg.auditor('POST', '/v1/audit/hash', json({ value: EMAIL, kind: 'query' }));
    assert.equal(read.data.params.q, query.json.markers[0].marker);
    assert.ok(deploy.data.params.conditions[0].value.endsWith(query.json.markers[0].search), 'the field marker of the email has its mac');
    // an argument works too (with a warning about argv)
    const arg = hash('', PHONE);
    assert.equal(arg.status, 0, arg.stderr);
    assert.match(arg.stderr, /prefer --stdin/);
    assert.ok(denied.data.reason.includes(arg.stdout.trim()));

    // auditors only; each question is in the log as markers, never the value
    const notAuditor = await post('alice', '/v1/audit/hash', { value: EMAIL });
    assert.equal(notAuditor.status, 403, notAuditor.body);
    const bad = await jg.auditor('POST', '/v1/audit/hash', json({ value: '' }));
    assert.equal(bad.status, 400, bad.body);
    const badKind = await jg.auditor('POST', '/v1/audit/hash', json({ value: 'x', kind: 'colour' }));
    assert.equal(badKind.status, 400, badKind.body);
    const after = await exportText();
    for (const v of CLEAR) assert.ok(!after.includes(v), `the export holds ${v} in clear after the hashes`);
    const hashed = entries(after).filter((e) => e.type === 'audit.hashed');
    assert.equal(hashed.length, 5, JSON.stringify(hashed));
    assert.ok(hashed.every((e) => e.actor === 'user:erin'));
    assert.deepEqual(hashed[0].data, { kind: 'email', markers: [emailMarker] });
  });

  test('a card number written as a real (or as an integer the agent cannot tell from one) is a card number too', async () => {
    // the agent compares numbers as doubles: 4111111111111111.0 and 4.111111111111111e15 match the
    // integer card, and so does 4532015112830365953 (no Luhn number itself) the card 4532015112830366120
    const raw = (token, value) => jg.request('POST', PROBES, {
      body: `{"function":"Refunds.issue","capture_args":true,"duration":600,"conditions":[{"field":"payment.number","op":"eq","value":${value}}]}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    const before = (await withToken(dave.token, 'GET', PROBES)).json.probes.map((x) => x.id);
    const t = await post('dave', `/v1/grants/${dave.id}/token`);
    assert.equal(t.status, 201, t.body);
    for (const value of [`${CARD_DIGITS}.0`, '4.111111111111111e15', '-4111111111111111.0', '4532015112830365953']) {
      const r = await raw(t.json.token, value);
      assert.equal(r.status, 403, `${value}: ${r.body}`);
      assert.match(r.json.error.message, /'payment\.number'.*read-pii/);
    }
    assert.deepEqual((await withToken(dave.token, 'GET', PROBES)).json.probes.map((x) => x.id), before, 'a refused probe was stored');
    // deployed with read-pii, the real is shown to dave as a card, and logged as the integer's marker
    const d = await raw(alice.token, `${CARD_DIGITS}.0`);
    assert.equal(d.status, 201, d.body);
    const seen = await withToken(dave.token, 'GET', PROBES);
    assert.ok(!seen.body.includes(CARD_DIGITS), seen.body);
    assert.deepEqual(seen.json.probes.find((x) => x.id === d.json.id).conditions,
      [{ field: 'payment.number', op: 'eq', value: '[REDACTED:card]' }]);
    const text = await exportText();
    assert.ok(!text.includes(CARD_DIGITS) && !text.includes('4.111111111111111') && !text.includes('45320151128303'), 'a card in clear');
    const deploys = entries(text).filter((e) => e.type === 'probe.deploy' && e.actor === 'user:alice');
    // the integer of the first test and the real here: one card, one marker
    assert.equal(deploys.at(-1).data.params.conditions[0].value, deploys[0].data.params.conditions[3].value);
  });
});
