/*
 * thread.h - a background thread that runs one tick function over and
 * over: jitgate's one shape for the threads that work in the background
 * (the audit writer and checkpointer, the audit stream, the notification
 * sinks and timer, the sweepers, the slow-client watchdog).
 *
 * A tick does one round of work and returns how long to sleep before the
 * next one.  The sleep is a wait on a condition variable that runs on
 * CLOCK_MONOTONIC, with a deadline read from the same clock: a step of the
 * wall clock (NTP, a VM restored, an operator) never stretches it, so no
 * thread stalls for the size of a step (docs/reliability.md).
 * jg_thread_wake() ends the sleep at once - or, when the thread is in a
 * tick, the next sleep: a wake is never lost - so work that arrives is done
 * now rather than at the next period.  jg_thread_stop() ends the sleep,
 * lets a tick in progress finish, and joins the thread; no tick starts once
 * stop has been asked for.
 *
 * Thread-safe: wake and stop may be called from any thread (stop once).
 */
#ifndef JITGATE_THREAD_H
#define JITGATE_THREAD_H

#include <stdint.h>

struct jg_thread;

/* A tick's answer: sleep until jg_thread_wake() (no period). */
#define JG_THREAD_UNTIL_WOKEN (-1)

/*
 * One round of work, on the thread.  Returns the milliseconds to sleep
 * before the next round (0: at once), or JG_THREAD_UNTIL_WOKEN.
 */
typedef int64_t (*jg_thread_tick_fn)(void *arg);

/*
 * Starts a thread named name (at most 15 bytes show, for ps and top) that
 * sleeps first_ms (0: none; JG_THREAD_UNTIL_WOKEN: until woken), then runs
 * tick(arg) and sleeps what it returns, until stopped.  Returns 0 with *out
 * the caller's (free it with jg_thread_stop), or JG_ENOMEM (nothing
 * started, *out NULL) when memory, the mutex, the condition or the thread
 * could not be had.
 */
int jg_thread_start(struct jg_thread **out, const char *name, int64_t first_ms,
		    jg_thread_tick_fn tick, void *arg) __attribute__((warn_unused_result));

/* Runs the next tick now: ends the sleep in progress, or the next one.  NULL is a no-op. */
void jg_thread_wake(struct jg_thread *t);

/*
 * Asks the thread to stop and returns at once: no tick starts after this.
 * jg_thread_stop() then waits for it.  For stopping several threads
 * together, so their ticks in progress finish in parallel.  NULL is a no-op.
 */
void jg_thread_signal_stop(struct jg_thread *t);

/*
 * Stops the thread: no tick starts after this; a tick in progress
 * finishes (a tick that may take long should bound its own waits).  Joins
 * the thread and frees t.  NULL is a no-op.
 */
void jg_thread_stop(struct jg_thread *t);

#endif
