#include "tool_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return -EINVAL;
}

int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *flag,
	     const char *arg)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "%s: %s%s%s: %s\n", program_invocation_short_name, flag,
			*arg ? " " : "", arg, errstr);
		return -EINVAL;
	}
	return 0;
}
