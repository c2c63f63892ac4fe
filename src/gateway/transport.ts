/** What the gateway needs of a client connection; `ws` is bound to it in ws-server.ts only. */
export interface Transport {
  /** A text frame: a string, or its UTF-8 bytes (shared between sockets, never modified). */
  send(data: string | Buffer): void;
  /** Bytes queued but not yet written to the network. */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}
