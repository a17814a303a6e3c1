/*
 * test_policy_match.c - separation of duties: jg_policy_match_run().
 *
 * The cases an approver meets (carol in payments-leads and privacy, bob a
 * lead, grace in privacy) with their exact assignments, including the
 * order where a first-come assignment would refuse bob; shared_approvers,
 * alone and mixed with requirements that do not share; then two
 * properties over many random small instances, against a brute force that
 * tries every legal use of every approver: the total met is the maximum,
 * and (without shared requirements) an approval that adds nothing now adds
 * nothing later either, which is why the lifecycle may refuse it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jitgate/error.h"
#include "jitgate/policy.h"

#define MAXP 16

struct inst {
	size_t nreq, np;
	int count[JG_POLICY_MAX_REQUIREMENTS];
	bool shared[JG_POLICY_MAX_REQUIREMENTS];
	uint32_t elig[MAXP];
	uint32_t counted[MAXP];
};

static struct jg_policy_match
run(struct inst *in, size_t np)
{
	struct jg_policy_match m = {.nreq = in->nreq,
				    .count = in->count,
				    .shared = in->shared,
				    .napprovers = np,
				    .eligible = in->elig,
				    .counted = in->counted};
	assert_int_equal(jg_policy_match_run(&m), 0);
	return m;
}

/* The assignment is one a person may have: nothing, one requirement, or only shared ones. */
static void
assert_legal(const struct inst *in, size_t np, const struct jg_policy_match *m)
{
	int got[JG_POLICY_MAX_REQUIREMENTS] = {0}, total = 0, needed = 0;
	uint32_t shared = 0;

	for (size_t k = 0; k < in->nreq; k++)
		if (in->shared[k])
			shared |= 1u << k;
	for (size_t p = 0; p < np; p++) {
		uint32_t c = m->counted[p];
		assert_int_equal(c & ~in->elig[p], 0);
		if (__builtin_popcount(c) > 1)
			assert_int_equal(c & ~shared, 0);
		for (size_t k = 0; k < in->nreq; k++)
			if (c & (1u << k))
				got[k]++;
	}
	for (size_t k = 0; k < in->nreq; k++) {
		int a = got[k] < in->count[k] ? got[k] : in->count[k];
		assert_int_equal(m->approved[k], a);
		total += a;
		needed += in->count[k];
	}
	assert_int_equal(m->total, total);
	assert_int_equal(m->needed, needed);
	assert_int_equal(m->met, total == needed);
}

enum { LEAD = 0, PRIV = 1 };
#define B(k) (1u << (k))

/* deploy-probe (1 lead) + read-pii (1 privacy): carol first, then bob. */
static void
test_match_reassigns_an_earlier_approval(void **state)
{
	struct inst in = {.nreq = 2, .count = {1, 1}};
	(void)state;
	in.elig[0] = B(LEAD) | B(PRIV); /* carol */
	in.elig[1] = B(LEAD);		/* bob */

	struct jg_policy_match m = run(&in, 1);
	assert_int_equal(m.total, 1); /* carol alone: one of two, never both */
	assert_false(m.met);
	assert_int_equal(in.counted[0], B(LEAD)); /* first come: she takes the lead slot */
	assert_legal(&in, 1, &m);

	/* first come, first served would now refuse bob: the lead slot is taken */
	m = run(&in, 2);
	assert_true(m.met);
	assert_int_equal(in.counted[0], B(PRIV)); /* carol moved */
	assert_int_equal(in.counted[1], B(LEAD));
	assert_true(m.exact);
	assert_legal(&in, 2, &m);
}

/* The example policies: probe 1 lead, PII 2 from privacy; carol and grace are not enough. */
static void
test_match_carol_counts_once(void **state)
{
	struct inst in = {.nreq = 2, .count = {1, 2}};
	(void)state;
	in.elig[0] = B(LEAD) | B(PRIV); /* carol */
	in.elig[1] = B(PRIV);		/* grace */
	in.elig[2] = B(LEAD);		/* bob */

	struct jg_policy_match m = run(&in, 2);
	assert_int_equal(m.total, 2);
	assert_int_equal(m.needed, 3);
	assert_false(m.met);
	assert_legal(&in, 2, &m);
	m = run(&in, 3);
	assert_true(m.met);
	assert_int_equal(in.counted[0], B(PRIV));
	assert_int_equal(in.counted[1], B(PRIV));
	assert_int_equal(in.counted[2], B(LEAD));
	assert_int_equal(m.approved[LEAD], 1);
	assert_int_equal(m.approved[PRIV], 2);
}

/* A second lead when the lead requirement is met and nobody can move: adds nothing. */
static void
test_match_not_needed(void **state)
{
	struct inst in = {.nreq = 2, .count = {1, 1}};
	(void)state;
	in.elig[0] = B(LEAD); /* bob */
	in.elig[1] = B(LEAD); /* dan, another lead */

	struct jg_policy_match m = run(&in, 1);
	assert_int_equal(m.total, 1);
	m = run(&in, 2);
	assert_int_equal(m.total, 1);
	assert_int_equal(in.counted[0], B(LEAD)); /* the earlier one keeps it */
	assert_int_equal(in.counted[1], 0);
	assert_legal(&in, 2, &m);
}

/* Both requirements share: carol alone meets both; one sharing is not enough. */
static void
test_match_shared_approvers(void **state)
{
	struct inst in = {.nreq = 2, .count = {1, 1}, .shared = {true, true}};
	(void)state;
	in.elig[0] = B(LEAD) | B(PRIV);

	struct jg_policy_match m = run(&in, 1);
	assert_true(m.met);
	assert_int_equal(in.counted[0], B(LEAD) | B(PRIV));
	assert_legal(&in, 1, &m);

	in.shared[PRIV] = false; /* only one of the two rules shares */
	m = run(&in, 1);
	assert_int_equal(m.total, 1);
	assert_int_equal(__builtin_popcount(in.counted[0]), 1);
	assert_legal(&in, 1, &m);

	/* sharing does not make one person two approvals of one requirement */
	struct inst two = {.nreq = 1, .count = {2}, .shared = {true}};
	two.elig[0] = B(0);
	m = run(&two, 1);
	assert_int_equal(m.total, 1);
	assert_false(m.met);
}

/*
 * Two shared requirements and one that does not share.  carol may fill
 * both shared ones, or the other one alone; which is better depends on who
 * else approved, and is decided again at each approval.
 */
static void
test_match_shared_mixed(void **state)
{
	struct inst in = {.nreq = 3, .count = {1, 1, 1}, .shared = {true, true, false}};
	(void)state;
	in.elig[0] = B(0) | B(1) | B(2); /* carol */
	struct jg_policy_match m = run(&in, 1);
	assert_int_equal(m.total, 2); /* shared use beats single use */
	assert_int_equal(in.counted[0], B(0) | B(1));

	in.elig[1] = B(0) | B(1); /* erin: shared ones only */
	m = run(&in, 2);
	assert_true(m.met); /* carol now takes the one that does not share */
	assert_int_equal(in.counted[0], B(2));
	assert_int_equal(in.counted[1], B(0) | B(1));
	assert_true(m.exact);
	assert_legal(&in, 2, &m);
}

/* ---- properties over random instances, against a brute force ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* The best total over every legal use of every approver (exhaustive). */
static int
brute(const struct inst *in, size_t np, size_t p, int *got)
{
	if (p == np) {
		int t = 0;
		for (size_t k = 0; k < in->nreq; k++)
			t += got[k] < in->count[k] ? got[k] : in->count[k];
		return t;
	}
	uint32_t shared = 0, e = in->elig[p];
	for (size_t k = 0; k < in->nreq; k++)
		if (in->shared[k])
			shared |= 1u << k;
	int best = brute(in, np, p + 1, got); /* counts toward nothing */
	for (size_t k = 0; k < in->nreq; k++) {
		if (!(e & (1u << k)))
			continue;
		got[k]++;
		int t = brute(in, np, p + 1, got);
		got[k]--;
		best = t > best ? t : best;
	}
	uint32_t s = e & shared; /* every subset of the shared ones, of two or more */
	for (uint32_t sub = s; sub != 0; sub = (sub - 1) & s) {
		if (__builtin_popcount(sub) < 2)
			continue;
		for (size_t k = 0; k < in->nreq; k++)
			if (sub & (1u << k))
				got[k]++;
		int t = brute(in, np, p + 1, got);
		for (size_t k = 0; k < in->nreq; k++)
			if (sub & (1u << k))
				got[k]--;
		best = t > best ? t : best;
	}
	return best;
}

static void
random_instance(struct inst *in, bool with_shared)
{
	memset(in, 0, sizeof(*in));
	in->nreq = 1 + rnd(4);
	in->np = 1 + rnd(7);
	for (size_t k = 0; k < in->nreq; k++) {
		in->count[k] = 1 + (int)rnd(3);
		in->shared[k] = with_shared && rnd(2);
	}
	for (size_t p = 0; p < in->np; p++)
		in->elig[p] = rnd(1u << in->nreq);
}

static void
test_match_is_maximum(void **state)
{
	(void)state;
	for (int i = 0; i < 3000; i++) {
		struct inst in;
		int got[JG_POLICY_MAX_REQUIREMENTS] = {0};
		random_instance(&in, i % 2 == 1);
		struct jg_policy_match m = run(&in, in.np);
		assert_true(m.exact);
		assert_legal(&in, in.np, &m);
		int want = brute(&in, in.np, 0, got);
		if (m.total != want)
			fail_msg("instance %d: total %d, the best is %d", i, m.total, want);
		/* the same list gives the same assignment */
		uint32_t first[MAXP];
		memcpy(first, in.counted, sizeof(first));
		run(&in, in.np);
		assert_memory_equal(first, in.counted, sizeof(uint32_t) * in.np);
	}
}

/*
 * Without shared requirements: approvals arrive in order, those that add
 * nothing are refused (not kept); a refused approver would add nothing at
 * any later point either, and every kept approver keeps counting.
 */
static void
test_match_refused_stays_useless(void **state)
{
	(void)state;
	for (int i = 0; i < 2000; i++) {
		struct inst in, kept;
		random_instance(&in, false);
		memset(&kept, 0, sizeof(kept));
		kept.nreq = in.nreq;
		memcpy(kept.count, in.count, sizeof(in.count));
		uint32_t refused[MAXP];
		size_t nref = 0;
		for (size_t p = 0; p < in.np; p++) {
			int before = kept.np ? run(&kept, kept.np).total : 0;
			kept.elig[kept.np] = in.elig[p];
			struct jg_policy_match m = run(&kept, kept.np + 1);
			if (m.total > before) {
				kept.np++;
				for (size_t q = 0; q < kept.np; q++)
					assert_int_not_equal(kept.counted[q], 0);
				/* an approver refused earlier still adds nothing */
				for (size_t r = 0; r < nref; r++) {
					kept.elig[kept.np] = refused[r];
					struct jg_policy_match again = run(&kept, kept.np + 1);
					assert_int_equal(again.total, m.total);
				}
			} else {
				assert_int_equal(m.total, before);
				refused[nref++] = in.elig[p];
			}
		}
	}
}

/* Too many approvers with a choice: a valid assignment, marked inexact. */
static void
test_match_budget(void **state)
{
	struct inst in = {.nreq = 3, .count = {100, 100, 1}, .shared = {true, true, false}};
	(void)state;
	in.np = MAXP;
	for (size_t p = 0; p < MAXP; p++)
		in.elig[p] = B(0) | B(1) | B(2);
	struct jg_policy_match m = run(&in, MAXP);
	assert_false(m.exact); /* 16 choices: more than are tried exactly */
	assert_legal(&in, MAXP, &m);
	assert_int_equal(m.total, 2 * MAXP); /* every one in shared use is among those tried */

	in.count[0] = in.count[1] = 3;
	in.np = 8;
	m = run(&in, 8);
	assert_true(m.exact);
	assert_true(m.met); /* three share, one takes the requirement that does not */
	assert_legal(&in, 8, &m);
}

static void
test_match_refuses_bad_input(void **state)
{
	struct inst in = {.nreq = 1, .count = {0}};
	uint32_t counted[1];
	struct jg_policy_match m = {.nreq = 1,
				    .count = in.count,
				    .shared = in.shared,
				    .napprovers = 1,
				    .eligible = in.elig,
				    .counted = counted};
	(void)state;
	assert_int_equal(jg_policy_match_run(&m), JG_EINVAL);
	in.count[0] = JG_POLICY_MAX_COUNT + 1;
	assert_int_equal(jg_policy_match_run(&m), JG_EINVAL);
	in.count[0] = 1;
	m.nreq = JG_POLICY_MAX_REQUIREMENTS + 1;
	assert_int_equal(jg_policy_match_run(&m), JG_EINVAL);
	m.nreq = 1;
	m.counted = NULL;
	assert_int_equal(jg_policy_match_run(&m), JG_EINVAL);
	assert_int_equal(jg_policy_match_run(NULL), JG_EINVAL);
	/* no approvers, and approvers eligible for nothing: nothing met */
	m.counted = counted;
	m.napprovers = 0;
	assert_int_equal(jg_policy_match_run(&m), 0);
	assert_int_equal(m.total, 0);
	m.napprovers = 1;
	in.elig[0] = B(5); /* a requirement that does not exist */
	assert_int_equal(jg_policy_match_run(&m), 0);
	assert_int_equal(m.total, 0);
	assert_int_equal(counted[0], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_reassigns_an_earlier_approval),
	    cmocka_unit_test(test_match_carol_counts_once),
	    cmocka_unit_test(test_match_not_needed),
	    cmocka_unit_test(test_match_shared_approvers),
	    cmocka_unit_test(test_match_shared_mixed),
	    cmocka_unit_test(test_match_is_maximum),
	    cmocka_unit_test(test_match_refused_stays_useless),
	    cmocka_unit_test(test_match_budget),
	    cmocka_unit_test(test_match_refuses_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
