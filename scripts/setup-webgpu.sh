#!/usr/bin/env bash
# Makes a Debian 12 machine able to run WebGPU in Node (Dawn) without a GPU, and installs the other
# system tools the project uses (ffmpeg for video in/out, chromium for the browser tests).
#
# Driver: Mesa 25 lavapipe from the bookworm-backports suite (Vulkan 1.3 on the CPU, offers shader-f16).
# Debian 12's own Mesa 22 lavapipe does not work with current Dawn. Falls back to the SwiftShader ICD that
# Debian's chromium-common ships (no shader-f16). On other apt systems without a bookworm source (Ubuntu
# 24.04 ships Mesa 24) the distribution's own mesa-vulkan-drivers is installed when it is Mesa 23 or newer.
#
# The backports source is derived from the machine's own apt configuration: whatever mirror serves
# "bookworm" here also serves "bookworm-backports".
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

want_chromium=1
want_ffmpeg=1
for a in "$@"; do
  case "$a" in
    --no-chromium) want_chromium=0 ;;
    --no-ffmpeg) want_ffmpeg=0 ;;
    *) echo "setup-webgpu: unknown option $a" >&2; exit 2 ;;
  esac
done

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

add_backports_source() {
  if grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
    return 0
  fi
  local uri="" keyring=""
  # deb822 style (debian.sources)
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    if grep -qE '^Suites:.*\bbookworm\b' "$f"; then
      uri=$(awk '/^URIs:/{print $2; exit}' "$f")
      keyring=$(awk '/^Signed-By:/{print $2; exit}' "$f")
      break
    fi
  done
  # one-line style (sources.list)
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "setup-webgpu: no apt source for Debian bookworm found; cannot derive bookworm-backports" >&2
    return 1
  fi
  {
    echo "Types: deb"
    echo "URIs: $uri"
    echo "Suites: bookworm-backports"
    echo "Components: main"
    [ -n "$keyring" ] && echo "Signed-By: $keyring"
  } | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  echo "setup-webgpu: added bookworm-backports from $uri"
}

lavapipe_ok() {
  # Mesa >= 23 lavapipe
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 23 && ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1
}

pkgs=()
have_pkg libvulkan1 || pkgs+=(libvulkan1)
[ $want_ffmpeg = 1 ] && ! command -v ffmpeg >/dev/null && pkgs+=(ffmpeg)
[ $want_chromium = 1 ] && ! have_pkg chromium && pkgs+=(chromium)

need_update=1
if ! lavapipe_ok; then
  if add_backports_source; then
    $SUDO apt-get update -qq
    need_update=0
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers \
      || echo "setup-webgpu: Mesa from bookworm-backports did not install; will use SwiftShader" >&2
  else
    # Not Debian 12: the distribution's own Mesa, when it is recent enough (checked by lavapipe_ok below).
    $SUDO apt-get update -qq
    need_update=0
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers \
      || echo "setup-webgpu: mesa-vulkan-drivers did not install" >&2
  fi
fi
if ! lavapipe_ok && ! have_pkg chromium-common; then pkgs+=(chromium-common); fi

if [ ${#pkgs[@]} -gt 0 ]; then
  [ $need_update = 1 ] && $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

if lavapipe_ok; then
  echo "setup-webgpu: lavapipe $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) ready (shader-f16)"
elif [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
  echo "setup-webgpu: SwiftShader ready (no shader-f16)"
else
  echo "setup-webgpu: no usable Vulkan driver was installed" >&2
  exit 1
fi
