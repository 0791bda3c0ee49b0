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
	libpq-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libxml2-dev libzstd-dev
	libipc-run-perl
	nodejs
	curl openssl
	indent
	zstd
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
	echo "redtrack: installing ${missing[*]}"
	as_root=()
	if [[ $(id -u) -ne 0 ]]; then
		# Not root: sudo, without a password prompt (scripts and CI must not hang).
		if ! command -v sudo >/dev/null; then
			echo "redtrack: installing the missing packages needs root, and sudo is not installed" >&2
			echo "redtrack: run this as root (e.g. su -c 'make deps'), then again as $(id -un)" >&2
			exit 1
		fi
		if ! sudo -n true 2>/dev/null; then
			echo "redtrack: installing the missing packages needs root, and 'sudo -n' failed for $(id -un)" >&2
			echo "redtrack: (sudo wants a password, or $(id -un) may not use sudo): run 'sudo -v' first, or 'sudo make deps'" >&2
			exit 1
		fi
		as_root=(sudo -n)
	fi
	"${as_root[@]}" apt-get update -qq
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The stand-ins need Node.js 18 or later (test/stack/package.json).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 18)); then
	echo "redtrack: Node.js $(node --version 2>/dev/null || echo '(none)') is too old: the test stack needs 18 or later" >&2
	exit 1
fi

# The test stack's pinned npm packages.
if [[ ! -d test/stack/node_modules ]] ||
	[[ test/stack/package-lock.json -nt test/stack/node_modules/.package-lock.json ]]; then
	echo "redtrack: npm ci in test/stack"
	(cd test/stack && npm ci --no-audit --no-fund --loglevel=error)
fi
