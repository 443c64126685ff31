// wrong: passes the arguments on unchecked, and lets an error of the api escape (the shim's connection dies with it)
// caught by: handleRequest
switch (request.op) {
  case 'state':
    return { ok: true, ...api.state() };
  case 'wait':
    return { ok: true, exit: await api.wait() };
  case 'start':
    await api.start();
    return { ok: true };
  case 'kill':
    await api.kill((request.signal as string) ?? 'SIGTERM');
    return { ok: true };
  case 'resize':
    api.resize(request.rows as number, request.cols as number);
    return { ok: true };
  case 'close-stdin':
    api.closeStdin();
    return { ok: true };
  case 'delete':
    await api.delete();
    return { ok: true };
  default:
    return { ok: false, error: `unknown op ${JSON.stringify(request.op)}` };
}
