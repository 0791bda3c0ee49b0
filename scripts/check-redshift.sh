#!/usr/bin/env bash
# The Redshift conformance kit: `make check-redshift`.
#
# Runs, against a real Redshift cluster (or Serverless workgroup) and a
# real S3 bucket, the behaviours redtrack relies on and that its local
# stand-in (test/stack/redshift) imitates: COPY with redtrack's exact
# options through a manifest of awkward values, Redshift's reserved
# words, trailing-space comparisons, MAXERROR, the 4 MB record limit,
# pg_last_copy_id() after a rolled-back COPY, and where load errors are
# reported.  One line per case, then "N passed, N failed".  A cluster owner
# runs it before trusting redtrack with production; `make test` runs it
# against the stand-in, so the stand-in's guesses and the real thing are
# checked by the same cases.
#
# Settings (environment):
#   REDTRACK_CHECK_CONNINFO   libpq connection string of the cluster (password
#                             from PGPASSWORD or ~/.pgpass); required
#   REDTRACK_CHECK_BUCKET     an S3 bucket the cluster can read; required
#   REDTRACK_CHECK_PREFIX     key prefix for the test files (default
#                             redtrack-conformance/<time>-<pid>); removed at the end
#   REDTRACK_CHECK_REGION     the bucket's region (default us-east-1)
#   REDTRACK_CHECK_IAM_ROLE   COPY authorises with this role; otherwise with
#                             AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
#                             [/ AWS_SESSION_TOKEN], which also upload the files
#   REDTRACK_CHECK_S3_ENDPOINT  an S3-compatible endpoint (the local stand-in)
#   --stack                   take every setting from the local stack
#                             (test/stack/stack.sh env)
# Needs psql, the AWS CLI and gzip.  Creates and drops one schema,
# redtrack_conformance_<pid>, and nothing else.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == --stack ]]; then
	eval "$(bash test/stack/stack.sh env)"
	export REDTRACK_CHECK_CONNINFO=$REDTRACK_REDSHIFT_CONNINFO
	export REDTRACK_CHECK_BUCKET=$REDTRACK_S3_BUCKET
	export REDTRACK_CHECK_REGION=$REDTRACK_S3_REGION
	export REDTRACK_CHECK_S3_ENDPOINT=$REDTRACK_S3_ENDPOINT
	export AWS_ACCESS_KEY_ID=$REDTRACK_AWS_ACCESS_KEY_ID
	export AWS_SECRET_ACCESS_KEY=$REDTRACK_AWS_SECRET_ACCESS_KEY
	unset AWS_SESSION_TOKEN REDTRACK_CHECK_IAM_ROLE
	export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
fi

die() { echo "check-redshift: $*" >&2; exit 2; }
[[ -n ${REDTRACK_CHECK_CONNINFO:-} ]] || die "set REDTRACK_CHECK_CONNINFO to the cluster's libpq connection string"
[[ -n ${REDTRACK_CHECK_BUCKET:-} ]] || die "set REDTRACK_CHECK_BUCKET to a bucket the cluster can read"
command -v psql >/dev/null || die "psql is missing (Debian: postgresql-client)"
command -v aws >/dev/null || die "the AWS CLI is missing (Debian: awscli)"
if [[ -z ${REDTRACK_CHECK_IAM_ROLE:-} && -z ${AWS_ACCESS_KEY_ID:-} ]]; then
	die "set REDTRACK_CHECK_IAM_ROLE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
fi

REGION=${REDTRACK_CHECK_REGION:-us-east-1}
PREFIX=${REDTRACK_CHECK_PREFIX:-redtrack-conformance/$(date -u +%Y%m%dT%H%M%S)-$$}
SCHEMA=redtrack_conformance_$$
WORK=$(mktemp -d)
ENDPOINT=()
[[ -n ${REDTRACK_CHECK_S3_ENDPOINT:-} ]] && ENDPOINT=(--endpoint-url "$REDTRACK_CHECK_S3_ENDPOINT")
if [[ -n ${REDTRACK_CHECK_IAM_ROLE:-} ]]; then
	AUTH="IAM_ROLE '$REDTRACK_CHECK_IAM_ROLE'"
elif [[ -n ${AWS_SESSION_TOKEN:-} ]]; then
	AUTH="ACCESS_KEY_ID '$AWS_ACCESS_KEY_ID' SECRET_ACCESS_KEY '$AWS_SECRET_ACCESS_KEY' SESSION_TOKEN '$AWS_SESSION_TOKEN'"
else
	AUTH="ACCESS_KEY_ID '$AWS_ACCESS_KEY_ID' SECRET_ACCESS_KEY '$AWS_SECRET_ACCESS_KEY'"
fi

passed=0 failed=0 n=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [[ -n ${2:-} ]] && sed 's/^/#   /' <<<"$2"; }
check() {                       # check DESCRIPTION GOT EXPECTED
	if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1" "expected: $3"$'\n'"got:      $2"; fi
}

# SQL on the cluster: stdout (unaligned, '|'-separated), errors on stderr
# (with the secrets of COPY's text masked).
mask() { sed -E "s/(SECRET_ACCESS_KEY|SESSION_TOKEN) '[^']*'/\1 '***'/g"; }
sql() {
	local rc
	psql "$REDTRACK_CHECK_CONNINFO" -X -A -t -q -v ON_ERROR_STOP=1 -F '|' -c "$1" 2>"$WORK/stderr"
	rc=$?
	mask <"$WORK/stderr" >&2
	return $rc
}
# The errors of a statement ("" when it succeeded); INFO lines are not errors.
sql_error() { sql "$1" 2>&1 >/dev/null | grep -v '^INFO:' || true; }

cleanup() {
	sql "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1
	aws "${ENDPOINT[@]}" --region "$REGION" s3 rm --recursive --only-show-errors "s3://$REDTRACK_CHECK_BUCKET/$PREFIX/" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

# Upload one gzipped CSV (given as bytes on stdin) with its manifest;
# prints the manifest's URL.
put_case() {
	local name=$1
	gzip -c >"$WORK/$name.csv.gz"
	aws "${ENDPOINT[@]}" --region "$REGION" s3 cp --only-show-errors "$WORK/$name.csv.gz" \
		"s3://$REDTRACK_CHECK_BUCKET/$PREFIX/$name/part-0000.csv.gz" >&2 || return 1
	printf '{"entries": [\n  {"url": "s3://%s/%s/%s/part-0000.csv.gz", "mandatory": true}\n]}\n' \
		"$REDTRACK_CHECK_BUCKET" "$PREFIX" "$name" >"$WORK/$name.manifest.json"
	aws "${ENDPOINT[@]}" --region "$REGION" s3 cp --only-show-errors "$WORK/$name.manifest.json" \
		"s3://$REDTRACK_CHECK_BUCKET/$PREFIX/$name/manifest.json" >&2 || return 1
	echo "s3://$REDTRACK_CHECK_BUCKET/$PREFIX/$name/manifest.json"
}

# COPY as redtrack writes it (worker/loader.c), into table $1 from manifest $2.
copy_sql() {
	echo "COPY $SCHEMA.$1 FROM '$2' $AUTH MANIFEST GZIP CSV QUOTE AS '\"' DELIMITER AS ',' NULL AS '\\0' TIMEFORMAT 'auto' DATEFORMAT 'auto' REGION '$REGION' MAXERROR ${3:-0} COMPUPDATE OFF STATUPDATE OFF"
}

sql "CREATE SCHEMA $SCHEMA" >/dev/null || die "cannot create schema $SCHEMA on the cluster"
echo "# Redshift conformance: $(sql 'SELECT version()' 2>/dev/null | head -c 120)"

# --- identifiers ---------------------------------------------------------------
err=$(sql_error "CREATE TABLE $SCHEMA.reserved_bare (id int, tag varchar(10))")
if [[ -n $err ]]; then ok "a Redshift reserved word (tag) is refused unquoted as a column name"; else not_ok "a Redshift reserved word (tag) is refused unquoted as a column name" "the table was created"; fi
err=$(sql_error "CREATE TABLE $SCHEMA.\"open\" (\"tag\" int, \"system\" varchar(10), \"percent\" int, \"partition\" int, \"snapshot\" int, \"language\" int, \"new\" int, \"old\" int, \"top\" int)")
check "quoted reserved words (tag, open, system, percent, partition, snapshot, language, new, old, top) are accepted" "$err" ""

# --- NULL and empty, every type and position -------------------------------------
sql "CREATE TABLE $SCHEMA.nulls (pos int, a smallint, b integer, c bigint, d decimal(12,3), e real, f double precision, g boolean, h varchar(20), i char(4), j date, k timestamp, l timestamptz, m time)" >/dev/null
# Row 0: NUL in every field but pos; rows 1..13: NUL in column n only, values elsewhere.
values=(7 70000 7000000000 '123.456' '1.5' '2.25' t '"txt"' '"ch"' 2024-02-29 '2024-02-29 12:34:56' '2024-02-29 12:34:56+00' '23:59:59')
{
	printf '0'; for _ in "${values[@]}"; do printf ',\0'; done; printf '\n'
	for ((col = 0; col < ${#values[@]}; col++)); do
		printf '%d' $((col + 1))
		for ((v = 0; v < ${#values[@]}; v++)); do
			if ((v == col)); then printf ',\0'; else printf ',%s' "${values[v]}"; fi
		done
		printf '\n'
	done
} | put_case nulls >"$WORK/url" && err=$(sql_error "$(copy_sql nulls "$(cat "$WORK/url")")") || err="upload failed"
check "COPY with NULL AS '\\0' of a NUL field in every type" "$err" ""
got=$(sql "SELECT count(*) FROM $SCHEMA.nulls WHERE pos = 0 AND a IS NULL AND b IS NULL AND c IS NULL AND d IS NULL AND e IS NULL AND f IS NULL AND g IS NULL AND h IS NULL AND i IS NULL AND j IS NULL AND k IS NULL AND l IS NULL AND m IS NULL")
check "a NUL field is NULL in every type" "$got" "1"
got=$(sql "SELECT pos || ':' || CASE WHEN (CASE pos WHEN 1 THEN a IS NULL WHEN 2 THEN b IS NULL WHEN 3 THEN c IS NULL WHEN 4 THEN d IS NULL WHEN 5 THEN e IS NULL WHEN 6 THEN f IS NULL WHEN 7 THEN g IS NULL WHEN 8 THEN h IS NULL WHEN 9 THEN i IS NULL WHEN 10 THEN j IS NULL WHEN 11 THEN k IS NULL WHEN 12 THEN l IS NULL ELSE m IS NULL END) THEN 1 ELSE 0 END FROM $SCHEMA.nulls WHERE pos > 0 ORDER BY pos" | paste -sd, -)
check "a NUL field is NULL in every column position, first to last" "$got" "1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1,9:1,10:1,11:1,12:1,13:1"
got=$(sql "SELECT count(*) FROM $SCHEMA.nulls WHERE pos = 2 AND a = 7 AND c = 7000000000 AND d = 123.456 AND g AND h = 'txt' AND j = '2024-02-29' AND m = '23:59:59'")
check "the other fields of those rows keep their values" "$got" "1"

# --- strings --------------------------------------------------------------------
sql "CREATE TABLE $SCHEMA.strings (id int, v varchar(40), w varchar(6))" >/dev/null
printf '1,"","ab"\n2,"\\N","ab"\n3,"a""b,c","ab"\n4,"line1\r\nline2\nend","ab"\n5,"x","\xc3\xa9\xc3\xa9\xc3\xa9"\n6,"trailing  ","ab"\n' |
	put_case strings >"$WORK/url" && err=$(sql_error "$(copy_sql strings "$(cat "$WORK/url")")") || err="upload failed"
check "COPY of quoted strings" "$err" ""
check '"" loads as the empty string, not NULL' "$(sql "SELECT (v IS NULL)::int || '|' || octet_length(v) FROM $SCHEMA.strings WHERE id = 1")" "0|0"
check 'a quoted \N is the two-character string, not NULL' "$(sql "SELECT (v IS NULL)::int || '|' || octet_length(v) FROM $SCHEMA.strings WHERE id = 2")" "0|2"
check 'a doubled quote and a comma inside quotes survive' "$(sql "SELECT v FROM $SCHEMA.strings WHERE id = 3")" 'a"b,c'
check 'CR/LF and LF inside quotes survive byte for byte' "$(sql "SELECT octet_length(v) || '|' || strpos(v, chr(13)) FROM $SCHEMA.strings WHERE id = 4")" "16|6"
check 'a multibyte value exactly at the column'"'"'s byte limit loads' "$(sql "SELECT octet_length(w) FROM $SCHEMA.strings WHERE id = 5")" "6"
check 'trailing spaces are kept in VARCHAR' "$(sql "SELECT octet_length(v) FROM $SCHEMA.strings WHERE id = 6")" "10"

# --- comparisons ----------------------------------------------------------------
# Keys stored as VARCHAR: 'a' and 'a ' are one value to =, DISTINCT and
# joins; with OCTET_LENGTH as well (redtrack's key predicate) they are two.
sql "CREATE TABLE $SCHEMA.spaces (v varchar(10)); INSERT INTO $SCHEMA.spaces VALUES ('a'), ('a ')" >/dev/null
check "VARCHAR comparison ignores trailing spaces ('a' = 'a ' in a join)" \
	"$(sql "SELECT count(*) FROM $SCHEMA.spaces AS x JOIN $SCHEMA.spaces AS y ON x.v = y.v")" "4"
check "and so does DISTINCT" "$(sql "SELECT count(DISTINCT v) FROM $SCHEMA.spaces")" "1"
check "with OCTET_LENGTH the comparison is exact (redtrack's key predicate)" \
	"$(sql "SELECT count(*) FROM $SCHEMA.spaces AS x JOIN $SCHEMA.spaces AS y ON x.v = y.v AND OCTET_LENGTH(x.v) = OCTET_LENGTH(y.v)")" "2"

# --- time and timestamptz forms -------------------------------------------------------
sql "CREATE TABLE $SCHEMA.times (id int, t time, z timestamptz)" >/dev/null
printf '1,24:00:00,2024-01-02 03:04:05+00\n2,00:00:00,2024-01-02 03:04:05.123456+00\n3,12:00:00.5,2024-01-02 08:34:05+05:30\n' |
	put_case times >"$WORK/url" && err=$(sql_error "$(copy_sql times "$(cat "$WORK/url")")") || err="upload failed"
check "TIME 24:00:00 and timestamptz with offsets load" "$err" ""
check "timestamptz offsets arrive as the same instant (UTC)" \
	"$(sql "SELECT count(*) FROM $SCHEMA.times WHERE z = '2024-01-02 03:04:05+00'")" "2"
check "fractional seconds of timestamptz survive" \
	"$(sql "SELECT count(*) FROM $SCHEMA.times WHERE z = '2024-01-02 03:04:05.123456+00'")" "1"

# --- MAXERROR, limits, load errors ------------------------------------------------------
sql "CREATE TABLE $SCHEMA.bad (id int, n int)" >/dev/null
printf '1,1\n2,x\n3,3\n4,y\n' | put_case bad >"$WORK/url"
url=$(cat "$WORK/url")
err=$(sql_error "$(copy_sql bad "$url" 2)")
if [[ -n $err ]]; then ok "MAXERROR 2 with 2 bad rows fails (the limit is reached)"; else not_ok "MAXERROR 2 with 2 bad rows fails (the limit is reached)" "the COPY succeeded"; fi
err=$(sql_error "$(copy_sql bad "$url" 3)")
check "MAXERROR 3 with 2 bad rows loads the good ones" "$err|$(sql "SELECT count(*) FROM $SCHEMA.bad")" "|2"

# pg_last_copy_id() after a COPY whose transaction rolled back
good_id=$(sql "$(copy_sql bad "$url" 3); SELECT pg_last_copy_id()" 2>/dev/null | tail -1)
after=$(psql "$REDTRACK_CHECK_CONNINFO" -X -A -t -q -F '|' 2>/dev/null <<EOF | tail -1
$(copy_sql bad "$url" 3);
BEGIN;
$(copy_sql bad "$url" 0);
ROLLBACK;
SELECT pg_last_copy_id();
EOF
)
if [[ -n $good_id && $after =~ ^[0-9-]+$ ]]; then
	ok "pg_last_copy_id() after a rolled-back COPY: $after (redtrack never relies on it then)"
else
	not_ok "pg_last_copy_id() answers after a rolled-back COPY" "got: '$after'"
fi

# Where this session's load errors are: STL (provisioned) or SYS (Serverless).
stl=$(sql_error "SELECT count(*) FROM stl_load_errors WHERE 1 = 0")
sys=$(sql_error "SELECT count(*) FROM sys_load_error_detail WHERE 1 = 0")
if [[ -z $stl || -z $sys ]]; then
	ok "load errors are readable from $([[ -z $stl ]] && echo stl_load_errors)$([[ -z $stl && -z $sys ]] && echo ' and ')$([[ -z $sys ]] && echo sys_load_error_detail)"
else
	not_ok "load errors are readable from stl_load_errors or sys_load_error_detail" "$stl"$'\n'"$sys"
fi

# A record over 4 MB fails the COPY: 70 values of 60,000 bytes, each of
# which fits its column, 4.2 MB together.
cols=$(for i in $(seq 70); do printf ', c%d varchar(65535)' "$i"; done)
sql "CREATE TABLE $SCHEMA.wide (id int$cols)" >/dev/null
value=$(head -c 60000 /dev/zero | tr '\0' 'w')
{
	printf '1'; for _ in $(seq 70); do printf ',"%s"' "$value"; done; printf '\n'
} | put_case wide >"$WORK/url" && err=$(sql_error "$(copy_sql wide "$(cat "$WORK/url")")") || err="upload failed"
if [[ -n $err && $err != "upload failed" ]]; then ok "a record over 4 MB fails the COPY"; else not_ok "a record over 4 MB fails the COPY" "${err:-the COPY succeeded}"; fi

echo "$passed passed, $failed failed"
((failed == 0))
