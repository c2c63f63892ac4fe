/**
 * Wire objects of protocol v1, shared by the server, the SDK, the bench and the
 * web client. Field names and shapes follow PROTOCOL.md exactly.
 */

export type Role = 'owner' | 'admin' | 'member';
export type ConversationKind = 'direct' | 'group' | 'channel';

export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: number;
}

export interface Message {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  clientMsgId: string;
  body: string;
  replyToSeq: number | null;
  attachments: string[];
  reactions: Record<string, string[]>;
  createdAt: number;
  editedAt: number | null;
  deleted: boolean;
}

export type EventKind =
  | 'message.created'
  | 'message.edited'
  | 'message.deleted'
  | 'reaction.added'
  | 'reaction.removed'
  | 'member.joined'
  | 'member.left'
  | 'conversation.updated';

export interface EventDataByKind {
  'message.created': Message;
  'message.edited': { seq: number; body: string; editedAt: number };
  'message.deleted': { seq: number };
  'reaction.added': { seq: number; emoji: string; userId: string };
  'reaction.removed': { seq: number; emoji: string; userId: string };
  'member.joined': { userId: string; role: Role };
  'member.left': { userId: string; role: Role };
  'conversation.updated': { title: string };
}

/** One durable change inside a conversation, numbered by the conversation's `seq`. */
export type ChatEvent = {
  [K in EventKind]: {
    conversationId: string;
    seq: number;
    kind: K;
    actorId: string;
    at: number;
    data: EventDataByKind[K];
  };
}[EventKind];

export interface Member {
  userId: string;
  role: Role;
  lastReadSeq: number;
  joinedAt: number;
}

export interface ConversationSummary {
  id: string;
  kind: ConversationKind;
  title: string | null;
  public: boolean;
  lastSeq: number;
  lastReadSeq: number;
  unreadCount: number;
  lastMessage: Message | null;
  updatedAt: number;
}

export interface ConversationDetail extends ConversationSummary {
  members: Member[];
}

export interface AuthResult {
  user: User;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export type PresenceStatus = 'online' | 'offline';

export interface Presence {
  userId: string;
  status: PresenceStatus;
  lastSeenAt: number | null;
}

export interface Page<T> {
  items: T[];
}
