// wrong: a list entry that is not an object (ports: [null]) is read as one: one bad manifest throws, and the agent dies
// caught by: validatePod
if (container.name === undefined || container.name === '') errors.push({ field: `${at}.name`, type: 'Required value' });
else if (typeof container.name !== 'string' || !DNS_LABEL.test(container.name) || container.name.length > 63) errors.push({ field: `${at}.name`, type: 'Invalid value', value: container.name, detail: DNS_LABEL_MESSAGE });
if (container.image === undefined || container.image === '') errors.push({ field: `${at}.image`, type: 'Required value' });
else if (typeof container.image !== 'string') errors.push({ field: `${at}.image`, type: 'Invalid value', value: container.image, detail: 'must be a string' });
if (container.imagePullPolicy !== undefined && !PULL_POLICIES.includes(container.imagePullPolicy as never)) {
  errors.push({ field: `${at}.imagePullPolicy`, type: 'Unsupported value', value: container.imagePullPolicy, detail: supported(PULL_POLICIES) });
}
for (const list of ['command', 'args'] as const) {
  if (container[list] !== undefined && !isStringList(container[list])) errors.push({ field: `${at}.${list}`, type: 'Invalid value', value: container[list], detail: 'must be a list of strings' });
}
const env = container.env ?? [];
(Array.isArray(env) ? env : []).forEach((variable: unknown, i: number) => {
  const name = isObject(variable) ? variable.name : undefined;
  if (name === undefined || name === '') errors.push({ field: `${at}.env[${i}].name`, type: 'Required value' });
  else if (typeof name !== 'string' || !ENV_NAME.test(name)) errors.push({ field: `${at}.env[${i}].name`, type: 'Invalid value', value: name, detail: "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit" });
  if (isObject(variable) && variable.valueFrom !== undefined) errors.push({ field: `${at}.env[${i}].valueFrom`, type: 'Forbidden', detail: NOT_SUPPORTED });
});
const ports = container.ports ?? [];
(Array.isArray(ports) ? ports : []).forEach((port: unknown, i: number) => {
  const p = port as Record<string, unknown>;
  if (p.containerPort === undefined) errors.push({ field: `${at}.ports[${i}].containerPort`, type: 'Required value' });
  else if (!isPort(p.containerPort)) errors.push({ field: `${at}.ports[${i}].containerPort`, type: 'Invalid value', value: p.containerPort, detail: PORT_MESSAGE });
  if (p.hostPort !== undefined && p.hostPort !== 0 && !isPort(p.hostPort)) errors.push({ field: `${at}.ports[${i}].hostPort`, type: 'Invalid value', value: p.hostPort, detail: PORT_MESSAGE });
  if (p.protocol !== undefined && !PROTOCOLS.includes(p.protocol as never)) errors.push({ field: `${at}.ports[${i}].protocol`, type: 'Unsupported value', value: p.protocol, detail: supported(PROTOCOLS) });
});
const limits = isObject(container.resources) && isObject(container.resources.limits) ? container.resources.limits : {};
for (const [resource, value] of Object.entries(limits)) {
  if (resource !== 'cpu' && resource !== 'memory') errors.push({ field: `${at}.resources.limits[${resource}]`, type: 'Forbidden', detail: NOT_SUPPORTED });
  else if (parseQuantity(value as string) === undefined) errors.push({ field: `${at}.resources.limits.${resource}`, type: 'Invalid value', value, detail: `quantities must match the regular expression '${QUANTITY_PATTERN}'` });
}
const mounts = container.volumeMounts ?? [];
(Array.isArray(mounts) ? mounts : []).forEach((mount: unknown, i: number) => {
  const m = (isObject(mount) ? mount : {}) as Record<string, unknown>;
  if (!m.name) errors.push({ field: `${at}.volumeMounts[${i}].name`, type: 'Required value' });
  else if (!volumes.has(m.name as string)) errors.push({ field: `${at}.volumeMounts[${i}].name`, type: 'Not found', value: m.name });
  if (!m.mountPath) errors.push({ field: `${at}.volumeMounts[${i}].mountPath`, type: 'Required value' });
  else if (typeof m.mountPath !== 'string' || !m.mountPath.startsWith('/')) errors.push({ field: `${at}.volumeMounts[${i}].mountPath`, type: 'Invalid value', value: m.mountPath, detail: 'must be an absolute path' });
});
