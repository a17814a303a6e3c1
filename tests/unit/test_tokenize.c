/*
 * test_tokenize.c - the shared tokenizer (tokenize.h) against what FTS5
 * itself indexes.
 *
 * What the PostgreSQL telemetry search relies on: for any text, the tokens
 * of jg_tokenizer_run are exactly, in order, the tokens an FTS5 table
 * declared `USING fts5 (text)` holds for it.  The test indexes a corpus of
 * awkward texts (addresses, paths, IPs, diacritics, case, CJK, scripts
 * without case, private-use characters, symbols, digits of other scripts)
 * in such a table and reads each token back with its position through an
 * fts5vocab 'instance' table, then compares.  A few tokenizations are also
 * spelled out, so that a tokenizer with other rules on both sides (an FTS5
 * table made differently, say) would fail too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "jitgate/error.h"
#include "jitgate/tokenize.h"

static const char *const corpus[] = {
    "alice@example.com wrote to Bob.Smith@Example.ORG",
    "GET /var/log/x.log from db.internal:5432 and 10.0.0.1, [2001:db8::1]:443",
    "https://pay.example.com/v1/payments?id=42&user=%C3%A9 #frag",
    "Crème brûlée, ÉCOLE naïve Ångström Øresund straße ŁÓDŹ İstanbul ΣΊΣΥΦΟΣ",
    "東京都の データベース 서울 北京市 ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "snake_case kebab-case camelCase dotted.name.space a+b=c x/y\\z",
    "uuid 3f2b8c1e-9d4a-4b6e-8f00-1a2b3c4d5e6f and 0xDEADbeef v1.2.3-rc.4",
    "numbers 3.14159 -42 1e10 ١٢٣ ४५६ ½ ² Ⅻ",
    "emoji 🙂🙃 text\u00a0nbsp\u2003emsp zero\u200bwidth soft\u00adhyphen",
    "private \xee\x80\x80\xee\x80\x81use and tab\tnew\nline\rcr",
    "quotes \"double\" 'single' `tick` «guillemets» „low“",
    "",
    "   ",
    "!!! ??? ---",
};

struct tokens {
	char *text; /* the tokens, each followed by '\n' */
	size_t len, cap;
};

static void
add(struct tokens *t, const char *s, size_t n)
{
	if (t->len + n + 2 > t->cap) {
		t->cap = (t->len + n + 2) * 2;
		t->text = realloc(t->text, t->cap);
		assert_non_null(t->text);
	}
	memcpy(t->text + t->len, s, n);
	t->len += n;
	t->text[t->len++] = '\n';
	t->text[t->len] = '\0';
}

static int
collect(void *ctx, const char *token, size_t len)
{
	add(ctx, token, len);
	return 0;
}

/* The tokens of text by jg_tokenizer_run, "a\nb\n" (caller frees). */
static char *
ours(struct jg_tokenizer *tk, const char *text)
{
	struct tokens t = {.text = calloc(1, 1), .cap = 1};
	assert_int_equal(jg_tokenizer_run(tk, text, strlen(text), collect, &t), 0);
	return t.text;
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/* The tokens FTS5 indexed for row id, in position order, "a\nb\n" (caller frees). */
static char *
theirs(sqlite3 *db, int64_t id)
{
	struct tokens t = {.text = calloc(1, 1), .cap = 1};
	sqlite3_stmt *st;
	int64_t next = 0;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT term, offset FROM v WHERE doc = ? "
					    "ORDER BY offset",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		/* positions run 0, 1, 2, ...: no token is colocated or missing */
		assert_int_equal(sqlite3_column_int64(st, 1), next++);
		add(&t, (const char *)sqlite3_column_text(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0));
	}
	sqlite3_finalize(st);
	return t.text;
}

static void
test_tokenize_matches_fts5_index(void **state)
{
	struct jg_tokenizer *tk = NULL;
	sqlite3 *db;
	sqlite3_stmt *ins;
	(void)state;

	assert_int_equal(jg_tokenizer_new(&tk), 0);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	exec(db, "CREATE VIRTUAL TABLE f USING fts5 (text);"
		 "CREATE VIRTUAL TABLE v USING fts5vocab (f, 'instance');");
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO f (rowid, text) VALUES (?, ?)", -1, &ins, NULL),
	    SQLITE_OK);
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		sqlite3_bind_int64(ins, 1, (int64_t)i + 1);
		sqlite3_bind_text(ins, 2, corpus[i], -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	size_t seen = 0;
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		char *a = ours(tk, corpus[i]), *b = theirs(db, (int64_t)i + 1);
		if (strcmp(a, b) != 0)
			fail_msg("text %zu (%s): ours\n%s\nFTS5's\n%s", i, corpus[i], a, b);
		seen += strlen(a);
		free(a);
		free(b);
	}
	assert_true(seen > 400); /* the corpus is not tokenized into nothing */
	sqlite3_close(db);
	jg_tokenizer_free(tk);
}

static void
test_tokenize_spelled_out(void **state)
{
	static const struct {
		const char *text, *tokens;
	} cases[] = {
	    {"alice@example.com", "alice\nexample\ncom\n"},
	    {"/var/log/x.log", "var\nlog\nx\nlog\n"},
	    {"db.internal", "db\ninternal\n"},
	    {"10.0.0.1", "10\n0\n0\n1\n"},
	    {"Crème BRÛLÉE", "creme\nbrulee\n"},
	    {"東京都 データ", "東京都\nデータ\n"},
	    {"snake_case-x", "snake\ncase\nx\n"},
	    {"!!! ---", ""},
	};
	struct jg_tokenizer *tk = NULL;
	(void)state;

	assert_int_equal(jg_tokenizer_new(&tk), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = ours(tk, cases[i].text);
		assert_string_equal(got, cases[i].tokens);
		free(got);
	}
	jg_tokenizer_free(tk);
}

static int
stop_at_second(void *ctx, const char *token, size_t len)
{
	int *n = ctx;
	(void)token;
	(void)len;
	return ++*n == 2 ? JG_ETOOBIG : 0;
}

static void
test_tokenize_callback_stops_the_run(void **state)
{
	struct jg_tokenizer *tk = NULL;
	int n = 0;
	(void)state;

	assert_int_equal(jg_tokenizer_new(&tk), 0);
	assert_int_equal(jg_tokenizer_run(tk, "a b c d", 7, stop_at_second, &n), JG_ETOOBIG);
	assert_int_equal(n, 2);
	assert_int_equal(jg_tokenizer_run(tk, NULL, 0, stop_at_second, &n), 0);
	assert_int_equal(jg_tokenizer_run(tk, NULL, 3, stop_at_second, &n), JG_EINVAL);
	jg_tokenizer_free(tk);
	jg_tokenizer_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tokenize_matches_fts5_index),
	    cmocka_unit_test(test_tokenize_spelled_out),
	    cmocka_unit_test(test_tokenize_callback_stops_the_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
