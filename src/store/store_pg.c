/*
 * store_pg.c - the PostgreSQL engine behind store.h, on libpq.
 *
 * A store is a URL and a pool of JG_STORE_POOL_SIZE libpq connections, the
 * first made at open and the others at first use.  The URL is checked
 * before anything connects (checked_url): only postgres:// URIs, no password
 * in them, no service file, and TLS with full verification unless every
 * host is loopback - judged on the options libpq would really use, so
 * environment variables cannot route a connection elsewhere.  A password
 * comes from libpq's passfile or from a password file read at open.
 *
 * Statements keep the callers' SQLite-style SQL: '?' and '?NNN' become $n
 * once, when a statement enters a connection's cache (rewrite), and the
 * statement is prepared on the server at its first step, with parameter
 * types taken from the binds (int8, float8, bytea; unknown for text and
 * NULL so the server infers them, text where it cannot).  Each statement is
 * its own allocation, found by the address of the caller's literal, so
 * evicting one never moves another.  A step fetches the whole result (the
 * connection is then free for other statements while the caller iterates);
 * a scan statement fetches JG_STORE_SCAN_BATCH rows at a time through a
 * cursor.  Round trips are what a guarded call pays most for, so a read
 * transaction's BEGIN, a scan's DECLARE and first FETCH, and the CLOSE of
 * cursors done with travel together with the next statement, in one
 * pipeline (execute_pipelined); a transaction's end closes its cursors.  A read batch
 * (store.h) sends several reads in one such pipeline and hands each its result for the
 * caller's steps.  Values go out as text (blobs as binary) and come back as text; the getters
 * convert.
 *
 * Errors map by SQLSTATE (fail): constraint -> JG_ECONFLICT, serialization
 * failure and deadlock -> JG_ERETRY, privilege -> JG_EDENIED, a lost
 * connection or a read-only server -> JG_EUNAVAIL and the connection is
 * marked broken.  A broken or closed connection is replaced at the next
 * acquire, never in the middle of a caller's work, and failed reconnections
 * back off from 0.1 s to 5 s for the whole store.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libpq-fe.h>

#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/store.h"
#include "store_int.h"

#define STMT_CACHE     JG_STORE_STMT_CACHE
#define MAX_PARAM      32766 /* SQLite's highest ?NNN */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PASSWORD_MAX   1024
#define SAVEPOINT_PREP "jg_store_prepare"

/* Type OIDs of the pg_type catalog (fixed since PostgreSQL 7). */
#define OID_UNKNOWN 0
#define OID_BOOL    16
#define OID_BYTEA   17
#define OID_INT8    20
#define OID_TEXT    25
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

enum bind_kind { BIND_NULL = 0, BIND_TEXT, BIND_BLOB, BIND_INT, BIND_DOUBLE };

struct param {
	enum bind_kind kind;
	char *buf; /* text (NUL-terminated) or blob bytes; owned, reused */
	size_t cap, len;
	char num[32]; /* an int64 or double as text */
};

/* A decoded bytea cell of the current row (NUL-terminated copy). */
struct cell {
	char *data;
	size_t len;
};

struct pg_stmt {
	const struct jg_store_ops *ops; /* first: store.c dispatches on it */
	struct pg_conn *conn;
	const char *key; /* the caller's literal: the cache key */
	bool scan;
	char *sql; /* rewritten ($n); for a scan the DECLARE of its cursor */
	char name[32], cursor[32];
	int nparams;
	struct param *params;
	Oid *types;	     /* the types it was prepared with */
	uint64_t prep_gen;   /* the connection generation it was prepared in (0: never) */
	const char **values; /* scratch for PQexecPrepared */
	int *lengths, *formats;
	Oid *want;
	PGresult *res; /* the rows being iterated */
	int64_t res_bytes;
	int row, nrows, ncols;
	struct cell *cells; /* ncols decoded bytea cells of the current row */
	int ncells;
	bool cursor_open, eof;
	bool primed; /* res holds a read batch's result: the next step starts on it */
	uint64_t cursor_epoch;
	bool held;	/* between prepare and finish */
	uint64_t used;	/* LRU tick */
	int pipe_refs;	/* queued in the running pipeline: never evicted until it ends */
	bool pipe_prep; /* its Parse is queued in the running pipeline (types: types) */
};

/* What a pipeline sent, in order: the result each one waits for. */
enum pipe_kind { PIPE_BEGIN, PIPE_PARSE, PIPE_EXEC, PIPE_COMMIT };

struct pipe_item {
	enum pipe_kind kind;
	struct pg_stmt *s; /* PIPE_PARSE, PIPE_EXEC */
};

struct pg_conn {
	const struct jg_store_ops *ops; /* first: store.c dispatches on it */
	struct pg_store *store;
	PGconn *pg;
	bool in_use, broken, read_only_tx;
	/* a read transaction begun and not yet sent: it goes with its first statement */
	const char *begin_sql;
	/* cursors done with in transaction closing_epoch: closed by the next message sent */
	char closing[STMT_CACHE][32];
	int nclosing;
	uint64_t closing_epoch;
	uint64_t gen;	/* +1 per connection made: statements prepared before are gone */
	uint64_t epoch; /* +1 per transaction end seen: its cursors are gone */
	unsigned names; /* counter for statement and cursor names */
	struct pg_stmt *cache[STMT_CACHE];
	int ncache;
	int nheld; /* statements between prepare and finish */
	uint64_t tick;
	int changes;
	int64_t version; /* data_version */
	char *snapshot;	 /* pg_current_snapshot() at the last data_version */
	char errmsg[256];
	/* a pipeline (jg_store_pipeline_begin): what was sent, and the first failure to send */
	bool in_pipeline;
	int pipe_rc;
	struct pipe_item *pipe;
	int npipe, pipecap;
};

struct pg_store {
	const struct jg_store_ops *ops; /* first: store.c dispatches on it */
	char *url;
	char *password; /* from password_file, or NULL; wiped at close */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int backoff_ms;		      /* 0 while connecting works */
	struct timespec next_attempt; /* CLOCK_MONOTONIC; no reconnection before it */
	struct pg_conn conns[JG_STORE_POOL_SIZE];
};

static const struct jg_store_ops pg_ops;
static int64_t held_bytes; /* results held by statements, all stores (atomic) */

#define STMT(p)	 ((struct pg_stmt *)(void *)(p))
#define CONN(p)	 ((struct pg_conn *)(void *)(p))
#define STORE(p) ((struct pg_store *)(void *)(p))

/* ---- the URL ------------------------------------------------------------- */

static bool
loopback_host(const char *h, size_t n)
{
	char buf[64];
	unsigned char addr[16];

	if (n == 0 || h[0] == '/' || h[0] == '@') /* default or a unix socket */
		return true;
	if (n >= sizeof(buf))
		return false;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (strcasecmp(buf, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, buf, addr) == 1)
		return addr[0] == 127;
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		static const unsigned char one[16] = {[15] = 1};
		static const unsigned char v4mapped[12] = {[10] = 0xff, [11] = 0xff};
		return memcmp(addr, one, 16) == 0 ||
		       (memcmp(addr, v4mapped, 12) == 0 && addr[12] == 127);
	}
	return false;
}

/* The n-th entry of a comma-separated libpq list ("" past its end). */
static const char *
list_item(const char *list, int n, size_t *len)
{
	const char *p = list ? list : "";
	for (int i = 0; i < n; i++) {
		p = strchr(p, ',');
		if (p == NULL) {
			*len = 0;
			return "";
		}
		p++;
	}
	*len = strcspn(p, ",");
	return p;
}

static int
list_count(const char *list)
{
	int n = 1;
	for (const char *p = list ? list : ""; *p; p++)
		n += *p == ',';
	return n;
}

static const char *
option(const PQconninfoOption *opts, const char *key)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0)
			return o->val;
	return NULL;
}

/* The URL's value of key, else what libpq would take from the environment. */
static const char *
effective(const PQconninfoOption *url, const PQconninfoOption *defaults, const char *key)
{
	const char *v = option(url, key);
	return v != NULL && *v != '\0' ? v : option(defaults, key);
}

/*
 * The rules of store.h, on the URL as libpq parses it.  A password is
 * looked for in the text first, so that no error message (libpq's ones
 * quote pieces of a URL they cannot parse) ever carries one.
 */
static int
checked_url(const char *url, char *err, size_t errlen)
{
	const char *auth = url + strcspn(url, ":") + 3;
	size_t hostpart = strcspn(auth, "/?");
	const char *at = memchr(auth, '@', hostpart);
	PQconninfoOption *opts = NULL, *defaults = NULL;
	char *msg = NULL;
	int rc = JG_EINVAL;

	if ((at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL) ||
	    strstr(url, "password=") != NULL) {
		snprintf(err, errlen,
			 "a password in the database URL is refused: use libpq's passfile "
			 "(~/.pgpass) or database.password_file");
		return JG_EINVAL;
	}
	if ((opts = PQconninfoParse(url, &msg)) == NULL) {
		snprintf(err, errlen, "not a valid PostgreSQL URI: %s",
			 msg ? msg : "out of memory");
		goto out;
	}
	if (option(opts, "password") != NULL) {
		snprintf(err, errlen, "a password in the database URL is refused");
		goto out;
	}
	if (option(opts, "service") != NULL) {
		snprintf(err, errlen,
			 "service= is refused: write the hosts and options in the URL itself");
		goto out;
	}
	if ((defaults = PQconndefaults()) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = JG_ENOMEM;
		goto out;
	}
	const char *hosts = effective(opts, defaults, "host");
	const char *addrs = effective(opts, defaults, "hostaddr");
	const char *sslmode = effective(opts, defaults, "sslmode");
	int n = list_count(hosts), na = list_count(addrs);
	bool local = true;
	for (int i = 0; i < (n > na ? n : na); i++) {
		size_t hl, al;
		const char *h = list_item(hosts, i, &hl), *a = list_item(addrs, i, &al);
		if (!(al > 0 ? loopback_host(a, al) : loopback_host(h, hl)))
			local = false;
	}
	if (!local && (sslmode == NULL || strcmp(sslmode, "verify-full") != 0)) {
		snprintf(err, errlen,
			 "a database host that is not loopback needs sslmode=verify-full in the "
			 "URL (the server's certificate and name checked)");
		goto out;
	}
	rc = 0;
out:
	PQfreemem(msg);
	PQconninfoFree(opts);
	PQconninfoFree(defaults);
	return rc;
}

int
jg_store_pg_check_url(const char *url, char *err, size_t errlen)
{
	return checked_url(url, err, errlen);
}

int
jg_store_pg_is_conninfo(const char *s)
{
	char *msg = NULL;
	PQconninfoOption *o = strchr(s, '=') ? PQconninfoParse(s, &msg) : NULL;
	PQfreemem(msg);
	PQconninfoFree(o);
	return o != NULL;
}

/* ---- placeholders -------------------------------------------------------- */

static bool
ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

static bool
tag_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80 ||
	       (!first && isdigit((unsigned char)c));
}

/* The end of the quoted text starting at p (a quote char q), with doubled q kept inside. */
static const char *
skip_quoted(const char *p, char q, bool backslash)
{
	for (p++; *p; p++) {
		if ((backslash && *p == '\\' && p[1] != '\0') || (*p == q && p[1] == q))
			p++; /* an escaped character or a doubled quote: both stay inside */
		else if (*p == q)
			return p + 1;
	}
	return p;
}

/* The end of the token at p if it is a literal, identifier or comment; else p. */
static const char *
skip_opaque(const char *sql, const char *p)
{
	bool after_ident = p > sql && ident_char(p[-1]);

	if (*p == '\'') {
		/* E'...' takes backslash escapes: E not itself the end of a longer name */
		bool e = p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
			 (p - 1 == sql || !ident_char(p[-2]));
		return skip_quoted(p, '\'', e);
	}
	if (*p == '"')
		return skip_quoted(p, '"', false);
	if (p[0] == '-' && p[1] == '-')
		return p + strcspn(p, "\n");
	if (p[0] == '/' && p[1] == '*') { /* comments nest in PostgreSQL */
		int depth = 0;
		for (; *p; p++) {
			if (p[0] == '/' && p[1] == '*') {
				depth++;
				p++;
			} else if (p[0] == '*' && p[1] == '/') {
				p++;
				if (--depth == 0)
					return p + 1;
			}
		}
		return p;
	}
	if (*p == '$' && !after_ident) { /* $tag$ ... $tag$ (not $1) */
		const char *t = p + 1;
		if (*t != '$' && !tag_char(*t, true))
			return p;
		while (*t != '$' && tag_char(*t, false))
			t++;
		if (*t != '$')
			return p;
		size_t taglen = (size_t)(t - p) + 1;
		for (const char *q = t + 1; (q = strchr(q, '$')) != NULL; q++)
			if (strncmp(q, p, taglen) == 0)
				return q + taglen;
		return p + strlen(p);
	}
	return p;
}

/*
 * sql with '?' and '?NNN' turned into $n (SQLite's numbering: a bare '?'
 * is one more than the highest number so far), prefix in front.  Returns
 * malloc'd text and the highest number in *nparams; NULL for a number out
 * of range (with *nparams -1) or no memory.
 */
static char *
rewrite(const char *prefix, const char *sql, int *nparams)
{
	size_t plen = strlen(prefix), cap = plen + strlen(sql) * 6 + 1;
	char *out = malloc(cap), *o;
	int max = 0;

	*nparams = 0;
	if (out == NULL)
		return NULL;
	memcpy(out, prefix, plen + 1);
	o = out + plen;
	for (const char *p = sql; *p;) {
		const char *end = skip_opaque(sql, p);
		if (end != p) {
			memcpy(o, p, (size_t)(end - p));
			o += end - p;
			p = end;
			continue;
		}
		if (*p != '?') {
			*o++ = *p++;
			continue;
		}
		long n = max + 1;
		p++;
		if (isdigit((unsigned char)*p)) {
			n = 0;
			while (isdigit((unsigned char)*p) && n <= MAX_PARAM)
				n = n * 10 + (*p++ - '0');
			if (n < 1 || n > MAX_PARAM) {
				free(out);
				*nparams = -1;
				return NULL;
			}
		}
		if (n > max)
			max = (int)n;
		o += sprintf(o, "$%ld", n);
	}
	*o = '\0';
	*nparams = max;
	return out;
}

/* ---- results and errors -------------------------------------------------- */

static void
clear_cells(struct pg_stmt *s)
{
	for (int i = 0; i < s->ncells; i++) {
		free(s->cells[i].data);
		s->cells[i].data = NULL;
	}
}

static void
drop_result(struct pg_stmt *s)
{
	clear_cells(s);
	if (s->res != NULL) {
		__atomic_sub_fetch(&held_bytes, s->res_bytes, __ATOMIC_RELAXED);
		PQclear(s->res);
	}
	s->res = NULL;
	s->res_bytes = 0;
	s->row = s->nrows = s->ncols = 0;
}

/* s takes r (also on failure). */
static int
hold_result(struct pg_stmt *s, PGresult *r)
{
	drop_result(s);
	s->res = r;
	s->res_bytes = (int64_t)PQresultMemorySize(r);
	__atomic_add_fetch(&held_bytes, s->res_bytes, __ATOMIC_RELAXED);
	s->nrows = PQntuples(r);
	s->ncols = PQnfields(r);
	s->row = 0;
	if (s->ncols > s->ncells) {
		struct cell *c = realloc(s->cells, sizeof(*c) * (size_t)s->ncols);
		if (c == NULL) {
			drop_result(s);
			return JG_ENOMEM;
		}
		memset(c + s->ncells, 0, sizeof(*c) * (size_t)(s->ncols - s->ncells));
		s->cells = c;
		s->ncells = s->ncols;
	}
	return 0;
}

/* A transaction that ended takes its cursors with it: count the ends seen. */
static void
note_tx(struct pg_conn *c)
{
	if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
		c->epoch++;
}

/*
 * Maps a failed result to a JG_E* code and records a message without
 * values: the SQLSTATE and the primary message, not the DETAIL (it quotes
 * rows); for data exceptions (class 22), which quote the value in the
 * primary message too, the SQLSTATE alone.
 */
static int
fail(struct pg_conn *c, const PGresult *r)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (state != NULL)
		snprintf(c->errmsg, sizeof(c->errmsg), "SQLSTATE %s: %s", state,
			 strncmp(state, "22", 2) == 0 ? "data exception (value withheld)"
			 : primary		      ? primary
						      : "error");
	else
		snprintf(c->errmsg, sizeof(c->errmsg), "%.*s",
			 (int)strcspn(PQerrorMessage(c->pg), "\n"), PQerrorMessage(c->pg));
	if (PQstatus(c->pg) != CONNECTION_OK || (state == NULL && r == NULL) ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
		c->broken = true;
		return JG_EUNAVAIL;
	}
	if (state == NULL)
		return JG_ESTORE;
	if (strncmp(state, "23", 2) == 0)
		return JG_ECONFLICT;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return JG_ERETRY;
	if (strcmp(state, "42501") == 0)
		return JG_EDENIED;
	if (strcmp(state, "25006") == 0) {
		if (c->read_only_tx)
			return JG_EINVAL; /* a write in jg_store_begin_read(): the caller's bug */
		c->broken = true;	  /* a standby or a read-only server: find the primary */
		return JG_EUNAVAIL;
	}
	return JG_ESTORE;
}

static int send_begin(struct pg_conn *c);
static int send_closes(struct pg_conn *c);

/* Runs a command without results; 0 or a mapped error. */
static int
command(struct pg_conn *c, const char *sql)
{
	if (c->pg == NULL || c->broken)
		return JG_EUNAVAIL;
	if (c->in_pipeline) { /* libpq refuses PQexec there: a caller's bug */
		snprintf(c->errmsg, sizeof(c->errmsg), "a command inside a pipeline");
		return JG_EINVAL;
	}
	int rc = send_begin(c);
	if (rc != 0)
		return rc;
	PGresult *r = PQexec(c->pg, sql);
	rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : fail(c, r);
	note_tx(c);
	PQclear(r);
	return rc;
}

/*
 * Sends what waits to go with the next message - the read transaction
 * jg_store_begin_read() began, the cursors close_cursor() left - on its own,
 * for whatever cannot take it along in its own round trip (execute can).
 */
static int
send_begin(struct pg_conn *c)
{
	const char *sql = c->begin_sql;
	if (sql != NULL) {
		c->begin_sql = NULL;
		return command(c, sql);
	}
	return send_closes(c);
}

/* The cursors left to close, in one round trip; none once their transaction is over. */
static int
send_closes(struct pg_conn *c)
{
	char sql[STMT_CACHE * 40];
	size_t len = 0;
	int n = c->nclosing;

	c->nclosing = 0;
	if (n == 0 || c->closing_epoch != c->epoch || PQtransactionStatus(c->pg) != PQTRANS_INTRANS)
		return 0;
	for (int i = 0; i < n && len < sizeof(sql); i++) {
		int w = snprintf(sql + len, sizeof(sql) - len, "CLOSE %s;", c->closing[i]);
		if (w < 0 || (size_t)w >= sizeof(sql) - len)
			return JG_ESTORE; /* cannot happen: names are short (jg_cN) */
		len += (size_t)w;
	}
	return command(c, sql);
}

/* ---- connections --------------------------------------------------------- */

static void
ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* NOTICEs ("already exists, skipping") are not jitgate's log */
}

static PGconn *
connect_pg(struct pg_store *s, char *err, size_t errlen)
{
	/*
	 * Defaults first, then the URL (expanded from dbname) overrides them,
	 * then what must hold whatever the URL says.  Keepalives and a user
	 * timeout notice a primary that vanished without closing its sockets.
	 * client_min_messages=error: the server sends these sessions no NOTICE
	 * or WARNING from their start on.  libpq prints one to stderr unless a
	 * notice processor is set, which can only be once the connection is
	 * made, and jitgate's stderr is its JSON log (a failover's WARNING was
	 * seen there).  Errors still come as errors.
	 */
	const char *keys[] = {"application_name",
			      "connect_timeout",
			      "keepalives_idle",
			      "keepalives_interval",
			      "keepalives_count",
			      "tcp_user_timeout",
			      "options",
			      "dbname",
			      "client_encoding",
			      "password",
			      NULL};
	const char *vals[] = {
	    "jitgate", "5",    "10",	    "5", "3", "15000", "-c client_min_messages=error",
	    s->url,    "UTF8", s->password, NULL};
	if (s->password == NULL)
		keys[9] = NULL;
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		const char *m = pg ? PQerrorMessage(pg) : "out of memory";
		snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m); /* first host's */
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, ignore_notice, NULL);
	return pg;
}

static void
stmt_free(struct pg_stmt *s)
{
	if (s == NULL)
		return;
	drop_result(s);
	for (int i = 0; i < s->nparams; i++)
		free(s->params[i].buf);
	free(s->params);
	free(s->types);
	free(s->want);
	free(s->values);
	free(s->lengths);
	free(s->formats);
	free(s->cells);
	free(s->sql);
	free(s);
}

static void
disconnect(struct pg_conn *c)
{
	for (int i = 0; i < c->ncache; i++) {
		drop_result(c->cache[i]);
		c->cache[i]->pipe_refs = 0;
		c->cache[i]->pipe_prep = false;
	}
	c->in_pipeline = false;
	c->npipe = 0;
	c->begin_sql = NULL;
	c->nclosing = 0;
	PQfinish(c->pg);
	c->pg = NULL;
	free(c->snapshot);
	c->snapshot = NULL;
}

static void
now_plus(struct timespec *t, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static bool
due(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Replaces c's connection; the statements stay cached and are prepared again. */
static int
reconnect(struct pg_store *s, struct pg_conn *c, char *err, size_t errlen)
{
	disconnect(c);
	PGconn *pg = connect_pg(s, err, errlen);
	pthread_mutex_lock(&s->lock);
	if (pg == NULL) {
		s->backoff_ms =
		    s->backoff_ms == 0
			? BACKOFF_MIN_MS
			: (s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2);
		now_plus(&s->next_attempt, s->backoff_ms);
	} else {
		s->backoff_ms = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (pg == NULL)
		return JG_EUNAVAIL;
	c->pg = pg;
	c->broken = false;
	c->read_only_tx = false;
	c->gen++;
	c->epoch++;
	c->version++; /* what happened while away is unknown */
	return 0;
}

/*
 * False when the server closed c's connection while it sat in the pool
 * (terminated, shut down, failed over).  Such a server sends an error and
 * then closes: libpq reads the one, and sees the end only at a further read.
 */
static bool
alive(struct pg_conn *c)
{
	for (int i = 0; i < 4 && PQstatus(c->pg) == CONNECTION_OK; i++) {
		struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
		if (p.fd < 0 || poll(&p, 1, 0) <= 0)
			break;
		if (PQconsumeInput(c->pg) == 0)
			return false;
	}
	return PQstatus(c->pg) == CONNECTION_OK;
}

static void
pg_close(struct jg_store *store_)
{
	struct pg_store *s = STORE(store_);
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++) {
		struct pg_conn *c = &s->conns[i];
		disconnect(c);
		for (int j = 0; j < c->ncache; j++)
			stmt_free(c->cache[j]);
		free(c->pipe);
	}
	if (s->password != NULL) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->url);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->freed);
	free(s);
}

static int
read_password(const char *path, char **out, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc = jg_file_read(path, PASSWORD_MAX, true, &buf, &len, err, errlen);
	if (rc != 0)
		return rc;
	size_t n = strcspn(buf, "\r\n");
	if (n == 0 || memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: no password on its first line", path);
		jg_file_free_secret(buf, len);
		return JG_EINVAL;
	}
	*out = strndup(buf, n);
	jg_file_free_secret(buf, len);
	return *out ? 0 : JG_ENOMEM;
}

int
jg_store_pg_open(const char *url, const struct jg_store_options *opts, struct jg_store **out,
		 char *err, size_t errlen)
{
	struct pg_store *s;
	int rc;

	*out = NULL;
	if ((rc = checked_url(url, err, errlen)) != 0)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return JG_ENOMEM;
	s->ops = &pg_ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->freed, NULL);
	for (int i = 0; i < JG_STORE_POOL_SIZE; i++) {
		s->conns[i].ops = &pg_ops;
		s->conns[i].store = s;
	}
	if ((s->url = strdup(url)) == NULL) {
		rc = JG_ENOMEM;
		goto fail;
	}
	if (opts != NULL && opts->password_file != NULL &&
	    (rc = read_password(opts->password_file, &s->password, err, errlen)) != 0)
		goto fail;
	if (reconnect(s, &s->conns[0], err, errlen) != 0) {
		rc = JG_ESTORE; /* whatever reconnect() said: the store cannot be reached */
		goto fail;
	}
	*out = (struct jg_store *)(void *)s;
	return 0;
fail:
	pg_close((struct jg_store *)(void *)s);
	return rc;
}

static int
pg_acquire(struct jg_store *store_, struct jg_store_conn **out)
{
	struct pg_store *s = STORE(store_);
	struct pg_conn *c = NULL;
	char why[256];

	*out = NULL;
	pthread_mutex_lock(&s->lock);
	while (c == NULL) {
		/* a working connection first; then one to (re)connect */
		for (int i = 0; i < JG_STORE_POOL_SIZE && c == NULL; i++)
			if (!s->conns[i].in_use && s->conns[i].pg != NULL && !s->conns[i].broken)
				c = &s->conns[i];
		for (int i = 0; i < JG_STORE_POOL_SIZE && c == NULL; i++)
			if (!s->conns[i].in_use)
				c = &s->conns[i];
		if (c == NULL)
			pthread_cond_wait(&s->freed, &s->lock);
	}
	c->in_use = true;
	bool wait = s->backoff_ms > 0 && !due(&s->next_attempt);
	pthread_mutex_unlock(&s->lock);

	bool fresh = c->pg == NULL || c->broken || !alive(c);
	if (fresh && (wait || reconnect(s, c, why, sizeof(why)) != 0)) {
		if (!wait)
			snprintf(c->errmsg, sizeof(c->errmsg), "%s", why);
		pthread_mutex_lock(&s->lock);
		c->in_use = false;
		pthread_cond_signal(&s->freed);
		pthread_mutex_unlock(&s->lock);
		return JG_EUNAVAIL;
	}
	*out = (struct jg_store_conn *)(void *)c;
	return 0;
}

static int pg_rollback(struct jg_store_conn *conn);
static void pg_finish(struct jg_stmt *st);
static int pg_pipeline_end(struct jg_store_conn *conn, bool commit);

static void
pg_release(struct jg_store *store_, struct jg_store_conn *conn)
{
	struct pg_store *s = STORE(store_);
	struct pg_conn *c = CONN(conn);

	if (c->in_pipeline) /* left open by the caller: nothing of it stays */
		(void)pg_pipeline_end(conn, false);
	/* statements the caller did not finish: their results go now, their cursors with the
	 * rollback below */
	for (int i = 0; i < c->ncache && c->nheld > 0; i++) {
		if (c->cache[i]->held) {
			c->cache[i]->cursor_open = false;
			pg_finish((struct jg_stmt *)(void *)c->cache[i]);
		}
	}
	c->begin_sql = NULL; /* begun, never sent: nothing to end */
	if (c->pg != NULL && !c->broken) {
		PGTransactionStatusType t = PQtransactionStatus(c->pg);
		if (t == PQTRANS_ACTIVE || t == PQTRANS_UNKNOWN)
			c->broken = true;
		else if (t != PQTRANS_IDLE)
			(void)pg_rollback(conn);
	}
	c->read_only_tx = false;
	pthread_mutex_lock(&s->lock);
	c->in_use = false;
	pthread_cond_signal(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

static int
pg_backup(struct jg_store *store, const char *dest, char *err, size_t errlen)
{
	(void)store;
	(void)dest;
	snprintf(err, errlen,
		 "jitgate backup copies SQLite databases only: back up PostgreSQL with its own "
		 "tools (pg_basebackup, pg_dump)");
	return JG_EINVAL;
}

static int
pg_ping(struct jg_store *store)
{
	struct jg_store_conn *conn;
	int rc = pg_acquire(store, &conn);
	if (rc != 0)
		return rc;
	struct pg_conn *c = CONN(conn);
	PGresult *r = PQexec(c->pg, "SELECT 1");
	rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : fail(c, r);
	PQclear(r);
	pg_release(store, conn);
	return rc;
}

static int
pg_writable(struct jg_store *store, char *err, size_t errlen)
{
	struct jg_store_conn *conn;
	int rc = pg_acquire(store, &conn);
	if (rc != 0) {
		snprintf(err, errlen, "the database server cannot be reached");
		return rc;
	}
	struct pg_conn *c = CONN(conn);
	PGresult *r = PQexec(c->pg, "SELECT pg_is_in_recovery(), "
				    "current_setting('default_transaction_read_only')");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		rc = fail(c, r);
		snprintf(err, errlen, "%s", c->errmsg);
	} else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		snprintf(err, errlen,
			 "the database server is a standby (in recovery): "
			 "list the primary, or target_session_attrs=read-write");
		rc = JG_EDENIED;
	} else if (strcmp(PQgetvalue(r, 0, 1), "on") == 0) {
		snprintf(err, errlen,
			 "the database's transactions are read-only by default "
			 "(default_transaction_read_only)");
		rc = JG_EDENIED;
	}
	PQclear(r);
	pg_release(store, conn);
	return rc;
}

/* ---- transactions -------------------------------------------------------- */

static int
begin_as(struct jg_store_conn *conn, const char *sql, bool read_only)
{
	struct pg_conn *c = CONN(conn);
	int rc = command(c, sql);
	c->read_only_tx = rc == 0 && read_only;
	return rc;
}

static int
pg_begin(struct jg_store_conn *conn)
{
	return begin_as(conn, "BEGIN ISOLATION LEVEL READ COMMITTED", false);
}

static int
pg_begin_serializable(struct jg_store_conn *conn)
{
	return begin_as(conn, "BEGIN ISOLATION LEVEL SERIALIZABLE", false);
}

/*
 * Lazily: the BEGIN goes with the transaction's first statement, in one
 * round trip (execute).  The snapshot is taken at that statement either way,
 * and a read transaction that runs no statement costs nothing.
 */
static int
pg_begin_read(struct jg_store_conn *conn)
{
	struct pg_conn *c = CONN(conn);
	static const char sql[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

	if (c->pg == NULL || c->broken || c->in_pipeline || c->begin_sql != NULL ||
	    PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		return begin_as(conn, sql, true); /* as before: its error, or the server's */
	c->begin_sql = sql;
	c->read_only_tx = true;
	return 0;
}

/* A transaction begun and never sent ends without a round trip. */
static bool
end_unsent(struct pg_conn *c)
{
	if (c->begin_sql == NULL)
		return false;
	c->begin_sql = NULL;
	c->read_only_tx = false;
	c->epoch++;
	return true;
}

static int
pg_commit(struct jg_store_conn *conn)
{
	struct pg_conn *c = CONN(conn);
	if (c->pg == NULL || c->broken)
		return JG_EUNAVAIL;
	if (end_unsent(c))
		return 0;
	c->nclosing = 0;				  /* the commit closes them */
	if (PQtransactionStatus(c->pg) == PQTRANS_IDLE) { /* as SQLite: an error */
		snprintf(c->errmsg, sizeof(c->errmsg), "COMMIT without a transaction");
		return JG_ESTORE;
	}
	PGresult *r = PQexec(c->pg, "COMMIT");
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : fail(c, r);
	/* COMMIT of an aborted transaction "succeeds" as ROLLBACK */
	if (rc == 0 && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
		snprintf(c->errmsg, sizeof(c->errmsg),
			 "the transaction was aborted by an earlier error and rolled back");
		rc = JG_ESTORE;
	}
	note_tx(c);
	c->read_only_tx = false;
	PQclear(r);
	return rc;
}

static int
pg_rollback(struct jg_store_conn *conn)
{
	struct pg_conn *c = CONN(conn);
	if (end_unsent(c) || c->pg == NULL || c->broken ||
	    PQtransactionStatus(c->pg) == PQTRANS_IDLE)
		return 0;
	c->nclosing = 0; /* the rollback closes them */
	int rc = command(c, "ROLLBACK");
	c->read_only_tx = false;
	return rc;
}

static int
pg_in_transaction(struct jg_store_conn *conn)
{
	struct pg_conn *c = CONN(conn);
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK)
		return 0;
	if (c->begin_sql != NULL)
		return 1;
	PGTransactionStatusType t = PQtransactionStatus(c->pg);
	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static int
pg_exec_script(struct jg_store_conn *conn, const char *sql, char *err, size_t errlen)
{
	struct pg_conn *c = CONN(conn);
	if (c->pg == NULL || c->broken) {
		snprintf(err, errlen, "the database connection is lost");
		return JG_EUNAVAIL;
	}
	if (send_begin(c) != 0) {
		snprintf(err, errlen, "%s", c->errmsg);
		return c->broken ? JG_EUNAVAIL : JG_ESTORE;
	}
	PGresult *r = PQexec(c->pg, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY
		     ? 0
		     : fail(c, r);
	note_tx(c);
	PQclear(r);
	if (rc != 0)
		snprintf(err, errlen, "%s", c->errmsg);
	return rc;
}

/* ---- statements ---------------------------------------------------------- */

static struct pg_stmt *
stmt_new(struct pg_conn *c, const char *sql, bool scan)
{
	struct pg_stmt *s = calloc(1, sizeof(*s));
	char prefix[64] = "";
	int n;

	if (s == NULL)
		return NULL;
	s->ops = &pg_ops;
	s->conn = c;
	s->key = sql;
	s->scan = scan;
	unsigned id = ++c->names;
	snprintf(s->name, sizeof(s->name), "jg_s%u", id);
	if (scan) {
		snprintf(s->cursor, sizeof(s->cursor), "jg_c%u", id);
		snprintf(prefix, sizeof(prefix), "DECLARE %s NO SCROLL CURSOR FOR ", s->cursor);
	}
	if ((s->sql = rewrite(prefix, sql, &n)) == NULL)
		goto fail;
	s->nparams = n;
	size_t m = n > 0 ? (size_t)n : 1;
	s->params = calloc(m, sizeof(*s->params));
	s->types = calloc(m, sizeof(*s->types));
	s->want = calloc(m, sizeof(*s->want));
	s->values = calloc(m, sizeof(*s->values));
	s->lengths = calloc(m, sizeof(*s->lengths));
	s->formats = calloc(m, sizeof(*s->formats));
	if (!s->params || !s->types || !s->want || !s->values || !s->lengths || !s->formats)
		goto fail;
	return s;
fail:
	stmt_free(s);
	return NULL;
}

/*
 * A cursor is closed with the next message its connection sends, never in
 * a round trip of its own: its transaction's end closes it for free (the
 * common case: a read transaction's scans), and anything sent before that
 * goes after the CLOSE, in order, as if it had been closed at once.
 */
static void
close_cursor(struct pg_stmt *s)
{
	struct pg_conn *c = s->conn;
	/* only in the transaction that opened it, and only while that one is usable: in an
	 * aborted one a CLOSE would fail, and make the ROLLBACK TO after it fail too */
	if (s->cursor_open && c->pg != NULL && !c->broken && c->epoch == s->cursor_epoch &&
	    PQtransactionStatus(c->pg) == PQTRANS_INTRANS) {
		if (c->closing_epoch != c->epoch)
			c->nclosing = 0; /* their transaction ended, and took them */
		if (c->nclosing == STMT_CACHE)
			(void)send_closes(c);
		snprintf(c->closing[c->nclosing++], sizeof(c->closing[0]), "%s", s->cursor);
		c->closing_epoch = c->epoch;
	}
	s->cursor_open = false;
}

static void
reset(struct pg_stmt *s)
{
	drop_result(s);
	close_cursor(s);
	for (int i = 0; i < s->nparams; i++)
		s->params[i].kind = BIND_NULL;
	s->eof = false;
	s->primed = false;
}

/* Forgets a cached statement on the server too, when that is still possible. */
static void
deallocate(struct pg_conn *c, struct pg_stmt *s)
{
	/* inside a pipeline the name stays on the server until the session ends (harmless) */
	if (s->prep_gen == c->gen && c->pg != NULL && !c->broken && !c->in_pipeline &&
	    PQtransactionStatus(c->pg) != PQTRANS_INERROR) {
		char sql[64];
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", s->name);
		(void)command(c, sql);
	}
	s->prep_gen = 0;
}

static int
prepare(struct jg_store_conn *conn, const char *sql, bool scan, struct jg_stmt **out)
{
	struct pg_conn *c = CONN(conn);
	struct pg_stmt *s = NULL;

	*out = NULL;
	for (int i = 0; i < c->ncache; i++) {
		if (c->cache[i]->key == sql && c->cache[i]->scan == scan) {
			s = c->cache[i];
			reset(s);
			break;
		}
	}
	if (s == NULL) {
		if (c->ncache == STMT_CACHE) {
			/* evict the least recently used one nobody holds */
			int victim = -1;
			for (int i = 0; i < c->ncache; i++)
				if (!c->cache[i]->held && c->cache[i]->pipe_refs == 0 &&
				    (victim < 0 || c->cache[i]->used < c->cache[victim]->used))
					victim = i;
			if (victim < 0) {
				snprintf(c->errmsg, sizeof(c->errmsg),
					 "more than %d statements in use at once", STMT_CACHE);
				return JG_ESTORE;
			}
			reset(c->cache[victim]);
			deallocate(c, c->cache[victim]);
			stmt_free(c->cache[victim]);
			c->cache[victim] = c->cache[--c->ncache];
		}
		if ((s = stmt_new(c, sql, scan)) == NULL) {
			snprintf(c->errmsg, sizeof(c->errmsg),
				 "cannot prepare: out of memory or a "
				 "placeholder number out of range");
			return JG_ESTORE;
		}
		c->cache[c->ncache++] = s;
	}
	if (!s->held) {
		s->held = true;
		c->nheld++;
	}
	s->used = ++c->tick;
	*out = (struct jg_stmt *)(void *)s;
	return 0;
}

static int
pg_prepare(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out)
{
	return prepare(conn, sql, false, out);
}

static int
pg_prepare_scan(struct jg_store_conn *conn, const char *sql, struct jg_stmt **out)
{
	return prepare(conn, sql, true, out);
}

static int
param_at(struct pg_stmt *s, int idx, struct param **out)
{
	if (idx < 1 || idx > s->nparams || s->res != NULL || s->cursor_open) {
		snprintf(s->conn->errmsg, sizeof(s->conn->errmsg),
			 idx < 1 || idx > s->nparams ? "bind index %d out of range"
						     : "bind %d while the statement runs",
			 idx);
		return JG_ESTORE;
	}
	*out = &s->params[idx - 1];
	return 0;
}

static int
bind_bytes(struct jg_stmt *st, int idx, const void *value, size_t len, enum bind_kind kind)
{
	struct param *p;
	int rc = param_at(STMT(st), idx, &p);
	if (rc != 0)
		return rc;
	if (len + 1 > p->cap) {
		char *b = realloc(p->buf, len + 1);
		if (b == NULL)
			return JG_ENOMEM;
		p->buf = b;
		p->cap = len + 1;
	}
	if (len > 0)
		memcpy(p->buf, value, len);
	p->buf[len] = '\0';
	p->len = len;
	p->kind = kind;
	return 0;
}

static int
pg_bind_null(struct jg_stmt *st, int idx)
{
	struct param *p;
	int rc = param_at(STMT(st), idx, &p);
	if (rc == 0)
		p->kind = BIND_NULL;
	return rc;
}

static int
pg_bind_text(struct jg_stmt *st, int idx, const char *value)
{
	if (value == NULL)
		return pg_bind_null(st, idx);
	return bind_bytes(st, idx, value, strlen(value), BIND_TEXT);
}

static int
pg_bind_blob(struct jg_stmt *st, int idx, const void *value, size_t len)
{
	if (value == NULL) /* as sqlite3_bind_blob */
		return pg_bind_null(st, idx);
	return bind_bytes(st, idx, value, len, BIND_BLOB);
}

static int
pg_bind_int64(struct jg_stmt *st, int idx, int64_t value)
{
	struct param *p;
	int rc = param_at(STMT(st), idx, &p);
	if (rc == 0) {
		snprintf(p->num, sizeof(p->num), "%" PRId64, value);
		p->kind = BIND_INT;
	}
	return rc;
}

static int
pg_bind_double(struct jg_stmt *st, int idx, double value)
{
	struct param *p;
	int rc = param_at(STMT(st), idx, &p);
	if (rc != 0)
		return rc;
	if (isnan(value))
		snprintf(p->num, sizeof(p->num), "NaN");
	else if (isinf(value))
		snprintf(p->num, sizeof(p->num), "%sInfinity", value < 0 ? "-" : "");
	else
		snprintf(p->num, sizeof(p->num), "%.17g", value);
	p->kind = BIND_DOUBLE;
	return 0;
}

static Oid
type_of(enum bind_kind k)
{
	switch (k) {
	case BIND_INT: return OID_INT8;
	case BIND_DOUBLE: return OID_FLOAT8;
	case BIND_BLOB: return OID_BYTEA;
	default: return OID_UNKNOWN; /* the server infers text and NULL from the SQL */
	}
}

/* PQprepare, inside a savepoint when in a transaction (a failed Parse would abort it). */
static PGresult *
parse(struct pg_conn *c, struct pg_stmt *s, bool *savepoint_failed)
{
	bool in_tx = PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
	*savepoint_failed = false;
	if (in_tx && command(c, "SAVEPOINT " SAVEPOINT_PREP) != 0) {
		*savepoint_failed = true;
		return NULL;
	}
	PGresult *r = PQprepare(c->pg, s->name, s->sql, s->nparams, s->want);
	if (in_tx) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    command(c, "ROLLBACK TO SAVEPOINT " SAVEPOINT_PREP) != 0)
			*savepoint_failed = true;
		if (!*savepoint_failed && command(c, "RELEASE SAVEPOINT " SAVEPOINT_PREP) != 0)
			*savepoint_failed = true;
	}
	return r;
}

/*
 * Prepares s on the server unless it is prepared in this connection with
 * types that fit the binds: a bind typed int8/float8/bytea must meet the
 * same type.  Where the server cannot infer a text or NULL parameter
 * (SQLSTATE 42P18, "could not determine data type"), it is typed text.
 */
static int
ensure_prepared(struct pg_conn *c, struct pg_stmt *s)
{
	bool fits = s->prep_gen == c->gen;
	for (int i = 0; i < s->nparams; i++) {
		s->want[i] = type_of(s->params[i].kind);
		if (s->want[i] != OID_UNKNOWN && s->want[i] != s->types[i])
			fits = false;
	}
	if (fits)
		return 0;
	if (s->prep_gen == c->gen) { /* prepared with other types: a new name */
		deallocate(c, s);
		snprintf(s->name, sizeof(s->name), "jg_s%u", ++c->names);
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		bool sp_failed;
		PGresult *r = parse(c, s, &sp_failed);
		if (sp_failed) {
			PQclear(r);
			return c->broken ? JG_EUNAVAIL : JG_ESTORE;
		}
		if (PQresultStatus(r) == PGRES_COMMAND_OK) {
			PQclear(r);
			memcpy(s->types, s->want, sizeof(*s->want) * (size_t)s->nparams);
			s->prep_gen = c->gen;
			return 0;
		}
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		bool retry = attempt == 0 && state != NULL && strcmp(state, "42P18") == 0;
		if (!retry) {
			int rc = fail(c, r);
			PQclear(r);
			return rc;
		}
		PQclear(r);
		for (int i = 0; i < s->nparams; i++)
			if (s->want[i] == OID_UNKNOWN)
				s->want[i] = OID_TEXT;
	}
	return JG_ESTORE;
}

static int
changed_rows(const PGresult *r)
{
	const char *cmd = PQcmdStatus((PGresult *)r);
	if (strncmp(cmd, "INSERT", 6) != 0 && strncmp(cmd, "UPDATE", 6) != 0 &&
	    strncmp(cmd, "DELETE", 6) != 0 && strncmp(cmd, "MERGE", 5) != 0)
		return -1;
	/* libpq gives the count in decimal for these commands; anything else counts none */
	const char *n = PQcmdTuples((PGresult *)r);
	char *end = NULL;
	errno = 0;
	long v = strtol(n, &end, 10);
	if (end == n || *end != '\0' || errno != 0 || v < 0 || v > INT_MAX)
		return 0;
	return (int)v;
}

/* The scan's next batch into s->res; 0 or a mapped error. */
static int
fetch(struct pg_conn *c, struct pg_stmt *s)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "FETCH FORWARD %d FROM %s", JG_STORE_SCAN_BATCH, s->cursor);
	PGresult *r = PQexec(c->pg, sql);
	note_tx(c);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		int rc = fail(c, r);
		PQclear(r);
		drop_result(s);
		s->cursor_open = false; /* its transaction is aborted or gone */
		return rc;
	}
	s->eof = PQntuples(r) < JG_STORE_SCAN_BATCH;
	return hold_result(s, r);
}

static int
done(struct pg_stmt *s)
{
	drop_result(s);
	close_cursor(s);
	s->eof = false;
	return JG_STMT_DONE;
}

/* The binds as PQexecPrepared wants them. */
static void
fill_values(struct pg_stmt *s)
{
	for (int i = 0; i < s->nparams; i++) {
		struct param *p = &s->params[i];
		s->formats[i] = p->kind == BIND_BLOB; /* binary: the bytes as they are */
		s->lengths[i] = p->kind == BIND_BLOB ? (int)p->len : 0;
		s->values[i] = p->kind == BIND_NULL			      ? NULL
			       : p->kind == BIND_TEXT || p->kind == BIND_BLOB ? p->buf
									      : p->num;
	}
}

/* The next result of a pipeline and the NULL that ends it; NULL if the connection failed. */
static PGresult *
pipe_next(struct pg_conn *c)
{
	PGresult *r = PQgetResult(c->pg);
	if (r != NULL) {
		PGresult *end = PQgetResult(c->pg);
		if (end != NULL) { /* not the protocol libpq documents: trust nothing more */
			PQclear(end);
			PQclear(r);
			return NULL;
		}
	}
	return r;
}

/*
 * ss[0..n) in one round trip with what waits to go before them - the read
 * transaction's BEGIN, cursors to close - and, for a single scan, the first
 * FETCH after its DECLARE: libpq's pipeline mode, one Sync.  rs[i] is
 * ss[i]'s result, *first the scan's first batch (all the caller's; first
 * may be NULL when no scan is sent).  Returns 0 when every message came
 * back (a statement's own failure is in its rs[i], those after it come back
 * PGRES_PIPELINE_ABORTED), else a mapped error with the connection marked
 * broken or the failure of what went before ss.
 */
static int
execute_pipelined(struct pg_conn *c, struct pg_stmt *const *ss, size_t n, PGresult **rs,
		  PGresult **first)
{
	const char *begin = c->begin_sql;
	int closes = c->closing_epoch == c->epoch && PQtransactionStatus(c->pg) == PQTRANS_INTRANS
			 ? c->nclosing
			 : 0;
	bool scan = n == 1 && ss[0]->scan && first != NULL;
	char fetch_sql[64];
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		rs[i] = NULL;
	if (first != NULL)
		*first = NULL;
	c->begin_sql = NULL;
	c->nclosing = 0;
	snprintf(fetch_sql, sizeof(fetch_sql), "FETCH FORWARD %d FROM %s", JG_STORE_SCAN_BATCH,
		 ss[0]->cursor);
	if (PQenterPipelineMode(c->pg) != 1)
		return fail(c, NULL);
	bool sent =
	    begin == NULL || PQsendQueryParams(c->pg, begin, 0, NULL, NULL, NULL, NULL, 0) == 1;
	for (int i = 0; sent && i < closes; i++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "CLOSE %s", c->closing[i]);
		sent = PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
	}
	for (size_t i = 0; sent && i < n; i++)
		sent = PQsendQueryPrepared(c->pg, ss[i]->name, ss[i]->nparams, ss[i]->values,
					   ss[i]->lengths, ss[i]->formats, 0) == 1;
	sent = sent &&
	       (!scan || PQsendQueryParams(c->pg, fetch_sql, 0, NULL, NULL, NULL, NULL, 0) == 1);
	if (!sent || PQpipelineSync(c->pg) != 1) {
		rc = fail(c, NULL);
		c->broken = true; /* half a pipeline on the wire: this connection is done */
		return rc == 0 ? JG_EUNAVAIL : rc;
	}
	/* what went before ss: a failure there is the answer (ss then come back aborted) */
	for (int i = 0; i < (begin != NULL) + closes; i++) {
		PGresult *before = pipe_next(c);
		if (before == NULL || PQresultStatus(before) != PGRES_COMMAND_OK)
			rc = rc != 0 ? rc : fail(c, before);
		PQclear(before);
	}
	for (size_t i = 0; i < n; i++) {
		rs[i] = pipe_next(c);
		if (rs[i] == NULL && rc == 0)
			rc = fail(c, NULL);
	}
	if (scan) {
		*first = pipe_next(c);
		if (rc == 0 && PQresultStatus(rs[0]) != PGRES_PIPELINE_ABORTED &&
		    PQresultStatus(*first) != PGRES_TUPLES_OK &&
		    PQresultStatus(rs[0]) == PGRES_COMMAND_OK)
			rc = fail(c, *first); /* the DECLARE worked, the FETCH did not */
	}
	PGresult *sync = PQgetResult(c->pg);
	bool synced = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
	PQclear(sync);
	if (!synced || PQexitPipelineMode(c->pg) != 1) {
		if (rc == 0)
			rc = fail(c, NULL);
		c->broken = true;
		return rc == 0 ? JG_EUNAVAIL : rc;
	}
	return rc;
}

static int
execute(struct pg_conn *c, struct pg_stmt *s)
{
	int rc;

	if (c->pg == NULL || c->broken) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the database connection is lost");
		return JG_EUNAVAIL;
	}
	if (c->in_pipeline) {
		snprintf(c->errmsg, sizeof(c->errmsg), "a step inside a pipeline (queue it)");
		return JG_EINVAL;
	}
	if (s->scan && c->begin_sql == NULL && PQtransactionStatus(c->pg) != PQTRANS_INTRANS) {
		snprintf(c->errmsg, sizeof(c->errmsg), "a scan runs inside a transaction");
		return JG_EINVAL;
	}
	if ((rc = ensure_prepared(c, s)) != 0)
		return rc;
	fill_values(s);
	PGresult *r = NULL, *first = NULL;
	if (c->begin_sql != NULL || c->nclosing > 0 || s->scan)
		rc = execute_pipelined(c, &s, 1, &r, &first);
	else
		r = PQexecPrepared(c->pg, s->name, s->nparams, s->values, s->lengths, s->formats,
				   0);
	ExecStatusType st = PQresultStatus(r);
	note_tx(c);
	if (rc != 0 || (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)) {
		rc = rc != 0 ? rc : fail(c, r);
		PQclear(r);
		PQclear(first);
		return rc;
	}
	int n = changed_rows(r);
	if (n >= 0)
		c->changes = n;
	if (s->scan) {
		PQclear(r);
		s->cursor_open = true;
		s->cursor_epoch = c->epoch;
		s->eof = PQntuples(first) < JG_STORE_SCAN_BATCH;
		if ((rc = hold_result(s, first)) != 0)
			return rc;
	} else if (st == PGRES_TUPLES_OK) {
		if ((rc = hold_result(s, r)) != 0)
			return rc;
	} else {
		PQclear(r);
		return JG_STMT_DONE;
	}
	return s->nrows > 0 ? JG_STMT_ROW : done(s);
}

static int
pg_step(struct jg_stmt *st)
{
	struct pg_stmt *s = STMT(st);
	struct pg_conn *c = s->conn;

	if (s->primed) { /* a read batch fetched it: its first row, no round trip */
		s->primed = false;
		return s->nrows > 0 ? JG_STMT_ROW : done(s);
	}
	if (s->res == NULL)
		return execute(c, s);
	clear_cells(s);
	if (++s->row < s->nrows)
		return JG_STMT_ROW;
	if (s->scan && !s->eof) {
		int rc = fetch(c, s);
		if (rc != 0)
			return rc;
		if (s->nrows > 0)
			return JG_STMT_ROW;
	}
	return done(s);
}

static void
pg_finish(struct jg_stmt *st)
{
	struct pg_stmt *s = STMT(st);
	reset(s);
	if (s->held) {
		s->held = false;
		s->conn->nheld--;
	}
}

/* ---- read batches -------------------------------------------------------- */

/*
 * A read batch (store.h): every statement prepared first (a statement new to
 * this connection costs its Parse once, as a step does), then all of them
 * executed in one pipeline (execute_pipelined).  Only when every one came
 * back with rows does any statement keep its result; the first failure is
 * the batch's answer and every result is dropped.
 */
static int
pg_batch_run(struct jg_store_conn *conn, struct jg_stmt *const *sts, size_t n)
{
	struct pg_conn *c = CONN(conn);
	struct pg_stmt *ss[JG_STORE_BATCH_MAX];
	PGresult *rs[JG_STORE_BATCH_MAX] = {NULL};
	int rc = 0;

	if (n == 0 || n > JG_STORE_BATCH_MAX) {
		snprintf(c->errmsg, sizeof(c->errmsg), "a read batch of %zu statements", n);
		return JG_EINVAL;
	}
	if (c->pg == NULL || c->broken) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the database connection is lost");
		return JG_EUNAVAIL;
	}
	if (c->in_pipeline) {
		snprintf(c->errmsg, sizeof(c->errmsg), "a read batch inside a pipeline");
		return JG_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		ss[i] = STMT(sts[i]);
		if (ss[i] == NULL || ss[i]->conn != c || ss[i]->scan || !ss[i]->held ||
		    ss[i]->res != NULL || ss[i]->cursor_open) {
			snprintf(c->errmsg, sizeof(c->errmsg),
				 "a read batch takes prepared statements that are not running");
			return JG_EINVAL;
		}
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = ensure_prepared(c, ss[i])) != 0)
			return rc;
	for (size_t i = 0; i < n; i++)
		fill_values(ss[i]);
	rc = execute_pipelined(c, ss, n, rs, NULL);
	note_tx(c);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		ExecStatusType st = PQresultStatus(rs[i]);
		if (st == PGRES_COMMAND_OK) { /* is_query() of store.c keeps writes out */
			snprintf(c->errmsg, sizeof(c->errmsg),
				 "a read batch of a statement that is not a query");
			rc = JG_EINVAL;
		} else if (st != PGRES_TUPLES_OK) {
			rc = fail(c,
				  rs[i]); /* the first failure; those after it come back aborted */
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			rc = hold_result(ss[i], rs[i]); /* takes rs[i], also on failure */
			rs[i] = NULL;
			ss[i]->primed = rc == 0;
		}
		PQclear(rs[i]);
	}
	if (rc != 0) { /* all or nothing: no read of a failed batch yields a row */
		for (size_t i = 0; i < n; i++) {
			drop_result(ss[i]);
			ss[i]->primed = false;
		}
	}
	return rc;
}

/* ---- pipelines ----------------------------------------------------------- */

/*
 * A pipelined write transaction (store.h): libpq's pipeline mode.  Each
 * call sends its message at once into libpq's output buffer (the values are
 * copied there); jg_store_pipeline_commit() adds the COMMIT and a Sync,
 * flushes, and reads the results in the order sent (c->pipe says what each
 * one answers).  A statement not yet prepared on this connection is parsed
 * inside the pipeline, before its first execution; it counts as prepared
 * once that Parse's result came back OK (a prepared statement outlives the
 * transaction either way).  libpq reads while it waits to write, so a long
 * pipeline cannot deadlock on full socket buffers.
 */
static int
pipe_push(struct pg_conn *c, enum pipe_kind kind, struct pg_stmt *s)
{
	if (c->npipe == c->pipecap) {
		int cap = c->pipecap ? c->pipecap * 2 : 64;
		struct pipe_item *p = realloc(c->pipe, sizeof(*p) * (size_t)cap);
		if (p == NULL)
			return JG_ENOMEM;
		c->pipe = p;
		c->pipecap = cap;
	}
	c->pipe[c->npipe++] = (struct pipe_item){.kind = kind, .s = s};
	if (s != NULL)
		s->pipe_refs++;
	return 0;
}

/* A send that libpq refused: the connection is in trouble; nothing more is sent. */
static int
pipe_failed(struct pg_conn *c)
{
	if (c->pipe_rc == 0)
		c->pipe_rc = fail(c, NULL);
	return c->pipe_rc;
}

static int
pg_pipeline_begin(struct jg_store_conn *conn, bool in_tx)
{
	struct pg_conn *c = CONN(conn);

	if (c->pg == NULL || c->broken) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the database connection is lost");
		return JG_EUNAVAIL;
	}
	if (in_tx) {
		/* a lazy BEGIN goes first, on its own; cursors left to close need no CLOSE: the
		 * pipeline ends the transaction (no scan can be queued to reuse one meanwhile) */
		int rc = c->in_pipeline || c->begin_sql == NULL ? 0 : send_begin(c);
		if (rc != 0)
			return rc;
		if (c->in_pipeline || c->read_only_tx ||
		    PQtransactionStatus(c->pg) != PQTRANS_INTRANS) {
			snprintf(c->errmsg, sizeof(c->errmsg),
				 "a pipeline continues an open write transaction");
			return JG_EINVAL;
		}
		c->nclosing = 0;
		if (PQenterPipelineMode(c->pg) != 1)
			return fail(c, NULL);
		c->in_pipeline = true;
		c->pipe_rc = 0;
		c->npipe = 0;
		return 0;
	}
	if (c->in_pipeline || c->begin_sql != NULL || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		snprintf(c->errmsg, sizeof(c->errmsg), "a pipeline starts outside a transaction");
		return JG_EINVAL;
	}
	/* closed by the server since its last use: say so before anything is sent */
	if (!alive(c)) {
		snprintf(c->errmsg, sizeof(c->errmsg), "the database connection is lost");
		c->broken = true;
		return JG_EUNAVAIL;
	}
	if (PQenterPipelineMode(c->pg) != 1)
		return fail(c, NULL);
	c->in_pipeline = true;
	c->pipe_rc = 0;
	c->npipe = 0;
	if (PQsendQueryParams(c->pg, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL, NULL, NULL,
			      NULL, 0) != 1)
		(void)pipe_failed(c);
	else if (pipe_push(c, PIPE_BEGIN, NULL) != 0)
		c->pipe_rc = JG_ENOMEM;
	return 0; /* a failure to send shows at the commit, as every other */
}

static int
pg_queue(struct jg_stmt *st)
{
	struct pg_stmt *s = STMT(st);
	struct pg_conn *c = s->conn;
	bool fits = true;

	if (!c->in_pipeline || s->scan) {
		snprintf(c->errmsg, sizeof(c->errmsg),
			 s->scan ? "a scan cannot be queued" : "jg_stmt_queue outside a pipeline");
		return JG_EINVAL;
	}
	if (c->pipe_rc != 0)
		return c->pipe_rc;
	for (int i = 0; i < s->nparams; i++) {
		s->want[i] = type_of(s->params[i].kind);
		if (s->want[i] != OID_UNKNOWN && s->want[i] != s->types[i])
			fits = false;
	}
	if (s->prep_gen != c->gen && !s->pipe_prep) {
		/* parsed here, before its first execution, with the types of these binds */
		memcpy(s->types, s->want, sizeof(*s->want) * (size_t)s->nparams);
		if (PQsendPrepare(c->pg, s->name, s->sql, s->nparams, s->want) != 1)
			return pipe_failed(c);
		if (pipe_push(c, PIPE_PARSE, s) != 0)
			return c->pipe_rc = JG_ENOMEM;
		s->pipe_prep = true;
	} else if (!fits) {
		/* prepared with other types: no new Parse can be sent safely mid-pipeline */
		snprintf(c->errmsg, sizeof(c->errmsg),
			 "a statement queued with other parameter types than it was prepared with");
		return c->pipe_rc = JG_ESTORE;
	}
	fill_values(s);
	if (PQsendQueryPrepared(c->pg, s->name, s->nparams, s->values, s->lengths, s->formats, 0) !=
	    1)
		return pipe_failed(c);
	if (pipe_push(c, PIPE_EXEC, s) != 0)
		return c->pipe_rc = JG_ENOMEM;
	return 0;
}

/* The result of one item: 0, or its error (PIPELINE_ABORTED: the rc that aborted it). */
static int
pipe_result(struct pg_conn *c, const struct pipe_item *it, PGresult *r, int rc)
{
	ExecStatusType st = PQresultStatus(r);

	if (st == PGRES_PIPELINE_ABORTED)
		return rc != 0 ? rc : JG_ESTORE;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return rc != 0 ? rc : fail(c, r);
	if (it->kind == PIPE_PARSE) {
		it->s->prep_gen = c->gen;
	} else if (it->kind == PIPE_EXEC) {
		int n = changed_rows(r);
		if (n >= 0)
			c->changes = n;
	} else if (it->kind == PIPE_COMMIT && strcmp(PQcmdStatus(r), "COMMIT") != 0 && rc == 0) {
		snprintf(c->errmsg, sizeof(c->errmsg),
			 "the transaction was aborted by an earlier error and rolled back");
		return JG_ESTORE;
	}
	return rc;
}

/*
 * Reads every result of the pipeline, then its Sync.  A result missing
 * where one is due means the connection went: JG_EUNAVAIL, and it is marked
 * broken (replaced at a later acquire).
 */
static int
pipe_drain(struct pg_conn *c, int rc)
{
	for (int i = 0; i < c->npipe && !c->broken; i++) {
		PGresult *r = PQgetResult(c->pg);
		if (r == NULL) { /* the server went before answering */
			(void)fail(c, NULL);
			c->broken = true;
			rc = JG_EUNAVAIL;
			break;
		}
		rc = pipe_result(c, &c->pipe[i], r, rc);
		PQclear(r);
		while ((r = PQgetResult(c->pg)) != NULL) /* the end of this item's results */
			PQclear(r);
	}
	if (!c->broken) {
		PGresult *r = PQgetResult(c->pg);
		if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
			snprintf(c->errmsg, sizeof(c->errmsg), "the pipeline's end was not seen");
			c->broken = true;
			rc = JG_EUNAVAIL;
		}
		PQclear(r);
	}
	if (PQstatus(c->pg) != CONNECTION_OK) {
		c->broken = true;
		rc = JG_EUNAVAIL;
	}
	return rc;
}

static int
pg_pipeline_end(struct jg_store_conn *conn, bool commit)
{
	struct pg_conn *c = CONN(conn);
	int rc;

	if (!c->in_pipeline) {
		snprintf(c->errmsg, sizeof(c->errmsg), "no pipeline to end");
		return JG_EINVAL;
	}
	rc = c->pipe_rc;
	if (!commit && rc == 0)
		rc = JG_ESTORE; /* aborted by the caller: the COMMIT is not sent */
	if (rc == 0) {
		if (PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1)
			rc = pipe_failed(c);
		else if (pipe_push(c, PIPE_COMMIT, NULL) != 0)
			rc = JG_ENOMEM;
	}
	if (!c->broken && PQpipelineSync(c->pg) != 1) {
		(void)fail(c, NULL);
		c->broken = true;
	}
	if (c->broken)
		rc = JG_EUNAVAIL;
	else
		rc = pipe_drain(c, rc);
	for (int i = 0; i < c->npipe; i++) {
		if (c->pipe[i].s != NULL) {
			c->pipe[i].s->pipe_refs = 0;
			c->pipe[i].s->pipe_prep = false;
		}
	}
	c->npipe = 0;
	c->in_pipeline = false;
	if (!c->broken && PQexitPipelineMode(c->pg) != 1) {
		snprintf(c->errmsg, sizeof(c->errmsg), "cannot leave pipeline mode");
		c->broken = true;
		rc = JG_EUNAVAIL;
	}
	if (!c->broken) {
		note_tx(c);
		if (rc != 0 && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
			(void)command(c, "ROLLBACK");
	}
	return rc;
}

/* ---- columns ------------------------------------------------------------- */

static const char *
value_at(struct pg_stmt *s, int col)
{
	if (s->res == NULL || s->row >= s->nrows || col < 0 || col >= s->ncols ||
	    PQgetisnull(s->res, s->row, col))
		return NULL;
	return PQgetvalue(s->res, s->row, col);
}

/* A bytea cell decoded once per row; NULL for NULL or no memory. */
static const struct cell *
bytea_at(struct pg_stmt *s, int col, const char *v)
{
	struct cell *cl = &s->cells[col];
	if (cl->data == NULL) {
		size_t n;
		unsigned char *raw = PQunescapeBytea((const unsigned char *)v, &n);
		if (raw == NULL)
			return NULL;
		if ((cl->data = malloc(n + 1)) != NULL) {
			memcpy(cl->data, raw, n);
			cl->data[n] = '\0';
			cl->len = n;
		}
		PQfreemem(raw);
	}
	return cl->data ? cl : NULL;
}

static const char *
pg_column_text(struct jg_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	const char *v = value_at(s, col);
	if (v != NULL && PQftype(s->res, col) == OID_BYTEA) {
		const struct cell *cl = bytea_at(s, col, v);
		return cl ? cl->data : NULL;
	}
	return v;
}

static const void *
pg_column_blob(struct jg_stmt *st, int col, size_t *len)
{
	struct pg_stmt *s = STMT(st);
	const char *v = value_at(s, col);
	*len = 0;
	if (v == NULL)
		return NULL;
	if (PQftype(s->res, col) == OID_BYTEA) {
		const struct cell *cl = bytea_at(s, col, v);
		*len = cl ? cl->len : 0;
		return cl ? cl->data : NULL;
	}
	*len = (size_t)PQgetlength(s->res, s->row, col);
	return v;
}

static double
pg_column_double(struct jg_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	const char *v = value_at(s, col);
	if (v == NULL)
		return 0.0;
	if (PQftype(s->res, col) == OID_BOOL)
		return v[0] == 't' ? 1.0 : 0.0;
	return strtod(v, NULL);
}

static int64_t
pg_column_int64(struct jg_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	const char *v = value_at(s, col);
	if (v == NULL)
		return 0;
	Oid t = PQftype(s->res, col);
	if (t == OID_BOOL)
		return v[0] == 't';
	if (t == OID_FLOAT8 || t == OID_FLOAT4 || t == OID_NUMERIC) {
		/* as SQLite converts a real: truncated toward zero, clamped */
		double d = strtod(v, NULL);
		if (isnan(d))
			return 0;
		if (d >= 9223372036854775807.0)
			return INT64_MAX;
		if (d <= -9223372036854775808.0)
			return INT64_MIN;
		return (int64_t)d;
	}
	return (int64_t)strtoll(v, NULL, 10);
}

static int
pg_column_is_null(struct jg_stmt *st, int col)
{
	struct pg_stmt *s = STMT(st);
	return s->res == NULL || s->row >= s->nrows || col < 0 || col >= s->ncols ||
	       PQgetisnull(s->res, s->row, col);
}

/* ---- the rest ------------------------------------------------------------ */

static int
pg_changes(struct jg_store_conn *conn)
{
	return CONN(conn)->changes;
}

static int
pg_data_version(struct jg_store_conn *conn, int64_t *out)
{
	struct pg_conn *c = CONN(conn);
	*out = 0;
	if (c->pg == NULL || c->broken)
		return JG_ESTORE;
	if (send_begin(c) != 0)
		return c->broken ? JG_EUNAVAIL : JG_ESTORE;
	PGresult *r = PQexec(c->pg, "SELECT pg_current_snapshot()::text");
	note_tx(c);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		(void)fail(c, r);
		PQclear(r);
		return JG_ESTORE;
	}
	const char *snap = PQgetvalue(r, 0, 0);
	if (c->snapshot == NULL || strcmp(c->snapshot, snap) != 0) {
		char *copy = strdup(snap);
		free(c->snapshot);
		c->snapshot = copy; /* NULL on no memory: the next call moves again, safely */
		c->version++;
	}
	PQclear(r);
	*out = c->version;
	return 0;
}

static int64_t
pg_last_insert_rowid(struct jg_store_conn *conn)
{
	snprintf(CONN(conn)->errmsg, sizeof(CONN(conn)->errmsg),
		 "PostgreSQL has no rowid: use INSERT ... RETURNING");
	return JG_EINVAL;
}

static const char *
pg_errmsg(struct jg_store_conn *conn)
{
	return CONN(conn)->errmsg;
}

int64_t
jg_store_pg_memory_used(void)
{
	return __atomic_load_n(&held_bytes, __ATOMIC_RELAXED);
}

static const struct jg_store_ops pg_ops = {
    .engine = JG_STORE_POSTGRES,
    .close = pg_close,
    .backup = pg_backup,
    .acquire = pg_acquire,
    .release = pg_release,
    .ping = pg_ping,
    .writable = pg_writable,
    .begin = pg_begin,
    .begin_serializable = pg_begin_serializable,
    .begin_read = pg_begin_read,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .exec_script = pg_exec_script,
    .prepare = pg_prepare,
    .prepare_scan = pg_prepare_scan,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_int64 = pg_bind_int64,
    .bind_null = pg_bind_null,
    .bind_double = pg_bind_double,
    .step = pg_step,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .column_int64 = pg_column_int64,
    .column_is_null = pg_column_is_null,
    .column_double = pg_column_double,
    .changes = pg_changes,
    .data_version = pg_data_version,
    .last_insert_rowid = pg_last_insert_rowid,
    .finish = pg_finish,
    .errmsg = pg_errmsg,
    .pipeline_begin = pg_pipeline_begin,
    .queue = pg_queue,
    .pipeline_end = pg_pipeline_end,
    .batch_run = pg_batch_run,
};

/*
 * Leadership (store.h): a session advisory lock on a connection of its own,
 * made from the store's URL and password like the pool's, so with
 * target_session_attrs=read-write it lands on the primary, after a failover
 * too.  Only the thread that polls touches it.
 */
struct jg_store_pg_leader {
	struct pg_store *store;
	int64_t key;
	PGconn *pg;
	bool held;
	int backoff_ms;
	struct timespec next_attempt; /* CLOCK_MONOTONIC; no connection attempt before it */
};

int
jg_store_pg_leader_new(struct jg_store *store, int64_t key, struct jg_store_pg_leader **out)
{
	struct jg_store_pg_leader *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (l == NULL)
		return JG_ENOMEM;
	l->store = (struct pg_store *)(void *)store;
	l->key = key;
	*out = l;
	return 0;
}

/* One boolean query on the leader's connection: 1 true, 0 false, -1 it failed. */
static int
leader_query(PGconn *pg, const char *sql, const char *arg)
{
	const char *values[1] = {arg};
	PGresult *r = PQexecParams(pg, sql, arg ? 1 : 0, NULL, arg ? values : NULL, NULL, NULL, 0);
	int answer = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1)
		answer = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return answer;
}

static void
leader_drop(struct jg_store_pg_leader *l)
{
	PQfinish(l->pg); /* the server releases the lock with the session */
	l->pg = NULL;
	l->held = false;
}

void
jg_store_pg_leader_poll(struct jg_store_pg_leader *l, bool *held)
{
	char err[256], key[24];

	*held = false;
	if (l->pg != NULL && l->held) {
		/* ours exactly while the session lives: prove that it does */
		if (leader_query(l->pg, "SELECT true", NULL) == 1) {
			*held = true;
			return;
		}
		leader_drop(l);
	}
	if (l->pg == NULL) {
		if (l->backoff_ms > 0 && !due(&l->next_attempt))
			return;
		if ((l->pg = connect_pg(l->store, err, sizeof(err))) == NULL) {
			int next = l->backoff_ms * 2;
			l->backoff_ms = l->backoff_ms == 0	? BACKOFF_MIN_MS
					: next > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
								: next;
			now_plus(&l->next_attempt, l->backoff_ms);
			return;
		}
		l->backoff_ms = 0;
	}
	snprintf(key, sizeof(key), "%lld", (long long)l->key);
	int got = leader_query(l->pg, "SELECT pg_try_advisory_lock($1::bigint)", key);
	if (got < 0) {
		leader_drop(l);
		return;
	}
	l->held = got == 1;
	*held = l->held;
}

void
jg_store_pg_leader_free(struct jg_store_pg_leader *l)
{
	char key[24];

	if (l == NULL)
		return;
	/*
	 * Unlocked before the connection closes: the server ends a closed
	 * session a little later, and the lock would be held until then, so
	 * another replica's next poll could still find it taken.
	 */
	if (l->pg != NULL && l->held) {
		snprintf(key, sizeof(key), "%lld", (long long)l->key);
		(void)leader_query(l->pg, "SELECT pg_advisory_unlock($1::bigint)", key);
	}
	PQfinish(l->pg);
	free(l);
}
