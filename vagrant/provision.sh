#!/usr/bin/env bash
# Provision a Debian 12 (bookworm) machine for the conman workshop.
#
# Used by three callers, so it must be idempotent and cheap to re-run:
#   * the Vagrant VM (vagrant/Vagrantfile's shell provisioner),
#   * the repo's `./workshop` launcher on a bare Debian 12 machine,
#   * CI (no internet there: when nothing is missing we must not touch the
#     network at all, and a re-run should take well under 2 seconds).
#
# It installs system packages and Node.js >= 20 and fixes up the host
# (cgroups, kernel modules). It deliberately does NOT install the npm
# dependencies: the launcher (and the Vagrantfile, for convenience) does that.
set -euo pipefail

log() { printf 'provision: %s\n' "$*"; }
warn() { printf 'provision: WARNING: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "provision: run as root: sudo $0" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg (e.g. unattended-upgrades on a freshly booted
# VM) instead of failing immediately on the lock.
APT_OPTS=(-o DPkg::Lock::Timeout=300)

# Inside the workshop VM? The Vagrantfile creates the marker file before it
# calls us; WORKSHOP_IN_VM=1 lets other VM setups say the same.
in_vm=0
if [ -e /etc/conman-workshop-vm ] || [ "${WORKSHOP_IN_VM:-}" = "1" ]; then
  in_vm=1
fi

# ---------------------------------------------------------------------------
# System packages
# ---------------------------------------------------------------------------
# `./workshop vm-test` reads this list to build its guest (lib/vm/packages.ts):
# keep it one literal array of package names (comments are fine), no
# variables or quotes inside the parentheses.
packages=(
  runc crun                      # OCI runtimes the chapters drive directly
  containernetworking-plugins    # CNI plugins (bridge, host-local, ...)
  iproute2 iptables              # netns/veth plumbing and NAT
  docker-registry                # local OCI distribution registry
  busybox-static                 # statically linked rootfs payload
  conmon containerd              # container monitor / reference CRI runtime
  skopeo umoci zstd              # copy and unpack OCI images; zstd makes a zstd layer for the checks
  procps util-linux psmisc       # ps, nsenter/unshare/mount, fuser/killall
  catatonit                      # a pod's infra process (chapter 07), podman's pause
  ca-certificates curl git jq
  g++ make python3               # node-gyp builds the usocket addon at npm ci (chapter 02)
)
# Vagrant is only needed outside the VM, so the test suite can validate
# vagrant/Vagrantfile. Inside the VM it would be dead weight.
# vagrant-libvirt (only Ruby libraries, no libvirt daemon) is needed too:
# plain `vagrant validate` fails with "No usable default provider could be
# found" when no provider is usable, and VirtualBox is not in Debian main.
# It is a Recommends of vagrant, which --no-install-recommends would skip.
if [ "$in_vm" = "0" ]; then
  packages+=(vagrant vagrant-libvirt)
fi

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = "0" ]; then
    apt-get "${APT_OPTS[@]}" update -qq
    apt_updated=1
  fi
}

# One dpkg-query call for all packages (fast, offline). Packages dpkg has
# never heard of are not printed at all (and make it exit non-zero), so we
# collect the installed ones and treat everything else as missing.
declare -A installed=()
while read -r name status; do
  if [ "$status" = "install ok installed" ]; then installed[$name]=1; fi
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
  [ -n "${installed[$p]:-}" ] || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_update_once
  apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}"
else
  log "system packages OK"
fi

# ---------------------------------------------------------------------------
# Node.js >= 20 (the workshop is TypeScript run through tsx; package.json
# says engines.node >= 20). Debian 12 ships Node 18, so use NodeSource.
# ---------------------------------------------------------------------------
node_major=0
node_found=none
if command -v node >/dev/null 2>&1; then
  node_found="$(node --version 2>/dev/null || true)"   # e.g. v20.11.1
  v="${node_found#v}"
  v="${v%%.*}"
  case "$v" in '' | *[!0-9]*) node_major=0 ;; *) node_major="$v" ;; esac
fi

if [ "$node_major" -ge 20 ]; then
  log "node $(node --version) OK"
else
  log "installing Node.js 20 from NodeSource (found: ${node_found:-none})"
  # Plain apt source + signed-by key; apt reads an ASCII-armored key directly
  # when the file ends in .asc, so no gnupg is needed.
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key \
    -o /etc/apt/keyrings/nodesource.asc
  cat >/etc/apt/sources.list.d/nodesource.sources <<'EOF'
Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Signed-By: /etc/apt/keyrings/nodesource.asc
EOF
  # Prefer NodeSource's nodejs over Debian's (18.x) whatever the versions say.
  cat >/etc/apt/preferences.d/nodesource <<'EOF'
Package: nodejs
Pin: origin deb.nodesource.com
Pin-Priority: 600
EOF
  # The new source needs its own index, even if we updated above.
  apt-get "${APT_OPTS[@]}" update -qq
  apt_updated=1
  apt-get "${APT_OPTS[@]}" install -y -qq nodejs
  hash -r
  # Verify: an older node earlier in PATH (e.g. /usr/local/bin) would shadow it.
  v="$(node --version 2>/dev/null || true)"
  v="${v#v}"
  if [ "${v%%.*}" -ge 20 ] 2>/dev/null; then
    log "node v$v installed"
  else
    echo "provision: Node.js 20 install did not give node >= 20 on PATH (node: $(command -v node || echo none), version: ${v:-none})" >&2
    exit 1
  fi
fi

# ---------------------------------------------------------------------------
# cgroups
# ---------------------------------------------------------------------------
# In hybrid mode (v1 controllers under /sys/fs/cgroup/<ctrl> plus a cgroup2
# mount at /sys/fs/cgroup/unified) crun refuses to run as soon as any
# controller is enabled on the v2 side ("cgroups in hybrid mode not
# supported, drop all controllers from cgroupv2"). Typically that is hugetlb,
# the one controller nobody mounted as v1. Binding it to a v1 hierarchy
# removes it from cgroup2 and makes crun happy. /sys/fs/cgroup is a tmpfs in
# hybrid mode, so the mkdir works. Not persistent across reboots; the
# launcher re-runs this script anyway. Pure cgroup v2 (the VM) needs nothing.
cg_unified=/sys/fs/cgroup/unified
if awk -v m="$cg_unified" '$2 == m && $3 == "cgroup2" { f = 1 } END { exit !f }' /proc/mounts \
  && [ -r "$cg_unified/cgroup.controllers" ]; then
  v2_ctrls="$(cat "$cg_unified/cgroup.controllers")"
  hugetlb_v1_mounted=0
  if awk '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == "hugetlb") f = 1 }
          END { exit !f }' /proc/mounts; then
    hugetlb_v1_mounted=1
  fi
  if [[ " $v2_ctrls " == *" hugetlb "* ]] && [ "$hugetlb_v1_mounted" = "0" ]; then
    if mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb; then
      log "cgroups: hybrid mode with hugetlb on cgroup2 (crun refuses that); mounted hugetlb as v1 at /sys/fs/cgroup/hugetlb"
    else
      warn "cgroups: hybrid mode with hugetlb on cgroup2, and mounting it as v1 failed; crun will refuse to run"
    fi
    v2_ctrls="$(cat "$cg_unified/cgroup.controllers")"
  else
    log "cgroups: hybrid mode, cgroup2 side has no hugetlb; OK"
  fi
  # Anything else still enabled on the v2 side also upsets crun; say so.
  if [ -n "${v2_ctrls//[[:space:]]/}" ]; then
    warn "cgroups: controllers still on cgroup2 in hybrid mode: $v2_ctrls (crun may refuse to run)"
  fi
fi

# ---------------------------------------------------------------------------
# Kernel modules
# ---------------------------------------------------------------------------
# overlayfs for image snapshots/rootfs layering. Networking uses plain
# bridges + iptables, no br_netfilter needed. modprobe may be missing or
# forbidden (containers, CI): never fail on it.
modprobe overlay 2>/dev/null || true

# ---------------------------------------------------------------------------
# veth MAC addresses (chapter 06)
# ---------------------------------------------------------------------------
# systemd-udevd gives every new interface a "persistent" MAC address
# (99-default.link: MACAddressPolicy=persistent), veth pairs included, a
# moment after the CNI bridge plugin made them and reported their MAC: its
# CHECK then fails with "Interface vethX Mac doesn't match". Leave veth MACs
# to whoever made them (what Flannel and Cilium ask of systemd hosts too).
if [ -d /run/systemd/system ] || command -v udevadm > /dev/null 2>&1; then
  link=/etc/systemd/network/90-conman-workshop-veth.link
  if [ ! -f "$link" ]; then
    mkdir -p /etc/systemd/network
    printf '[Match]\nDriver=veth\n\n[Link]\nMACAddressPolicy=none\n' > "$link"
    udevadm control --reload 2>/dev/null || true
    log "networking: veth MAC addresses left to the CNI plugins ($link)"
  fi
fi

log "done"
