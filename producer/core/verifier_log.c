/* The reason in a BPF verifier log (verifier_log.h). */
#include "verifier_log.h"

#include <stdio.h>
#include <string.h>

/* An instruction or register-state line: "12: (85) call ...", "12: R1=ctx()". */
static bool trace_line(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i > 0 && i < n && s[i] == ':';
}

/* Blanks and control bytes (a log is text, but not always clean). */
static bool blank(char c)
{
	return (unsigned char)c <= ' ';
}

static bool starts(const char *s, size_t n, const char *prefix)
{
	size_t m = strlen(prefix);

	return n >= m && memcmp(s, prefix, m) == 0;
}

/* Lines around the error that are not the error: source, state, statistics. */
static bool noise_line(const char *s, size_t n)
{
	static const char *const prefixes[] = {
		";", "processed ", "verification time", "stack depth", "from ", "last_idx",
		"regs=", "parent ", "mark_precise", "func#", "Func#", "Live regs", "propagating",
		"Validating ", "reg type unsupported", "frame", "insn ", "caller:", "callee:",
	};
	size_t i;

	while (n && blank(*s)) {
		s++;
		n--;
	}
	if (n == 0)
		return true;
	/* Register state, "R1=ctx() R10=fp0" or "R2_w=scalar()", not "R1 invalid mem access". */
	if (s[0] == 'R') {
		i = 1;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		while (i > 1 && i < n && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z')))
			i++;
		if (i > 1 && i < n && s[i] == '=')
			return true;
	}
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (starts(s, n, prefixes[i]))
			return true;
	return false;
}

bool verifier_log_error(const char *log, size_t len, char *why, size_t size)
{
	const char *end, *nl, *s, *after = log, *found = NULL;
	size_t n = 0;

	if (!size)
		return false;
	why[0] = '\0';
	end = memchr(log, '\0', len);
	if (end)
		len = (size_t)(end - log);
	end = log + len;
	for (s = log; s < end; s = nl + 1) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			nl = end;
		if (trace_line(s, (size_t)(nl - s)))
			after = nl < end ? nl + 1 : end;
		if (nl == end)
			break;
	}
	for (int pass = 0; pass < 2 && !found; pass++) {
		for (s = pass ? log : after; s < end; s = nl + 1) {
			nl = memchr(s, '\n', (size_t)(end - s));
			if (!nl)
				nl = end;
			if (!trace_line(s, (size_t)(nl - s)) && !noise_line(s, (size_t)(nl - s))) {
				found = s;
				n = (size_t)(nl - s);
				break;
			}
			if (nl == end)
				break;
		}
	}
	if (!found)
		return false;
	/* Blanks (and control bytes) of the line are kept out of the one-line reason. */
	while (n && blank(*found)) {
		found++;
		n--;
	}
	if (n > size - 1)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		why[i] = (unsigned char)found[i] < 0x20 ? ' ' : found[i];
	why[n] = '\0';
	return true;
}
