/*
 * api_ingest.c - telemetry in (docs/dataplane.md).
 *
 *   POST /v1/ingest/logs      OTLP/HTTP JSON (application/json: resourceLogs)
 *                             or JSON Lines (application/x-ndjson)
 *   POST /v1/ingest/traces    OTLP/HTTP JSON (resourceSpans)
 *   POST /v1/ingest/metrics   OTLP/HTTP JSON (resourceMetrics)
 *
 * Each is authenticated with the service's ingest key exactly as the agent
 * protocol is (catalog.h: Authorization: Bearer jgk_...), and stores only
 * that service's telemetry.  The body is bounded by limits.max_body_bytes
 * (413 from the server before it is read), inflated (Content-Encoding:
 * gzip) to at most MAX_INFLATED, and holds at most JG_OTLP_MAX_RECORDS
 * records.  The whole batch is converted first (otlp.h); a malformed record
 * refuses the batch with 400 naming its index and path, and a batch that
 * converts is stored in one transaction: nothing is ever half stored.  The
 * reply on success is the OTLP ExportServiceResponse ({"partialSuccess":{}}
 * or the count of what was not stored and why).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zlib.h>

#include "api_ingest_int.h"
#include "jitgate/app.h"
#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/otlp.h"
#include "jitgate/telemetry.h"
#include "api_routes_int.h"

enum kind { LOGS, TRACES, METRICS };

/* A gzip body may inflate to at most this (a small bomb is refused, not swallowed). */
#define MAX_INFLATED (32 * 1024 * 1024)

/*
 * Inflates a gzip body (Content-Encoding: gzip, as the OpenTelemetry
 * collector sends by default) into *out (NUL-terminated, caller frees).
 * Returns 0, JG_ETOOBIG past MAX_INFLATED, JG_EPARSE for a body that is
 * not one whole gzip member, JG_ENOMEM.
 */
static int
gunzip(const char *in, size_t inlen, char **out, size_t *outlen)
{
	z_stream zs;
	size_t cap = inlen < 16384 ? 65536 : inlen * 4;
	char *buf;
	int zrc, rc = 0;

	*out = NULL;
	*outlen = 0;
	memset(&zs, 0, sizeof(zs));
	if (inlen > UINT_MAX || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return JG_ENOMEM;
	if (cap > MAX_INFLATED)
		cap = MAX_INFLATED;
	if ((buf = malloc(cap + 1)) == NULL) {
		inflateEnd(&zs);
		return JG_ENOMEM;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)inlen;
	for (;;) {
		if (zs.total_out == cap) {
			if (cap == MAX_INFLATED) {
				rc = JG_ETOOBIG;
				break;
			}
			size_t grown = cap * 2 > MAX_INFLATED ? MAX_INFLATED : cap * 2;
			char *more = realloc(buf, grown + 1);
			if (more == NULL) {
				rc = JG_ENOMEM;
				break;
			}
			buf = more;
			cap = grown;
		}
		zs.next_out = (Bytef *)buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc == Z_STREAM_END) {
			if (zs.avail_in != 0) /* something after the member */
				rc = JG_EPARSE;
			break;
		}
		if (zrc != Z_OK) {
			rc = zrc == Z_MEM_ERROR ? JG_ENOMEM : JG_EPARSE;
			break;
		}
	}
	*outlen = zs.total_out;
	inflateEnd(&zs);
	if (rc != 0) {
		free(buf);
		*outlen = 0;
		return rc;
	}
	buf[*outlen] = '\0';
	*out = buf;
	return 0;
}

/* Content-Type is exactly want, optionally followed by parameters. */
static int
is_type(const char *ct, const char *want)
{
	size_t n = strlen(want);
	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static void
bad_record(struct jg_http_reply *reply, const struct jg_otlp_error *e)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "record %zu (%s): %s; nothing of this batch was stored",
		 e->index, e->path, e->why);
	jg_http_reply_json(reply, 400,
			   json_pack("{s:{s:s,s:s,s:I,s:s}}", "error", "code", "bad_record",
				     "message", msg, "index", (json_int_t)e->index, "path",
				     e->path));
}

static void
ingest(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const enum kind kind = *(const enum kind *)req->route.route->arg; /* which endpoint */
	struct jg_app *app = req->app;
	struct jg_ingest_caller who;
	struct jg_otlp_error e;
	json_t *doc = NULL, *items = NULL;
	size_t skipped = 0;
	char *inflated = NULL;
	int rc;

	if (jg_api_require_ingest(req, reply, &who) != 0)
		return;
	if (app->telemetry == NULL) {
		jg_http_reply_error(reply, 503, "unavailable", "the telemetry store is not open");
		return;
	}
	const char *ct = jg_http_header(req, "Content-Type");
	const char *enc = jg_http_header(req, "Content-Encoding");
	if (enc != NULL && strcasecmp(enc, "identity") != 0 && strcasecmp(enc, "gzip") != 0) {
		jg_http_reply_error(reply, 415, "unsupported_media_type",
				    "Content-Encoding '%.32s' is not supported: send gzip or "
				    "uncompressed",
				    enc);
		return;
	}
	int ndjson = kind == LOGS &&
		     (is_type(ct, "application/x-ndjson") || is_type(ct, "application/jsonl") ||
		      is_type(ct, "application/json-lines"));
	if (!ndjson && !is_type(ct, "application/json")) {
		jg_http_reply_error(reply, 415, "unsupported_media_type",
				    kind == LOGS
					? "the body must be application/json (OTLP/HTTP "
					  "JSON) or application/x-ndjson (JSON Lines)"
					: "the body must be application/json (OTLP/HTTP JSON; "
					  "protobuf is not accepted)");
		return;
	}
	if (req->body == NULL || req->body_len == 0) {
		jg_http_reply_error(reply, 400, "bad_request", "the body is empty");
		return;
	}
	const char *body = req->body;
	size_t body_len = req->body_len;
	if (enc != NULL && strcasecmp(enc, "gzip") == 0) {
		rc = gunzip(req->body, req->body_len, &inflated, &body_len);
		if (rc == JG_ETOOBIG) {
			jg_http_reply_error(
			    reply, 413, "payload_too_large",
			    "the body inflates to more than %d bytes; nothing was stored",
			    MAX_INFLATED);
			return;
		}
		if (rc != 0) {
			jg_http_reply_error(reply, rc == JG_ENOMEM ? 500 : 400,
					    rc == JG_ENOMEM ? "internal_error" : "bad_request",
					    "the body is not valid gzip; nothing was stored");
			return;
		}
		body = inflated;
	}
	int64_t now = (int64_t)time(NULL);
	if (ndjson) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rc =
		    jg_otlp_logs_ndjson(body, body_len, who.service,
					(int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec, &items, &e);
	} else {
		json_error_t jerr;
		doc = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (doc == NULL) {
			free(inflated);
			jg_http_reply_error(
			    reply, 400, "bad_request",
			    "the body is not valid JSON (line %d, column %d): %.120s", jerr.line,
			    jerr.column, jerr.text);
			return;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t now_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
		switch (kind) {
		case LOGS: rc = jg_otlp_logs(doc, who.service, now_ns, &items, &e); break;
		case TRACES: rc = jg_otlp_spans(doc, who.service, &items, &e); break;
		default: rc = jg_otlp_metrics(doc, who.service, &items, &skipped, &e); break;
		}
		json_decref(doc);
	}
	free(inflated);
	if (rc == JG_EINVAL || rc == JG_ETOOBIG) {
		bad_record(reply, &e);
		return;
	}
	if (rc != 0) {
		jg_http_reply_error(reply, 500, "internal_error",
				    "out of memory; nothing was stored");
		return;
	}
	size_t n = json_array_size(items);
	switch (kind) {
	case LOGS:
		rc = jg_telemetry_store_logs(app->telemetry, who.service, items,
					     app->cfg->redaction_sensitive_fields, now);
		break;
	case TRACES: rc = jg_telemetry_store_spans(app->telemetry, who.service, items, now); break;
	default: rc = jg_telemetry_store_metrics(app->telemetry, who.service, items, now); break;
	}
	json_decref(items);
	if (rc != 0) {
		jg_http_reply_error(reply, 503, "unavailable",
				    "the batch could not be stored; nothing was stored: retry");
		return;
	}
	if (ndjson) {
		jg_http_reply_json(reply, 200, json_pack("{s:I}", "stored", (json_int_t)n));
		return;
	}
	json_t *partial = json_object();
	if (skipped > 0) {
		json_object_set_new(partial, "rejectedDataPoints",
				    json_integer((json_int_t)skipped));
		json_object_set_new(partial, "errorMessage",
				    json_string("exponential histograms and summaries are not "
						"stored by jitgate"));
	}
	jg_http_reply_json(reply, 200, json_pack("{s:o}", "partialSuccess", partial));
}

static const struct jg_route routes[] = {
    {"POST", "/v1/ingest/logs", ingest, &(const enum kind){LOGS}, 0},
    {"POST", "/v1/ingest/traces", ingest, &(const enum kind){TRACES}, 0},
    {"POST", "/v1/ingest/metrics", ingest, &(const enum kind){METRICS}, 0},
};
const struct jg_route_table jg_api_ingest_routes = {routes, sizeof(routes) / sizeof(routes[0])};
