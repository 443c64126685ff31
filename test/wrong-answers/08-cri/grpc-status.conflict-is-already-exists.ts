// wrong: a 409 as ALREADY_EXISTS: most of the manager's conflicts are a state ("not running", "an image in use"), which is FAILED_PRECONDITION
// caught by: toGrpcError
if (typeof (error as ServiceError)?.code === 'number' && (error as ServiceError).details !== undefined) return error as ServiceError;
const message = error instanceof Error ? error.message : String(error);
const status = (error as { status?: number })?.status;
const code =
  status === 400 ? Status.INVALID_ARGUMENT
  : status === 404 ? Status.NOT_FOUND
  : status === 409 ? Status.ALREADY_EXISTS
  : status === 429 || status === 507 ? Status.RESOURCE_EXHAUSTED
  : Status.UNKNOWN;
return grpcError(code, message);
