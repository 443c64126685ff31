/**
 * For checks that expect an error: resolve with the error a promise rejects with. A starter's
 * "not implemented yet" error is rethrown, so the learner sees it rather than "expected
 * NotImplementedError to be an instance of RuntimeError".
 */
export async function caught(promise: Promise<unknown>): Promise<Error | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if ((error as Error)?.name === 'NotImplementedError') throw error;
    return error as Error;
  }
}
