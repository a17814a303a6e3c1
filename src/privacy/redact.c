/*
 * redact.c - PII redaction of text and JSON (see redact.h for what matches).
 *
 * jg_redact_text makes one pass over the input.  At each byte match_at()
 * asks the scanners in a fixed order whether a match starts there; the
 * first yes wins, the bytes before it are copied, its marker is written and
 * the pass resumes after it.  Each scanner checks a cheap start condition
 * first and then either reads a bounded number of bytes (card <= 19 digits
 * and their separators, phone <= 15 digits, IPv4 <= 15 bytes) or reads a
 * run no later attempt of the same scanner reads again: bearer and JWT can
 * start only after a byte that cannot be inside their run, and a failed
 * email or IPv6 attempt remembers where its run ended (email_fail_until,
 * ipv6_fail_until) so starts inside it are not retried.  The pass is
 * therefore linear in the input.  The only allocation is the output
 * buffer, grown by doubling; the IPv6 candidate is copied to the stack for
 * inet_pton.  Byte classes are ASCII tests, never <ctype.h> (whose answer
 * depends on the locale and is undefined for negative chars).
 *
 * jg_redact_json walks a jansson document recursively (depth-capped) and
 * replaces values through the parent's iterator or index, because an
 * integer turned into a string is a new json_t.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/redact.h"

#define CARD_MIN   13
#define CARD_MAX   19
#define E164_MIN   8
#define E164_MAX   15
#define NATL_MIN   9
#define NATL_MAX   12
#define IPV6_MAX   45 /* INET6_ADDRSTRLEN - 1 */
#define JWT_MAXSEG 5

/* ---- byte classes ---- */

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(unsigned char c)
{
	return is_digit(c) || is_alpha(c);
}

static bool
is_word(unsigned char c)
{
	return is_alnum(c) || c == '_';
}

static bool
is_hex(unsigned char c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Email local part: [A-Za-z0-9._%+-] and any byte >= 0x80. */
static bool
is_local(unsigned char c)
{
	return is_alnum(c) || c >= 0x80 || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* Domain label: letters, digits, hyphen. */
static bool
is_ldh(unsigned char c)
{
	return is_alnum(c) || c == '-';
}

static bool
is_b64url(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '_';
}

/* RFC 6750 b64token, without the trailing '='. */
static bool
is_b64tok(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

static bool
is_v6(unsigned char c)
{
	return is_hex(c) || c == ':' || c == '.';
}

static bool
is_zone(unsigned char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

/* ---- the scanner ---- */

struct scan {
	const unsigned char *s;
	size_t n;
	size_t floor;		 /* end of the last match: bytes before it are gone */
	size_t email_fail_until; /* no email starts before this offset */
	size_t ipv6_fail_until;	 /* no IPv6 address starts before this offset */
};

struct match {
	size_t end;	  /* offset just past the match */
	size_t keep;	  /* leading bytes of the match copied as they are ("Bearer ") */
	const char *mark; /* what replaces the rest */
	unsigned kind;	  /* JG_REDACT_* */
};

/* The byte at i, or 0 past the end (0 belongs to no class, like a real NUL). */
static unsigned char
at(const struct scan *sc, size_t i)
{
	return i < sc->n ? sc->s[i] : 0;
}

/*
 * The byte back places before i, for boundary tests; 0 before the text and
 * before the end of the last match, whose bytes the output no longer has
 * (so "+14155550132+14155550132" loses both numbers, as the marker's ']'
 * would let the second one start on a second pass).
 */
static unsigned char
before(const struct scan *sc, size_t i, size_t back)
{
	return i >= sc->floor + back ? sc->s[i - back] : 0;
}

static bool
found_match(struct match *m, size_t end, size_t keep, const char *mark, unsigned kind)
{
	m->end = end;
	m->keep = keep;
	m->mark = mark;
	m->kind = kind;
	return true;
}

/* A number may start at i: not inside a word, nor after "<digit>." / "<digit>-". */
static bool
num_start_ok(const struct scan *sc, size_t i)
{
	unsigned char p = before(sc, i, 1);

	if (is_word(p))
		return false;
	if ((p == '.' || p == '-') && is_digit(before(sc, i, 2)))
		return false;
	return true;
}

/* A number may end at p: no word byte and no ".<digit>" follow. */
static bool
num_end_ok(const struct scan *sc, size_t p)
{
	unsigned char c = at(sc, p);

	if (is_word(c))
		return false;
	if (c == '.' && is_digit(at(sc, p + 1)))
		return false;
	return true;
}

/* Length of the digit run at p, reading at most max + 1 bytes. */
static size_t
digits_at(const struct scan *sc, size_t p, size_t max)
{
	size_t k = 0;

	while (k <= max && is_digit(at(sc, p + k)))
		k++;
	return k;
}

/* "Bearer" + blanks + b64token: only the token is replaced. */
static bool
scan_bearer(const struct scan *sc, size_t i, struct match *m)
{
	static const char word[] = "bearer";
	size_t p, tok;

	if (is_word(before(sc, i, 1)))
		return false;
	for (p = 0; p < sizeof(word) - 1; p++)
		if (lower(at(sc, i + p)) != (unsigned char)word[p])
			return false;
	p = i + sizeof(word) - 1;
	if (at(sc, p) != ' ' && at(sc, p) != '\t')
		return false;
	while (at(sc, p) == ' ' || at(sc, p) == '\t')
		p++;
	tok = p;
	while (is_b64tok(at(sc, p)))
		p++;
	if (p == tok)
		return false;
	while (at(sc, p) == '=')
		p++;
	return found_match(m, p, tok - i, JG_REDACT_MARK_TOKEN, JG_REDACT_TOKEN);
}

/* eyJ... base64url segments joined by dots: 3 to 5 of them. */
static bool
scan_jwt(const struct scan *sc, size_t i, struct match *m)
{
	unsigned char p0 = before(sc, i, 1);
	size_t p = i, seg_start, nseg = 1;

	if (is_b64url(p0) || p0 == '.')
		return false;
	if (at(sc, i) != 'e' || at(sc, i + 1) != 'y' || at(sc, i + 2) != 'J')
		return false;
	while (is_b64url(at(sc, p)))
		p++;
	if (p - i < 4)
		return false;
	while (nseg < JWT_MAXSEG && at(sc, p) == '.') {
		seg_start = p + 1;
		p = seg_start;
		while (is_b64url(at(sc, p)))
			p++;
		if (nseg == 1 && p == seg_start)
			return false; /* the payload is never empty */
		nseg++;
	}
	if (nseg < 3)
		return false;
	return found_match(m, p, 0, JG_REDACT_MARK_JWT, JG_REDACT_TOKEN);
}

/* A top-level domain: >= 2 ASCII letters, or punycode "xn--...". */
static bool
tld_ok(const struct scan *sc, size_t a, size_t b)
{
	size_t k;

	if (b - a > 4 && lower(sc->s[a]) == 'x' && lower(sc->s[a + 1]) == 'n' &&
	    sc->s[a + 2] == '-' && sc->s[a + 3] == '-')
		return true;
	if (b - a < 2)
		return false;
	for (k = a; k < b; k++)
		if (!is_alpha(sc->s[k]))
			return false;
	return true;
}

/* The end of the longest valid domain at p, or 0. */
static size_t
scan_domain(const struct scan *sc, size_t p)
{
	size_t best = 0, labels = 0, q;

	for (;;) {
		q = p;
		while (is_ldh(at(sc, q)))
			q++;
		if (q == p)
			break;
		labels++;
		if (labels >= 2 && tld_ok(sc, p, q))
			best = q;
		if (at(sc, q) != '.' || !is_ldh(at(sc, q + 1)))
			break;
		p = q + 1;
	}
	return best;
}

static bool
is_pct40(const struct scan *sc, size_t p)
{
	return at(sc, p) == '%' && at(sc, p + 1) == '4' && at(sc, p + 2) == '0';
}

static bool
scan_email(struct scan *sc, size_t i, struct match *m)
{
	unsigned char c = at(sc, i), p0 = before(sc, i, 1);
	size_t p = i, at_len, end;

	if (i < sc->email_fail_until || !is_local(c) || c == '.')
		return false;
	if (is_local(p0) && p0 != '.')
		return false;
	while (is_local(at(sc, p)) && !is_pct40(sc, p))
		p++;
	if (at(sc, p) == '@')
		at_len = 1;
	else if (is_pct40(sc, p))
		at_len = 3;
	else {
		sc->email_fail_until = p;
		return false;
	}
	/* Any start in [i, p) reaches this same '@' and domain. */
	sc->email_fail_until = p + at_len;
	if (p == i)
		return false;
	end = scan_domain(sc, p + at_len);
	if (end == 0)
		return false;
	return found_match(m, end, 0, JG_REDACT_MARK_EMAIL, JG_REDACT_EMAIL);
}

static bool
v6_ok(const struct scan *sc, size_t a, size_t b)
{
	char buf[IPV6_MAX + 1];
	struct in6_addr addr;

	if (b - a > IPV6_MAX || b == a)
		return false;
	memcpy(buf, sc->s + a, b - a);
	buf[b - a] = '\0';
	return inet_pton(AF_INET6, buf, &addr) == 1;
}

/*
 * The run of [0-9A-Fa-f:.] at i, validated by inet_pton.  A start may
 * follow ':' ("addr:2001:db8::1"), so a failed run blocks the starts inside
 * it: "1:2:3:4:5:6:7:8:9a" must not lose its valid tail.
 */
static bool
scan_ipv6(struct scan *sc, size_t i, struct match *m)
{
	unsigned char p0 = before(sc, i, 1), c = at(sc, i);
	size_t p = i, end, colons = 0, hexd = 0;

	if (i < sc->ipv6_fail_until || is_word(p0) || p0 == '.' || !(is_hex(c) || c == ':'))
		return false;
	while (is_v6(at(sc, p))) {
		colons += at(sc, p) == ':';
		hexd += is_hex(at(sc, p));
		p++;
	}
	sc->ipv6_fail_until = p; /* a match jumps past p anyway */
	if (p - i > IPV6_MAX || colons < 2 || hexd == 0)
		return false;
	end = p;
	if (!v6_ok(sc, i, end)) {
		while (end > i && (sc->s[end - 1] == ':' || sc->s[end - 1] == '.'))
			end--;
		if (end == p || !v6_ok(sc, i, end))
			return false;
		return found_match(m, end, 0, JG_REDACT_MARK_IP, JG_REDACT_IP);
	}
	if (at(sc, end) == '%' && is_zone(at(sc, end + 1))) {
		end++;
		while (is_zone(at(sc, end)))
			end++;
	}
	if (is_word(at(sc, end)))
		return false;
	return found_match(m, end, 0, JG_REDACT_MARK_IP, JG_REDACT_IP);
}

static bool
scan_ipv4(const struct scan *sc, size_t i, struct match *m)
{
	unsigned char p0 = before(sc, i, 1);
	size_t p = i, k, d;
	unsigned v;

	if (is_word(p0) || p0 == '.' || !is_digit(at(sc, i)))
		return false;
	for (k = 0; k < 4; k++) {
		if (k > 0) {
			if (at(sc, p) != '.')
				return false;
			p++;
		}
		d = digits_at(sc, p, 3);
		if (d == 0 || d > 3)
			return false;
		for (v = 0; d > 0; d--, p++)
			v = v * 10 + (unsigned)(sc->s[p] - '0');
		if (v > 255)
			return false;
	}
	if (!num_end_ok(sc, p))
		return false;
	return found_match(m, p, 0, JG_REDACT_MARK_IP, JG_REDACT_IP);
}

static bool
scan_card(const struct scan *sc, size_t i, struct match *m)
{
	char dig[CARD_MAX];
	size_t p = i, nd = 0, ngroups = 0, glen, best = 0;
	unsigned char sep = 0, c;

	if (!is_digit(at(sc, i)) || !num_start_ok(sc, i))
		return false;
	glen = digits_at(sc, p, CARD_MAX);
	if (glen >= CARD_MIN) {
		/* one unbroken run: all of it or nothing */
		if (glen <= CARD_MAX && num_end_ok(sc, p + glen) &&
		    jg_redact_luhn((const char *)sc->s + p, glen))
			return found_match(m, p + glen, 0, JG_REDACT_MARK_CARD, JG_REDACT_CARD);
		return false;
	}
	for (;;) {
		glen = digits_at(sc, p, 6);
		if (glen < 3 || glen > 6 || nd + glen > CARD_MAX)
			break;
		memcpy(dig + nd, sc->s + p, glen);
		nd += glen;
		p += glen;
		ngroups++;
		if (ngroups >= 2 && nd >= CARD_MIN && num_end_ok(sc, p) && jg_redact_luhn(dig, nd))
			best = p;
		c = at(sc, p);
		if ((c != ' ' && c != '-') || (sep != 0 && c != sep) || !is_digit(at(sc, p + 1)))
			break;
		sep = c;
		p++;
	}
	if (best == 0)
		return false;
	return found_match(m, best, 0, JG_REDACT_MARK_CARD, JG_REDACT_CARD);
}

static bool
is_phone_sep(unsigned char c)
{
	return c == ' ' || c == '-' || c == '.';
}

/* (a) '+' and 8-15 digits in groups; the longest whole-group prefix wins. */
static bool
phone_plus(const struct scan *sc, size_t i, struct match *m)
{
	unsigned char p0 = before(sc, i, 1), c;
	size_t p = i + 1, nd = 0, g, best = 0;
	bool paren;

	if (is_word(p0) || p0 == '+' || p0 == '/' || p0 == '.' || !is_digit(at(sc, p)))
		return false;
	for (;;) {
		paren = at(sc, p) == '(';
		if (paren) {
			g = digits_at(sc, p + 1, 5);
			if (g == 0 || g > 5 || at(sc, p + 1 + g) != ')')
				break;
			p += g + 2;
		} else {
			g = digits_at(sc, p, E164_MAX);
			if (g == 0)
				break;
			p += g;
		}
		nd += g;
		if (nd > E164_MAX)
			break;
		if (nd >= E164_MIN && num_end_ok(sc, p))
			best = p;
		c = at(sc, p);
		if (is_phone_sep(c) && (is_digit(at(sc, p + 1)) || at(sc, p + 1) == '('))
			p++; /* "+44 20", "+1 (415)" */
		else if (c != '(' && !(paren && is_digit(c)))
			break; /* "+1(415)" and "(0)20" go on without a separator */
	}
	if (best == 0)
		return false;
	return found_match(m, best, 0, JG_REDACT_MARK_PHONE, JG_REDACT_PHONE);
}

/* (b) "(" 2-5 digits ")" then one or two groups of 3-8 digits, 9-12 in all. */
static bool
phone_paren(const struct scan *sc, size_t i, struct match *m)
{
	size_t p = i + 1, nd, g, k, best = 0;

	if (is_word(before(sc, i, 1)))
		return false;
	nd = digits_at(sc, p, 5);
	if (nd < 2 || nd > 5 || at(sc, p + nd) != ')')
		return false;
	p += nd + 1;
	if ((at(sc, p) == ' ' || at(sc, p) == '-') && is_digit(at(sc, p + 1)))
		p++;
	for (k = 0; k < 2; k++) {
		if (k > 0) {
			if (!is_phone_sep(at(sc, p)) || !is_digit(at(sc, p + 1)))
				break;
			p++;
		}
		g = digits_at(sc, p, 8);
		if (g < 3 || g > 8)
			break;
		p += g;
		nd += g;
		if (nd > NATL_MAX)
			break;
		if (nd >= NATL_MIN && num_end_ok(sc, p))
			best = p;
	}
	if (best == 0)
		return false;
	return found_match(m, best, 0, JG_REDACT_MARK_PHONE, JG_REDACT_PHONE);
}

/* (c) [1<sep>]ddd<sep>ddd<sep>dddd, one separator throughout. */
static bool
phone_nanp(const struct scan *sc, size_t i, struct match *m)
{
	static const size_t shape[] = {3, 3, 4};
	unsigned char sep = 0;
	size_t p = i, k;

	if (at(sc, p) == '1' && is_phone_sep(at(sc, p + 1)) && is_digit(at(sc, p + 2))) {
		sep = at(sc, p + 1);
		p += 2;
	}
	for (k = 0; k < 3; k++) {
		if (k > 0) {
			if (!is_phone_sep(at(sc, p)) || (sep != 0 && at(sc, p) != sep))
				return false;
			sep = at(sc, p);
			p++;
		}
		if (digits_at(sc, p, shape[k]) != shape[k])
			return false;
		p += shape[k];
	}
	if (!num_end_ok(sc, p))
		return false;
	if (sep != ' ' && at(sc, p) == sep && is_digit(at(sc, p + 1)))
		return false;
	return found_match(m, p, 0, JG_REDACT_MARK_PHONE, JG_REDACT_PHONE);
}

/* (d) 0... in 2-8 digit groups, one space or dash throughout, 9-12 digits. */
static bool
phone_trunk(const struct scan *sc, size_t i, struct match *m)
{
	unsigned char sep = 0, c;
	size_t p = i, nd = 0, ng = 0, g, best = 0;

	if (at(sc, i) != '0')
		return false;
	for (;;) {
		g = digits_at(sc, p, 8);
		if (g < 2 || g > 8 || nd + g > NATL_MAX)
			break;
		nd += g;
		p += g;
		ng++;
		if (ng >= 2 && nd >= NATL_MIN && num_end_ok(sc, p) &&
		    !(sep == '-' && at(sc, p) == '-' && is_digit(at(sc, p + 1))))
			best = p;
		c = at(sc, p);
		if ((c != ' ' && c != '-') || (sep != 0 && c != sep) || !is_digit(at(sc, p + 1)))
			break;
		sep = c;
		p++;
	}
	if (best == 0)
		return false;
	return found_match(m, best, 0, JG_REDACT_MARK_PHONE, JG_REDACT_PHONE);
}

static bool
scan_phone(const struct scan *sc, size_t i, struct match *m)
{
	unsigned char c = at(sc, i);

	if (c == '+')
		return phone_plus(sc, i, m);
	if (c == '(')
		return phone_paren(sc, i, m);
	if (!is_digit(c) || !num_start_ok(sc, i))
		return false;
	/* not the tail of a longer spaced digit run ("4100 0000 0000 0002", a Luhn-invalid card) */
	if (before(sc, i, 1) == ' ' && is_digit(before(sc, i, 2)))
		return false;
	return phone_nanp(sc, i, m) || phone_trunk(sc, i, m);
}

static bool
match_at(struct scan *sc, size_t i, struct match *m)
{
	return scan_bearer(sc, i, m) || scan_jwt(sc, i, m) || scan_email(sc, i, m) ||
	       scan_ipv6(sc, i, m) || scan_ipv4(sc, i, m) || scan_card(sc, i, m) ||
	       scan_phone(sc, i, m);
}

/* ---- output ---- */

struct outbuf {
	char *p;
	size_t len, cap;
};

static int
out_append(struct outbuf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (b->cap - b->len <= n) { /* keep room for the NUL */
		size_t cap = b->cap;
		while (cap - b->len <= n)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL)
			return JG_ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

bool
jg_redact_luhn(const char *digits, size_t n)
{
	unsigned sum = 0, d;
	bool dbl = false;
	size_t k;

	if (digits == NULL || n == 0)
		return false;
	for (k = n; k-- > 0;) {
		if (!is_digit((unsigned char)digits[k]))
			return false;
		d = (unsigned)(digits[k] - '0');
		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

int
jg_redact_text(const char *in, size_t len, char **out, size_t *out_len, unsigned *found)
{
	return jg_redact_text_cb(in, len, NULL, NULL, out, out_len, found);
}

/* The replacement for m: its fixed marker, or what mark writes into buf. */
static int
replacement(const struct match *m, const char *in, size_t start, jg_redact_mark_fn mark, void *ctx,
	    char buf[JG_REDACT_REPL_MAX], const char **repl)
{
	char kind[16];
	size_t klen = strlen(m->mark) - 11; /* "[REDACTED:" name "]" */
	int rc;

	*repl = m->mark;
	if (mark == NULL)
		return 0;
	memcpy(kind, m->mark + 10, klen);
	kind[klen] = '\0';
	buf[0] = '\0';
	if ((rc = mark(ctx, kind, in + start + m->keep, m->end - start - m->keep, buf,
		       JG_REDACT_REPL_MAX)) != 0)
		return rc;
	*repl = buf;
	return 0;
}

int
jg_redact_text_cb(const char *in, size_t len, jg_redact_mark_fn mark, void *ctx, char **out,
		  size_t *out_len, unsigned *found)
{
	struct outbuf b = {NULL, 0, 0};
	struct scan sc;
	struct match m;
	size_t i = 0, copied = 0;
	unsigned kinds = 0;
	char buf[JG_REDACT_REPL_MAX];
	const char *repl;
	int rc = JG_ENOMEM;

	*out = NULL;
	*out_len = 0;
	if (found)
		*found = 0;
	if (in == NULL && len > 0)
		return JG_EINVAL;
	if (len > JG_REDACT_MAX_TEXT)
		return JG_ETOOBIG;
	b.cap = len + len / 8 + 64;
	if ((b.p = malloc(b.cap)) == NULL)
		goto out;
	sc.s = (const unsigned char *)in;
	sc.n = len;
	sc.floor = 0;
	sc.email_fail_until = 0;
	sc.ipv6_fail_until = 0;
	while (i < len) {
		if (!match_at(&sc, i, &m)) {
			i++;
			continue;
		}
		if ((rc = replacement(&m, in, i, mark, ctx, buf, &repl)) != 0 ||
		    (rc = out_append(&b, in + copied, i - copied + m.keep)) != 0 ||
		    (rc = out_append(&b, repl, strnlen(repl, JG_REDACT_REPL_MAX - 1))) != 0)
			goto out;
		kinds |= m.kind;
		i = copied = sc.floor = m.end;
	}
	/* in may be NULL when len is 0, and NULL + 0 is undefined */
	if (len > copied && (rc = out_append(&b, in + copied, len - copied)) != 0)
		goto out;
	b.p[b.len] = '\0';
	*out = b.p;
	b.p = NULL; /* transferred */
	*out_len = b.len;
	if (found)
		*found = kinds;
	rc = 0;
out:
	free(b.p);
	return rc;
}

/* ---- JSON ---- */

static bool
key_equal(const char *key, size_t klen, const char *field)
{
	size_t k;

	for (k = 0; k < klen; k++)
		if (field[k] == '\0' ||
		    lower((unsigned char)key[k]) != lower((unsigned char)field[k]))
			return false;
	return field[klen] == '\0';
}

static bool
sensitive(const char *key, size_t klen, const char *const *fields, size_t nfields)
{
	size_t k;

	for (k = 0; k < nfields; k++)
		if (fields[k] != NULL && key_equal(key, klen, fields[k]))
			return true;
	return false;
}

/* Whether u's decimal digits (13-19 of them) pass Luhn. */
static bool
digits_are_card(unsigned long long u)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", u);

	return n >= CARD_MIN && n <= CARD_MAX && jg_redact_luhn(buf, (size_t)n);
}

#define EXACT_LIMIT 9007199254740992.0 /* 2^53: every integer below is a double of its own */

/*
 * Whether some integer whose nearest double is a (integral, 2^53 <= a <
 * 1e19) is a card.  There the doubles are ulp = 2^(e-52) apart and each
 * stands for about ulp integers; from ulp 128 on those include 32 in a
 * row below a, so a whole run x0..x9, of which one passes Luhn.
 */
static bool
double_is_card(double a)
{
	unsigned long long u = (unsigned long long)a, ulp = 2;

	/* 2 below 2^54, doubled for each power of two from 2^54 that a reaches */
	for (unsigned long long above = u >> 54; above != 0; above >>= 1)
		ulp *= 2;
	if (ulp >= 128)
		return true;
	for (unsigned long long n = u - ulp; n <= u + ulp; n++)
		if ((double)n == a && digits_are_card(n))
			return true;
	return false;
}

bool
jg_redact_number_is_card(const json_t *v, bool as_double, char digits[JG_REDACT_DIGITS_SIZE])
{
	unsigned long long u;
	double a;

	if (digits)
		digits[0] = '\0';
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
		a = (double)u;
		as_double = as_double && u >= (unsigned long long)EXACT_LIMIT;
	} else if (json_is_real(v)) {
		a = json_real_value(v);
		a = a < 0 ? -a : a;
		/* NaN, infinities, 20 digits and more, and fractions are no card */
		if (!(a < 1e19) || a != (double)(unsigned long long)a)
			return false;
		u = (unsigned long long)a;
		as_double = a >= EXACT_LIMIT;
	} else {
		return false;
	}
	if (digits)
		snprintf(digits, JG_REDACT_DIGITS_SIZE, "%llu", u);
	return as_double && a < 1e19 ? double_is_card(a) : digits_are_card(u);
}

struct walk {
	const char *const *fields;
	size_t nfields;
	unsigned kinds;
};

/* Redacts v; when v must become another value, *repl is that value (the caller's). */
static int
walk(struct walk *w, json_t *v, int depth, json_t **repl)
{
	json_t *child, *r;
	void *iter;
	size_t idx, olen;
	unsigned k;
	char *o;
	int rc;

	*repl = NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		rc = jg_redact_text(json_string_value(v), json_string_length(v), &o, &olen, &k);
		if (rc != 0)
			return rc;
		if (k != 0 && json_string_setn(v, o, olen) != 0)
			rc = JG_ENOMEM;
		free(o);
		w->kinds |= k;
		return rc;
	case JSON_INTEGER:
	case JSON_REAL:
		if (!jg_redact_number_is_card(v, false, NULL))
			return 0;
		if ((*repl = json_string(JG_REDACT_MARK_CARD)) == NULL)
			return JG_ENOMEM;
		w->kinds |= JG_REDACT_CARD;
		return 0;
	case JSON_OBJECT:
		if (depth >= JG_REDACT_MAX_DEPTH)
			return JG_ETOOBIG;
		for (iter = json_object_iter(v); iter != NULL;
		     iter = json_object_iter_next(v, iter)) {
			if (sensitive(json_object_iter_key(iter), json_object_iter_key_len(iter),
				      w->fields, w->nfields)) {
				/* json_object_iter_set_new steals r, even on failure */
				if ((r = json_string(JG_REDACT_MARK_FIELD)) == NULL ||
				    json_object_iter_set_new(v, iter, r) != 0)
					return JG_ENOMEM;
				w->kinds |= JG_REDACT_FIELD;
				continue;
			}
			if ((rc = walk(w, json_object_iter_value(iter), depth + 1, &r)) != 0)
				return rc;
			if (r != NULL && json_object_iter_set_new(v, iter, r) != 0)
				return JG_ENOMEM;
		}
		return 0;
	case JSON_ARRAY:
		if (depth >= JG_REDACT_MAX_DEPTH)
			return JG_ETOOBIG;
		json_array_foreach(v, idx, child)
		{
			if ((rc = walk(w, child, depth + 1, &r)) != 0)
				return rc;
			if (r != NULL && json_array_set_new(v, idx, r) != 0)
				return JG_ENOMEM;
		}
		return 0;
	default: return 0;
	}
}

int
jg_redact_json(json_t *value, const char *const *sensitive_fields, size_t nfields, unsigned *found)
{
	struct walk w = {sensitive_fields, nfields, 0};
	json_t *repl = NULL;
	int rc;

	if (found)
		*found = 0;
	if (value == NULL || (sensitive_fields == NULL && nfields > 0))
		return JG_EINVAL;
	rc = walk(&w, value, 0, &repl);
	if (rc == 0 && repl != NULL) {
		/* a bare integer cannot become a string in place */
		json_decref(repl);
		rc = JG_EINVAL;
	}
	if (rc == 0 && found)
		*found = w.kinds;
	return rc;
}
