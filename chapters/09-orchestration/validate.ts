/**
 * Manifest validation, with the API server's field paths and words:
 *
 *   spec.containers[0].image: Required value
 *   spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive
 *   spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"
 *
 * Every error is found, not only the first, so that one edit can fix them all; a pod with any
 * error is not run (its status says why), and the other manifests are not affected.
 *
 * How real Kubernetes differs: the API server validates (pkg/apis/core/validation, thousands
 * of lines: every field of every kind), and kubectl shows its answer; kubelet trusts what the
 * API server stored. A static pod skips the API server, so kubelet validates it itself, with
 * the same code. It also decodes strictly: a field it does not know ("imagePullpolicy") is
 * `unknown field`, which this agent does too. Fields of a real Pod that this agent does not
 * implement are refused ("Forbidden: not supported by conman-agent") rather than ignored:
 * a pod that quietly runs without its nodeSelector or its tolerations is worse than none.
 */
import { parseQuantity, QUANTITY_PATTERN } from './quantity.ts';
import { notImplemented } from '#lib/not-implemented.ts';

export type ErrorType = 'Required value' | 'Invalid value' | 'Unsupported value' | 'Duplicate value' | 'Not found' | 'Forbidden' | 'unknown field';

export interface FieldError {
  /** The path from the document's root: "spec.containers[0].ports[1].hostPort". */
  field: string;
  type: ErrorType;
  /** The value found (Invalid, Unsupported, Duplicate, Not found). */
  value?: unknown;
  detail?: string;
}

/** One error as kubectl prints it. */
export function formatFieldError(error: FieldError): string {
  if (error.type === 'unknown field') return `unknown field "${error.field}"`;
  const value = error.value === undefined ? '' : `: ${JSON.stringify(error.value)}`;
  return `${error.field}: ${error.type}${value}${error.detail ? `: ${error.detail}` : ''}`;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_LABEL_MESSAGE = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS_SUBDOMAIN_MESSAGE = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
export const PORT_MESSAGE = 'must be between 1 and 65535, inclusive';
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');
const isPort = (value: unknown): boolean => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
const supported = (values: readonly string[]) => `supported values: ${values.map((v) => `"${v}"`).join(', ')}`;

/** Fields of a real Pod this agent does not do: refused, with the reason. */
const NOT_SUPPORTED = 'not supported by conman-agent';

/** The keys of `object` that are not in `known` (strict decoding), and those Kubernetes has that we refuse. */
export function unknownFields(object: Record<string, unknown>, at: string, known: readonly string[], refused: readonly string[] = []): FieldError[] {
  return Object.keys(object)
    .filter((key) => !known.includes(key))
    .map((key) => (refused.includes(key) ? { field: `${at}.${key}`, type: 'Forbidden' as const, detail: NOT_SUPPORTED } : { field: `${at}.${key}`, type: 'unknown field' as const }));
}

const CONTAINER_FIELDS = ['name', 'image', 'imagePullPolicy', 'command', 'args', 'workingDir', 'env', 'ports', 'resources', 'securityContext', 'volumeMounts', 'livenessProbe', 'readinessProbe', 'terminationMessagePath', 'terminationMessagePolicy'];
const CONTAINER_REFUSED = ['envFrom', 'startupProbe', 'lifecycle', 'stdin', 'stdinOnce', 'tty', 'volumeDevices', 'resizePolicy', 'restartPolicy'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

/** A probe: one handler (exec, httpGet, tcpSocket), a port that exists, whole seconds and thresholds. */
function validateProbe(probe: unknown, at: string, ports: Map<string, number>, liveness: boolean): FieldError[] {
  if (!isObject(probe)) return [{ field: at, type: 'Invalid value', value: probe, detail: 'must be an object' }];
  const errors = unknownFields(probe, at, ['exec', 'httpGet', 'tcpSocket', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'failureThreshold', 'successThreshold', 'terminationGracePeriodSeconds'], ['grpc']);
  const handlers = ['exec', 'httpGet', 'tcpSocket'].filter((kind) => probe[kind] !== undefined);
  if (handlers.length === 0) errors.push({ field: at, type: 'Required value', detail: 'must specify a handler type' });
  if (handlers.length > 1) errors.push({ field: `${at}.${handlers[1]}`, type: 'Forbidden', detail: 'may not specify more than 1 handler type' });
  const exec = probe.exec as Record<string, unknown> | undefined;
  if (exec !== undefined && (!isObject(exec) || !isStringList(exec.command) || exec.command.length === 0)) errors.push({ field: `${at}.exec.command`, type: 'Required value' });
  for (const kind of ['httpGet', 'tcpSocket'] as const) {
    const handler = probe[kind];
    if (handler === undefined) continue;
    if (!isObject(handler)) {
      errors.push({ field: `${at}.${kind}`, type: 'Invalid value', value: handler, detail: 'must be an object' });
      continue;
    }
    const port = handler.port;
    if (port === undefined) errors.push({ field: `${at}.${kind}.port`, type: 'Required value' });
    else if (typeof port === 'string' && !/^\d+$/.test(port)) {
      if (!ports.has(port)) errors.push({ field: `${at}.${kind}.port`, type: 'Invalid value', value: port, detail: 'must be the name of one of the container\'s ports' });
    } else if (!isPort(Number(port))) errors.push({ field: `${at}.${kind}.port`, type: 'Invalid value', value: port, detail: PORT_MESSAGE });
    if (kind === 'httpGet' && handler.scheme !== undefined && !['HTTP', 'HTTPS'].includes(handler.scheme as string)) errors.push({ field: `${at}.httpGet.scheme`, type: 'Unsupported value', value: handler.scheme, detail: supported(['HTTP', 'HTTPS']) });
    if (kind === 'httpGet' && handler.scheme === 'HTTPS') errors.push({ field: `${at}.httpGet.scheme`, type: 'Forbidden', detail: `HTTPS probes are ${NOT_SUPPORTED}` });
  }
  for (const [field, min] of [['initialDelaySeconds', 0], ['periodSeconds', 1], ['timeoutSeconds', 1], ['failureThreshold', 1], ['successThreshold', 1]] as const) {
    const value = probe[field];
    if (value !== undefined && (!Number.isInteger(value) || (value as number) < min)) errors.push({ field: `${at}.${field}`, type: 'Invalid value', value, detail: `must be greater than or equal to ${min}` });
  }
  if (liveness && probe.successThreshold !== undefined && probe.successThreshold !== 1) errors.push({ field: `${at}.successThreshold`, type: 'Invalid value', value: probe.successThreshold, detail: 'must be 1' });
  return errors;
}

/** A container's probes and security context (checked before its other fields). */
function validateProbesAndSecurity(container: Record<string, unknown>, at: string): FieldError[] {
  const errors: FieldError[] = [];
  const named = new Map<string, number>();
  for (const port of Array.isArray(container.ports) ? container.ports : []) if (isObject(port) && typeof port.name === 'string') named.set(port.name, Number(port.containerPort));
  for (const kind of ['livenessProbe', 'readinessProbe'] as const) {
    if (container[kind] !== undefined) errors.push(...validateProbe(container[kind], `${at}.${kind}`, named, kind === 'livenessProbe'));
  }
  const security = container.securityContext;
  if (security !== undefined) {
    if (!isObject(security)) errors.push({ field: `${at}.securityContext`, type: 'Invalid value', value: security, detail: 'must be an object' });
    else {
      errors.push(...unknownFields(security, `${at}.securityContext`, ['runAsUser', 'runAsGroup', 'readOnlyRootFilesystem', 'allowPrivilegeEscalation', 'privileged', 'capabilities', 'runAsNonRoot'], ['seLinuxOptions', 'seccompProfile', 'appArmorProfile', 'procMount', 'windowsOptions']));
      for (const id of ['runAsUser', 'runAsGroup'] as const) {
        if (security[id] !== undefined && (!Number.isInteger(security[id]) || (security[id] as number) < 0)) errors.push({ field: `${at}.securityContext.${id}`, type: 'Invalid value', value: security[id], detail: 'must be between 0 and 2147483647, inclusive' });
      }
      const capabilities = security.capabilities;
      if (capabilities !== undefined && (!isObject(capabilities) || [capabilities.add, capabilities.drop].some((list) => list !== undefined && !isStringList(list)))) {
        errors.push({ field: `${at}.securityContext.capabilities`, type: 'Invalid value', value: capabilities, detail: 'add and drop are lists of capability names' });
      }
      if (security.privileged === true && security.allowPrivilegeEscalation === false) errors.push({ field: `${at}.securityContext`, type: 'Invalid value', value: 'privileged', detail: 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true' });
    }
  }
  return errors;
}

/**
 * One container (an app or an init container) at `at` ("spec.containers[0]"). `volumes` are
 * the names of the pod's volumes, which its volumeMounts must name.
 */
export function validateContainer(input: unknown, at: string, volumes: ReadonlySet<string>): FieldError[] {
  if (!isObject(input)) return [{ field: at, type: 'Invalid value', value: input, detail: 'must be an object' }];
  const container: Record<string, unknown> = input;
  const errors = [...unknownFields(container, at, CONTAINER_FIELDS, CONTAINER_REFUSED), ...validateProbesAndSecurity(container, at)];
  // EXERCISE(validate): check one container's fields, each error at its full path (at + ".image", at + ".ports[0].containerPort"): name, image, imagePullPolicy, command/args, env, ports, resources.limits, volumeMounts
  // The name: required, and a DNS label (it becomes part of the runtime's names).
  throw notImplemented("09-orchestration/validate", "check one container's fields, each error at its full path (at + \".image\", at + \".ports[0].containerPort\"): name, image, imagePullPolicy, command/args, env, ports, resources.limits, volumeMounts");
  // END EXERCISE
  return errors;
}

const POD_SPEC_FIELDS = ['containers', 'initContainers', 'restartPolicy', 'hostNetwork', 'hostname', 'terminationGracePeriodSeconds', 'volumes', 'dnsPolicy', 'schedulerName', 'enableServiceLinks'];
const POD_SPEC_REFUSED = ['nodeSelector', 'nodeName', 'affinity', 'tolerations', 'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken', 'securityContext', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'imagePullSecrets', 'priorityClassName', 'priority', 'runtimeClassName', 'ephemeralContainers', 'subdomain', 'hostAliases', 'dnsConfig', 'readinessGates', 'overhead', 'topologySpreadConstraints', 'activeDeadlineSeconds', 'os', 'hostUsers', 'schedulingGates', 'resourceClaims', 'resources', 'setHostnameAsFQDN', 'preemptionPolicy'];
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;

/** A whole document: is it a Pod this agent can run? No errors: yes. */
export function validatePod(document: unknown): FieldError[] {
  if (!isObject(document)) return [{ field: '(root)', type: 'Invalid value', value: typeof document, detail: 'a manifest is a YAML mapping (apiVersion, kind, metadata, spec)' }];
  const errors = unknownFields(document, '', ['apiVersion', 'kind', 'metadata', 'spec', 'status']).map((e) => ({ ...e, field: e.field.slice(1) }));
  if (document.apiVersion !== 'v1') errors.push(document.apiVersion === undefined ? { field: 'apiVersion', type: 'Required value' } : { field: 'apiVersion', type: 'Unsupported value', value: document.apiVersion, detail: supported(['v1']) });
  if (document.kind !== 'Pod') errors.push(document.kind === undefined ? { field: 'kind', type: 'Required value' } : { field: 'kind', type: 'Unsupported value', value: document.kind, detail: supported(['Pod']) });

  const metadata = isObject(document.metadata) ? document.metadata : {};
  errors.push(...unknownFields(metadata, 'metadata', ['name', 'namespace', 'labels', 'annotations', 'uid', 'creationTimestamp', 'resourceVersion'], ['generateName', 'ownerReferences', 'finalizers']));
  if (!metadata.name) errors.push({ field: 'metadata.name', type: 'Required value', detail: 'name or generateName is required' });
  else if (typeof metadata.name !== 'string' || !DNS_SUBDOMAIN.test(metadata.name) || metadata.name.length > 253) errors.push({ field: 'metadata.name', type: 'Invalid value', value: metadata.name, detail: DNS_SUBDOMAIN_MESSAGE });
  if (metadata.namespace !== undefined && (typeof metadata.namespace !== 'string' || !DNS_LABEL.test(metadata.namespace))) errors.push({ field: 'metadata.namespace', type: 'Invalid value', value: metadata.namespace, detail: DNS_LABEL_MESSAGE });
  for (const map of ['labels', 'annotations'] as const) {
    const value = metadata[map];
    if (value !== undefined && (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string'))) errors.push({ field: `metadata.${map}`, type: 'Invalid value', value, detail: 'must be a map of strings to strings' });
  }

  if (!isObject(document.spec)) {
    errors.push({ field: 'spec', type: 'Required value' });
    return errors;
  }
  const spec = document.spec;
  errors.push(...unknownFields(spec, 'spec', POD_SPEC_FIELDS, POD_SPEC_REFUSED));
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy as never)) errors.push({ field: 'spec.restartPolicy', type: 'Unsupported value', value: spec.restartPolicy, detail: supported(RESTART_POLICIES) });
  if (spec.hostNetwork !== undefined && typeof spec.hostNetwork !== 'boolean') errors.push({ field: 'spec.hostNetwork', type: 'Invalid value', value: spec.hostNetwork, detail: 'must be true or false' });
  if (spec.hostname !== undefined && (typeof spec.hostname !== 'string' || !DNS_LABEL.test(spec.hostname))) errors.push({ field: 'spec.hostname', type: 'Invalid value', value: spec.hostname, detail: DNS_LABEL_MESSAGE });
  const grace = spec.terminationGracePeriodSeconds;
  if (grace !== undefined && (!Number.isInteger(grace) || (grace as number) < 0)) errors.push({ field: 'spec.terminationGracePeriodSeconds', type: 'Invalid value', value: grace, detail: 'must be greater than or equal to 0' });

  // Volumes: a unique name each, and exactly one source of the two this agent has.
  const volumes = new Set<string>();
  (Array.isArray(spec.volumes) ? spec.volumes : []).forEach((volume: unknown, i: number) => {
    const at = `spec.volumes[${i}]`;
    const v = (isObject(volume) ? volume : {}) as Record<string, unknown>;
    if (!v.name) errors.push({ field: `${at}.name`, type: 'Required value' });
    else if (volumes.has(v.name as string)) errors.push({ field: `${at}.name`, type: 'Duplicate value', value: v.name });
    else volumes.add(v.name as string);
    const sources = Object.keys(v).filter((key) => key !== 'name');
    if (sources.length === 0) errors.push({ field: at, type: 'Required value', detail: 'must specify a volume type' });
    for (const source of sources) {
      if (source !== 'emptyDir' && source !== 'hostPath') errors.push({ field: `${at}.${source}`, type: 'Forbidden', detail: `${NOT_SUPPORTED} (emptyDir and hostPath are)` });
    }
    if (sources.length > 1) errors.push({ field: `${at}.${sources[1]}`, type: 'Forbidden', detail: 'may not specify more than 1 volume type' });
    const hostPath = v.hostPath as Record<string, unknown> | undefined;
    if (hostPath !== undefined && (!isObject(hostPath) || typeof hostPath.path !== 'string' || !hostPath.path.startsWith('/'))) errors.push({ field: `${at}.hostPath.path`, type: 'Invalid value', value: isObject(hostPath) ? hostPath.path : hostPath, detail: 'must be an absolute path' });
  });

  // Containers: at least one; names unique across init and app containers (they share the pod's log folder).
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) errors.push({ field: 'spec.containers', type: 'Required value' });
  const names = new Set<string>();
  for (const list of ['initContainers', 'containers'] as const) {
    const containers = spec[list];
    if (containers === undefined) continue;
    if (!Array.isArray(containers)) {
      errors.push({ field: `spec.${list}`, type: 'Invalid value', value: containers, detail: 'must be a list' });
      continue;
    }
    containers.forEach((container: unknown, i: number) => {
      const at = `spec.${list}[${i}]`;
      errors.push(...validateContainer(container, at, volumes));
      const name = isObject(container) ? container.name : undefined;
      if (typeof name === 'string' && name) {
        if (names.has(name)) errors.push({ field: `${at}.name`, type: 'Duplicate value', value: name });
        names.add(name);
      }
      if (list === 'initContainers' && isObject(container)) {
        for (const probe of ['livenessProbe', 'readinessProbe']) if (container[probe] !== undefined) errors.push({ field: `${at}.${probe}`, type: 'Forbidden', detail: 'may not be set for init containers' });
      }
    });
  }
  // Host ports: one container port per host port and protocol on the node.
  const hostPorts = new Set<string>();
  (Array.isArray(spec.containers) ? spec.containers : []).forEach((container: unknown, i: number) => {
    const ports = isObject(container) && Array.isArray(container.ports) ? container.ports : [];
    ports.forEach((port: unknown, j: number) => {
      if (!isObject(port) || !port.hostPort) return;
      const key = `${port.hostPort}/${port.protocol ?? 'TCP'}`;
      if (hostPorts.has(key)) errors.push({ field: `spec.containers[${i}].ports[${j}].hostPort`, type: 'Duplicate value', value: key });
      hostPorts.add(key);
    });
  });
  return errors;
}
