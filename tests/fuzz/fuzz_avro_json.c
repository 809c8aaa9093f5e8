/* libFuzzer target: tapio-tail's decoder on arbitrary Kafka values (both framings, any datum).
 * It must reject or decode, never read out of bounds; a decoded value must be valid JSON, and a
 * record's envelope (what --check reads) must be read or refused with a reason. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avro_json.h"
#include "schema.h"

static struct avro_json_decoder *decoder;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const topics[] = { "tapio.kernel", "tapio.metadata", "tapio.dns", "other" };
	char errstr[256];
	const char *schema_name;
	struct record_envelope env;
	json_t *json = NULL;

	/* Every embedded schema, the released baselines' too, as tapio-tail has them. */
	if (!decoder && avro_json_decoder_embedded(&decoder, errstr, sizeof(errstr)) < 0)
		abort();
	if (size < 1)
		return 0;
	/* The first byte picks the topic (the schema for Confluent framing); the rest is the value. */
	if (avro_json_decode(decoder, topics[data[0] % 4], data + 1, size - 1, &json, &schema_name,
			     errstr, sizeof(errstr)) == 0) {
		char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
		/* Avro strings may hold NUL, which JSON writes as \u0000. */
		json_t *back = text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;

		if (!back)
			abort();
		json_decref(back);
		free(text);
		json_decref(json);
	} else if (!errstr[0]) {
		abort(); /* a rejection always says why */
	}
	/* tapio-tail --check's path: the same checks, then the envelope read from the value. */
	errstr[0] = '\0';
	if (avro_json_envelope(decoder, topics[data[0] % 4], data + 1, size - 1, &env, errstr,
			       sizeof(errstr)) == 0) {
		if (!env.kind || !env.node || strlen(env.node) > env.node_len || !env.schema)
			abort();
	} else if (!errstr[0]) {
		abort();
	}
	return 0;
}
