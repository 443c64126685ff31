// wrong: the manifest's httpHeaders are left out: a probe of a server that routes by Host or wants a token always fails
// caught by: httpGetProbe
return new Promise((resolve) => {
  let done = false;
  const finish = (result: ProbeResult) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    request.destroy(); // (the body is not wanted: close the connection)
    resolve(result);
  };
  const headers = { 'User-Agent': PROBE_USER_AGENT, Accept: '*/*', };
  const request = http.get(url, { headers, agent: false }, (response) => {
    const code = response.statusCode ?? 0;
    response.resume();
    finish(code >= 200 && code < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
  });
  // A deadline for the whole exchange: a server that accepts and never answers is a failure.
  const timer = setTimeout(() => finish({ ok: false, message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` }), timeoutMs);
  request.on('error', (error) => finish({ ok: false, message: `Get "${url}": ${error.message}` }));
});
