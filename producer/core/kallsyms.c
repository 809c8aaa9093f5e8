/* Kernel symbols from /proc/kallsyms (kallsyms.h). */
#include "kallsyms.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t kallsyms_address(const char *symbol)
{
	char line[512], name[256], type;
	unsigned long long addr;
	uint64_t found = 0;
	FILE *f = fopen("/proc/kallsyms", "re");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && !strcmp(name, symbol))
			found = addr;
	fclose(f);
	return found;
}

bool kprobe_usable(const char *symbol, char *why, size_t why_size)
{
	if (access("/sys/bus/event_source/devices/kprobe/type", F_OK) != 0 &&
	    access("/sys/kernel/tracing/kprobe_events", F_OK) != 0 &&
	    access("/sys/kernel/debug/tracing/kprobe_events", F_OK) != 0) {
		if (why)
			snprintf(why, why_size, "the kernel has no kprobes (CONFIG_KPROBES)");
		return false;
	}
	if (!kallsyms_address(symbol)) {
		if (why)
			snprintf(why, why_size, "no kernel function %s in /proc/kallsyms", symbol);
		return false;
	}
	return true;
}
