/*
 * A Confluent-compatible Schema Registry client, used once per topic at start: registers the
 * topic's schema under the subject "<topic>-value" (TopicNameStrategy) and returns its id, which
 * frames every value as 00 + 4-byte big-endian id + datum.
 */
#ifndef TAPIO_REGISTRY_H
#define TAPIO_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/*
 * POSTs `schema_json` to <url>/subjects/<subject>/versions. Registering a schema the subject
 * already has returns its existing id. 0 with *id set, or -errno with errstr naming the URL and
 * the registry's answer (HTTP status and message) or the transport error. Blocks at most
 * timeout_ms.
 */
int registry_register(const char *url, const char *subject, const char *schema_json,
		      long timeout_ms, int32_t *id, char *errstr, size_t errstr_size);

#endif /* TAPIO_REGISTRY_H */
