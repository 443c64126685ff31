// wrong: checks rows and cols for truthiness only (a string or 24.5 gets through), and the kill signal not at all
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
    case 'kill':
      await api.kill(String(request.signal ?? 'SIGTERM'));
      return { ok: true };
    case 'resize':
      if (!request.rows || !request.cols || (request.rows as number) < 0 || (request.cols as number) < 0) return { ok: false, error: 'resize: "rows" and "cols" must be positive integers' };
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
} catch (error) {
  return { ok: false, error: (error as Error).message };
}
