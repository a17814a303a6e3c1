/*
 * http.c - libmicrohttpd glue: caps, routing, replies, metrics, shutdown.
 *
 * Life of a request:
 *   uri_logger()      MHD saw the request line: allocate the request state,
 *                     note the raw target length and the start time.
 *   on_request() #1   headers are in: refuse an over-long URL (414), too many
 *                     header bytes (431), an unknown path (404) or method
 *                     (405), a declared body over the cap (413) or a body of
 *                     the wrong type (415) - all before reading any body.
 *   on_request() #2.. body chunks: appended up to the cap.
 *   on_request() last the request is complete.  An inline route's handler
 *                     runs here, on the event loop; any other handler is
 *                     handed to a worker thread while the connection is
 *                     suspended (MHD_suspend_connection), so the event loop
 *                     never waits on a store lock or the identity provider.
 *   on_request() again after the connection is resumed: the worker's reply,
 *                     or the inline handler's second call after a deferral
 *                     (jg_http_defer), is queued.
 *   on_completed()    metrics, one access-log line, state freed.
 * Threads: limits.event_threads event loops (libmicrohttpd's thread pool
 * with epoll) carry every connection; limits.worker_threads run handlers.
 * A thread per connection cost 3-4 context switches per request and capped
 * the guarded endpoints far below what TLS and the store allow
 * (docs/performance.md).
 * A watchdog (deadline.h) gives each connection limits.request_timeout
 * seconds to deliver a whole request, so slow senders cannot hold connections.
 * libmicrohttpd's own memory limit is set well above jitgate's caps so that
 * jitgate, not the library, answers oversized requests, in JSON.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <oauth2/util.h>

#include "jitgate/canon.h"
#include "jitgate/clock.h"
#include "jitgate/codec.h"
#include "jitgate/deadline.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/http.h"
#include "jitgate/log.h"
#include "metrics.h"
#include "jitgate/parse.h"
#include "jitgate/random.h"
#include "jitgate/sha256.h"
#include "jitgate/workq.h"

/* TLS 1.2 and 1.3 only, AEAD ciphers only, forward secrecy only. */
#define TLS_PRIORITIES                                                                             \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"        \
	"+CHACHA20-POLY1305:-RSA"
#define MAX_PEM_BYTES (64 * 1024)
/*
 * libmicrohttpd keeps each connection's request in a memory pool that it
 * zeroes after every request, so the pool costs time per request: size it
 * from jitgate's own caps plus room for requests that exceed them (which
 * jitgate must still see, to refuse them in JSON).
 */
#define MHD_POOL_HEADROOM (128 * 1024)
/* libmicrohttpd messages (TLS handshake failures, ...) logged per second at most. */
#define MHD_LOG_PER_SECOND 10

struct jg_server {
	const struct jg_config *cfg;
	struct jg_router *router;
	void *app;
	struct MHD_Daemon *daemon;
	char *cert_pem;
	size_t cert_len;
	char *key_pem;
	size_t key_len;
	struct jg_metrics *metrics;
	struct jg_deadline *deadlines; /* the slow-client watchdog */
	struct jg_workq *workers;      /* run the handlers that may block */
	/* JG_ROUTE_STORE handlers when the store is across the network: apart from the
	 * workers, so a stuck identity provider holding those never holds these */
	struct jg_workq *store_workers;
	uint8_t id_key[32];  /* request ids: SHA-256(id_key || counter) */
	uint64_t id_counter; /* atomic */
	int suspended;	     /* connections suspended and not yet resumed (atomic) */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int inflight;
	atomic_int stopping;   /* set by jg_server_stop, read by the event loops */
	bool store_in_process; /* JG_ROUTE_STORE handlers may run on the event loops */
};

/* Where a complete request is (on_request's later calls). */
enum phase {
	PHASE_NEW,	/* not dispatched yet */
	PHASE_WORKER,	/* suspended: a worker runs the handler into st->reply */
	PHASE_DEFERRED, /* suspended: an inline handler deferred */
};

/* The suspension handshake: whichever of the two comes second resumes. */
#define HS_SUSPENDED 1 /* the event loop suspended the connection */
#define HS_DONE	     2 /* the work it waits for is over */

struct req_state {
	struct jg_http_request req; /* first: jg_http_resume() finds the state from it */
	struct jg_server *srv;
	struct timespec start;
	size_t target_len;
	int started;
	int answered; /* a reply was queued */
	int status;
	const char *route_label;
	char method[16];
	char *body;
	size_t body_len, body_cap;
	int body_too_big;
	enum phase phase;
	int handshake;		    /* HS_* bits (atomic) */
	struct jg_http_reply reply; /* a worker's reply */
	struct jg_workq_task task;  /* the worker's task */
};

static const char unmatched_label[] = "unmatched";

/* ---- replies ------------------------------------------------------------ */

const char *
jg_http_status_code(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 409: return "conflict";
	case 413: return "payload_too_large";
	case 414: return "uri_too_long";
	case 415: return "unsupported_media_type";
	case 429: return "too_many_requests";
	case 431: return "request_header_fields_too_large";
	case 500: return "internal_error";
	case 503: return "unavailable";
	default: return status >= 500 ? "server_error" : "error";
	}
}

int
jg_http_status_of(int rc, const char **code)
{
	switch (rc) {
	case 0: *code = "ok"; return 200;
	case JG_EINVAL: *code = "bad_request"; return 400;
	case JG_EDENIED: *code = "forbidden"; return 403;
	case JG_ENOTFOUND: *code = "not_found"; return 404;
	case JG_ECONFLICT: *code = "conflict"; return 409;
	case JG_ELIMITED: *code = "too_many_requests"; return 429;
	/* jitgate retries a transaction a few times before a JG_ERETRY gets this far: by then it
	   is as good as JG_EUNAVAIL (store.h) - nothing was done, and later may work */
	case JG_EUNAVAIL:
	case JG_ERETRY: *code = "unavailable"; return 503;
	default: *code = "internal_error"; return 500;
	}
}

char *
jg_http_error_body(const char *code, const char *message)
{
	json_t *err = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
	if (err == NULL && message != NULL) {
		/*
		 * Not UTF-8 (jansson's parse errors quote the raw byte they stopped
		 * at, and a message cut at 512 bytes may end inside a sequence): the
		 * same message with every byte outside printable ASCII as '?', so a
		 * bad request still gets its 400, not the encoder's 500.
		 */
		size_t n = strlen(message);
		char *safe = malloc(n + 1);
		for (size_t i = 0; safe && i < n; i++) {
			unsigned char b = (unsigned char)message[i];
			if (b >= 0x20 && b < 0x7f)
				safe[i] = message[i];
			else
				safe[i] = '?';
		}
		if (safe) {
			safe[n] = '\0';
			err = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", safe);
		}
		free(safe);
	}
	char *text = err ? json_dumps(err, JSON_COMPACT) : NULL;
	json_decref(err);
	return text;
}

static void
reply_reset(struct jg_http_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
	reply->body_len = 0;
}

void
jg_http_reply_json(struct jg_http_reply *reply, int status, json_t *body)
{
	reply_reset(reply);
	reply->status = status;
	reply->content_type = "application/json";
	reply->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	reply->body_len = reply->body ? strlen(reply->body) : 0;
	json_decref(body);
	if (reply->body == NULL && status < 500)
		jg_http_reply_error(reply, 500, "internal_error", "could not encode the reply");
}

void
jg_http_reply_error(struct jg_http_reply *reply, int status, const char *code, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(message, sizeof(message), fmt, ap); /* a longer message is cut */
	va_end(ap);
	reply_reset(reply);
	reply->status = status;
	reply->content_type = "application/json";
	reply->body = jg_http_error_body(code, message);
	reply->body_len = reply->body ? strlen(reply->body) : 0;
}

void
jg_http_reply_text(struct jg_http_reply *reply, int status, const char *content_type,
		   const char *text, size_t len)
{
	reply_reset(reply);
	reply->status = status;
	reply->content_type = content_type;
	reply->body = malloc(len + 1);
	if (reply->body == NULL) {
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return;
	}
	memcpy(reply->body, text, len);
	reply->body[len] = '\0';
	reply->body_len = len;
}

void
jg_http_reply_header(struct jg_http_reply *reply, const char *name, const char *value)
{
	if (reply->headers == NULL)
		reply->headers = json_array();
	if (reply->headers != NULL)
		json_array_append_new(reply->headers, json_pack("[ss]", name, value));
}

void
jg_http_reply_redirect(struct jg_http_reply *reply, int status, const char *location)
{
	jg_http_reply_text(reply, status, "text/plain; charset=utf-8", "", 0);
	jg_http_reply_header(reply, "Location", location);
}

char *
jg_html_escape(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += strchr("<>&\"'", *p) ? 6 : 1;
	char *out = malloc(n + 1), *o = out;
	if (out == NULL)
		return NULL;
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case '<': o = stpcpy(o, "&lt;"); break;
		case '>': o = stpcpy(o, "&gt;"); break;
		case '&': o = stpcpy(o, "&amp;"); break;
		case '"': o = stpcpy(o, "&quot;"); break;
		case '\'': o = stpcpy(o, "&#39;"); break;
		default: *o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

void
jg_http_reply_html_message(struct jg_http_reply *reply, int status, const char *title,
			   const char *message)
{
	char *t = jg_html_escape(title), *m = jg_html_escape(message), *page = NULL;
	int len = t && m
		      ? asprintf(&page,
				 "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
				 "<title>%s - jitgate</title></head><body><h1>%s</h1><p>%s</p>"
				 "<p><a href=\"/\">jitgate</a></p></body></html>\n",
				 t, t, m)
		      : -1;
	free(t);
	free(m);
	if (len < 0) {
		jg_http_reply_error(reply, 500, "internal_error", "out of memory");
		return;
	}
	jg_http_reply_text(reply, status, "text/html; charset=utf-8", page, (size_t)len);
	free(page);
}

/* ---- request accessors ---------------------------------------------------- */

const char *
jg_http_header(const struct jg_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
jg_http_query(const struct jg_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_all {
	const char *name;
	const char **vals;
	size_t *lens, max, n;
};

static enum MHD_Result
query_one(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
	  size_t value_size)
{
	struct query_all *qa = cls;
	(void)kind;
	if (key == NULL || strlen(qa->name) != key_size || memcmp(key, qa->name, key_size) != 0)
		return MHD_YES;
	if (qa->n < qa->max) {
		qa->vals[qa->n] = value ? value : "";
		qa->lens[qa->n] = value ? value_size : 0;
	}
	qa->n++;
	return qa->n <= qa->max ? MHD_YES : MHD_NO; /* one past max is enough to refuse */
}

int
jg_http_query_all(const struct jg_http_request *req, const char *name, const char **vals,
		  size_t *lens, size_t max, size_t *n)
{
	struct query_all qa = {.name = name, .vals = vals, .lens = lens, .max = max};

	MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_one, &qa);
	*n = qa.n < max ? qa.n : max;
	return qa.n <= max ? 0 : JG_ETOOBIG;
}

struct query_each {
	int (*fn)(void *ctx, const char *name, const char *value, size_t len);
	void *ctx;
};

static enum MHD_Result
query_each_one(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
	       const char *value, size_t value_size)
{
	struct query_each *qe = cls;
	(void)kind;
	(void)key_size;
	if (key == NULL)
		return MHD_YES;
	return qe->fn(qe->ctx, key, value ? value : "", value ? value_size : 0) == 0 ? MHD_YES
										     : MHD_NO;
}

void
jg_http_query_each(const struct jg_http_request *req,
		   int (*fn)(void *ctx, const char *name, const char *value, size_t len), void *ctx)
{
	struct query_each qe = {fn, ctx};
	if (req->conn != NULL)
		MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, query_each_one, &qe);
}

int
jg_http_query_u64_value(const struct jg_http_request *req, const char *name, uint64_t def,
			uint64_t max, uint64_t *out)
{
	const char *v = jg_http_query(req, name);
	uint64_t n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	/* one spelling per value: no leading zeros */
	if (jg_parse_u64(v, 0, max, &n) != 0 || (v[0] == '0' && v[1] != '\0'))
		return JG_EINVAL;
	*out = n;
	return 0;
}

int
jg_http_query_u64(const struct jg_http_request *req, struct jg_http_reply *reply, const char *name,
		  uint64_t def, uint64_t max, uint64_t *out)
{
	int rc = jg_http_query_u64_value(req, name, def, max, out);

	if (rc != 0)
		jg_http_reply_error(reply, 400, "bad_request",
				    "query argument '%s' must be a decimal integer from 0 to %llu",
				    name, (unsigned long long)max);
	return rc;
}

void
jg_http_client_key(const struct jg_http_request *req, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    req->conn ? MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS)
		      : NULL;
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char text[INET6_ADDRSTRLEN];

	snprintf(out, len, "unknown");
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)))
			snprintf(out, len, "%s", text);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			if (inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof(text)))
				snprintf(out, len, "%s", text);
			return;
		}
		/* one host usually holds a whole /64: key by it, or it rotates its way past */
		memset(&a.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a, text, sizeof(text)))
			snprintf(out, len, "%s/64", text);
	}
}

const char *
jg_http_cookie(const struct jg_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

int
jg_http_form_field(const struct jg_http_request *req, const char *name, char *out, size_t outlen)
{
	oauth2_nv_list_t *params = NULL;
	const char *v;
	int rc = JG_ENOTFOUND;

	out[0] = '\0';
	if (req->body == NULL || req->body_len == 0 || strlen(req->body) != req->body_len)
		return JG_ENOTFOUND;
	if (!oauth2_parse_form_encoded_params(NULL, req->body, &params))
		return JG_ENOTFOUND;
	if ((v = oauth2_nv_list_get(NULL, params, name)) != NULL) {
		size_t n = strlen(v);
		rc = n >= outlen ? JG_ETOOBIG : !jg_utf8_valid(v, n) ? JG_EINVAL : 0;
		if (rc == 0)
			memcpy(out, v, n + 1);
	}
	oauth2_nv_list_free(NULL, params);
	return rc;
}

const char *
jg_http_param(const struct jg_http_request *req, const char *name)
{
	return jg_route_param(&req->route, name);
}

int
jg_http_body_json(const struct jg_http_request *req, struct jg_http_reply *reply, json_t **out)
{
	json_error_t jerr;
	json_t *doc;

	*out = NULL;
	if (req->body == NULL || req->body_len == 0) {
		jg_http_reply_error(reply, 400, "bad_request", "a JSON object body is required");
		return JG_EPARSE;
	}
	doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		jg_http_reply_error(reply, 400, "malformed_json",
				    "malformed JSON at line %d column %d: %s", jerr.line,
				    jerr.column, jerr.text);
		return JG_EPARSE;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		jg_http_reply_error(reply, 400, "bad_request", "the body must be a JSON object");
		return JG_EPARSE;
	}
	*out = doc;
	return 0;
}

/* ---- sending -------------------------------------------------------------- */

static int
has_header(const struct jg_http_reply *reply, const char *name)
{
	size_t i;
	json_t *pair;
	json_array_foreach(reply->headers, i, pair)
	{
		if (strcasecmp(json_string_value(json_array_get(pair, 0)), name) == 0)
			return 1;
	}
	return 0;
}

static enum MHD_Result
send_reply(struct req_state *st, struct MHD_Connection *conn, struct jg_http_reply *reply)
{
	static const struct {
		const char *name, *value;
	} defaults[] = {
	    {"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
	    {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
	    {"X-Content-Type-Options", "nosniff"},
	    {"X-Frame-Options", "DENY"},
	    {"Referrer-Policy", "no-referrer"},
	    {"Cache-Control", "no-store"},
	};
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (reply->status == 0)
		jg_http_reply_error(reply, 500, "internal_error", "the handler gave no reply");
	if (reply->body == NULL && reply->status != 204) {
		/* the error encoder failed: still answer, with a fixed body */
		static const char oom[] =
		    "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}";
		reply->status = 500;
		reply->content_type = "application/json";
		reply->body = strdup(oom);
		reply->body_len = reply->body ? strlen(oom) : 0;
	}
	resp = MHD_create_response_from_buffer(reply->body_len, reply->body ? reply->body : "",
					       reply->body ? MHD_RESPMEM_MUST_FREE
							   : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	reply->body = NULL; /* transferred to MHD */
	if (reply->content_type)
		MHD_add_response_header(resp, "Content-Type", reply->content_type);
	MHD_add_response_header(resp, "X-Request-Id", st->req.request_id);
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (!has_header(reply, defaults[i].name))
			MHD_add_response_header(resp, defaults[i].name, defaults[i].value);
	size_t i;
	json_t *pair;
	json_array_foreach(reply->headers, i, pair)
	{
		MHD_add_response_header(resp, json_string_value(json_array_get(pair, 0)),
					json_string_value(json_array_get(pair, 1)));
	}
	if (atomic_load_explicit(&st->srv->stopping, memory_order_acquire) || st->body_too_big)
		MHD_add_response_header(resp, "Connection", "close");
	ret = MHD_queue_response(conn, (unsigned)reply->status, resp);
	MHD_destroy_response(resp);
	st->status = reply->status;
	st->answered = 1;
	json_decref(reply->headers);
	reply->headers = NULL;
	return ret;
}

static enum MHD_Result refuse(struct req_state *st, struct MHD_Connection *conn, int status,
			      const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The connection's watchdog slot (NULL when untracked). */
static struct jg_deadline_slot *
conn_slot(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
	      enum MHD_ConnectionNotificationCode code)
{
	struct jg_server *srv = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context =
		    ci ? jg_deadline_open(srv->deadlines, ci->connect_fd, jg_deadline_now()) : NULL;
	} else {
		jg_deadline_close(srv->deadlines, *socket_context);
		*socket_context = NULL;
	}
}

static enum MHD_Result
refuse(struct req_state *st, struct MHD_Connection *conn, int status, const char *allow,
       const char *fmt, ...)
{
	struct jg_http_reply reply = {0};
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(message, sizeof(message), fmt, ap); /* a longer message is cut */
	va_end(ap);
	jg_http_reply_error(&reply, status, jg_http_status_code(status), "%s", message);
	if (allow != NULL)
		jg_http_reply_header(&reply, "Allow", allow);
	return send_reply(st, conn, &reply);
}

/* ---- MHD callbacks ---------------------------------------------------------- */

/*
 * Any client can make libmicrohttpd log (a bare TCP connect logs a TLS
 * handshake error), so its messages are rate-limited; the number dropped is
 * reported with the next message that gets through.
 */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static time_t window;
	static unsigned in_window, dropped;
	unsigned report_dropped;
	char msg[512];
	(void)cls;

	pthread_mutex_lock(&lock);
	time_t now = time(NULL);
	if (now != window) {
		window = now;
		in_window = 0;
	}
	if (++in_window > MHD_LOG_PER_SECOND) {
		dropped++;
		pthread_mutex_unlock(&lock);
		return;
	}
	report_dropped = dropped;
	dropped = 0;
	pthread_mutex_unlock(&lock);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a longer line is cut */
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	json_t *f = json_pack("{s:s}", "source", "libmicrohttpd");
	if (report_dropped > 0)
		json_object_set_new(f, "dropped_before", json_integer(report_dropped));
	jg_log(JG_LOG_WARN, msg, f);
	json_decref(f);
}

static void *
uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct jg_server *srv = cls;
	struct req_state *st = calloc(1, sizeof(*st));

	(void)conn;
	if (st == NULL)
		return NULL;
	st->srv = srv;
	st->target_len = strlen(uri);
	st->route_label = unmatched_label;
	clock_gettime(CLOCK_MONOTONIC, &st->start);
	/* unique and unpredictable (no request count shows through), at one hash per request */
	uint64_t n = __atomic_add_fetch(&srv->id_counter, 1, __ATOMIC_RELAXED);
	uint8_t rnd[32];
	if (jg_sha256_2(srv->id_key, sizeof(srv->id_key), &n, sizeof(n), rnd) != 0)
		memset(rnd, 0, sizeof(rnd));
	(void)jg_hex_encode(rnd, 16, st->req.request_id, 33);
	pthread_mutex_lock(&srv->lock);
	srv->inflight++;
	pthread_mutex_unlock(&srv->lock);
	return st;
}

struct header_sum {
	size_t bytes;
};

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct header_sum *sum = cls;
	(void)kind;
	sum->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
	return MHD_YES;
}

static int
is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	if (ct == NULL || strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return 0;
	ct += sizeof(want) - 1;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static enum MHD_Result
first_call(struct req_state *st, struct MHD_Connection *conn, const char *url, const char *method)
{
	const struct jg_limits *lim = &st->srv->cfg->limits;
	struct header_sum sum = {0};

	st->started = 1;
	snprintf(st->method, sizeof(st->method), "%s", method);
	st->req.method = st->method;
	st->req.path = url;
	st->req.conn = conn;
	st->req.server = st->srv;
	st->req.app = st->srv->app;

	if (st->target_len > (size_t)lim->max_url_bytes)
		return refuse(st, conn, 414, NULL, "the request target is longer than %lld bytes",
			      (long long)lim->max_url_bytes);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &sum);
	if (sum.bytes > (size_t)lim->max_header_bytes)
		return refuse(st, conn, 431, NULL, "request headers exceed %lld bytes",
			      (long long)lim->max_header_bytes);

	switch (jg_router_match(st->srv->router, method, url, &st->req.route)) {
	case JG_ROUTE_NO_PATH: return refuse(st, conn, 404, NULL, "no such endpoint");
	case JG_ROUTE_NO_METHOD: {
		char allow[sizeof(st->req.route.allow)];
		memcpy(allow, st->req.route.allow, sizeof(allow));
		return refuse(st, conn, 405, allow, "method %s is not allowed here; allowed: %s",
			      strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ||
				      strcmp(method, "DELETE") == 0 || strcmp(method, "PUT") == 0 ||
				      strcmp(method, "PATCH") == 0 || strcmp(method, "HEAD") == 0 ||
				      strcmp(method, "OPTIONS") == 0
				  ? method
				  : "(other)",
			      allow);
	}
	case JG_ROUTE_FOUND: break;
	}
	st->route_label = st->req.route.route->pattern;

	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
	int has_body = te != NULL;
	if (cl != NULL) {
		uint64_t n;
		if (jg_parse_u64(cl, 0, (uint64_t)lim->max_body_bytes, &n) != 0) {
			st->body_too_big = 1;
			return refuse(st, conn, 413, NULL, "the body is larger than %lld bytes",
				      (long long)lim->max_body_bytes);
		}
		has_body = has_body || n > 0;
	}
	const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	if (has_body && (st->req.route.flags & JG_ROUTE_JSON_BODY) && !is_json_type(ctype))
		return refuse(st, conn, 415, NULL, "the body must be application/json");
	if (has_body && (st->req.route.flags & JG_ROUTE_FORM_BODY) &&
	    (ctype == NULL || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0))
		return refuse(st, conn, 415, NULL,
			      "the body must be application/x-www-form-urlencoded");
	return MHD_YES;
}

/* ---- suspension ---------------------------------------------------------------- */

static void
resume(struct req_state *st)
{
	struct jg_server *srv = st->srv; /* st may be freed once resumed */
	MHD_resume_connection(st->req.conn);
	__atomic_sub_fetch(&srv->suspended, 1, __ATOMIC_ACQ_REL);
}

/* On the event loop, from on_request: no more calls until the work is over. */
static void
suspend(struct req_state *st, struct MHD_Connection *conn)
{
	__atomic_add_fetch(&st->srv->suspended, 1, __ATOMIC_ACQ_REL);
	MHD_suspend_connection(conn);
}

/* After suspend() and after the work was started: resumes if the work is already over. */
static void
arm_resume(struct req_state *st)
{
	if (__atomic_fetch_or(&st->handshake, HS_SUSPENDED, __ATOMIC_ACQ_REL) & HS_DONE)
		resume(st);
}

static void
work_done(struct req_state *st)
{
	if (__atomic_fetch_or(&st->handshake, HS_DONE, __ATOMIC_ACQ_REL) & HS_SUSPENDED)
		resume(st);
}

int
jg_http_defer(struct jg_http_request *req, void *state, void (*free_fn)(void *))
{
	if (!req->may_defer || req->deferring)
		return JG_EINVAL;
	req->deferring = 1;
	req->pending = state;
	req->pending_free = free_fn;
	return 0;
}

void
jg_http_resume(struct jg_http_request *req)
{
	work_done((struct req_state *)req);
}

/* A worker thread: the handler, into st->reply; then the event loop sends it. */
static void
run_on_worker(struct jg_workq_task *task)
{
	struct req_state *st =
	    (struct req_state *)((char *)task - offsetof(struct req_state, task));
	st->req.route.route->handler(&st->req, &st->reply);
	work_done(st);
}

/*
 * The handler on the event loop.  If it defers, the connection waits
 * suspended and the handler is called once more (first == 0) to finish.
 */
static enum MHD_Result
run_inline(struct req_state *st, struct MHD_Connection *conn, int first)
{
	struct jg_http_reply reply = {0};

	st->req.may_defer = first;
	st->req.deferring = 0;
	/* cleared before the handler: the work it starts may end before it returns */
	__atomic_store_n(&st->handshake, 0, __ATOMIC_RELEASE);
	st->req.route.route->handler(&st->req, &reply);
	st->req.may_defer = 0;
	if (st->req.deferring) {
		free(reply.body);
		json_decref(reply.headers);
		st->phase = PHASE_DEFERRED;
		suspend(st, conn);
		arm_resume(st);
		return MHD_YES;
	}
	enum MHD_Result ret = send_reply(st, conn, &reply);
	free(reply.body);
	json_decref(reply.headers);
	return ret;
}

/* On the event loop: CPU only, or the store too when it answers in-process. */
static bool
runs_inline(const struct jg_server *srv, unsigned flags)
{
	if ((flags & JG_ROUTE_INLINE) == 0)
		return false;
	return (flags & JG_ROUTE_STORE) == 0 || srv->store_in_process;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct req_state *st = *req_cls;
	(void)cls;
	(void)version;

	if (st == NULL)
		return MHD_NO; /* out of memory in uri_logger: drop the connection */
	if (!st->started)
		return first_call(st, conn, url, method);
	if (st->answered) { /* refused early: discard whatever body follows */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (st->body_too_big)
			return MHD_YES;
		if (st->body_len + n > (size_t)st->srv->cfg->limits.max_body_bytes) {
			st->body_too_big = 1;
			free(st->body);
			st->body = NULL;
			st->body_len = st->body_cap = 0;
			return MHD_YES;
		}
		if (st->body_len + n + 1 > st->body_cap) {
			size_t cap = st->body_cap ? st->body_cap : 4096;
			while (cap < st->body_len + n + 1)
				cap *= 2;
			char *grown = realloc(st->body, cap);
			if (grown == NULL)
				return MHD_NO;
			st->body = grown;
			st->body_cap = cap;
		}
		memcpy(st->body + st->body_len, upload_data, n);
		st->body_len += n;
		st->body[st->body_len] = '\0';
		return MHD_YES;
	}
	if (st->body_too_big)
		return refuse(st, conn, 413, NULL, "the body is larger than %lld bytes",
			      (long long)st->srv->cfg->limits.max_body_bytes);

	switch (st->phase) {
	case PHASE_NEW: break;
	case PHASE_WORKER:
		__atomic_load_n(&st->handshake, __ATOMIC_ACQUIRE); /* the worker's writes */
		return send_reply(st, conn, &st->reply);
	case PHASE_DEFERRED:
		__atomic_load_n(&st->handshake, __ATOMIC_ACQUIRE);
		return run_inline(st, conn, 0);
	}
	st->req.body = st->body;
	st->req.body_len = st->body_len;
	st->req.received_at = jg_clock_now();
	/* the request is in: its handler may take its time (the store), the client may not */
	jg_deadline_disarm(st->srv->deadlines, conn_slot(conn));
	if (runs_inline(st->srv, st->req.route.flags))
		return run_inline(st, conn, 1);
	st->phase = PHASE_WORKER;
	st->task.run = run_on_worker;
	__atomic_store_n(&st->handshake, 0, __ATOMIC_RELEASE);
	suspend(st, conn);
	arm_resume(st);
	jg_workq_submit((st->req.route.flags & JG_ROUTE_STORE) && st->srv->store_workers
			    ? st->srv->store_workers
			    : st->srv->workers,
			&st->task);
	return MHD_YES;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct jg_server *srv = cls;
	struct req_state *st = *req_cls;
	struct timespec now;

	if (st == NULL)
		return;
	*req_cls = NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double secs = (double)(now.tv_sec - st->start.tv_sec) +
		      (double)(now.tv_nsec - st->start.tv_nsec) / 1e9;
	if (st->started)
		jg_metrics_observe(srv->metrics, st->method, st->route_label,
				   st->answered ? st->status : 0, secs);
	/* a kept-alive connection has as long again for its next request */
	if (conn != NULL)
		jg_deadline_arm(srv->deadlines, conn_slot(conn), jg_deadline_now());
	if (st->started && jg_log_enabled(JG_LOG_INFO)) {
		int status = st->answered ? st->status : 0;
		json_t *f = json_pack("{s:s,s:s,s:s,s:i,s:f,s:b}", "request_id", st->req.request_id,
				      "method", st->method, "route", st->route_label, "status",
				      status, "latency_ms", secs * 1000.0, "completed",
				      toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
		jg_log(JG_LOG_INFO, "request", f);
		json_decref(f);
	}
	if (st->req.pending_free != NULL)
		st->req.pending_free(st->req.pending);
	free(st->reply.body);
	json_decref(st->reply.headers);
	free(st->body);
	free(st);
	pthread_mutex_lock(&srv->lock);
	srv->inflight--;
	pthread_cond_broadcast(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
}

/* ---- life cycle ---------------------------------------------------------- */

int
jg_server_new(const struct jg_config *cfg, struct jg_router *router, void *app,
	      struct jg_server **out, char *err, size_t errlen)
{
	struct jg_server *srv = calloc(1, sizeof(*srv));
	int rc;

	*out = NULL;
	if (srv == NULL)
		return JG_ENOMEM;
	srv->cfg = cfg;
	srv->router = router;
	srv->app = app;
	atomic_init(&srv->stopping, 0);
	/* before anything jg_server_free would undo: it destroys these two */
	if (pthread_mutex_init(&srv->lock, NULL) != 0) {
		free(srv);
		return JG_ENOMEM;
	}
	if (jg_clock_cond_init(&srv->idle) != 0) { /* CLOCK_MONOTONIC: the shutdown's waits */
		pthread_mutex_destroy(&srv->lock);
		free(srv);
		return JG_ENOMEM;
	}
	srv->metrics = jg_metrics_new();
	if (jg_random_bytes(srv->id_key, sizeof(srv->id_key)) != 0) {
		rc = JG_ECRYPTO;
		goto fail;
	}
	srv->deadlines = jg_deadline_new((size_t)cfg->limits.max_connections + 16,
					 cfg->limits.request_timeout * 1000);
	if (srv->metrics == NULL || srv->deadlines == NULL) {
		rc = JG_ENOMEM;
		goto fail;
	}
	rc = jg_file_read(cfg->tls_cert_file, MAX_PEM_BYTES, false, &srv->cert_pem, &srv->cert_len,
			  err, errlen);
	if (rc != 0)
		goto fail;
	rc = jg_file_read(cfg->tls_key_file, MAX_PEM_BYTES, true, &srv->key_pem, &srv->key_len, err,
			  errlen);
	if (rc != 0)
		goto fail;
	*out = srv;
	return 0;
fail:
	jg_server_free(srv);
	return rc;
}

void
jg_server_set_store_in_process(struct jg_server *srv, bool in_process)
{
	srv->store_in_process = in_process;
}

int
jg_server_start(struct jg_server *srv, char *err, size_t errlen)
{
	const struct jg_config *cfg = srv->cfg;
	struct sockaddr_in6 a6 = {0};
	struct sockaddr_in a4 = {0};
	struct sockaddr *addr;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
			     MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	/* by default one event loop per CPU but one: the audit writer needs a CPU of its own */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int loops = (unsigned int)cfg->limits.event_threads;
	if (loops == 0)
		loops = cpus <= 2 ? 1 : cpus > 64 ? 63 : (unsigned int)cpus - 1;

	if (inet_pton(AF_INET, cfg->listen_host, &a4.sin_addr) == 1) {
		a4.sin_family = AF_INET;
		a4.sin_port = htons(cfg->listen_port);
		addr = (struct sockaddr *)&a4;
	} else if (inet_pton(AF_INET6, cfg->listen_host, &a6.sin6_addr) == 1) {
		a6.sin6_family = AF_INET6;
		a6.sin6_port = htons(cfg->listen_port);
		addr = (struct sockaddr *)&a6;
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "listen address %s is not numeric", cfg->listen_host);
		return JG_EINVAL;
	}
	/* one loop is the internal polling thread itself: a pool of one is refused with a warning
	 */
	struct MHD_OptionItem pool[] = {
	    {loops > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, loops, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	if (jg_workq_new((int)cfg->limits.worker_threads, &srv->workers) != 0 ||
	    (!srv->store_in_process &&
	     jg_workq_new((int)cfg->limits.worker_threads, &srv->store_workers) != 0)) {
		snprintf(err, errlen, "cannot start %lld worker threads",
			 (long long)cfg->limits.worker_threads);
		return JG_ENOMEM;
	}
	srv->daemon = MHD_start_daemon(
	    flags, cfg->listen_port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
	    mhd_logger, srv, MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_HTTPS_MEM_CERT, srv->cert_pem,
	    MHD_OPTION_HTTPS_MEM_KEY, srv->key_pem, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
	    MHD_OPTION_URI_LOG_CALLBACK, uri_logger, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	    srv, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->limits.max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->limits.connection_timeout,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)cfg->limits.max_connections_per_address, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, srv, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(cfg->limits.max_header_bytes + cfg->limits.max_url_bytes + MHD_POOL_HEADROOM),
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_ARRAY, pool,
	    MHD_OPTION_END);
	if (srv->daemon == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%u (in use, or bad certificate or key)",
			 cfg->listen_host, cfg->listen_port);
		return JG_EIO;
	}
	if (jg_deadline_start(srv->deadlines) != 0) {
		snprintf(err, errlen, "cannot start the slow-client watchdog");
		return JG_ENOMEM;
	}
	return 0;
}

int
jg_server_stop(struct jg_server *srv, int grace_seconds)
{
	struct timespec deadline;
	int left;

	if (srv->daemon == NULL)
		return 0;
	/* from now on every reply closes its connection */
	atomic_store_explicit(&srv->stopping, 1, memory_order_release);
	MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	jg_clock_deadline(&deadline, (int64_t)grace_seconds * 1000);
	pthread_mutex_lock(&srv->lock);
	/*
	 * A kept-alive connection may start one more request after `stopping`
	 * (its reply then closes it), so idle must hold for a moment before
	 * the daemon is stopped.
	 */
	for (int quiet_rounds = 0; quiet_rounds < 3;) {
		while (srv->inflight > 0) {
			quiet_rounds = 0;
			if (pthread_cond_timedwait(&srv->idle, &srv->lock, &deadline) == ETIMEDOUT)
				goto timed_out;
		}
		struct timespec settle;
		jg_clock_deadline(&settle, 50);
		pthread_cond_timedwait(&srv->idle, &srv->lock, &settle);
		if (srv->inflight == 0)
			quiet_rounds++;
	}
timed_out:
	left = srv->inflight;
	pthread_mutex_unlock(&srv->lock);
	/*
	 * libmicrohttpd must not be stopped with a connection suspended (it
	 * aborts): the work each one waits for - a handler bounded by its own
	 * timeouts, an audit batch - is let finish, even past the grace.
	 */
	for (int waited_ms = 0; __atomic_load_n(&srv->suspended, __ATOMIC_ACQUIRE) > 0;
	     waited_ms += 10) {
		if (waited_ms > 0 && waited_ms % 5000 == 0)
			jg_log(JG_LOG_WARN, "shutdown: waiting for handlers still running", NULL);
		struct timespec ten_ms = {0, 10 * 1000 * 1000};
		nanosleep(&ten_ms, NULL);
	}
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	jg_workq_free(srv->workers);
	srv->workers = NULL;
	jg_workq_free(srv->store_workers);
	srv->store_workers = NULL;
	return left;
}

void
jg_server_free(struct jg_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	jg_workq_free(srv->workers);
	jg_workq_free(srv->store_workers);
	free(srv->cert_pem);
	jg_file_free_secret(srv->key_pem, srv->key_len);
	jg_metrics_free(srv->metrics);
	jg_deadline_free(srv->deadlines);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->idle);
	free(srv);
}

char *
jg_server_metrics_text(struct jg_server *srv)
{
	char *text = jg_metrics_render(srv->metrics), *all = NULL;
	if (text == NULL ||
	    asprintf(&all,
		     "%s# HELP jitgate_slow_connections_cut_total Connections shut down for not "
		     "delivering a request within limits.request_timeout.\n"
		     "# TYPE jitgate_slow_connections_cut_total counter\n"
		     "jitgate_slow_connections_cut_total %llu\n",
		     text, jg_deadline_cut_total(srv->deadlines)) < 0)
		all = NULL;
	free(text);
	return all;
}
