/*
 * Reading a schema from a Confluent-compatible Schema Registry by its id, for values in the
 * Confluent wire format (00 + 4-byte big-endian schema id + datum).
 */
#ifndef TAPIO_REGISTRY_FETCH_H
#define TAPIO_REGISTRY_FETCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * GET <url>/schemas/ids/<id>. 0 with *schema the schema's JSON (malloc'd, NUL-terminated; the
 * caller frees it); -ENOENT when the registry has no such id (HTTP 404); -EINVAL when the answer
 * holds no Avro schema; -EIO on a transport error or any other HTTP status. errstr names the URL
 * and says why. Blocks at most timeout_ms.
 */
int registry_fetch_schema(const char *url, int32_t id, long timeout_ms, char **schema,
			  char *errstr, size_t errstr_size);

#endif /* TAPIO_REGISTRY_FETCH_H */
