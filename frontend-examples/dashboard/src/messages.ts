// Errors said the way a person understands them, one place for every view.
import { ApiError } from "./api";

/** What to show for `error`. */
export function describe(error: unknown): string {
  if (!(error instanceof ApiError)) return "Something went wrong here; reload the page.";
  switch (error.code) {
    case "FORBIDDEN":
      return "You can't see this: your role here doesn't allow it.";
    case "UNAUTHENTICATED":
      return "Your session has ended; please sign in again.";
    case "RATE_LIMITED":
      return `Too many requests; try again in ${error.retryAfter ?? "a few"} seconds.`;
    case "CONFLICT":
      return "Someone changed this row while you were editing it; it now shows their version.";
    case "NOT_FOUND":
      return "This no longer exists, or you can't see it.";
    case "BAD_USER_INPUT":
      return error.fields.length > 0
        ? error.fields.map((field) => `${field.path.join(".")}: ${field.message}`).join("; ")
        : error.message;
    case "NETWORK":
      return "The server can't be reached; trying again…";
    default:
      return "Something went wrong on the server; try again in a moment.";
  }
}
