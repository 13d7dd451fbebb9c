// Who is signed in. The access token lives in memory, the refresh token in this tab's
// sessionStorage (a reload stays signed in, another tab signs in on its own). The access
// token is refreshed before it expires; listeners hear each new token (the websocket
// renews itself with it) and the sign-out (null).
import { type Api, ApiError } from "./api";

const REFRESH_KEY = "guildhall.refreshToken";
/** How soon a refresh that could not reach the server is tried again. */
const RETRY_SECONDS = 3;
const PAYLOAD = "accessToken refreshToken expiresIn user { id name email }";
const LOGIN = `mutation SignIn($input: LoginInput!) { login(input: $input) { ${PAYLOAD} } }`;
const REFRESH = `mutation Refresh($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { ${PAYLOAD} } }`;
const LOGOUT = "mutation SignOut { logout }";

/** The signed-in person. */
export interface User {
  id: string;
  name: string;
  email: string | null;
}

interface AuthPayload {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: User;
}

/** The signed-in session: tokens, the person, and the refresh timer. */
export class Session {
  accessToken: string | null = null;
  user: User | null = null;
  private api: Api | null = null;
  private timer: number | undefined;
  private refreshing: Promise<void> | null = null;
  private readonly listeners = new Set<(token: string | null) => void>();

  /** The API to sign in through (it reads this session's token, hence set after). */
  use(api: Api): void {
    this.api = api;
  }

  /** Calls `listener` with each new access token, and with null at sign-out. */
  onChange(listener: (token: string | null) => void): void {
    this.listeners.add(listener);
  }

  async signIn(email: string, password: string): Promise<void> {
    const data = await this.request<{ login: AuthPayload }>(LOGIN, { input: { email, password } });
    this.accept(data.login);
  }

  /** Signs in again from this tab's refresh token, if it has one that still works. */
  async resume(): Promise<boolean> {
    const saved = sessionStorage.getItem(REFRESH_KEY);
    if (!saved) return false;
    try {
      await this.refresh(saved);
      return true;
    } catch (error) {
      // A refused token is forgotten; an unreachable server leaves it for the next reload.
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
        sessionStorage.removeItem(REFRESH_KEY);
      }
      return false;
    }
  }

  /** A fresh access token now (the websocket asks when the server closed it with 4401). */
  async renew(): Promise<void> {
    const saved = sessionStorage.getItem(REFRESH_KEY);
    if (saved) await this.refresh(saved);
  }

  async signOut(): Promise<void> {
    try {
      await this.request(LOGOUT, {});
    } finally {
      this.end();
    }
  }

  /** One refresh at a time: a refresh token works once, and a second use of it would be
   * taken for theft (the server then ends the session). */
  private refresh(refreshToken: string): Promise<void> {
    this.refreshing ??= this.request<{ refreshSession: AuthPayload }>(REFRESH, { refreshToken })
      .then((data) => this.accept(data.refreshSession))
      .finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private request<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    if (!this.api) throw new Error("Session.use(api) first");
    return this.api.mutate<T>(query, variables);
  }

  private accept(payload: AuthPayload): void {
    this.accessToken = payload.accessToken;
    this.user = payload.user;
    sessionStorage.setItem(REFRESH_KEY, payload.refreshToken);
    // A minute before expiry, or at 80 % of a short lifetime.
    const lead = Math.min(60, payload.expiresIn * 0.2);
    this.refreshIn(payload.expiresIn - lead, payload.refreshToken);
    this.listeners.forEach((listener) => listener(payload.accessToken));
  }

  /** Refreshes after `seconds`; a refused refresh token signs out, anything else (the
   * server unreachable for a moment) tries again shortly. */
  private refreshIn(seconds: number, refreshToken: string): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      this.refresh(refreshToken).catch((error) => {
        if (error instanceof ApiError && error.code === "UNAUTHENTICATED") this.end();
        else this.refreshIn(RETRY_SECONDS, refreshToken);
      });
    }, seconds * 1000);
  }

  private end(): void {
    window.clearTimeout(this.timer);
    this.accessToken = null;
    this.user = null;
    sessionStorage.removeItem(REFRESH_KEY);
    this.listeners.forEach((listener) => listener(null));
  }
}
