// The debug data plane end to end (docs/dataplane.md): services post OTLP/HTTP JSON and JSON
// Lines with their ingest keys; engineers read logs, traces and metrics through the guard with
// capability tokens from real grants (policies/payments.yaml: alice reads payment-* at once;
// read-pii needs grace and carol).  The real binary, its own OpenID provider, real SQLite files
// (the state database and the separate telemetry.db), checked through tests/e2e/lib/db.mjs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import https from 'node:https';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { startJitgate, cleanup, BIN, runJitgate, writeConfig, makeCert, freePort, sqliteOnly, postgresOnly, ON_SQLITE } from './lib/harness.mjs';

const SVC = 'payment-service';
const DEP = 'ledger-service';
const OTHER = 'payment-gateway';
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const sha256hex = (s) => createHash('sha256').update(s).digest('hex');
// Unix nanoseconds exceed 2^53: replies carry them as integers, so parse those exactly as strings.
const parseBig = (text) => JSON.parse(text.replace(/([:\[,])(-?\d{16,})(?=[,\]}])/g, '$1"$2"'));

const BASE = 1795600800000000000n; // 2026-11-25T10:00:00Z in ns
const ns = (ms) => String(BASE + BigInt(ms) * 1000000n);
const str = (v) => ({ stringValue: v });
const kv = (key, value) => ({ key, value });
const resource = (service, extra = []) => ({ attributes: [kv('service.name', str(service)), ...extra] });

// ---- fixtures (OpenTelemetry protobuf JSON mapping: hex ids, 64-bit integers as strings) ----

const LOGS_FIXTURE = {
  resourceLogs: [{
    resource: resource(SVC, [kv('service.version', str('3.7.0')), kv('host.name', str('pay-1'))]),
    scopeLogs: [{
      scope: { name: 'com.example.payments', version: '1.4.2' },
      logRecords: [
        {
          timeUnixNano: ns(1000), observedTimeUnixNano: ns(1002), severityNumber: 17, severityText: 'ERROR',
          body: str('charge declined by issuer'),
          attributes: [
            kv('http.route', str('/v1/payments')), kv('retry', { boolValue: true }),
            kv('amount.cents', { intValue: '9007199254740993' }), kv('ratio', { doubleValue: 0.25 }),
            kv('tags', { arrayValue: { values: [str('eu'), { intValue: '3' }] } }),
            kv('order', { kvlistValue: { values: [kv('id', str('ord_1')), kv('items', { intValue: 2 })] } }),
            kv('raw', { bytesValue: 'AQID' }), kv('empty', {}),
          ],
          traceId: '5B8EFFF798038103D269B633813FC60C', spanId: 'EEE19B7EC3C1B174', flags: 1,
        },
        {
          timeUnixNano: ns(2000), severityNumber: 'SEVERITY_NUMBER_WARN', severityText: 'WARN',
          body: { kvlistValue: { values: [kv('event', str('slow provider')), kv('ms', { intValue: '1200' })] } },
        },
        // no time: the observed time stands in; no severity number: the text gives the level
        { observedTimeUnixNano: ns(3000), severityText: 'info', body: str('provider selected'), traceId: '', spanId: '' },
      ],
    }],
  }],
};

// trace 1: payment-service -> ledger-service, failing in ledger-service; ids in upper case on purpose
const T1 = '0AF7651916CD43DD8448EB211C80319C';
const t1 = T1.toLowerCase();
const S = { root: 'B7AD6B7169203331', client: '00F067AA0BA902B7', ledger: '53995C3F42CD8AD8', db: 'A1B2C3D4E5F60718', sel: '1111222233334444' };
const spansOf = (service, spans, extra = []) => ({ resourceSpans: [{ resource: resource(service, extra), scopeSpans: [{ scope: { name: 'demo' }, spans }] }] });
const PAY_SPANS = spansOf(SVC, [
  {
    traceId: T1, spanId: S.root, parentSpanId: '', name: 'POST /v1/payments', kind: 2,
    startTimeUnixNano: ns(0), endTimeUnixNano: ns(1500),
    attributes: [kv('customer.email', str('alice@example.com')), kv('http.response.status_code', { intValue: '502' })],
    status: { code: 2, message: 'payment failed for alice@example.com' },
    events: [{ timeUnixNano: ns(1400), name: 'exception', attributes: [kv('exception.type', str('LedgerError')), kv('exception.message', str('card 4111 1111 1111 1111 declined'))] }],
  },
  { traceId: T1, spanId: S.sel, parentSpanId: S.root, name: 'PaymentProcessor.selectProvider', kind: 'SPAN_KIND_INTERNAL', startTimeUnixNano: ns(1), endTimeUnixNano: ns(3), status: {} },
  { traceId: T1, spanId: S.client, parentSpanId: S.root, name: 'POST ledger-service/holds', kind: 3, startTimeUnixNano: ns(5), endTimeUnixNano: ns(1450), status: { code: 'STATUS_CODE_ERROR', message: '502' } },
], [kv('service.version', str('3.7.0')), kv('service.instance.id', str('pay-a1'))]);
const LEDGER_SPANS = spansOf(DEP, [
  {
    traceId: T1, spanId: S.ledger, parentSpanId: S.client, name: 'POST /holds', kind: 2,
    startTimeUnixNano: ns(10), endTimeUnixNano: ns(1440),
    attributes: [kv('ledger.account', str('acct-secret-42')), kv('error.type', str('UPSTREAM_TIMEOUT'))],
    status: { code: 2, message: 'account-service timed out for bob@example.com' },
    events: [{ timeUnixNano: ns(1439), name: 'retry', attributes: [kv('attempt', { intValue: '2' })] }],
  },
  { traceId: T1, spanId: S.db, parentSpanId: S.ledger, name: 'UPDATE holds', kind: 3, startTimeUnixNano: ns(20), endTimeUnixNano: ns(1430), attributes: [kv('db.system', str('postgresql'))], status: { code: 2, message: 'timeout' } },
], [kv('host.name', str('10.1.2.3'))]);
// trace 2: healthy and short, payment-service only; trace 3: ledger-service only
const T2 = '11112222333344445555666677778888';
const T3 = '99990000aaaabbbbccccddddeeeeffff';
const PAY_OK = spansOf(SVC, [{ traceId: T2, spanId: 'aaaaaaaaaaaaaaaa', name: 'GET /health', kind: 2, startTimeUnixNano: ns(60000), endTimeUnixNano: ns(60002), status: { code: 1 } }]);
const LEDGER_ONLY = spansOf(DEP, [{ traceId: T3, spanId: 'bbbbbbbbbbbbbbbb', name: 'nightly', kind: 1, startTimeUnixNano: ns(70000), endTimeUnixNano: ns(80000), status: { code: 2 } }]);

const METRICS_FIXTURE = {
  resourceMetrics: [{
    resource: resource(SVC, [kv('service.instance.id', str('pay-a1'))]),
    scopeMetrics: [{
      scope: { name: 'demo' },
      metrics: [
        { name: 'queue.depth', unit: '{item}', description: 'Items waiting', gauge: { dataPoints: [
          { timeUnixNano: ns(0), asInt: '5', attributes: [kv('queue', str('a'))] },
          { timeUnixNano: ns(30000), asInt: '7', attributes: [kv('queue', str('a'))] },
          { timeUnixNano: ns(65000), asInt: '9', attributes: [kv('queue', str('a'))] },
          { timeUnixNano: ns(0), asDouble: 1.5, attributes: [kv('queue', str('b')), kv('owner', str('ops@example.com'))] },
        ] } },
        { name: 'requests', unit: '{request}', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [
          { startTimeUnixNano: ns(0), timeUnixNano: ns(10000), asDouble: 10 },
          { startTimeUnixNano: ns(0), timeUnixNano: ns(20000), asDouble: 25 },
        ] } },
        { name: 'latency', unit: 'ms', histogram: { aggregationTemporality: 'AGGREGATION_TEMPORALITY_DELTA', dataPoints: [
          { startTimeUnixNano: ns(0), timeUnixNano: ns(10000), count: '4', sum: 230.5, min: 5, max: 150, bucketCounts: ['1', '2', '1'], explicitBounds: [10, 100] },
          { startTimeUnixNano: ns(10000), timeUnixNano: ns(20000), count: '2', sum: 40, min: 15, max: 25, bucketCounts: ['0', '2', '0'], explicitBounds: [10, 100] },
        ] } },
        { name: 'sizes', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(0), count: '1', scale: 1 }] } },
      ],
    }],
  }],
};

describe('the debug data plane', () => {
  let jg;
  const keys = {};
  const tokens = {};

  const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
  const count = (table) => jg.telemetryDb.count(table);
  const ingest = (key, kind, body, type = 'application/json') => jg.request('POST', `/v1/ingest/${kind}`, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': type },
  });
  const post = (user, path, body) => jg.as(user, 'POST', path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const read = (token, path) => jg.request('GET', path, { headers: { authorization: `Bearer ${token}` } });
  async function grant(service, capabilities, approvers = [], duration = '30m') {
    const r = await post('alice', '/v1/requests', { service, capabilities, duration, justification: 'INC-4711 payments failing since the deploy' });
    assert.equal(r.status, 201, r.body);
    for (const who of approvers) assert.equal((await post(who, `/v1/requests/${r.json.id}/approve`)).status, 200);
    const t = await post('alice', `/v1/grants/${r.json.id}/token`);
    assert.equal(t.status, 201, t.body);
    return t.json.token;
  }
  async function exportEntries() {
    const r = await jg.auditor('GET', '/v1/audit/export');
    assert.equal(r.status, 200, r.body);
    return r.body.trim().split('\n').slice(1, -1).map((l) => JSON.parse(l));
  }
  const logs = (token, query = '', svc = SVC) => read(token, `/v1/services/${svc}/logs${query}`);

  before(async () => {
    jg = await startJitgate({ extraConfig: 'redaction:\n  sensitive_fields: [password, card_number, customer_ref]\n' });
    assert.ok(jg.telemetryDb.exists(), 'migrate did not create the telemetry database beside the state database');
    for (const s of [SVC, DEP, OTHER]) {
      assert.equal(cli('service', 'add', s, '--owners', 'payments-eng').status, 0);
      const k = cli('ingest-key', 'create', s);
      assert.equal(k.status, 0, k.stderr);
      keys[s] = k.stdout.trim();
    }
    tokens.read = await grant(SVC, ['read-logs', 'read-traces', 'read-metrics']);
    tokens.pii = await grant(SVC, ['read-logs', 'read-traces', 'read-metrics', 'read-pii'], ['grace', 'carol']);
  });
  after(() => cleanup(jg));

  test('the telemetry is a separate database (SQLite: a file; PostgreSQL: its tables) with its own migrations', () => {
    const telemetry = ['logs', 'spans', 'metric_points', 'logs_fts', 'logs_fts_redacted'];
    const tables = jg.telemetryDb.tables().filter((t) => telemetry.includes(t));
    if (ON_SQLITE) {
      assert.deepEqual(tables, ['logs', 'logs_fts', 'logs_fts_redacted', 'metric_points', 'spans']);
      assert.deepEqual(jg.telemetryDb.rows('SELECT name FROM schema_migrations').map((r) => r.name), ['0001_telemetry.sql']);
      const state = jg.db.tables().filter((t) => ['logs', 'spans'].includes(t));
      assert.deepEqual(state, [], 'telemetry tables in the state database');
      return;
    }
    // PostgreSQL: beside the state tables, no FTS5, a migration set of its own, a partition per day
    assert.deepEqual(tables, ['logs', 'metric_points', 'spans']);
    assert.deepEqual(jg.telemetryDb.rows('SELECT name FROM telemetry_schema_migrations').map((r) => r.name), ['0001_telemetry.sql']);
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    for (const t of ['logs', 'spans', 'metric_points']) assert.ok(jg.telemetryDb.tables().includes(`${t}_${day}`), `no partition ${t}_${day}`);
  });

  test('ingest takes only the service\'s own ingest key and the documented media types', async () => {
    let r = await ingest(null, 'logs', LOGS_FIXTURE);
    assert.equal(r.status, 401, r.body);
    assert.match(r.headers['www-authenticate'] ?? '', /realm="jitgate-ingest"/);
    r = await ingest('jgk_' + 'A'.repeat(43), 'traces', PAY_OK);
    assert.equal(r.status, 401, r.body);
    r = await ingest(tokens.read, 'metrics', METRICS_FIXTURE); // a capability token is not an ingest key
    assert.equal(r.status, 401, r.body);
    r = await ingest(keys[SVC], 'traces', PAY_OK, 'application/x-protobuf');
    assert.equal(r.status, 415, r.body);
    assert.match(r.json.error.message, /application\/json/);
    r = await ingest(keys[SVC], 'traces', JSON.stringify(PAY_OK), 'application/x-ndjson'); // JSON Lines is for logs only
    assert.equal(r.status, 415, r.body);
    r = await jg.request('POST', '/v1/ingest/logs', { body: JSON.stringify(LOGS_FIXTURE), headers: { authorization: `Bearer ${keys[SVC]}`, 'content-type': 'application/json', 'content-encoding': 'br' } });
    assert.equal(r.status, 415, r.body);
    r = await ingest(keys[SVC], 'logs', '{"resourceLogs": [');
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.code, 'bad_request');
    r = await jg.request('POST', '/v1/ingest/logs', { body: 'x'.repeat(1100000), headers: { authorization: `Bearer ${keys[SVC]}`, 'content-type': 'application/json' } });
    assert.equal(r.status, 413, r.body);
    // another service's key cannot write this service's telemetry
    r = await ingest(keys[DEP], 'logs', LOGS_FIXTURE);
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.index, 0);
    assert.match(r.json.error.message, /service\.name 'payment-service' is not this ingest key's service 'ledger-service'/);
    assert.equal(count('logs'), 0, 'a refused batch stored something');
  });

  test('an OTLP logs fixture is read back field for field', async () => {
    const r = await ingest(keys[SVC], 'logs', LOGS_FIXTURE);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { partialSuccess: {} });
    const got = await logs(tokens.pii);
    assert.equal(got.status, 200, got.body);
    assert.equal(got.json.redacted, false);
    const [third, second, first] = got.json.logs; // newest first
    assert.equal(got.json.logs.length, 3);
    assert.deepEqual({ ...first, id: 0 }, {
      id: 0, service: SVC, time: '2026-11-25T10:00:01.000000000Z', time_unix_nano: ns(1000), observed_time_unix_nano: ns(1002),
      level: 'error', severity_number: 17, severity_text: 'ERROR', body: 'charge declined by issuer',
      attributes: { 'http.route': '/v1/payments', retry: true, 'amount.cents': 9007199254740992, ratio: 0.25, tags: ['eu', 3], order: { id: 'ord_1', items: 2 }, raw: 'AQID', empty: null },
      resource: { 'service.name': SVC, 'service.version': '3.7.0', 'host.name': 'pay-1' },
      scope: { name: 'com.example.payments', version: '1.4.2' },
      trace_id: '5b8efff798038103d269b633813fc60c', span_id: 'eee19b7ec3c1b174',
    });
    // 2^53 + 1 survives as an exact integer (JSON.parse above rounds it; the bytes do not)
    assert.match(got.body, /"amount\.cents":9007199254740993\b/);
    assert.equal(second.level, 'warn');
    assert.equal(second.severity_number, 13);
    assert.deepEqual(second.body, { event: 'slow provider', ms: 1200 });
    assert.equal(second.trace_id, null);
    assert.equal(third.time_unix_nano, ns(3000));
    assert.equal(third.level, 'info');
    assert.equal(third.severity_number, 9);
    assert.equal(third.span_id, null);
    // what is stored is what was sent
    const stored = jg.telemetryDb.rows('SELECT time_ns, level, trace_id FROM logs WHERE severity_number = ?', [17]);
    assert.equal(stored.map((l) => `${l.time_ns}|${l.level}|${l.trace_id}`).join('\n'), `${ns(1000)}|error|5b8efff798038103d269b633813fc60c`);
  });

  test('a malformed record refuses its whole batch, naming its index; nothing is stored', async () => {
    const before = { logs: count('logs'), fts: count(ON_SQLITE ? 'logs_fts' : 'logs'), spans: count('spans'), points: count('metric_points') };
    const good = (i) => ({ timeUnixNano: ns(5000 + i), body: str(`good ${i}`) });
    const batch = (records) => ({ resourceLogs: [{ resource: resource(SVC), scopeLogs: [{ logRecords: records.slice(0, 2) }, { logRecords: records.slice(2) }] }] });
    const cases = [
      [{ ...good(3), traceId: 'xyz' }, /traceId/],
      [{ ...good(3), timeUnixNano: '12abc' }, /timeUnixNano/],
      [{ ...good(3), severityNumber: 99 }, /severityNumber/],
      [{ ...good(3), attributes: [{ value: str('no key') }] }, /key/],
      [{ ...good(3), body: { intValue: 'not a number' } }, /body/],
      [{ ...good(3), traceId: '00000000000000000000000000000000' }, /traceId/],
    ];
    for (const [bad, why] of cases) {
      const r = await ingest(keys[SVC], 'logs', batch([good(0), good(1), good(2), bad, good(4)]));
      assert.equal(r.status, 400, r.body);
      assert.equal(r.json.error.code, 'bad_record');
      assert.equal(r.json.error.index, 3);
      assert.equal(r.json.error.path, 'resourceLogs[0].scopeLogs[1].logRecords[1]');
      assert.match(r.json.error.message, why);
      assert.match(r.json.error.message, /nothing of this batch was stored/);
    }
    let r = await ingest(keys[SVC], 'traces', spansOf(SVC, [
      { traceId: T2, spanId: 'cccccccccccccccc', name: 'ok', startTimeUnixNano: ns(0), endTimeUnixNano: ns(1) },
      { traceId: T2, spanId: 'dddddddddddddddd', name: 'backwards', startTimeUnixNano: ns(5), endTimeUnixNano: ns(1) },
    ]));
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.index, 1);
    assert.match(r.json.error.message, /before startTimeUnixNano/);
    r = await ingest(keys[SVC], 'traces', spansOf(SVC, [{ traceId: T2, spanId: 'short', name: 'x', startTimeUnixNano: ns(0), endTimeUnixNano: ns(1) }]));
    assert.equal(r.status, 400, r.body);
    assert.match(r.json.error.message, /spanId/);
    r = await ingest(keys[SVC], 'metrics', { resourceMetrics: [{ resource: resource(SVC), scopeMetrics: [{ metrics: [
      { name: 'ok', gauge: { dataPoints: [{ timeUnixNano: ns(0), asInt: '1' }] } },
      { name: 'h', histogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(0), count: '3', bucketCounts: ['1', '1'], explicitBounds: [1, 2] }] } },
    ] }] }] });
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.index, 1);
    assert.match(r.json.error.path, /metrics\[1\]\.dataPoints\[0\]/);
    r = await ingest(keys[SVC], 'logs', { resourceLogs: [{ resource: resource(SVC), scopeLogs: [{ logRecords: Array.from({ length: 10001 }, (_, i) => good(i)) }] }] });
    assert.equal(r.status, 400, r.body);
    assert.match(r.json.error.message, /more than 10000 records/);
    assert.deepEqual({ logs: count('logs'), fts: count(ON_SQLITE ? 'logs_fts' : 'logs'), spans: count('spans'), points: count('metric_points') }, before);
  });

  test('gzip bodies (the collector exporter\'s default) are inflated, up to a bound', async () => {
    const send = (buf, enc = 'gzip', type = 'application/json') => new Promise((ok, fail) => {
      const req = https.request({ host: '127.0.0.1', port: jg.port, method: 'POST', path: '/v1/ingest/traces', ca: jg.ca, agent: false,
        headers: { authorization: `Bearer ${keys[SVC]}`, 'content-type': type, 'content-encoding': enc, 'content-length': buf.length } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', fail);
      req.end(buf);
    });
    const trace = spansOf(SVC, [{ traceId: 'feedfacefeedfacefeedfacefeedface', spanId: 'feedfacefeedface', name: 'gzipped', startTimeUnixNano: ns(-86400000), endTimeUnixNano: ns(-86399999) }]);
    let r = await send(gzipSync(JSON.stringify(trace)));
    assert.equal(r.status, 200, r.body);
    assert.equal(jg.telemetryDb.rows('SELECT span FROM spans WHERE trace_id = ?', ['feedfacefeedfacefeedfacefeedface']).map((x) => JSON.parse(x.span).name).join('\n'), 'gzipped');
    const before = count('spans');
    // 40 MiB of JSON whitespace in 40 kB of gzip: refused, not swallowed
    r = await send(gzipSync(Buffer.concat([Buffer.from('{"resourceSpans":[]'), Buffer.alloc(40 << 20, 0x20), Buffer.from('}')])));
    assert.equal(r.status, 413, r.body);
    r = await send(Buffer.from('not gzip at all'));
    assert.equal(r.status, 400, r.body);
    r = await send(gzipSync(JSON.stringify(trace)).subarray(0, 20));
    assert.equal(r.status, 400, r.body);
    r = await send(Buffer.concat([gzipSync(JSON.stringify(trace)), Buffer.from('trailing')]));
    assert.equal(r.status, 400, r.body);
    assert.equal(count('spans'), before);
  });

  test('JSON Lines logs: known fields mapped, the rest kept as attributes; a bad line names its index', async () => {
    const lines = [
      { time: '2026-11-25T10:05:00.123456789Z', level: 'error', msg: 'refund failed', order: 'ord_9', attempt: 2, trace_id: 'ABCDEF0123456789ABCDEF0123456789' },
      { ts: 1795601100, severity: 'WARNING', message: 'slow', attributes: { region: 'eu' } },
      { timestamp: 1795601160500, level: 'debug', body: { k: 'v' } },
    ];
    let r = await ingest(keys[SVC], 'logs', lines.map((l) => JSON.stringify(l)).join('\n') + '\n\n', 'application/x-ndjson');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { stored: 3 });
    const got = await logs(tokens.pii, '?trace_id=abcdef0123456789abcdef0123456789');
    assert.equal(got.status, 200, got.body);
    assert.equal(got.json.logs.length, 1);
    const [rec] = got.json.logs;
    assert.equal(rec.time, '2026-11-25T10:05:00.123456789Z');
    assert.equal(rec.level, 'error');
    assert.equal(rec.body, 'refund failed');
    assert.deepEqual(rec.attributes, { order: 'ord_9', attempt: 2 });
    const all = (await logs(tokens.pii, '?since=2026-11-25T10:04:00Z&until=2026-11-25T10:07:00Z')).json.logs;
    assert.deepEqual(all.map((l) => [l.time, l.level, l.body]), [
      ['2026-11-25T10:06:00.500000000Z', 'debug', { k: 'v' }],
      ['2026-11-25T10:05:00.123456789Z', 'error', 'refund failed'],
      ['2026-11-25T10:05:00.000000000Z', 'warn', 'slow'],
    ]);
    assert.deepEqual(all[2].attributes, { region: 'eu' });
    const before = count('logs');
    r = await ingest(keys[SVC], 'logs', '{"msg":"a"}\n{"msg":"b"}\nnot json\n{"msg":"d"}\n', 'application/x-ndjson');
    assert.equal(r.status, 400, r.body);
    assert.equal(r.json.error.index, 2);
    assert.equal(r.json.error.path, 'line 3');
    r = await ingest(keys[SVC], 'logs', '{"msg":"a","service":"ledger-service"}\n', 'application/x-ndjson');
    assert.equal(r.status, 400, r.body);
    // a Unix time past 2262 (int64 nanoseconds) is refused, not wrapped to a negative time
    for (const time of ['50000000000', '5e10', '99999999999999']) {
      r = await ingest(keys[SVC], 'logs', `{"msg":"a"}\n{"time":${time},"msg":"far future"}\n`, 'application/x-ndjson');
      assert.equal(r.status, 400, `${time}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_record');
      assert.equal(r.json.error.index, 1);
      assert.equal(r.json.error.path, 'line 2');
      assert.match(r.json.error.message, /'time' must be RFC 3339 text or a Unix time/);
    }
    assert.equal(count('logs'), before);
  });

  test('logs: newest first, filtered by time, level, trace and full text, with a stable cursor', async () => {
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({
      time: new Date(Date.UTC(2026, 10, 25, 11, 0, i)).toISOString(), level: i % 5 === 0 ? 'error' : 'info',
      msg: i % 2 ? `payment ${i} settled via ledger` : `payment ${i} declined: insufficient funds`,
    }));
    assert.equal((await ingest(keys[SVC], 'logs', lines.join('\n'), 'application/x-ndjson')).status, 200);
    const window = '&since=2026-11-25T11:00:00Z&until=2026-11-25T11:01:00Z';
    // pages of 10, newest first; records arriving meanwhile do not shift the pages
    const seen = [];
    let cursor = null;
    for (let page = 0; page < 5; page++) {
      const r = await logs(tokens.read, `?limit=10${window}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.status, 200, r.body);
      seen.push(...r.json.logs.map((l) => l.body));
      cursor = r.json.next_cursor;
      if (page === 0) {
        // a newer record (within the window) and an older one arrive between pages
        const more = [{ time: '2026-11-25T11:00:30Z', msg: 'late newer' }, { time: '2026-11-25T10:59:59Z', msg: 'too old for the window' }];
        assert.equal((await ingest(keys[SVC], 'logs', more.map((m) => JSON.stringify(m)).join('\n'), 'application/x-ndjson')).status, 200);
      }
      if (!cursor) break;
    }
    const expected = lines.map((l) => JSON.parse(l).msg).reverse();
    assert.deepEqual(seen, expected, 'pages repeated or skipped records');
    assert.match(cursor ?? '', /^$/);
    // the newest-first order includes the late record when asked afresh
    const fresh = await logs(tokens.read, `?limit=1${window}`);
    assert.equal(fresh.json.logs[0].body, 'late newer');
    // level is the lowest level shown
    const errors = await logs(tokens.read, `?level=error${window}`);
    assert.deepEqual(errors.json.logs.map((l) => l.body), [20, 15, 10, 5, 0].map((i) => (i % 2 ? `payment ${i} settled via ledger` : `payment ${i} declined: insufficient funds`)));
    // full text: every word, any order; phrases in quotes are words here
    const q = await logs(tokens.read, `?q=${encodeURIComponent('declined funds')}${window}`);
    assert.equal(q.json.logs.length, 13);
    assert.ok(q.json.logs.every((l) => l.body.includes('declined')));
    const q2 = await logs(tokens.read, `?q=${encodeURIComponent('settled ledger 7')}${window}`);
    assert.deepEqual(q2.json.logs.map((l) => l.body), ['payment 7 settled via ledger']);
    // FTS5 syntax is not exposed: operators are just words
    const q3 = await logs(tokens.read, `?q=${encodeURIComponent('payment NEAR(x) OR "* col:')}${window}`);
    assert.equal(q3.status, 200, q3.body);
    assert.equal(q3.json.logs.length, 0);
    // bad arguments: 400 and nothing read (the guard never ran, so no audit entry either)
    for (const bad of ['?level=loud', '?limit=0', '?limit=1001', '?cursor=zz', '?cursor=3a', '?since=yesterday', '?since=2h&until=3h', `?q=${encodeURIComponent('x '.repeat(17))}`, '?q=%20%21', '?trace_id=123']) {
      const r = await logs(tokens.read, bad);
      assert.equal(r.status, 400, `${bad}: ${r.body}`);
      assert.equal(r.json.error.code, 'bad_request');
    }
  });

  // ---- redaction: a corpus per kind, through ingest and the logs endpoint ----
  const luhn = (digits) => {
    let sum = 0;
    for (let i = 0; i < digits.length; i++) {
      let d = Number(digits[digits.length - 1 - i]);
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  };
  const withCheck = (body) => { for (let c = 0; c < 10; c++) if (luhn(body + c)) return body + c; return null; };
  const breakCheck = (n) => n.slice(0, -1) + ((Number(n.at(-1)) + 1) % 10);
  const cards = Array.from({ length: 30 }, (_, i) => {
    const prefix = ['4', '51', '52', '37', '6011'][i % 5];
    const len = prefix === '37' ? 15 : 16;
    const body = (prefix + String(100000000000000 + i * 7919137)).slice(0, len - 1);
    return withCheck(body);
  });
  const group = (n, sep) => n.length === 15 ? [n.slice(0, 4), n.slice(4, 10), n.slice(10)].join(sep) : n.match(/.{4}/g).join(sep);
  const CORPUS = {
    email: {
      marker: '[REDACTED:email]',
      positive: [
        ...['alice', 'bob.smith', 'j_doe', 'x+tag', 'first.last', 'a1', 'mary-jane', 'o.k.', 'UPPER.Case', 'n%20'].map((l, i) => `contact ${l.replace(/\.$/, '')}@example${i}.com today`),
        ...['example.co.uk', 'mail.example.org', 'xn--bcher-kva.example', 'sub.domain.io', 'a-b.example.net'].map((d) => `from: support@${d}`),
        ...Array.from({ length: 10 }, (_, i) => `user${i}@shop${i}.example.de, please`),
        'alice%40example.com in a query string', 'josé.smith@example.org wrote', 'reply-to:<bob@example.com>', 'mailto:carol@example.com', 'cc a.b@c.example.com.',
      ],
      negative: [
        'root@localhost', 'bob at example dot com', 'user@', '@example.com', 'a@b.c', 'foo@bar', 'name@123.456',
        'version 1.2@beta', 'price@10', 'the @ sign', 'twitter @handle', 'foo@@bar.com', 'ssh git@github', 'x@y',
        'email me', 'at example.com', 'example.com', 'www.example.com/path', 'user(at)example.com', 'alice#example.com',
        'user:example.com', 'a.b.c', '@@', 'local@-', 'ping@host.local1', 'a@.com', 'admin@internal', 'noreply', 'me@home', 'info@x',
      ],
    },
    card: {
      marker: '[REDACTED:card]',
      positive: cards.map((c, i) => (i % 3 === 0 ? `card ${c} declined` : i % 3 === 1 ? `card ${group(c, ' ')} ok` : `pan=${group(c, '-')};`)),
      negative: cards.map((c, i) => (i % 2 ? `order ${breakCheck(c)} shipped` : `ref ${group(breakCheck(c), ' ')}`)),
    },
    phone: {
      marker: '[REDACTED:phone]',
      positive: [
        ...Array.from({ length: 10 }, (_, i) => `call +1415555${String(1000 + i * 37).padStart(4, '0')} now`),
        '+44 20 7946 0958', '+1 (415) 555-0132', '+44 (0)20 7946 0958', '(415) 555-0132', '415-555-0132', '415.555.0132',
        '1 415 555 0132', '020 7946 0958', '0412 345 678', '01 23 45 67 89', '+49 30 901820', '+33 1 70 18 99 00',
        ...Array.from({ length: 8 }, (_, i) => `tel: 212-555-01${10 + i}.`),
      ],
      negative: [
        '4155550132', '2024-01-15', '01-15-2024', '12:30:45', 'v1.2.3', '555-0132', 'order 12345', 'ext x123', '3.14159',
        '10 items', '2026', '1,000,000', 'id 123456789', '+1', '+12', '(12)', '12-34', '1-2-3', '99.9%', '2024/01/15',
        'room 101', 'build 4711', 'port 8443', '0x1F', 'page 3 of 10', '1e10', '5 - 3 = 2', '123-45', '007', '42',
      ],
    },
    ip: {
      marker: '[REDACTED:ip]',
      positive: [
        '192.168.1.10', '10.0.0.1', '8.8.8.8', '255.255.255.255', 'from 172.16.254.3:8080', 'client=203.0.113.9', '0.0.0.0', '127.0.0.1 up',
        '100.64.0.1/24', 'peer 198.51.100.23,', '2001:db8::1', '::1', 'fe80::1%eth0', '::ffff:192.0.2.1', '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
        '[2001:db8::1]:443', 'addr:2001:db8::42', 'fe80::1%25eth0', '2001:db8:0:0:0:0:2:1', '2001:db8::ff00:42:8329', 'ff02::1', '::', '64:ff9b::192.0.2.33',
        '2001:db8:1::ab9:C0A8:102', 'fd00::beef', 'gw 192.0.2.254;', '2001:db8::', 'x-forwarded-for: 198.51.100.7', 'via 10.10.10.10 and 10.10.10.11', '1.2.3.4', 'ip 169.254.0.1.',
      ].filter((t) => t !== '::'),
      negative: [
        '1.2.3.4.5', '10.0.19045.1', '1.2.3.256', 'v1.2.3.4', '00:1a:2b:3c:4d:5e', '12:30:45', 'ratio 3:2', 'version 2.0.1', '::', '1.2.3',
        'a.b.c.d', '999.1.1.1', '1..2.3', 'node:20', 'std::vector', 'http://example.com', 'C:\\Windows', '10:00 to 11:00', 'PT1H30M', 'sha 1a2b3c',
        '256.256.256.256', 'x1.2.3.4', '1.2.3.4a', 'time 23:59:59.999', 'rfc 3339', 'ipv6 disabled', 'item 4.5.6', 'score 9.5', '0.1.2', 'abc:def',
      ],
    },
    token: {
      marker: '[REDACTED:',
      positive: [
        ...Array.from({ length: 10 }, (_, i) => `Authorization: Bearer abc${i}.def-123_xyz~tok+/=`),
        ...Array.from({ length: 10 }, (_, i) => `bearer\tT0k3n${i}XYZ`),
        ...Array.from({ length: 10 }, (_, i) => {
          const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
          return `id_token=${b64({ alg: 'RS256', kid: `k${i}` })}.${b64({ sub: `u${i}`, n: i })}.${Buffer.from(`sig${i}`).toString('base64url')}&x=1`;
        }),
      ],
      negative: [
        'Basic dXNlcjpwYXNz', 'eyJhbGciOi', 'header.payload', 'token=opaque123', 'the bearer', 'abc.def.ghi', 'a.b', 'sk_live_abc',
        'api_key missing', 'no token here', 'Bearerless', 'tokens expire', 'jwt.io', 'base64: aGVsbG8=', 'eyJ', 'key=value',
        'session 42', 'cookie jar', 'x.y.z.w', 'Authorization required', 'bearerx abc', 'hash 5f4dcc3b', 'uuid 123e4567-e89b-12d3',
        'path /a/b/c', 'README.md', 'v1.2', 'foo_bar', 'CamelCase', 'a+b=c', 'semi;colon',
      ],
    },
  };

  test('redaction corpus: without read-pii nothing of it leaks and nothing else is mangled; with read-pii all is raw', async () => {
    const cases = [];
    for (const [kind, c] of Object.entries(CORPUS)) {
      assert.ok(c.positive.length >= 30 && c.negative.length >= 30, `${kind}: fewer than 30 positive and 30 negative examples`);
      c.positive.forEach((text, i) => cases.push({ id: `${kind}+${i}`, kind, text, positive: true }));
      c.negative.forEach((text, i) => cases.push({ id: `${kind}-${i}`, kind, text, positive: false }));
    }
    const body = cases.map((c) => JSON.stringify({ time: '2026-11-25T12:00:00Z', level: 'info', msg: c.text, case: c.id, detail: { text: c.text } })).join('\n');
    assert.equal((await ingest(keys[SVC], 'logs', body, 'application/x-ndjson')).status, 200);
    const window = '&since=2026-11-25T12:00:00Z&until=2026-11-25T12:00:01Z&limit=1000';
    const plain = await logs(tokens.read, `?${window}`);
    assert.equal(plain.status, 200, plain.body);
    assert.equal(plain.json.redacted, true);
    const raw = await logs(tokens.pii, `?${window}`);
    assert.equal(raw.json.redacted, false);
    const byCase = (r) => Object.fromEntries(r.json.logs.map((l) => [l.attributes.case, l]));
    const red = byCase(plain), unred = byCase(raw);
    const failures = [];
    for (const c of cases) {
      const got = red[c.id];
      assert.ok(got, `${c.id} missing`);
      if (c.positive) {
        const leaks = [got.body, got.attributes.detail.text].some((t) => !t.includes(CORPUS[c.kind].marker));
        if (leaks) failures.push(`${c.id}: ${JSON.stringify(c.text)} -> ${JSON.stringify(got.body)}`);
      } else if (got.body !== c.text || got.attributes.detail.text !== c.text) {
        failures.push(`${c.id}: mangled ${JSON.stringify(c.text)} -> ${JSON.stringify(got.body)}`);
      }
      assert.equal(unred[c.id].body, c.text, `${c.id}: read-pii does not show the raw value`);
    }
    assert.deepEqual(failures, []);
    // the values themselves are nowhere in the redacted reply
    for (const v of ['alice@example0.com', cards[0], '+14155551000', '192.168.1.10', '2001:db8::1', 'abc0.def-123']) {
      assert.ok(!plain.body.includes(v), `${v} leaked`);
      assert.ok(raw.body.includes(v), `${v} missing with read-pii`);
    }
  });

  test('configured sensitive fields are withheld whole; search without read-pii matches only redacted text', async () => {
    const line = { time: '2026-11-25T13:00:00Z', level: 'warn', msg: 'card declined for alice@example.com from 203.0.113.50', customer_ref: 'CR-99-XK', password: 'hunter2', card_number: 4111111111111111, note: 'kept as is' };
    assert.equal((await ingest(keys[SVC], 'logs', JSON.stringify(line), 'application/x-ndjson')).status, 200);
    const window = '&since=2026-11-25T13:00:00Z&until=2026-11-25T13:00:01Z';
    const r = await logs(tokens.read, `?${window}`);
    const [rec] = r.json.logs;
    assert.equal(rec.body, 'card declined for [REDACTED:email] from [REDACTED:ip]');
    assert.deepEqual(rec.attributes, { customer_ref: '[REDACTED:field]', password: '[REDACTED:field]', card_number: '[REDACTED:field]', note: 'kept as is' });
    for (const secret of ['CR-99-XK', 'hunter2', '4111111111111111', 'alice@example.com', '203.0.113.50']) assert.ok(!r.body.includes(secret), secret);
    // the searches: redacted values find nothing without read-pii, everything with it
    for (const q of ['alice@example.com', 'alice', 'example.com', '203.0.113.50', 'CR-99-XK', 'hunter2', '4111111111111111']) {
      const n = await logs(tokens.read, `?q=${encodeURIComponent(q)}${window}`);
      assert.equal(n.status, 200, n.body);
      assert.deepEqual(n.json.logs, [], `searching ${q} without read-pii revealed the record`);
      const p = await logs(tokens.pii, `?q=${encodeURIComponent(q)}${window}`);
      assert.equal(p.json.logs.length, 1, `searching ${q} with read-pii`);
      assert.equal(p.json.logs[0].attributes.password, 'hunter2');
    }
    // what is not personal data is found either way, and the marker itself is searchable
    for (const q of ['card declined', 'kept', 'REDACTED email']) {
      assert.equal((await logs(tokens.read, `?q=${encodeURIComponent(q)}${window}`)).json.logs.length, 1, q);
    }
  });

  test('traces: ingested per service, read back as a tree; other services withheld; redaction; analysis present', async () => {
    for (const [key, doc] of [[keys[SVC], PAY_SPANS], [keys[DEP], LEDGER_SPANS], [keys[SVC], PAY_OK], [keys[DEP], LEDGER_ONLY]]) {
      const r = await ingest(key, 'traces', doc);
      assert.equal(r.status, 200, r.body);
    }
    // a resent batch (an exporter's retry) changes nothing
    assert.equal((await ingest(keys[SVC], 'traces', PAY_SPANS)).status, 200);
    assert.equal(jg.telemetryDb.count('spans', 'trace_id = ?', [t1]), 5);

    const r = await read(tokens.pii, `/v1/services/${SVC}/traces/${T1}`);
    assert.equal(r.status, 200, r.body);
    const tr = parseBig(r.body);
    assert.equal(tr.trace_id, t1);
    assert.equal(tr.redacted, false);
    assert.deepEqual(Object.keys(tr.analysis).sort(), ['affected_services', 'clock_skew', 'fragments', 'root_causes', 'version_skew']);
    for (const v of Object.values(tr.analysis)) assert.ok(Array.isArray(v));
    assert.equal(tr.spans.length, 1, 'one root');
    const root = tr.spans[0];
    assert.deepEqual({ ...root, children: undefined }, {
      span_id: S.root.toLowerCase(), parent_span_id: null, service: SVC, service_version: '3.7.0', instance: 'pay-a1',
      name: 'POST /v1/payments', kind: 'server', start_ns: ns(0), end_ns: ns(1500), duration_ms: 1500, status: 'error',
      error: 'payment failed for alice@example.com', error_code: '502', withheld: false,
      attributes: { 'customer.email': 'alice@example.com', 'http.response.status_code': 502 },
      events: [{ name: 'exception', time_ns: ns(1400), attributes: { 'exception.type': 'LedgerError', 'exception.message': 'card 4111 1111 1111 1111 declined' } }],
      children: undefined,
    });
    assert.deepEqual(root.children.map((c) => c.name).sort(), ['POST ledger-service/holds', 'PaymentProcessor.selectProvider']);
    const sel = root.children.find((c) => c.name === 'PaymentProcessor.selectProvider');
    assert.equal(sel.kind, 'internal');
    assert.equal(sel.status, 'unset');
    const client = root.children.find((c) => c.kind === 'client');
    assert.equal(client.status, 'error');
    assert.equal(client.children.length, 1);
    // ledger-service is not covered by this grant: structure kept, details withheld
    const ledger = client.children[0];
    assert.equal(ledger.service, DEP);
    assert.equal(ledger.withheld, true);
    assert.equal(ledger.name, 'POST /holds');
    assert.equal(ledger.status, 'error');
    assert.equal(ledger.error_code, 'UPSTREAM_TIMEOUT');
    assert.equal(ledger.start_ns, ns(10));
    assert.equal(ledger.end_ns, ns(1440));
    assert.equal(ledger.attributes, undefined);
    assert.equal(ledger.events, undefined);
    assert.equal(ledger.error ?? null, null);
    assert.ok(!r.body.includes('acct-secret-42') && !r.body.includes('bob@example.com'), 'another service\'s details leaked');
    assert.equal(ledger.children[0].name, 'UPDATE holds');
    assert.equal(ledger.children[0].withheld, true);
    // the analysis runs on the whole trace: both services failed; the cause lies in ledger-service,
    // whose error message stays withheld from this grant while its error code is shown
    assert.deepEqual(tr.analysis.affected_services, [DEP, SVC].sort());
    assert.equal(tr.analysis.root_causes.length, 1, JSON.stringify(tr.analysis.root_causes));
    assert.equal(tr.analysis.root_causes[0].service, DEP);
    assert.equal(tr.analysis.root_causes[0].withheld, true);
    assert.equal(tr.analysis.root_causes[0].error, undefined);
    assert.equal(tr.analysis.root_causes[0].surfaced.span_id, S.root.toLowerCase());

    // without read-pii: the covered span's personal data is redacted
    const p = await read(tokens.read, `/v1/services/${SVC}/traces/${t1}`);
    assert.equal(p.status, 200, p.body);
    const pt = parseBig(p.body);
    assert.equal(pt.redacted, true);
    assert.equal(pt.spans[0].attributes['customer.email'], '[REDACTED:email]');
    assert.equal(pt.spans[0].error, 'payment failed for [REDACTED:email]');
    assert.equal(pt.spans[0].events[0].attributes['exception.message'], 'card [REDACTED:card] declined');
    assert.equal(pt.spans[0].start_ns, ns(0), 'a timestamp was taken for a card number');
    for (const v of ['alice@example.com', '4111 1111 1111 1111', '10.1.2.3']) assert.ok(!p.body.includes(v), `${v} leaked`);
    assert.match(pt.spans[0].children.find((c) => c.kind === 'client').children[0].instance, /^\[REDACTED:ip\]#\d+$/);

    // a trace without spans of this service is not visible through it
    assert.equal((await read(tokens.read, `/v1/services/${SVC}/traces/${T3}`)).status, 404);
    assert.equal((await read(tokens.read, `/v1/services/${SVC}/traces/not-a-trace`)).status, 404);
    assert.equal((await read(tokens.read, `/v1/services/${SVC}/traces/${T1}?adjust_skew=maybe`)).status, 400);

    // finding traces
    const all = await read(tokens.read, `/v1/services/${SVC}/traces`);
    assert.equal(all.status, 200, all.body);
    assert.deepEqual(all.json.traces.map((t) => t.trace_id), [T2, t1, 'feedfacefeedfacefeedfacefeedface']);
    assert.deepEqual((await read(tokens.read, `/v1/services/${SVC}/traces?since=2026-11-25T00:00:00Z`)).json.traces.map((t) => t.trace_id), [T2, t1]);
    const errs = await read(tokens.read, `/v1/services/${SVC}/traces?status=error&since=2026-11-25T09:00:00Z`);
    assert.deepEqual(errs.json.traces.map((t) => t.trace_id), [t1]);
    const e = errs.json.traces[0];
    assert.deepEqual({ spans: e.spans, errors: e.errors, duration_ms: e.duration_ms, services: e.services.sort(), root_service: e.root_service, root_name: e.root_name, start: e.start },
      { spans: 5, errors: 4, duration_ms: 1500, services: [DEP, SVC], root_service: SVC, root_name: 'POST /v1/payments', start: '2026-11-25T10:00:00.000000000Z' });
    assert.deepEqual((await read(tokens.read, `/v1/services/${SVC}/traces?min_duration=1s`)).json.traces.map((t) => t.trace_id), [t1]);
    assert.deepEqual((await read(tokens.read, `/v1/services/${SVC}/traces?min_duration=2s`)).json.traces, []);
    assert.deepEqual((await read(tokens.read, `/v1/services/${SVC}/traces?since=2026-11-25T00:00:00Z&until=2026-11-25T10:00:30Z`)).json.traces.map((t) => t.trace_id), [t1]);
    for (const bad of ['?status=bad', '?min_duration=fast', '?limit=0', '?since=x']) {
      assert.equal((await read(tokens.read, `/v1/services/${SVC}/traces${bad}`)).status, 400, bad);
    }
  });

  test('traces: an attribute filter (attr=key:value) finds exact string values on the service\'s own spans; personal data needs read-pii; the entry holds markers', async () => {
    const TA = 'a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0';
    const TB = 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0';
    const r = await ingest(keys[SVC], 'traces', spansOf(SVC, [
      { traceId: TA, spanId: 'a0a0a0a0a0a0a001', name: 'POST /v1/checkout', kind: 2, startTimeUnixNano: ns(90000), endTimeUnixNano: ns(90100), attributes: [kv('http.route', str('/v1/checkout')), kv('note', str('a:b "c" é'))] },
      { traceId: TA, spanId: 'a0a0a0a0a0a0a002', parentSpanId: 'a0a0a0a0a0a0a001', name: 'choose', startTimeUnixNano: ns(90001), endTimeUnixNano: ns(90002), attributes: [kv('payment.provider', str('acme'))] },
      { traceId: TB, spanId: 'b0b0b0b0b0b0b001', name: 'POST /v1/checkout', kind: 2, startTimeUnixNano: ns(95000), endTimeUnixNano: ns(95100), attributes: [kv('http.route', str('/v1/checkout'))] },
    ]));
    assert.equal(r.status, 200, r.body);
    const q = (...attrs) => '?' + attrs.map((a) => `attr=${encodeURIComponent(a)}`).join('&');
    const ids = async (token, query) => {
      const res = await read(token, `/v1/services/${SVC}/traces${query}`);
      assert.equal(res.status, 200, `${query}: ${res.body}`);
      assert.equal(res.json.searched_since, undefined, 'a small set is searched whole');
      return res.json.traces.map((t) => t.trace_id);
    };
    const entries = async () => (await exportEntries()).filter((e) => e.type !== 'audit.exported');
    let before = (await entries()).length;

    assert.deepEqual(await ids(tokens.read, q('http.route:/v1/checkout')), [TB, TA]);
    // every filter must match, each on some span of the service in the trace
    assert.deepEqual(await ids(tokens.read, q('http.route:/v1/checkout', 'payment.provider:acme')), [TA]);
    assert.deepEqual(await ids(tokens.read, q('http.route:/v1/checkout', 'payment.provider:other')), []);
    // the value is everything after the first colon, compared byte for byte
    assert.deepEqual(await ids(tokens.read, q('note:a:b "c" é')), [TA]);
    assert.deepEqual(await ids(tokens.read, q('http.route:/v1/CHECKOUT')), []);
    assert.deepEqual(await ids(tokens.read, q('http.route:/v1/%')), []);
    assert.deepEqual(await ids(tokens.read, q('http.route:/v1/*')), []);
    // strings only: T1's status code is the integer 502
    assert.deepEqual(await ids(tokens.read, q('http.response.status_code:502')), []);
    // ledger-service's spans of T1 are not searched through payment-service (their attributes are withheld here)
    assert.deepEqual(await ids(tokens.read, q('db.system:postgresql')), []);
    assert.deepEqual(await ids(tokens.read, `${q('http.route:/v1/checkout')}&since=2026-11-25T10:01:32Z`), [TB]);
    const searches = (await entries()).slice(before);
    assert.equal(searches.length, 10);
    assert.ok(searches.every((e) => e.type === 'traces.search'));
    // each filter's value as the keyed marker the auditor's POST /v1/audit/hash gives, never in clear
    const mark = async (value) => {
      const h = await jg.auditor('POST', '/v1/audit/hash', { body: JSON.stringify({ value }), headers: { 'content-type': 'application/json' } });
      assert.equal(h.status, 200, h.body);
      return h.json.markers[0].marker;
    };
    assert.deepEqual(searches[1].data.params.attr, [{ key: 'http.route', value: await mark('/v1/checkout') }, { key: 'payment.provider', value: await mark('acme') }]);
    assert.match(searches[0].data.params.attr[0].value, /^\[REDACTED:field:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]{22}\]$/);
    assert.ok(!JSON.stringify(searches).includes('/v1/checkout') && !JSON.stringify(searches).includes('acme'), 'a filter value is in the audit log in clear');

    // bad filters: 400, nothing read, nothing recorded
    before = (await entries()).length;
    const bad = ['?attr=nocolon', '?attr=:value', '?attr=', '?attr', `?attr=${'k'.repeat(257)}:v`, `?attr=k:${'v'.repeat(1025)}`,
      q('a:1', 'b:2', 'c:3', 'd:4', 'e:5'), '?attr=k:a%00b', '?attr=k%00:v', '?attr=k:%FF', '?attr=%C3:v'];
    for (const b of bad) {
      const res = await read(tokens.pii, `/v1/services/${SVC}/traces${b}`);
      assert.equal(res.status, 400, `${b.slice(0, 40)}: ${res.body}`);
      assert.equal(res.json.error.code, 'bad_request');
      assert.match(res.json.error.message, /'attr'/);
      assert.equal(res.json.traces, undefined);
    }
    assert.equal((await ids(tokens.read, `?attr=k:${'v'.repeat(1024)}&attr=${'k'.repeat(256)}:v`)).length, 0, 'the longest key and value are taken');
    assert.deepEqual((await entries()).slice(before).map((e) => e.type), ['traces.search'], 'a refused filter reached the audit log');

    // personal data: a filter is an oracle for its value, so without read-pii it is refused (403,
    // nothing read, only the refusal recorded): a key naming personal data, a configured sensitive
    // field, a value redaction would replace
    before = (await entries()).length;
    const pii = [q('customer.email:alice@example.com'), q('customer.email:nobody'), q('CUSTOMER_REF:x'), q('http.route:/v1/checkout', 'note:mail bob@example.com'), q('note:10.1.2.3'),
      q(`${'x'.repeat(99)}é.email:v`)]; // the message names the key cut at a character's start
    for (const p of pii) {
      const res = await read(tokens.read, `/v1/services/${SVC}/traces${p}`);
      assert.equal(res.status, 403, `${p}: ${res.body}`);
      assert.equal(res.json.error.code, 'insufficient_capability');
      assert.match(res.json.error.message, /read-pii/);
      assert.ok(!res.json.error.message.includes('?'), `a character of the key was mangled: ${res.json.error.message}`);
      assert.equal(res.json.traces, undefined);
    }
    const refused = (await entries()).slice(before);
    assert.deepEqual(refused.map((e) => [e.type, e.data.capability, e.data.action]), pii.map(() => ['guard.refused', 'read-pii', 'traces.search']));
    assert.ok(!JSON.stringify(refused).includes('alice@example.com') && !JSON.stringify(refused).includes('bob@example.com'));
    // with read-pii the same filter is answered, and recorded as markers only
    before = (await entries()).length;
    assert.deepEqual(await ids(tokens.pii, q('customer.email:alice@example.com')), [t1]);
    const [hit] = (await entries()).slice(before);
    assert.equal(hit.type, 'traces.search');
    assert.equal(hit.data.pii, true);
    assert.deepEqual(hit.data.params.attr, [{ key: 'customer.email', value: await mark('alice@example.com') }]);
    assert.match(hit.data.params.attr[0].value, /^\[REDACTED:email:/);
    assert.ok(!JSON.stringify(hit).includes('alice@example.com'), 'the filter value is in the audit log in clear');
  });

  test('a trace of more than 10,000 spans is refused (422), never shown truncated', async () => {
    const big = 'b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1';
    for (let batch = 0; batch < 5; batch++) {
      const spans = Array.from({ length: batch < 4 ? 2500 : 1 }, (_, i) => {
        const n = batch * 2500 + i;
        return { traceId: big, spanId: (n + 1).toString(16).padStart(16, '0'), parentSpanId: n ? '0000000000000001' : '', name: `op ${n}`, startTimeUnixNano: ns(n), endTimeUnixNano: ns(n + 1) };
      });
      const r = await ingest(keys[SVC], 'traces', spansOf(SVC, spans));
      assert.equal(r.status, 200, r.body);
    }
    assert.equal(jg.telemetryDb.count('spans', 'trace_id = ?', [big]), 10001);
    const r = await read(tokens.read, `/v1/services/${SVC}/traces/${big}`);
    assert.equal(r.status, 422, r.body);
    assert.equal(r.json.error.code, 'trace_too_large');
  });

  test('metrics: gauges and sums as series, histograms with buckets, windows and steps', async () => {
    const r = await ingest(keys[SVC], 'metrics', METRICS_FIXTURE);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, { partialSuccess: { rejectedDataPoints: 1, errorMessage: 'exponential histograms and summaries are not stored by jitgate' } });
    const m = (q) => read(tokens.read, `/v1/services/${SVC}/metrics${q}`);
    const names = await m('');
    assert.equal(names.status, 200, names.body);
    assert.deepEqual(names.json.metrics.map((x) => [x.name, x.kind, x.points]), [['latency', 'histogram', 2], ['queue.depth', 'gauge', 4], ['requests', 'sum', 2]]);

    const g = await m('?name=queue.depth');
    assert.equal(g.status, 200, g.body);
    const [gauge] = g.json.metrics;
    assert.deepEqual({ kind: gauge.kind, unit: gauge.unit, description: gauge.description }, { kind: 'gauge', unit: '{item}', description: 'Items waiting' });
    const a = gauge.series.find((s) => s.attributes.queue === 'a');
    assert.deepEqual(a.attributes, { queue: 'a', 'service.instance.id': 'pay-a1' });
    assert.deepEqual(a.points.map((p) => [p.time_unix_nano, p.value]), [[ns(0), 5], [ns(30000), 7], [ns(65000), 9]]);
    const b = gauge.series.find((s) => s.attributes.queue === 'b');
    assert.equal(b.attributes.owner, '[REDACTED:email]', 'series attributes are redacted without read-pii');
    assert.ok(!g.body.includes('ops@example.com'));
    const gp = await read(tokens.pii, `/v1/services/${SVC}/metrics?name=queue.depth`);
    assert.ok(gp.body.includes('ops@example.com'));
    // one point per minute: the last one of each minute for a gauge
    const stepped = (await m('?name=queue.depth&step=1m')).json.metrics[0].series.find((s) => s.attributes.queue === 'a');
    assert.deepEqual(stepped.points.map((p) => [p.time, p.value]), [['2026-11-25T10:00:00.000000000Z', 7], ['2026-11-25T10:01:00.000000000Z', 9]]);
    assert.deepEqual((await m('?name=queue.depth&since=2026-11-25T10:00:20Z&until=2026-11-25T10:01:00Z')).json.metrics[0].series.map((s) => s.points.length), [1]);

    const s = (await m('?name=requests')).json.metrics[0];
    assert.deepEqual({ kind: s.kind, temporality: s.temporality, monotonic: s.monotonic }, { kind: 'sum', temporality: 'cumulative', monotonic: true });
    assert.deepEqual(s.series[0].points.map((p) => p.value), [10, 25]);

    const h = (await m('?name=latency')).json.metrics[0];
    assert.equal(h.temporality, 'delta');
    assert.deepEqual(h.series[0].points[0], {
      time: '2026-11-25T10:00:10.000000000Z', time_unix_nano: ns(10000), count: 4, sum: 230.5, min: 5, max: 150,
      buckets: [{ upper_bound: 10, count: 1 }, { upper_bound: 100, count: 2 }, { upper_bound: '+Inf', count: 1 }],
    });
    // delta histograms add up within a step
    const hs = (await m('?name=latency&step=1m')).json.metrics[0].series[0].points;
    assert.equal(hs.length, 1);
    assert.deepEqual({ count: hs[0].count, sum: hs[0].sum, min: hs[0].min, max: hs[0].max, counts: hs[0].buckets.map((x) => x.count) }, { count: 6, sum: 270.5, min: 5, max: 150, counts: [1, 4, 1] });
    assert.deepEqual((await m('?name=nothing')).json.metrics, []);
    for (const bad of ['?step=0s', '?step=500ms', '?step=soon', '?since=2h&until=3h']) {
      assert.equal((await m(bad)).status, 400, bad);
    }
  });

  // Found in an attack review: ?name=%FF answered 500 "out of memory" before any authentication
  // (the raw byte went into a JSON string, which refused it).
  test('query arguments that are not UTF-8 are a 400 (404 for a trace id), with or without a token, never a 500', async () => {
    const before = (await exportEntries()).filter((e) => e.type !== 'audit.exported').length;
    const cases = [
      ['metrics?name=%FF', 400], ['metrics?name=queue%C3', 400], ['metrics?name=%ED%A0%80', 400], ['metrics?step=%FF', 400],
      ['metrics?since=%FF', 400], ['logs?level=%FF', 400], ['logs?q=%FF', 400], ['logs?cursor=%FF', 400],
      ['logs?trace_id=%FF', 400], ['logs?until=%FF', 400], ['traces?status=%FF', 400], ['traces?min_duration=%FF', 400],
      [`traces/%FF${t1.slice(2)}`, 404],
    ];
    for (const [path, status] of cases) {
      for (const token of [null, tokens.read]) {
        const r = token ? await read(token, `/v1/services/${SVC}/${path}`) : await jg.request('GET', `/v1/services/${SVC}/${path}`);
        assert.equal(r.status, status, `${path} ${token ? 'with' : 'without'} a token: ${r.body}`);
        assert.match(r.headers['content-type'], /^application\/json/);
      }
    }
    // the name itself is any UTF-8 text
    const ok = await read(tokens.read, `/v1/services/${SVC}/metrics?name=${encodeURIComponent('latency.é')}`);
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(ok.json.metrics, []);
    const after = (await exportEntries()).filter((e) => e.type !== 'audit.exported');
    assert.deepEqual(after.slice(before).map((e) => [e.type, e.data.params?.name]), [['metrics.read', 'latency.é']], 'a refused argument reached the audit log');
  });

  test('every read is audited before its data is returned; with read-pii the entry says so', async () => {
    const before = (await exportEntries()).length;
    assert.equal((await logs(tokens.read, '?q=declined&level=warn&limit=5')).status, 200);
    assert.equal((await logs(tokens.pii, '?trace_id=5b8efff798038103d269b633813fc60c')).status, 200);
    assert.equal((await read(tokens.read, `/v1/services/${SVC}/traces/${t1}?adjust_skew=true`)).status, 200);
    assert.equal((await read(tokens.read, `/v1/services/${SVC}/traces?status=error`)).status, 200);
    assert.equal((await read(tokens.pii, `/v1/services/${SVC}/metrics?name=requests&step=1m`)).status, 200);
    const entries = (await exportEntries()).slice(before).filter((e) => e.type !== 'audit.exported');
    assert.deepEqual(entries.map((e) => e.type), ['logs.read', 'logs.read', 'traces.read', 'traces.search', 'metrics.read']);
    assert.ok(entries.every((e) => e.actor === 'user:alice' && e.data.service === SVC));
    const [l1, l2, t, ts, m] = entries;
    assert.equal(l1.data.capability, 'read-logs');
    assert.equal(l1.data.pii, undefined);
    // the search words as their keyed marker (an unkeyed SHA-256 of a word is reversed with a
    // dictionary): the auditor's POST /v1/audit/hash gives the same marker for them
    const qmark = await jg.auditor('POST', '/v1/audit/hash', { body: JSON.stringify({ value: 'declined', kind: 'query' }), headers: { 'content-type': 'application/json' } });
    assert.equal(qmark.status, 200, qmark.body);
    assert.deepEqual({ ...l1.data.params, since: 0, until: 0 }, { since: 0, until: 0, level: 'warn', limit: 5, q: qmark.json.markers[0].marker });
    assert.ok(!JSON.stringify(l1).includes('declined'), 'the search words are in the audit log');
    assert.ok(!JSON.stringify(l1).includes(sha256hex('declined')), 'the unkeyed hash of the search words is in the audit log');
    assert.equal(l2.data.pii, true);
    assert.equal(l2.data.params.trace_id, '5b8efff798038103d269b633813fc60c');
    assert.deepEqual(t.data.params, { trace_id: t1, adjust_skew: true });
    assert.equal(ts.data.params.errors_only, true);
    assert.equal(m.data.pii, true);
    assert.deepEqual({ name: m.data.params.name, step: m.data.params.step_ns }, { name: 'requests', step: 60000000000 });

    // when the audit log cannot be written, no data is returned at all (SQLite by nature: its
    // files made immutable; tests/e2e/README.md names the PostgreSQL counterpart)
    if (jg.db.backend === 'sqlite') {
      const files = ['jitgate.db', 'jitgate.db-wal'].map((f) => join(jg.dir, f)).filter(existsSync);
      execFileSync('chattr', ['+i', ...files]);
      let r;
      try {
        r = await logs(tokens.pii, '');
      } finally {
        execFileSync('chattr', ['-i', ...files]);
      }
      assert.equal(r.status, 503, r.body);
      assert.equal(r.json.logs, undefined);
      assert.ok(!r.body.includes('declined'));
    }
  });

  test('a token for another service, or without the capability, is refused and audited', async () => {
    const other = await grant(OTHER, ['read-logs']);
    const metricsOnly = await grant(SVC, ['read-metrics']);
    const before = (await exportEntries()).length;
    let r = await logs(other);
    assert.equal(r.status, 401, r.body);
    assert.match(r.json.error.message, /another service/);
    r = await read(other, `/v1/services/${SVC}/traces/${t1}`);
    assert.equal(r.status, 401, r.body);
    r = await logs(metricsOnly);
    assert.equal(r.status, 403, r.body);
    assert.equal(r.json.error.code, 'insufficient_capability');
    r = await read(metricsOnly, `/v1/services/${SVC}/traces`);
    assert.equal(r.status, 403, r.body);
    r = await logs('not-a-token');
    assert.equal(r.status, 401, r.body);
    r = await jg.request('GET', `/v1/services/${SVC}/logs`);
    assert.equal(r.status, 401, r.body);
    const entries = (await exportEntries()).slice(before).filter((e) => e.type !== 'audit.exported');
    assert.deepEqual(entries.map((e) => [e.type, e.data.service, e.data.token_service, e.data.capability, e.data.action]), [
      ['guard.refused', SVC, OTHER, 'read-logs', 'logs.read'],
      ['guard.refused', SVC, OTHER, 'read-traces', 'traces.read'],
      ['guard.refused', SVC, SVC, 'read-logs', 'logs.read'],
      ['guard.refused', SVC, SVC, 'read-traces', 'traces.search'],
    ]);
    assert.ok(entries.every((e) => e.actor === 'user:alice' && e.data.jti && e.data.reason));
  });

  test('jitgate demo seed tells the story: a payment failure three hops down after a deploy, PII in the logs', async () => {
    const s = cli('demo', 'seed');
    assert.equal(s.status, 0, s.stderr);
    const failing = s.stdout.match(/a failing payment: trace ([0-9a-f]{32})/)?.[1];
    assert.ok(failing, s.stdout);
    const t = await grant(SVC, ['read-logs', 'read-traces', 'read-metrics']);
    const errs = await read(t, `/v1/services/${SVC}/traces?status=error&since=1h`);
    assert.equal(errs.status, 200, errs.body);
    assert.ok(errs.json.traces.length >= 3, errs.body);
    assert.ok(errs.json.traces.some((x) => x.trace_id === failing));
    assert.ok(errs.json.traces.every((x) => x.root_service === SVC && x.services.includes('payment-accounts')));
    const tr = parseBig((await read(t, `/v1/services/${SVC}/traces/${failing}`)).body);
    // the analysis names the cause three hops down and the deploy behind it
    const cause = tr.analysis.root_causes.find((c) => c.error_code === 'DB_STATEMENT_TIMEOUT');
    assert.ok(cause, JSON.stringify(tr.analysis.root_causes));
    assert.deepEqual({ service: cause.service, operation: cause.operation, version: cause.service_version },
      { service: 'payment-accounts', operation: 'UPDATE accounts', version: '2.4.0' });
    assert.equal(cause.surfaced.service, SVC);
    const skew = tr.analysis.version_skew.find((v) => v.service === 'payment-accounts');
    assert.deepEqual(skew?.versions.map((v) => v.version).sort(), ['2.3.1', '2.4.0']);
    assert.deepEqual(tr.analysis.affected_services, [SVC, 'payment-accounts', 'payment-ledger'].sort());
    // walk down: payment-service -> ledger-service -> account-service -> the database timeout
    const flat = [];
    const walk = (n, depth) => { flat.push({ ...n, depth }); n.children.forEach((c) => walk(c, depth + 1)); };
    tr.spans.forEach((n) => walk(n, 0));
    const db = flat.find((x) => x.name === 'UPDATE accounts');
    assert.ok(db, 'no database span');
    assert.deepEqual({ service: db.service, status: db.status, error_code: db.error_code, withheld: db.withheld },
      { service: 'payment-accounts', status: 'error', error_code: 'DB_STATEMENT_TIMEOUT', withheld: true });
    const path = [];
    for (let n = db; n; n = flat.find((x) => x.span_id === n.parent_span_id)) path.unshift(n.service);
    assert.deepEqual([...new Set(path)], [SVC, 'payment-ledger', 'payment-accounts']);
    // read through a grant for payment-accounts, the same trace shows its details: the new version timed out
    const acc = await grant('payment-accounts', ['read-logs', 'read-traces']);
    const at = parseBig((await read(acc, `/v1/services/payment-accounts/traces/${failing}`)).body);
    const aflat = [];
    const awalk = (n) => { aflat.push(n); n.children.forEach(awalk); };
    at.spans.forEach(awalk);
    const adb = aflat.find((x) => x.name === 'UPDATE accounts');
    assert.equal(adb.withheld, false);
    assert.equal(adb.service_version, '2.4.0');
    assert.equal(adb.attributes['db.system'], 'postgresql');
    assert.ok(aflat.some((x) => x.service === 'payment-accounts' && x.service_version === '2.3.1'), 'no older payment-accounts in the trace');
    const deploy = await logs(acc, '?q=starting&since=2h', 'payment-accounts');
    assert.match(deploy.json.logs[0]?.body ?? '', /starting payment-accounts 2\.4\.0/);
    // the payment's error log is linked to the trace, its PII redacted
    const l = await logs(t, `?trace_id=${failing}&level=error`);
    assert.equal(l.json.logs.length, 1, l.body);
    assert.match(l.json.logs[0].body, /^payment failed for \[REDACTED:email\] \(card \[REDACTED:card\], phone \[REDACTED:phone\]\)/);
    assert.equal(l.json.logs[0].attributes.card_number, '[REDACTED:field]');
    const mm = await read(t, `/v1/services/${SVC}/metrics?name=payments.processed&step=5m&since=1h`);
    const failed = mm.json.metrics[0].series.find((x) => x.attributes.outcome === 'failed').points;
    assert.equal(failed[0].value, 0);
    assert.ok(failed.at(-1).value > 0);
  });
  test('search pages the same whether the word is common (records drive) or rare (the index drives)', async () => {
    // last in this suite, and long ago, so that no other test here sees these records.
    // 2,400 records say "heartbeat" (more than the 2,000 that switch the query's shape); 3 also say "quasar"
    const lines = Array.from({ length: 2400 }, (_, i) => JSON.stringify({
      time: new Date(Date.UTC(2026, 0, 5, 13, 0, 0) + i * 10).toISOString(),
      msg: `heartbeat ${i}${i % 1000 === 7 ? ' quasar' : ''}`,
    }));
    assert.equal((await ingest(keys[SVC], 'logs', lines.join('\n'), 'application/x-ndjson')).status, 200);
    const window = '&since=2026-01-05T13:00:00Z&until=2026-01-05T13:01:00Z';
    const pages = async (word, limit) => {
      const seen = [];
      let cursor = null;
      for (let page = 0; page < 200; page++) {
        const r = await logs(tokens.read, `?q=${word}&limit=${limit}${window}${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(r.status, 200, r.body);
        seen.push(...r.json.logs.map((l) => Number(l.body.split(' ')[1])));
        cursor = r.json.next_cursor;
        if (!cursor) return seen;
      }
      throw new Error('paging did not end');
    };
    const common = await pages('heartbeat', 1000);
    assert.deepEqual(common, Array.from({ length: 2400 }, (_, i) => 2399 - i), 'common word: pages repeated, skipped or out of order');
    assert.deepEqual(await pages('quasar', 2), [2007, 1007, 7], 'rare word: pages repeated, skipped or out of order');
    assert.deepEqual(await pages('quasar%20heartbeat', 50), [2007, 1007, 7]);
  });
  // After the others: it restarts the server.
  test('cursors are sealed, of one list each, and page on after a restart (logs and requests)', async () => {
    // records of its own, in a window no other test writes to
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({
      time: new Date(Date.UTC(2026, 10, 26, 9, 0, i)).toISOString(), msg: `cursor record ${i}`,
    }));
    assert.equal((await ingest(keys[SVC], 'logs', lines.join('\n'), 'application/x-ndjson')).status, 200);
    const window = '&since=2026-11-26T09:00:00Z&until=2026-11-26T09:01:00Z';
    const first = await logs(tokens.read, `?limit=10${window}`);
    assert.equal(first.status, 200, first.body);
    const c = first.json.next_cursor;
    assert.match(c, /^[A-Za-z0-9_-]+$/);
    // the position (time:id) cannot be read out of it, nor written into one
    assert.doesNotMatch(Buffer.from(c, 'base64url').toString('latin1'), /\d{10,}:\d+/);
    const last = first.json.logs.at(-1);
    const forged = Buffer.from(`${last.time_unix_nano}:${last.id}`).toString('hex'); // the old form
    for (const bad of [forged, c.slice(0, -2), `${c.slice(0, 10)}${c[10] === 'A' ? 'B' : 'A'}${c.slice(11)}`, `${c}=`, 'a=']) {
      const r = await logs(tokens.read, `?limit=10${window}&cursor=${bad}`);
      assert.equal(r.status, 400, `${bad}: ${r.body}`);
      assert.match(r.json.error.message, /'cursor' is not a cursor this endpoint returned/);
    }
    // one list's cursor is refused by the other
    const reqs = await jg.as('alice', 'GET', '/v1/requests?mine=true&limit=1');
    assert.equal(reqs.status, 200, reqs.body);
    const rc = reqs.json.next_cursor;
    assert.ok(rc, 'alice has more than one request: the first page has a cursor');
    let r = await logs(tokens.read, `?limit=10${window}&cursor=${rc}`);
    assert.equal(r.status, 400, r.body);
    r = await jg.as('alice', 'GET', `/v1/requests?mine=true&limit=1&cursor=${c}`);
    assert.equal(r.status, 400, r.body);
    assert.match(r.json.error.message, /'cursor' is not valid/);

    // the pages each cursor leads to, before and after a restart: the same
    const logsNext = (await logs(tokens.read, `?limit=10${window}&cursor=${c}`)).json;
    const reqsNext = (await jg.as('alice', 'GET', `/v1/requests?mine=true&limit=1&cursor=${rc}`)).json;
    assert.equal(logsNext.logs.length, 10);
    assert.equal(reqsNext.requests.length, 1);
    await jg.stop();
    jg.exited = null;
    await jg.start();
    r = await logs(tokens.read, `?limit=10${window}&cursor=${c}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.logs.map((l) => l.id), logsNext.logs.map((l) => l.id));
    r = await jg.as('alice', 'GET', `/v1/requests?mine=true&limit=1&cursor=${rc}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json.requests.map((q) => q.id), reqsNext.requests.map((q) => q.id));
    // and what is issued now continues too
    assert.ok(r.json.next_cursor === undefined || /^[A-Za-z0-9_-]+$/.test(r.json.next_cursor));
  });
});

describe('retention', () => {
  let jg;
  before(async () => {
    jg = await startJitgate({ idp: false, extraConfig: 'telemetry:\n  logs_retention_seconds: 2\n  traces_retention_seconds: 2\n  metrics_retention_seconds: 3600\n' });
  });
  after(() => cleanup(jg));

  // SQLite deletes rows; PostgreSQL drops whole day partitions (its counterpart below)
  sqliteOnly(test)('the sweeper deletes each kind after its retention, from the file and its search indexes', async () => {
    const cli = (...args) => spawnSync(BIN, [...args, '-c', jg.configPath], { encoding: 'utf8' });
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng').status, 0);
    const key = cli('ingest-key', 'create', SVC).stdout.trim();
    const n = (t) => jg.telemetryDb.count(t);
    const post = (kind, body, type = 'application/json') => jg.request('POST', `/v1/ingest/${kind}`, { body, headers: { authorization: `Bearer ${key}`, 'content-type': type } });
    assert.equal((await post('logs', '{"msg":"old news"}\n{"msg":"older news"}', 'application/x-ndjson')).status, 200);
    assert.equal((await post('traces', JSON.stringify(PAY_OK))).status, 200);
    assert.equal((await post('metrics', JSON.stringify(METRICS_FIXTURE))).status, 200);
    assert.deepEqual([n('logs'), n('logs_fts'), n('logs_fts_redacted'), n('spans'), n('metric_points')], [2, 2, 2, 1, 8]);
    // the sweeper commits each chunk, then logs what its sweep deleted: wait for the rows and the line
    const deletedLines = () => jg.logLines().map((l) => /^telemetry sweeper: deleted (\d+) expired rows$/.exec(l.msg)).filter(Boolean);
    const until = Date.now() + 8000;
    while ((n('logs') > 0 || n('spans') > 0 || deletedLines().length === 0) && Date.now() < until) await sleep(250);
    assert.deepEqual([n('logs'), n('logs_fts'), n('logs_fts_redacted'), n('spans'), n('metric_points')], [0, 0, 0, 0, 8]);
    // the first deletions are logged at once (later ones at most once a minute, summed)
    const deleted = deletedLines();
    assert.ok(deleted.length === 1 && Number(deleted[0][1]) >= 1 && Number(deleted[0][1]) <= 3, jg.stderr.slice(-1500));
  });

  postgresOnly(test)('the sweeper makes day partitions ahead and drops an expired day whole, as the serving role', async () => {
    const db = jg.telemetryDb; // the superuser's helper: it plants a day long past
    const dayOf = (s) => new Date(s * 1000).toISOString().slice(0, 10).replaceAll('-', '');
    const now = Math.floor(Date.now() / 1000);
    const old = now - 10 * 86400;
    db.exec(`SELECT jitgate_telemetry_partitions(${old}, 1)`);
    // the row is stored (no partition, no row: the insert would fail) - and may go at once
    db.exec(`INSERT INTO logs (service, time_ns, severity_number, level, record, received_at, search, search_redacted) VALUES ('pay', 1, 9, 'info', '{}', ${old}, '', '')`);
    // the running server's sweeper (every second): the old day goes, the next two days come
    const until = Date.now() + 8000;
    while (db.tables().includes(`logs_${dayOf(old)}`) && Date.now() < until) await sleep(250);
    assert.ok(!db.tables().includes(`logs_${dayOf(old)}`), 'the expired day was not dropped');
    assert.equal(db.count('logs', 'received_at = ?', [old]), 0);
    for (const t of ['logs', 'spans', 'metric_points']) assert.ok(db.tables().includes(`${t}_${dayOf(now + 2 * 86400)}`), `${t}: no partition two days ahead`);
    // metric points are kept an hour: a fresh day of them stays
    assert.ok(db.tables().includes(`metric_points_${dayOf(now)}`));
  });
});

// SQLite by nature: the telemetry file removed (tests/e2e/README.md)
sqliteOnly(describe)('the telemetry schema', () => {
  test('serve refuses to start (exit 4) while a telemetry migration is pending; migrate applies it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jg-e2e-'));
    try {
      makeCert(dir);
      const cfg = writeConfig(dir, await freePort(), 'telemetry:\n  database: data/tel.db\n');
      execFileSync('mkdir', ['-p', join(dir, 'data')]);
      let r = runJitgate(['migrate', '-c', cfg]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /telemetry database .*data\/tel\.db: applied 1 migration\(s\); schema is current/);
      assert.equal(runJitgate(['keys', 'generate', '-c', cfg]).code, 0);
      unlinkSync(join(dir, 'data', 'tel.db'));
      r = runJitgate(['serve', '-c', cfg]);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /telemetry database: .*1 telemetry migration\(s\) pending: run 'jitgate migrate/);
      r = runJitgate(['migrate', '-c', cfg]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /applied 0 migration\(s\)[^]*telemetry database .*applied 1 migration/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
