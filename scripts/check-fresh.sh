#!/usr/bin/env bash
# make check-fresh: the README's promise, checked on a minimal Debian 12.
#
#   scripts/check-fresh.sh [root|sudo]...     (default: root sudo)
#
# For each case, a new Debian 12 chroot (debootstrap --variant=minbase, then
# only git, make, ca-certificates and sudo) gets a `git clone` of this
# repository's HEAD (committed work only) and runs, as a new user would:
#   root  as root, from /root/redtrack (a 700 home)
#   sudo  as a user with passwordless sudo, from ~/redtrack
# first `make deps` with the network (apt, npm), then `make demo` and
# `make test` in a private network namespace with loopback only (so the
# servers clash with nothing on this machine).  No locale is set, as on a
# new Debian (debootstrap writes none).  Every step runs in its own
# PID namespace: nothing it started outlives it.
#
# Slow (minutes of apt and a whole test suite per case); not part of make
# test.  Needs root, debootstrap (installed when missing), unshare and ip,
# and the Debian mirror: REDTRACK_DEBIAN_MIRROR, else the one this machine's
# apt uses.  Other settings:
#   REDTRACK_FRESH_DIR   work directory (default /var/tmp/redtrack-fresh);
#                        the debootstrap result is kept there as base.tar
#   REDTRACK_FRESH_KEEP  1: keep each case's chroot (default: removed if it passed)
# Exit status 0 only when every case passed; the last lines sum them up.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=$(realpath -m "${REDTRACK_FRESH_DIR:-/var/tmp/redtrack-fresh}")
SUITE=bookworm
CASES=("$@")
((${#CASES[@]})) || CASES=(root sudo)

die() { echo "check-fresh: $*" >&2; exit 1; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot, namespaces): sudo make check-fresh"
for c in "${CASES[@]}"; do
	[[ $c == root || $c == sudo ]] || die "unknown case '$c' (known: root sudo)"
done
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
command -v ip >/dev/null || die "ip (iproute2) is missing"
git -C "$REPO" rev-parse --verify -q HEAD >/dev/null || die "$REPO is not a git checkout with a commit"
if [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no) ]]; then
	echo "check-fresh: note: uncommitted changes in $REPO are not part of the check (it clones HEAD)"
fi

# The mirror: given, or the first Debian one in this machine's apt sources
# (one-line and deb822 formats), never one written into the repository.
host_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk -v suite="$SUITE" '
			/^[[:space:]]*#/ { next }
			$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++
				if ($(i + 1) == suite) { print $i; exit } }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (j = 2; j <= NF; j++) if ($j == suite && uri != "") { print uri; exit } }
			/^[[:space:]]*$/ { uri = "" }' "$f"
	done | head -1
}
MIRROR=${REDTRACK_DEBIAN_MIRROR:-$(host_mirror)}
[[ -n $MIRROR ]] || die "no Debian mirror for $SUITE in /etc/apt/sources.list*: set REDTRACK_DEBIAN_MIRROR"
MIRROR=${MIRROR%/}

if ! command -v debootstrap >/dev/null; then
	echo "check-fresh: installing debootstrap"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

mkdir -p "$WORK"
BASE=$WORK/base.tar
if [[ ! -s $BASE ]]; then
	say "debootstrap $SUITE from $MIRROR (minbase + git make ca-certificates sudo)"
	rm -rf "$WORK/base"
	began=$SECONDS
	debootstrap --variant=minbase --include=git,make,ca-certificates,sudo "$SUITE" "$WORK/base" "$MIRROR" \
		>"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; die "debootstrap failed; see $WORK/debootstrap.log"; }
	tar -C "$WORK/base" -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
	rm -rf "$WORK/base"
	echo "debootstrap: $((SECONDS - began)) s"
fi

# The repository's HEAD, as a bare repository a clone can be made from.
BUNDLE=$WORK/redtrack.bundle
git -C "$REPO" bundle create "$BUNDLE" HEAD 2>/dev/null
HEAD_DESC=$(git -C "$REPO" log -1 --format='%h %s' HEAD)

# in_chroot ROOTFS NET LOG COMMAND: runs COMMAND (a bash script) as root in
# the chroot, in new mount and PID namespaces, with /proc, /dev, /dev/pts
# and /dev/shm; NET=none adds a network namespace with only loopback up.
in_chroot() {
	local rootfs=$1 net=$2 log=$3 cmd=$4 flags=(--mount --pid --fork --propagation private)
	[[ $net == none ]] && flags+=(--net)
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare "${flags[@]}" bash -c '
		set -e
		rootfs=$1 net=$2 cmd=$3
		if [[ $net == none ]]; then ip link set lo up; fi
		mount -t proc proc "$rootfs/proc"
		mount --rbind /dev "$rootfs/dev"
		mount -t tmpfs -o mode=1777 shm "$rootfs/dev/shm"
		mount -t sysfs sys "$rootfs/sys" 2>/dev/null || true
		# The bash here is the namespace'"'"'s PID 1 and inherits every orphan (the
		# servers make demo leaves behind): it must reap them, so it may not
		# exec the command (as bash -c does with a lone command), e.g. runuser,
		# which would leave them zombies.
		exec chroot "$rootfs" /usr/bin/env -i HOME=/root TERM=dumb \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "$cmd"$'"'"'\nexit $?'"'"'
	' in_chroot "$rootfs" "$net" "$cmd" >>"$log" 2>&1
}

# step CASE NAME NET COMMAND: one timed step, logged; records its outcome.
results=()
step() {
	local case=$1 name=$2 net=$3 cmd=$4 log=$WORK/$1.log began=$SECONDS rc=0
	printf '\n===== %s: %s\n' "$case" "$name" >>"$log"
	in_chroot "$ROOTFS" "$net" "$log" "$cmd" || rc=$?
	STEP_RC=$rc
	STEP_TIME=$((SECONDS - began))
	printf '%-5s %-28s exit %-3s %4d s\n' "$case" "$name" "$rc" "$STEP_TIME"
}

failed_cases=()
for case in "${CASES[@]}"; do
	say "case $case: $HEAD_DESC"
	ROOTFS=$WORK/$case
	log=$WORK/$case.log
	: >"$log"
	rm -rf "$ROOTFS"
	mkdir -p "$ROOTFS"
	tar -C "$ROOTFS" -xf "$BASE"
	cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
	# The hostname resolves, as on an installed machine (sudo warns otherwise).
	grep -qw "$(hostname)" "$ROOTFS/etc/hosts" 2>/dev/null || echo "127.0.1.1 $(hostname)" >>"$ROOTFS/etc/hosts"
	cat >"$ROOTFS/etc/apt/sources.list" <<-EOF
		deb $MIRROR $SUITE main
		deb $MIRROR $SUITE-updates main
	EOF
	# Certificate authorities added on this machine (a TLS-intercepting proxy's,
	# say) are needed in the chroot too, for npm; Debian's own come with it.
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
		in_chroot "$ROOTFS" host "$log" 'update-ca-certificates' || die "update-ca-certificates failed in $ROOTFS; see $log"
	fi
	cp "$BUNDLE" "$ROOTFS/var/tmp/redtrack.bundle"
	chmod 644 "$ROOTFS/var/tmp/redtrack.bundle"
	if [[ $case == root ]]; then
		as='bash -c'
		dir=/root/redtrack
	else
		in_chroot "$ROOTFS" host "$log" '
			useradd --create-home --shell /bin/bash dev
			echo "dev ALL=(ALL:ALL) NOPASSWD: ALL" >/etc/sudoers.d/dev
			chmod 440 /etc/sudoers.d/dev' || die "could not make the sudo user in $ROOTFS; see $log"
		as='runuser -l dev -c'
		dir=/home/dev/redtrack
	fi
	ok=1
	step "$case" "git clone" host "$as 'git -c advice.detachedHead=false clone -q /var/tmp/redtrack.bundle $dir'"
	((STEP_RC == 0)) || ok=
	if [[ -n $ok ]]; then
		step "$case" "make deps (network)" host "$as 'cd $dir && make deps'"
		((STEP_RC == 0)) || ok=
	fi
	if [[ -n $ok ]]; then
		# demo, then test, as a user would type them: in one namespace, so
		# that the test meets the stack the demo left running.
		cat >"$ROOTFS/var/tmp/demo-test.sh" <<-EOF
			cd $dir || exit 1
			began=\$SECONDS; make demo; echo "##demo exit \$? \$((SECONDS - began)) s"
			began=\$SECONDS; make test; echo "##test exit \$? \$((SECONDS - began)) s"
		EOF
		chmod 644 "$ROOTFS/var/tmp/demo-test.sh"
		step "$case" "make demo; make test (no network)" none "$as 'bash /var/tmp/demo-test.sh'"
		out=$(sed -n '/^===== '"$case"': make demo/,$p' "$log")
		identical=$(grep -c ': identical$' <<<"$out" || true)
		differs=$(grep -c ': DIFFERS$' <<<"$out" || true)
		demo=$(grep '^##demo exit' <<<"$out" || echo "##demo exit ? (did not finish)")
		test=$(grep '^##test exit' <<<"$out" || echo "##test exit ? (did not finish)")
		summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1 || true)
		echo "      make demo: ${demo#\#\#demo }; $identical tables identical, $differs differ"
		echo "      make test: ${test#\#\#test }; ${summary:-no summary line}"
		[[ $demo == "##demo exit 0 "* && $identical == 4 && $differs == 0 ]] || ok=
		[[ $test == "##test exit 0 "* && $summary =~ ^[0-9]+\ passed,\ 0\ failed$ ]] || ok=
	fi
	if [[ -n $ok ]]; then
		results+=("$case: passed (log $log)")
		[[ ${REDTRACK_FRESH_KEEP:-} == 1 ]] || rm -rf "$ROOTFS"
	else
		results+=("$case: FAILED (log $log; chroot kept in $ROOTFS)")
		failed_cases+=("$case")
	fi
done

say "summary ($HEAD_DESC; Debian mirror $MIRROR)"
printf '%s\n' "${results[@]}"
((${#failed_cases[@]} == 0))
