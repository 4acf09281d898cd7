#!/bin/sh
# Installs foldup, the static binary that uploads dbt artifacts to Datafold from any CI.
#
#   curl -fsSL https://github.com/foldup/foldup/releases/download/v0.1.0/install.sh | sh
#   sh install.sh [--version 0.1.0] [--dir DIR] [--base-url URL]
#
# It downloads foldup-<version>-<target>.tar.gz and its .sha256 from
#   <base-url>/v<version>/
# checks the archive against the checksum (sha256sum or shasum), and installs the `foldup` binary
# into DIR. Nothing is installed when the checksum does not match.
#
# Settings, flag first, then variable, then default:
#   --version  FOLDUP_VERSION            the version this script was released with (below)
#   --dir      FOLDUP_INSTALL_DIR        /usr/local/bin when writable, else ~/.local/bin
#   --base-url FOLDUP_INSTALL_BASE_URL   https://github.com/foldup/foldup/releases/download
#                                        (a mirror: the same v<version>/ layout)
#
# On CircleCI and GitHub Actions a DIR that is not on PATH is added to PATH for the later steps
# (through $BASH_ENV and $GITHUB_PATH). Needs: sh, curl or wget, tar, gzip, sha256sum or shasum.
set -eu

default_version="0.1.0"
default_base_url="https://github.com/foldup/foldup/releases/download"

say() { printf 'foldup install: %s\n' "$*" >&2; }
fail() {
  say "$*"
  exit 1
}

version="${FOLDUP_VERSION:-}"
dir="${FOLDUP_INSTALL_DIR:-}"
base_url="${FOLDUP_INSTALL_BASE_URL:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || fail "--version needs a value, e.g. --version $default_version."; version="$2"; shift 2 ;;
    --version=*) version="${1#*=}"; shift ;;
    --dir) [ $# -ge 2 ] || fail "--dir needs a value, e.g. --dir ~/.local/bin."; dir="$2"; shift 2 ;;
    --dir=*) dir="${1#*=}"; shift ;;
    --base-url) [ $# -ge 2 ] || fail "--base-url needs a value, e.g. --base-url $default_base_url."; base_url="$2"; shift 2 ;;
    --base-url=*) base_url="${1#*=}"; shift ;;
    -h | --help)
      sed -n '2,20p' "$0" 2>/dev/null | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) fail "unknown argument '$1'; the arguments are --version V, --dir DIR and --base-url URL." ;;
  esac
done
version="${version:-$default_version}"
version="${version#v}"
base_url="${base_url:-$default_base_url}"
base_url="${base_url%/}"

case "$version" in
  *[!0-9A-Za-z.+-]* | "") fail "'$version' is not a version; give one like --version $default_version." ;;
esac

os="$(uname -s)"
arch="$(uname -m)"
case "$os/$arch" in
  Linux/x86_64 | Linux/amd64) target="x86_64-unknown-linux-musl" ;;
  *) fail "there is no prebuilt foldup for $os/$arch yet; build it from source with: cargo install --git https://github.com/foldup/foldup foldup" ;;
esac

if command -v curl >/dev/null 2>&1; then
  download() { curl --fail --silent --show-error --location --retry 3 --connect-timeout 20 --output "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  download() { wget -q -T 60 -O "$2" "$1"; }
else
  fail "neither curl nor wget is installed; install one of them and run this script again."
fi

if command -v sha256sum >/dev/null 2>&1; then
  sha256_of() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256_of() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  fail "neither sha256sum nor shasum is installed, so the download cannot be verified; install coreutils (or perl's shasum) and run this script again."
fi

if [ -z "$dir" ]; then
  if [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
    dir=/usr/local/bin
  else
    [ -n "${HOME:-}" ] || fail "HOME is not set and /usr/local/bin is not writable; choose a folder with --dir DIR."
    dir="$HOME/.local/bin"
  fi
fi

name="foldup-$version-$target"
archive_url="$base_url/v$version/$name.tar.gz"

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t foldup)"
trap 'rm -rf "$tmp"' EXIT INT TERM

say "downloading $archive_url"
download "$archive_url" "$tmp/$name.tar.gz" ||
  fail "could not download $archive_url; check that version $version exists there (or set FOLDUP_INSTALL_BASE_URL to a mirror that has it)."
download "$archive_url.sha256" "$tmp/$name.tar.gz.sha256" ||
  fail "could not download $archive_url.sha256; a mirror must publish the .sha256 file next to the archive."

expected="$(cut -d ' ' -f 1 "$tmp/$name.tar.gz.sha256" | tr -d '\r\n' | tr 'A-F' 'a-f')"
actual="$(sha256_of "$tmp/$name.tar.gz")"
case "$expected" in
  *[!0-9a-f]* | "") expected="" ;;
esac
[ "${#expected}" -eq 64 ] ||
  fail "$archive_url.sha256 holds no sha256 checksum; nothing was installed, so check the mirror and try again."
[ "$expected" = "$actual" ] ||
  fail "checksum mismatch for $name.tar.gz (expected $expected, got $actual): the download is corrupt or was tampered with, so nothing was installed; try again or check the mirror."

tar -xzf "$tmp/$name.tar.gz" -C "$tmp" ||
  fail "could not unpack $name.tar.gz; nothing was installed, try again."
[ -f "$tmp/$name/foldup" ] ||
  fail "$name.tar.gz holds no $name/foldup; nothing was installed, check the mirror."

mkdir -p "$dir" 2>/dev/null || fail "cannot create $dir; choose a writable folder with --dir DIR."
[ -w "$dir" ] || fail "$dir is not writable; choose another folder with --dir DIR, or run this script with sudo."
cp "$tmp/$name/foldup" "$dir/.foldup.$$"
chmod 0755 "$dir/.foldup.$$"
mv -f "$dir/.foldup.$$" "$dir/foldup"

installed="$("$dir/foldup" --version 2>/dev/null)" ||
  fail "$dir/foldup was installed but does not run on this machine ($os/$arch); report it at https://github.com/foldup/foldup/issues."
say "installed $installed to $dir/foldup"

case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *)
    if [ "${CIRCLECI:-}" = "true" ] && [ -n "${BASH_ENV:-}" ]; then
      # shellcheck disable=SC2016 # $PATH is for the next steps' shell to expand.
      printf 'export PATH="%s:$PATH"\n' "$dir" >>"$BASH_ENV"
      say "added $dir to PATH for the next steps (through \$BASH_ENV)"
    elif [ "${GITHUB_ACTIONS:-}" = "true" ] && [ -n "${GITHUB_PATH:-}" ]; then
      printf '%s\n' "$dir" >>"$GITHUB_PATH"
      say "added $dir to PATH for the next steps (through \$GITHUB_PATH)"
    else
      say "$dir is not on your PATH; add it, or run $dir/foldup"
    fi
    ;;
esac
