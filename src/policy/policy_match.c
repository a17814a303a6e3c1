/*
 * policy_match.c - separation of duties: which approvals count toward which
 * requirements of one request (jg_policy_match_run, policy.h).
 *
 * A person counts toward one requirement, or toward several when all of
 * them set shared_approvers.  Without shared requirements this is a
 * bipartite b-matching: approvers on one side, requirement k with room for
 * count[k] on the other, an edge where the approver was eligible.  It is
 * found with augmenting paths, one approver at a time in approval order: a
 * new approver takes a requirement with room, or one held by an earlier
 * approver who moves to another requirement they are eligible for (and so
 * on along the path).  An approval that finds no such path could never
 * count, now or later: the approvers that can all count together are the
 * independent sets of a matroid (a transversal matroid), so what one
 * approver adds only grows with more approvers, never shrinks.  Paths are
 * searched over requirements (at most 32), with counts of who could move
 * where, so one step costs O(requirements^2) plus a scan of the approvers
 * only for the moves actually made.
 *
 * Shared requirements break the pure matching: a person eligible for two
 * or more shared requirements counts toward all of them at once ("shared
 * use"), unless they are also eligible for a requirement that does not
 * share and count toward that one alone ("single use").  Those who have
 * that choice are tried both ways, every combination, each with its own
 * matching, and the combination that meets the most wins (the first one
 * found, on a tie, so the result is deterministic).  The choice is
 * exponential; it is made exactly for up to MAX_CHOICES such approvers
 * (fewer when the approvers are many, so that one call stays within a
 * fixed amount of work) and the rest are given shared use, which is always
 * a valid use: the result may then meet less than possible (exact false),
 * never more.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/policy.h"

#define NREQ	    JG_POLICY_MAX_REQUIREMENTS
#define MAX_CHOICES 10
#define WORK_BUDGET (1ull << 26) /* combinations x approvers x (requirements + approvers) */

enum kind { K_NONE, K_SINGLE, K_SHARED, K_CHOICE };

struct state {
	const struct jg_policy_match *m;
	const uint32_t *elig; /* eligible, restricted to the requirements that exist */
	const enum kind *kind;
	int *assign;	       /* per approver: the requirement held in single use, or -1 */
	int load[NREQ];	       /* single-use approvers holding each requirement */
	int room[NREQ];	       /* how many single-use approvers each may still take */
	int moves[NREQ][NREQ]; /* moves[k][j]: holders of k who are eligible for j */
};

static int
popcount32(uint32_t v)
{
	return __builtin_popcount(v);
}

/* q, holding k (or -1), now holds j (or -1): keeps load and moves in step. */
static void
hold(struct state *s, size_t q, int j)
{
	int k = s->assign[q];
	uint32_t e = s->elig[q];

	for (int b = 0; b < (int)s->m->nreq; b++) {
		if (!(e & (1u << b)))
			continue;
		if (k >= 0)
			s->moves[k][b]--;
		if (j >= 0)
			s->moves[j][b]++;
	}
	if (k >= 0)
		s->load[k]--;
	if (j >= 0)
		s->load[j]++;
	s->assign[q] = j;
}

/* A holder of k eligible for j (one exists when moves[k][j] > 0). */
static size_t
mover(const struct state *s, int k, int j)
{
	for (size_t q = 0; q < s->m->napprovers; q++)
		if (s->assign[q] == k && (s->elig[q] & (1u << j)))
			return q;
	return SIZE_MAX; /* not reached: moves[k][j] counts such holders */
}

/* Finds room for approver p in single use along an augmenting path; true when found. */
static bool
augment(struct state *s, size_t p)
{
	int parent[NREQ], queue[NREQ], head = 0, tail = 0, end = -1;
	bool seen[NREQ] = {false};
	int n = (int)s->m->nreq;

	for (int k = 0; k < n; k++)
		if (s->elig[p] & (1u << k)) {
			seen[k] = true;
			parent[k] = -1;
			queue[tail++] = k;
		}
	while (head < tail && end < 0) {
		int k = queue[head++];
		if (s->load[k] < s->room[k]) {
			end = k;
			break;
		}
		for (int j = 0; j < n; j++)
			if (!seen[j] && s->moves[k][j] > 0) {
				seen[j] = true;
				parent[j] = k;
				queue[tail++] = j;
			}
	}
	if (end < 0)
		return false;
	/* Walk back: each holder on the path moves one step toward the end. */
	for (int j = end; parent[j] >= 0; j = parent[j]) {
		size_t q = mover(s, parent[j], j);
		if (q == SIZE_MAX)
			return false;
		hold(s, q, j);
	}
	for (int j = end; j >= 0; j = parent[j])
		if (parent[j] < 0) {
			hold(s, p, j);
			break;
		}
	return true;
}

/*
 * One combination: shared says, per approver, whether they are in shared
 * use.  Fills s (assign, load) and returns the total met.
 */
static int
assign_all(struct state *s, const bool *shared_use, int *fixed)
{
	const struct jg_policy_match *m = s->m;
	int total = 0;

	memset(s->load, 0, sizeof(s->load));
	memset(s->moves, 0, sizeof(s->moves));
	memset(fixed, 0, sizeof(int) * NREQ);
	for (size_t p = 0; p < m->napprovers; p++) {
		s->assign[p] = -1;
		if (!shared_use[p])
			continue;
		for (size_t k = 0; k < m->nreq; k++)
			if ((s->elig[p] & (1u << k)) && m->shared[k])
				fixed[k]++;
	}
	for (size_t k = 0; k < m->nreq; k++) {
		int f = fixed[k] < m->count[k] ? fixed[k] : m->count[k];
		s->room[k] = m->count[k] - f;
		total += f;
	}
	for (size_t p = 0; p < m->napprovers; p++)
		if (!shared_use[p] && s->kind[p] != K_NONE && augment(s, p))
			total++;
	return total;
}

int
jg_policy_match_run(struct jg_policy_match *m)
{
	uint32_t *elig = NULL;
	enum kind *kind = NULL;
	int *assign = NULL, *best_assign = NULL, fixed[NREQ], best_fixed[NREQ];
	bool *use = NULL, *best_use = NULL;
	size_t *choice = NULL, nchoice = 0, nbranch;
	uint32_t valid, shared_mask = 0;
	int rc = 0, best = -1;
	struct state s;

	if (m == NULL || m->nreq > NREQ || m->napprovers > JG_POLICY_MAX_APPROVERS ||
	    (m->nreq > 0 && (m->count == NULL || m->shared == NULL)) ||
	    (m->napprovers > 0 && (m->eligible == NULL || m->counted == NULL)))
		return JG_EINVAL;
	valid = m->nreq == 32 ? UINT32_MAX : (1u << m->nreq) - 1;
	m->needed = 0;
	for (size_t k = 0; k < m->nreq; k++) {
		if (m->count[k] < 1 || m->count[k] > JG_POLICY_MAX_COUNT)
			return JG_EINVAL;
		m->needed += m->count[k];
		if (m->shared[k])
			shared_mask |= 1u << k;
	}
	size_t n = m->napprovers + 1;
	elig = calloc(n, sizeof(*elig));
	kind = calloc(n, sizeof(*kind));
	assign = calloc(n, sizeof(*assign));
	best_assign = calloc(n, sizeof(*best_assign));
	use = calloc(n, sizeof(*use));
	best_use = calloc(n, sizeof(*best_use));
	choice = calloc(n, sizeof(*choice));
	if (!elig || !kind || !assign || !best_assign || !use || !best_use || !choice) {
		rc = JG_ENOMEM;
		goto out;
	}
	for (size_t p = 0; p < m->napprovers; p++) {
		uint32_t e = m->eligible[p] & valid;
		elig[p] = e;
		if (e == 0)
			kind[p] = K_NONE;
		else if (popcount32(e & shared_mask) < 2)
			kind[p] = K_SINGLE; /* one requirement at a time: plain matching */
		else if ((e & ~shared_mask) == 0)
			kind[p] = K_SHARED; /* shared use is all they can do, and best */
		else
			kind[p] = K_CHOICE;
		use[p] = kind[p] == K_SHARED || kind[p] == K_CHOICE; /* the rest: shared */
		if (kind[p] == K_CHOICE)
			choice[nchoice++] = p;
	}
	/* As many choices tried exactly as the budget allows. */
	size_t exact = nchoice < MAX_CHOICES ? nchoice : MAX_CHOICES;
	uint64_t per = (uint64_t)(m->napprovers + 1) * (m->napprovers + m->nreq + 1);
	while (exact > 0 && ((uint64_t)1 << exact) * per > WORK_BUDGET)
		exact--;
	m->exact = exact == nchoice;
	nbranch = (size_t)1 << exact;

	s.m = m;
	s.elig = elig;
	s.kind = kind;
	s.assign = assign;
	for (size_t b = 0; b < nbranch; b++) {
		/* bit i of b: the i-th approver with a choice is in shared use */
		for (size_t i = 0; i < exact; i++)
			use[choice[i]] = (b >> i) & 1u;
		int total = assign_all(&s, use, fixed);
		if (total > best) {
			best = total;
			memcpy(best_assign, assign, sizeof(*assign) * m->napprovers);
			memcpy(best_use, use, sizeof(*use) * m->napprovers);
			memcpy(best_fixed, fixed, sizeof(fixed));
		}
		if (best == m->needed)
			break; /* cannot do better */
	}
	m->total = 0;
	for (size_t k = 0; k < NREQ; k++)
		m->approved[k] = 0;
	for (size_t p = 0; p < m->napprovers; p++) {
		if (best_use[p])
			m->counted[p] = elig[p] & shared_mask;
		else
			m->counted[p] = best_assign[p] >= 0 ? 1u << best_assign[p] : 0;
		for (size_t k = 0; k < m->nreq; k++)
			if (!best_use[p] && best_assign[p] == (int)k)
				m->approved[k]++;
	}
	for (size_t k = 0; k < m->nreq; k++) {
		int a = m->approved[k] + best_fixed[k];
		m->approved[k] = a < m->count[k] ? a : m->count[k];
		m->total += m->approved[k];
	}
	m->met = m->total == m->needed;
out:
	free(elig);
	free(kind);
	free(assign);
	free(best_assign);
	free(use);
	free(best_use);
	free(choice);
	return rc;
}
