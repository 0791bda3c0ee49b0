#!/usr/bin/env bash
# Formats C files the way PostgreSQL's pgindent does, as closely as GNU
# indent can (pgindent and its pg_bsd_indent are not packaged for Debian):
# pgindent's options translated to GNU indent's, the type names in
# typedefs.list, then tabs wherever a run of spaces reaches a tab stop (as
# pgindent's entab step does).  Formats only the files it is given.
#
#   scripts/indent.sh FILE...          format these files in place
#   scripts/indent.sh --check FILE...  list the files it would change (exit 1 if any)
#   scripts/indent.sh --typedefs       regenerate typedefs.list
#
# GNU indent (apt-get install indent) is needed; universal-ctags for --typedefs.
set -euo pipefail
cd "$(dirname "$0")/.."

# pgindent (PostgreSQL 15): -bad -bap -bbb -bc -bl -cli1 -cp33 -cdb -nce -d0
# -di12 -nfc1 -i4 -l79 -lp -lpl -nip -npro -sac -tpg -ts4.  GNU indent counts
# -cli in columns (BSD in levels) and has no -lpl/-sac/-tpg; it keeps the
# line breaks it finds (-hnl) and leaves comments as they are (-nfca).
OPTS=(-bad -bap -bbb -bc -bl -bli0 -blf -bls -cli4 -cbi0 -cp33 -c33 -cd33 -nce -d0
	-di12 -nfc1 -nfca -i4 -l79 -lc79 -lp -nip -npro -ts4 -ut -npcs -nprs
	-psl -saf -sai -saw -nbfda -ppi0 -ss -sob0 -nsc -ncdw -nbc -cs -hnl -nbbo)

typedefs() {
	local pg_includes
	pg_includes=$(${PG_CONFIG:-pg_config} --includedir-server)
	{
		# PostgreSQL's and the libraries' type names ...
		ctags --languages=C --langmap=C:.c.h -x --c-kinds=t --_xformat='%{name}' -R "$pg_includes" \
			/usr/include/curl /usr/include/libxml2 /usr/include/zlib.h \
			/usr/include/postgresql/libpq-fe.h /usr/include/openssl 2>/dev/null
		# ... the C library's that the code uses ...
		printf '%s\n' FILE size_t ssize_t off_t pid_t time_t pthread_t pthread_mutex_t \
			pthread_cond_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t \
			uintptr_t va_list bool
		# ... and redtrack's own.
		ctags --languages=C --langmap=C:.c.h -x --c-kinds=t --_xformat='%{name}' -R extension worker test/unit 2>/dev/null
	} | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | LC_ALL=C sort -u > typedefs.list
	echo "typedefs.list: $(wc -l < typedefs.list) names"
}


format_file() {
	local f=$1 tmp
	tmp=$(mktemp)
	python3 scripts/entab.py --pre < "$f" | indent "${OPTS[@]}" "${TYPES[@]}" -st |
		python3 scripts/entab.py > "$tmp"
	# indent starts a file with a blank line when it opens with a comment
	sed -i '1{/^$/d}' "$tmp"
	if [[ $check ]]; then
		cmp -s "$f" "$tmp" || { echo "$f"; changed=1; }
		rm -f "$tmp"
	else
		cat "$tmp" > "$f"
		rm -f "$tmp"
	fi
}

check= changed=
case ${1:-} in
	--typedefs) typedefs; exit 0 ;;
	--check) check=1; shift ;;
esac
(($#)) || { echo "usage: scripts/indent.sh [--check] FILE... | --typedefs" >&2; exit 2; }
command -v indent >/dev/null || { echo "GNU indent is not installed: apt-get install indent" >&2; exit 2; }
[[ -f typedefs.list ]] || typedefs
TYPES=()
while read -r t; do TYPES+=(-T "$t"); done < typedefs.list
for f in "$@"; do format_file "$f"; done
[[ -z $changed ]]
