# Private apt configurations, sourced by the kernel-matrix scripts and the arm64 sysroot.
#
# Each configuration lives under $TAPIO_CACHE/apt/<name>: its own sources.list, package lists,
# empty dpkg status and download cache, with the architectures it names. The machine's apt
# sources, package lists, dpkg architectures and installed packages are never touched, and the
# downloads survive `make clean` (TAPIO_CACHE defaults to .cache in the source tree).
#
#   apt_private NAME "ARCH..." SUITE...   writes the configuration (first ARCH is the native one)
#   apt_run NAME apt-get|apt-cache ARGS   runs apt with it
#   apt_update NAME                       refreshes its lists when older than APT_MAX_AGE_MIN
#
# SUITE is a Debian suite name; -security suites come from debian-security. Only Debian's
# archive (deb.debian.org) is used, with Debian's own keyring.

: "${TAPIO_CACHE:=.cache}"
mkdir -p "$TAPIO_CACHE"
TAPIO_CACHE=$(cd "$TAPIO_CACHE" && pwd)
: "${APT_MAX_AGE_MIN:=1440}"
APT_MIRROR=${APT_MIRROR:-http://deb.debian.org/debian}
APT_SECURITY_MIRROR=${APT_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
APT_KEYRING=${APT_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

apt_dir() {
	echo "$TAPIO_CACHE/apt/$1"
}

apt_private() {
	local name=$1 arches=$2 d s a
	shift 2
	mkdir -p "$TAPIO_CACHE/apt/$name"
	d=$(apt_dir "$name")
	mkdir -p "$d/etc/apt.conf.d" "$d/etc/sources.list.d" "$d/etc/preferences.d" \
		"$d/state/lists/partial" "$d/cache/archives/partial"
	[ -f "$d/state/status" ] || : >"$d/state/status"
	{
		for s in "$@"; do
			case $s in
			*-security) echo "deb [signed-by=$APT_KEYRING] $APT_SECURITY_MIRROR $s main" ;;
			*) echo "deb [signed-by=$APT_KEYRING] $APT_MIRROR $s main" ;;
			esac
		done
	} >"$d/etc/sources.list.new"
	# A changed source list means stale package lists.
	if ! cmp -s "$d/etc/sources.list.new" "$d/etc/sources.list"; then
		mv "$d/etc/sources.list.new" "$d/etc/sources.list"
		rm -f "$d/state/updated"
	else
		rm -f "$d/etc/sources.list.new"
	fi
	{
		echo "Dir::Etc \"$d/etc/\";"
		echo "Dir::Etc::sourcelist \"sources.list\";"
		echo "Dir::Etc::sourceparts \"sources.list.d\";"
		echo "Dir::Etc::parts \"apt.conf.d\";"
		echo "Dir::Etc::preferences \"preferences\";"
		echo "Dir::Etc::preferencesparts \"preferences.d\";"
		echo "Dir::State \"$d/state/\";"
		echo "Dir::State::status \"$d/state/status\";"
		echo "Dir::Cache \"$d/cache/\";"
		echo "Debug::NoLocking \"true\";"
		echo "APT::Sandbox::User \"$(id -un)\";"
		echo "Acquire::Languages \"none\";"
		echo "APT::Install-Recommends \"false\";"
		set -- $arches
		echo "APT::Architecture \"$1\";"
		echo "APT::Architectures { $(for a in $arches; do printf '"%s"; ' "$a"; done)};"
	} >"$d/apt.conf"
}

apt_run() {
	local name=$1
	shift
	APT_CONFIG="$(apt_dir "$name")/apt.conf" "$@"
}

apt_update() {
	local name=$1 d
	d=$(apt_dir "$name")
	if [ -f "$d/state/updated" ] && [ -z "$(find "$d/state/updated" -mmin +"$APT_MAX_AGE_MIN")" ]; then
		return 0
	fi
	echo "apt ($name): reading the Debian package lists" >&2
	apt_run "$name" apt-get -q -o APT::Status-Fd=-1 update >"$d/update.log" 2>&1 ||
		{ cat "$d/update.log" >&2; echo "apt ($name): apt-get update failed" >&2; return 1; }
	touch "$d/state/updated"
}
