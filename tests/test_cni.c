/* Collector `cni`: record checks, the rtnetlink parser, and Avro encoding against golden bytes
 * written by an independent implementation (tests/golden/cni.py, python3-avro) and against
 * avro-c. */
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <avro.h>

#include "cni_collector.h"
#include "pipeline.h"
#include "schema.h"

/* tests/golden/cni.py */
static const uint8_t golden_created[] = {
	0x02, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64,
	0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38,
	0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33,
	0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x00, 0x00, 0x02, 0xa2, 0x85, 0x80,
	0x80, 0x1e, 0x02, 0xf2, 0xff, 0xff, 0xff, 0x1d, 0x02, 0xa4, 0x42, 0x02,
	0x04, 0x69, 0x70, 0x00,
};
static const uint8_t golden_destroyed[] = {
	0x06, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64,
	0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38,
	0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33,
	0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x00, 0x00, 0x02, 0xa2, 0x85, 0x80,
	0x80, 0x1e, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t golden_moved[] = {
	0x0a, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x00, 0x00, 0x00, 0x02, 0xf2, 0xff, 0xff, 0xff,
	0x1d, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x02, 0x52, 0x10, 0x76, 0x65, 0x74,
	0x68, 0x31, 0x61, 0x32, 0x62, 0x02, 0x08, 0x76, 0x65, 0x74, 0x68, 0x00,
	0x02, 0x22, 0x30, 0x61, 0x3a, 0x31, 0x33, 0x3a, 0x39, 0x37, 0x3a, 0x65,
	0x37, 0x3a, 0x38, 0x30, 0x3a, 0x31, 0x66, 0x02, 0x54, 0x00, 0x02, 0xa2,
	0x85, 0x80, 0x80, 0x1e, 0x02, 0x04,
};
static const uint8_t golden_up[] = {
	0x0c, 0x80, 0x89, 0xa1, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0e, 0x80, 0x80,
	0x92, 0x96, 0xa8, 0x96, 0xa2, 0x06, 0x0c, 0x6e, 0x6f, 0x64, 0x65, 0x2d,
	0x61, 0xf2, 0xc0, 0x01, 0x02, 0x48, 0x30, 0x66, 0x31, 0x65, 0x32, 0x64,
	0x33, 0x63, 0x2d, 0x34, 0x62, 0x35, 0x61, 0x2d, 0x36, 0x39, 0x37, 0x38,
	0x2d, 0x38, 0x37, 0x39, 0x36, 0x2d, 0x61, 0x35, 0x62, 0x34, 0x63, 0x33,
	0x64, 0x32, 0x65, 0x31, 0x66, 0x30, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00,
	0x00, 0x00, 0x02, 0x04, 0x08, 0x65, 0x74, 0x68, 0x30, 0x00, 0x01, 0x00,
	0x00, 0x02, 0xf2, 0xff, 0xff, 0xff, 0x1d, 0x00, 0x00,
};

static const struct envelope golden_env = {
	.event_time_us = 1764000000123456,
	.seq = 7,
	.run = 1764000000000000,
	.node = "node-a",
	.cgroup_id = 12345,
	.pod_uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	.container_id = NULL,
};

static void make_created(struct cni_netns_event *e)
{
	memset(e, 0, sizeof(*e));
	e->hdr = (struct tapio_hdr){ TAPIO_REC_CNI_NETNS_CREATE, CNI_NETNS_VERSION, sizeof(*e), 1,
				     12345 };
	e->netns_inum = 4026532177;
	e->prev_netns_inum = 4026531833;
	e->pid = 4242;
	e->ppid = 1;
	e->via = CNI_VIA_UNSHARE;
	strcpy(e->comm, "ip");
}

static size_t encode_netns(const struct cni_netns_event *e, const struct envelope *env,
			   uint8_t *out, size_t cap)
{
	const struct cni_netns_event *ev;
	struct avro_buf buf;
	int kind;

	assert_int_equal(cni_check(e, sizeof(*e), &ev, &kind), DECODE_OK);
	assert_ptr_equal(ev, e);
	avro_buf_init(&buf, out, cap);
	avro_put_envelope(&buf, kind, env);
	cni_encode_netns(&buf, ev);
	assert_false(buf.overflow);
	return buf.len;
}

static size_t encode_link(const struct cni_link *l, const struct envelope *env, uint8_t *out,
			  size_t cap)
{
	struct avro_buf buf;

	avro_buf_init(&buf, out, cap);
	avro_put_envelope(&buf, l->kind, env);
	cni_encode_link(&buf, l);
	assert_false(buf.overflow);
	return buf.len;
}

static void test_netns_matches_golden(void **state)
{
	struct envelope env = golden_env;
	struct cni_netns_event e;
	uint8_t out[1024];
	size_t n;

	(void)state;
	make_created(&e);
	n = encode_netns(&e, &env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_created));
	assert_memory_equal(out, golden_created, n);

	e.hdr.type = TAPIO_REC_CNI_NETNS_DESTROY;
	e.via = CNI_VIA_CLEANUP;
	e.prev_netns_inum = 0; /* null */
	e.pid = e.ppid = 0;
	memset(e.comm, 0, sizeof(e.comm));
	n = encode_netns(&e, &env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_destroyed));
	assert_memory_equal(out, golden_destroyed, n);
}

static void test_link_matches_golden(void **state)
{
	struct envelope env = golden_env;
	struct cni_link l = { .kind = CNI_LINK_REMOVED, .ifindex = 41, .ifname = "veth1a2b",
			      .link_kind = "veth", .address = "0a:13:97:e7:80:1f", .peer_ifindex = 42,
			      .peer_nsid = CNI_NSID_NONE, .moved_to_nsid = 3, .new_ifindex = 2,
			      .netns_inum = 4026531833, .moved_to_netns_inum = 4026532177 };
	uint8_t out[1024];
	size_t n;

	(void)state;
	env.pod_uid = NULL;
	n = encode_link(&l, &env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_moved));
	assert_memory_equal(out, golden_moved, n);

	env.pod_uid = golden_env.pod_uid;
	l = (struct cni_link){ .kind = CNI_LINK_UP, .ifindex = 2, .ifname = "eth0", .up = true,
			       .peer_nsid = 0, .moved_to_nsid = CNI_NSID_NONE,
			       .peer_netns_inum = 4026531833 };
	n = encode_link(&l, &env, out, sizeof(out));
	assert_int_equal(n, sizeof(golden_up));
	assert_memory_equal(out, golden_up, n);
}

/* avro-c reads back what we wrote, field by field. */
static void test_link_decodes_with_avro_c(void **state)
{
	const struct tapio_schema *s = schema_find("cni");
	struct cni_link l = { .kind = CNI_LINK_ADDED, .ifindex = 7, .ifname = "eth\xff",
			      .link_kind = "veth", .peer_ifindex = 9, .netns_inum = 4026532999 };
	avro_value_t value, field, branch, item;
	avro_value_iface_t *iface;
	avro_schema_t schema;
	avro_reader_t reader;
	uint8_t out[1024];
	const char *str;
	size_t n, len;
	int64_t lv;
	int32_t i;

	(void)state;
	n = encode_link(&l, &golden_env, out, sizeof(out));
	assert_non_null(s);
	assert_int_equal(avro_schema_from_json_length(s->json, s->json_len, &schema), 0);
	iface = avro_generic_class_from_schema(schema);
	assert_int_equal(avro_generic_value_new(iface, &value), 0);
	reader = avro_reader_memory((const char *)out, n);
	assert_int_equal(avro_value_read(reader, &value), 0);

	assert_int_equal(avro_value_get_by_name(&value, "kind", &field, NULL), 0);
	assert_int_equal(avro_value_get_enum(&field, &i), 0);
	assert_int_equal(i, CNI_LINK_ADDED);
	assert_int_equal(avro_value_get_by_name(&value, "netns_inode", &field, NULL), 0);
	assert_int_equal(avro_value_get_current_branch(&field, &branch), 0);
	assert_int_equal(avro_value_get_long(&branch, &lv), 0);
	assert_int_equal(lv, 4026532999);
	assert_int_equal(avro_value_get_by_name(&value, "via", &field, NULL), 0);
	assert_int_equal(avro_value_get_enum(&field, &i), 0);
	assert_int_equal(i, 5); /* RTNETLINK */
	assert_int_equal(avro_value_get_by_name(&value, "link", &field, NULL), 0);
	assert_int_equal(avro_value_get_current_branch(&field, &branch), 0);
	assert_int_equal(avro_value_get_by_name(&branch, "ifname", &item, NULL), 0);
	assert_int_equal(avro_value_get_string(&item, &str, &len), 0);
	assert_string_equal(str, "eth\xef\xbf\xbd"); /* not UTF-8: replaced */
	assert_int_equal(avro_value_get_by_name(&branch, "peer_ifindex", &item, NULL), 0);
	assert_int_equal(avro_value_get_current_branch(&item, &field), 0);
	assert_int_equal(avro_value_get_int(&field, &i), 0);
	assert_int_equal(i, 9);

	avro_reader_free(reader);
	avro_value_decref(&value);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
}

static void test_rejections(void **state)
{
	const struct cni_netns_event *ev;
	struct cni_link_notify stamp;
	struct cni_netns_event e;
	uint8_t big[sizeof(e) + 16];
	int kind;

	(void)state;
	make_created(&e);
	assert_int_equal(cni_check(&e, sizeof(e.hdr) - 1, &ev, &kind), DECODE_SHORT);
	assert_int_equal(cni_check(&e, sizeof(e) - 1, &ev, &kind), DECODE_SIZE_MISMATCH);
	/* Oversized: header and buffer agree, but longer than the type. */
	memset(big, 0, sizeof(big));
	memcpy(big, &e, sizeof(e));
	((struct tapio_hdr *)big)->size = sizeof(big);
	assert_int_equal(cni_check(big, sizeof(big), &ev, &kind), DECODE_BAD_LENGTH);
	e.hdr.type = TAPIO_REC_CRI_EVENT;
	assert_int_equal(cni_check(&e, sizeof(e), &ev, &kind), DECODE_UNKNOWN_TYPE);
	e.hdr.type = TAPIO_REC_CNI_NETNS_ENTER;
	assert_int_equal(cni_check(&e, sizeof(e), &ev, &kind), DECODE_OK);
	assert_int_equal(kind, CNI_NETNS_ENTERED);
	e.hdr.version = CNI_NETNS_VERSION + 1;
	assert_int_equal(cni_check(&e, sizeof(e), &ev, &kind), DECODE_BAD_VERSION);
	make_created(&e);
	e.via = CNI_VIA_MAX;
	assert_int_equal(cni_check(&e, sizeof(e), &ev, &kind), DECODE_BAD_FIELD);
	e.via = 0;
	assert_int_equal(cni_check(&e, sizeof(e), &ev, &kind), DECODE_BAD_FIELD);
	make_created(&e);
	e.netns_inum = 0;
	assert_int_equal(cni_check(&e, sizeof(e), &ev, &kind), DECODE_BAD_FIELD);

	/* The stamp of an rtnetlink notification: its own size and version. */
	memset(&stamp, 0, sizeof(stamp));
	stamp.hdr = (struct tapio_hdr){ TAPIO_REC_CNI_LINK_NOTIFY, CNI_NETNS_VERSION, sizeof(stamp),
					1, 0 };
	assert_int_equal(cni_check(&stamp, sizeof(stamp), &ev, &kind), DECODE_OK);
	assert_int_equal(kind, CNI_KIND_NOTIFY);
	assert_null(ev);
	stamp.hdr.version = 9;
	assert_int_equal(cni_check(&stamp, sizeof(stamp), &ev, &kind), DECODE_BAD_VERSION);
	stamp.hdr.version = CNI_NETNS_VERSION;
	stamp.hdr.size = sizeof(e);
	memset(big, 0, sizeof(big));
	memcpy(big, &stamp, sizeof(stamp));
	assert_int_equal(cni_check(big, sizeof(e), &ev, &kind), DECODE_BAD_LENGTH);
}

/* An rtnetlink message built by hand: header, ifinfomsg, attributes. */
struct msg {
	uint8_t buf[512];
	size_t len;
};

static struct ifinfomsg *msg_start(struct msg *m, uint16_t type, int ifindex, unsigned flags,
				   unsigned change)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)m->buf;
	struct ifinfomsg *ifi = NLMSG_DATA(nh);

	memset(m, 0, sizeof(*m));
	nh->nlmsg_type = type;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = flags;
	ifi->ifi_change = change;
	m->len = NLMSG_LENGTH(sizeof(*ifi));
	nh->nlmsg_len = m->len;
	return ifi;
}

static struct rtattr *msg_attr(struct msg *m, uint16_t type, const void *data, size_t len)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)m->buf;
	struct rtattr *a = (struct rtattr *)(m->buf + NLMSG_ALIGN(m->len));

	assert_true(NLMSG_ALIGN(m->len) + RTA_SPACE(len) <= sizeof(m->buf));
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	m->len = NLMSG_ALIGN(m->len) + RTA_ALIGN(a->rta_len);
	nh->nlmsg_len = m->len;
	return a;
}

static void msg_s32(struct msg *m, uint16_t type, int32_t v)
{
	msg_attr(m, type, &v, sizeof(v));
}

static void test_parse_link_kinds(void **state)
{
	static const uint8_t mac[] = { 0x0a, 0x13, 0x97, 0xe7, 0x80, 0x1f };
	struct cni_link l;
	struct rtattr *info;
	struct msg m;
	size_t at;

	(void)state;
	/* A veth end registered here (change ~0), with its kind nested in IFLA_LINKINFO. */
	msg_start(&m, RTM_NEWLINK, 42, 0, ~0u);
	msg_attr(&m, IFLA_IFNAME, "veth1a2b", 9);
	msg_attr(&m, IFLA_ADDRESS, mac, sizeof(mac));
	msg_s32(&m, IFLA_LINK, 41);
	msg_s32(&m, IFLA_LINK_NETNSID, 3);
	at = NLMSG_ALIGN(m.len);
	info = msg_attr(&m, IFLA_LINKINFO | NLA_F_NESTED, NULL, 0);
	msg_attr(&m, IFLA_INFO_KIND, "veth", 5);
	info = (struct rtattr *)(m.buf + at);
	info->rta_len = (unsigned short)(m.len - at);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(l.kind, CNI_LINK_ADDED);
	assert_int_equal(l.ifindex, 42);
	assert_string_equal(l.ifname, "veth1a2b");
	assert_string_equal(l.link_kind, "veth");
	assert_string_equal(l.address, "0a:13:97:e7:80:1f");
	assert_int_equal(l.peer_ifindex, 41);
	assert_int_equal(l.peer_nsid, 3);
	assert_int_equal(l.moved_to_nsid, CNI_NSID_NONE);
	assert_false(l.up);

	/* Set up, then down; a carrier change alone is no record. */
	msg_start(&m, RTM_NEWLINK, 42, IFF_UP, IFF_UP);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(l.kind, CNI_LINK_UP);
	assert_true(l.up);
	msg_start(&m, RTM_NEWLINK, 42, 0, IFF_UP | IFF_RUNNING);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(l.kind, CNI_LINK_DOWN);
	msg_start(&m, RTM_NEWLINK, 42, IFF_UP, IFF_RUNNING);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(l.kind, CNI_UNKNOWN);

	/* Moved out: where to, and its index there. A link that names itself has no peer. */
	msg_start(&m, RTM_DELLINK, 42, 0, ~0u);
	msg_s32(&m, IFLA_NEW_NETNSID, 5);
	msg_s32(&m, 49 /* IFLA_NEW_IFINDEX */, 2);
	msg_s32(&m, IFLA_LINK, 42);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(l.kind, CNI_LINK_REMOVED);
	assert_int_equal(l.moved_to_nsid, 5);
	assert_int_equal(l.new_ifindex, 2);
	assert_int_equal(l.peer_ifindex, 0);

	/* Not a link message. */
	msg_start(&m, RTM_NEWADDR, 42, 0, 0);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(l.kind, CNI_UNKNOWN);
}

static void test_parse_link_hostile(void **state)
{
	struct nlmsghdr *nh;
	struct rtattr *a;
	struct cni_link l;
	struct msg m;
	char longname[40];

	(void)state;
	msg_start(&m, RTM_NEWLINK, 1, 0, ~0u);
	/* Shorter than its header, or claiming more than the buffer holds. */
	assert_int_equal(cni_parse_link(m.buf, sizeof(struct nlmsghdr) - 1, &l), -EINVAL);
	assert_int_equal(cni_parse_link(m.buf, m.len - 1, &l), -EINVAL);
	/* No room for the ifinfomsg. */
	nh = (struct nlmsghdr *)m.buf;
	nh->nlmsg_len = NLMSG_LENGTH(4);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), -EINVAL);

	/* A name longer than IF_NAMESIZE and without its NUL is cut, never overrun. */
	msg_start(&m, RTM_NEWLINK, 1, 0, ~0u);
	memset(longname, 'x', sizeof(longname));
	msg_attr(&m, IFLA_IFNAME, longname, sizeof(longname));
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(strlen(l.ifname), IF_NAMESIZE - 1);

	/* An attribute whose length runs past the message stops the walk. */
	msg_start(&m, RTM_NEWLINK, 1, 0, ~0u);
	a = msg_attr(&m, IFLA_IFNAME, "eth0", 5);
	a->rta_len = 200;
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_string_equal(l.ifname, "");
	/* A too-short integer attribute is ignored. */
	msg_start(&m, RTM_NEWLINK, 1, 0, ~0u);
	msg_attr(&m, IFLA_LINK, "ab", 2);
	assert_int_equal(cni_parse_link(m.buf, m.len, &l), 0);
	assert_int_equal(l.peer_ifindex, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netns_matches_golden),
		cmocka_unit_test(test_link_matches_golden),
		cmocka_unit_test(test_link_decodes_with_avro_c),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_parse_link_kinds),
		cmocka_unit_test(test_parse_link_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
