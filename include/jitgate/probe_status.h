/*
 * probe_status.h - where the probes of a service are installed: each agent
 * instance reports, after every successful poll, the probes it installed
 * and those it could not install with a code and a message (docs/agents.md,
 * "Probe status").  probe_status.c owns the probe_installs table.
 *
 * A report is an instance's whole state for its service: it replaces
 * everything that instance said before.  An instance that has not reported
 * since a time the caller gives (3 x the poll interval: it missed three
 * polls) no longer counts, and its rows are swept.  Reports are not
 * audited: they change no access and no data an engineer reads besides
 * this status (docs/agents.md says why).
 */
#ifndef JITGATE_PROBE_STATUS_H
#define JITGATE_PROBE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/store.h"

#define JG_PROBE_STATUS_IDS_MAX	      500	  /* ids in each list of a report */
#define JG_PROBE_STATUS_INSTANCE_MAX  128	  /* bytes of an instance name (printable ASCII) */
#define JG_PROBE_STATUS_CODE_MAX      64	  /* bytes of a failure code ([a-z0-9_]) */
#define JG_PROBE_STATUS_MESSAGE_MAX   256	  /* bytes of a failure message (UTF-8 text) */
#define JG_PROBE_STATUS_DROPPED_MAX   (1LL << 53) /* events an instance lost of one probe */
#define JG_PROBE_STATUS_FAILED_SHOWN  20	  /* failed instances a probe's status lists */
#define JG_PROBE_STATUS_INSTANCES_MAX 256 /* instances of one service whose reports are kept */

/* One probe an instance could not install. */
struct jg_probe_failure {
	const char *id, *code, *message;
};

/* One report of one instance of service (all borrowed). */
struct jg_probe_report {
	const char *service, *instance;
	const char *const *installed;
	const int64_t *dropped; /* per installed probe: the events this instance lost of it (or
				   NULL: none reported) */
	size_t ninstalled;
	const struct jg_probe_failure *failed;
	size_t nfailed;
};

/* Whether s is an instance name: 1 to 128 bytes of printable ASCII (0x20-0x7e). */
bool jg_probe_status_instance_valid(const char *s);
/* Whether s is a failure code: 1 to 64 bytes of [a-z0-9_]. */
bool jg_probe_status_code_valid(const char *s);

/*
 * Records report r at now (Unix seconds) in one transaction: the
 * instance's earlier rows for the service are deleted, then one row per
 * listed probe of the service (probes.h, jg_probe_of_service) is written;
 * ids of other services' probes, or of no probe, are left out without an
 * error.  An id listed both ways counts as failed.  The caller checked the
 * form (valid instance, ids, codes, message lengths, list sizes).  0;
 * JG_EINVAL (a list over JG_PROBE_STATUS_IDS_MAX); JG_ECONFLICT (a new instance of a
 * service that already has JG_PROBE_STATUS_INSTANCES_MAX others reporting: nothing stored);
 * JG_EUNAVAIL (the store).
 */
int jg_probe_status_report(struct jg_store *s, const struct jg_probe_report *r, int64_t now);

/*
 * Adds "status": {"installed": N, "dropped": D, "failed": [{instance, code,
 * message}]} to each probe (an object with "id") of list, a list of probes
 * of service (jg_probe_list_live's), counting the instances that reported
 * since `since` (Unix seconds; later or at it) and adding up the events
 * those that installed it report they lost (dropped); failed lists at most
 * JG_PROBE_STATUS_FAILED_SHOWN instances per probe, by instance name, their
 * messages (the agent's free text) through the redaction scanners and the
 * keys of fields (redact.h) when redact.  0; JG_EUNAVAIL; JG_ENOMEM (the
 * list may be half done or half redacted: the caller drops it).
 */
int jg_probe_status_attach(struct jg_store *s, const char *service, int64_t since, bool redact,
			   char *const *fields, json_t *list);

/*
 * Deletes the rows of instances that have not reported since `before`
 * (Unix seconds); *deleted counts them.  0 or JG_EUNAVAIL.
 */
int jg_probe_status_sweep(struct jg_store *s, int64_t before, int64_t *deleted);

/*
 * probe_installs, declared for `jitgate store copy` (store.h, struct
 * jg_store_table): *n receives how many; the array is static.
 */
const struct jg_store_table *jg_probe_status_tables(size_t *n);

#endif
