/* SPDX-License-Identifier: MIT */
/* The pull JSON reader (see json.h). Strict: anything RFC 8259 rejects
 * fails the reader, so a truncated or corrupt trace is reported, not drawn
 * half. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 256 };

void json_init(struct json_reader *r, const char *text, size_t len)
{
	r->p = text;
	r->end = text + len;
	r->failed = false;
	r->first = false;
	r->depth = 0;
}

static bool fail(struct json_reader *r)
{
	r->failed = true;
	return false;
}

static void ws(struct json_reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' ||
				 *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

char json_peek(struct json_reader *r)
{
	if (r->failed)
		return 0;
	ws(r);
	return r->p < r->end ? *r->p : 0;
}

static bool eat(struct json_reader *r, char c)
{
	if (json_peek(r) != c)
		return fail(r);
	r->p++;
	return true;
}

bool json_object_begin(struct json_reader *r)
{
	if (++r->depth > MAX_DEPTH)
		return fail(r);
	r->first = true;
	return eat(r, '{');
}

bool json_array_begin(struct json_reader *r)
{
	if (++r->depth > MAX_DEPTH)
		return fail(r);
	r->first = true;
	return eat(r, '[');
}

/* Shared by the two *_next: right after the opening bracket (first is
 * set) a member or the closing bracket follows; after a member, a comma
 * and a member, or the closing bracket. A nested value always ends with
 * its own closing bracket, which clears first, so the flag needs no
 * stack. */
static bool next(struct json_reader *r, char close)
{
	char c = json_peek(r);
	if (r->failed)
		return false;
	if (c == close) {
		r->p++;
		r->depth--;
		r->first = false;
		return false;
	}
	if (!r->first) {
		if (c != ',')
			return fail(r);
		r->p++;
		if (json_peek(r) == close) /* trailing comma */
			return fail(r);
	}
	r->first = false;
	return !r->failed;
}

bool json_object_next(struct json_reader *r, char *key, size_t cap)
{
	if (!next(r, '}'))
		return false;
	if (json_peek(r) != '"' || !json_string(r, key, cap))
		return fail(r);
	return eat(r, ':');
}

bool json_array_next(struct json_reader *r)
{
	return next(r, ']');
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static long hex4(struct json_reader *r)
{
	if (r->end - r->p < 4)
		return -1;
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexv(r->p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	r->p += 4;
	return v;
}

/* Appends the k bytes at t to buf if they fit with the terminating NUL;
 * once something does not fit nothing more is appended, so a truncated
 * result is a prefix of the text, cut between characters. */
static void put(char *buf, size_t *cap, size_t *n, const char *t, size_t k)
{
	if (*n + k < *cap) {
		memcpy(buf + *n, t, k);
		*n += k;
	} else if (*cap) {
		*cap = *n + 1;
	}
}

/* Appends the UTF-8 form of the code point cp. */
static void put_cp(char *buf, size_t *cap, size_t *n, long cp)
{
	char t[4];
	size_t k;
	if (cp < 0x80) {
		t[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	put(buf, cap, n, t, k);
}

/* The length of the well-formed UTF-8 sequence at p (before end), or 0
 * (RFC 3629, section 4): the lead byte gives the length, the sequence is
 * decoded, and the code point must need that length (no overlong form),
 * be at most U+10FFFF and not be a surrogate. */
static size_t utf8_len(const char *p, const char *end)
{
	static const long least[] = {0, 0, 0x80, 0x800, 0x10000};
	const unsigned char *s = (const unsigned char *)p;
	size_t n = s[0] < 0x80   ? 1
		   : s[0] < 0xc0 ? 0
		   : s[0] < 0xe0 ? 2
		   : s[0] < 0xf0 ? 3
		   : s[0] < 0xf8 ? 4
				 : 0;
	if (n == 1)
		return 1;
	if (n == 0 || (size_t)(end - p) < n)
		return 0;
	long cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool json_string(struct json_reader *r, char *buf, size_t cap)
{
	if (!eat(r, '"'))
		return false;
	size_t n = 0;
	while (r->p < r->end && *r->p != '"') {
		unsigned char c = (unsigned char)*r->p;
		if (c < 0x20)
			return fail(r);
		if (c != '\\') {
			size_t k = utf8_len(r->p, r->end);
			if (!k)
				return fail(r);
			put(buf, &cap, &n, r->p, k);
			r->p += k;
			continue;
		}
		if (++r->p >= r->end)
			return fail(r);
		char e = *r->p++;
		const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
		const char *s = e ? strchr(from, e) : NULL;
		if (s) {
			put(buf, &cap, &n, &to[s - from], 1);
		} else if (e == 'u') {
			long cp = hex4(r);
			if (cp < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
				return fail(r);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (r->end - r->p < 2 || r->p[0] != '\\' ||
				    r->p[1] != 'u')
					return fail(r);
				r->p += 2;
				long lo = hex4(r);
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(r);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			put_cp(buf, &cap, &n, cp);
		} else {
			return fail(r);
		}
	}
	if (cap)
		buf[n] = 0;
	return eat(r, '"');
}

char *json_string_dup(struct json_reader *r)
{
	if (json_peek(r) != '"') {
		fail(r);
		return NULL;
	}
	/* The decoded text is never longer than its source: an escape is at
	 * least as long as the UTF-8 it stands for. So the source up to the
	 * closing quote, plus one for the NUL, bounds the buffer. */
	const char *q = r->p + 1;
	while (q < r->end && *q != '"')
		q += *q == '\\' && q + 1 < r->end ? 2 : 1;
	size_t cap = (size_t)(q - r->p);
	char *s = malloc(cap);
	if (!s || !json_string(r, s, cap)) {
		free(s);
		fail(r);
		return NULL;
	}
	return s;
}

bool json_number(struct json_reader *r, double *v)
{
	char c = json_peek(r);
	if (r->failed)
		return false;
	const char *b = r->p;
	if (c == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0') {
		r->p++;
	} else if (r->p < r->end && *r->p >= '1' && *r->p <= '9') {
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	} else {
		return fail(r);
	}
	if (r->p < r->end && *r->p == '.') {
		r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return fail(r);
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return fail(r);
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	char tmp[64];
	size_t len = (size_t)(r->p - b);
	if (len >= sizeof tmp)
		len = sizeof tmp - 1;
	memcpy(tmp, b, len);
	tmp[len] = 0;
	*v = strtod(tmp, NULL);
	return true;
}

static bool literal(struct json_reader *r, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
		return fail(r);
	r->p += n;
	return true;
}

bool json_skip(struct json_reader *r)
{
	char key[8];
	double d;
	switch (json_peek(r)) {
	case '{':
		if (!json_object_begin(r))
			return false;
		while (json_object_next(r, key, sizeof key))
			if (!json_skip(r))
				return false;
		return !r->failed;
	case '[':
		if (!json_array_begin(r))
			return false;
		while (json_array_next(r))
			if (!json_skip(r))
				return false;
		return !r->failed;
	case '"':
		return json_string(r, key, 0);
	case 't':
		return literal(r, "true");
	case 'f':
		return literal(r, "false");
	case 'n':
		return literal(r, "null");
	default:
		return json_number(r, &d);
	}
}

bool json_end(struct json_reader *r)
{
	ws(r);
	return !r->failed && r->p == r->end;
}
