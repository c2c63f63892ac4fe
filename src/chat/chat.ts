/** The domain services of one node, wired to its store and bus. */
import { monotonicFactory } from 'ulid';
import type { Bus } from '../bus/bus.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import { AuthService } from './auth.ts';
import { Committer } from './committer.ts';
import { ConversationService } from './conversations.ts';
import { MessageService } from './messages.ts';
import { TokenSigner } from './tokens.ts';
import { UserService } from './users.ts';

export interface Chat {
  auth: AuthService;
  users: UserService;
  conversations: ConversationService;
  messages: MessageService;
  committer: Committer;
  store: Store;
  bus: Bus;
}

export function createChat(deps: {
  config: Config;
  jwtSecret: string;
  store: Store;
  bus: Bus;
  metrics: Metrics;
  onPublishError: (err: unknown) => void;
}): Chat {
  const { config, store, bus, metrics } = deps;
  const ulid = monotonicFactory();
  const newId = () => ulid();
  const committer = new Committer(store, bus, metrics, {
    batchSize: config.COMMIT_BATCH_SIZE,
    windowMs: config.COMMIT_WINDOW_MS,
    onPublishError: deps.onPublishError,
  });
  const signer = new TokenSigner(deps.jwtSecret, config.ACCESS_TOKEN_TTL);
  return {
    auth: new AuthService(store, signer, newId, {
      scryptCost: config.SCRYPT_COST,
      refreshTtl: config.REFRESH_TOKEN_TTL,
      loginRateLimit: config.LOGIN_RATE_LIMIT,
      registerRateLimit: config.REGISTER_RATE_LIMIT,
    }),
    users: new UserService(store),
    conversations: new ConversationService(store, bus, committer, newId, deps.onPublishError),
    messages: new MessageService(store, bus, committer, metrics, newId, config.SEND_RATE_LIMIT),
    committer,
    store,
    bus,
  };
}
