/* libFuzzer target: the archive layout's parsers of outside bytes (archive_format.c): the Kafka
 * columns of a row (key, timestamp, headers), a raw row's value and reason, archive paths and
 * header numbers. Each must reject or decode within the bytes it was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct archive_headers h = { 0 };
	struct archive_kafka k;
	const uint8_t *value, *reason;
	size_t off = 0, value_len, reason_len;
	char err[256], topic[256], *path;
	int64_t hour, first, v;
	int32_t partition;
	bool raw;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: /* a row's Kafka columns, then a raw row's value and reason */
		if (archive_kafka_decode(data + 1, size - 1, &off, &k, &h, err, sizeof(err)) == 0) {
			if (off > size - 1 || (k.key && k.key + k.key_len > data + size))
				abort();
			for (size_t i = 0; i < k.n_headers; i++)
				if ((const uint8_t *)k.headers[i].name + k.headers[i].name_len >
				    data + size)
					abort();
			if (archive_raw_decode(data + 1, size - 1, &off, &value, &value_len, &reason,
					       &reason_len, err, sizeof(err)) == 0 && off > size - 1)
				abort();
		} else if (!err[0]) {
			abort();
		}
		break;
	case 1: /* a path below the archive's root */
		if (!(path = malloc(size)))
			return 0;
		memcpy(path, data + 1, size - 1);
		path[size - 1] = '\0';
		archive_parse_path(path, topic, sizeof(topic), &raw, &hour, &partition, &first);
		free(path);
		break;
	default:
		archive_parse_num(data + 1, size - 1, &v);
	}
	free(h.v);
	return 0;
}
