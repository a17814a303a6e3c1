/*
 * pgdb.h - fresh PostgreSQL databases for the unit tests named *_pg.
 *
 * `make unit` runs those tests under tests/lib/pg-cluster.sh run, which
 * starts a throwaway cluster and exports JG_PG_URL (role jitgate, database
 * jitgate), JG_PG_ADMIN_URL (the superuser postgres) and JG_PG_PORT.  Run by
 * hand from the repository root, a test re-executes itself under the script
 * (pgdb_init).  Each test makes its own databases (pgdb_create), so a test
 * that fails half-way leaves nothing another test sees, and drops them.
 *
 * Most tests want the database as a deployment has it (pgdb_create_migrated):
 * owned by a role that may create roles (jg_unit_owner), migrated by that
 * owner as `jitgate migrate` does, and served by the role jitgate holding only
 * the group role jitgate_serving that the first migration makes - so the
 * serving role's grants are exercised, not the owner's.
 *
 * Header-only (static functions): each unit test is one program; the ones
 * some tests do not call are static inline, so that those build unwarned.
 */
#ifndef JITGATE_TESTS_PGDB_H
#define JITGATE_TESTS_PGDB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jitgate/migrate.h"
#include "jitgate/store.h"

static const char *pgdb_port, *pgdb_admin_url;

/* Reads the cluster's variables, or runs argv[0] again under a cluster of its own. */
static void
pgdb_init(const char *test, char **argv)
{
	pgdb_port = getenv("JG_PG_PORT");
	pgdb_admin_url = getenv("JG_PG_ADMIN_URL");
	if (pgdb_port != NULL && pgdb_admin_url != NULL)
		return;
	if (getenv("MAKELEVEL") != NULL) {
		fprintf(stderr,
			"%s: JG_PG_PORT and JG_PG_ADMIN_URL are not set: make unit runs this test "
			"under tests/lib/pg-cluster.sh run\n",
			test);
		exit(1);
	}
	execl("tests/lib/pg-cluster.sh", "pg-cluster.sh", "run", "--", argv[0], (char *)NULL);
	fprintf(stderr, "%s: tests/lib/pg-cluster.sh (run from the repository root) failed\n",
		test);
	exit(1);
}

/* postgres://ROLE@127.0.0.1:PORT/DB */
static void
pgdb_url(char *out, size_t len, const char *role, const char *db)
{
	snprintf(out, len, "postgres://%s@127.0.0.1:%s/%s", role, pgdb_port, db);
}

/*
 * Runs trusted SQL as the superuser on database db (NULL: the cluster's own,
 * jitgate); CREATE/DROP DATABASE one statement per call.
 */
static int
pgdb_admin_in(const char *db, const char *sql, char *err, size_t errlen)
{
	struct jg_store *s = NULL;
	struct jg_store_conn *c = NULL;
	char url[256];
	if (db != NULL)
		pgdb_url(url, sizeof(url), "postgres", db);
	int rc = jg_store_open(db != NULL ? url : pgdb_admin_url, &s, err, errlen);
	if (rc == 0 && (rc = jg_store_acquire(s, &c)) == 0)
		rc = jg_store_exec_script(c, sql, err, errlen);
	jg_store_release(s, c);
	jg_store_close(s);
	return rc;
}

static void
pgdb_must_in(const char *db, const char *sql)
{
	char err[512] = "";
	if (pgdb_admin_in(db, sql, err, sizeof(err)) != 0) {
		fprintf(stderr, "pgdb: %s: %s\n", sql, err);
		abort();
	}
}

static void
pgdb_must(const char *sql)
{
	pgdb_must_in(NULL, sql);
}

/* A new database owned by owner; its name into name (jg_u_PID_N). */
static void
pgdb_create(char *name, size_t len, const char *owner)
{
	static int n;
	char sql[256];
	snprintf(name, len, "jg_u_%ld_%d", (long)getpid(), ++n);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER %s", name, owner);
	pgdb_must(sql);
}

static void
pgdb_drop(const char *name)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	pgdb_must(sql);
}

/* The owner role of the tests' databases: it may log in and create roles (jitgate_serving). */
#define PGDB_OWNER "jg_unit_owner"

/* A new database owned by PGDB_OWNER (the role made on first use); its name into name. */
static inline void
pgdb_create_owned(char *name, size_t len)
{
	pgdb_must("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
		  "'" PGDB_OWNER "') THEN CREATE ROLE " PGDB_OWNER " LOGIN CREATEROLE; END IF; "
		  "END $$");
	pgdb_create(name, len, PGDB_OWNER);
}

/*
 * A new database as a deployment has it: owned by PGDB_OWNER, migrated by it
 * with the repository's migrations/ (the test runs from the repository root),
 * and the role jitgate granted jitgate_serving.  Its name into name; the URL
 * the serving role jitgate connects with into serving_url; the owner's store,
 * open, into *owner (the caller closes it; NULL on failure).  Returns 0, or a
 * JG_E* code with the reason in err.
 */
static inline int
pgdb_create_migrated(char *name, size_t namelen, struct jg_store **owner, char *serving_url,
		     size_t urllen, char *err, size_t errlen)
{
	char url[256];
	int rc;

	*owner = NULL;
	pgdb_create_owned(name, namelen);
	pgdb_url(url, sizeof(url), PGDB_OWNER, name);
	if ((rc = jg_store_open(url, owner, err, errlen)) != 0)
		return rc;
	if ((rc = jg_migrate_apply(*owner, "migrations", NULL, err, errlen)) != 0) {
		jg_store_close(*owner);
		*owner = NULL;
		return rc;
	}
	pgdb_must("GRANT jitgate_serving TO jitgate");
	pgdb_url(serving_url, urllen, "jitgate", name);
	return 0;
}

#endif
