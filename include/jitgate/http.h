/*
 * http.h - the HTTPS server: requests, replies, handlers.
 *
 * libmicrohttpd (with GnuTLS) carries the bytes; this module adds what a
 * security product needs around it: TLS 1.2+ only, hard caps on URL,
 * headers, body and connections with JSON refusals, a request id on every
 * reply and log line, security headers, JSON errors, per-route metrics, and
 * a graceful stop that lets in-flight requests finish.
 *
 * A handler (jg_route_fn, router.h) gets a parsed request and fills a
 * reply; req->route.route is the route table entry that matched, with the
 * constant arg that tells apart the routes sharing a handler.  A few
 * event-loop threads carry every connection; a handler runs on a worker
 * thread (it may block: the store, the identity provider), unless its route
 * is JG_ROUTE_INLINE: then it runs on the event loop itself and must never
 * wait on the network.  A JG_ROUTE_INLINE | JG_ROUTE_STORE route reads the
 * store: inline only where the store is in-process, else on a pool of
 * workers of its own (jg_server_set_store_in_process).  An inline handler that has to wait for
 * another thread (the guard, for its durable audit entry) defers: the connection is suspended, its
 * thread serves other connections, and the handler is called once more when the wait is over (see
 * jg_http_defer).
 */
#ifndef JITGATE_HTTP_H
#define JITGATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/config.h"
#include "jitgate/router.h"

struct jg_server;
struct MHD_Connection;

struct jg_http_request {
	const char *method;
	const char *path;
	char request_id[33];
	struct jg_route_match route; /* route.route: the table entry (its arg, flags, pattern) */
	const char *body;	     /* NUL-terminated; NULL when there is none */
	size_t body_len;
	struct jg_server *server;
	struct MHD_Connection *conn;
	void *app;	     /* the application context given to jg_server_new() */
	int64_t received_at; /* jitgate's clock when the request was in: its "now" for arguments */
	/* deferral (jg_http_defer): set by the server and the deferring module */
	int may_defer;		      /* the handler runs on the event loop */
	int deferring;		      /* the handler deferred: no reply yet */
	void *pending;		      /* the deferring module's state for the second call */
	void (*pending_free)(void *); /* frees pending with the request */
};

struct jg_http_reply {
	int status;
	const char *content_type; /* static string */
	char *body;		  /* owned; freed by the server */
	size_t body_len;
	json_t *headers; /* owned: extra headers, [[name, value], ...] */
};

/* A request header, or NULL.  Names are case-insensitive. */
const char *jg_http_header(const struct jg_http_request *req, const char *name);
/* A decoded query-string argument, or NULL. */
const char *jg_http_query(const struct jg_http_request *req, const char *name);
/*
 * Every value of the query argument name, in the order of the query string
 * (a repeated argument: ?attr=a&attr=b): vals[i] (decoded, borrowed from
 * the request; "" for an argument without "=") and lens[i], its length in
 * bytes - a decoded %00 makes it longer than strlen().  At most max are
 * stored; *n gets how many.  Returns 0, or JG_ETOOBIG when the argument
 * occurs more than max times.
 */
int jg_http_query_all(const struct jg_http_request *req, const char *name, const char **vals,
		      size_t *lens, size_t max, size_t *n);
/*
 * Calls fn for each query argument, in the order of the query string: its
 * name, its decoded value ("" for an argument without "=") and the value's
 * length in bytes (a decoded %00 makes it longer than strlen()).  Stops
 * at the first fn that returns nonzero.
 */
void jg_http_query_each(const struct jg_http_request *req,
			int (*fn)(void *ctx, const char *name, const char *value, size_t len),
			void *ctx);
/*
 * Reads query argument name as a decimal integer in [0, max], one spelling
 * per value (no leading zeros).  Absent: *out = def, returns 0.  Malformed
 * or out of range: JG_EINVAL, and nothing is replied (the caller says why).
 */
int jg_http_query_u64_value(const struct jg_http_request *req, const char *name, uint64_t def,
			    uint64_t max, uint64_t *out);
/* jg_http_query_u64_value() that fills reply with a 400 naming the argument when it fails. */
int jg_http_query_u64(const struct jg_http_request *req, struct jg_http_reply *reply,
		      const char *name, uint64_t def, uint64_t max, uint64_t *out);
/*
 * The client's address as the key of its rate limits: dotted IPv4 (also for
 * an IPv4-mapped IPv6 address), or the /64 of an IPv6 address
 * ("2001:db8:1:2::/64").  "unknown" when the connection does not say.
 */
void jg_http_client_key(const struct jg_http_request *req, char *out, size_t len);
/* A cookie of the request, or NULL. */
const char *jg_http_cookie(const struct jg_http_request *req, const char *name);
/*
 * A field of a urlencoded form body, copied into out (outlen bytes).
 * Returns 0, JG_ENOTFOUND, JG_ETOOBIG or JG_EINVAL (its bytes, once
 * decoded, are not UTF-8: "%FF" - no text jitgate can record or show);
 * on failure out is "".
 */
int jg_http_form_field(const struct jg_http_request *req, const char *name, char *out,
		       size_t outlen);
/* A {placeholder} of the matched route, or NULL. */
const char *jg_http_param(const struct jg_http_request *req, const char *name);

/*
 * Parses the body as one JSON object (duplicate keys refused).  On failure
 * fills reply with a 400 and returns JG_EPARSE; *out is the caller's.
 */
int jg_http_body_json(const struct jg_http_request *req, struct jg_http_reply *reply, json_t **out);

/*
 * Deferral, for an inline handler that must wait for another thread: it
 * calls jg_http_defer(req, state, free_fn), starts the work, and returns
 * without a reply; the work calls jg_http_resume(req) exactly once, from any
 * thread, when it is over.  The server then calls the same handler again,
 * with req->pending == state, to finish (so what the handler does before it
 * defers must depend on the request alone: req->received_at, not the
 * clock).  Returns JG_EINVAL where the request cannot defer (a worker
 * thread): the caller then waits where it is.
 */
int jg_http_defer(struct jg_http_request *req, void *state, void (*free_fn)(void *));
void jg_http_resume(struct jg_http_request *req);

/* Sets a JSON reply; body is stolen (decref'd by this call). */
void jg_http_reply_json(struct jg_http_reply *reply, int status, json_t *body);
/* Sets {"error":{"code":code,"message":...}} with status. */
void jg_http_reply_error(struct jg_http_reply *reply, int status, const char *code, const char *fmt,
			 ...) __attribute__((format(printf, 4, 5)));
/* Sets a text reply (body copied). */
void jg_http_reply_text(struct jg_http_reply *reply, int status, const char *content_type,
			const char *text, size_t len);
/* A redirect (302/303) to location, with an empty body. */
void jg_http_reply_redirect(struct jg_http_reply *reply, int status, const char *location);
/* A small HTML page (title and message are escaped) for browser-facing errors. */
void jg_http_reply_html_message(struct jg_http_reply *reply, int status, const char *title,
				const char *message);
/* Escapes text for HTML element content and attribute values (caller frees). */
char *jg_html_escape(const char *text);
/* Adds a header to the reply (both copied); a name may repeat (Set-Cookie). */
void jg_http_reply_header(struct jg_http_reply *reply, const char *name, const char *value);

/* The JSON error body for status/code/message, as a string the caller frees. */
char *jg_http_error_body(const char *code, const char *message);
/* The error code name for an HTTP status ("not_found" for 404). */
const char *jg_http_status_code(int status);
/*
 * The HTTP status for a module's result rc (0 or a JG_E* code of error.h),
 * with its error code name in *code (static): the table "A failure inside
 * jitgate" of docs/api.md.  JG_ELIMITED is 429 (the caller adds
 * Retry-After), JG_EUNAVAIL and JG_ERETRY 503, a code with no meaning for
 * a client (JG_ESTORE, JG_ENOMEM, ...) 500.
 */
int jg_http_status_of(int rc, const char **code);

/*
 * Creates a server for cfg (borrowed; must outlive it) routing through
 * router (borrowed).  app is handed to every handler.  Reads the TLS
 * certificate and key (the key as a secret file).  On failure writes a
 * reason to err.
 */
int jg_server_new(const struct jg_config *cfg, struct jg_router *router, void *app,
		  struct jg_server **out, char *err, size_t errlen);

/*
 * Whether the store answers in-process (SQLite: a read costs microseconds of
 * CPU) or across the network (PostgreSQL: a read waits a round trip).  Only
 * with an in-process store do JG_ROUTE_INLINE | JG_ROUTE_STORE handlers run
 * on the event loops; otherwise they run on limits.worker_threads workers
 * of their own, apart from the others (which may wait on the identity
 * provider).  The default is false.  Set before jg_server_start.
 */
void jg_server_set_store_in_process(struct jg_server *srv, bool in_process);

/* Starts listening.  Returns 0 or JG_EIO with err filled. */
int jg_server_start(struct jg_server *srv, char *err, size_t errlen);

/*
 * Stops accepting connections, waits up to grace_seconds for in-flight
 * requests to finish, then closes everything.  Returns the number of
 * requests still running when the grace ran out (0 on a clean stop).
 */
int jg_server_stop(struct jg_server *srv, int grace_seconds);

void jg_server_free(struct jg_server *srv);

/* Prometheus text exposition of the server's request metrics (caller frees). */
char *jg_server_metrics_text(struct jg_server *srv);

#endif
