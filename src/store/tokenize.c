/*
 * tokenize.c - SQLite FTS5's unicode61 tokenizer as a library (tokenize.h).
 *
 * FTS5 publishes its tokenizers through the fts5_api object of a
 * connection: `SELECT fts5(?1)` with a pointer bound under the type
 * "fts5_api_ptr" (sqlite3_bind_pointer) writes the connection's fts5_api
 * into it; xFindTokenizer("unicode61") gives the tokenizer's functions, and
 * xCreate with ("remove_diacritics", "1") an instance configured exactly as
 * the tokenizer of a table declared `USING fts5 (text)`.  The connection is
 * an in-memory database that holds nothing; it lives as long as the
 * tokenizer, because the functions FTS5 handed out belong to it.
 */
#include <limits.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "jitgate/error.h"
#include "jitgate/tokenize.h"

struct jg_tokenizer {
	sqlite3 *db;
	fts5_tokenizer api;
	Fts5Tokenizer *tok;
};

/* The fts5_api of db, or NULL (SQLite without FTS5). */
static fts5_api *
fts5_api_of(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	(void)sqlite3_step(st);
	sqlite3_finalize(st);
	return api;
}

int
jg_tokenizer_new(struct jg_tokenizer **out)
{
	/* the options of FTS5's default tokenizer, spelled out: a default changing cannot drift */
	const char *args[] = {"remove_diacritics", "1"};
	struct jg_tokenizer *t = calloc(1, sizeof(*t));
	void *uctx = NULL;
	int rc = JG_ESTORE;

	*out = NULL;
	if (t == NULL)
		return JG_ENOMEM;
	if (sqlite3_open_v2(":memory:", &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		goto out;
	fts5_api *api = fts5_api_of(t->db);
	if (api == NULL || api->iVersion < 2 ||
	    api->xFindTokenizer(api, "unicode61", &uctx, &t->api) != SQLITE_OK ||
	    t->api.xCreate(uctx, args, 2, &t->tok) != SQLITE_OK)
		goto out;
	*out = t;
	t = NULL;
	rc = 0;
out:
	jg_tokenizer_free(t);
	return rc;
}

struct run {
	jg_token_fn fn;
	void *ctx;
	int rc; /* fn's non-zero return, which stopped the run */
};

static int
on_token(void *arg, int flags, const char *token, int len, int start, int end)
{
	struct run *r = arg;
	(void)flags;
	(void)start;
	(void)end;
	if (len <= 0)
		return SQLITE_OK;
	r->rc = r->fn(r->ctx, token, (size_t)len);
	return r->rc == 0 ? SQLITE_OK : SQLITE_ABORT;
}

int
jg_tokenizer_run(struct jg_tokenizer *t, const char *text, size_t len, jg_token_fn fn, void *ctx)
{
	struct run r = {.fn = fn, .ctx = ctx};

	if (t == NULL || fn == NULL || (text == NULL && len > 0) || len > INT_MAX)
		return JG_EINVAL;
	if (len == 0)
		return 0;
	int rc = t->api.xTokenize(t->tok, &r, FTS5_TOKENIZE_DOCUMENT, text, (int)len, on_token);
	if (r.rc != 0)
		return r.rc;
	return rc == SQLITE_OK ? 0 : JG_ESTORE;
}

void
jg_tokenizer_free(struct jg_tokenizer *t)
{
	if (t == NULL)
		return;
	if (t->tok != NULL)
		t->api.xDelete(t->tok);
	sqlite3_close(t->db);
	free(t);
}
