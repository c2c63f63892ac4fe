/** Creating, listing and changing conversations and their members. */
import { subjects, type Bus } from '../bus/bus.ts';
import { forbidden, invalid, notFound, ParleyError } from '../errors.ts';
import type { ConversationDetail, ConversationSummary, Role } from '../protocol/types.ts';
import type { CreateConversationBody } from '../protocol/rest.ts';
import type { ListCursor, Store } from '../store/store.ts';
import { isModerator, requireMember, requireModerator } from './access.ts';
import type { Committer } from './committer.ts';

export class ConversationService {
  private readonly store: Store;
  private readonly committer: Committer;
  private readonly newId: () => string;
  private readonly bus: Bus;
  private readonly onPublishError: (err: unknown) => void;

  constructor(store: Store, bus: Bus, committer: Committer, newId: () => string, onPublishError: (err: unknown) => void) {
    this.store = store;
    this.bus = bus;
    this.committer = committer;
    this.newId = newId;
    this.onPublishError = onPublishError;
  }

  /** Creates a conversation; `created` is false when a direct conversation of the pair already existed. */
  async create(userId: string, input: CreateConversationBody): Promise<{ conversation: ConversationDetail; created: boolean }> {
    const now = Date.now();
    let result: { id: string; created: boolean };
    if (input.kind === 'direct') {
      if (input.userId === userId) throw invalid('a direct conversation needs another user', [{ path: 'userId', message: 'is yourself' }]);
      if (!(await this.store.getUser(input.userId))) throw notFound('user');
      if (await this.store.isBlockedEitherWay(userId, input.userId)) throw forbidden('this user is blocked');
      result = await this.store.createConversation({
        id: this.newId(),
        kind: 'direct',
        title: null,
        public: false,
        createdAt: now,
        directKey: [userId, input.userId].sort().join(':'),
        members: [
          { userId, role: 'member' },
          { userId: input.userId, role: 'member' },
        ],
      });
    } else {
      const others = input.kind === 'group' ? [...new Set(input.memberIds)].filter((id) => id !== userId) : [];
      await this.requireUsers(others);
      result = await this.store.createConversation({
        id: this.newId(),
        kind: input.kind,
        title: input.title,
        public: input.kind === 'channel' ? input.public : false,
        createdAt: now,
        directKey: null,
        members: [{ userId, role: 'owner' as Role }, ...others.map((id) => ({ userId: id, role: 'member' as Role }))],
      });
    }
    if (result.created) {
      // Creation is not an event: tell each first member's sessions to start following it.
      const conversation = await this.get(userId, result.id);
      for (const m of conversation.members) {
        this.bus
          .publish(subjects.user(m.userId), { type: 'membership', conversationId: result.id, userId: m.userId, seq: 0, joined: true })
          .catch(this.onPublishError);
      }
      return { conversation, created: true };
    }
    return { conversation: await this.get(userId, result.id), created: false };
  }

  async get(userId: string, conversationId: string): Promise<ConversationDetail> {
    const [summary, members] = await Promise.all([
      this.store.getSummary(conversationId, userId),
      this.store.listMembers(conversationId),
    ]);
    if (!summary) throw notFound('conversation');
    return { ...summary, members };
  }

  async list(userId: string, limit: number, cursor: string | undefined): Promise<{ items: ConversationSummary[]; nextCursor: string | null }> {
    const items = await this.store.listSummaries(userId, limit + 1, cursor ? decodeCursor(cursor) : null);
    const more = items.length > limit;
    if (more) items.length = limit;
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? encodeCursor({ updatedAt: last.updatedAt, id: last.id }) : null };
  }

  async setTitle(userId: string, conversationId: string, title: string): Promise<ConversationDetail> {
    const m = await requireMember(this.store, conversationId, userId);
    if (m.conversation.kind === 'direct') throw forbidden('a direct conversation has no title');
    requireModerator(m);
    await this.committer.apply({ kind: 'conversation.update', conversationId, actorId: userId, at: Date.now(), title });
    return this.get(userId, conversationId);
  }

  async addMembers(userId: string, conversationId: string, userIds: string[]): Promise<void> {
    const m = await requireMember(this.store, conversationId, userId);
    if (m.conversation.kind === 'direct') throw forbidden('a direct conversation has exactly two members');
    requireModerator(m);
    const ids = [...new Set(userIds)];
    await this.requireUsers(ids);
    const at = Date.now();
    await Promise.all(
      ids.map((id) => this.committer.apply({ kind: 'member.join', conversationId, actorId: userId, at, userId: id, role: 'member' })),
    );
  }

  /** Joins a public channel; anything else the caller is not in is `not_found`. */
  async join(userId: string, conversationId: string): Promise<void> {
    const conversation = await this.store.getConversation(conversationId);
    if (!conversation) throw notFound('conversation');
    if (await this.store.getMember(conversationId, userId)) return;
    if (conversation.kind !== 'channel' || !conversation.public) throw notFound('conversation');
    await this.committer.apply({ kind: 'member.join', conversationId, actorId: userId, at: Date.now(), userId, role: 'member' });
  }

  /** Removes `targetId`: oneself (leaving), or another member as an admin or the owner. */
  async removeMember(userId: string, conversationId: string, targetId: string): Promise<void> {
    const m = await requireMember(this.store, conversationId, userId);
    if (m.conversation.kind === 'direct') throw forbidden('a direct conversation has exactly two members');
    if (targetId !== userId) {
      requireModerator(m);
      const target = await this.store.getMember(conversationId, targetId);
      if (!target) throw notFound('member');
      // An admin may remove members; only the owner may remove an admin, and nobody the owner.
      if (target.role === 'owner' || (isModerator(target.role) && m.member.role !== 'owner')) {
        throw forbidden(`you cannot remove the ${target.role}`);
      }
    }
    await this.committer.apply({ kind: 'member.leave', conversationId, actorId: userId, at: Date.now(), userId: targetId });
  }

  private async requireUsers(ids: string[]): Promise<void> {
    const found = await Promise.all(ids.map((id) => this.store.getUser(id)));
    const missing = ids.filter((_, i) => !found[i]);
    if (missing.length > 0) throw new ParleyError('not_found', `user not found: ${missing.join(', ')}`);
  }
}

function encodeCursor(c: ListCursor): string {
  return Buffer.from(`${c.updatedAt}:${c.id}`).toString('base64url');
}

function decodeCursor(s: string): ListCursor {
  const text = Buffer.from(s, 'base64url').toString();
  const sep = text.indexOf(':');
  const updatedAt = Number(text.slice(0, sep));
  if (sep < 1 || !Number.isSafeInteger(updatedAt)) throw invalid('bad cursor', [{ path: 'cursor', message: 'not a cursor this server issued' }]);
  return { updatedAt, id: text.slice(sep + 1) };
}
