/*
 * native_demo.c - an unmodified native service for jitgate-probe
 * (docs/agents.md, "jitgate-probe"): it links no agent.  Each line of
 * stdin, "AMOUNT EMAIL", is one call of charge(); the line "bench N" times
 * N calls of charge() and of the same function unprobed (bench/) and
 * leaves the running total as it was.  Built
 * with -g -O1 so that charge() keeps its symbol and its arguments stay in
 * the registers of the x86-64 SysV ABI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long charge(long amount, const char *email);
long charge_unprobed(long amount, const char *email);

static volatile long total;

/* The function to probe: amount in rdi, email in rsi, the new total in rax. */
__attribute__((noinline)) long
charge(long amount, const char *email)
{
	total += amount + (long)(email[0] != '\0');
	return total;
}

/* The same body, never probed: the bench's baseline. */
__attribute__((noinline)) long
charge_unprobed(long amount, const char *email)
{
	total += amount + (long)(email[0] != '\0');
	return total;
}

/*
 * The thread's CPU time per call: the trap's work in the kernel is charged to
 * the probed thread, and a busy machine's preemption is not.
 */
static double
ns_per_call(long (*fn)(long, const char *), long n)
{
	struct timespec a, b;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (long i = 0; i < n; i++)
		fn(i, "bench-note");
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
}

int
main(void)
{
	char line[1024], email[512];
	long amount;

	(void)setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %ld\n", (long)getpid());
	while (fgets(line, sizeof line, stdin) != NULL) {
		if (strncmp(line, "bench ", 6) == 0) {
			long n = strtol(line + 6, NULL, 10), kept = total;
			double base = ns_per_call(charge_unprobed, n);
			double probed = ns_per_call(charge, n);
			total = kept; /* the bench leaves the running total as it was */
			printf("{\"calls\":%ld,\"unprobed_ns\":%.1f,\"probed_ns\":%.1f}\n", n, base,
			       probed);
			continue;
		}
		char *end;
		amount = strtol(line, &end, 10);
		if (end == line)
			continue;
		end += strspn(end, " ");
		snprintf(email, sizeof email, "%.*s", (int)strcspn(end, " \n"), end);
		printf("charged %ld\n", charge(amount, email));
	}
	return 0;
}
