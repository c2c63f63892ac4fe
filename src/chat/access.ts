/** Who may see and do what in a conversation: the rules shared by every chat service. */
import { forbidden, notFound } from '../errors.ts';
import type { Member, Role } from '../protocol/types.ts';
import type { ConversationRecord, Store } from '../store/store.ts';

export interface Membership {
  conversation: ConversationRecord;
  member: Member;
}

/** The conversation and the caller's membership; `not_found` for a non-member, never `forbidden`. */
export async function requireMember(store: Store, conversationId: string, userId: string): Promise<Membership> {
  const m = await store.getMembership(conversationId, userId);
  if (!m) throw notFound('conversation');
  return m;
}

export const isModerator = (role: Role) => role === 'owner' || role === 'admin';

export function requireModerator(m: Membership): void {
  if (!isModerator(m.member.role)) throw forbidden('only an admin or the owner may do this');
}

/** In a direct conversation, a block either way stops the conversation. */
export async function requireNotBlocked(store: Store, m: Membership, userId: string): Promise<void> {
  if (m.conversation.kind !== 'direct') return;
  const other = (await store.listMembers(m.conversation.id)).find((x) => x.userId !== userId);
  if (other && (await store.isBlockedEitherWay(userId, other.userId))) {
    throw forbidden('this conversation is blocked');
  }
}
