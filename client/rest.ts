/**
 * Typed calls for every REST route of protocol v1. Each answers the object the
 * protocol names, `undefined` for a 204, or throws a `ParleyApiError` (the
 * server's error) or a `ParleyClientError` (no answer). A 401 on an
 * authenticated call renews the access token once and repeats the call.
 */
import type { RegisterBody, CreateConversationBody, SendBody } from '../src/protocol/rest.ts';
import type { AuthResult, ChatEvent, ConversationDetail, ConversationSummary, Message, Page, User } from '../src/protocol/types.ts';
import { errorCodes } from '../src/errors.ts';
import { ParleyApiError, ParleyClientError, type ErrorCode, type FieldIssue } from './errors.ts';

/** Where the bearer token comes from; the client's token manager implements it. */
export interface AccessTokenSource {
  /** A token valid now, or null when the client has none. */
  accessToken(): Promise<string | null>;
  /** A token other than `rejected`, after the server refused it; throws when none can be had. */
  renew(rejected: string): Promise<string>;
}

export interface RestOptions {
  /** The server's base URL, e.g. `https://chat.example.com` (a path prefix is kept). */
  baseUrl: string;
  auth?: AccessTokenSource;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

export interface ConversationPage {
  items: ConversationSummary[];
  nextCursor: string | null;
}
export interface MessagePage {
  items: Message[];
  nextBeforeSeq: number | null;
}
export interface EventPage {
  items: ChatEvent[];
  nextAfterSeq: number | null;
}

type Query = Record<string, string | number | undefined>;
interface CallOptions {
  body?: unknown;
  query?: Query;
  /** False for the auth routes, which take no bearer token. */
  auth?: boolean;
}

const seg = (s: string | number) => encodeURIComponent(String(s));

export class RestClient {
  readonly baseUrl: string;
  private readonly auth: AccessTokenSource | undefined;
  private readonly fetchFn: typeof fetch;

  constructor(opts: RestOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.auth = opts.auth;
    // Bound: some browsers refuse a fetch called with another `this`.
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  // Auth

  register(body: RegisterBody): Promise<AuthResult> {
    return this.call('POST', '/v1/auth/register', { body, auth: false });
  }
  login(username: string, password: string): Promise<AuthResult> {
    return this.call('POST', '/v1/auth/login', { body: { username, password }, auth: false });
  }
  /** Rotates the pair: the refresh token given is spent, the answer holds the new one. */
  refresh(refreshToken: string): Promise<AuthResult> {
    return this.call('POST', '/v1/auth/refresh', { body: { refreshToken }, auth: false });
  }
  logout(refreshToken: string): Promise<void> {
    return this.call('POST', '/v1/auth/logout', { body: { refreshToken }, auth: false });
  }

  // Users

  me(): Promise<User> {
    return this.call('GET', '/v1/me');
  }
  updateMe(body: { displayName: string }): Promise<User> {
    return this.call('PATCH', '/v1/me', { body });
  }
  user(userId: string): Promise<User> {
    return this.call('GET', `/v1/users/${seg(userId)}`);
  }
  /** Users whose username or display name starts with `q`. */
  searchUsers(q: string, opts: { limit?: number } = {}): Promise<Page<User>> {
    return this.call('GET', '/v1/users', { query: { q, limit: opts.limit } });
  }
  block(userId: string): Promise<void> {
    return this.call('POST', `/v1/users/${seg(userId)}/block`);
  }
  unblock(userId: string): Promise<void> {
    return this.call('DELETE', `/v1/users/${seg(userId)}/block`);
  }

  // Conversations

  /** `{kind: 'direct', userId}`, `{kind: 'group', title, memberIds}` or `{kind: 'channel', title, public}`. */
  createConversation(body: CreateConversationBody): Promise<ConversationDetail> {
    return this.call('POST', '/v1/conversations', { body });
  }
  /** Most recently active first; pass `nextCursor` back as `cursor` for the next page. */
  listConversations(opts: { limit?: number; cursor?: string } = {}): Promise<ConversationPage> {
    return this.call('GET', '/v1/conversations', { query: opts });
  }
  conversation(conversationId: string): Promise<ConversationDetail> {
    return this.call('GET', `/v1/conversations/${seg(conversationId)}`);
  }
  updateConversation(conversationId: string, body: { title: string }): Promise<ConversationDetail> {
    return this.call('PATCH', `/v1/conversations/${seg(conversationId)}`, { body });
  }
  addMembers(conversationId: string, userIds: string[]): Promise<void> {
    return this.call('POST', `/v1/conversations/${seg(conversationId)}/members`, { body: { userIds } });
  }
  join(conversationId: string): Promise<void> {
    return this.call('POST', `/v1/conversations/${seg(conversationId)}/join`);
  }
  /** Removes a member, or leaves when `userId` is the caller's own. */
  removeMember(conversationId: string, userId: string): Promise<void> {
    return this.call('DELETE', `/v1/conversations/${seg(conversationId)}/members/${seg(userId)}`);
  }

  // Messages and events

  /** Idempotent on `clientMsgId`: a repeat answers the original message. */
  sendMessage(conversationId: string, body: SendBody): Promise<Message> {
    return this.call<{ message: Message }>('POST', `/v1/conversations/${seg(conversationId)}/messages`, { body }).then((r) => r.message);
  }
  editMessage(conversationId: string, seq: number, body: string): Promise<Message> {
    return this.call('PATCH', `/v1/conversations/${seg(conversationId)}/messages/${seg(seq)}`, { body: { body } });
  }
  deleteMessage(conversationId: string, seq: number): Promise<void> {
    return this.call('DELETE', `/v1/conversations/${seg(conversationId)}/messages/${seg(seq)}`);
  }
  addReaction(conversationId: string, seq: number, emoji: string): Promise<void> {
    return this.call('PUT', `/v1/conversations/${seg(conversationId)}/messages/${seg(seq)}/reactions/${seg(emoji)}`);
  }
  removeReaction(conversationId: string, seq: number, emoji: string): Promise<void> {
    return this.call('DELETE', `/v1/conversations/${seg(conversationId)}/messages/${seg(seq)}/reactions/${seg(emoji)}`);
  }
  /** Messages as they stand now, newest first; without `beforeSeq`, the newest. */
  messages(conversationId: string, opts: { beforeSeq?: number; limit?: number } = {}): Promise<MessagePage> {
    return this.call('GET', `/v1/conversations/${seg(conversationId)}/messages`, { query: opts });
  }
  /** The event log in seq order, from `afterSeq + 1`. */
  events(conversationId: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<EventPage> {
    return this.call('GET', `/v1/conversations/${seg(conversationId)}/events`, { query: opts });
  }
  /** Marks everything up to `seq` read; `lastReadSeq` never goes back. */
  read(conversationId: string, seq: number): Promise<void> {
    return this.call('POST', `/v1/conversations/${seg(conversationId)}/read`, { body: { seq } });
  }

  // Operations

  health(): Promise<{ status: string }> {
    return this.call('GET', '/healthz', { auth: false });
  }
  ready(): Promise<{ status: string }> {
    return this.call('GET', '/readyz', { auth: false });
  }

  /** Any route: for additions the typed methods do not cover yet. */
  async call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const useAuth = opts.auth !== false && this.auth !== undefined;
    const token = useAuth ? await this.auth!.accessToken() : null;
    const res = await this.fetchOnce(method, path, opts, token);
    if (res.status === 401 && token !== null) {
      const error = await errorOf(res);
      if (error.code !== 'unauthorized') throw error;
      // Expired between our check and the server's: one more try with a fresh token.
      const fresh = await this.auth!.renew(token);
      return this.result<T>(await this.fetchOnce(method, path, opts, fresh));
    }
    return this.result<T>(res);
  }

  private async fetchOnce(method: string, path: string, opts: CallOptions, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    // Routes without fields take no body at all: an empty JSON body is not JSON.
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    try {
      return await this.fetchFn(this.baseUrl + path + queryString(opts.query), { method, headers, body });
    } catch (err) {
      throw new ParleyClientError('network', `${method} ${path} failed: ${(err as Error)?.message ?? err}`, { cause: err });
    }
  }

  private async result<T>(res: Response): Promise<T> {
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** The first code the registry maps to a status (a 404 from a proxy is still `not_found`). */
function codeForStatus(status: number): ErrorCode {
  const hit = (Object.entries(errorCodes) as [ErrorCode, number][]).find(([, s]) => s === status);
  return hit ? hit[0] : status >= 500 ? 'internal' : 'invalid_request';
}

/** The protocol's error body, or a stand-in when a proxy answered with something else. */
async function errorOf(res: Response): Promise<ParleyApiError> {
  let code = codeForStatus(res.status);
  let message = `HTTP ${res.status}`;
  let details: FieldIssue[] | undefined;
  try {
    const body = (await res.json()) as { error?: { code?: ErrorCode; message?: string; details?: FieldIssue[] } };
    if (body?.error?.code) {
      code = body.error.code;
      message = body.error.message ?? message;
      details = body.error.details;
    }
  } catch {
    // not the protocol's JSON: keep the stand-in
  }
  const header = res.headers.get('retry-after');
  const retryAfter = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  return new ParleyApiError(res.status, code, message, { details, retryAfter });
}
