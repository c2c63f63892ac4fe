/** What the load generator needs of a chat server's client, so one harness drives Parley and the baseline alike. */

export interface ClientSpec {
  index: number;
  userId: string;
  /** Parley: an access token. The baseline trusts the user id. */
  token: string;
  conversation: string;
  sender: boolean;
  localAddress?: string;
  /** The node this client connects to, when not the run's one URL (cluster runs spread clients over nodes). */
  url?: string;
}

export type DeliverySink = (receiver: number, conversation: string, seq: number | null, body: string) => void;

export interface BenchClient {
  readonly spec: ClientSpec;
  readonly connected: boolean;
  connect(): Promise<void>;
  /** Resolves when the server acknowledges; retried by the caller with the same n after a drop. */
  send(n: number, body: string): Promise<void>;
  /** Drops the connection without a close handshake, as a network failure would. */
  drop(): void;
  /** Reconnects, picking up where the last connection left off if the server can. */
  resume(): Promise<void>;
  close(): void;
}

export interface DriverOptions {
  url: string;
  sink: DeliverySink;
  onGapFill: () => void;
}

export type Driver = (spec: ClientSpec, opts: DriverOptions) => BenchClient;
