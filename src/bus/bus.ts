/**
 * The Bus port: fan-out between nodes, plus presence. Adapters: `local.ts`
 * (one process), `redis.ts` and `nats.ts` (many nodes). One contract suite
 * (test/contract/bus.ts) runs against each.
 *
 * Delivery contract: AT-MOST-ONCE. A message published on a subject reaches
 * each subscriber of that subject zero or one time; messages from one
 * publisher on one subject arrive in publish order. Nothing more: a message
 * may be lost (a broker restart, a slow subscriber), and messages from two
 * publishers may interleave in any order. Correctness never rests on the bus:
 * the gateway numbers events by `seq` and fills any hole from the store.
 *
 * Subjects: `conv.<id>` (events, typing, receipts of a conversation),
 * `user.<id>` (membership changes of a user), `presence.<id>`.
 */
import type { ChatEvent, Presence } from '../protocol/types.ts';

export type BusMessage =
  | { type: 'event'; event: ChatEvent }
  | { type: 'typing'; conversationId: string; userId: string }
  | { type: 'receipt'; conversationId: string; userId: string; seq: number }
  /** On `user.<id>`: the user joined (or left) a conversation at `seq`. */
  | { type: 'membership'; conversationId: string; userId: string; seq: number; joined: boolean }
  | ({ type: 'presence' } & Presence);

export type BusHandler = (msg: BusMessage) => void;

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export const subjects = {
  conversation: (id: string) => `conv.${id}`,
  user: (id: string) => `user.${id}`,
  presence: (id: string) => `presence.${id}`,
};

export interface Bus {
  /** Resolves once the message is handed to the transport (not when it is delivered). */
  publish(subject: string, msg: BusMessage): Promise<void>;
  /**
   * Resolves once the subscription is active: every message published after
   * that may reach `handler`. Interest-based: a node subscribes only to what
   * its local connections need.
   */
  subscribe(subject: string, handler: BusHandler): Promise<Subscription>;
  readonly presence: PresenceRegistry;
  /** Resolves when the transport answers; used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Who is online, across nodes. A user is online while at least one of their
 * connections is registered; a node that dies stops counting within a bounded
 * time (networked adapters use TTLs; the local one dies with its process).
 */
export interface PresenceRegistry {
  /** Registers a connection; true when the user was offline before. */
  connect(userId: string, connectionId: string): Promise<boolean>;
  /** Removes a connection; true when it was the user's last one. */
  disconnect(userId: string, connectionId: string): Promise<boolean>;
  /** The users among `userIds` with at least one live connection. */
  online(userIds: string[]): Promise<Set<string>>;
  /**
   * Users who went offline because their last connections expired (their node
   * died without disconnecting them) since any node last called this. Each
   * such user is returned to exactly one caller, which announces them offline.
   * Nodes call it every few seconds.
   */
  reap(): Promise<string[]>;
}
