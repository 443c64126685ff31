// wrong: looks the container up in `runc list` and reports "stopped" for an id it does not know, instead of the runtime's error
// caught by: each method alone.* state:
const { stdout } = await this.invoke(['list', '--format', 'json']);
const all = (JSON.parse(stdout || '[]') ?? []) as ContainerState[];
return all.find((c) => c.id === id) ?? ({ ociVersion: '1.0.2', id, pid: 0, status: 'stopped', bundle: '' } as ContainerState);
