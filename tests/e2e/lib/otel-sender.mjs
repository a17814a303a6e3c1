// A real OpenTelemetry sender: the official JavaScript SDK with its OTLP/HTTP JSON exporters,
// pointed at jitgate's ingest endpoints.  Run as a child process by tests/e2e/otel-sdk.test.mjs:
//   JG_URL=https://127.0.0.1:PORT JG_KEY=jgk_... NODE_EXTRA_CA_CERTS=cert.pem node otel-sender.mjs
// It sends one trace (a failing server span with a client child), two log records (one linked to
// the trace), a counter and a histogram, flushes, and prints what it sent as JSON on stdout.
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';

const { JG_URL, JG_KEY, JG_SERVICE = 'payment-service' } = process.env;
const headers = { Authorization: `Bearer ${JG_KEY}` };
const resource = resourceFromAttributes({ 'service.name': JG_SERVICE, 'service.version': '9.9.9', 'service.instance.id': 'sdk-1' });
const failures = [];
const watch = (exporter) => {
  const original = exporter.export.bind(exporter);
  exporter.export = (items, done) => original(items, (result) => {
    if (result.code !== 0) failures.push(String(result.error?.message ?? result.error ?? result.code));
    done(result);
  });
  return exporter;
};

const tracerProvider = new BasicTracerProvider({
  resource,
  spanProcessors: [new SimpleSpanProcessor(watch(new OTLPTraceExporter({ url: `${JG_URL}/v1/ingest/traces`, headers })))],
});
const loggerProvider = new LoggerProvider({
  resource,
  processors: [new SimpleLogRecordProcessor({ exporter: watch(new OTLPLogExporter({ url: `${JG_URL}/v1/ingest/logs`, headers })) })],
});
const metricExporter = watch(new OTLPMetricExporter({ url: `${JG_URL}/v1/ingest/metrics`, headers }));
const meterProvider = new MeterProvider({ resource, readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 600000 })] });

const tracer = tracerProvider.getTracer('jitgate-e2e', '1.0.0');
const logger = loggerProvider.getLogger('jitgate-e2e', '1.0.0');
const meter = meterProvider.getMeter('jitgate-e2e');

const root = tracer.startSpan('POST /v1/refunds', { kind: SpanKind.SERVER, attributes: { 'http.route': '/v1/refunds', 'refund.amount_cents': 4200, 'customer.email': 'sdk.user@example.com' } });
const ctx = trace.setSpan(context.active(), root);
const child = tracer.startSpan('SELECT refunds', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' } }, ctx);
child.addEvent('retry', { attempt: 2 });
child.setStatus({ code: SpanStatusCode.ERROR, message: 'deadlock detected' });
child.setAttribute('error.type', 'DEADLOCK');
child.end();
root.setStatus({ code: SpanStatusCode.ERROR, message: 'refund failed' });
root.end();

logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', body: 'refund failed for sdk.user@example.com', attributes: { 'refund.id': 'rf_1', attempt: 2 }, context: ctx });
logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'sdk says hello' });

meter.createCounter('refunds.processed', { unit: '{refund}', description: 'Refunds' }).add(3, { outcome: 'failed' });
meter.createHistogram('refund.duration', { unit: 'ms' }).record(120, { route: '/v1/refunds' });

await tracerProvider.forceFlush();
await loggerProvider.forceFlush();
await meterProvider.forceFlush();
await Promise.all([tracerProvider.shutdown(), loggerProvider.shutdown(), meterProvider.shutdown()]);
process.stdout.write(JSON.stringify({
  failures,
  trace_id: root.spanContext().traceId,
  root: root.spanContext().spanId,
  child: child.spanContext().spanId,
}));
