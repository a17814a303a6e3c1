/*
 * notify_events.c - the event types and audiences of notifications (see
 * notify_events.h): one table each, read by config (validation) and notify
 * (routing, headlines).
 */
#include <stddef.h>
#include <string.h>

#include "jitgate/notify_events.h"

/* Every event type, with the headline a person reads first. */
static const struct {
	const char *type, *title;
} events[] = {
    {"request.pending", "Access request waiting for approval"},
    {"request.reminder", "Reminder: access request still waiting for approval"},
    {"request.escalated", "Escalated: access request still waiting for approval"},
    {"request.approved", "Access request approved"},
    {"request.denied", "Access request denied"},
    {"request.cancelled", "Access request cancelled"},
    {"request.expired", "Access request expired without a decision"},
    {"grant.activated", "Scheduled grant started"},
    {"grant.not_activated", "Scheduled grant not started: the requester no longer qualifies"},
    {"grant.expiring", "Grant ends soon"},
    {"grant.expired", "Grant expired"},
    {"grant.revoked", "Grant revoked"},
    {"grant.extended", "Grant extended"},
    {"grant.extension_pending", "Grant ends soon; its extension still waits for approval"},
    {"grant.receipt", "Access receipt: what a grant was used for"},
    {"break_glass.used", "Break-glass access used"},
    {"grant.review_overdue", "Break-glass grant not reviewed in time"},
    {"report.review_due", "Access review due"},
    {"audit.verification_failed", "The audit log does not verify"},
    {"audit.checkpoint_sink_failed", "Audit checkpoints are not reaching their off-host sink"},
};

#define NEVENTS (sizeof(events) / sizeof(events[0]))

static const struct {
	const char *name;
	unsigned bit;
} audiences[] = {
    {"approvers", JG_NOTIFY_APPROVERS}, {"requester", JG_NOTIFY_REQUESTER},
    {"security", JG_NOTIFY_SECURITY},	{"operators", JG_NOTIFY_OPERATORS},
    {"owners", JG_NOTIFY_OWNERS},
};

#define NAUDIENCES (sizeof(audiences) / sizeof(audiences[0]))

const char *
jg_notify_event_title(const char *type)
{
	for (size_t i = 0; type && i < NEVENTS; i++)
		if (strcmp(events[i].type, type) == 0)
			return events[i].title;
	return NULL;
}

bool
jg_notify_event_known(const char *type)
{
	return jg_notify_event_title(type) != NULL;
}

unsigned
jg_notify_audience_bit(const char *name)
{
	for (size_t i = 0; name && i < NAUDIENCES; i++)
		if (strcmp(audiences[i].name, name) == 0)
			return audiences[i].bit;
	return 0;
}

bool
jg_notify_audience_known(const char *name)
{
	return jg_notify_audience_bit(name) != 0;
}

const char *
jg_notify_audience_name(unsigned bit)
{
	for (size_t i = 0; i < NAUDIENCES; i++)
		if (audiences[i].bit == bit)
			return audiences[i].name;
	return NULL;
}
