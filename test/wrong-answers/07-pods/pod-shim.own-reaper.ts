// wrong: each container's Shim gets a reaper of its own: whichever reaps a zombie first keeps its exit
// caught by: pod-shim:
const shim = new Shim({ ...assignment, handshake: reply });
shims.add(shim);
shim.run().then(() => {
  shims.delete(shim);
  if (shims.size === 0) leave();
}, die);
