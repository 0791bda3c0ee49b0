#!/usr/bin/env bash
# Run every test suite of redtrack: `make test` (and `make soak`).
#
# From nothing to green on a fresh Debian 12 machine: installs what is
# missing, builds and installs the extension, starts the local stack
# (S3 and Redshift stand-ins), runs the pg_regress suite, the stand-ins'
# own tests, the C unit tests and the TAP tests as an unprivileged user,
# and stops everything it started.  The last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# The suites' clusters take their encoding from the locale, and the expected
# outputs are UTF-8's: a fresh Debian has no locale set (LANG unset gives
# SQL_ASCII clusters), and a caller's own locale would change sort orders.
# LANG, not only LC_ALL: pg_regress and PostgreSQL::Test::Utils unset LC_ALL.
unset LC_CTYPE LC_COLLATE LC_MESSAGES LC_MONETARY LC_NUMERIC LC_TIME
export LANG=C.UTF-8 LC_ALL=C.UTF-8
MODE=${1:-test}                 # test | soak
TEST_USER=${REDTRACK_TEST_USER:-rttest}
BUILD=$ROOT/build
PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)

passed=0
failed=0
failures=()

note() { printf '\n=== %s\n' "$*"; }
record() {                      # record SUITE PASSED FAILED
	passed=$((passed + $2))
	failed=$((failed + $3))
	if (($3 > 0)); then failures+=("$1 ($3)"); fi
	printf -- '--- %s: %d passed, %d failed\n' "$1" "$2" "$3"
}
as_user() {
	if [[ $(id -u) -eq 0 ]]; then runuser -u "$TEST_USER" -- "$@"; else "$@"; fi
}

if [[ -z ${REDTRACK_TEST_ORIGIN:-} ]]; then
	note "dependencies"
	bash scripts/deps.sh
fi

if [[ $(id -u) -eq 0 ]]; then
	if ! id "$TEST_USER" >/dev/null 2>&1; then
		useradd --system --create-home --shell /bin/bash "$TEST_USER"
	fi
	# The tests run as $TEST_USER, who must read the checkout; a clone in
	# /root (mode 700 on Debian) it cannot even enter.  Rather than change the
	# rights on someone's home, the run moves to a copy of the checkout in a
	# directory it can read (kept when something fails, for the logs).
	if [[ -z ${REDTRACK_TEST_ORIGIN:-} ]] && ! runuser -u "$TEST_USER" -- test -r "$ROOT/Makefile"; then
		blocked=$ROOT
		d=
		IFS=/ read -ra parts <<<"${ROOT#/}"
		for part in "${parts[@]}"; do
			d=$d/$part
			if ! runuser -u "$TEST_USER" -- test -x "$d"; then blocked=$d; break; fi
		done
		copy=$(mktemp -d /var/tmp/redtrack-test.XXXXXX)
		chmod 755 "$copy"
		echo "redtrack: the test user $TEST_USER cannot read $ROOT ($blocked is mode $(stat -c %a "$blocked")):"
		echo "redtrack: running the tests from a copy of the checkout, $copy (nothing in $ROOT is changed)"
		tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$copy" -xf -
		chmod -R u+rwX,go+rX "$copy"
		REDTRACK_TEST_ORIGIN=$ROOT exec bash "$copy/scripts/test.sh" "$@"
	fi
else
	# The unprivileged parts run as the caller; root only installs.
	TEST_USER=$(id -un)
fi

note "build and install"
make -s -j2
if [[ $(id -u) -eq 0 ]] || [[ -w $(pg_config --pkglibdir) && -w $(pg_config --sharedir)/extension ]]; then
	make -s install
else
	if ! sudo -n true 2>/dev/null; then
		echo "redtrack: installing the extension into $(pg_config --pkglibdir) needs root, and 'sudo -n' failed for $(id -un)" >&2
		echo "redtrack: (sudo wants a password, or $(id -un) may not use sudo): run 'sudo -v' first, or run this as root" >&2
		exit 1
	fi
	echo "not root: installing the extension with sudo"
	sudo -n make -s install PG_CONFIG="$(command -v pg_config)"
fi
PGBIN=$(pg_config --bindir)
export PATH="$PGBIN:$PATH"

rm -rf "$BUILD"
mkdir -p "$BUILD"
[[ $(id -u) -eq 0 ]] && chown -R "$TEST_USER" "$BUILD"

STACK_STARTED=
cleanup() {
	if [[ -n $STACK_STARTED ]]; then
		bash test/stack/stack.sh stop >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

# --- C unit tests (pure C modules, no server needed) -------------------------
# Run under AddressSanitizer and UBSan (make -C test/unit sanitize): a report
# stops the test program, which counts as a failure even without "not ok".
if [[ -d test/unit ]]; then
	note "C unit tests (ASan + UBSan)"
	if make -s -C test/unit all >"$BUILD/unit-build.log" 2>&1; then
		unit_rc=0
		out=$(make -s -C test/unit sanitize 2>&1) || unit_rc=$?
		# The layers: nothing under worker/ includes a header of extension/.
		out+=$'\n'$(make -s -C test/unit layers 2>&1) || unit_rc=$?
		echo "$out"
		p=$(grep -c '^ok ' <<<"$out" || true)
		f=$(grep -c '^not ok ' <<<"$out" || true)
		if ((unit_rc != 0 && f == 0)); then f=1; fi
		record "unit" "$p" "$f"
	else
		cat "$BUILD/unit-build.log"
		record "unit (build)" 0 1
	fi
fi

# --- pg_regress ---------------------------------------------------------------
note "pg_regress (make installcheck)"
out=$(as_user make -s installcheck REGRESS_OUTDIR="$BUILD/regress" 2>&1) || true
echo "$out" | grep -E '^(ok|not ok|#|test | *[a-z0-9_]+ +\.\.\.)' || echo "$out"
p=$(grep -cE '^ok |\.\.\. ok' <<<"$out" || true)
f=$(grep -cE '^not ok |\.\.\. FAILED' <<<"$out" || true)
if ((p + f == 0)); then f=1; echo "$out"; fi
if [[ -f $BUILD/regress/regression.diffs ]] && ((f > 0)); then
	head -c 20000 "$BUILD/regress/regression.diffs"
fi
record "pg_regress" "$p" "$f"

# --- local stack and its own tests ---------------------------------------------
note "local stack"
STACK_STARTED=1
if bash test/stack/stack.sh start; then
	note "stand-in tests (node --test)"
	# before the stack's settings are exported: some tests set their own
	out=$(cd test/stack && npm test 2>&1) || true
	echo "$out" | grep -E '^(not ok|# (tests|pass|fail|skipped))' || true
	p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' <<<"$out" | tail -1)
	f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' <<<"$out" | tail -1)
	if [[ -z $p ]]; then p=0; f=1; echo "$out" | tail -50; fi
	if ((f > 0)); then echo "$out" | grep -B2 -A30 '^not ok' | head -200; fi
	record "stand-ins" "$p" "${f:-0}"

	# The conformance kit a cluster owner runs against real Redshift
	# (make check-redshift), here against the stand-in.
	note "Redshift conformance kit, against the stand-in"
	out=$(bash scripts/check-redshift.sh --stack 2>&1) || true
	echo "$out" | grep -vE '^ok [0-9]+ ' || true
	p=$(grep -cE '^ok [0-9]+' <<<"$out" || true)
	f=$(grep -cE '^not ok [0-9]+' <<<"$out" || true)
	if ! grep -qE '^[0-9]+ passed, 0 failed$' <<<"$out"; then ((f == 0)) && f=1; fi
	record "conformance (stand-in)" "$p" "$f"
	eval "$(bash test/stack/stack.sh env)"
else
	bash test/stack/stack.sh logs 2>/dev/null | tail -50 || true
	record "stack start" 0 1
fi

# --- TAP ------------------------------------------------------------------------
# Every TAP test runs against the Redshift stand-in, then again with a plain
# PostgreSQL warehouse (COPY FROM STDIN), the two loader dialects.
# Soak mode runs only the random workload, long, and writes its figures to
# bench/RELIABILITY.md.
run_tap() {                     # run_tap DIALECT TEST...
	# TAP_VARIANT (e.g. serverless) runs the tests once more in a variant of
	# the dialect, in a folder and under a label of its own.
	local dialect=$1 dir=$BUILD/tap-$1${TAP_VARIANT:+-$TAP_VARIANT} label=$1${TAP_VARIANT:+, $TAP_VARIANT} out p f
	shift
	note "TAP tests, $label dialect (prove)"
	mkdir -p "$dir"
	[[ $(id -u) -eq 0 ]] && chown -R "$TEST_USER" "$dir"
	out=$(as_user env PATH="$PATH" \
		PERL5LIB="$(pg_config --pkglibdir)/pgxs/src/test/perl:$ROOT/t/lib" \
		PG_REGRESS="$(pg_config --pkglibdir)/pgxs/src/test/regress/pg_regress" \
		TESTDIR="$dir" TESTDATADIR="$dir/tmp_check" TESTLOGDIR="$dir/log" REDTRACK_ROOT="$ROOT" REDTRACK_TEST_DIALECT="$dialect" \
		REDTRACK_SOAK="${REDTRACK_SOAK:-}" REDTRACK_RELIABILITY_OUT="${REDTRACK_RELIABILITY_OUT:-}" \
		REDTRACK_TEST_SERVERLESS="${REDTRACK_TEST_SERVERLESS:-}" \
		prove --timer -v "$@" 2>&1) || true
	echo "$out" | grep -vE '^ok [0-9]+ ' || true
	p=$(grep -cE '^ok [0-9]+' <<<"$out" || true)
	f=$(grep -cE '^not ok [0-9]+' <<<"$out" || true)
	if ! grep -q '^Result: PASS' <<<"$out"; then ((f == 0)) && f=1; fi
	if ((f > 0)); then
		echo "TAP logs: $dir/tmp_check/log"
	fi
	record "TAP ($label)" "$p" "$f"
}

tap=(t/*.pl)
if [[ -e ${tap[0]} ]]; then
	if [[ $MODE == soak ]]; then
		export REDTRACK_SOAK=1
		REDTRACK_RELIABILITY_OUT=$BUILD/reliability.md
		: >"$REDTRACK_RELIABILITY_OUT"
		[[ $(id -u) -eq 0 ]] && chown "$TEST_USER" "$REDTRACK_RELIABILITY_OUT"
		export REDTRACK_RELIABILITY_OUT
		run_tap redshift t/005_random.pl t/004_worker.pl t/006_hostile.pl t/007_security.pl
		{
			echo "# Reliability"
			echo
			echo "Written by \`make soak\` on $(date -u '+%Y-%m-%d %H:%M UTC') ($(nproc) cores), against the"
			echo "Redshift stand-in: the random workload of t/005_random.pl, 200 rounds with 50"
			echo "kill -9s of the worker, every table compared with its target row by row after"
			echo "every round; then the worker's faults (t/004_worker.pl), hostile input"
			echo "(t/006_hostile.pl) and secrets (t/007_security.pl). Result of the run: $passed"
			echo "checks passed, $failed failed."
			cat "$REDTRACK_RELIABILITY_OUT"
			echo
			cat bench/reliability_found.md
		} >bench/RELIABILITY.md
		echo "figures written to bench/RELIABILITY.md"
	else
		run_tap redshift "${tap[@]}"
		run_tap postgres "${tap[@]}"
		# The engine once more against a Serverless workgroup: no STL views,
		# load errors in sys_load_error_detail.
		REDTRACK_TEST_SERVERLESS=1 TAP_VARIANT=serverless run_tap redshift t/002_engine.pl
	fi
fi

note "summary"
if [[ -n ${REDTRACK_TEST_ORIGIN:-} ]]; then
	if [[ $MODE == soak ]]; then cp bench/RELIABILITY.md "$REDTRACK_TEST_ORIGIN/bench/RELIABILITY.md"; fi
	if ((failed == 0)); then
		cleanup
		STACK_STARTED=
		cd /
		rm -rf "$ROOT"
	else
		echo "the copy the tests ran in is kept for its logs: $ROOT"
	fi
fi
if ((${#failures[@]})); then printf 'failed: %s\n' "${failures[*]}"; fi
echo "$passed passed, $failed failed"
((failed == 0))
