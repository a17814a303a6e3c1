/*
 * assets.c (web) - the stylesheet and the script, compiled into the binary.
 *
 *   GET /static/jitgate.css     src/web/jitgate.css
 *   GET /static/jitgate.js      src/web/jitgate.js (progressive: every page works without it)
 *
 * The files are included with the assembler's .incbin (paths are relative to
 * the repository root, where make runs), so they stay ordinary files to
 * edit and jitgate needs nothing on disk to serve them.
 */
#include <stddef.h>

#include "jitgate/http.h"
#include "web_int.h"

__asm__(".section .rodata\n"
	".balign 16\n"
	"jg_web_css_start:\n"
	".incbin \"src/web/jitgate.css\"\n"
	"jg_web_css_end:\n"
	".balign 16\n"
	"jg_web_js_start:\n"
	".incbin \"src/web/jitgate.js\"\n"
	"jg_web_js_end:\n"
	".previous\n");

extern const char jg_web_css_start[] __asm__("jg_web_css_start");
extern const char jg_web_css_end[] __asm__("jg_web_css_end");
extern const char jg_web_js_start[] __asm__("jg_web_js_start");
extern const char jg_web_js_end[] __asm__("jg_web_js_end");

static void
serve(struct jg_http_reply *reply, const char *type, const char *start, const char *end)
{
	jg_http_reply_text(reply, 200, type, start, (size_t)(end - start));
	jg_http_reply_header(reply, "Cache-Control", "no-cache");
}

static void
handle_css(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	serve(reply, "text/css; charset=utf-8", jg_web_css_start, jg_web_css_end);
}

static void
handle_js(struct jg_http_request *req, struct jg_http_reply *reply)
{
	(void)req;
	serve(reply, "text/javascript; charset=utf-8", jg_web_js_start, jg_web_js_end);
}

int
jg_web_assets_register(struct jg_router *router)
{
	int rc = 0;
	rc |= jg_router_add(router, "GET", "/static/jitgate.css", (void *)handle_css,
			    JG_ROUTE_INLINE);
	rc |=
	    jg_router_add(router, "GET", "/static/jitgate.js", (void *)handle_js, JG_ROUTE_INLINE);
	return rc;
}
