/* rtnetlink link messages → struct cni_link (producer/collectors/cni/cni.c). Bytes from the kernel, but parsed
 * as if hostile: every length is checked against what is left. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "cni_collector.h"

#ifndef IFLA_NEW_IFINDEX
#define IFLA_NEW_IFINDEX 49
#endif

/* Copies an attribute's string payload, which may lack its NUL. */
static void attr_string(const struct rtattr *a, char *dst, size_t cap)
{
	size_t n = RTA_PAYLOAD(a);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, RTA_DATA(a), n);
	dst[n] = '\0';
	dst[strnlen(dst, n)] = '\0';
}

static int attr_s32(const struct rtattr *a, int32_t *v)
{
	if (RTA_PAYLOAD(a) < sizeof(*v))
		return -EINVAL;
	memcpy(v, RTA_DATA(a), sizeof(*v));
	return 0;
}

static void link_info(const struct rtattr *info, struct cni_link *out)
{
	int len = (int)RTA_PAYLOAD(info);
	const struct rtattr *a;

	for (a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if ((a->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
			attr_string(a, out->link_kind, sizeof(out->link_kind));
}

static void hw_address(const struct rtattr *a, char *dst, size_t cap)
{
	const unsigned char *p = RTA_DATA(a);
	size_t n = RTA_PAYLOAD(a), used = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < n && used + 3 < cap; i++)
		used += (size_t)snprintf(dst + used, cap - used, i ? ":%02x" : "%02x", p[i]);
}

int cni_parse_link(const void *msg, size_t len, struct cni_link *out)
{
	const struct nlmsghdr *nh = msg;
	const struct ifinfomsg *ifi;
	const struct rtattr *a;
	int32_t v;
	int alen;

	memset(out, 0, sizeof(*out));
	out->peer_nsid = out->moved_to_nsid = CNI_NSID_NONE;
	if (len < sizeof(*nh) || nh->nlmsg_len < sizeof(*nh) || nh->nlmsg_len > len)
		return -EINVAL;
	if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK)
		return 0;
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EINVAL;
	ifi = NLMSG_DATA(nh);
	out->ifindex = ifi->ifi_index;
	out->up = ifi->ifi_flags & IFF_UP;
	alen = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		switch (a->rta_type & NLA_TYPE_MASK) {
		case IFLA_IFNAME:
			attr_string(a, out->ifname, sizeof(out->ifname));
			break;
		case IFLA_ADDRESS:
			hw_address(a, out->address, sizeof(out->address));
			break;
		case IFLA_LINK:
			if (attr_s32(a, &v) == 0 && v != ifi->ifi_index)
				out->peer_ifindex = v;
			break;
		case IFLA_LINK_NETNSID:
			if (attr_s32(a, &v) == 0 && v >= 0)
				out->peer_nsid = v;
			break;
		case IFLA_NEW_NETNSID:
			if (attr_s32(a, &v) == 0 && v >= 0)
				out->moved_to_nsid = v;
			break;
		case IFLA_NEW_IFINDEX:
			if (attr_s32(a, &v) == 0)
				out->new_ifindex = v;
			break;
		case IFLA_LINKINFO:
			link_info(a, out);
			break;
		}
	}
	if (nh->nlmsg_type == RTM_DELLINK)
		out->kind = CNI_LINK_REMOVED;
	else if (ifi->ifi_change == ~0u) /* registered here: created or moved in */
		out->kind = CNI_LINK_ADDED;
	else if (ifi->ifi_change & IFF_UP)
		out->kind = out->up ? CNI_LINK_UP : CNI_LINK_DOWN;
	/* Anything else (carrier, MTU, name, ...) is not a record: out->kind stays CNI_UNKNOWN. */
	return 0;
}
