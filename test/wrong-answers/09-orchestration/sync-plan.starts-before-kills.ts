// wrong: the actions in the order found: a new container may start while the one it replaces still holds its port or volume
// caught by: planPod
const [current, ...older] = [...sandboxes].sort((a, b) => b.attempt - a.attempt || b.createdAt - a.createdAt);
for (const old of older) actions.push({ kind: 'killSandbox', uid, sandboxId: old.id, reason: 'an older sandbox of the pod' });

// The sandbox first: without a ready one made from this spec, nothing else can be done.
const changed = current !== undefined && current.hash !== pod.sandboxHash;
if (!current || !current.ready || changed) {
  if (current && !changed && podFinished(pod, current.containers)) return actions; // it ran to its end: leave it so
  if (current) actions.push({ kind: 'killSandbox', uid, sandboxId: current.id, reason: changed ? 'the pod sandbox changed: it will be killed and re-created' : 'the pod sandbox is not ready: it will be re-created' });
  actions.push({ kind: 'createSandbox', uid, attempt: current ? current.attempt + 1 : 0 });
  return actions;
}

// The latest attempt of each container; older ones go (a running one is killed first).
const latest = new Map<string, ActualContainer>();
for (const container of [...current.containers].sort((a, b) => a.attempt - b.attempt)) {
  const before = latest.get(container.name);
  if (before) actions.push(before.state === 'CONTAINER_EXITED' ? { kind: 'removeContainer', uid, containerId: before.id, name: before.name } : { kind: 'killContainer', uid, containerId: before.id, name: before.name, reason: 'an older attempt' });
  latest.set(container.name, container);
}
const named = new Set([...pod.initContainers, ...pod.containers].map((c) => c.name));
for (const container of latest.values()) {
  if (!named.has(container.name) && container.state !== 'CONTAINER_EXITED') actions.push({ kind: 'killContainer', uid, containerId: container.id, name: container.name, reason: 'not in the manifest any more' });
}

const start = (spec: DesiredContainer, init: boolean, previous: ActualContainer | undefined, backoff: boolean): Action => ({
  kind: 'startContainer', uid, sandboxId: current.id, name: spec.name, init,
  attempt: previous ? previous.attempt + 1 : 0,
  restartCount: previous ? previous.restartCount + 1 : 0,
  ...(previous ? { previous } : {}),
  backoff,
});

// Init containers, one at a time, each to success; skipped once an app container exists
// (they ran: after an agent restart, or once their exited containers were removed).
if (!pod.containers.some((spec) => latest.has(spec.name))) {
  for (const spec of pod.initContainers) {
    const container = latest.get(spec.name);
    if (!container) return [...actions, start(spec, true, undefined, false)];
    if (container.state !== 'CONTAINER_EXITED') return actions; // still running: wait for it
    if (container.exitCode === 0) continue;
    // Failed: again (Always and OnFailure), or the pod has failed (Never).
    if (pod.restartPolicy !== 'Never') actions.push(start(spec, true, container, true));
    return actions;
  }
}

for (const spec of pod.containers) {
  const container = latest.get(spec.name);
  if (!container) actions.push(start(spec, false, undefined, false));
  else if (container.state === 'CONTAINER_EXITED') {
    if (restartWanted(pod.restartPolicy, container.exitCode)) actions.push(start(spec, false, container, true));
  } else if (container.hash !== spec.hash || container.state !== 'CONTAINER_RUNNING') {
    // Another spec (the manifest changed), or created and never started (we died in between): replace it now.
    const reason = container.hash !== spec.hash ? 'its spec changed: it will be killed and re-created' : `it is ${container.state}: it will be re-created`;
    actions.push({ kind: 'killContainer', uid, containerId: container.id, name: container.name, reason }, start(spec, false, container, false));
  }
}
return actions;
