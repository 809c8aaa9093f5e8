/* How a parser of outside bytes or of arguments says why it refused them: the reason formatted
 * into the caller's errstr (when it gave room for one), -EINVAL returned. Included by the .c files
 * that report this way, never by a header. */
#ifndef TAPIO_ERRSTR_H
#define TAPIO_ERRSTR_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4)))
static inline int fail(char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;

	if (errstr && errstr_size) {
		va_start(ap, fmt);
		vsnprintf(errstr, errstr_size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

#endif
