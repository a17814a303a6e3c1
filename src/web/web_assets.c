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

struct asset {
	const char *type; /* Content-Type */
	const char *start, *end;
};

/* GET /static/...: the route's arg is the asset. */
static void
serve(struct jg_http_request *req, struct jg_http_reply *reply)
{
	const struct asset *a = req->route.route->arg;
	jg_http_reply_text(reply, 200, a->type, a->start, (size_t)(a->end - a->start));
	jg_http_reply_header(reply, "Cache-Control", "no-cache");
}

static const struct asset css = {"text/css; charset=utf-8", jg_web_css_start, jg_web_css_end};
static const struct asset js = {"text/javascript; charset=utf-8", jg_web_js_start, jg_web_js_end};

static const struct jg_route routes[] = {
    {"GET", "/static/jitgate.css", serve, &css, JG_ROUTE_INLINE},
    {"GET", "/static/jitgate.js", serve, &js, JG_ROUTE_INLINE},
};
const struct jg_route_table jg_web_assets_routes = {routes, sizeof(routes) / sizeof(routes[0])};
