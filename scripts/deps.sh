#!/usr/bin/env bash
# Install what redtrack needs to build, test, run the demo and benchmark,
# when it is missing.  Idempotent; does nothing when everything is there.
#
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh bench      also what the benchmarks use
set -euo pipefail
cd "$(dirname "$0")/.."

want=(
	gcc make
	postgresql-15 postgresql-contrib postgresql-server-dev-15
	libpq-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
	libipc-run-perl
	nodejs
	curl openssl
)
if [[ "${1:-}" == "bench" ]]; then
	want+=(gnuplot-nox time)
fi

missing=()
for pkg in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$pkg")
	fi
done
# npm ships inside nodesource's nodejs, or as Debian's own package.
command -v npm >/dev/null || missing+=(npm)
# Debian's AWS CLI: tests run it as an unprivileged user, who cannot reach
# one installed under root's home (pip, pyenv).
[[ -x /usr/bin/aws ]] || missing+=(awscli)

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "redtrack: missing packages: ${missing[*]}" >&2
		echo "redtrack: run as root (or install them) and try again" >&2
		exit 1
	fi
	echo "redtrack: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test stack's pinned npm packages.
if [[ ! -d test/stack/node_modules ]] ||
	[[ test/stack/package-lock.json -nt test/stack/node_modules/.package-lock.json ]]; then
	echo "redtrack: npm ci in test/stack"
	(cd test/stack && npm ci --no-audit --no-fund --loglevel=error)
fi
