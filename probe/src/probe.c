/*
 * probe.c - jitgate-probe: dynamic probes on an unmodified native program
 * through uprobes (docs/agents.md, "jitgate-probe").
 *
 * One process, one thread.  It polls GET /v1/agents/probes like the
 * reference agent (agent/src/agent.c: the installed set is made equal to
 * each successful poll, a local deadline per probe that a poll never
 * extends, backoff on failure, everything removed on 401/403) and attaches
 * the one BPF program of probe/bpf/jitgate_probe.bpf.c to each listed
 * probe's function symbol in the target executable: a uprobe, and a
 * uretprobe when the probe captures the return.  A probe's configuration
 * (declared arguments, conditions, sampling, rate, max_hits) lives in slot
 * s of the BPF config map and s is the attachment's BPF cookie.  Events
 * come through the ring buffer, become the JSON events of docs/agents.md
 * and are posted per probe in batches at most 1 s old.  After every poll
 * the installed and failed probes are sent to POST /v1/agents/probes/status
 * (a 404 from a jitgate without it is ignored).
 *
 * The CPU guard cannot time a trap from here: it counts them (entry and
 * return, every call of the function whatever the conditions) and charges
 * each the cost of its kind of trap measured at start-up on this host
 * (calibrate(): a uprobe and a uretprobe on a function of the daemon
 * itself, timed with the thread's CPU clock), once a second; a probe over
 * max_cpu_ms_per_second is detached and reported (POST …/disable
 * {reason:"cpu"}).
 *
 * Nothing is pinned: the links die with the process, so a daemon killed
 * with SIGKILL leaves no uprobe behind; SIGTERM/SIGINT detach everything
 * first and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include <jansson.h>
#include <linux/types.h>

#include "internal.h" /* the agent's limits parser (agent/src/capture.c) */
#include "jitgate_probe.h"
#include "skel.h"

#define TRAP_NS_DEFAULT 1000 /* a trap's cost when it cannot be measured (docs/agents.md) */
#define TRAP_NS_MIN	500  /* never charged less */
#define CALIBRATE_CALLS 2000
#define CALIBRATE_SLOT	(JP_MAX_SLOTS - 1) /* never a probe's: its config stays inactive */
#define MAX_BATCH	100
#define MAX_QUEUE	1000
#define MAX_REPLY	(1024 * 1024)
#define DEFAULT_POLL_MS 2000
#define MAX_BACKOFF_MS	60000
#define UNAUTH_POLL_MS	300000
#define HTTP_TIMEOUT_MS 5000L
#define FLUSH_MS	1000

enum pstate { ATTACHED, STOPPED, FAILED };

struct arg {
	char name[64];
	int type; /* enum jp_type; JP_NONE: not declared */
};

struct probe {
	char *id, *function;
	int slot;
	enum pstate state;
	bool capture_args, capture_return;
	struct jga_limits lim;
	struct arg args[JP_MAX_ARGS];
	struct timespec deadline; /* CLOCK_MONOTONIC */
	struct bpf_link *entry, *ret;
	json_t *queue;
	struct timespec queued_at;
	uint64_t entries, returns; /* traps at the last CPU check */
	uint64_t drops;		   /* the BPF side's drops, at the last check */
	bool ended;		   /* its deadline passed: never attached again */
	char code[32], message[256];
};

static struct {
	const char *url, *service, *cacert, *instance, *target;
	char *key;
	int pid;
	struct jp_bpf bpf;
	struct ring_buffer *rb;
	struct probe *probes[JP_MAX_SLOTS];
	bool slot_used[JP_MAX_SLOTS];
	double entry_ns, return_ns; /* the measured cost of an entry and a return trap */
	unsigned long posted, refused, lost, kernel_drops, polls_ok, polls_failed, cpu_disabled;
	bool verbose;
} g;

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void __attribute__((format(printf, 1, 2))) logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)fputs("jitgate-probe: ", stderr);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
	va_end(ap);
}

static int
libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || (!g.verbose && level == LIBBPF_INFO))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void
mono(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static long
ms_until(const struct timespec *t)
{
	struct timespec now;

	mono(&now);
	return (long)(t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

/* ---- HTTP (as agent/src/agent.c's request()) ------------------------------ */

struct buf {
	char *p;
	size_t n;
	bool over;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->n + n > MAX_REPLY) {
		b->over = true;
		return 0;
	}
	char *q = realloc(b->p, b->n + n + 1);
	if (q == NULL)
		return 0;
	memcpy(q + b->n, data, n);
	b->n += n;
	q[b->n] = '\0';
	b->p = q;
	return n;
}

/* GET (body NULL) or POST JSON to url + path: the status or -1; *reply the parsed body. */
static long
request(const char *path, const json_t *body, json_t **reply)
{
	struct curl_slist *hdr = NULL, *h;
	struct buf b = {0};
	long status = -1;
	char *url = NULL, *auth = NULL, *text = NULL;
	CURL *c = curl_easy_init();

	*reply = NULL;
	if (c == NULL || asprintf(&url, "%s%s", g.url, path) < 0) {
		url = NULL;
		goto out;
	}
	if (asprintf(&auth, "Authorization: Bearer %s", g.key) < 0) {
		auth = NULL;
		goto out;
	}
	if ((h = curl_slist_append(hdr, auth)) == NULL)
		goto out;
	hdr = h;
	if (body != NULL) {
		if ((text = json_dumps(body, JSON_COMPACT)) == NULL ||
		    (h = curl_slist_append(hdr, "Content-Type: application/json")) == NULL)
			goto out;
		hdr = h;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (g.cacert != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, g.cacert);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) != CURLE_OK || b.over)
		goto out;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (b.p != NULL)
		*reply = json_loadb(b.p, b.n, 0, NULL);
out:
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(text);
	free(url);
	free(b.p);
	curl_slist_free_all(hdr);
	if (c != NULL)
		curl_easy_cleanup(c);
	return status;
}

/* ---- probes: attach, detach ------------------------------------------------ */

static void
detach(struct probe *p)
{
	bpf_link__destroy(p->entry);
	bpf_link__destroy(p->ret);
	p->entry = p->ret = NULL;
	if (p->slot >= 0) {
		struct jp_config off = {0};
		__u32 k = (__u32)p->slot;
		bpf_map__update_elem(g.bpf.cfg, &k, sizeof k, &off, sizeof off, BPF_ANY);
	}
	if (p->state == ATTACHED)
		p->state = STOPPED;
}

static void
fail(struct probe *p, const char *code, const char *fmt, ...)
{
	va_list ap;

	detach(p);
	p->state = FAILED;
	snprintf(p->code, sizeof p->code, "%s", code);
	va_start(ap, fmt);
	(void)vsnprintf(p->message, sizeof p->message, fmt, ap);
	va_end(ap);
	logmsg("probe %s (%s): %s: %s", p->id, p->function, code, p->message);
}

static void
probe_free(size_t i)
{
	struct probe *p = g.probes[i];

	detach(p);
	g.slot_used[p->slot] = false;
	json_decref(p->queue);
	free(p->id);
	free(p->function);
	free(p);
	g.probes[i] = NULL;
}

/*
 * Whether the ELF file at path defines the function name: 0 yes, 1 it has
 * no symbol table at all (stripped, and not in .dynsym), 2 not found, -1
 * the file cannot be read as ELF.
 */
static int
elf_symbol(const char *path, const char *name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	Elf *e;
	Elf_Scn *s = NULL;
	bool symtab = false, found = false;

	if (fd < 0)
		return -1;
	if (elf_version(EV_CURRENT) == EV_NONE || (e = elf_begin(fd, ELF_C_READ, NULL)) == NULL) {
		close(fd);
		return -1;
	}
	while ((s = elf_nextscn(e, s)) != NULL && !found) {
		GElf_Shdr sh;
		if (gelf_getshdr(s, &sh) == NULL ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			symtab = true;
		Elf_Data *d = elf_getdata(s, NULL);
		size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; d != NULL && i < n; i++) {
			GElf_Sym sym;
			const char *sn;
			if (gelf_getsym(d, (int)i, &sym) == NULL ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF)
				continue;
			sn = elf_strptr(e, sh.sh_link, sym.st_name);
			if (sn != NULL && strcmp(sn, name) == 0) {
				found = true;
				break;
			}
		}
	}
	rc = found ? 0 : symtab ? 2 : 1;
	elf_end(e);
	close(fd);
	return rc;
}

static int
type_of(const char *t)
{
	if (t == NULL)
		return JP_NONE;
	if (strcmp(t, "i64") == 0)
		return JP_I64;
	if (strcmp(t, "u64") == 0)
		return JP_U64;
	if (strcmp(t, "ptr") == 0)
		return JP_PTR;
	if (strcmp(t, "str") == 0)
		return JP_STR;
	return JP_NONE;
}

/* The declared argument a condition's field names (by name or position), or -1. */
static int
arg_named(const struct probe *p, const char *field)
{
	for (int i = 0; i < JP_MAX_ARGS; i++) {
		char pos[12];
		snprintf(pos, sizeof pos, "%d", i);
		if (p->args[i].type != JP_NONE &&
		    (strcmp(p->args[i].name, field) == 0 || strcmp(pos, field) == 0))
			return i;
	}
	return -1;
}

/* Fills cfg from the probe's poll entry j; -1 with p failed when it cannot be honoured. */
static int
configure(struct probe *p, const json_t *j, struct jp_config *cfg)
{
	json_t *args = json_object_get(j, "args"), *conds = json_object_get(j, "conditions"), *v;
	size_t i;

	memset(cfg, 0, sizeof *cfg);
	/* it reads registers: it neither renders a log template nor aggregates a metric */
	const char *kind = json_string_value(json_object_get(j, "kind"));
	if (kind != NULL && strcmp(kind, "snapshot") != 0) {
		fail(p, "bad_kind",
		     "a %.16s probe is for the reference agent: jitgate-probe captures snapshots",
		     kind);
		return -1;
	}
	json_array_foreach(args, i, v)
	{
		json_int_t ix = json_integer_value(json_object_get(v, "index"));
		const char *name = json_string_value(json_object_get(v, "name"));
		int t = type_of(json_string_value(json_object_get(v, "type")));
		if (!json_is_integer(json_object_get(v, "index")) || ix < 0 || ix >= JP_MAX_ARGS ||
		    name == NULL || strlen(name) >= sizeof p->args[0].name || t == JP_NONE) {
			fail(p, "bad_args",
			     "args[%zu] is not {index 0-5, name, type i64|u64|ptr|str}", i);
			return -1;
		}
		snprintf(p->args[ix].name, sizeof p->args[ix].name, "%s", name);
		p->args[ix].type = t;
		cfg->type[ix] = (__u32)t;
	}
	cfg->str_max =
	    (__u32)(p->lim.max_string_bytes < JP_MAX_STR ? p->lim.max_string_bytes : JP_MAX_STR);
	if (json_array_size(conds) > JP_MAX_CONDS) {
		fail(p, "unsupported_condition", "at most %d conditions on a native probe",
		     JP_MAX_CONDS);
		return -1;
	}
	json_array_foreach(conds, i, v)
	{
		const char *field = json_string_value(json_object_get(v, "field"));
		const char *op = json_string_value(json_object_get(v, "op"));
		json_t *val = json_object_get(v, "value");
		int a = field ? arg_named(p, field) : -1;
		struct jp_cond *c = &cfg->cond[i];
		if (a < 0 || op == NULL) {
			fail(p, "unsupported_condition",
			     "condition %zu: '%s' is not a declared argument", i,
			     field ? field : "");
			return -1;
		}
		c->arg = (__u32)a;
		c->op = strcmp(op, "eq") == 0	? JP_EQ
			: strcmp(op, "gt") == 0 ? JP_GT
			: strcmp(op, "lt") == 0 ? JP_LT
						: 0;
		if (p->args[a].type == JP_STR) {
			const char *s = json_string_value(val);
			if (c->op != JP_EQ || s == NULL || strlen(s) > cfg->str_max) {
				fail(p, "unsupported_condition",
				     "condition %zu: a string argument takes eq with a string of "
				     "at most %u bytes",
				     i, cfg->str_max);
				return -1;
			}
			snprintf(c->str, sizeof c->str, "%s", s);
		} else {
			json_int_t n = json_integer_value(val);
			if (c->op == 0 || !json_is_integer(val) ||
			    (p->args[a].type != JP_I64 && n < 0)) {
				fail(
				    p, "unsupported_condition",
				    "condition %zu: an integer argument takes eq, gt or lt with an "
				    "integer%s",
				    i, p->args[a].type == JP_I64 ? "" : " >= 0");
				return -1;
			}
			c->value = (__u64)n;
		}
	}
	cfg->ncond = (__u32)json_array_size(conds);
	double rate = json_number_value(json_object_get(j, "sampling_rate"));
	cfg->sample = rate >= 1.0 ? 0xffffffffU : (__u32)(rate * 4294967296.0);
	cfg->rate = (__u32)p->lim.max_events_per_second;
	cfg->max_hits = (__u64)p->lim.max_hits;
	cfg->capture_return = p->capture_return;
	cfg->active = 1;
	return 0;
}

static void
attach(struct probe *p, const json_t *j)
{
	struct jp_config cfg;
	struct jp_counters zero = {0};
	__u32 k = (__u32)p->slot;

	if (configure(p, j, &cfg) != 0)
		return;
	int sym = elf_symbol(g.target, p->function);
	if (sym == 1) {
		fail(p, "no_symbols",
		     "%s has no symbol table (stripped): keep its symbols (or do not strip it) "
		     "to probe '%s'",
		     g.target, p->function);
		return;
	}
	if (sym == 2) {
		fail(p, "symbol_not_found", "%s defines no function named '%s'", g.target,
		     p->function);
		return;
	}
	if (sym < 0) {
		fail(p, "target_unreadable", "%s cannot be read as an ELF file", g.target);
		return;
	}
	if (bpf_map__update_elem(g.bpf.counters, &k, sizeof k, &zero, sizeof zero, BPF_ANY) != 0 ||
	    bpf_map__update_elem(g.bpf.cfg, &k, sizeof k, &cfg, sizeof cfg, BPF_ANY) != 0) {
		fail(p, "attach_failed", "the BPF maps cannot be written");
		return;
	}
	/* what LIBBPF_OPTS() makes, spelled out (cppcheck cannot expand it) */
	struct bpf_uprobe_opts uo = {.sz = sizeof uo, .func_name = p->function, .bpf_cookie = k};
	p->entry =
	    bpf_program__attach_uprobe_opts(g.bpf.entry, g.pid > 0 ? g.pid : -1, g.target, 0, &uo);
	if (p->entry == NULL) {
		fail(p, "attach_failed", "uprobe on '%s': %s", p->function, strerror(errno));
		return;
	}
	if (p->capture_return) {
		struct bpf_uprobe_opts ro = {
		    .sz = sizeof ro, .func_name = p->function, .bpf_cookie = k, .retprobe = true};
		p->ret = bpf_program__attach_uprobe_opts(g.bpf.ret, g.pid > 0 ? g.pid : -1,
							 g.target, 0, &ro);
		if (p->ret == NULL) {
			fail(p, "attach_failed", "uretprobe on '%s': %s", p->function,
			     strerror(errno));
			return;
		}
	}
	p->state = ATTACHED;
	logmsg("probe %s attached to %s in %s", p->id, p->function, g.target);
}

static struct probe *
probe_new(const json_t *j, const struct timespec *deadline)
{
	const char *id = json_string_value(json_object_get(j, "id"));
	const char *fn = json_string_value(json_object_get(j, "function"));
	struct probe *p;
	int slot = -1;

	for (int s = 0; s < CALIBRATE_SLOT && slot < 0; s++)
		if (!g.slot_used[s])
			slot = s;
	if (id == NULL || fn == NULL || slot < 0 || (p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	p->slot = slot;
	p->id = strdup(id);
	p->function = strdup(fn);
	p->queue = json_array();
	p->deadline = *deadline;
	if (p->id == NULL || p->function == NULL || p->queue == NULL) {
		json_decref(p->queue);
		free(p->id);
		free(p->function);
		free(p);
		return NULL;
	}
	g.slot_used[slot] = true;
	p->capture_args = json_is_true(json_object_get(j, "capture_args"));
	p->capture_return = json_is_true(json_object_get(j, "capture_return"));
	if (jga_limits_parse(json_object_get(j, "limits"), &p->lim) != 0)
		fail(p, "bad_limits", "the probe's limits are not understood");
	else
		attach(p, j);
	return p;
}

static ssize_t
find(const char *id)
{
	for (size_t i = 0; i < JP_MAX_SLOTS; i++)
		if (g.probes[i] != NULL && strcmp(g.probes[i]->id, id) == 0)
			return (ssize_t)i;
	return -1;
}

/* ---- events ---------------------------------------------------------------- */

static void
timestamp(uint64_t boot_ns, char out[32])
{
	struct timespec rt, bt;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	int64_t now_boot = (int64_t)bt.tv_sec * 1000000000 + bt.tv_nsec;
	int64_t now_rt = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
	int64_t at = now_rt - (now_boot - (int64_t)boot_ns);
	time_t s = (time_t)(at / 1000000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", (long)((at / 1000000) % 1000));
}

/* A captured string as JSON: cut back to a UTF-8 boundary; bytes that are not UTF-8 become '?'. */
static json_t *
str_value(const char *s, int n, bool cut)
{
	char tmp[JP_STR_BUF];

	if (n < 0)
		return json_string("<unreadable>");
	if (cut)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	json_t *v = json_stringn(s, (size_t)n);
	if (v != NULL)
		return v;
	for (int i = 0; i < n; i++) {
		tmp[i] = s[i];
		if ((unsigned char)s[i] >= 0x80)
			tmp[i] = '?';
	}
	return json_stringn(tmp, (size_t)n);
}

static int
on_event(void *ctx, void *data, size_t size)
{
	const struct jp_event *ev = data;
	struct probe *p = NULL;
	char ts[32], idbuf[17], *args_key;
	unsigned char rnd[8];

	(void)ctx;
	if (size < sizeof *ev)
		return 0;
	for (size_t i = 0; i < JP_MAX_SLOTS; i++)
		if (g.probes[i] != NULL && g.probes[i]->slot == (int)ev->slot)
			p = g.probes[i];
	if (p == NULL || p->state != ATTACHED || (p->capture_return && !(ev->flags & JP_EV_RETURN)))
		return 0;
	if (json_array_size(p->queue) >= MAX_QUEUE) {
		g.lost++;
		return 0;
	}
	timestamp(ev->ts_ns, ts);
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		memset(rnd, 0, sizeof rnd);
	for (int i = 0; i < 8; i++)
		snprintf(idbuf + 2 * i, 3, "%02x", rnd[i]);
	json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "event_id", idbuf, "function",
			      p->function, "instance", g.instance);
	json_t *trunc = json_array();
	if (e == NULL || trunc == NULL) {
		json_decref(e);
		json_decref(trunc);
		g.lost++;
		return 0;
	}
	if (p->capture_args) {
		json_t *args = json_object();
		for (int i = 0; args != NULL && i < JP_MAX_ARGS; i++) {
			json_t *v = NULL;
			bool cut = (ev->flags & (JP_EV_STR_CUT << i)) != 0;
			char hex[24];
			switch (p->args[i].type) {
			case JP_I64: v = json_integer((json_int_t)ev->val[i]); break;
			case JP_U64:
				if (ev->val[i] <= (__u64)INT64_MAX) {
					v = json_integer((json_int_t)ev->val[i]);
				} else {
					snprintf(hex, sizeof hex, "%llu",
						 (unsigned long long)ev->val[i]);
					v = json_string(hex);
				}
				break;
			case JP_PTR:
				snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)ev->val[i]);
				v = json_string(hex);
				break;
			case JP_STR:
				v = str_value(ev->str[i], ev->slen[i], cut);
				if (cut && asprintf(&args_key, "args.%s", p->args[i].name) >= 0) {
					json_array_append_new(trunc, json_string(args_key));
					free(args_key);
				}
				break;
			default: continue;
			}
			json_object_set_new(args, p->args[i].name, v);
		}
		json_object_set_new(e, "args", args ? args : json_null());
	}
	if (p->capture_return)
		json_object_set_new(e, "return", json_integer((json_int_t)ev->ret));
	if (json_array_size(trunc) > 0)
		json_object_set_new(e, "truncated", trunc);
	else
		json_decref(trunc);
	if (json_array_size(p->queue) == 0)
		mono(&p->queued_at);
	json_array_append_new(p->queue, e);
	return 0;
}

/* Posts a probe's queue when it is full or old enough (force: now).  Returns the status. */
static long
flush(struct probe *p, bool force)
{
	json_t *reply = NULL;
	char path[160];
	long status = 0;

	if (json_array_size(p->queue) == 0 || (!force && json_array_size(p->queue) < MAX_BATCH &&
					       -ms_until(&p->queued_at) < FLUSH_MS))
		return 0;
	json_t *batch = json_array();
	while (batch != NULL && json_array_size(batch) < MAX_BATCH && json_array_size(p->queue)) {
		json_array_append(batch, json_array_get(p->queue, 0));
		json_array_remove(p->queue, 0);
	}
	json_t *body = json_pack("{s:o}", "events", batch);
	snprintf(path, sizeof path, "/v1/agents/probes/%s/events", p->id);
	if (body != NULL)
		status = request(path, body, &reply);
	if (status == 201) {
		g.posted += (unsigned long)json_integer_value(json_object_get(reply, "stored"));
		g.refused += json_array_size(json_object_get(reply, "refused"));
	} else if (status == 404 || status == 409) {
		logmsg("probe %s: events answered %ld: detached", p->id, status);
		detach(p);
		json_array_clear(p->queue);
	} else if (status == -1 || status >= 500) {
		/* put the batch back, oldest first, within the queue's bound */
		for (size_t i = json_array_size(batch);
		     i-- > 0 && json_array_size(p->queue) < MAX_QUEUE;)
			json_array_insert(p->queue, 0, json_array_get(batch, i));
		mono(&p->queued_at);
	} else {
		g.lost += json_array_size(batch);
	}
	json_decref(reply);
	json_decref(body);
	return status;
}

/* The CPU guard and max_hits, once a second for each attached probe. */
static void
guard(double seconds)
{
	/* what the ring buffer holds first: a probe detached below takes no event after */
	(void)ring_buffer__consume(g.rb);
	for (size_t i = 0; i < JP_MAX_SLOTS; i++) {
		struct probe *p = g.probes[i];
		struct jp_counters k;
		__u32 key;
		if (p == NULL || p->state != ATTACHED)
			continue;
		key = (__u32)p->slot;
		if (bpf_map__lookup_elem(g.bpf.counters, &key, sizeof key, &k, sizeof k, 0) != 0)
			continue;
		double cost = (double)(k.entries - p->entries) * g.entry_ns +
			      (double)(k.returns - p->returns) * g.return_ns;
		p->entries = k.entries;
		p->returns = k.returns;
		if (k.drops > p->drops) {
			logmsg(
			    "probe %s: %llu events lost in the kernel (ring buffer or return map "
			    "full)",
			    p->id, (unsigned long long)(k.drops - p->drops));
			g.kernel_drops += k.drops - p->drops;
			p->drops = k.drops;
		}
		double ms = cost / 1e6 / seconds;
		if (k.hits >= (uint64_t)p->lim.max_hits) {
			logmsg("probe %s reached max_hits (%ld): detached", p->id, p->lim.max_hits);
			flush(p, true);
			detach(p);
			continue;
		}
		if (ms > (double)p->lim.max_cpu_ms_per_second) {
			json_t *reply = NULL;
			char path[160];
			logmsg("probe %s costs about %.1f ms/s of traps (max %ld): detached", p->id,
			       ms, p->lim.max_cpu_ms_per_second);
			flush(p, true);
			detach(p);
			g.cpu_disabled++;
			json_t *body = json_pack("{s:s, s:f}", "reason", "cpu", "cpu_ms_per_second",
						 ms > 1000 ? 1000.0 : ms);
			snprintf(path, sizeof path, "/v1/agents/probes/%s/disable", p->id);
			if (body != NULL)
				(void)request(path, body, &reply);
			json_decref(reply);
			json_decref(body);
		}
	}
}

/* ---- polling ---------------------------------------------------------------- */

static void
send_status(void)
{
	json_t *installed = json_array(), *failed = json_array(), *dropped = json_object();
	json_t *reply = NULL;

	for (size_t i = 0; installed && failed && dropped && i < JP_MAX_SLOTS; i++) {
		struct probe *p = g.probes[i];
		if (p == NULL)
			continue;
		if (p->state == ATTACHED) {
			json_array_append_new(installed, json_string(p->id));
			/* what the kernel lost of it (ring buffer or return map full), so far */
			if (p->drops > 0)
				json_object_set_new(dropped, p->id,
						    json_integer((json_int_t)p->drops));
		} else if (p->state == FAILED)
			json_array_append_new(failed,
					      json_pack("{s:s, s:s, s:s}", "id", p->id, "code",
							p->code, "message", p->message));
	}
	json_t *body =
	    json_pack("{s:s, s:s, s:o*, s:o*, s:o*}", "service", g.service, "instance", g.instance,
		      "installed", installed, "dropped", dropped, "failed", failed);
	long st = body ? request("/v1/agents/probes/status", body, &reply) : -1;
	if (st != 200 && st != 201 && st != 204 && st != 404)
		logmsg("status report answered %ld", st);
	json_decref(reply);
	json_decref(body);
}

static void
remove_all(void)
{
	for (size_t i = 0; i < JP_MAX_SLOTS; i++)
		if (g.probes[i] != NULL)
			probe_free(i);
}

static void
apply_poll(const json_t *reply, const struct timespec *t0)
{
	const json_t *list = json_object_get(reply, "probes");
	json_int_t now = json_integer_value(json_object_get(reply, "now"));
	bool keep[JP_MAX_SLOTS] = {false};
	size_t i;
	json_t *j;

	json_array_foreach(list, i, j)
	{
		const char *id = json_string_value(json_object_get(j, "id"));
		json_t *exp = json_object_get(j, "expires_at");
		if (id == NULL || !json_is_integer(exp))
			continue;
		json_int_t left = json_integer_value(exp) - now - 1; /* as agent.c */
		if (left <= 0)
			continue;
		struct timespec dl = *t0;
		dl.tv_sec += (time_t)left;
		ssize_t at = find(id);
		if (at >= 0) {
			struct probe *p = g.probes[at];
			if (ms_until(&dl) < ms_until(&p->deadline))
				p->deadline = dl; /* never extended */
			keep[at] = true;
			continue;
		}
		struct probe *p = probe_new(j, &dl);
		if (p == NULL)
			continue;
		for (size_t s = 0; s < JP_MAX_SLOTS; s++)
			if (g.probes[s] == NULL) {
				g.probes[s] = p;
				keep[s] = true;
				break;
			}
	}
	for (i = 0; i < JP_MAX_SLOTS; i++)
		if (g.probes[i] != NULL && !keep[i]) {
			logmsg("probe %s is no longer listed: detached", g.probes[i]->id);
			flush(g.probes[i], true);
			probe_free(i);
		}
}

static long
poll_once(long *backoff)
{
	char *path = NULL, *svc = curl_easy_escape(NULL, g.service, 0);
	json_t *reply = NULL;
	long next = DEFAULT_POLL_MS, status = -1;
	struct timespec t0;

	mono(&t0);
	if (svc != NULL && asprintf(&path, "/v1/agents/probes?service=%s", svc) >= 0)
		status = request(path, NULL, &reply);
	else
		path = NULL;
	if (status == 200 && json_is_array(json_object_get(reply, "probes")) &&
	    json_is_integer(json_object_get(reply, "now"))) {
		json_t *ps = json_object_get(reply, "poll_seconds");
		apply_poll(reply, &t0);
		if (json_is_integer(ps) && json_integer_value(ps) > 0 &&
		    json_integer_value(ps) <= 3600)
			next = (long)json_integer_value(ps) * 1000;
		g.polls_ok++;
		*backoff = 0;
		send_status();
	} else {
		g.polls_failed++;
		if (status == 401 || status == 403) {
			logmsg("poll answered %ld: every probe removed", status);
			remove_all();
			next = UNAUTH_POLL_MS;
		} else {
			*backoff = *backoff ? *backoff * 2 : 1000;
			if (*backoff > MAX_BACKOFF_MS)
				*backoff = MAX_BACKOFF_MS;
			next = *backoff;
		}
	}
	json_decref(reply);
	free(path);
	curl_free(svc);
	uint32_t r;
	if (getrandom(&r, sizeof r, 0) == (ssize_t)sizeof r) /* +-20 % jitter */
		next = (long)((double)next * (0.8 + 0.4 * ((double)r / 4294967296.0)));
	return next;
}

/* ---- main -------------------------------------------------------------------- */

/* The function calibrate() probes: kept out of line and not folded away. */
__attribute__((noinline, used)) long jp_calibrate_target(long x);
__attribute__((noinline, used)) long
jp_calibrate_target(long x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

/* called through this pointer, so that the compiler calls the symbol itself, never a clone */
static long (*volatile calibrate_fn)(long) = jp_calibrate_target;

static double
thread_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/*
 * The cost of the traps on this host: jp_calibrate_target() called
 * CALIBRATE_CALLS times unprobed, with a uprobe of the BPF program, then
 * with a uretprobe as well (its slot inactive: it counts and returns, as it
 * does for every call that does not match); each the least of three rounds.
 * An entry trap that single-steps the function's first instruction costs
 * far more than a return trap on some hosts (a virtual machine's debug
 * exceptions), so each kind is measured and charged on its own.  The
 * thread's CPU clock includes the kernel's work for the traps and not the
 * time the thread was preempted.  Returns 0, or -1 when it cannot measure.
 */
static int
calibrate(double *entry_ns, double *return_ns)
{
	char self[PATH_MAX];
	struct bpf_link *in = NULL, *out = NULL;
	struct bpf_uprobe_opts o = {
	    .sz = sizeof o, .func_name = "jp_calibrate_target", .bpf_cookie = CALIBRATE_SLOT};
	struct bpf_uprobe_opts r = {.sz = sizeof r,
				    .func_name = "jp_calibrate_target",
				    .bpf_cookie = CALIBRATE_SLOT,
				    .retprobe = true};
	double least[3] = {-1, -1, -1}; /* unprobed, entry, entry + return */
	volatile long sink = 0;
	int rc = -1;

	if (realpath("/proc/self/exe", self) == NULL)
		return -1;
	for (int round = 0; round < 9; round++) {
		if (round == 3 && (in = bpf_program__attach_uprobe_opts(g.bpf.entry, getpid(), self,
									0, &o)) == NULL)
			break;
		if (round == 6 && (out = bpf_program__attach_uprobe_opts(g.bpf.ret, getpid(), self,
									 0, &r)) == NULL)
			break;
		double t0 = thread_ns();
		for (int i = 0; i < CALIBRATE_CALLS; i++)
			sink = calibrate_fn(sink);
		double t = thread_ns() - t0;
		if (least[round / 3] < 0 || t < least[round / 3])
			least[round / 3] = t;
	}
	if (least[2] >= 0) {
		*entry_ns = (least[1] - least[0]) / CALIBRATE_CALLS;
		*return_ns = (least[2] - least[1]) / CALIBRATE_CALLS;
		rc = 0;
	}
	bpf_link__destroy(in);
	bpf_link__destroy(out);
	return rc;
}

static char *
read_key(const char *path)
{
	char buf[256];
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	char *k = n > 0 ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof buf);
	return k;
}

static void
usage(void)
{
	(void)fputs(
	    "usage: jitgate-probe --url URL --service NAME --key-file FILE [--cacert PEM]\n"
	    "                     (--target EXECUTABLE | --pid PID) [--instance NAME] [-v]\n",
	    stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
					     {"service", required_argument, NULL, 's'},
					     {"key-file", required_argument, NULL, 'k'},
					     {"cacert", required_argument, NULL, 'c'},
					     {"target", required_argument, NULL, 't'},
					     {"pid", required_argument, NULL, 'p'},
					     {"instance", required_argument, NULL, 'i'},
					     {"verbose", no_argument, NULL, 'v'},
					     {NULL, 0, NULL, 0}};
	const char *keyfile = NULL;
	char exe[PATH_MAX], host[64];
	int c;

	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (c) {
		case 'u': g.url = optarg; break;
		case 's': g.service = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'c': g.cacert = optarg; break;
		case 't': g.target = optarg; break;
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || v <= 0 || v > INT_MAX)
				usage();
			g.pid = (int)v;
			break;
		}
		case 'i': g.instance = optarg; break;
		case 'v': g.verbose = true; break;
		default: usage();
		}
	}
	if (optind != argc || g.url == NULL || g.service == NULL || keyfile == NULL ||
	    (g.target == NULL) == (g.pid == 0))
		usage();
	if (g.pid > 0) {
		char link[64];
		snprintf(link, sizeof link, "/proc/%d/exe", g.pid);
		if (realpath(link, exe) == NULL) {
			logmsg("pid %d: %s", g.pid, strerror(errno));
			return 1;
		}
		g.target = exe;
	}
	if (g.instance == NULL) {
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "unknown");
		host[sizeof host - 1] = '\0';
		g.instance = host;
	}
	if ((g.key = read_key(keyfile)) == NULL) {
		logmsg("cannot read the ingest key from %s", keyfile);
		return 1;
	}
	if (access(g.target, R_OK) != 0) {
		logmsg("target %s: %s", g.target, strerror(errno));
		return 1;
	}
	libbpf_set_print(libbpf_log);
	if (jp_bpf_load(&g.bpf) != 0) {
		logmsg("cannot load the BPF program (needs root, or CAP_BPF and CAP_PERFMON): %s",
		       strerror(errno));
		return 1;
	}
	if (calibrate(&g.entry_ns, &g.return_ns) != 0) {
		logmsg(
		    "cannot measure what a trap costs (is jitgate-probe stripped?): %d ns assumed",
		    TRAP_NS_DEFAULT);
		g.entry_ns = g.return_ns = TRAP_NS_DEFAULT;
	}
	if (g.entry_ns < TRAP_NS_MIN)
		g.entry_ns = TRAP_NS_MIN;
	if (g.return_ns < TRAP_NS_MIN)
		g.return_ns = TRAP_NS_MIN;
	logmsg("the probed thread's CPU per trap here: %.0f ns on entry, %.0f ns on return",
	       g.entry_ns, g.return_ns);
	g.rb = ring_buffer__new(bpf_map__fd(g.bpf.events), on_event, NULL, NULL);
	if (g.rb == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		logmsg("cannot set up the ring buffer or libcurl");
		jp_bpf_unload();
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	logmsg("watching %s%s for service %s", g.target, g.pid > 0 ? " (one pid)" : "", g.service);

	struct timespec next_poll, last_guard;
	long backoff = 0;
	mono(&next_poll);
	mono(&last_guard);
	while (!stopping) {
		if (ms_until(&next_poll) <= 0) {
			long wait = poll_once(&backoff);
			mono(&next_poll);
			next_poll.tv_sec += wait / 1000;
			next_poll.tv_nsec += (wait % 1000) * 1000000;
			if (next_poll.tv_nsec >= 1000000000) {
				next_poll.tv_sec++;
				next_poll.tv_nsec -= 1000000000;
			}
		}
		ring_buffer__poll(g.rb, 100);
		for (size_t i = 0; i < JP_MAX_SLOTS; i++) {
			struct probe *p = g.probes[i];
			if (p == NULL)
				continue;
			if (!p->ended && ms_until(&p->deadline) <= 0) {
				if (p->state == ATTACHED)
					logmsg("probe %s reached its deadline: detached", p->id);
				flush(p, true);
				detach(p);
				json_array_clear(p->queue);
				p->ended = true; /* kept until unlisted, never attached again */
				continue;
			}
			flush(p, false);
		}
		if (-ms_until(&last_guard) >= 1000) {
			struct timespec now;
			mono(&now);
			guard((double)-ms_until(&last_guard) / 1000.0);
			last_guard = now;
		}
	}
	logmsg("stopping: detaching every probe");
	for (size_t i = 0; i < JP_MAX_SLOTS; i++)
		if (g.probes[i] != NULL && g.probes[i]->state == ATTACHED) {
			ring_buffer__poll(g.rb, 0);
			flush(g.probes[i], true);
		}
	remove_all();
	ring_buffer__free(g.rb);
	jp_bpf_unload();
	printf("{\"posted\":%lu,\"refused\":%lu,\"lost\":%lu,\"kernel_drops\":%lu,\"polls_ok\":%lu,"
	       "\"polls_failed\":%lu,\"cpu_disabled\":%lu}\n",
	       g.posted, g.refused, g.lost, g.kernel_drops, g.polls_ok, g.polls_failed,
	       g.cpu_disabled);
	explicit_bzero(g.key, strlen(g.key));
	free(g.key);
	curl_global_cleanup();
	return 0;
}
