// wrong: a plain Error for a gone infra: conmand answers it as a 500 of its own, not as the 409 that tells the caller to start the pod again
// caught by: pod-namespaces
if (!fs.existsSync(`/proc/${infraPid}/ns`)) throw new Error(`the pod's infra container (pid ${infraPid}) is gone: start the pod again (conman pod start)`);
const procName: Record<SharedNamespace, string> = { network: 'net', ipc: 'ipc', uts: 'uts', pid: 'pid' };
return share.map((type) => ({ type, path: `/proc/${infraPid}/ns/${procName[type]}` }));
