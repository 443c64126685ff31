// wrong: believes the record before the shim folder: a container that exited during the outage stays "running"
// caught by: reconcile
if (record.status === 'removing') return { status: 'removing' };
if (record.status === 'running' && observed.shimAlive) return { status: 'running' };
if (observed.exit) return { status: 'exited', exit: observed.exit };
if (observed.shimAlive) return { status: 'running' };
if (record.status === 'running' || record.status === 'unknown') return { status: 'unknown' };
return { status: record.status };
