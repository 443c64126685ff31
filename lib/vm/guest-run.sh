#!/bin/bash
# The VM test, inside the guest. lib/vm/work-disk.ts puts this file on the work disk as
# vm-test/run.sh; the guest's conman-vm-test.service (lib/vm/guest-image.ts) runs it as root
# once the boot is complete, and powers the guest off when it returns.
#
# It runs what a learner runs in the Vagrant VM (the launcher, so provision.sh runs too, offline)
# and writes everything to vm-test/results/ on the work disk, where the host reads it back
# after the guest is off (lib/vm/results.ts). Lines starting with "vm-test:" on the console are
# the host's progress display. /run is left as the boot mounted it (noexec): that is the point.
set -u
here=/home/vagrant/vm-test
out=$here/results
repo=/home/vagrant/conman-workshop
mkdir -p "$out"
# WORKSHOP_SLOW (may be empty) and VMTEST_CHAPTERS, written by the host for this run.
. "$here/env"
if [ -n "${WORKSHOP_SLOW:-}" ]; then export WORKSHOP_SLOW; else unset WORKSHOP_SLOW; fi

# One line per stage: on the console for the host, in results/progress with the guest's clock.
say() {
  echo "vm-test: $*"
  echo "$(cut -d' ' -f1 /proc/uptime) $*" >>"$out/progress"
  sync
}

say "guest up after $(cut -d' ' -f1 /proc/uptime) s"
{
  echo "debian: $(cat /etc/debian_version)"
  echo "kernel: $(uname -r)"
  echo "cpus: $(nproc)"
  echo "memory: $(awk '/^MemTotal:/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)"
  echo "node: $(node --version 2>&1)"
  echo "/run: $(findmnt -no FSTYPE,OPTIONS /run)"
  echo "/sys/fs/cgroup: $(stat -fc %T /sys/fs/cgroup)"
  echo "cgroup v2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"
  echo "cgroup v1 hierarchies: $(awk '$3 == "cgroup"' /proc/mounts | wc -l)"
  echo "WORKSHOP_SLOW: ${WORKSHOP_SLOW:-(unset)}"
} >"$out/facts.txt" 2>&1

cd "$repo" || { say "no repository at $repo"; exit 1; }

say "doctor"
t0=$(date +%s)
./workshop doctor >"$out/doctor.txt" 2>&1
echo $? >"$out/doctor.rc"
echo $(($(date +%s) - t0)) >"$out/doctor.seconds"
say "doctor done, exit $(cat "$out/doctor.rc")"

say "check $VMTEST_CHAPTERS --target solutions"
# The checks' own log as it grows, on the console: the host shows its last line as progress.
mkdir -p .workshop && : >.workshop/last-check.log
tail -n +1 -F .workshop/last-check.log 2>/dev/null &
tailer=$!
t0=$(date +%s)
./workshop check "$VMTEST_CHAPTERS" --target solutions --json >"$out/check.jsonl" 2>"$out/check.stderr"
echo $? >"$out/check.rc"
echo $(($(date +%s) - t0)) >"$out/check.seconds"
kill "$tailer" 2>/dev/null
cp .workshop/last-check.log "$out/last-check.log" 2>/dev/null
say "check done, exit $(cat "$out/check.rc")"

journalctl -b -p warning --no-pager >"$out/journal-warnings.txt" 2>&1
touch "$out/done"
say "finished; powering off"
sync
