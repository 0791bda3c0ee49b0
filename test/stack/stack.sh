#!/usr/bin/env bash
# The local stand-ins for S3 and Redshift, and the source PostgreSQL, on
# loopback only (see test/stack/README.md).
#
#   test/stack/stack.sh start|stop|status|env|logs
#
# Services (STACK_SERVICES, default "s3 redshift source"):
#   s3        node s3/server.js: SigV4-checking front (59000) + s3rver (59010)
#   redshift  the warehouse PostgreSQL (55438) and node redshift/server.js (55439, admin 55440)
#   source    PostgreSQL with redtrack preloaded (55432); only when the extension is installed
# Every port and path can be moved with the REDTRACK_* variables below.
# Servers run as the OS user `redtrack` when this runs as root (initdb
# refuses root), else as the calling user.
set -euo pipefail

STACK_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

REDTRACK_STACK_DIR=$(realpath -m "${REDTRACK_STACK_DIR:-/tmp/redtrack-stack}")
export REDTRACK_STACK_DIR
export REDTRACK_S3_PORT=${REDTRACK_S3_PORT:-59000}
export REDTRACK_S3RVER_PORT=${REDTRACK_S3RVER_PORT:-59010}
export REDTRACK_REDSHIFT_PORT=${REDTRACK_REDSHIFT_PORT:-55439}
export REDTRACK_REDSHIFT_ADMIN_PORT=${REDTRACK_REDSHIFT_ADMIN_PORT:-55440}
export REDTRACK_WAREHOUSE_PORT=${REDTRACK_WAREHOUSE_PORT:-55438}
export REDTRACK_SOURCE_PORT=${REDTRACK_SOURCE_PORT:-55432}
export REDTRACK_S3_ENDPOINT=${REDTRACK_S3_ENDPOINT:-http://127.0.0.1:$REDTRACK_S3_PORT}
export REDTRACK_S3_BUCKET=${REDTRACK_S3_BUCKET:-redtrack-test}
export REDTRACK_S3_PREFIX=${REDTRACK_S3_PREFIX:-redtrack}
export REDTRACK_S3_REGION=${REDTRACK_S3_REGION:-us-east-1}
export REDTRACK_AWS_ACCESS_KEY_ID=${REDTRACK_AWS_ACCESS_KEY_ID:-AKIDREDTRACKTEST}
export REDTRACK_AWS_SECRET_ACCESS_KEY=${REDTRACK_AWS_SECRET_ACCESS_KEY:-redtrack-test-secret}
export REDTRACK_AWS_TEMP_ACCESS_KEY_ID=${REDTRACK_AWS_TEMP_ACCESS_KEY_ID:-ASIAREDTRACKTEMP}
export REDTRACK_AWS_TEMP_SECRET_ACCESS_KEY=${REDTRACK_AWS_TEMP_SECRET_ACCESS_KEY:-redtrack-temp-secret}
# As long as real STS tokens get (AWS publishes no maximum; several KB are common).
export REDTRACK_AWS_SESSION_TOKEN=${REDTRACK_AWS_SESSION_TOKEN:-redtrack-test-session-token-$(printf 'IQoJb3JpZ2luX2VjEA%.0s' $(seq 170))}
export REDTRACK_IAM_ROLE=${REDTRACK_IAM_ROLE:-arn:aws:iam::123456789012:role/redtrack-test}
export REDTRACK_REDSHIFT_DATABASE=${REDTRACK_REDSHIFT_DATABASE:-dev}
export REDTRACK_REDSHIFT_USER=${REDTRACK_REDSHIFT_USER:-awsuser}
export REDTRACK_REDSHIFT_PASSWORD=${REDTRACK_REDSHIFT_PASSWORD:-Redtrack-test-1}
export REDTRACK_REDSHIFT_CONNINFO="host=127.0.0.1 port=$REDTRACK_REDSHIFT_PORT dbname=$REDTRACK_REDSHIFT_DATABASE user=$REDTRACK_REDSHIFT_USER passfile=$REDTRACK_STACK_DIR/pgpass sslmode=require"
export REDTRACK_WAREHOUSE_CONNINFO="host=127.0.0.1 port=$REDTRACK_WAREHOUSE_PORT dbname=$REDTRACK_REDSHIFT_DATABASE user=$REDTRACK_REDSHIFT_USER"
export REDTRACK_SOURCE_CONNINFO="host=127.0.0.1 port=$REDTRACK_SOURCE_PORT dbname=postgres user=postgres"

STACK_SERVICES=${STACK_SERVICES:-s3 redshift source}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-pg_config}
DIR=$REDTRACK_STACK_DIR
LOGS=$DIR/logs
RUN=$DIR/run

die() { echo "stack.sh: $*" >&2; exit 1; }
say() { printf '%-9s %s\n' "$1" "$2"; }

if [[ $(id -u) -eq 0 ]]; then STACK_USER=redtrack; else STACK_USER=$(id -un); fi

# Runs a command as the stack user.
as_user() {
	if [[ $(id -u) -eq 0 ]]; then runuser -u "$STACK_USER" -- "$@"; else "$@"; fi
}

selected() { [[ " $STACK_SERVICES " == *" $1 "* ]]; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# A port can also be held for a moment as the local end of some client's
# connection: the default ports (fixed by test/stack/README.md) lie inside Linux's
# ephemeral range, so any connection on the machine may draw one.  Wait
# for such a connection to end instead of failing to bind.
port_held_by_client() {
	local hex
	hex=$(printf ':%04X' "$1")
	# local_address ends in :PORT; states 01-03 (connecting, established)
	# and 08 (CLOSE_WAIT) are a live connection's.  The closing states a
	# stopped server leaves behind do not stop a new listener from binding.
	awk -v p="$hex" 'FNR > 1 && substr($2, length($2) - 4) == p && $4 ~ /^0[1238]$/ { found = 1 }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

wait_port_free() {
	local port=$1 name=$2 tries=300
	while port_held_by_client "$port"; do
		((--tries > 0)) || die "port $port ($name) has been held by a client connection for 30 s"
		sleep 0.1
	done
}

# Waits until a port accepts connections; fails early when the server died.
wait_port() {
	local port=$1 name=$2 pidfile=$3 log=$4 tries=300
	while ! port_open "$port"; do
		if [[ -n $pidfile ]] && ! pid_alive "$pidfile"; then
			tail -n 20 "$log" >&2 || true
			die "$name exited during start-up; see $log"
		fi
		((--tries > 0)) || die "$name did not open port $port within 30 s; see $log"
		sleep 0.1
	done
}

# Path of a log file, created owned by the stack user (so that root and
# redtrack runs of this script can both write it later).
logfile() {
	local f=$LOGS/$1
	: >>"$f"
	if [[ $(id -u) -eq 0 ]]; then chown "$STACK_USER:" "$f"; fi
	echo "$f"
}

# Writes a file owned by the stack user.
write_file() {
	local path=$1 mode=$2
	cat >"$path"
	chmod "$mode" "$path"
	[[ $(id -u) -ne 0 ]] || chown "$STACK_USER:" "$path"
}

check_services() {
	local s
	for s in $STACK_SERVICES; do
		case $s in s3 | redshift | source) ;; *) die "unknown service '$s' in STACK_SERVICES (known: s3 redshift source)" ;; esac
	done
}

prepare() {
	command -v node >/dev/null || die "node is not installed (Node.js 18 or later is needed)"
	[[ -x $PG_BINDIR/initdb ]] || die "PostgreSQL server binaries not found in $PG_BINDIR (set PG_BINDIR)"
	if [[ $(id -u) -eq 0 ]] && ! id "$STACK_USER" >/dev/null 2>&1; then
		useradd --system --create-home --shell /bin/bash "$STACK_USER"
	fi
	local d
	for d in "$DIR" "$LOGS" "$RUN" "$DIR/sock" "$DIR/tls"; do
		mkdir -p "$d"
		if [[ $(id -u) -eq 0 ]]; then chown "$STACK_USER:" "$d"; fi
		[[ -w $d ]] || die "$d is not writable by $(id -un)"
	done
	if [[ ! -d $STACK_HOME/node_modules ]]; then
		echo "stack.sh: installing the stand-ins' npm packages (npm ci)"
		(cd "$STACK_HOME" && npm ci --no-audit --no-fund >"$(logfile npm-ci.log)" 2>&1) || die "npm ci failed; see $LOGS/npm-ci.log"
	fi
	code_home
	if [[ ! -s $DIR/tls/server.crt || ! -s $DIR/tls/server.key ]]; then
		as_user openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
			-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
			-keyout "$DIR/tls/server.key" -out "$DIR/tls/server.crt" 2>"$(logfile openssl.log)" ||
			die "openssl could not make the TLS certificate; see $LOGS/openssl.log"
		chmod 600 "$DIR/tls/server.key"
	fi
	write_file "$DIR/pgpass" 600 <<-EOF
		127.0.0.1:$REDTRACK_REDSHIFT_PORT:$REDTRACK_REDSHIFT_DATABASE:$REDTRACK_REDSHIFT_USER:$REDTRACK_REDSHIFT_PASSWORD
	EOF
	write_file "$DIR/redtrack.conf" 644 <<-EOF
		# Written by test/stack/stack.sh: redtrack pointed at the local stand-ins.
		redtrack.s3_bucket = '$REDTRACK_S3_BUCKET'
		redtrack.s3_prefix = '$REDTRACK_S3_PREFIX'
		redtrack.s3_region = '$REDTRACK_S3_REGION'
		redtrack.s3_endpoint = '$REDTRACK_S3_ENDPOINT'
		redtrack.aws_access_key_id = '$REDTRACK_AWS_ACCESS_KEY_ID'
		redtrack.aws_secret_access_key = '$REDTRACK_AWS_SECRET_ACCESS_KEY'
		redtrack.redshift_conninfo = '$REDTRACK_REDSHIFT_CONNINFO'
		redtrack.target_dialect = 'redshift'
	EOF
}

# Where the node servers' code is run from: this directory, or, when the
# stack user cannot read it (a clone in /root, mode 700 on Debian), a copy
# in the stack directory, refreshed at each start while no server runs.
# Nothing in the checkout or its parents changes rights.
CODE_HOME=$STACK_HOME
code_home() {
	CODE_HOME=$STACK_HOME
	[[ $(id -u) -eq 0 ]] || return 0
	runuser -u "$STACK_USER" -- test -r "$STACK_HOME/s3/server.js" && return 0
	local blocked=$STACK_HOME d='' part parts
	IFS=/ read -ra parts <<<"${STACK_HOME#/}"
	for part in "${parts[@]}"; do
		d=$d/$part
		if ! runuser -u "$STACK_USER" -- test -x "$d"; then blocked=$d; break; fi
	done
	CODE_HOME=$DIR/code
	echo "stack.sh: $STACK_USER cannot read $STACK_HOME ($blocked is mode $(stat -c %a "$blocked")): the stand-ins run from a copy, $CODE_HOME"
	if pid_alive "$RUN/s3.pid" || pid_alive "$RUN/redshift.pid"; then
		[[ -d $CODE_HOME ]] || die "a stand-in is running, but $CODE_HOME is missing: stop the stack and start it again"
		return 0
	fi
	rm -rf "$CODE_HOME"
	mkdir "$CODE_HOME"
	tar -C "$STACK_HOME" -cf - . | tar -C "$CODE_HOME" -xf - || die "could not copy $STACK_HOME to $CODE_HOME"
	chmod -R u+rwX,go+rX "$CODE_HOME"
}

# initdb once, then (every start) the settings of this stack in stack.conf;
# extra settings for the cluster come on standard input.
init_cluster() {
	local name=$1 pgdata=$2 port=$3
	if [[ ! -s $pgdata/PG_VERSION ]]; then
		as_user "$PG_BINDIR/initdb" -D "$pgdata" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
			>"$(logfile "initdb-$name.log")" 2>&1 || die "initdb of the $name cluster failed; see $LOGS/initdb-$name.log"
	fi
	local extra
	extra=$(cat)
	write_file "$pgdata/stack.conf" 644 <<-EOF
		# Written by test/stack/stack.sh at every start; edit the script, not this file.
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '$DIR/sock'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		logging_collector = on
		log_directory = '$LOGS'
		log_filename = '$name.log'
		log_file_mode = 0644
		log_line_prefix = '%m [%p] %q%u@%d '
		$extra
	EOF
	write_file "$pgdata/pg_hba.conf" 600 <<-EOF
		local all all trust
		host  all all 127.0.0.1/32 trust
	EOF
	grep -q "^include_if_exists = 'stack.conf'" "$pgdata/postgresql.conf" ||
		echo "include_if_exists = 'stack.conf'" >>"$pgdata/postgresql.conf"
}

start_cluster() {
	local name=$1 pgdata=$2 port=$3
	if as_user "$PG_BINDIR/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
		say "$name" "already running on 127.0.0.1:$port"
		return
	fi
	! port_open "$port" || die "port $port ($name) is taken by another process"
	wait_port_free "$port" "$name"
	as_user "$PG_BINDIR/pg_ctl" -D "$pgdata" -l "$(logfile "$name-startup.log")" -w -t 60 start >/dev/null ||
		die "the $name PostgreSQL did not start; see $LOGS/$name-startup.log and $LOGS/$name.log"
	say "$name" "started on 127.0.0.1:$port"
}

# Starts a node server detached, as the stack user, its output in $LOGS/<name>.log.
start_node() {
	local name=$1 script=$2 port=$3
	local pidfile=$RUN/$name.pid log=$LOGS/$name.log
	if pid_alive "$pidfile"; then
		say "$name" "already running (pid $(cat "$pidfile"))"
		return
	fi
	! port_open "$port" || die "port $port ($name) is taken by another process"
	wait_port_free "$port" "$name"
	rm -f "$pidfile"
	logfile "$name.log" >/dev/null
	local as=()
	if [[ $(id -u) -eq 0 ]]; then as=(runuser -u "$STACK_USER" --); fi
	# The shell writes its own pid and then becomes node, so the pid file names node.
	# shellcheck disable=SC2016 # $$, $1 and $2 are for that inner shell
	setsid "${as[@]}" sh -c 'echo $$ >"$1"; exec node "$2"' sh "$pidfile" "$script" >>"$log" 2>&1 </dev/null &
	local tries=50
	until [[ -s $pidfile ]]; do
		((--tries > 0)) || die "$name did not start; see $log"
		sleep 0.1
	done
	wait_port "$port" "$name" "$pidfile" "$log"
}

start() {
	check_services
	prepare
	cd "$DIR" # the servers must not inherit a directory the stack user cannot read
	local began=$EPOCHREALTIME
	if selected s3; then
		wait_port_free "$REDTRACK_S3RVER_PORT" s3rver
		start_node s3 "$CODE_HOME/s3/server.js" "$REDTRACK_S3_PORT"
		say s3 "http://127.0.0.1:$REDTRACK_S3_PORT (bucket $REDTRACK_S3_BUCKET; admin /_admin/)"
	fi
	if selected redshift; then
		init_cluster warehouse "$DIR/warehouse" "$REDTRACK_WAREHOUSE_PORT" <<<"timezone = 'UTC' # Redshift sessions are in UTC"
		start_cluster warehouse "$DIR/warehouse" "$REDTRACK_WAREHOUSE_PORT"
		as_user "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/sock" -p "$REDTRACK_WAREHOUSE_PORT" -U postgres -d postgres \
			>"$(logfile warehouse-setup.log)" 2>&1 <<-EOF || die "setting up the warehouse failed; see $LOGS/warehouse-setup.log"
				SELECT format('CREATE ROLE %I SUPERUSER LOGIN PASSWORD %L', '$REDTRACK_REDSHIFT_USER', '$REDTRACK_REDSHIFT_PASSWORD')
				WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$REDTRACK_REDSHIFT_USER') \gexec
				SELECT format('CREATE DATABASE %I OWNER %I', '$REDTRACK_REDSHIFT_DATABASE', '$REDTRACK_REDSHIFT_USER')
				WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$REDTRACK_REDSHIFT_DATABASE') \gexec
			EOF
		if [[ -f $STACK_HOME/redshift/server.js ]]; then
			wait_port_free "$REDTRACK_REDSHIFT_ADMIN_PORT" redshift-admin
			start_node redshift "$CODE_HOME/redshift/server.js" "$REDTRACK_REDSHIFT_PORT"
			wait_port "$REDTRACK_REDSHIFT_ADMIN_PORT" redshift "$RUN/redshift.pid" "$LOGS/redshift.log"
			say redshift "127.0.0.1:$REDTRACK_REDSHIFT_PORT (admin http://127.0.0.1:$REDTRACK_REDSHIFT_ADMIN_PORT)"
		else
			say redshift "skipped: $STACK_HOME/redshift/server.js does not exist yet (warehouse is up)"
		fi
	fi
	if selected source; then
		local libdir
		libdir=$("$PG_CONFIG" --pkglibdir) || die "$PG_CONFIG --pkglibdir failed (set PG_CONFIG)"
		if [[ -f $libdir/redtrack.so ]]; then
			# cdc: redtrack is the slot's output plugin; minors with the
			# output_plugin_libraries allowlist (15.19 and later) must name it
			local plugins=
			# (grep without -q: reading all of it spares postgres a SIGPIPE
			# that pipefail would count as a failure)
			if "$PG_BINDIR/postgres" --describe-config 2>/dev/null | grep '^output_plugin_libraries' >/dev/null; then
				plugins="output_plugin_libraries = 'pgoutput, test_decoding, redtrack'"
			fi
			init_cluster source "$DIR/source" "$REDTRACK_SOURCE_PORT" <<-EOF
				shared_preload_libraries = 'redtrack'
				redtrack.database = 'postgres'
				# the cdc strategy decodes the WAL through a logical slot
				wal_level = logical
				max_replication_slots = 10
				$plugins
				include '$DIR/redtrack.conf'
			EOF
			start_cluster source "$DIR/source" "$REDTRACK_SOURCE_PORT"
		else
			say source "skipped: the redtrack extension is not installed ($libdir/redtrack.so is missing; run make install)"
		fi
	fi
	local took
	took=$(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $began }")
	echo "stack.sh: ready in $took s; settings: eval \"\$($0 env)\""
}

stop_node() {
	local name=$1 pidfile=$RUN/$1.pid
	if ! pid_alive "$pidfile"; then
		rm -f "$pidfile"
		say "$name" "not running"
		return
	fi
	local pid tries=100
	pid=$(cat "$pidfile")
	kill -TERM "$pid"
	# A zombie has ended: kill -0 still finds it until its parent reaps it
	# (a parent that never does would keep this loop going).
	while kill -0 "$pid" 2>/dev/null && [[ $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) != Z* ]]; do
		if ((--tries == 0)); then
			echo "stack.sh: $name (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		((tries > -50)) || die "$name (pid $pid) is still there 5 s after SIGKILL"
		sleep 0.1
	done
	rm -f "$pidfile"
	say "$name" "stopped"
}

stop_cluster() {
	local name=$1 pgdata=$2
	if [[ -s $pgdata/PG_VERSION ]] && as_user "$PG_BINDIR/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
		as_user "$PG_BINDIR/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
		say "$name" "stopped"
	else
		say "$name" "not running"
	fi
}

stop() {
	check_services
	[[ -d $DIR ]] || { echo "stack.sh: nothing to stop ($DIR does not exist)"; return; }
	cd "$DIR"
	if selected source; then stop_cluster source "$DIR/source"; fi
	if selected redshift; then
		stop_node redshift
		stop_cluster warehouse "$DIR/warehouse"
	fi
	if selected s3; then stop_node s3; fi
}

# A node service is up when its process lives and all its ports answer.
node_up() {
	local name=$1 p
	shift
	pid_alive "$RUN/$name.pid" || return 1
	for p in "$@"; do port_open "$p" || return 1; done
}

cluster_up() {
	[[ -s $1/PG_VERSION ]] && as_user "$PG_BINDIR/pg_ctl" -D "$1" status >/dev/null 2>&1 && port_open "$2"
}

# One line per service; exit status 1 when a selected service is down
# (a service skipped because its code is not there is not down).
status() {
	check_services
	local down=0
	if [[ -d $DIR ]]; then cd "$DIR"; fi
	if selected s3; then
		if node_up s3 "$REDTRACK_S3_PORT" "$REDTRACK_S3RVER_PORT"; then
			say s3 "running   pid $(cat "$RUN/s3.pid")  http://127.0.0.1:$REDTRACK_S3_PORT"
		else
			say s3 "down"
			down=1
		fi
	fi
	if selected redshift; then
		local warehouse=down
		cluster_up "$DIR/warehouse" "$REDTRACK_WAREHOUSE_PORT" && warehouse="running on 127.0.0.1:$REDTRACK_WAREHOUSE_PORT"
		if [[ ! -f $STACK_HOME/redshift/server.js ]]; then
			say redshift "skipped   (redshift/server.js does not exist yet; warehouse $warehouse)"
			[[ $warehouse != down ]] || down=1
		elif node_up redshift "$REDTRACK_REDSHIFT_PORT" "$REDTRACK_REDSHIFT_ADMIN_PORT" && [[ $warehouse != down ]]; then
			say redshift "running   pid $(cat "$RUN/redshift.pid")  127.0.0.1:$REDTRACK_REDSHIFT_PORT (warehouse $warehouse)"
		else
			say redshift "down      (warehouse $warehouse)"
			down=1
		fi
	fi
	if selected source; then
		local libdir
		libdir=$("$PG_CONFIG" --pkglibdir 2>/dev/null) || libdir=
		if [[ ! -f $libdir/redtrack.so ]]; then
			say source "skipped   (redtrack extension not installed)"
		elif cluster_up "$DIR/source" "$REDTRACK_SOURCE_PORT"; then
			say source "running   127.0.0.1:$REDTRACK_SOURCE_PORT"
		else
			say source "down"
			down=1
		fi
	fi
	return "$down"
}

print_env() {
	local name
	for name in REDTRACK_STACK_DIR REDTRACK_S3_PORT REDTRACK_S3RVER_PORT REDTRACK_REDSHIFT_PORT \
		REDTRACK_REDSHIFT_ADMIN_PORT REDTRACK_WAREHOUSE_PORT REDTRACK_SOURCE_PORT REDTRACK_S3_ENDPOINT \
		REDTRACK_S3_BUCKET REDTRACK_S3_PREFIX REDTRACK_S3_REGION REDTRACK_AWS_ACCESS_KEY_ID \
		REDTRACK_AWS_SECRET_ACCESS_KEY REDTRACK_AWS_TEMP_ACCESS_KEY_ID REDTRACK_AWS_TEMP_SECRET_ACCESS_KEY \
		REDTRACK_AWS_SESSION_TOKEN REDTRACK_IAM_ROLE REDTRACK_REDSHIFT_DATABASE REDTRACK_REDSHIFT_USER \
		REDTRACK_REDSHIFT_PASSWORD REDTRACK_REDSHIFT_CONNINFO REDTRACK_WAREHOUSE_CONNINFO REDTRACK_SOURCE_CONNINFO; do
		printf "export %s='%s'\n" "$name" "${!name//\'/\'\\\'\'}"
	done
	printf "export %s='%s'\n" REDTRACK_PGPASSFILE "$DIR/pgpass" REDTRACK_CONF "$DIR/redtrack.conf"
}

logs() {
	check_services
	local files=() f
	if selected s3; then files+=("$LOGS/s3.log"); fi
	if selected redshift; then files+=("$LOGS/redshift.log" "$LOGS/warehouse.log"); fi
	if selected source; then files+=("$LOGS/source.log"); fi
	for f in "${files[@]}"; do
		echo "==> $f <=="
		if [[ -f $f ]]; then tail -n "${STACK_LOG_LINES:-40}" "$f"; else echo "(none yet)"; fi
	done
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
env) print_env ;;
logs) logs ;;
*)
	echo "usage: $0 start|stop|status|env|logs   (STACK_SERVICES=\"s3 redshift source\" selects services)" >&2
	exit 2
	;;
esac
