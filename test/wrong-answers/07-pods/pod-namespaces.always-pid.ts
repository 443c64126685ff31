// wrong: the PID namespace joined whatever the pod shares (podman shares it only with --share pid)
// caught by: pod stop stops the members first
if (!fs.existsSync(`/proc/${infraPid}/ns`)) throw conflict(`the pod's infra container (pid ${infraPid}) is gone: start the pod again (conman pod start)`);
const procName: Record<SharedNamespace, string> = { network: 'net', ipc: 'ipc', uts: 'uts', pid: 'pid' };
const types: SharedNamespace[] = share.includes('pid') ? share : [...share, 'pid'];
return types.map((type) => ({ type, path: `/proc/${infraPid}/ns/${procName[type]}` }));
