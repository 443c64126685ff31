// Types for usocket 1.x (unix sockets with file-descriptor passing), the parts we use.
declare module 'usocket' {
  import { EventEmitter } from 'node:events';

  export interface UMessage {
    data: Buffer | null;
    fds: number[];
  }

  export class USocket extends EventEmitter {
    constructor();
    connect(path: string, callback?: () => void): void;
    /** Read `size` bytes (0: none) and up to `fds` descriptors; null when nothing is there yet. */
    read(size?: number | null, fds?: number): UMessage | Buffer | null;
    write(data: Buffer | { data?: Buffer; fds?: number[]; callback?: () => void }): boolean;
    end(data?: Buffer | { data?: Buffer; fds?: number[]; callback?: () => void }): void;
    destroy(): void;
  }

  export class UServer extends EventEmitter {
    constructor();
    listen(path: string, callback?: () => void): void;
    close(): void;
  }

  const usocket: { USocket: typeof USocket; UServer: typeof UServer };
  export default usocket;
}
