// wrong: any container without a live shim becomes "unknown", created and exited ones included
// caught by: reconcile
if (record.status === 'removing') return { status: 'removing' };
if (observed.exit) return { status: 'exited', exit: observed.exit };
if (observed.shimAlive) return { status: 'running' };
return { status: 'unknown' };
