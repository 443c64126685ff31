// wrong: "8080:80" read as container port 8080, host port 80 (the order is host first, as in -p HOST:CONTAINER)
// caught by: parsePublish
const slash = spec.lastIndexOf('/');
const protocol = slash === -1 ? 'tcp' : spec.slice(slash + 1).toLowerCase();
if (protocol !== 'tcp' && protocol !== 'udp') throw new PublishError(`-p ${spec}: protocol "${protocol}" must be tcp or udp`);
const parts = (slash === -1 ? spec : spec.slice(0, slash)).split(':');
if (parts.length < 2 || parts.length > 3) throw new PublishError(`-p ${spec}: give [hostIP:]hostPort:containerPort[/tcp|udp]`);
const [hostIP, containerPort, hostPort] = parts.length === 3 ? parts : [undefined, parts[0], parts[1]];
if (hostIP !== undefined && !net.isIPv4(hostIP)) throw new PublishError(`-p ${spec}: host address "${hostIP}" is not an IPv4 address`);
return { hostPort: portNumber(hostPort, 'host port', spec), containerPort: portNumber(containerPort, 'container port', spec), protocol, ...(hostIP !== undefined ? { hostIP } : {}) };
