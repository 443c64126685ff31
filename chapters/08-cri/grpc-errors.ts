/**
 * The manager's errors as gRPC status codes: a CRI client decides what to do by the code
 * (kubelet retries UNAVAILABLE, treats NOT_FOUND on a remove as done), and shows the message.
 *
 *   manager's HTTP-like status   gRPC code
 *   400 bad request              INVALID_ARGUMENT
 *   404 not found                NOT_FOUND
 *   409 conflict                 FAILED_PRECONDITION (a container not running, an image in use)
 *   429, 507                     RESOURCE_EXHAUSTED (too many, or a full disk)
 *   anything else                UNKNOWN
 */
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { notImplemented } from '#lib/not-implemented.ts';

/** An error with a gRPC code, as a handler's callback takes it. */
export function grpcError(code: Status, message: string): Partial<ServiceError> {
  return Object.assign(new Error(message), { code, details: message });
}

export function toGrpcError(error: unknown): Partial<ServiceError> {
  // EXERCISE(grpc-status): an error with a gRPC code passes as it is; the manager's status (the error's `status` field) becomes a gRPC code; anything else is UNKNOWN
  throw notImplemented("08-cri/grpc-status", "an error with a gRPC code passes as it is; the manager's status (the error's `status` field) becomes a gRPC code; anything else is UNKNOWN");
  // END EXERCISE
}
