#!/bin/sh
# Dataproc initialization action: install tshark on every node of the cluster, so ingest can
# convert captures in its Spark tasks (docs/inputs.md). ShipCode uploads it beside the code
# package; the cluster runs it on the master and every worker before any job starts.
set -eu
if command -v tshark >/dev/null 2>&1; then
  tshark --version | head -n 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Answer the package's one question (let non-root users capture?) so the install never waits.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends tshark
tshark --version | head -n 1
