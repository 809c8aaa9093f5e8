/* What the command-line tools (tapio-tail, tapio-archive, tapio-replay) share in reading their
 * arguments: an error starts with the program's name (glibc's program_invocation_short_name),
 * names the flag and the value, and is -EINVAL (exit 2). */
#ifndef TAPIO_TOOL_CLI_H
#define TAPIO_TOOL_CLI_H

#include <librdkafka/rdkafka.h>

/* "<program>: <message>" on stderr; returns -EINVAL. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* rd_kafka_conf_set(), a refusal said as "<program>: FLAG ARG: why" (ARG may be ""); 0 or
 * -EINVAL. */
int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *flag,
	     const char *arg);

#endif
