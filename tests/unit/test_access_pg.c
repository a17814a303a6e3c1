/*
 * test_access_pg.c - test_access.c on a real PostgreSQL server: the request
 * lifecycle, approvals, refusal budgets and due notifications on a fresh
 * database migrated by an owner role, served as a role that holds only
 * jitgate_serving.  `make unit` runs it under tests/lib/pg-cluster.sh run
 * (tests/unit/pgdb.h).
 */
#define JG_TEST_PG 1
#include "test_access.c"
