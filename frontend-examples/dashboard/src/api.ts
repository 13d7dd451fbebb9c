// Queries and mutations over HTTP with urql, the signed-in person's token on each, and
// the server's errors turned into ApiError (code, fields, retryAfter) for the views.
import { Client, fetchExchange, type CombinedError } from "@urql/core";

/** One problem with one input, as the server reports it in `extensions.fields`. */
export interface FieldProblem {
  path: (string | number)[];
  message: string;
}

/** A GraphQL error as the server sends it, or NETWORK when the server can't be reached. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryAfter?: number,
    readonly fields: FieldProblem[] = [],
  ) {
    super(message);
  }
}

/** The first error of a GraphQL answer's `errors`, as an ApiError. */
export function apiErrorOf(error: {
  message: string;
  extensions?: Record<string, unknown>;
}): ApiError {
  const extensions = error.extensions ?? {};
  return new ApiError(
    error.message,
    typeof extensions.code === "string" ? extensions.code : "INTERNAL",
    typeof extensions.retryAfter === "number" ? extensions.retryAfter : undefined,
    Array.isArray(extensions.fields) ? (extensions.fields as FieldProblem[]) : [],
  );
}

function fromCombined(error: CombinedError): ApiError {
  const first = error.graphQLErrors[0];
  if (first) return apiErrorOf(first);
  return new ApiError(error.networkError?.message ?? error.message, "NETWORK");
}

/** The HTTP side of the API; `token` reads the current access token for each request. */
export class Api {
  private readonly client: Client;

  constructor(token: () => string | null) {
    this.client = new Client({
      url: "/graphql",
      exchanges: [fetchExchange],
      requestPolicy: "network-only",
      preferGetMethod: false,
      fetchOptions: () => {
        const current = token();
        const headers: Record<string, string> = {};
        if (current) headers.authorization = `Bearer ${current}`;
        return { headers };
      },
    });
  }

  /** Runs a query; its data, or the first error as an ApiError. */
  async query<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const result = await this.client.query(query, variables).toPromise();
    if (result.error) throw fromCombined(result.error);
    return result.data as T;
  }

  /** Runs a mutation; its data, or the first error as an ApiError. */
  async mutate<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const result = await this.client.mutation(query, variables).toPromise();
    if (result.error) throw fromCombined(result.error);
    return result.data as T;
  }
}
