#!/usr/bin/env bash
# Peak memory of the next redtrack engine worker of the bench's source server.
#
#   bench/peak_rss.sh OUTFILE &      start before the export, then `wait`
#
# Waits (up to 60 s) for a child of the source's postmaster whose title is
# "redtrack engine ...", then reads /proc/PID/status every 20 ms until the
# process exits.  VmHWM is the kernel's own high-water mark of the resident
# set (monotonic, so sampling only misses growth in the last 20 ms); RssAnon
# is the private memory, sampled (shared-buffer pages the process touched
# count in VmHWM but belong to the buffer pool).  Writes "VmHWM_kB RssAnon_kB"
# to OUTFILE, or "- -" when no engine appeared.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

out=$1
pm=$(postmaster_pid)
pid=
for ((i = 0; i < 6000; i++)); do
	pid=$(pgrep -P "$pm" -f '^postgres: redtrack engine' | head -1) && [[ -n $pid ]] && break
	sleep 0.01
done
if [[ -z $pid ]]; then
	echo "- -" >"$out"
	exit 0
fi

hwm=0 anon=0
while [[ -r /proc/$pid/status ]]; do
	while IFS=$': \t' read -r key value _; do
		case $key in
		VmHWM) ((value > hwm)) && hwm=$value ;;
		RssAnon) ((value > anon)) && anon=$value ;;
		esac
	done </proc/"$pid"/status 2>/dev/null
	sleep 0.02
done
echo "$hwm $anon" >"$out"
