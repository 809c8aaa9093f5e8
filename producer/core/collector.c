#include "collector.h"

#include <string.h>

extern const struct collector_ops metadata_collector;
extern const struct collector_ops kernel_collector;
extern const struct collector_ops dns_collector;
extern const struct collector_ops cni_collector;
extern const struct collector_ops cri_collector;
extern const struct collector_ops systemd_collector;
extern const struct collector_ops kubeapi_collector;
extern const struct collector_ops etcd_collector;
extern const struct collector_ops kubelet_collector;

/* metadata first: it always runs, and the identity cache it keeps must be filled (start) and
 * its records read (ring order) before the others'. */
const struct collector_ops *const collector_table[] = {
	&metadata_collector,
	&kernel_collector,
	&dns_collector,
	&cni_collector,
	&cri_collector,
	&systemd_collector,
	&kubeapi_collector,
	&etcd_collector, /* not_default: runs only when `collectors` names it */
	&kubelet_collector,
};
const size_t collector_count = sizeof(collector_table) / sizeof(collector_table[0]);

const struct collector_ops *collector_find(const char *name)
{
	for (size_t i = 0; i < collector_count; i++)
		if (strcmp(collector_table[i]->name, name) == 0)
			return collector_table[i];
	return NULL;
}

static const char *const decode_result_names[DECODE_RESULT_MAX] = {
	[DECODE_OK] = "ok",
	[DECODE_SHORT] = "short",
	[DECODE_SIZE_MISMATCH] = "size_mismatch",
	[DECODE_UNKNOWN_TYPE] = "unknown_type",
	[DECODE_BAD_VERSION] = "bad_version",
	[DECODE_BAD_LENGTH] = "bad_length",
	[DECODE_BAD_FIELD] = "bad_field",
};

const char *decode_result_name(enum decode_result r)
{
	return (unsigned)r < DECODE_RESULT_MAX ? decode_result_names[r] : "invalid";
}

enum decode_result decode_header(const void *data, size_t size, const struct tapio_hdr **hdr)
{
	const struct tapio_hdr *h = data;

	if (size < sizeof(*h))
		return DECODE_SHORT;
	if (h->size != size)
		return DECODE_SIZE_MISMATCH;
	*hdr = h;
	return DECODE_OK;
}
