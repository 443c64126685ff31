// wrong: the spec's names used as /proc's ("network" is "net" there): /proc/PID/ns/network does not exist
// caught by: pod-namespaces
if (!fs.existsSync(`/proc/${infraPid}/ns`)) throw conflict(`the pod's infra container (pid ${infraPid}) is gone: start the pod again (conman pod start)`);
return share.map((type) => ({ type, path: `/proc/${infraPid}/ns/${type}` }));
