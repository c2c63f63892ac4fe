/** REST request schemas: bodies refuse unknown fields; query strings arrive as text. */
import { z } from 'zod';
import * as f from './fields.ts';
import { EVENTS_MAX_LIMIT, HISTORY_MAX_LIMIT, MAX_GROUP_MEMBERS_PER_CALL } from './limits.ts';

export const registerBody = z.strictObject({
  username: f.username,
  password: f.password,
  displayName: f.displayName.optional(),
});
/** Actions with nothing to say (join, block, add a reaction): no body, or `{}`. */
export const emptyBody = z.strictObject({});
export const loginBody = z.strictObject({ username: z.string().max(256), password: z.string().max(1024) });
export const refreshBody = z.strictObject({ refreshToken: z.string().min(1).max(512) });
export const patchMeBody = z.strictObject({ displayName: f.displayName });

export const createConversationBody = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('direct'), userId: f.id }),
  z.strictObject({
    kind: z.literal('group'),
    title: f.title,
    memberIds: z.array(f.id).max(MAX_GROUP_MEMBERS_PER_CALL),
  }),
  z.strictObject({ kind: z.literal('channel'), title: f.title, public: z.boolean() }),
]);
export const patchConversationBody = z.strictObject({ title: f.title });
export const addMembersBody = z.strictObject({ userIds: z.array(f.id).min(1).max(MAX_GROUP_MEMBERS_PER_CALL) });

export const sendBody = z.strictObject({
  clientMsgId: f.clientMsgId,
  body: f.body,
  replyToSeq: f.seq.nullish(),
  attachments: f.attachments.optional(),
});
export const editBody = z.strictObject({ body: f.body });
export const readBody = z.strictObject({ seq: f.seqOrZero });

/** Query numbers: digits only, so `limit=1e3` or `limit=-1` is a 400, not a surprise. */
const queryInt = (schema: z.ZodNumber) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'a non-negative integer')
    .transform(Number)
    .pipe(schema);

export const listConversationsQuery = z.strictObject({
  limit: queryInt(f.limit(200)).optional(),
  cursor: z.string().max(200).optional(),
});
export const messagesQuery = z.strictObject({
  beforeSeq: queryInt(f.seq).optional(),
  limit: queryInt(f.limit(HISTORY_MAX_LIMIT)).optional(),
});
export const eventsQuery = z.strictObject({
  afterSeq: queryInt(f.seqOrZero).optional(),
  limit: queryInt(f.limit(EVENTS_MAX_LIMIT)).optional(),
});
export const usersQuery = z.strictObject({
  q: z.string().min(1).max(64),
  limit: queryInt(f.limit(100)).optional(),
});
export const seqParam = queryInt(f.seq);

export type RegisterBody = z.infer<typeof registerBody>;
export type CreateConversationBody = z.infer<typeof createConversationBody>;
export type SendBody = z.infer<typeof sendBody>;
