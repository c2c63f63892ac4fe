/**
 * Parley's web client: one page, plain DOM, on top of the TypeScript SDK.
 * Screens: log in / register, then the conversation list beside (or, on a
 * phone, before) the open conversation.
 */
import {
  isPending,
  ParleyApiError,
  ParleyClient,
  type ChatEvent,
  type ConversationDetail,
  type ConversationSummary,
  type ListedMessage,
  type Tokens,
  type User,
} from '../client/index.ts';

const BASE = location.origin;
const TOKENS_KEY = 'parley.tokens';
const REACTIONS = ['👍', '❤️', '😂', '🎉'];
const TYPING_SHOW_MS = 5000;
// Just above the server's one-a-second pass-on rate, so a dropped frame is followed by one that passes.
const TYPING_SEND_EVERY_MS = 1100;

const app = document.getElementById('app')!;

type Child = Node | string | null | undefined | false;
function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, unknown> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else if (k in el && k !== 'list') (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const errorText = (err: unknown): string =>
  err instanceof ParleyApiError ? err.message : err instanceof Error ? err.message : String(err);

function saveTokens(t: Tokens | null): void {
  if (t) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(t));
  else sessionStorage.removeItem(TOKENS_KEY);
}

// ---------------------------------------------------------------- login

function showLogin(message = ''): void {
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const displayName = h('input', { id: 'display-name', name: 'displayName', autocomplete: 'nickname' });
  const error = h('p', { class: 'error', role: 'alert' }, message);
  const submit = async (mode: 'login' | 'register'): Promise<void> => {
    error.textContent = '';
    if (!username.value.trim() || !password.value) {
      error.textContent = 'Enter a username and a password.';
      return;
    }
    try {
      const opts = { onTokens: saveTokens };
      const client =
        mode === 'login'
          ? await ParleyClient.login(BASE, username.value.trim(), password.value, opts)
          : await ParleyClient.register(BASE, username.value.trim(), password.value, {
              ...opts,
              ...(displayName.value.trim() ? { displayName: displayName.value.trim() } : {}),
            });
      await startChat(client, client.user!);
    } catch (err) {
      error.textContent = errorText(err);
    }
  };
  app.replaceChildren(
    h(
      'form',
      { class: 'login', 'aria-label': 'Log in', onsubmit: (e: Event) => (e.preventDefault(), void submit('login')) },
      h('h1', {}, 'Parley'),
      h('p', { class: 'muted' }, 'Log in, or pick a username and password to register.'),
      h('div', { class: 'field' }, h('label', { htmlFor: 'username' }, 'Username'), username),
      h('div', { class: 'field' }, h('label', { htmlFor: 'password' }, 'Password'), password),
      h('div', { class: 'field' }, h('label', { htmlFor: 'display-name' }, 'Display name (for registering, optional)'), displayName),
      error,
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'submit', class: 'primary' }, 'Log in'),
        h('button', { type: 'button', onclick: () => void submit('register') }, 'Register'),
      ),
    ),
  );
  username.focus();
}

// ---------------------------------------------------------------- chat

interface Chat {
  client: ParleyClient;
  me: User;
  users: Map<string, User>;
  convs: ConversationSummary[];
  details: Map<string, ConversationDetail>;
  presence: Map<string, 'online' | 'offline'>;
  /** Per conversation, each member's lastReadSeq (from details, then receipts). */
  reads: Map<string, Map<string, number>>;
  /** Per conversation, who is typing, with the timer that hides it. */
  typing: Map<string, Map<string, ReturnType<typeof setTimeout>>>;
  current: string | null;
  offView: (() => void) | null;
  lastTypingSent: number;
  pendingRead: number;
}

let chat: Chat | null = null;

const el = {
  shell: h('div', { class: 'shell' }),
  conn: h('span', { class: 'conn', role: 'status', 'aria-label': 'Connection' }, 'connecting…'),
  list: h('ul', { class: 'convs', 'aria-label': 'Conversations' }),
  main: h('section', { class: 'main', 'aria-label': 'Conversation' }),
  messages: h('ol', { class: 'messages', 'aria-label': 'Messages' }),
  typing: h('div', { class: 'typing', 'aria-live': 'polite', 'aria-label': 'Typing' }),
  title: h('h2', {}),
  headDot: h('span', { class: 'dot', 'aria-hidden': 'true' }),
  headInfo: h('span', { class: 'muted' }),
};

async function startChat(client: ParleyClient, me: User): Promise<void> {
  chat?.client.close();
  const c: Chat = {
    client,
    me,
    users: new Map([[me.id, me]]),
    convs: [],
    details: new Map(),
    presence: new Map(),
    reads: new Map(),
    typing: new Map(),
    current: null,
    offView: null,
    lastTypingSent: 0,
    pendingRead: 0,
  };
  chat = c;
  client.on('connection', (s) => {
    el.conn.textContent = s.state === 'open' ? 'online' : s.state === 'waiting' ? 'reconnecting…' : s.state;
    el.conn.className = `conn ${s.state}`;
    if (s.state === 'open') void refreshList();
    if (s.state === 'closed' && s.error && chat === c) showLogin('Your session ended. Please log in again.');
  });
  client.on('event', (e) => onEvent(c, e));
  client.on('typing', ({ conversationId, userId }) => {
    let m = c.typing.get(conversationId);
    if (!m) c.typing.set(conversationId, (m = new Map()));
    clearTimeout(m.get(userId));
    m.set(
      userId,
      setTimeout(() => {
        m.delete(userId);
        renderTyping();
      }, TYPING_SHOW_MS),
    );
    void userName(userId).then(renderTyping);
  });
  client.on('receipt', ({ conversationId, userId, seq }) => {
    let m = c.reads.get(conversationId);
    if (!m) c.reads.set(conversationId, (m = new Map()));
    if ((m.get(userId) ?? 0) < seq) m.set(userId, seq);
    if (conversationId === c.current) renderMessages();
    scheduleRefresh();
  });
  client.on('presence', (p) => {
    c.presence.set(p.userId, p.status);
    renderList();
    renderHead();
  });
  renderShell();
  try {
    await client.connect();
  } catch (err) {
    if (chat === c) showLogin(errorText(err));
  }
}

function renderShell(): void {
  const c = chat!;
  el.shell.className = 'shell';
  el.shell.replaceChildren(
    h(
      'header',
      { class: 'topbar' },
      h('span', { class: 'brand' }, 'Parley'),
      h('span', { class: 'who muted' }, `${c.me.displayName} (@${c.me.username})`),
      h('span', { class: 'spacer' }),
      el.conn,
      h('button', { type: 'button', onclick: () => void logout() }, 'Log out'),
    ),
    h('nav', { class: 'sidebar', 'aria-label': 'Chats' }, ...newChatForms(), el.list),
    el.main,
  );
  app.replaceChildren(el.shell);
  renderEmptyMain();
}

async function logout(): Promise<void> {
  const c = chat;
  chat = null;
  try {
    await c?.client.logout();
  } catch {
    /* the login is gone either way */
  }
  saveTokens(null);
  showLogin();
}

function formStatus(): HTMLParagraphElement {
  return h('p', { class: 'error', role: 'alert' });
}

function newChatForms(): HTMLElement[] {
  const dmUser = h('input', { id: 'dm-user', type: 'text', list: 'dm-suggestions', autocomplete: 'off' });
  const suggestions = h('datalist', { id: 'dm-suggestions' });
  const dmStatus = formStatus();
  let searchTimer: ReturnType<typeof setTimeout> | undefined;
  dmUser.addEventListener('input', () => {
    clearTimeout(searchTimer);
    const q = dmUser.value.trim();
    if (!q) return;
    searchTimer = setTimeout(async () => {
      try {
        const found = await chat!.client.api.searchUsers(q, { limit: 8 });
        suggestions.replaceChildren(...found.items.filter((u) => u.id !== chat!.me.id).map((u) => h('option', { value: u.username }, u.displayName)));
      } catch {
        /* suggestions are optional */
      }
    }, 200);
  });
  const startDm = async (e: Event): Promise<void> => {
    e.preventDefault();
    dmStatus.textContent = '';
    const name = dmUser.value.trim().replace(/^@/, '');
    if (!name) return;
    try {
      const found = await chat!.client.api.searchUsers(name, { limit: 20 });
      const user = found.items.find((u) => u.username.toLowerCase() === name.toLowerCase());
      if (!user) throw new Error(`No user named ${name}.`);
      const conv = await chat!.client.api.createConversation({ kind: 'direct', userId: user.id });
      dmUser.value = '';
      await openCreated(conv);
    } catch (err) {
      dmStatus.textContent = errorText(err);
    }
  };

  const groupTitle = h('input', { id: 'group-title', type: 'text' });
  const groupMembers = h('input', { id: 'group-members', type: 'text', placeholder: 'alice, bob' });
  const groupStatus = formStatus();
  const createGroup = async (e: Event): Promise<void> => {
    e.preventDefault();
    groupStatus.textContent = '';
    try {
      const names = groupMembers.value.split(',').map((s) => s.trim().replace(/^@/, '')).filter(Boolean);
      const ids: string[] = [];
      for (const n of names) {
        const found = await chat!.client.api.searchUsers(n, { limit: 20 });
        const u = found.items.find((x) => x.username.toLowerCase() === n.toLowerCase());
        if (!u) throw new Error(`No user named ${n}.`);
        ids.push(u.id);
      }
      const conv = await chat!.client.api.createConversation({ kind: 'group', title: groupTitle.value, memberIds: ids });
      groupTitle.value = groupMembers.value = '';
      await openCreated(conv);
    } catch (err) {
      groupStatus.textContent = errorText(err);
    }
  };

  const channelTitle = h('input', { id: 'channel-title', type: 'text' });
  const channelPublic = h('input', { id: 'channel-public', type: 'checkbox', checked: true });
  const channelStatus = formStatus();
  const createChannel = async (e: Event): Promise<void> => {
    e.preventDefault();
    channelStatus.textContent = '';
    try {
      const conv = await chat!.client.api.createConversation({ kind: 'channel', title: channelTitle.value, public: channelPublic.checked });
      channelTitle.value = '';
      await openCreated(conv);
    } catch (err) {
      channelStatus.textContent = errorText(err);
    }
  };

  const joinId = h('input', { id: 'join-id', type: 'text' });
  const joinStatus = formStatus();
  const join = async (e: Event): Promise<void> => {
    e.preventDefault();
    joinStatus.textContent = '';
    const id = joinId.value.trim();
    if (!id) return;
    try {
      await chat!.client.api.join(id);
      joinId.value = '';
      await openCreated(await chat!.client.api.conversation(id));
    } catch (err) {
      joinStatus.textContent = errorText(err);
    }
  };

  return [
    h(
      'details',
      { open: true },
      h('summary', {}, 'Direct message'),
      h(
        'form',
        { onsubmit: startDm, 'aria-label': 'Start a direct message' },
        h('label', { htmlFor: 'dm-user' }, 'Username to message'),
        h('div', { class: 'row' }, dmUser, h('button', { type: 'submit', class: 'primary' }, 'Start DM')),
        suggestions,
        dmStatus,
      ),
    ),
    h(
      'details',
      {},
      h('summary', {}, 'New group'),
      h(
        'form',
        { onsubmit: createGroup, 'aria-label': 'Create a group' },
        h('label', { htmlFor: 'group-title' }, 'Group title'),
        groupTitle,
        h('label', { htmlFor: 'group-members' }, 'Members (usernames, comma-separated)'),
        groupMembers,
        h('button', { type: 'submit' }, 'Create group'),
        groupStatus,
      ),
    ),
    h(
      'details',
      {},
      h('summary', {}, 'New channel / join'),
      h(
        'form',
        { onsubmit: createChannel, 'aria-label': 'Create a channel' },
        h('label', { htmlFor: 'channel-title' }, 'Channel title'),
        channelTitle,
        h('div', { class: 'row' }, channelPublic, h('label', { htmlFor: 'channel-public' }, 'Public (anyone with the id may join)')),
        h('button', { type: 'submit' }, 'Create channel'),
        channelStatus,
      ),
      h(
        'form',
        { onsubmit: join, 'aria-label': 'Join a channel' },
        h('label', { htmlFor: 'join-id' }, 'Channel id'),
        h('div', { class: 'row' }, joinId, h('button', { type: 'submit' }, 'Join')),
        joinStatus,
      ),
    ),
  ];
}

async function openCreated(conv: ConversationDetail): Promise<void> {
  await ingestDetail(conv);
  await refreshList();
  await openConversation(conv.id);
}

// ---------------------------------------------------------------- users, list

const userFetches = new Map<string, Promise<User | null>>();
async function userName(id: string): Promise<string> {
  const c = chat!;
  const known = c.users.get(id);
  if (known) return known.displayName;
  let p = userFetches.get(id);
  if (!p) {
    p = c.client.api.user(id).then(
      (u) => (c.users.set(u.id, u), u),
      () => null,
    );
    userFetches.set(id, p);
  }
  return (await p)?.displayName ?? 'someone';
}
const nameNow = (id: string): string => chat?.users.get(id)?.displayName ?? '…';

/** The other member of a direct conversation, once its detail is known. */
function partner(id: string): string | undefined {
  return chat?.details.get(id)?.members.find((m) => m.userId !== chat!.me.id)?.userId;
}

function convName(s: ConversationSummary): string {
  if (s.kind !== 'direct') return `${s.kind === 'channel' ? '#' : ''}${chat?.client.conversation(s.id).title ?? s.title ?? 'untitled'}`;
  const p = partner(s.id);
  return p ? nameNow(p) : 'Direct message';
}

let refreshTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleRefresh(): void {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refreshList(), 250);
}

async function refreshList(): Promise<void> {
  const c = chat;
  if (!c) return;
  try {
    const page = await c.client.api.listConversations({ limit: 200 });
    if (chat !== c) return;
    c.convs = page.items;
    const missing = page.items.filter((s) => !c.details.has(s.id));
    await Promise.all(missing.map((s) => loadDetail(s.id)));
    renderList();
    if (c.current) renderHead();
  } catch {
    /* kept as it was; the next event refreshes again */
  }
}

async function loadDetail(id: string): Promise<ConversationDetail | null> {
  const c = chat!;
  try {
    return await ingestDetail(await c.client.api.conversation(id));
  } catch {
    return null;
  }
}

/** Keeps a conversation's members: their names, read positions and (for DMs and the open one) presence. */
async function ingestDetail(d: ConversationDetail): Promise<ConversationDetail> {
  const c = chat!;
  c.details.set(d.id, d);
  let reads = c.reads.get(d.id);
  if (!reads) c.reads.set(d.id, (reads = new Map()));
  for (const m of d.members) if ((reads.get(m.userId) ?? 0) < m.lastReadSeq) reads.set(m.userId, m.lastReadSeq);
  await Promise.all(d.members.map((m) => userName(m.userId)));
  const others = d.members.map((m) => m.userId).filter((u) => u !== c.me.id && !c.presence.has(u));
  if (d.kind === 'direct' || d.id === c.current) void watch(others);
  return d;
}

async function watch(ids: string[]): Promise<void> {
  const c = chat!;
  if (ids.length === 0) return;
  for (const id of ids) c.presence.set(id, c.presence.get(id) ?? 'offline');
  try {
    for (const p of await c.client.watch(ids.slice(0, 1000))) c.presence.set(p.userId, p.status);
    renderList();
    renderHead();
  } catch {
    for (const id of ids) c.presence.delete(id); // retried on the next refresh
  }
}

function renderList(): void {
  const c = chat;
  if (!c) return;
  if (c.convs.length === 0) {
    el.list.replaceChildren(h('li', { class: 'muted', style: 'padding: 14px' }, 'No conversations yet.'));
    return;
  }
  el.list.replaceChildren(
    ...c.convs.map((s) => {
      const unread = s.id === c.current ? 0 : s.unreadCount;
      const p = s.kind === 'direct' ? partner(s.id) : undefined;
      const last = s.lastMessage;
      const lastText = last ? `${last.senderId === c.me.id ? 'You' : nameNow(last.senderId)}: ${last.body}` : 'No messages yet';
      return h(
        'li',
        {},
        h(
          'button',
          {
            type: 'button',
            'aria-current': s.id === c.current ? 'true' : 'false',
            'aria-label': `${convName(s)}${unread ? `, ${unread} unread` : ''}`,
            'data-id': s.id,
            onclick: () => void openConversation(s.id),
          },
          h(
            'span',
            { class: 'name' },
            p ? h('span', { class: `dot ${c.presence.get(p) ?? ''}`, title: c.presence.get(p) ?? 'offline' }) : null,
            convName(s),
          ),
          unread ? h('span', { class: 'badge', 'aria-label': 'Unread' }, String(unread)) : h('span', {}),
          h('span', { class: 'last' }, lastText),
        ),
      );
    }),
  );
}

// ---------------------------------------------------------------- one conversation

function renderEmptyMain(): void {
  el.main.replaceChildren(h('p', { class: 'empty' }, 'Pick a conversation, or start one.'));
}

async function openConversation(id: string): Promise<void> {
  const c = chat!;
  c.offView?.();
  c.current = id;
  el.shell.classList.add('in-conv');
  const view = c.client.conversation(id);
  const text = h('textarea', { id: 'composer', 'aria-label': 'Message', placeholder: 'Write a message', rows: 1 });
  const send = (): void => {
    const body = text.value.trim();
    if (!body) return;
    text.value = '';
    c.lastTypingSent = 0; // a message ends the typing; the next keystroke announces it again
    c.client.send(id, body).catch((err) => alert(errorText(err)));
    stickToBottom = true;
  };
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      send();
    }
  });
  text.addEventListener('input', () => {
    const now = Date.now();
    if (text.value && now - c.lastTypingSent > TYPING_SEND_EVERY_MS) {
      c.lastTypingSent = now;
      c.client.typing(id).catch(() => {});
    }
  });
  el.main.replaceChildren(
    h(
      'header',
      { class: 'convhead' },
      h('button', { type: 'button', class: 'back', 'aria-label': 'Back to conversations', onclick: closeConversation }, '←'),
      el.headDot,
      el.title,
      el.headInfo,
    ),
    el.messages,
    el.typing,
    h(
      'form',
      { class: 'composer', 'aria-label': 'Composer', onsubmit: (e: Event) => (e.preventDefault(), send()) },
      text,
      h('button', { type: 'submit', class: 'primary' }, 'Send'),
    ),
  );
  el.messages.replaceChildren();
  stickToBottom = true;
  renderList();
  renderHead();
  renderTyping();
  c.offView = view.onChange(() => renderMessages());
  if (!c.details.has(id)) await loadDetail(id);
  else {
    const others = c.details.get(id)!.members.map((m) => m.userId).filter((u) => u !== c.me.id && !c.presence.has(u));
    void watch(others);
  }
  renderHead();
  if (view.messages().length === 0 && view.hasOlder) await view.loadOlder(50).catch(() => 0);
  renderMessages();
  // Keep loading while the first pages do not fill the pane (nothing to scroll yet).
  while (c.current === id && view.hasOlder && el.messages.scrollHeight <= el.messages.clientHeight) {
    if ((await loadOlder(id)) === 0) break;
  }
  text.focus();
}

function closeConversation(): void {
  const c = chat!;
  c.offView?.();
  c.offView = null;
  c.current = null;
  el.shell.classList.remove('in-conv');
  renderEmptyMain();
  renderList();
}

let stickToBottom = true;
let loadingOlder = false;
el.messages.addEventListener('scroll', () => {
  const m = el.messages;
  stickToBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  if (stickToBottom) markRead();
  if (m.scrollTop < 80 && chat?.current) void loadOlder(chat.current);
});

async function loadOlder(id: string): Promise<number> {
  const view = chat!.client.conversation(id);
  if (loadingOlder || !view.hasOlder) return 0;
  loadingOlder = true;
  const before = el.messages.scrollHeight - el.messages.scrollTop;
  try {
    const n = await view.loadOlder(50);
    if (chat?.current === id) {
      renderMessages(true);
      el.messages.scrollTop = el.messages.scrollHeight - before;
    }
    return n;
  } catch {
    return 0;
  } finally {
    loadingOlder = false;
  }
}

function renderHead(): void {
  const c = chat;
  if (!c?.current) return;
  const s = c.convs.find((x) => x.id === c.current);
  const d = c.details.get(c.current);
  const summary = s ?? d;
  el.title.textContent = summary ? convName(summary) : '…';
  const others = d?.members.filter((m) => m.userId !== c.me.id) ?? [];
  if (d?.kind === 'direct' && others[0]) {
    const st = c.presence.get(others[0].userId) ?? 'offline';
    el.headDot.className = `dot ${st}`;
    el.headDot.style.display = '';
    el.headInfo.textContent = st;
    el.headInfo.setAttribute('aria-label', 'Presence');
  } else {
    el.headDot.style.display = 'none';
    const online = others.filter((m) => c.presence.get(m.userId) === 'online').length;
    el.headInfo.textContent = d
      ? `${d.members.length} members, ${online + 1} online${d.kind === 'channel' && d.public ? ` · id ${d.id}` : ''}`
      : '';
    el.headInfo.removeAttribute('aria-label');
  }
}

function renderTyping(): void {
  const c = chat;
  if (!c?.current) return;
  const who = [...(c.typing.get(c.current)?.keys() ?? [])].filter((u) => u !== c.me.id).map(nameNow);
  el.typing.textContent = who.length === 0 ? '' : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`;
}

function renderMessages(keepScroll = false): void {
  const c = chat;
  if (!c?.current) return;
  const id = c.current;
  const view = c.client.conversation(id);
  const list = view.messages();
  const reads = c.reads.get(id) ?? new Map<string, number>();
  let ownLast: number | null = null;
  for (const m of list) if (!isPending(m) && m.senderId === c.me.id) ownLast = m.seq;
  const items: HTMLElement[] = [];
  if (view.hasOlder && list.length > 0) items.push(h('li', { class: 'muted', style: 'align-self: center' }, 'Scroll up for older messages'));
  for (const m of list) items.push(renderMessage(id, m, ownLast, reads));
  el.messages.replaceChildren(...items);
  if (stickToBottom && !keepScroll) el.messages.scrollTop = el.messages.scrollHeight;
  markRead();
}

function renderMessage(convId: string, m: ListedMessage, ownLast: number | null, reads: Map<string, number>): HTMLElement {
  const c = chat!;
  const mine = m.senderId === c.me.id;
  const time = new Date(m.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (isPending(m)) {
    return h(
      'li',
      { class: 'msg mine pending', 'data-pending': m.clientMsgId },
      h('div', { class: 'meta' }, `You · sending…`),
      h('div', { class: 'body' }, m.body),
    );
  }
  const actions: HTMLElement[] = [];
  if (!m.deleted) {
    for (const e of REACTIONS) {
      const on = m.reactions[e]?.includes(c.me.id) ?? false;
      actions.push(
        h(
          'button',
          { type: 'button', 'aria-label': `React ${e}`, 'aria-pressed': String(on), onclick: () => void c.client.react(convId, m.seq, e, !on).catch((err) => alert(errorText(err))) },
          e,
        ),
      );
    }
    if (mine) {
      actions.push(
        h(
          'button',
          {
            type: 'button',
            'aria-label': 'Edit message',
            onclick: () => {
              const body = prompt('Edit message', m.body);
              if (body !== null && body.trim() && body !== m.body) c.client.edit(convId, m.seq, body).catch((err) => alert(errorText(err)));
            },
          },
          'Edit',
        ),
        h(
          'button',
          {
            type: 'button',
            'aria-label': 'Delete message',
            onclick: () => {
              if (confirm('Delete this message?')) c.client.delete(convId, m.seq).catch((err) => alert(errorText(err)));
            },
          },
          'Delete',
        ),
      );
    }
  }
  let seen: HTMLElement | null = null;
  if (mine && m.seq === ownLast) {
    const by = [...reads.entries()].filter(([u, s]) => u !== c.me.id && s >= m.seq).map(([u]) => nameNow(u));
    if (by.length > 0) seen = h('div', { class: 'seen', 'aria-label': 'Seen by' }, `Seen by ${by.join(', ')}`);
  }
  const reactions = Object.entries(m.reactions).filter(([, users]) => users.length > 0);
  return h(
    'li',
    { class: `msg${mine ? ' mine' : ''}${m.deleted ? ' deleted' : ''}`, 'data-seq': String(m.seq) },
    h('div', { class: 'meta' }, `${mine ? 'You' : nameNow(m.senderId)} · ${time}${m.editedAt ? ' · edited' : ''}`),
    h('div', { class: 'body' }, m.deleted ? 'message deleted' : m.body),
    reactions.length
      ? h('div', { class: 'reactions' }, ...reactions.map(([e, users]) => h('span', { title: users.map(nameNow).join(', ') }, `${e} ${users.length}`)))
      : null,
    actions.length ? h('div', { class: 'actions' }, ...actions) : null,
    seen,
  );
}

/** Marks the open conversation read up to its newest message while the page is visible and scrolled down. */
function markRead(): void {
  const c = chat;
  if (!c?.current || document.visibilityState !== 'visible' || !stickToBottom || c.client.state !== 'open') return;
  const view = c.client.conversation(c.current);
  const seq = view.lastSeq;
  if (seq <= view.lastReadSeq || seq <= c.pendingRead) return;
  c.pendingRead = seq;
  const id = c.current;
  c.client
    .read(id, seq)
    .then(() => scheduleRefresh())
    .catch(() => {})
    .finally(() => {
      if (c.pendingRead === seq) c.pendingRead = 0;
    });
}
document.addEventListener('visibilitychange', markRead);

function onEvent(c: Chat, e: ChatEvent): void {
  if (chat !== c) return;
  if (e.kind === 'message.created') {
    // A message ends its sender's typing.
    const t = c.typing.get(e.conversationId);
    const timer = t?.get(e.data.senderId);
    if (t && timer !== undefined) {
      clearTimeout(timer);
      t.delete(e.data.senderId);
      renderTyping();
    }
  }
  if (e.kind === 'member.joined' || e.kind === 'member.left' || e.kind === 'conversation.updated') {
    c.details.delete(e.conversationId);
  }
  scheduleRefresh();
}

// The browser knows about network loss before the socket does.
addEventListener('offline', () => chat?.client.disconnect());
addEventListener('online', () => {
  if (chat) chat.client.connect().catch(() => {});
});

// ---------------------------------------------------------------- start

async function boot(): Promise<void> {
  const stored = sessionStorage.getItem(TOKENS_KEY);
  if (!stored) return showLogin();
  try {
    const client = new ParleyClient({ baseUrl: BASE, tokens: JSON.parse(stored) as Tokens, onTokens: saveTokens });
    const me = await client.api.me();
    await startChat(client, me);
  } catch {
    saveTokens(null);
    showLogin();
  }
}
void boot();
