// wrong: every thrown value taken for an Error: a thrown string becomes UNKNOWN with no message at all
// caught by: toGrpcError
if (typeof (error as ServiceError)?.code === 'number' && (error as ServiceError).details !== undefined) return error as ServiceError;
const message = (error as Error).message;
const status = (error as { status?: number })?.status;
const code =
  status === 400 ? Status.INVALID_ARGUMENT
  : status === 404 ? Status.NOT_FOUND
  : status === 409 ? Status.FAILED_PRECONDITION
  : status === 429 || status === 507 ? Status.RESOURCE_EXHAUSTED
  : Status.UNKNOWN;
return grpcError(code, message);
