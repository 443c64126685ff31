// wrong: the process leaves when any container is deleted, and takes the pod's other containers' shims with it
// caught by: pod-shim:
const shim = new Shim({ ...assignment, handshake: reply }, reaper);
shims.add(shim);
shim.run().then(leave, die);
