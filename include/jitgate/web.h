/*
 * web.h - the web pages: request access, my access, approvals, audit.
 *
 * Server-rendered HTML from jitgate itself (src/web/), one stylesheet and
 * one small script compiled into the binary, no external assets; every
 * page works without JavaScript.  Every form posts to a page route that
 * authenticates like the JSON API (the session cookie plus the form's
 * CSRF token) and calls the same functions as the API handlers
 * (api_call.h, access.h), so a click and a curl call are judged alike.
 * Pages are served with a strict Content-Security-Policy (WEB_CSP in
 * src/web/web_page.c).  docs/web.md describes the pages.
 */
#ifndef JITGATE_WEB_H
#define JITGATE_WEB_H

#include "jitgate/router.h"

/*
 * Every page route: GET /, /request, /approvals, /audit... and /static/...
 * as the tables of the web_*.c files (router.h), NULL-terminated, in the
 * order they are added (src/web/web_routes.c).
 */
extern const struct jg_route_table *const jg_web_route_tables[];

#endif
