// Which session each chat has active: the pointer a plain message follows,
// kept in memory and saved with the chat's record.
import type { ChatRecord, SessionStore } from "./store.ts";

/** The active session's name per chat, persisted through the store. */
export class ActiveSessions {
  #store: SessionStore;
  #names = new Map<string, string>();

  constructor(store: SessionStore) {
    this.#store = store;
  }

  /** Takes the pointers of loaded chat records that name an existing session. */
  restore(
    chats: readonly ChatRecord[],
    exists: (chatKey: string, name: string) => boolean,
  ): void {
    for (const { chatKey, activeSession } of chats) {
      if (activeSession && exists(chatKey, activeSession)) {
        this.#names.set(chatKey, activeSession);
      }
    }
  }

  /** The chat's active session name, if any. */
  get(chatKey: string): string | undefined {
    return this.#names.get(chatKey);
  }

  /**
   * Points the chat at `name` (undefined: none), saved before it takes effect.
   * @throws {StoreWriteError}
   */
  async set(chatKey: string, name: string | undefined): Promise<void> {
    if (this.#names.get(chatKey) === name) return;
    await this.#store.saveChat({ chatKey, activeSession: name });
    if (name === undefined) this.#names.delete(chatKey);
    else this.#names.set(chatKey, name);
  }
}
