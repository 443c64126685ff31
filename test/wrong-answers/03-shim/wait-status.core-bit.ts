// wrong: takes the whole low byte as the signal, the core-dump bit included
// caught by: decodeWaitStatus
const signal = status & 0xff;
if (signal === 0) return { exitCode: (status >> 8) & 0xff };
return { exitCode: 128 + signal, signal: signalName(signal) };
