// wrong: the temporary file goes to the system's temp folder: rename(2) cannot cross filesystems (EXDEV)
// caught by: writeExitStatus
const temp = `/tmp/exit.${process.pid}.tmp`;
fs.writeFileSync(temp, JSON.stringify(status) + '\n');
fs.renameSync(temp, path.join(dir, EXIT_FILE));
