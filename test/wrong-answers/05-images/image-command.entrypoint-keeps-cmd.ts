// wrong: --entrypoint replaces the Entrypoint but the image's Cmd stays as its arguments
// caught by: commandLine
const entrypoint = overrides.entrypoint !== undefined ? (overrides.entrypoint === '' ? [] : [overrides.entrypoint]) : (config.Entrypoint ?? []);
const cmd = overrides.command && overrides.command.length > 0 ? overrides.command : (config.Cmd ?? []);
const args = [...entrypoint, ...cmd];
if (args.length === 0) throw new NoCommandError();
return args;
