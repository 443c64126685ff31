/** The layer tries to reach outside its target, or is otherwise unsafe: nothing outside was touched. */
export class UnsafeLayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeLayerError';
  }
}
