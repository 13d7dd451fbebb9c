// The websocket (graphql-ws) and the subscriptions on it. A lost connection is reopened
// with growing pauses and the current token; each subscription resumes after the last
// cursor it saw, so nothing is missed and nothing comes twice, and `onReconnect` tells
// the views that hold data without cursors (the grid) to refetch. A renewed access token
// is sent in a `ping`, so the socket outlives its first token; if the server closed it
// with 4401 anyway, the session is renewed before reopening.
import { createClient, type Client } from "graphql-ws";

import { ApiError, apiErrorOf } from "./api";

/** One subscription: its document, its variables for a cursor, and what to do with data. */
export interface Feed<T> {
  query: string;
  variables: (cursor: string | null) => Record<string, unknown>;
  cursorOf: (data: T) => string | null | undefined;
  onData: (data: T) => void;
  onError: (error: ApiError) => void;
}

interface Running {
  feed: Feed<never>;
  cursor: string | null;
  stop?: () => void;
}

/** Connection states the page shows. */
export type LiveStatus = "connected" | "reconnecting" | "closed";

const UNAUTHORIZED = 4401;
const FORBIDDEN = 4403;

export class Live {
  onStatus: (status: LiveStatus) => void = () => {};
  onReconnect: () => void = () => {};
  private client: Client | null = null;
  private socket: WebSocket | null = null;
  private readonly running = new Set<Running>();
  private attempts = 0;
  private retry: number | undefined;
  private opened = false;

  constructor(
    private readonly token: () => string | null,
    private readonly renewSession: () => Promise<void>,
  ) {}

  /** Starts `feed` from `cursor` (null: from now); returns what stops it. */
  subscribe<T>(feed: Feed<T>, cursor: string | null = null): () => void {
    const running: Running = { feed: feed as unknown as Feed<never>, cursor };
    this.running.add(running);
    if (!this.client) this.open();
    else this.start(running);
    return () => {
      this.running.delete(running);
      running.stop?.();
    };
  }

  /** Tells the server about a renewed access token, so the socket stays open past expiry. */
  renew(token: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "ping", payload: { Authorization: `Bearer ${token}` } }));
    }
  }

  /** Closes the socket and forgets every subscription (sign-out). */
  close(): void {
    window.clearTimeout(this.retry);
    this.running.forEach((running) => running.stop?.());
    this.running.clear();
    const client = this.client;
    this.client = null;
    this.socket = null;
    client?.dispose();
    this.onStatus("closed");
  }

  private open(): void {
    const client = createClient({
      url: socketUrl(),
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => {},
      connectionParams: () => ({ Authorization: `Bearer ${this.token() ?? ""}` }),
      on: {
        connected: (socket) => {
          this.socket = socket as WebSocket;
          this.attempts = 0;
          this.onStatus("connected");
          if (this.opened) this.onReconnect();
          this.opened = true;
        },
        closed: (event) => {
          if (this.client === client) this.lost((event as CloseEvent | undefined)?.code);
        },
      },
    });
    this.client = client;
    this.running.forEach((running) => this.start(running));
  }

  private start(running: Running): void {
    const client = this.client;
    if (!client) return;
    const { feed } = running;
    running.stop = client.subscribe<never>(
      { query: feed.query, variables: feed.variables(running.cursor) },
      {
        next: (result) => {
          if (result.errors?.length) {
            feed.onError(apiErrorOf(result.errors[0] as never));
            return;
          }
          if (!result.data) return;
          running.cursor = feed.cursorOf(result.data) ?? running.cursor;
          feed.onData(result.data);
        },
        error: (error) => {
          // A closed socket is the connection's business (`lost`); a list is the server
          // refusing this subscription.
          if (Array.isArray(error) && error.length > 0) feed.onError(apiErrorOf(error[0]));
        },
        complete: () => {},
      },
    );
  }

  private lost(code: number | undefined): void {
    this.client = null;
    this.socket = null;
    if (this.running.size === 0) return;
    this.onStatus("reconnecting");
    this.running.forEach((running) => (running.stop = undefined));
    if (code === FORBIDDEN) {
      this.running.forEach((running) =>
        running.feed.onError(new ApiError("refused", "UNAUTHENTICATED")),
      );
      return;
    }
    const pause = Math.min(30_000, 500 * 2 ** this.attempts) * (0.75 + Math.random() / 2);
    this.attempts += 1;
    this.retry = window.setTimeout(async () => {
      if (code === UNAUTHORIZED) await this.renewSession().catch(() => undefined);
      if (!this.client && this.running.size > 0) this.open();
    }, pause);
  }
}

function socketUrl(): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/graphql/ws`;
}
