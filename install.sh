#!/bin/sh
# Installs foldup, the static binary that uploads dbt artifacts to Datafold from any CI.
#
#   curl -fsSL https://github.com/foldup/foldup/releases/download/v0.1.0/install.sh | sh
#   curl -fsSL https://github.com/foldup/foldup/releases/download/v0.1.0/install.sh | sh -s -- --help
#   sh install.sh [--version 0.1.0] [--dir DIR] [--base-url URL]
#
# It downloads foldup-<version>-<target>.tar.gz from <base-url>/v<version>/, checks it against the
# sha256 pinned in this script for this version and platform (written by the release, so a mirror or
# a compromised download host cannot swap the binary), and installs the `foldup` binary into DIR.
# Nothing is installed when the checksum does not match. An installer pins one version: install
# another with that version's install.sh. When DIR already holds this version, nothing is downloaded.
#
# Platforms: Linux x86_64 and aarch64 (static, musl), macOS x86_64 and arm64, Windows x86_64 (Git
# Bash, MSYS2 or Cygwin; installs foldup.exe).
#
# Settings, flag first, then variable, then default:
#   --version  FOLDUP_VERSION            the version this script was released with (below)
#   --dir      FOLDUP_INSTALL_DIR        /usr/local/bin when writable, else ~/.local/bin
#   --base-url FOLDUP_INSTALL_BASE_URL   https://github.com/foldup/foldup/releases/download
#                                        (a mirror: the same v<version>/ layout; https only,
#                                        except http on a loopback address, for tests)
#
# On CircleCI and GitHub Actions a DIR that is not on PATH is added to PATH for the later steps
# (through $BASH_ENV and $GITHUB_PATH). Needs: sh, curl or wget, tar, gzip, sha256sum or shasum.
set -eu

default_version="0.1.0"
default_base_url="https://github.com/foldup/foldup/releases/download"

# BEGIN PINNED CHECKSUMS: written by `cargo xtask pin-checksums` in the release workflow; do not edit.
pinned_version="0.1.0"
pinned_sha256() {
  case "$1" in
    x86_64-unknown-linux-musl) echo "" ;;
    aarch64-unknown-linux-musl) echo "" ;;
    x86_64-apple-darwin) echo "" ;;
    aarch64-apple-darwin) echo "" ;;
    x86_64-pc-windows-msvc) echo "" ;;
    *) echo "" ;;
  esac
}
# END PINNED CHECKSUMS

say() { printf 'foldup install: %s\n' "$*" >&2; }
fail() {
  say "$*"
  exit 1
}

usage() {
  # Printed from this text, not from "$0", so that `curl … | sh -s -- --help` works too (and no
  # here-document: the orb embeds this script, and CircleCI reads two less-than signs as its own syntax).
  printf '%s\n' \
    'Installs foldup, the static binary that uploads dbt artifacts to Datafold from any CI.' \
    '' \
    '  curl -fsSL https://github.com/foldup/foldup/releases/download/v<version>/install.sh | sh' \
    '  sh install.sh [--version V] [--dir DIR] [--base-url URL]' \
    '' \
    'Downloads foldup-<version>-<target>.tar.gz from <base-url>/v<version>/, checks it against the sha256' \
    'pinned in this script, and installs the foldup binary into DIR; skips the download when DIR already' \
    'holds that version.' \
    '' \
    '  --version V     FOLDUP_VERSION            default: the version this installer pins' \
    '  --dir DIR       FOLDUP_INSTALL_DIR        default: /usr/local/bin when writable, else ~/.local/bin' \
    '  --base-url URL  FOLDUP_INSTALL_BASE_URL   default: https://github.com/foldup/foldup/releases/download' \
    '                                            (https only; http only on a loopback address)' \
    '' \
    'Platforms: Linux x86_64/aarch64, macOS x86_64/arm64, Windows x86_64 (Git Bash, MSYS2, Cygwin).'
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
      usage
      exit 0
      ;;
    *) fail "unknown argument '$1'; the arguments are --version V, --dir DIR and --base-url URL (--help)." ;;
  esac
done
version="${version:-$default_version}"
version="${version#v}"
base_url="${base_url:-$default_base_url}"
base_url="${base_url%/}"

case "$version" in
  *[!0-9A-Za-z.+-]* | "") fail "'$version' is not a version; give one like --version $default_version." ;;
esac
[ "$version" = "$pinned_version" ] ||
  fail "this installer pins the checksums of foldup $pinned_version, not $version; use the installer of $version: $default_base_url/v$version/install.sh"

case "$base_url" in
  https://*) ;;
  http://127.* | http://localhost:* | http://localhost/* | http://\[::1\]*) ;;
  *) fail "--base-url must be an https:// address (http only on a loopback address, for tests), not '$base_url'." ;;
esac

os="$(uname -s)"
arch="$(uname -m)"
exe=""
case "$os/$arch" in
  Linux/x86_64 | Linux/amd64) target="x86_64-unknown-linux-musl" ;;
  Linux/aarch64 | Linux/arm64 | Linux/armv8*) target="aarch64-unknown-linux-musl" ;;
  Darwin/x86_64) target="x86_64-apple-darwin" ;;
  Darwin/arm64 | Darwin/aarch64) target="aarch64-apple-darwin" ;;
  MINGW64*/x86_64 | MSYS*/x86_64 | CYGWIN*/x86_64 | Windows_NT/x86_64 | Windows_NT/AMD64)
    target="x86_64-pc-windows-msvc"
    exe=".exe"
    ;;
  *) fail "there is no prebuilt foldup for $os/$arch yet; build it from source with: cargo install --git https://github.com/foldup/foldup foldup" ;;
esac
expected="$(pinned_sha256 "$target")"
case "$expected" in
  *[!0-9a-f]* | "") fail "this installer carries no pinned checksum for $target (an unreleased checkout?); use the install.sh published with a release: $default_base_url/v$pinned_version/install.sh" ;;
esac

if command -v curl >/dev/null 2>&1; then
  download() { curl --fail --silent --show-error --location --proto '=https,http' --retry 3 --connect-timeout 20 --output "$2" "$1"; }
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

add_to_path() {
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *)
      if [ "${CIRCLECI:-}" = "true" ] && [ -n "${BASH_ENV:-}" ]; then
        # shellcheck disable=SC2016 # $PATH is for the next steps' shell to expand.
        printf 'export PATH="%s:$PATH"\n' "$dir" >>"$BASH_ENV"
        say "added $dir to PATH for the next steps (through \$BASH_ENV)"
      elif [ "${GITHUB_ACTIONS:-}" = "true" ] && [ -n "${GITHUB_PATH:-}" ]; then
        if [ -n "$exe" ] && command -v cygpath >/dev/null 2>&1; then
          cygpath -w "$dir" >>"$GITHUB_PATH" # the Windows runner reads Windows paths
        else
          printf '%s\n' "$dir" >>"$GITHUB_PATH"
        fi
        say "added $dir to PATH for the next steps (through \$GITHUB_PATH)"
      else
        say "$dir is not on your PATH; add it, or run $dir/foldup$exe"
      fi
      ;;
  esac
}

if [ -x "$dir/foldup$exe" ] && [ "$("$dir/foldup$exe" --version 2>/dev/null || true)" = "foldup $version" ]; then
  say "foldup $version is already installed at $dir/foldup$exe; nothing to download"
  add_to_path
  exit 0
fi

name="foldup-$version-$target"
archive_url="$base_url/v$version/$name.tar.gz"

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t foldup)"
trap 'rm -rf "$tmp"' EXIT INT TERM

say "downloading $archive_url"
download "$archive_url" "$tmp/$name.tar.gz" ||
  fail "could not download $archive_url; check that version $version exists there (or set FOLDUP_INSTALL_BASE_URL to a mirror that has it)."

actual="$(sha256_of "$tmp/$name.tar.gz")"
[ "$expected" = "$actual" ] ||
  fail "checksum mismatch for $name.tar.gz (pinned $expected, got $actual): the download is corrupt or is not foldup $version's release, so nothing was installed; try again or check the mirror."

tar -xzf "$tmp/$name.tar.gz" -C "$tmp" ||
  fail "could not unpack $name.tar.gz; nothing was installed, try again."
[ -f "$tmp/$name/foldup$exe" ] ||
  fail "$name.tar.gz holds no $name/foldup$exe; nothing was installed, check the mirror."

mkdir -p "$dir" 2>/dev/null || fail "cannot create $dir; choose a writable folder with --dir DIR."
[ -w "$dir" ] || fail "$dir is not writable; choose another folder with --dir DIR, or run this script with sudo."
cp "$tmp/$name/foldup$exe" "$dir/.foldup.$$$exe"
chmod 0755 "$dir/.foldup.$$$exe"
mv -f "$dir/.foldup.$$$exe" "$dir/foldup$exe"

installed="$("$dir/foldup$exe" --version 2>/dev/null)" ||
  fail "$dir/foldup$exe was installed but does not run on this machine ($os/$arch); report it at https://github.com/foldup/foldup/issues."
say "installed $installed to $dir/foldup$exe"
add_to_path
