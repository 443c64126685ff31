// wrong: reads only the exit code: a death by signal comes out as exit 0
// caught by: decodeWaitStatus
return { exitCode: (status >> 8) & 0xff };
