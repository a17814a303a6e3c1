/*
 * tile_path.c - parsing and formatting tlog-tiles resource names
 * (tile_path.h).
 *
 * A name is parsed strictly and then formatted again: it is accepted only
 * when the two spellings agree, which rules out every non-canonical form
 * (leading zeroes, an "x000" group, a ".p/256") with one comparison instead
 * of a rule per case.
 */
#include <stdio.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/tile_path.h"

/* A decimal number of 1..digits digits at *p (no sign); advances *p.  false when there is none. */
static bool
take_number(const char **p, int digits, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (n < digits && **p >= '0' && **p <= '9') {
		v = v * 10 + (uint64_t)(**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n > 0 && !(**p >= '0' && **p <= '9');
}

int
jg_tile_path_parse(const char *name, struct jg_tile *t)
{
	char again[JG_TILE_PATH_MAX];
	const char *p = name;
	uint64_t v;

	memset(t, 0, sizeof(*t));
	if (strnlen(name, JG_TILE_PATH_MAX) == JG_TILE_PATH_MAX)
		return JG_EINVAL;
	if (strncmp(p, "entries/", 8) == 0) {
		t->level = JG_TILE_ENTRIES;
		p += 8;
	} else {
		if (!take_number(&p, 2, &v) || v > JG_TILE_MAX_LEVEL || *p++ != '/')
			return JG_EINVAL;
		t->level = (int)v;
	}
	/* the index: "x" + 3 digits + "/" groups, then 3 digits (at most 7 groups: 2^64 > 10^18) */
	for (int group = 0;; group++) {
		bool more = *p == 'x';
		if (group == 7)
			return JG_EINVAL;
		if (more)
			p++;
		const char *start = p;
		if (!take_number(&p, 3, &v) || p - start != 3)
			return JG_EINVAL;
		if (t->index > (UINT64_MAX - v) / 1000)
			return JG_EINVAL;
		t->index = t->index * 1000 + v;
		if (!more)
			break;
		if (*p++ != '/')
			return JG_EINVAL;
	}
	t->width = JG_TILE_WIDTH;
	if (strncmp(p, ".p/", 3) == 0) {
		p += 3;
		if (!take_number(&p, 3, &v) || v == 0 || v >= JG_TILE_WIDTH)
			return JG_EINVAL;
		t->width = (unsigned)v;
	}
	if (*p != '\0')
		return JG_EINVAL;
	if (jg_tile_path_format(t, again, sizeof(again)) != 0 || strcmp(again, name) != 0)
		return JG_EINVAL;
	return 0;
}

int
jg_tile_path_format(const struct jg_tile *t, char *out, size_t cap)
{
	unsigned groups[7];
	int n = 0, used;
	uint64_t idx = t->index;

	if (t->level < JG_TILE_ENTRIES || t->level > JG_TILE_MAX_LEVEL || t->width == 0 ||
	    t->width > JG_TILE_WIDTH || cap == 0)
		return JG_EINVAL;
	do {
		groups[n++] = (unsigned)(idx % 1000);
		idx /= 1000;
	} while (idx > 0);
	if (t->level == JG_TILE_ENTRIES)
		used = snprintf(out, cap, "entries/");
	else
		used = snprintf(out, cap, "%d/", t->level);
	for (int i = n - 1; i >= 0 && used >= 0 && (size_t)used < cap; i--)
		used +=
		    snprintf(out + used, cap - (size_t)used, i > 0 ? "x%03u/" : "%03u", groups[i]);
	if (used >= 0 && (size_t)used < cap && t->width < JG_TILE_WIDTH)
		used += snprintf(out + used, cap - (size_t)used, ".p/%u", t->width);
	if (used < 0 || (size_t)used >= cap) {
		out[0] = '\0';
		return JG_EINVAL;
	}
	return 0;
}

bool
jg_tile_needs(const struct jg_tile *t, uint64_t *size)
{
	int level = t->level == JG_TILE_ENTRIES ? 0 : t->level;
	uint64_t hashes, span = 1;

	if (t->index > (UINT64_MAX - t->width) / JG_TILE_WIDTH)
		return false;
	hashes = t->index * JG_TILE_WIDTH + t->width;
	for (int i = 0; i < level; i++) {
		if (span > UINT64_MAX / JG_TILE_WIDTH)
			return false;
		span *= JG_TILE_WIDTH;
	}
	if (hashes > UINT64_MAX / span)
		return false;
	*size = hashes * span;
	return true;
}
