// wrong: reads the data (the terminal's name) and never asks for the descriptor that came with it
// caught by: console socket
connection.on('readable', () => {
  const message = connection.read() as Buffer | null;
  if (message === null) return;
  reject(new Error(`the runtime sent ${message.toString()} but no terminal`));
});
connection.on('end', () => reject(new Error('the runtime sent no terminal')));
