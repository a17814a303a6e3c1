/*
 * probe_fixture.h - what the probe unit tests (test_probes.c,
 * test_probe_status.c) stand on: a real store (SQLite, or with JG_TEST_PG
 * a fresh PostgreSQL database migrated by an owner role and served by a
 * role holding only jitgate_serving, pgdb.h), the repository's
 * migrations, a started audit writer, a policy set, and grants made
 * through access.c.  Include after <cmocka.h> and, with JG_TEST_PG, pgdb.h.
 */
#ifndef JG_TESTS_UNIT_PROBE_FIXTURE_H
#define JG_TESTS_UNIT_PROBE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/access.h"
#include "jitgate/audit.h"
#include "jitgate/keys.h"
#include "jitgate/migrate.h"
#include "jitgate/policy.h"
#include "jitgate/store.h"
#include "unit_fs.h"

struct fixture {
	char root[64];
	char db[64];		/* PostgreSQL: this test's database */
	struct jg_store *owner; /* PostgreSQL: the owner role's store, which migrated it */
	struct jg_store *store;
	struct jg_audit *audit;
	struct jg_policy_set *policies;
	struct jg_access_ctx ctx;
};

/* A fixture under /tmp/<name>-XXXXXX serving policy_yaml, the clock at now; into *state. */
static inline int
probe_fixture_setup(void **state, const char *name, const char *policy_yaml, int64_t now)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[1024] = "", db[128], keys[128];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/%s-XXXXXX", name);
	assert_non_null(mkdtemp(f->root));
	snprintf(db, sizeof(db), "%s/test.db", f->root);
	snprintf(keys, sizeof(keys), "%s/keys", f->root);
#ifdef JG_TEST_PG
	if (pgdb_create_migrated(f->db, sizeof(f->db), &f->owner, db, sizeof(db), err,
				 sizeof(err)) != 0)
		fail_msg("owner store: %s", err);
#endif
	struct jg_audit_config acfg = {.origin = "jg.example.com/audit",
				       .checkpoint_entries = 1000000,
				       .checkpoint_seconds = 3600,
				       .verify_threads = 1};
	if (jg_store_open(db, &f->store, err, sizeof(err)) != 0 ||
	    (f->owner == NULL &&
	     jg_migrate_apply(f->store, "migrations", NULL, err, sizeof(err)) != 0) ||
	    jg_keys_generate(keys, err, sizeof(err)) != 0 ||
	    jg_audit_open(f->store, keys, &acfg, &f->audit, err, sizeof(err)) != 0)
		fail_msg("setup: %s", err);
	assert_int_equal(jg_audit_start(f->audit), 0);
	if (jg_policy_set_parse("test.yaml", policy_yaml, strlen(policy_yaml), NULL, &f->policies,
				err, sizeof(err)) != 0)
		fail_msg("policy: %s", err);
	f->ctx = (struct jg_access_ctx){.store = f->store,
					.audit = f->audit,
					.policies = f->policies,
					.pending_ttl = 3600,
					.now = now};
	*state = f;
	return 0;
}

static inline int
probe_fixture_teardown(void **state)
{
	struct fixture *f = *state;

	jg_audit_free(f->audit);
	jg_store_close(f->store);
	jg_store_close(f->owner);
#ifdef JG_TEST_PG
	pgdb_drop(f->db);
#endif
	jg_policy_set_free(f->policies);
	unit_rm_tree(f->root);
	free(f);
	return 0;
}

/*
 * An active deploy-probe grant of caller on svc for duration seconds from
 * now (the policy grants it at once); its id into id.
 */
static inline void
probe_fixture_grant(struct fixture *f, const struct jg_access_caller *caller, const char *svc,
		    int64_t now, int duration, char id[64])
{
	char text[256], why[256] = "";
	json_t *out = NULL;
	snprintf(text, sizeof(text),
		 "{\"service\":\"%s\",\"capabilities\":[\"deploy-probe\"],\"duration\":%d,"
		 "\"justification\":\"a probe\"}",
		 svc, duration);
	json_t *body = json_loads(text, 0, NULL);
	f->ctx.now = now;
	if (jg_access_create(&f->ctx, caller, body, &out, why, sizeof(why)) != 0)
		fail_msg("create: %s", why);
	snprintf(id, 64, "%s", json_string_value(json_object_get(out, "id")));
	json_decref(out);
	json_decref(body);
}

#endif
