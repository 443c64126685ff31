// wrong: a signal's number taken as the exit code (9, not 128 + 9 = 137)
// caught by: decodeWaitStatus
const signal = status & 0x7f;
if (signal === 0) return { exitCode: (status >> 8) & 0xff };
return { exitCode: signal, signal: signalName(signal) };
