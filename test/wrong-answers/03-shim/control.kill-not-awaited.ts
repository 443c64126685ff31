// wrong: api.kill is not awaited: the reply is ok before runc answered, and when runc refuses (signal "TERM") the rejection nobody handles ends the shim
// caught by: handleRequest
try {
  switch (request.op) {
    case 'state':
      return { ok: true, ...api.state() };
    case 'wait':
      return { ok: true, exit: await api.wait() };
    case 'start':
      await api.start();
      return { ok: true };
    case 'kill': {
      const signal = request.signal ?? 'SIGTERM';
      if (typeof signal !== 'string') return { ok: false, error: 'kill: "signal" must be a signal name like "SIGTERM"' };
      void api.kill(signal);
      return { ok: true };
    }
    case 'resize': {
      const { rows, cols } = request;
      if (!Number.isInteger(rows) || !Number.isInteger(cols) || (rows as number) <= 0 || (cols as number) <= 0) {
        return { ok: false, error: 'resize: "rows" and "cols" must be positive integers' };
      }
      api.resize(rows as number, cols as number);
      return { ok: true };
    }
    case 'close-stdin':
      api.closeStdin();
      return { ok: true };
    case 'delete':
      await api.delete();
      return { ok: true };
    default:
      return { ok: false, error: `unknown op ${JSON.stringify(request.op)}: use state, wait, start, kill, resize, close-stdin, delete or attach` };
  }
} catch (error) {
  return { ok: false, error: (error as Error).message };
}
