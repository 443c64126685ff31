/**
 * Command-line parsing with Docker's habits: options come before the positional arguments,
 * short flags combine (`-it`), values follow (`--name web`, `--name=web`, `-e A=1`), and
 * parsing stops at the first positional: in `run ROOTFS sh -c 'ls -l'`, "-c" and "-l"
 * belong to the container's command, not to conman. (node:util's parseArgs has no such
 * "stop at the first positional" mode, hence these few lines.)
 */
export interface OptionSpec {
  /** Long name without dashes, e.g. "name". */
  long: string;
  short?: string;
  /** Takes a value; `repeat` collects several. */
  value?: boolean;
  repeat?: boolean;
}

/** The options that come before the command: `conman [GLOBAL OPTIONS] COMMAND ...` (chapter 05's conman takes the same). */
export const GLOBAL_OPTIONS: OptionSpec[] = [
  { long: 'socket', value: true },
  { long: 'root', value: true },
  { long: 'run-root', value: true },
  { long: 'cgroup-parent', value: true },
  { long: 'no-daemon' },
  { long: 'help', short: 'h' },
];

/** The options of `create` (and `run`, which adds -d): later chapters' conman find the image among the arguments with them. */
export const CREATE_OPTIONS: OptionSpec[] = [
  { long: 'name', value: true },
  { long: 'interactive', short: 'i' },
  { long: 'tty', short: 't' },
  { long: 'rm' },
  { long: 'restart', value: true },
  { long: 'runtime', value: true },
  { long: 'env', short: 'e', value: true, repeat: true },
  { long: 'workdir', short: 'w', value: true },
  { long: 'hostname', value: true },
  // Images (chapter 05): refused with a rootfs folder.
  { long: 'entrypoint', value: true },
  // Networks (chapter 06): without them conmand refuses these.
  { long: 'network', value: true },
  { long: 'publish', short: 'p', value: true, repeat: true },
  { long: 'dns', value: true, repeat: true },
  // Pods (chapter 07): without them conmand refuses it.
  { long: 'pod', value: true },
];

export class UsageError extends Error {}

export interface Parsed {
  options: Record<string, string | boolean | string[]>;
  positionals: string[];
}

export function parseCommandLine(args: string[], specs: OptionSpec[]): Parsed {
  const options: Parsed['options'] = {};
  const byLong = new Map(specs.map((spec) => [spec.long, spec]));
  const byShort = new Map(specs.filter((spec) => spec.short).map((spec) => [spec.short!, spec]));
  const set = (spec: OptionSpec, value: string | boolean) => {
    if (spec.repeat) options[spec.long] = [...((options[spec.long] as string[] | undefined) ?? []), String(value)];
    else options[spec.long] = value;
  };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown option --${name}`);
      if (!spec.value) set(spec, true);
      else if (inline !== undefined) set(spec, inline);
      else if (i + 1 < args.length) set(spec, args[++i]);
      else throw new UsageError(`--${name} needs a value`);
    } else if (arg.startsWith('-') && arg.length > 1) {
      // -it, -d, -e KEY=VALUE, -t5
      for (let c = 1; c < arg.length; c++) {
        const spec = byShort.get(arg[c]);
        if (!spec) throw new UsageError(`unknown option -${arg[c]}`);
        if (!spec.value) {
          set(spec, true);
          continue;
        }
        const rest = arg.slice(c + 1);
        if (rest) set(spec, rest);
        else if (i + 1 < args.length) set(spec, args[++i]);
        else throw new UsageError(`-${arg[c]} needs a value`);
        break;
      }
    } else {
      break;
    }
  }
  return { options, positionals: args.slice(i) };
}
