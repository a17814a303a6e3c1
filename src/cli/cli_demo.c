/*
 * cli_demo.c - `jitgate demo seed`: telemetry that tells the seed's story.
 *
 * payment-service takes payments; for each it asks payment-ledger to hold
 * the amount, which asks payment-accounts, which runs the query against its
 * PostgreSQL database.  Twenty-five minutes ago payment-accounts 2.4.0 was
 * rolled out to one of its two instances (payment-accounts-7c9f) with a
 * smaller connection pool; since then every payment whose hold lands there
 * fails: the UPDATE waits for a connection and hits the 5 s statement
 * timeout (three hops below payment-service), payment-accounts answers 504,
 * payment-ledger 502, and the customer sees "payment failed".  Healthy
 * traffic keeps flowing through payment-accounts-5d2a (2.3.1), so failing
 * traces show both versions (version skew).  ledger-1's clock runs 12 ms
 * behind (a clock-skew artefact), and the payment log lines carry customer
 * e-mail addresses, card numbers and phone numbers (PII) for redaction.
 *
 * The documents are built as OTLP/HTTP JSON and go through the same
 * conversion (otlp.h) and storage (telemetry.h) as ingest, service by
 * service, relative to the current time; each run adds fresh traces.  The
 * services are added to the catalog (owners payments-eng) when missing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/catalog.h"
#include "jitgate/cli.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/otlp.h"
#include "jitgate/random.h"
#include "jitgate/telemetry.h"

#define MS	   1000000LL
#define SEC	   (1000 * MS)
#define MINUTE	   (60 * SEC)
#define N_SERVICES 3

static const char *const services[N_SERVICES] = {"payment-service", "payment-ledger",
						 "payment-accounts"};

/* Per service: the OTLP documents being built, one resource entry per instance. */
struct svc_docs {
	json_t *spans;	 /* resourceSpans[] */
	json_t *logs;	 /* resourceLogs[] */
	json_t *metrics; /* resourceMetrics[] */
};

struct seed {
	struct svc_docs docs[N_SERVICES];
	int64_t now;		/* ns */
	int64_t deploy;		/* ns: payment-accounts 2.4.0 on payment-accounts-7c9f */
	char failing[33];	/* one failing trace id, for the summary */
	unsigned long long rnd; /* xorshift state for jitter */
	int traces, failed, logs, points;
};

static unsigned
jitter(struct seed *s, unsigned range)
{
	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 7;
	s->rnd ^= s->rnd << 17;
	return range ? (unsigned)(s->rnd % range) : 0;
}

static void
hex_id(char *out, size_t nbytes)
{
	unsigned char b[16];
	if (nbytes > sizeof(b) || jg_random_bytes(b, nbytes) != 0)
		abort(); /* the CSPRNG failing is not something to seed around */
	b[0] |= 1;	 /* never all zero */
	(void)jg_hex_encode(b, nbytes, out, 2 * nbytes + 1);
}

static json_t *
ns_text(int64_t ns)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", (long long)ns);
	return json_string(buf);
}

static json_t *
str_attr(const char *k, const char *v)
{
	return json_pack("{s:s,s:{s:s}}", "key", k, "value", "stringValue", v);
}

static json_t *
int_attr(const char *k, long long v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", v);
	return json_pack("{s:s,s:{s:s}}", "key", k, "value", "intValue", buf);
}

static int
svc_index(const char *svc)
{
	for (int i = 0; i < N_SERVICES; i++)
		if (strcmp(services[i], svc) == 0)
			return i;
	return 0;
}

static const char *
version_of(const char *instance)
{
	if (strcmp(instance, "payment-accounts-7c9f") == 0)
		return "2.4.0";
	if (strncmp(instance, "payment-accounts", 16) == 0)
		return "2.3.1";
	if (strncmp(instance, "ledger", 6) == 0)
		return "1.18.2";
	return "3.7.0";
}

/* The scope entry list of (service, instance) in docs[kind], created on first use. */
static json_t *
records_of(struct seed *s, const char *svc, const char *instance, int kind)
{
	static const char *const scope_keys[] = {"scopeSpans", "scopeLogs", "scopeMetrics"};
	static const char *const rec_keys[] = {"spans", "logRecords", "metrics"};
	struct svc_docs *d = &s->docs[svc_index(svc)];
	json_t *list = kind == 0 ? d->spans : kind == 1 ? d->logs : d->metrics;
	size_t i;
	json_t *r;

	json_array_foreach(list, i, r)
	{
		json_t *attrs = json_object_get(json_object_get(r, "resource"), "attributes");
		json_t *inst = json_array_get(attrs, 2);
		if (strcmp(json_string_value(
			       json_object_get(json_object_get(inst, "value"), "stringValue")),
			   instance) == 0)
			return json_object_get(
			    json_array_get(json_object_get(r, scope_keys[kind]), 0),
			    rec_keys[kind]);
	}
	r = json_pack("{s:{s:[o,o,o,o]},s:[{s:{s:s,s:s},s:[]}]}", "resource", "attributes",
		      str_attr("service.name", svc),
		      str_attr("service.version", version_of(instance)),
		      str_attr("service.instance.id", instance),
		      str_attr("deployment.environment", "production"), scope_keys[kind], "scope",
		      "name", "jitgate-demo", "version", "1.0", rec_keys[kind]);
	json_array_append_new(list, r);
	return json_object_get(json_array_get(json_object_get(r, scope_keys[kind]), 0),
			       rec_keys[kind]);
}

/* Adds a span; returns its id in id_out (17 bytes). */
static void
span(struct seed *s, const char *svc, const char *instance, const char *trace, const char *parent,
     char id_out[17], const char *name, int kind, int64_t start, int64_t end, int status,
     const char *message, json_t *attrs, json_t *events)
{
	hex_id(id_out, 8);
	json_t *sp = json_pack(
	    "{s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:o,s:{s:i,s:s}}", "traceId", trace, "spanId", id_out,
	    "parentSpanId", parent ? parent : "", "name", name, "kind", kind, "startTimeUnixNano",
	    ns_text(start), "endTimeUnixNano", ns_text(end), "attributes",
	    attrs ? attrs : json_array(), "events", events ? events : json_array(), "status",
	    "code", status, "message", message ? message : "");
	json_array_append_new(records_of(s, svc, instance, 0), sp);
}

static void
log_line(struct seed *s, const char *svc, const char *instance, int64_t t, int sev,
	 const char *sev_text, const char *body, const char *trace, const char *span_id,
	 json_t *attrs)
{
	json_t *lr = json_pack("{s:o,s:o,s:i,s:s,s:{s:s},s:o,s:s,s:s}", "timeUnixNano", ns_text(t),
			       "observedTimeUnixNano", ns_text(t + 2 * MS), "severityNumber", sev,
			       "severityText", sev_text, "body", "stringValue", body, "attributes",
			       attrs ? attrs : json_array(), "traceId", trace ? trace : "",
			       "spanId", span_id ? span_id : "");
	json_array_append_new(records_of(s, svc, instance, 1), lr);
	s->logs++;
}

static const char *const customers[] = {"alice.nguyen@example.com", "j.doe@example.org",
					"marta.k@example.net", "sam+shop@example.com"};
static const char *const cards[] = {"4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005",
				    "4012888888881881"};
static const char *const phones[] = {"+44 20 7946 0958", "+1 415-555-0132", "+49 30 901820",
				     "+33 1 70 18 99 00"};

/* One payment: a healthy trace, or (fail) one that times out in payment-accounts 2.4.0. */
static void
payment(struct seed *s, int64_t t0, int n, int fail)
{
	char trace[33], root[17], pay_client[17], ledger_srv[17], ledger_get[17], ledger_hold[17];
	char acc_get[17], acc_get_db[17], acc_hold[17], acc_db[17], sel[17];
	const char *customer = customers[n % 4], *card = cards[n % 4], *phone = phones[n % 4];
	const char *pay_inst = n % 2 ? "payment-service-a1" : "payment-service-b2";
	const char *ledger_inst = n % 3 ? "ledger-1" : "ledger-2";
	/* ledger-1's clock runs 12 ms behind: its spans appear to start before their parents */
	int64_t lskew = strcmp(ledger_inst, "ledger-1") == 0 ? -12 * MS : 0;
	char order[32], msg[400];
	int64_t amount_cents = 1000 + jitter(s, 90000);

	hex_id(trace, 16);
	snprintf(order, sizeof(order), "ord_%06d", 100000 + n * 37);
	int64_t db_ms = fail ? 5003 : 3 + jitter(s, 9);
	int64_t hold_ms = db_ms + 4;
	int64_t t = t0;
	int64_t get_start = t + 4 * MS, get_end = get_start + 9 * MS;
	int64_t hold_start = get_end + 1 * MS, hold_end = hold_start + hold_ms * MS;
	int64_t ledger_end = hold_end + 2 * MS, total_end = ledger_end + 6 * MS;

	/* payment-service */
	span(s, "payment-service", pay_inst, trace, NULL, root, "POST /v1/payments", 2, t,
	     total_end, fail ? 2 : 1, fail ? "payment failed: ledger hold returned 502" : NULL,
	     json_pack("[o,o,o,o,o]", str_attr("http.request.method", "POST"),
		       str_attr("http.route", "/v1/payments"),
		       int_attr("http.response.status_code", fail ? 502 : 201),
		       str_attr("order.id", order), str_attr("customer.email", customer)),
	     NULL);
	span(s, "payment-service", pay_inst, trace, root, sel, "PaymentProcessor.selectProvider", 1,
	     t + 1 * MS, t + 3 * MS, 1, NULL,
	     json_pack("[o,o]", str_attr("payment.provider", n % 2 ? "adyen" : "stripe"),
		       int_attr("payment.amount_cents", amount_cents)),
	     NULL);
	span(s, "payment-service", pay_inst, trace, root, pay_client, "POST payment-ledger/holds",
	     3, t + 3 * MS, ledger_end + 1 * MS, fail ? 2 : 0, fail ? "502 Bad Gateway" : NULL,
	     json_pack("[o,o,o]", str_attr("server.address", "payment-ledger"),
		       str_attr("http.request.method", "POST"),
		       int_attr("http.response.status_code", fail ? 502 : 201)),
	     NULL);
	/* payment-ledger */
	span(s, "payment-ledger", ledger_inst, trace, pay_client, ledger_srv, "POST /holds", 2,
	     t + 3 * MS + MS / 2 + lskew, ledger_end + lskew, fail ? 2 : 0,
	     fail ? "payment-accounts hold failed: 504 Gateway Timeout" : NULL,
	     json_pack("[o,o]", str_attr("http.route", "/holds"),
		       int_attr("http.response.status_code", fail ? 502 : 201)),
	     NULL);
	span(s, "payment-ledger", ledger_inst, trace, ledger_srv, ledger_get,
	     "GET payment-accounts/balance", 3, get_start + lskew, get_end + lskew, 0, NULL,
	     json_pack("[o]", int_attr("http.response.status_code", 200)), NULL);
	span(s, "payment-ledger", ledger_inst, trace, ledger_srv, ledger_hold,
	     "POST payment-accounts/holds", 3, hold_start + lskew, hold_end + MS / 2 + lskew,
	     fail ? 2 : 0, fail ? "504 Gateway Timeout" : NULL,
	     json_pack("[o]", int_attr("http.response.status_code", fail ? 504 : 201)), NULL);
	/* payment-accounts: the balance read on the old instance, the hold where it lands */
	const char *hold_inst = fail ? "payment-accounts-7c9f" : "payment-accounts-5d2a";
	span(s, "payment-accounts", "payment-accounts-5d2a", trace, ledger_get, acc_get,
	     "GET /balance", 2, get_start + MS / 2, get_end - MS / 2, 0, NULL,
	     json_pack("[o]", int_attr("http.response.status_code", 200)), NULL);
	span(s, "payment-accounts", "payment-accounts-5d2a", trace, acc_get, acc_get_db,
	     "SELECT accounts", 3, get_start + 1 * MS, get_end - 1 * MS, 0, NULL,
	     json_pack("[o,o,o]", str_attr("db.system", "postgresql"),
		       str_attr("db.operation.name", "SELECT"),
		       str_attr("db.query.text", "SELECT balance FROM accounts WHERE id = $1")),
	     NULL);
	span(s, "payment-accounts", hold_inst, trace, ledger_hold, acc_hold, "POST /holds", 2,
	     hold_start + MS / 2, hold_end, fail ? 2 : 0, fail ? "database timeout" : NULL,
	     json_pack("[o]", int_attr("http.response.status_code", fail ? 504 : 201)), NULL);
	json_t *db_attrs = json_pack(
	    "[o,o,o,o]", str_attr("db.system", "postgresql"),
	    str_attr("db.operation.name", "UPDATE"),
	    str_attr("db.query.text", "UPDATE accounts SET held = held + $1 WHERE id = $2"),
	    str_attr("server.address", "accounts-db.internal"));
	json_t *db_events = NULL;
	if (fail) {
		json_array_append_new(db_attrs, str_attr("error.type", "DB_STATEMENT_TIMEOUT"));
		db_events = json_pack(
		    "[{s:s,s:o,s:[o,o]}]", "name", "exception", "timeUnixNano",
		    ns_text(hold_end - 1 * MS), "attributes",
		    str_attr("exception.type", "QueryCanceled"),
		    str_attr(
			"exception.message",
			"canceling statement due to statement timeout (5000 ms); pool 2/2 busy"));
	}
	span(s, "payment-accounts", hold_inst, trace, acc_hold, acc_db, "UPDATE accounts", 3,
	     hold_start + 1 * MS, hold_start + (1 + db_ms) * MS, fail ? 2 : 0,
	     fail ? "canceling statement due to statement timeout" : NULL, db_attrs, db_events);

	/* the log lines of this payment */
	if (fail) {
		snprintf(msg, sizeof(msg),
			 "payment failed for %s (card %s, phone %s): ledger hold returned 502, "
			 "order %s",
			 customer, card, phone, order);
		log_line(s, "payment-service", pay_inst, total_end, 17, "ERROR", msg, trace, root,
			 json_pack("[o,o,o]", str_attr("order.id", order),
				   str_attr("customer.email", customer),
				   str_attr("card_number", card)));
		log_line(s, "payment-ledger", ledger_inst, ledger_end + lskew, 17, "ERROR",
			 "hold failed: payment-accounts answered 504 Gateway Timeout after 5009 ms",
			 trace, ledger_srv, json_pack("[o]", str_attr("order.id", order)));
		log_line(s, "payment-accounts", hold_inst, hold_start + (1 + db_ms) * MS, 17,
			 "ERROR",
			 "query timeout after 5000 ms: UPDATE accounts SET held = held + $1 WHERE "
			 "id = $2 (pool 2/2 busy, waited 4.2 s for a connection)",
			 trace, acc_db, json_pack("[o]", str_attr("db.system", "postgresql")));
		if (!s->failing[0])
			memcpy(s->failing, trace, 33);
		s->failed++;
	} else {
		snprintf(msg, sizeof(msg),
			 "payment authorized for %s card %s amount %lld.%02lld EUR", customer, card,
			 (long long)(amount_cents / 100), (long long)(amount_cents % 100));
		log_line(s, "payment-service", pay_inst, total_end, 9, "INFO", msg, trace, root,
			 json_pack("[o,o,o]", str_attr("order.id", order),
				   str_attr("customer.email", customer),
				   int_attr("payment.amount_cents", amount_cents)));
	}
	s->traces++;
}

/* A gauge or cumulative-sum point, or a histogram point, for a metric of svc/instance. */
static json_t *
metric(struct seed *s, const char *svc, const char *instance, const char *name, const char *unit,
       const char *desc, const char *kind)
{
	json_t *list = records_of(s, svc, instance, 2), *m;
	size_t i;
	json_array_foreach(list, i, m)
	{
		if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
			return json_object_get(json_object_get(m, kind), "dataPoints");
	}
	m = json_pack("{s:s,s:s,s:s,s:{s:[]}}", "name", name, "unit", unit, "description", desc,
		      kind, "dataPoints");
	if (strcmp(kind, "gauge") != 0) {
		json_object_set_new(json_object_get(m, kind), "aggregationTemporality",
				    json_integer(2));
		if (strcmp(kind, "sum") == 0)
			json_object_set_new(json_object_get(m, kind), "isMonotonic", json_true());
	}
	json_array_append_new(list, m);
	return json_object_get(json_object_get(m, kind), "dataPoints");
}

static void
metrics(struct seed *s, int64_t start)
{
	long long ok = 0, failed = 0;
	long long counts[5] = {0}, total = 0;
	double sum = 0;
	static const double bounds[] = {50, 100, 500, 1000};

	for (int64_t t = start; t <= s->now; t += MINUTE) {
		int after = t >= s->deploy;
		/* about 30 payments a minute; after the deploy a third of them fail slowly */
		long long n = 28 + jitter(s, 5), bad = after ? n / 3 : 0;
		ok += n - bad;
		failed += bad;
		counts[0] += (n - bad) * 8 / 10;
		counts[1] += (n - bad) - (n - bad) * 8 / 10;
		counts[4] += bad;
		total += n;
		sum += (double)(n - bad) * 42.0 + (double)bad * 5040.0;
		json_t *bc = json_array(), *eb = json_array();
		for (int i = 0; i < 5; i++) {
			char buf[24];
			snprintf(buf, sizeof(buf), "%lld", counts[i]);
			json_array_append_new(bc, json_string(buf));
			if (i < 4)
				json_array_append_new(eb, json_real(bounds[i]));
		}
		char tot[24];
		snprintf(tot, sizeof(tot), "%lld", total);
		json_array_append_new(
		    metric(s, "payment-service", "payment-service-a1",
			   "http.server.request.duration", "ms", "Duration of POST /v1/payments",
			   "histogram"),
		    json_pack("{s:o,s:o,s:s,s:f,s:o,s:o,s:[o]}", "startTimeUnixNano",
			      ns_text(start), "timeUnixNano", ns_text(t), "count", tot, "sum", sum,
			      "bucketCounts", bc, "explicitBounds", eb, "attributes",
			      str_attr("http.route", "/v1/payments")));
		static const char *const outcomes[] = {"authorized", "failed"};
		for (int o = 0; o < 2; o++) {
			char v[24];
			snprintf(v, sizeof(v), "%lld", o ? failed : ok);
			json_array_append_new(
			    metric(s, "payment-service", "payment-service-a1", "payments.processed",
				   "{payment}", "Payments by outcome", "sum"),
			    json_pack("{s:o,s:o,s:s,s:[o]}", "startTimeUnixNano", ns_text(start),
				      "timeUnixNano", ns_text(t), "asInt", v, "attributes",
				      str_attr("outcome", outcomes[o])));
		}
		static const char *const insts[] = {"payment-accounts-5d2a",
						    "payment-accounts-7c9f"};
		for (int i = 0; i < 2; i++) {
			int newer = i == 1 && after;
			double used = newer ? 2 : 3 + jitter(s, 4);
			json_array_append_new(
			    metric(s, "payment-accounts", insts[i], "db.client.connection.count",
				   "{connection}", "Connections in use in the pool", "gauge"),
			    json_pack("{s:o,s:f,s:[o,o]}", "timeUnixNano", ns_text(t), "asDouble",
				      used, "attributes",
				      str_attr("db.client.connection.state", "used"),
				      str_attr("db.client.connection.pool.name", "accounts")));
			json_array_append_new(
			    metric(s, "payment-accounts", insts[i], "db.client.connection.max",
				   "{connection}", "Pool size", "gauge"),
			    json_pack("{s:o,s:i,s:[o]}", "timeUnixNano", ns_text(t), "asInt",
				      newer ? 2 : 10, "attributes",
				      str_attr("db.client.connection.pool.name", "accounts")));
		}
		s->points += 7;
	}
}

/* Converts and stores everything built for one service. */
static int
store_service(struct jg_store *db, const struct jg_config *cfg, struct seed *s, int i)
{
	struct jg_otlp_error e;
	json_t *out = NULL;
	size_t skipped = 0;
	int64_t now_s = s->now / SEC;
	json_t *doc;
	int rc;

	doc = json_pack("{s:O}", "resourceSpans", s->docs[i].spans);
	rc = jg_otlp_spans(doc, services[i], &out, &e);
	json_decref(doc);
	if (rc == 0)
		rc = jg_telemetry_store_spans(db, services[i], out, now_s);
	json_decref(out);
	if (rc == 0) {
		doc = json_pack("{s:O}", "resourceLogs", s->docs[i].logs);
		rc = jg_otlp_logs(doc, services[i], s->now, &out, &e);
		json_decref(doc);
		if (rc == 0)
			rc = jg_telemetry_store_logs(db, services[i], out,
						     cfg->redaction_sensitive_fields, now_s);
		json_decref(out);
	}
	if (rc == 0) {
		doc = json_pack("{s:O}", "resourceMetrics", s->docs[i].metrics);
		rc = jg_otlp_metrics(doc, services[i], &out, &skipped, &e);
		json_decref(doc);
		if (rc == 0)
			rc = jg_telemetry_store_metrics(db, services[i], out, now_s);
		json_decref(out);
	}
	if (rc == JG_EINVAL || rc == JG_ETOOBIG)
		fprintf(stderr, "jitgate demo seed: %s: record %zu (%s): %s\n", services[i],
			e.index, e.path, e.why);
	return rc;
}

static int
seed(struct jg_config *cfg, struct jg_store *store, struct jg_audit *audit)
{
	struct seed s = {0};
	struct timespec ts;
	char actor[128], err[512];
	struct jg_store *db = NULL;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	s.now = (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
	s.deploy = s.now - 25 * MINUTE;
	s.rnd = (unsigned long long)s.now | 1;
	for (int i = 0; i < N_SERVICES; i++) {
		s.docs[i].spans = json_array();
		s.docs[i].logs = json_array();
		s.docs[i].metrics = json_array();
	}

	/* the services, owned by payments-eng, when they are not in the catalog yet */
	jg_cli_operator_actor(actor, sizeof(actor));
	struct jg_catalog_ctx ctx = {
	    .store = store, .audit = audit, .actor = actor, .now = (int64_t)ts.tv_sec};
	const char *owners[] = {"payments-eng"};
	for (int i = 0; i < N_SERVICES; i++) {
		rc = jg_catalog_service_add(&ctx, services[i], owners, 1);
		if (rc != 0 && rc != JG_ECONFLICT) {
			fprintf(stderr, "jitgate demo seed: cannot add %s: %s\n", services[i],
				jg_strerror(rc));
			goto out;
		}
	}

	/* the deploy, as payment-accounts logged it */
	log_line(&s, "payment-accounts", "payment-accounts-7c9f", s.deploy, 9, "INFO",
		 "starting payment-accounts 2.4.0 (db pool max 2, was 10; statement_timeout 5s)",
		 NULL, NULL,
		 json_pack("[o,o]", str_attr("deploy.id", "dep-2291"),
			   str_attr("vcs.revision", "9f3c2e1")));
	log_line(&s, "payment-accounts", "payment-accounts-7c9f", s.deploy + 3 * MINUTE, 13, "WARN",
		 "db pool exhausted (2/2 in use), 7 requests waiting", NULL, NULL, NULL);
	/* payments over the last 40 minutes; after the deploy every third one lands on 7c9f */
	int n = 0;
	for (int64_t t = s.now - 40 * MINUTE; t < s.now - 10 * SEC; t += 80 * SEC, n++) {
		int fail = t > s.deploy && n % 3 == 0;
		payment(&s, t + jitter(&s, 900) * MS, n, fail);
	}
	log_line(&s, "payment-service", "payment-service-a1", s.now - 5 * MINUTE, 13, "WARN",
		 "error rate 33% on POST /v1/payments over 5m (threshold 5%); on-call paged, "
		 "contact ops at +1 415-555-0132",
		 NULL, NULL, NULL);
	metrics(&s, s.now - 60 * MINUTE);

	if ((rc = jg_telemetry_open(cfg, &db, err, sizeof(err))) != 0) {
		fprintf(stderr, "jitgate demo seed: %s: run 'jitgate migrate' first\n", err);
		goto out;
	}
	for (int i = 0; i < N_SERVICES && rc == 0; i++)
		rc = store_service(db, cfg, &s, i);
	if (rc != 0) {
		fprintf(stderr, "jitgate demo seed: cannot store the demo telemetry: %s\n",
			jg_strerror(rc));
		goto out;
	}
	printf("seeded %d traces (%d failed), %d log records and %d metric points for "
	       "payment-service, payment-ledger and payment-accounts in %s\n",
	       s.traces, s.failed, s.logs, s.points, cfg->telemetry_store);
	printf("a failing payment: trace %s\n", s.failing);
out:
	jg_store_close(db);
	for (int i = 0; i < N_SERVICES; i++) {
		json_decref(s.docs[i].spans);
		json_decref(s.docs[i].logs);
		json_decref(s.docs[i].metrics);
	}
	return rc == 0 ? JG_EXIT_OK : JG_EXIT_RUNTIME;
}

int
jg_cmd_demo(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = "jitgate.yaml";
	struct jg_config *cfg = NULL;
	struct jg_store *store = NULL;
	struct jg_audit *audit = NULL;
	int ch, rc;

	if (argc < 2 || strcmp(argv[1], "seed") != 0) {
		fprintf(stderr, "jitgate demo: the only action is 'seed'\n");
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'h': return jg_cli_usage(stdout, JG_EXIT_OK);
		default: return jg_cli_usage(stderr, JG_EXIT_USAGE);
		}
	}
	if (optind != argc)
		return jg_cli_usage(stderr, JG_EXIT_USAGE);
	if ((rc = jg_cli_open_audit(config, "demo", &cfg, &store, &audit)) == 0)
		rc = seed(cfg, store, audit);
	jg_audit_free(audit);
	jg_store_close(store);
	jg_config_free(cfg);
	return rc;
}
