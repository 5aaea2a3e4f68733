# Shared by scripts/setup.sh and scripts/db.sh: messages, root commands, Debian packages.
# Set GRIDMAP_STEP before sourcing to name the step in messages.
say() { printf '\033[1m[gridmap %s]\033[0m %s\n' "${GRIDMAP_STEP:-setup}" "$*"; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root to run: $* (install it by hand, or run as root)"; return 1; fi
}
_apt_updated=0
# Install the Debian packages that are not installed yet (apt-get update once per run, only when needed).
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  if [ $_apt_updated = 0 ]; then as_root apt-get update -qq; _apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
