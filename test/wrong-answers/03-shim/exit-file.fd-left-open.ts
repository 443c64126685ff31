// wrong: the temporary file is never closed: each exit leaks a descriptor in the shim
// caught by: writeExitStatus
const target = path.join(dir, EXIT_FILE);
const temp = `${target}.${process.pid}.tmp`;
const fd = fs.openSync(temp, 'w', 0o644);
try {
  fs.writeSync(fd, JSON.stringify(status) + '\n');
  fs.fsyncSync(fd);
} catch (error) {
  fs.rmSync(temp, { force: true }); // (a full disk: leave no half-written file behind)
  throw error;
}
fs.renameSync(temp, target);
