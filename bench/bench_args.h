/*
 * bench_args.h - the numbers on a benchmark's command line, checked.
 *
 * atof and atoi read "3O" or "" as 0 and a benchmark would run for no time
 * or with no threads and print a figure anyway; these read the whole
 * argument as a decimal number within a range, or stop the program with
 * exit status 2 (a usage error, as the benchmarks' own usage line).
 */
#ifndef JG_BENCH_ARGS_H
#define JG_BENCH_ARGS_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* s as a number of seconds: finite, more than 0 and at most max. */
static inline double
bench_seconds(const char *s, double max)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v <= 0 || v > max) {
		fprintf(stderr, "bench: \"%s\" is not a number of seconds in (0, %g]\n", s, max);
		exit(2);
	}
	return v;
}

/* s as a whole decimal number in [min, max]. */
static inline unsigned long
bench_count(const char *s, unsigned long min, unsigned long max)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench: \"%s\" is not a whole number in [%lu, %lu]\n", s, min, max);
		exit(2);
	}
	return v;
}

#endif
