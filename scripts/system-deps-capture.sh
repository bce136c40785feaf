#!/bin/sh
# System programs for captures: tshark and dumpcap (converting and taking captures) and mosquitto
# with mosquitto_passwd (the broker of the test corpus). Installs the missing ones with apt-get when
# run as root on Debian/Ubuntu; elsewhere prints how to get them and exits 1.
set -eu

PATH="$PATH:/usr/sbin:/usr/local/sbin"  # Debian puts mosquitto in /usr/sbin
missing=""
command -v tshark >/dev/null || missing="$missing tshark"
command -v dumpcap >/dev/null || missing="$missing tshark"
command -v mosquitto >/dev/null || missing="$missing mosquitto"
command -v mosquitto_passwd >/dev/null || missing="$missing mosquitto"
[ -z "$missing" ] && exit 0
packages=$(echo "$missing" | tr ' ' '\n' | sort -u | tr '\n' ' ')

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # wireshark-common asks whether non-root users may capture: answer "no" without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq $packages 2>/dev/null || { apt-get update -qq && apt-get install -y -qq $packages; }
  exit 0
fi

echo "Captures need:$missing (not found)." >&2
echo "  Debian/Ubuntu: sudo apt-get install $packages" >&2
echo "  Fedora/RHEL:   sudo dnf install wireshark-cli mosquitto" >&2
echo "  macOS:         brew install wireshark mosquitto" >&2
exit 1
