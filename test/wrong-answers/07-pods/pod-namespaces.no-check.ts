// wrong: the paths are given even when the infra is gone (runc fails later, and less clearly)
// caught by: pod-namespaces
const procName: Record<SharedNamespace, string> = { network: 'net', ipc: 'ipc', uts: 'uts', pid: 'pid' };
return share.map((type) => ({ type, path: `/proc/${infraPid}/ns/${procName[type]}` }));
