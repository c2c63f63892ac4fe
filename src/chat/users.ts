/** Profiles, user search and blocks. */
import { invalid, notFound } from '../errors.ts';
import type { User } from '../protocol/types.ts';
import type { Store } from '../store/store.ts';
import { publicUser } from './auth.ts';

export class UserService {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  async get(id: string): Promise<User> {
    const user = await this.store.getUser(id);
    if (!user) throw notFound('user');
    return publicUser(user);
  }

  async setDisplayName(id: string, displayName: string): Promise<User> {
    await this.store.setDisplayName(id, displayName);
    return this.get(id);
  }

  async search(prefix: string, limit: number): Promise<User[]> {
    return (await this.store.searchUsers(prefix, limit)).map(publicUser);
  }

  async setBlocked(blockerId: string, blockedId: string, blocked: boolean): Promise<void> {
    if (blockerId === blockedId) throw invalid('you cannot block yourself');
    await this.get(blockedId);
    await this.store.setBlocked(blockerId, blockedId, blocked);
  }
}
