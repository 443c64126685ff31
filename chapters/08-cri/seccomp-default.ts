/**
 * The runtime's default seccomp profile: what a pod's `seccompProfile: RuntimeDefault` asks
 * for (and what kubelet sends for every container since Kubernetes 1.27 when
 * SeccompDefault is on). seccomp is a filter the kernel runs on every system call of the
 * process: here, a list of calls a container has no business making, which fail with EPERM.
 *
 * Where the real ones differ: Docker's, containerd's and cri-o's default profiles are *allow*
 * lists (about 350 calls allowed, everything else refused, with exceptions by capability and
 * architecture), which also refuses calls added to the kernel later. Ours is a *deny* list of
 * the calls those profiles refuse to a container without extra capabilities: shorter to read,
 * the same effect for the calls it names, and weaker for anything new. Privileged containers
 * get no filter at all, as with the real ones.
 */
import type { LinuxSeccomp } from '#lib/oci-spec.ts';

/** Calls Docker's default profile refuses to a container without CAP_SYS_ADMIN and friends. */
export const DENIED_SYSCALLS = [
  // kernel modules, kexec, the clock, swap, reboot, accounting: the host's, not a container's
  'init_module', 'finit_module', 'delete_module', 'kexec_load', 'kexec_file_load', 'reboot',
  'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex', 'stime', 'swapon', 'swapoff', 'acct',
  // mounts and namespaces: the ways out of the container's view of the system
  'mount', 'umount2', 'pivot_root', 'unshare', 'setns', 'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
  // the kernel keyring is not namespaced: one container could read another's keys
  'add_key', 'keyctl', 'request_key',
  // tracing, eBPF, performance counters: reading other processes and the kernel
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'bpf', 'perf_event_open', 'userfaultfd', 'kcmp',
  // old or dangerous interfaces
  'open_by_handle_at', 'name_to_handle_at', 'lookup_dcookie', 'quotactl', 'syslog', 'uselib', 'ustat', 'sysfs', 'vhangup', 'nfsservctl', 'get_kernel_syms', 'query_module', 'create_module', 'personality',
];

export function defaultSeccompProfile(): LinuxSeccomp {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls: [{ names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }], // 1: EPERM
  };
}
