/** What the gateway needs of a client connection; `ws` is bound to it in ws-server.ts only. */
export interface Transport {
  send(data: string): void;
  /** Bytes queued but not yet written to the network. */
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}
