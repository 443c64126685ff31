// wrong: every error mapped by its status, a gRPC error too: the handlers' own DEADLINE_EXCEEDED and NOT_FOUND become UNKNOWN
// caught by: toGrpcError
const message = error instanceof Error ? error.message : String(error);
const status = (error as { status?: number })?.status;
const code =
  status === 400 ? Status.INVALID_ARGUMENT
  : status === 404 ? Status.NOT_FOUND
  : status === 409 ? Status.FAILED_PRECONDITION
  : status === 429 || status === 507 ? Status.RESOURCE_EXHAUSTED
  : Status.UNKNOWN;
return grpcError(code, message);
