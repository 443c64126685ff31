// wrong: no timeout of its own: a server that accepts and never answers holds the probe (and the container is never found unhealthy)
// caught by: httpGetProbe
return new Promise((resolve) => {
  let done = false;
  const finish = (result: ProbeResult) => {
    if (done) return;
    done = true;
    request.destroy(); // (the body is not wanted: close the connection)
    resolve(result);
  };
  const headers = { 'User-Agent': PROBE_USER_AGENT, Accept: '*/*', ...Object.fromEntries((target.headers ?? []).map((h) => [h.name, h.value])) };
  const request = http.get(url, { headers, agent: false }, (response) => {
    const code = response.statusCode ?? 0;
    response.resume();
    finish(code >= 200 && code < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
  });
  request.on('error', (error) => finish({ ok: false, message: `Get "${url}": ${error.message}` }));
});
