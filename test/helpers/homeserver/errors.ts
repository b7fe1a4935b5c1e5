/**
 * Client-Server API errors: a JSON body `{errcode, error}` and the HTTP status the spec pairs with
 * each code. Route handlers throw these; the error middleware turns them into responses.
 */

export class MatrixApiError extends Error {
  override readonly name = "MatrixApiError";
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const MatrixErrors = {
  missingToken: () => new MatrixApiError(401, "M_MISSING_TOKEN", "Missing access token"),
  unknownToken: () =>
    new MatrixApiError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", { soft_logout: false }),
  forbidden: (why: string) => new MatrixApiError(403, "M_FORBIDDEN", why),
  notFound: (what: string) => new MatrixApiError(404, "M_NOT_FOUND", what),
  unrecognized: (method: string, path: string) =>
    new MatrixApiError(404, "M_UNRECOGNIZED", `Unrecognized request: ${method} ${path}`),
  notJson: () => new MatrixApiError(400, "M_NOT_JSON", "Content not JSON."),
  badJson: (why: string) => new MatrixApiError(400, "M_BAD_JSON", why),
  missingParam: (name: string) => new MatrixApiError(400, "M_MISSING_PARAM", `Missing parameter: ${name}`),
  invalidParam: (why: string) => new MatrixApiError(400, "M_INVALID_PARAM", why),
  userInUse: () => new MatrixApiError(400, "M_USER_IN_USE", "User ID already taken."),
  invalidUsername: (why: string) => new MatrixApiError(400, "M_INVALID_USERNAME", why),
  exclusive: (why: string) => new MatrixApiError(400, "M_EXCLUSIVE", why),
  tooLarge: (limit: number) =>
    new MatrixApiError(413, "M_TOO_LARGE", `Upload exceeds the maximum size of ${limit} bytes`),
  unknown: (status: number, why: string) => new MatrixApiError(status, "M_UNKNOWN", why),
} as const;
