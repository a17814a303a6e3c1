/*
 * httpc.h - outbound HTTP(S) requests (libcurl): the OpenID provider, the
 * checkpoint sink.  Every call has a connect and a total timeout, a cap on
 * the reply size, follows no redirects, and speaks only http(s).  A caller
 * that must not reach plain HTTP says so with JG_HTTPC_HTTPS_ONLY.
 */
#ifndef JITGATE_HTTPC_H
#define JITGATE_HTTPC_H

#include <stddef.h>

#define JG_HTTPC_HTTPS_ONLY 0x1

struct jg_httpc_reply {
	long status;
	char *body; /* NUL-terminated, the caller frees */
	size_t len;
};

struct jg_httpc_opts {
	const char *ca_file; /* NULL: the system store */
	long timeout_ms;     /* total; 0 means 5000 */
	size_t max_bytes;    /* reply cap; 0 means 1 MiB */
	unsigned flags;
	const char *content_type; /* for POST bodies */
	const char *basic_user;	  /* HTTP Basic credentials (client_secret_basic) */
	const char *basic_password;
	const char *accept;	    /* Accept header, or NULL */
	const char *const *headers; /* more "Name: value" lines, NULL-terminated, or NULL */
};

/*
 * GET url (body NULL) or POST body.  Fills *reply on any HTTP answer
 * (whatever the status); returns 0, JG_EIO (no answer: DNS, connect, TLS,
 * timeout), JG_ETOOBIG (reply over the cap) or JG_ENOMEM.
 */
int jg_httpc_request(const char *url, const char *body, const struct jg_httpc_opts *opts,
		     struct jg_httpc_reply *reply);

void jg_httpc_reply_free(struct jg_httpc_reply *reply);

/* Percent-encodes s for a form body or query (the caller frees). */
char *jg_httpc_escape(const char *s);

#endif
