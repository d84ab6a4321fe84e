#!/usr/bin/env bash
# The system programs of the `system` test tier, from Debian's packages: a one-node SLURM (slurmctld, slurmd, munge)
# for tests/test_slurm.py and headless Chromium for the browser tests of tests/test_page.py. `.ci/run` calls this;
# run it yourself (as root) before `pytest -m system`. Without root or apt-get it says so in one line and installs
# nothing: those tests then skip with the reason (CI, which sets LOSSLAND_SYSTEM_TESTS=required, fails instead).
set -euo pipefail
packages=(slurmctld slurmd slurm-client munge chromium-headless-shell)
missing=()
for program in slurmctld slurmd munged chromium-headless-shell; do
    command -v "$program" >/dev/null || missing+=("$program")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "system packages: ${missing[*]} missing and this is not root with apt-get: the system tests will skip"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "system packages: installed ${packages[*]}"
