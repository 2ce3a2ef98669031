# Shared by scripts/serve and scripts/test (sourced, not run): the Debian packages the build
# needs, installed when missing, and a cargo on PATH. Works on a fresh Debian machine that has
# Rust (rustup), run as root or with sudo. Set SCRIPT_NAME before sourcing.

# Debian packages the build needs: samael (SAML) builds xmlsec bindings with bindgen, which needs
# libclang; the XML signature code links libxml2, xmlsec1 and OpenSSL.
BUILD_PACKAGES="pkg-config build-essential libxml2-dev libxmlsec1-dev libclang-dev libssl-dev"

say() { printf '%s\n' "${SCRIPT_NAME:-idbridge}: $*" >&2; }

# install_packages PKG...: installs the Debian packages of the list that are missing.
install_packages() {
    if ! command -v dpkg >/dev/null 2>&1; then
        say "not a Debian system (no dpkg); assuming these are installed: $*"
        return 0
    fi
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            say "missing packages: ${missing[*]}"
            say "run as root or install sudo, or install them yourself: apt-get install ${missing[*]}"
            exit 1
        fi
    fi
    say "installing missing packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# require_cargo: rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on PATH.
require_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        say "cargo not found: install Rust with rustup (https://rustup.rs), then run this again"
        exit 1
    fi
}
