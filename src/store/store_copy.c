/*
 * store_copy.c - a table copied from one store to another, and the owners'
 * declarations of their tables checked against the schema's catalog
 * (store.h, "Copying a database table by table").
 *
 * The copy runs the owner's two literals: its SELECT on the source (a scan
 * statement, so a PostgreSQL source holds JG_STORE_SCAN_BATCH rows at a
 * time) and its INSERT on the target, one row per step, each value read
 * with the getter its type letter names and bound with the matching bind:
 * integers stay 64-bit integers, reals doubles (sent as %.17g, exact), text
 * text, blobs their bytes.  Nothing here knows a table of jitgate's: the
 * names come from the declarations, and they reach the catalog queries as
 * bound values, never as SQL.
 *
 * The catalog is each engine's own (sqlite_schema and pragma_table_info;
 * pg_class and pg_attribute in the current schema), read with fixed
 * statements; a declaration that disagrees with it - a missing or extra
 * column, another type, a table nobody declares - is refused before any
 * row moves.  On a PostgreSQL target, the columns that own a sequence
 * (identity or serial: pg_get_serial_sequence) are found the same way and
 * their sequences set past the highest value copied, so the server numbers
 * new rows after the copied ones; a SQLite target needs nothing (a rowid
 * key continues from the highest row).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jitgate/error.h"
#include "jitgate/store.h"

#define MAX_COLUMNS 32
#define MAX_NAME    64

static const char sql_columns_sqlite[] = "SELECT name, type FROM pragma_table_info(?)";
static const char sql_tables_sqlite[] = "SELECT name FROM sqlite_schema WHERE type = 'table' "
					"AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name";
static const char sql_columns_pg[] =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relname = ? AND c.relkind IN ('r', 'p') "
    "AND a.attnum > 0 AND NOT a.attisdropped";
static const char sql_tables_pg[] =
    "SELECT c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "ORDER BY c.relname";
/* The columns of a table that own a sequence, and the sequence's name. */
static const char sql_sequences_pg[] =
    "SELECT a.attname, pg_get_serial_sequence(quote_ident(n.nspname) || '.' || "
    "quote_ident(c.relname), a.attname) FROM pg_catalog.pg_attribute a "
    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relname = ? AND a.attnum > 0 "
    "AND NOT a.attisdropped AND pg_get_serial_sequence(quote_ident(n.nspname) || '.' || "
    "quote_ident(c.relname), a.attname) IS NOT NULL";
/* is_called false: the next value handed out is exactly the one given. */
static const char sql_setval_pg[] = "SELECT setval(CAST(? AS regclass), ?, false)";

struct columns {
	size_t n;
	char name[MAX_COLUMNS][MAX_NAME];
};

/* "a, b, c" -> names; each [a-z0-9_]+ and shorter than MAX_NAME. */
static int
split_columns(const char *list, struct columns *out)
{
	const char *p = list;

	out->n = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (len == 0 || len >= MAX_NAME || out->n == MAX_COLUMNS)
			return JG_EINVAL;
		memcpy(out->name[out->n], p, len);
		out->name[out->n++][len] = '\0';
		p += len;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			return JG_EINVAL;
	}
}

static size_t
count_char(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

/* The declaration is well formed: as many type letters and '?' as columns. */
static int
table_shape(const struct jg_store_table *t, struct columns *cols, char *err, size_t errlen)
{
	if (t == NULL || t->name == NULL || t->columns == NULL || t->types == NULL ||
	    t->select == NULL || t->insert == NULL || t->count == NULL)
		return jg_errf(err, errlen, JG_EINVAL, "a table declaration is incomplete");
	if (split_columns(t->columns, cols) != 0)
		return jg_errf(err, errlen, JG_EINVAL, "%s: bad column list", t->name);
	if (strlen(t->types) != cols->n || strspn(t->types, "irtb") != cols->n)
		return jg_errf(err, errlen, JG_EINVAL,
			       "%s: %zu columns but types \"%s\" (one of i r t b per column)",
			       t->name, cols->n, t->types);
	if (count_char(t->insert, '?') != cols->n || count_char(t->select, '?') != 0)
		return jg_errf(err, errlen, JG_EINVAL, "%s: the insert does not bind every column",
			       t->name);
	return 0;
}

/* The type letter of a catalog type; '?' for a type no declaration can name. */
static char
letter_of(enum jg_store_engine engine, const char *type)
{
	if (type == NULL)
		return '?';
	if (engine == JG_STORE_POSTGRES) {
		if (strcmp(type, "bigint") == 0 || strcmp(type, "integer") == 0 ||
		    strcmp(type, "smallint") == 0)
			return 'i';
		if (strcmp(type, "double precision") == 0 || strcmp(type, "real") == 0)
			return 'r';
		if (strcmp(type, "text") == 0 || strncmp(type, "character", 9) == 0)
			return 't';
		return strcmp(type, "bytea") == 0 ? 'b' : '?';
	}
	/* SQLite's affinity rules (its documentation, "Determination Of Column Affinity") */
	if (strcasestr(type, "INT") != NULL)
		return 'i';
	if (strcasestr(type, "CHAR") != NULL || strcasestr(type, "CLOB") != NULL ||
	    strcasestr(type, "TEXT") != NULL)
		return 't';
	if (strcasestr(type, "BLOB") != NULL || type[0] == '\0')
		return 'b';
	if (strcasestr(type, "REAL") != NULL || strcasestr(type, "FLOA") != NULL ||
	    strcasestr(type, "DOUB") != NULL)
		return 'r';
	return '?';
}

static int
find_column(const struct columns *cols, const char *name)
{
	for (size_t i = 0; i < cols->n; i++)
		if (strcmp(cols->name[i], name) == 0)
			return (int)i;
	return -1;
}

int
jg_store_table_check(struct jg_store_conn *conn, const struct jg_store_table *t, char *err,
		     size_t errlen)
{
	enum jg_store_engine engine = jg_store_conn_engine(conn);
	bool seen[MAX_COLUMNS] = {false};
	struct columns cols;
	struct jg_stmt *st;
	size_t found = 0;
	int rc, step;

	if ((rc = table_shape(t, &cols, err, errlen)) != 0)
		return rc;
	if ((rc = jg_stmt_prepare(conn,
				  engine == JG_STORE_POSTGRES ? sql_columns_pg : sql_columns_sqlite,
				  &st)) != 0)
		return jg_errf(err, errlen, rc, "%s: the catalog: %s", t->name,
			       jg_store_errmsg(conn));
	jg_stmt_bind_text(st, 1, t->name);
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *name = jg_stmt_column_text(st, 0);
		const char *type = jg_stmt_column_text(st, 1);
		int k = name ? find_column(&cols, name) : -1;
		if (k < 0) {
			rc = jg_errf(err, errlen, JG_EINVAL,
				     "%s has a column %s that its owner does not declare "
				     "(a migration newer than this binary's copy?)",
				     t->name, name ? name : "?");
			break;
		}
		char have = letter_of(engine, type);
		if (have != t->types[k]) {
			rc = jg_errf(err, errlen, JG_EINVAL,
				     "%s.%s is %s in the schema, declared '%c'", t->name, name,
				     type ? type : "?", t->types[k]);
			break;
		}
		if (!seen[k]) {
			seen[k] = true;
			found++;
		}
	}
	jg_stmt_finish(st);
	if (rc != 0)
		return rc;
	if (step != JG_STMT_DONE)
		return jg_errf(err, errlen, step, "%s: the catalog: %s", t->name,
			       jg_store_errmsg(conn));
	if (found == 0)
		return jg_errf(err, errlen, JG_EINVAL, "the schema has no table %s", t->name);
	for (size_t i = 0; i < cols.n; i++)
		if (!seen[i])
			return jg_errf(err, errlen, JG_EINVAL, "%s has no column %s", t->name,
				       cols.name[i]);
	return 0;
}

int
jg_store_tables_cover(struct jg_store_conn *conn, const struct jg_store_table *const *tables,
		      size_t n, const char *const *left_behind, char *err, size_t errlen)
{
	struct jg_stmt *st;
	int rc = 0, step;

	if ((rc = jg_stmt_prepare(conn,
				  jg_store_conn_engine(conn) == JG_STORE_POSTGRES
				      ? sql_tables_pg
				      : sql_tables_sqlite,
				  &st)) != 0)
		return jg_errf(err, errlen, rc, "the catalog: %s", jg_store_errmsg(conn));
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *name = jg_stmt_column_text(st, 0);
		bool declared = name != NULL && strcmp(name, JG_STORE_MIGRATIONS_TABLE) == 0;
		for (size_t i = 0; name != NULL && i < n && !declared; i++)
			declared = strcmp(tables[i]->name, name) == 0;
		for (size_t i = 0;
		     name != NULL && left_behind != NULL && left_behind[i] != NULL && !declared;
		     i++)
			declared = strcmp(left_behind[i], name) == 0;
		if (!declared) {
			rc = jg_errf(err, errlen, JG_EINVAL,
				     "the schema has a table %s that no module declares: it would "
				     "not be copied",
				     name ? name : "?");
			break;
		}
	}
	jg_stmt_finish(st);
	if (rc == 0 && step != JG_STMT_DONE)
		rc = jg_errf(err, errlen, step, "the catalog: %s", jg_store_errmsg(conn));
	return rc;
}

int
jg_store_table_count(struct jg_store_conn *conn, const struct jg_store_table *t, int64_t *rows)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, t->count, &st);

	if (rc != 0)
		return rc;
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW) {
		*rows = jg_stmt_column_int64(st, 0);
		rc = 0;
	} else if (rc == JG_STMT_DONE) {
		rc = JG_ESTORE;
	}
	jg_stmt_finish(st);
	return rc;
}

/* A column of the target that owns a sequence: its index and the highest value copied. */
struct sequence {
	int col;
	char name[2 * MAX_NAME + 8]; /* schema.sequence as pg_get_serial_sequence quotes it */
	int64_t max;
	bool any;
};

static int
find_sequences(struct jg_store_conn *dst, const struct jg_store_table *t,
	       const struct columns *cols, struct sequence *seqs, size_t *nseq, char *err,
	       size_t errlen)
{
	struct jg_stmt *st;
	int rc = 0, step;

	*nseq = 0;
	if (jg_store_conn_engine(dst) != JG_STORE_POSTGRES)
		return 0;
	if ((rc = jg_stmt_prepare(dst, sql_sequences_pg, &st)) != 0)
		return jg_errf(err, errlen, rc, "%s: sequences: %s", t->name, jg_store_errmsg(dst));
	jg_stmt_bind_text(st, 1, t->name);
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *col = jg_stmt_column_text(st, 0);
		const char *seq = jg_stmt_column_text(st, 1);
		int k = col ? find_column(cols, col) : -1;
		if (k < 0 || t->types[k] != 'i' || seq == NULL ||
		    strlen(seq) >= sizeof(seqs[0].name) || *nseq == MAX_COLUMNS) {
			rc = jg_errf(err, errlen, JG_EINVAL,
				     "%s: the sequence of column %s cannot be set", t->name,
				     col ? col : "?");
			break;
		}
		seqs[*nseq].col = k;
		memcpy(seqs[*nseq].name, seq, strlen(seq) + 1);
		seqs[*nseq].max = 0;
		seqs[*nseq].any = false;
		(*nseq)++;
	}
	jg_stmt_finish(st);
	if (rc == 0 && step != JG_STMT_DONE)
		rc = jg_errf(err, errlen, step, "%s: sequences: %s", t->name, jg_store_errmsg(dst));
	return rc;
}

/* Binds column k of the source's current row to the insert, as its letter says. */
static int
bind_value(struct jg_stmt *from, struct jg_stmt *to, int k, char type)
{
	if (jg_stmt_column_is_null(from, k))
		return jg_stmt_bind_null(to, k + 1);
	switch (type) {
	case 'i': return jg_stmt_bind_int64(to, k + 1, jg_stmt_column_int64(from, k));
	case 'r': return jg_stmt_bind_double(to, k + 1, jg_stmt_column_double(from, k));
	case 't': return jg_stmt_bind_text(to, k + 1, jg_stmt_column_text(from, k));
	default: {
		size_t len = 0;
		const void *blob = jg_stmt_column_blob(from, k, &len);
		/* an empty blob (SQLite hands back NULL for it) is still an empty blob */
		return jg_stmt_bind_blob(to, k + 1, blob ? blob : "", len);
	}
	}
}

int
jg_store_table_copy(struct jg_store_conn *src, struct jg_store_conn *dst,
		    const struct jg_store_table *t, int64_t *rows, char *err, size_t errlen)
{
	struct sequence seqs[MAX_COLUMNS];
	struct columns cols;
	struct jg_stmt *from = NULL, *to;
	size_t nseq = 0;
	int rc, step;

	*rows = 0;
	if ((rc = table_shape(t, &cols, err, errlen)) != 0 ||
	    (rc = find_sequences(dst, t, &cols, seqs, &nseq, err, errlen)) != 0)
		return rc;
	if ((rc = jg_stmt_prepare_scan(src, t->select, &from)) != 0)
		return jg_errf(err, errlen, rc, "%s: reading: %s", t->name, jg_store_errmsg(src));
	while ((step = jg_stmt_step(from)) == JG_STMT_ROW) {
		if ((rc = jg_stmt_prepare(dst, t->insert, &to)) != 0) {
			rc = jg_errf(err, errlen, rc, "%s: writing: %s", t->name,
				     jg_store_errmsg(dst));
			break;
		}
		for (size_t k = 0; k < cols.n && rc == 0; k++)
			rc = bind_value(from, to, (int)k, t->types[k]);
		if (rc != 0) {
			jg_stmt_finish(to);
			rc = jg_errf(err, errlen, rc, "%s: row %lld: a value cannot be bound",
				     t->name, (long long)*rows);
			break;
		}
		if ((rc = jg_stmt_run(to)) != 0) {
			rc = jg_errf(err, errlen, rc, "%s: row %lld: %s", t->name, (long long)*rows,
				     jg_store_errmsg(dst));
			break;
		}
		for (size_t i = 0; i < nseq; i++) {
			if (jg_stmt_column_is_null(from, seqs[i].col))
				continue;
			int64_t v = jg_stmt_column_int64(from, seqs[i].col);
			if (!seqs[i].any || v > seqs[i].max)
				seqs[i].max = v;
			seqs[i].any = true;
		}
		(*rows)++;
	}
	if (rc == 0 && step != JG_STMT_DONE)
		rc = jg_errf(err, errlen, step, "%s: reading: %s", t->name, jg_store_errmsg(src));
	jg_stmt_finish(from);
	for (size_t i = 0; i < nseq && rc == 0; i++) {
		if (seqs[i].any && seqs[i].max == INT64_MAX)
			return jg_errf(err, errlen, JG_EINVAL,
				       "%s.%s: no value left after the copy", t->name,
				       cols.name[seqs[i].col]);
		if ((rc = jg_stmt_prepare(dst, sql_setval_pg, &to)) != 0)
			return jg_errf(err, errlen, rc, "%s: sequence: %s", t->name,
				       jg_store_errmsg(dst));
		jg_stmt_bind_text(to, 1, seqs[i].name);
		jg_stmt_bind_int64(to, 2, seqs[i].any ? seqs[i].max + 1 : 1);
		step = jg_stmt_step(to);
		jg_stmt_finish(to);
		if (step != JG_STMT_ROW)
			rc = jg_errf(err, errlen, step == JG_STMT_DONE ? JG_ESTORE : step,
				     "%s: setting the sequence of %s: %s", t->name,
				     cols.name[seqs[i].col], jg_store_errmsg(dst));
	}
	return rc;
}
