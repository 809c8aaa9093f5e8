/* Collector `cni`: the ring-buffer record check and the Avro encoders of schemas/cni.avsc. */
#include <string.h>

#include "cni_collector.h"

enum decode_result cni_check(const void *data, size_t size, const struct cni_netns_event **ev,
			     int *kind)
{
	const struct cni_netns_event *e = data;
	const struct tapio_hdr *hdr;
	enum decode_result r = decode_header(data, size, &hdr);

	if (r != DECODE_OK)
		return r;
	switch (hdr->type) {
	case TAPIO_REC_CNI_LINK_NOTIFY:
		if (hdr->version != CNI_NETNS_VERSION)
			return DECODE_BAD_VERSION;
		if (size != sizeof(struct cni_link_notify))
			return DECODE_BAD_LENGTH;
		*kind = CNI_KIND_NOTIFY;
		*ev = NULL;
		return DECODE_OK;
	case TAPIO_REC_CNI_NETNS_CREATE:
		*kind = CNI_NETNS_CREATED;
		break;
	case TAPIO_REC_CNI_NETNS_ENTER:
		*kind = CNI_NETNS_ENTERED;
		break;
	case TAPIO_REC_CNI_NETNS_DESTROY:
		*kind = CNI_NETNS_DESTROYED;
		break;
	default:
		return DECODE_UNKNOWN_TYPE;
	}
	if (hdr->version != CNI_NETNS_VERSION)
		return DECODE_BAD_VERSION;
	if (size != sizeof(*e))
		return DECODE_BAD_LENGTH;
	if (e->via < CNI_VIA_UNSHARE || e->via >= CNI_VIA_MAX || !e->netns_inum)
		return DECODE_BAD_FIELD;
	*ev = e;
	return DECODE_OK;
}

static void put_optional_long(struct avro_buf *out, int64_t v, bool set)
{
	avro_put_union(out, set);
	if (set)
		avro_put_long(out, v);
}

void cni_encode_netns(struct avro_buf *out, const struct cni_netns_event *ev)
{
	put_optional_long(out, (int64_t)ev->netns_inum, true);
	put_optional_long(out, (int64_t)ev->prev_netns_inum, ev->prev_netns_inum != 0);
	avro_put_long(out, ev->via);
	avro_put_long(out, ev->pid);
	avro_put_long(out, ev->ppid);
	avro_put_string(out, ev->comm, sizeof(ev->comm));
	avro_put_union(out, 0); /* link: null */
}

void cni_encode_link(struct avro_buf *out, const struct cni_link *l)
{
	put_optional_long(out, (int64_t)l->netns_inum, l->netns_inum != 0);
	avro_put_union(out, 0); /* prev_netns_inode: null */
	avro_put_long(out, CNI_VIA_RTNETLINK);
	avro_put_long(out, 0); /* pid */
	avro_put_long(out, 0); /* ppid */
	avro_put_string(out, "", 1);
	avro_put_union(out, 1);
	avro_put_long(out, l->ifindex);
	avro_put_string(out, l->ifname, sizeof(l->ifname));
	avro_put_optional_string(out, l->link_kind, sizeof(l->link_kind));
	avro_put_bool(out, l->up);
	avro_put_optional_string(out, l->address, sizeof(l->address));
	put_optional_long(out, l->peer_ifindex, l->peer_ifindex != 0);
	put_optional_long(out, (int64_t)l->peer_netns_inum, l->peer_netns_inum != 0);
	put_optional_long(out, (int64_t)l->moved_to_netns_inum, l->moved_to_netns_inum != 0);
	put_optional_long(out, l->new_ifindex, l->new_ifindex != 0);
}
