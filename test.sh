#!/usr/bin/env bash
# Runs every Vireo test: formatting, go vet, the unit and integration tests
# with the race detector, and the end-to-end tests that start the vireo
# binary and drive it with govc and govmomi.
#
# It installs what the suite needs when it can: govc (with `go install`,
# cached per user) and any Debian packages listed in APT_PACKAGES (only as
# root and online; otherwise it prints what to install).
#
# Usage: ./test.sh [go test flags]     e.g. ./test.sh -run TestGovc -v
# Environment:
#   VIREO_TEST_RACE=0   run without the race detector (faster)
set -euo pipefail
cd "$(dirname "$0")"

GOVC_VERSION=v0.46.3
# Debian packages the suite needs: QEMU runs the qemu backend's VMs, and
# genisoimage masters the guest image. The guest's own packages (a cloud
# kernel, busybox, isolinux) are fetched with `apt-get download` by
# `vireo guest build`, so apt's package lists must be present.
APT_PACKAGES=(qemu-system-x86 qemu-utils genisoimage)

note() { printf '==> %s\n' "$*"; }
fail() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

install_apt_packages() {
	local missing=()
	for p in "${APT_PACKAGES[@]}"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	# `apt-get download` of the guest's packages needs package lists.
	local lists=1
	command -v apt-cache >/dev/null && apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || lists=0
	[ ${#missing[@]} -eq 0 ] && [ "$lists" = 1 ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		note "not root or no apt-get: please install ${missing[*]}; tests that need them will skip or fail"
		return 0
	fi
	note "installing ${missing[*]:-nothing} (and refreshing apt's package lists)"
	if ! { apt-get update -qq && { [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; }; }; then
		note "could not install ${missing[*]} (offline?); tests that need them will skip or fail"
	fi
}

# is_govc BIN: BIN is govc built from govmomi $GOVC_VERSION.
is_govc() {
	local info
	[ -x "$1" ] && info="$(go version -m "$1" 2>/dev/null)" &&
		grep -q "^[[:space:]]path[[:space:]]github.com/vmware/govmomi/govc$" <<<"$info" &&
		grep -q "^[[:space:]]mod[[:space:]]github.com/vmware/govmomi[[:space:]]$GOVC_VERSION[[:space:]]" <<<"$info"
}

# find_govc prints the path of a govc $GOVC_VERSION, installing it if needed.
find_govc() {
	local cache="${XDG_CACHE_HOME:-$HOME/.cache}/vireo/govc-$GOVC_VERSION"
	local c
	for c in "${VIREO_E2E_GOVC:-}" "$(command -v govc || true)" "$(go env GOPATH)/bin/govc" "$cache/govc"; do
		if [ -n "$c" ] && is_govc "$c"; then
			echo "$c"
			return 0
		fi
	done
	note "installing govc $GOVC_VERSION into $cache" >&2
	(cd / && GOBIN="$cache" GOFLAGS= go install "github.com/vmware/govmomi/govc@$GOVC_VERSION") >&2 ||
		fail "cannot install govc $GOVC_VERSION (offline?); set VIREO_E2E_GOVC to a govc $GOVC_VERSION binary"
	echo "$cache/govc"
}

command -v go >/dev/null || fail "Go is not installed; get it from https://go.dev/dl/ (version $(awk '/^go /{print $2}' go.mod) or newer)"
install_apt_packages
VIREO_E2E_GOVC="$(find_govc)"
export VIREO_E2E_GOVC
note "govc: $VIREO_E2E_GOVC"

# Every step runs even when an earlier one fails; the exit status says
# whether all passed.
failed=()
step() {
	local name="$1"
	shift
	note "$name"
	"$@" || failed+=("$name")
}

check_gofmt() {
	local files
	files="$(gofmt -l .)"
	[ -z "$files" ] && return 0
	printf 'files need gofmt -w:\n%s\n' "$files" >&2
	return 1
}

# The race detector checks the unit tests and, through VIREO_E2E_RACE, the
# server process the end-to-end tests drive.
race=(-race)
export VIREO_E2E_RACE=1
if [ "${VIREO_TEST_RACE:-1}" = 0 ]; then
	race=()
	VIREO_E2E_RACE=0
fi
mapfile -t packages < <(go list ./... | grep -v '/test/e2e$')

step "gofmt" check_gofmt
step "go vet ./..." go vet ./...
step "go test ${race[*]} (unit and integration tests)" go test "${race[@]}" -timeout 10m "$@" "${packages[@]}"
# -count=1: these tests build and run the vireo binary themselves, so Go's
# test cache cannot tell when the server changed.
step "go test ./test/e2e (end-to-end: the vireo binary driven by govc and govmomi)" go test -count=1 -timeout 20m "$@" ./test/e2e/

if [ ${#failed[@]} -gt 0 ]; then
	printf '\ntest.sh: FAILED:' >&2
	printf ' [%s]' "${failed[@]}" >&2
	printf '\n' >&2
	exit 1
fi
note "all tests passed"
