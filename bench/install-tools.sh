#!/usr/bin/env bash
# What `make bench` needs besides Python: PostgreSQL's server (queries, api, builds),
# nginx (rollback) and wrk (api).  Installed with apt-get when missing and we are root;
# otherwise the command to run is printed and the benchmarks that need the tool fail
# with the same hint.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
missing=()
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  missing+=(nginx-light)
fi
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bench: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "bench: missing ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]})" >&2
fi
