// wrong: writes exit.json in place: a reader (or a crash) can see half a file
// caught by: writeExitStatus
fs.writeFileSync(path.join(dir, EXIT_FILE), JSON.stringify(status) + '\n');
