/**
 * Parley's TypeScript client SDK, for browsers and Node 22+ (global `fetch`
 * and `WebSocket`, no Node-only modules).
 *
 * @example
 * import { ParleyClient } from 'parley/client';
 * const client = await ParleyClient.login('https://chat.example.com', 'ada', 'correct horse');
 * client.on('event', (e) => console.log(e.kind, e.seq));
 * await client.connect();
 * await client.send(conversationId, 'hello');
 */
export { ParleyClient, type ClientEvents, type ClientOptions, type HistoryOptions, type ParleyClientOptions } from './parley-client.ts';
export { RestClient, type AccessTokenSource, type ConversationPage, type EventPage, type MessagePage, type RestOptions } from './rest.ts';
export { ParleyApiError, ParleyClientError, type ClientErrorCode, type ErrorCode, type FieldIssue } from './errors.ts';
export type { ConnectionState, ConnectionStatus, GapInfo, ReceiptSignal, TypingSignal, WebSocketConstructor } from './connection.ts';
export { isPending, type ConversationView, type ListedMessage, type PendingMessage } from './conversation-store.ts';
export type { SendOptions } from './outbox.ts';
export { tokensFrom, type Tokens } from './tokens.ts';
export type { HelloReply } from '../src/protocol/frames.ts';
export type {
  AuthResult,
  ChatEvent,
  ConversationDetail,
  ConversationKind,
  ConversationSummary,
  EventKind,
  Member,
  Message,
  Presence,
  PresenceStatus,
  Role,
  User,
} from '../src/protocol/types.ts';
