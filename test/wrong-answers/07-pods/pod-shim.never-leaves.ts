// wrong: the process stays after its last container (a shim per pod that ever ran, for ever)
// caught by: pod-shim:
const shim = new Shim({ ...assignment, handshake: reply }, reaper);
shims.add(shim);
shim.run().then(() => void shims.delete(shim), die);
