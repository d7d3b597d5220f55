#!/usr/bin/env bash
# Prepare this checkout to run and test config_center. Idempotent: safe to run
# before every command; a second run with nothing changed takes about a second.
#
#  1. Debian packages listed in scripts/apt-packages.txt: installed with apt-get
#     when some are missing and we are root; otherwise the command is printed.
#  2. .venv: a virtual environment made with python3 (3.11 is the project's
#     version; 3.10 or newer is required by Django 5.2).
#  3. requirements.txt installed into .venv, skipped when the file is unchanged
#     since the last successful install.
#  4. package-lock.json installed with npm into node_modules (the console's
#     editor), skipped the same way.
#  5. etcd's v3 API modules generated from etcd's .proto files
#     (scripts/generate_etcd_api.py), skipped the same way.
#  6. the Go programs under go/src/cctools/ (clientv3 acceptance tests and
#     the gRPC load tool) built into .venv/go-bin/, skipped the same way.
#
# Environment: CONFIG_CENTER_PYTHON picks the interpreter (default: python3).
set -euo pipefail

cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- 1. Debian packages -----------------------------------------------------
apt_list=scripts/apt-packages.txt
wanted=()
while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%#*}"
    line="${line//[[:space:]]/}"
    [[ -n "$line" ]] && wanted+=("$line")
done < "$apt_list"

if ((${#wanted[@]})); then
    command -v dpkg >/dev/null || die "not a Debian system; install by hand: ${wanted[*]}"
    missing=()
    for package in "${wanted[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if ((${#missing[@]})); then
        if [[ "$(id -u)" -eq 0 ]]; then
            say "installing Debian packages: ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        else
            die "missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        fi
    fi
fi

# --- 2. virtual environment ---------------------------------------------------
python="${CONFIG_CENTER_PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found; install Python 3.11"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$python is $("$python" -V 2>&1); Django 5.2 needs 3.10+ (the project uses 3.11)"

if [[ -x .venv/bin/python ]] && ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    say ".venv is broken (its interpreter does not start); recreating it"
    rm -rf .venv
fi
if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv with $("$python" -V 2>&1)"
    "$python" -m venv .venv
fi

# --- 3. Python packages -------------------------------------------------------
stamp=.venv/.requirements.sha256
want_hash="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want_hash" ]]; then
    say "installing requirements.txt into .venv"
    .venv/bin/python -m pip install -q -q --disable-pip-version-check -r requirements.txt
    printf '%s\n' "$want_hash" > "$stamp"
fi

# --- 4. the console's browser code ---------------------------------------------
# CodeMirror (the item editor) comes from the npm registry, pinned by
# package-lock.json, into node_modules/ (not committed); Django serves it under
# /static/vendor/codemirror/. Skipped when the lock file is unchanged.
lock_stamp=node_modules/.lock.sha256
want_lock="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ ! -f "$lock_stamp" || "$(cat "$lock_stamp")" != "$want_lock" ]]; then
    command -v npm >/dev/null || die "npm not found; install Debian's nodejs package"
    say "installing the console's JavaScript packages (npm ci)"
    npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null
    printf '%s\n' "$want_lock" > "$lock_stamp"
fi

# --- 5. etcd's v3 API, generated ------------------------------------------------
# The protobuf and gRPC modules of etcd 3.4's API, compiled from etcd's own
# .proto files (fetched from Debian) into consensus/grpc/etcdpb/ (not
# committed); skipped when nothing changed. See the script's docstring.
.venv/bin/python scripts/generate_etcd_api.py

# --- 6. the Go clientv3 programs -------------------------------------------------
# GOPATH mode over Debian's Go sources (/usr/share/gocode: etcd's clientv3,
# grpc-go and the rest), so nothing is downloaded; the build cache lives in
# .venv. Skipped when the sources and the Go version are unchanged.
go_stamp=.venv/go-bin/.sources.sha256
want_go="$( (go version; find go -name '*.go' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$go_stamp" || "$(cat "$go_stamp")" != "$want_go" ]]; then
    say "building the Go clientv3 programs into .venv/go-bin"
    mkdir -p .venv/go-bin
    for program in go/src/cctools/*/; do
        name="$(basename "$program")"
        GO111MODULE=off GOPATH="$PWD/go:/usr/share/gocode" GOCACHE="$PWD/.venv/go-cache" GOFLAGS= \
            go build -o ".venv/go-bin/$name" "cctools/$name"
    done
    printf '%s\n' "$want_go" > "$go_stamp"
fi
