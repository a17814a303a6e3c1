/*
 * audit_fill.h - many audit entries at once, through the writer's bulk path
 * (as `audit_bench fill`): jg_audit_run() batches of up to 20,000
 * jg_audit_tx_append() calls, one transaction and one commit each.  For
 * tests that need a long log (start time against history, tiles of several
 * levels), where an append per call would take minutes.  Include after
 * <cmocka.h>.
 */
#ifndef JG_TESTS_UNIT_AUDIT_FILL_H
#define JG_TESTS_UNIT_AUDIT_FILL_H

#include <jansson.h>

#include "jitgate/audit.h"

struct unit_fill_batch {
	int count;
};

static inline int
unit_fill_batch(struct jg_audit_tx *tx, void *ctx)
{
	const struct unit_fill_batch *b = ctx;
	for (int i = 0; i < b->count; i++) {
		json_t *data = json_pack("{s:i}", "n", i);
		int rc = jg_audit_tx_append(tx, "test.fill", "tester", data, NULL);
		json_decref(data);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Appends count entries {"n": i} of type test.fill; fails the test if a batch is refused. */
static inline void
unit_audit_fill(struct jg_audit *audit, int count)
{
	for (int done = 0; done < count;) {
		struct unit_fill_batch b = {count - done < 20000 ? count - done : 20000};
		assert_int_equal(jg_audit_run(audit, unit_fill_batch, &b), 0);
		done += b.count;
	}
}

#endif
