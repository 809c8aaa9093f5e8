/* libFuzzer target: the schema compiler and datum walk (avro_skip.c) on a hostile schema and a
 * hostile datum: input = 2-byte little-endian schema length, schema JSON, datum. Either must be
 * rejected with a reason or walked within its bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "avro_skip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct avro_skip *s = NULL;
	size_t schema_len, used, *field_off;
	char err[256];
	char sig[64];

	if (size < 2)
		return 0;
	schema_len = (size_t)data[0] | (size_t)data[1] << 8;
	if (schema_len > size - 2)
		return 0;
	err[0] = '\0';
	if (avro_skip_compile((const char *)data + 2, schema_len, &s, err, sizeof(err))) {
		if (!err[0])
			abort();
		return 0;
	}
	for (size_t i = 0; i < avro_skip_field_count(s); i++)
		avro_skip_field_signature(s, i, sig, sizeof(sig));
	if ((field_off = calloc(avro_skip_field_count(s) + 1, sizeof(*field_off)))) {
		err[0] = '\0';
		if (avro_skip_datum(s, data + 2 + schema_len, size - 2 - schema_len, &used, field_off,
				    err, sizeof(err)) == 0) {
			if (used > size - 2 - schema_len)
				abort();
		} else if (!err[0]) {
			abort();
		}
		free(field_off);
	}
	avro_skip_free(s);
	return 0;
}
