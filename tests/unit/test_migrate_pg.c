/*
 * test_migrate_pg.c - test_migrate.c on a real PostgreSQL server: the same
 * cases on a fresh database each, plus what only PostgreSQL has (the
 * advisory lock of a run; the roles and privileges the repository's
 * migrations/postgres/ set up).  `make unit` runs it under
 * tests/lib/pg-cluster.sh run (tests/unit/pgdb.h).
 */
#define JG_TEST_PG 1
#include "test_migrate.c"
