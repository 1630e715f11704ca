#!/usr/bin/env bash
# Checks deploy/Dockerfile against this machine's Debian 12 (no container
# daemon needed): every shared library the image's binaries load comes from a
# package of its runtime stage (or of debian:12-slim's own essentials), and
# its build stage installs every package scripts/setup.sh does but the
# development-only ones. Usage: scripts/check-dockerfile.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:?usage: $0 BUILD_DIR}"
dockerfile=deploy/Dockerfile
binaries=(services/crm-scored tools/crm-score tools/crm-devbroker tools/crm-touch tools/crm-demo)
# In debian:12-slim already (Essential or Priority: required).
base=(libc6 libgcc-s1 libstdc++6)

# The words of the lines of `file` from the one matching `from` to the one
# matching `to` that may be package names (the shell words among them too,
# which only the runtime stage's list must leave out).
words() {
  sed -n "/$2/,/$3/p" "$1" | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u
}

runtime=$(words "$dockerfile" '# runtime packages begin' '# runtime packages end' |
  grep -vxE 'apt-get|install|update|rm')
[ -n "$runtime" ] || { echo "check-dockerfile: no runtime package list in $dockerfile" >&2; exit 1; }

failed=0
libraries=()
for binary in "${binaries[@]}"; do
  path="$build_dir/$binary"
  [ -x "$path" ] || { echo "check-dockerfile: $path is not built" >&2; exit 1; }
  if ldd "$path" | grep -q 'not found'; then
    echo "check-dockerfile: $binary needs a library this machine lacks:" >&2
    ldd "$path" | grep 'not found' >&2
    failed=1
  fi
  mapfile -t -O "${#libraries[@]}" libraries < <(ldd "$path" | awk '/=> \// {print $3}')
done
mapfile -t libraries < <(printf '%s\n' "${libraries[@]}" | sort -u)
# The package that owns each library, whichever of /lib and /usr/lib it names.
owners=$(dpkg -S "${libraries[@]}" 2>/dev/null || true)
for library in "${libraries[@]}"; do
  package=$(grep -m1 -F ": $library" <<<"$owners" | cut -d: -f1 || true)
  [ -n "$package" ] || package=$(dpkg -S "/usr$library" 2>/dev/null | cut -d: -f1 | head -1 || true)
  if [ -z "$package" ]; then
    echo "check-dockerfile: $library is loaded but no package owns it" >&2
    failed=1
  elif ! grep -qx -- "$package" <<<"$runtime" && [[ " ${base[*]} " != *" $package "* ]]; then
    echo "check-dockerfile: $library of $package is loaded but missing from the runtime stage" >&2
    failed=1
  fi
done

# The build stage installs what setup.sh installs, but clang-format, prometheus, curl,
# docker-compose, python3-yaml and the browser tests' chromium, chromium-driver and
# python3-selenium (checks and tests, not the build).
setup=$(words scripts/setup.sh '^packages=(' '^)' |
  grep -vxE 'clang-format|prometheus|curl|docker-compose|python3-yaml|chromium|chromium-driver|python3-selenium')
build_stage=$(words "$dockerfile" '^FROM debian:12 AS build' '^FROM ')
for package in $setup; do
  if ! grep -qx -- "$package" <<<"$build_stage"; then
    echo "check-dockerfile: the build stage lacks $package (scripts/setup.sh installs it)" >&2
    failed=1
  fi
done
[ "$failed" -eq 0 ] && echo "check-dockerfile: $dockerfile matches this machine's packages"
exit "$failed"
