/* libFuzzer target: the Object Container File reader (ocf.c) on arbitrary files, and what
 * tapio-replay does with one: step over its blocks checking their framing, compile its schema,
 * walk every datum of every block and, when the schema is an archive's, decode the Kafka columns.
 * It must reject or read, never read out of bounds, loop without end or allocate without bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive_format.h"
#include "avro_skip.h"
#include "ocf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct archive_headers h = { 0 };
	struct ocf_reader *r = NULL;
	struct avro_skip *s = NULL;
	struct archive_kafka k;
	const uint8_t *block, *value, *reason;
	size_t len, schema_len, value_fields = 0, used, pos, off, value_len, reason_len;
	size_t *field_off = NULL;
	const char *schema;
	char err[256];
	int64_t count;
	int table = 0, raw = 0;

	if (ocf_reader_open(data, size, &r, err, sizeof(err))) {
		if (!err[0])
			abort(); /* a rejection always says why */
		return 0;
	}
	/* tapio-replay's structural pass first: framing only, nothing inflated. */
	while (ocf_reader_skip_block(r, &count, err, sizeof(err)) > 0)
		;
	ocf_reader_free(r);
	if (ocf_reader_open(data, size, &r, err, sizeof(err)))
		abort(); /* it opened a moment ago */
	schema = ocf_reader_schema(r, &schema_len);
	if (avro_skip_compile(schema, schema_len, &s, err, sizeof(err)))
		goto out;
	table = archive_check_table_schema(s, &value_fields, err, sizeof(err)) == 0;
	raw = !table && archive_check_raw_schema(s, err, sizeof(err)) == 0;
	if (!(field_off = calloc(avro_skip_field_count(s) + 1, sizeof(*field_off))))
		goto out;
	while (ocf_reader_next_block(r, &count, &block, &len, err, sizeof(err)) > 0) {
		pos = 0;
		for (int64_t i = 0; i < count; i++) {
			if (avro_skip_datum(s, block + pos, len - pos, &used, field_off, err, sizeof(err)))
				break;
			if (used > len - pos)
				abort();
			off = table ? field_off[value_fields] : 0;
			if ((table || raw) &&
			    archive_kafka_decode(block + pos, used, &off, &k, &h, err, sizeof(err)) == 0 &&
			    raw)
				archive_raw_decode(block + pos, used, &off, &value, &value_len, &reason,
						   &reason_len, err, sizeof(err));
			pos += used;
		}
	}
out:
	free(field_off);
	free(h.v);
	avro_skip_free(s);
	ocf_reader_free(r);
	return 0;
}
