/**
 * Pod manifests: the subset of Kubernetes' v1 Pod this agent reads, how a folder of YAML files
 * becomes a list of them, and the defaults the API server would fill in.
 *
 * A manifest is a Kubernetes object as `kubectl apply -f` takes it:
 *
 *   apiVersion: v1
 *   kind: Pod
 *   metadata: { name: web, namespace: default, labels: { app: web } }
 *   spec:
 *     containers:
 *     - name: web
 *       image: 127.0.0.1:5000/test/busybox:1.36
 *       command: [httpd, -f, -p, "80"]
 *       ports: [{ containerPort: 80, hostPort: 8080 }]
 *
 * How real kubelet differs: it gets pods from three sources, the API server (watched), a
 * folder of "static pod" manifests (--pod-manifest-path, /etc/kubernetes/manifests: how
 * kubeadm runs the API server itself) and an HTTP URL. This agent has the folder only. The
 * defaults below are the API server's (pkg/apis/core/v1/defaults.go): kubelet itself applies
 * them to static pods, as we do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface Probe {
  exec?: { command: string[] };
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: 'HTTP' | 'HTTPS'; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string; host?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  successThreshold?: number;
}

export interface ContainerSpec {
  name: string;
  image: string;
  imagePullPolicy?: PullPolicy;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number; hostPort?: number; hostIP?: string; protocol?: 'TCP' | 'UDP' | 'SCTP' }[];
  resources?: { limits?: { cpu?: string | number; memory?: string | number }; requests?: { cpu?: string | number; memory?: string | number } };
  securityContext?: {
    runAsUser?: number;
    runAsGroup?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}

export interface Volume {
  name: string;
  emptyDir?: { medium?: string; sizeLimit?: string };
  hostPath?: { path: string; type?: string };
}

export interface PodSpec {
  containers: ContainerSpec[];
  initContainers?: ContainerSpec[];
  restartPolicy?: RestartPolicy;
  hostNetwork?: boolean;
  hostname?: string;
  terminationGracePeriodSeconds?: number;
  volumes?: Volume[];
}

export interface Pod {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}

/** One file of the folder: its pod (not yet validated), or why it could not be read at all. */
export interface ManifestFile {
  /** The file's name in the folder, e.g. "web.yaml": the key of its status. */
  file: string;
  /** The parsed document, as YAML gave it (validate.ts checks it is a Pod). */
  document?: unknown;
  /** A YAML syntax error, or more than one document. */
  error?: string;
}

/** Manifests are *.yaml, *.yml and *.json files; editors' and our own files are not. */
export function isManifestName(name: string): boolean {
  return /\.(ya?ml|json)$/.test(name) && !name.startsWith('.') && !name.endsWith('~');
}

/** Files already parsed, by name, with the change time and size they had: parsed again only when those change. */
export type ManifestCache = Map<string, { ctimeMs: number; size: number; manifest: ManifestFile }>;

/**
 * Every manifest of the folder, sorted by file name. A file that cannot be parsed is still
 * listed (with its error): its status says why, and the other pods are not touched.
 * kubelet reads a static pod folder the same way (pkg/kubelet/config/file.go), one pod per file.
 */
export function readManifests(dir: string, cache: ManifestCache = new Map()): ManifestFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter(isManifestName).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: ManifestFile[] = [];
  for (const file of names) {
    let text: string;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(path.join(dir, file));
      const cached = cache.get(file);
      if (cached && cached.ctimeMs === stat.ctimeMs && cached.size === stat.size) {
        files.push(cached.manifest);
        continue;
      }
      text = fs.readFileSync(path.join(dir, file), 'utf8');
    } catch {
      continue; // removed between the listing and the read: it is gone
    }
    const manifest = parseManifest(file, text);
    cache.set(file, { ctimeMs: stat.ctimeMs, size: stat.size, manifest });
    files.push(manifest);
  }
  for (const file of cache.keys()) if (!names.includes(file)) cache.delete(file);
  return files;
}

function parseManifest(file: string, text: string): ManifestFile {
  const documents = parseAllDocuments(text);
  if (documents.length === 0) return { file, error: 'the file is empty' };
  const broken = documents.flatMap((document) => document.errors);
  if (broken.length > 0) return { file, error: `YAML: ${broken[0].message.split('\n')[0]}` };
  if (documents.length !== 1) return { file, error: `one Pod per file (this one has ${documents.length} documents)` };
  return { file, document: documents[0].toJS() };
}

/** kubelet's default pull policy: Always for ":latest" (or no tag: it means latest), IfNotPresent otherwise. */
export function defaultPullPolicy(image: string): PullPolicy {
  const name = image.split('@')[0];
  const colon = name.lastIndexOf(':');
  const tag = colon > name.lastIndexOf('/') ? name.slice(colon + 1) : '';
  if (image.includes('@')) return 'IfNotPresent'; // a digest never changes
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** The probe defaults of the API server (periodSeconds 10, timeoutSeconds 1, failureThreshold 3, successThreshold 1). */
function probeDefaults(probe: Probe | undefined): Probe | undefined {
  if (!probe) return undefined;
  return {
    ...probe,
    ...(probe.httpGet ? { httpGet: { path: '/', scheme: 'HTTP', ...probe.httpGet } } : {}),
    initialDelaySeconds: probe.initialDelaySeconds ?? 0,
    periodSeconds: probe.periodSeconds ?? 10,
    timeoutSeconds: probe.timeoutSeconds ?? 1,
    failureThreshold: probe.failureThreshold ?? 3,
    successThreshold: probe.successThreshold ?? 1,
  };
}

function containerDefaults(container: ContainerSpec): ContainerSpec {
  return {
    ...container,
    imagePullPolicy: container.imagePullPolicy ?? defaultPullPolicy(container.image),
    ports: container.ports?.map((port) => ({ ...port, protocol: port.protocol ?? 'TCP' })),
    livenessProbe: probeDefaults(container.livenessProbe),
    readinessProbe: probeDefaults(container.readinessProbe),
  };
}

/** A valid pod with the API server's defaults filled in (a copy: the manifest's object stays as read). */
export function withDefaults(pod: Pod): Pod {
  return {
    ...pod,
    metadata: { ...pod.metadata, namespace: pod.metadata.namespace || 'default', labels: pod.metadata.labels ?? {}, annotations: pod.metadata.annotations ?? {} },
    spec: {
      ...pod.spec,
      restartPolicy: pod.spec.restartPolicy ?? 'Always',
      terminationGracePeriodSeconds: pod.spec.terminationGracePeriodSeconds ?? 30,
      hostNetwork: pod.spec.hostNetwork === true,
      volumes: pod.spec.volumes ?? [],
      containers: pod.spec.containers.map(containerDefaults),
      initContainers: (pod.spec.initContainers ?? []).map(containerDefaults),
    },
  };
}
