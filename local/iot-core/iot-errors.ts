/**
 * Errors of the AWS IoT control plane, by the names and HTTP statuses `@aws-sdk/client-iot` maps to
 * its typed exceptions (see its error shapes: ResourceNotFoundException 404, InvalidRequestException 400,
 * DeleteConflictException 409, CertificateStateException 406, ResourceAlreadyExistsException 409,
 * UnauthorizedException 401).
 */
export type IotErrorCode =
  | "ResourceNotFoundException"
  | "InvalidRequestException"
  | "DeleteConflictException"
  | "CertificateStateException"
  | "ResourceAlreadyExistsException"
  | "UnauthorizedException"
  | "VersionConflictException"
  | "IndexNotReadyException"
  | "ServiceUnavailableException";

const STATUS: Readonly<Record<IotErrorCode, number>> = {
  ResourceNotFoundException: 404,
  InvalidRequestException: 400,
  DeleteConflictException: 409,
  CertificateStateException: 406,
  ResourceAlreadyExistsException: 409,
  UnauthorizedException: 401,
  VersionConflictException: 409,
  IndexNotReadyException: 400,
  ServiceUnavailableException: 503,
};

export class IotError extends Error {
  readonly httpStatus: number;

  constructor(
    readonly code: IotErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
    this.httpStatus = STATUS[code];
  }
}
