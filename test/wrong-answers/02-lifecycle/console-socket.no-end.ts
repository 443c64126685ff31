// wrong: never rejects: a peer that closes without a terminal leaves the caller waiting for the timeout
// caught by: console socket
connection.on('readable', () => {
  const message = connection.read(0, 1) as { fds?: number[] } | null;
  if (message?.fds?.length) {
    resolve(message.fds[0]);
    connection.end();
  }
});
