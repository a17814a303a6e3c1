/*
 * driver.h - what the agent's test drivers (tests/agent/) share: the
 * service's ingest key read from its file, as a service would keep it.
 */
#ifndef JITGATE_TESTS_AGENT_DRIVER_H
#define JITGATE_TESTS_AGENT_DRIVER_H

#include <stdio.h>
#include <string.h>

/* The first line of path into out (cap bytes); 0, or -1 when unreadable or empty. */
static inline int
driver_read_key(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(out, 1, cap - 1, f);
	if (fclose(f) != 0)
		return -1;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return n > 0 ? 0 : -1;
}

#endif
