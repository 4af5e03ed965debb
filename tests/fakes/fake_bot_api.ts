// A fake Telegram Bot API server for end-to-end tests: grammY talks to it over
// 127.0.0.1 while a test queues user updates and inspects what the bot sent.

import { basename, extname } from "node:path";
import type {
  Audio,
  CallbackQuery,
  Chat,
  Document,
  File as TelegramFile,
  InlineKeyboardMarkup,
  Message,
  MessageEntity,
  PhotoSize,
  User,
  UserFromGetMe,
  Voice,
} from "grammy/types";
import { parseTelegramHtml } from "./telegram_html.ts";

/** A message the bot sent, as the user sees it now. */
export interface FakeMessage {
  message_id: number;
  chat_id: number;
  message_thread_id?: number;
  /** Visible text (HTML parsed when parse_mode is HTML); the caption for documents. */
  text: string;
  /** Raw text as sent; present when parse_mode is HTML. */
  html?: string;
  parse_mode?: string;
  reply_markup?: unknown;
  /** Successful edits of text or markup. */
  edits: number;
  deleted: boolean;
  /** The file of a sendDocument: its bytes, and decoded as UTF-8. */
  document?: { file_name: string; content: string; bytes: Uint8Array };
}

/** One Bot API call the bot made. */
export interface FakeCall {
  method: string;
  /** Parameters as received; multipart fields are strings, JSON-looking ones parsed, files left out. */
  params: Record<string, unknown>;
  /** Arrival time from the fake's clock (ms). */
  at: number;
}

/** Flood control the fake enforces on message-changing calls. */
export interface RateLimit {
  /** Minimum gap between two applied calls in one chat. */
  perChatIntervalMs: number;
  /** Applied calls allowed in any sliding second, across chats. */
  globalPerSecond: number;
  /** `retry_after` the 429 answers carry. */
  retryAfterSeconds: number;
  /** Minimum gap between two applied sendMessageDraft calls in one chat; drafts are not limited without it. */
  draftIntervalMs?: number;
  /** Applied calls allowed in any sliding minute in one group (negative chat id), its topics together; none without it. */
  groupPerMinute?: number;
}

/**
 * Who sends an update. Defaults: userId 1001, a private chat whose id is the
 * user id (as in Telegram), or chat -1001001 for groups.
 */
export interface UserRef {
  chatId?: number;
  userId?: number;
  chatType?: "private" | "group" | "supergroup";
  /** Marks the message as sent in this forum topic. */
  threadId?: number;
  /** Marks a supergroup as a forum. */
  isForum?: boolean;
  /** Title of the forum topic (with threadId): sent as the topic's creation message being replied to, as Telegram does. */
  topicName?: string;
  firstName?: string;
}

/** What a user's message replies to, and the part of it quoted. */
export interface ReplyRef {
  /**
   * The earlier message: a live bot message's id in the chat, or the text or
   * caption of any other one (the user's own, say).
   */
  replyTo?: number | { text?: string; caption?: string };
  /** A part of the replied message's text or caption (Telegram's TextQuote). */
  quote?: string;
}

/** A voice note or audio file a user sends. */
export interface AudioRef {
  caption?: string;
  /** Seconds; default 3. */
  duration?: number;
  /** Default audio/ogg for voice notes, audio/mpeg for audio files. */
  mimeType?: string;
  /** Overrides the reported size, as for documents. */
  fileSize?: number;
}

/** A sendMessageDraft the bot streamed (Bot API 9.3). */
export interface FakeDraft {
  chat_id: number;
  draft_id: number;
  message_thread_id?: number;
  /** Visible text (HTML parsed when parse_mode is HTML). */
  text: string;
  /** Raw text as sent; present when parse_mode is HTML. */
  html?: string;
  parse_mode?: string;
  /** Arrival time from the fake's clock (ms). */
  at: number;
}

/** Options for {@linkcode FakeBotApi.start}. */
export interface FakeBotApiOptions {
  /** The only token the fake accepts; others get 401. */
  token?: string;
  /** Enables flood control; without it the fake never answers 429 on its own. */
  rateLimit?: RateLimit;
  /** `false` answers sendMessageDraft like a server older than Bot API 9.3. Default true. */
  supportsDrafts?: boolean;
  /** Time source (ms) for rate limits, call times and message dates; default `Date.now`, so tests can move time by hand. */
  now?: () => number;
}

/** A Bot API error body, as the fake answers it. */
interface ApiError {
  error_code: number;
  description: string;
  parameters?: { retry_after: number };
}

type ApiResponse = { ok: true; result: unknown } | ({ ok: false } & ApiError);

/** Thrown inside a method handler to answer with a Bot API error. */
class BotApiError extends Error {
  override name = "BotApiError";
  constructor(readonly body: ApiError) {
    super(body.description);
  }
}

interface Upload {
  fileName: string;
  bytes: Uint8Array;
}

interface ParsedRequest {
  params: Record<string, unknown>;
  /** Multipart file parts by field name, which `attach://<name>` refers to. */
  uploads: Map<string, Upload>;
}

type MethodHandler = (
  params: Record<string, unknown>,
  uploads: Map<string, Upload>,
) => unknown;

interface StoredFile {
  file_id: string;
  file_unique_id: string;
  file_path: string;
  /** The name it was uploaded under; photos have none. */
  fileName?: string;
  bytes: Uint8Array<ArrayBuffer>;
  /** The size Telegram believes the file has; a test may lie to skip allocating it. */
  declaredSize: number;
}

interface BotMessage {
  view: FakeMessage;
  date: number;
  editDate?: number;
  document?: Document;
}

interface FormattedText {
  text: string;
  html?: string;
  parse_mode?: string;
}

interface TextRule {
  field: "text" | "caption";
  maxLength: number;
  /** Description when the visible text is blank; absent when blank is allowed. */
  emptyError?: string;
  tooLongError: string;
}

type PollOutcome = "update" | "timeout" | "closed" | "superseded";

interface Waiter {
  check(): void;
  fail(error: Error): void;
}

type QueuedUpdate = Record<string, unknown> & { update_id: number };

const DEFAULT_TOKEN = "123456789:AAFakeTokenForTestsOnly";
const BOT_USERNAME = "fake_test_bot";
const DEFAULT_USER_ID = 1001;
const DEFAULT_GROUP_CHAT_ID = -1001001;
const DEFAULT_FIRST_NAME = "Tester";
const GROUP_TITLE = "Test group";
const DEFAULT_WAIT_MS = 5000;
const RECENT_CALLS_IN_ERRORS = 20;
const MAX_UPDATES_PER_POLL = 100;
// Bots may download files up to 20 MB through getFile.
const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;
const MAX_CALLBACK_DATA_BYTES = 64;
const RATE_WINDOW_MS = 1000;
const GROUP_WINDOW_MS = 60_000;
const RATE_LIMITED_METHODS = new Set([
  "sendMessage",
  "editMessageText",
  "sendDocument",
  "deleteMessage",
]);
const PARSE_MODES = new Set(["HTML", "Markdown", "MarkdownV2"]);
const CHAT_ACTIONS = new Set([
  "typing",
  "upload_photo",
  "record_video",
  "upload_video",
  "record_voice",
  "upload_voice",
  "upload_document",
  "choose_sticker",
  "find_location",
  "record_video_note",
  "upload_video_note",
]);
// Telegram offers several scaled copies of a photo, smallest first.
const PHOTO_SIZES: ReadonlyArray<readonly [number, number]> = [
  [90, 68],
  [320, 240],
  [800, 600],
  [1280, 960],
];
// Telegram marks /commands that stand alone as bot_command entities; grammY's
// bot.command() relies on them.
const COMMAND_PATTERN =
  /(?<!\S)\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])/g;

const MESSAGE_TEXT: TextRule = {
  field: "text",
  maxLength: 4096,
  emptyError: "message text is empty",
  tooLongError: "message is too long",
};
const CAPTION: TextRule = {
  field: "caption",
  maxLength: 1024,
  tooLongError: "message caption is too long",
};
// An empty draft is valid: Telegram shows a "Thinking…" placeholder.
const DRAFT_TEXT: TextRule = {
  field: "text",
  maxLength: 4096,
  tooLongError: "message is too long",
};

const NOT_MODIFIED = "message is not modified: specified new message content " +
  "and reply markup are exactly the same as a current content and reply " +
  "markup of the message";

/**
 * A fake Telegram Bot API on 127.0.0.1 for grammY
 * (`new Bot(token, { client: { apiRoot } })`): it queues updates from fake
 * users, records every call, and answers with Telegram's errors.
 */
export class FakeBotApi implements AsyncDisposable {
  /** Pass as grammY's `client.apiRoot`. */
  readonly apiRoot: string;
  /** The token the fake accepts. */
  readonly token: string;
  /** Every API call with the right token, in arrival order. */
  readonly calls: FakeCall[] = [];

  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #listening: Promise<void>;
  readonly #now: () => number;
  readonly #rateLimit?: RateLimit;
  readonly #methods: Map<string, MethodHandler>;
  readonly #botUser: User;

  #closing?: Promise<void>;
  #rateLimited = 0;
  #confirmedUpdateId = 0;
  #nextUpdateId = 1;
  #pendingUpdates: QueuedUpdate[] = [];
  readonly #heldPolls = new Set<(outcome: PollOutcome) => void>();
  readonly #waiters = new Set<Waiter>();
  readonly #injectedErrors = new Map<string, ApiError[]>();
  readonly #recentChangesAt: number[] = [];
  readonly #lastChangeAtByChat = new Map<string, number>();
  readonly #lastDraftAtByChat = new Map<string, number>();
  /** Applied calls of the last minute, per group. */
  readonly #groupMinutes = new Map<string, number[]>();
  readonly #chats = new Map<number, Chat>();
  readonly #lastMessageIdByChat = new Map<number, number>();
  readonly #botMessages: BotMessage[] = [];
  readonly #drafts: FakeDraft[] = [];
  readonly #filesById = new Map<string, StoredFile>();
  readonly #filesByPath = new Map<string, StoredFile>();
  readonly #openCallbackQueries = new Set<string>();
  #nextCallbackQueryId = 1;

  private constructor(options: FakeBotApiOptions) {
    this.token = options.token ?? DEFAULT_TOKEN;
    this.#now = options.now ?? Date.now;
    this.#rateLimit = options.rateLimit;
    this.#botUser = {
      id: Number(this.token.split(":")[0]) || 1,
      is_bot: true,
      first_name: "Fake Bot",
      username: BOT_USERNAME,
    };
    this.#methods = this.#methodTable(options.supportsDrafts ?? true);
    const listening = Promise.withResolvers<void>();
    this.#listening = listening.promise;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => listening.resolve() },
      (request) => this.#handle(request),
    );
    this.apiRoot = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Starts a fake server on a free 127.0.0.1 port. */
  static async start(options: FakeBotApiOptions = {}): Promise<FakeBotApi> {
    const api = new FakeBotApi(options);
    await api.#listening;
    return api;
  }

  /** How many 429 answers the fake gave, from its rate limit or injected. */
  get rateLimited(): number {
    return this.#rateLimited;
  }

  /** Highest update_id Telegram considers confirmed (offset - 1 of the latest getUpdates). */
  get confirmedUpdateId(): number {
    return this.#confirmedUpdateId;
  }

  /**
   * Queues a text message update from a user, maybe a reply; returns the
   * update_id.
   * @throws {RangeError} when `replyTo` names no live bot message or the
   *   replied message does not contain `quote`
   */
  sendText(text: string, from: UserRef & ReplyRef = {}): number {
    const entities = commandEntities(text);
    return this.#pushMessage(from, {
      text,
      ...(entities.length > 0 ? { entities } : {}),
      ...this.#replyFields(from),
    });
  }

  /** Queues a voice note from a user; returns the update_id. */
  sendVoice(bytes: Uint8Array, from: UserRef & AudioRef = {}): number {
    const file = this.#storeFile(bytes, {
      folder: "voice",
      ext: ".oga",
      declaredSize: from.fileSize,
    });
    const voice: Voice = {
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      duration: from.duration ?? 3,
      mime_type: from.mimeType ?? "audio/ogg",
      file_size: file.declaredSize,
    };
    return this.#pushMessage(from, { voice, ...captionFields(from.caption) });
  }

  /** Queues an audio file (a music message) from a user; returns the update_id. */
  sendAudio(
    fileName: string,
    bytes: Uint8Array,
    from: UserRef & AudioRef = {},
  ): number {
    const file = this.#storeFile(bytes, {
      folder: "music",
      fileName,
      declaredSize: from.fileSize,
    });
    const audio: Audio = {
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      duration: from.duration ?? 3,
      file_name: fileName,
      mime_type: from.mimeType ?? "audio/mpeg",
      file_size: file.declaredSize,
    };
    return this.#pushMessage(from, { audio, ...captionFields(from.caption) });
  }

  /** Queues a photo message (several sizes, largest last) from a user; returns the update_id. */
  sendPhoto(
    bytes: Uint8Array,
    from: UserRef & { caption?: string } = {},
  ): number {
    const photo = PHOTO_SIZES.map(([width, height]): PhotoSize => {
      const file = this.#storeFile(bytes, { folder: "photos" });
      return {
        file_id: file.file_id,
        file_unique_id: file.file_unique_id,
        width,
        height,
        file_size: file.declaredSize,
      };
    });
    return this.#pushMessage(from, { photo, ...captionFields(from.caption) });
  }

  /**
   * Queues a document message from a user; returns the update_id.
   * @param from `fileSize` overrides the reported size, so size limits can be
   *   tested without allocating them; `mimeType` defaults to application/octet-stream.
   */
  sendDocument(
    fileName: string,
    bytes: Uint8Array,
    from: UserRef & { caption?: string; mimeType?: string; fileSize?: number } =
      {},
  ): number {
    const file = this.#storeFile(bytes, {
      folder: "documents",
      fileName,
      declaredSize: from.fileSize,
    });
    const document: Document = {
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      file_name: fileName,
      mime_type: from.mimeType ?? "application/octet-stream",
      file_size: file.declaredSize,
    };
    return this.#pushMessage(from, {
      document,
      ...captionFields(from.caption),
    });
  }

  /**
   * Queues a callback_query as if the user pressed an inline button of a bot
   * message; returns the update_id.
   * @throws {RangeError} when the chat has no such live bot message or the
   *   message offers no button with this callback data
   */
  pressButton(messageId: number, data: string, from: UserRef = {}): number {
    const { user, chat } = resolveSender(from);
    const stored = this.#liveBotMessage(chat.id, messageId);
    if (!stored) {
      throw new RangeError(
        `Cannot press button "${data}": chat ${chat.id} has no bot message ${messageId}`,
      );
    }
    const offered = callbackDataOf(stored.view.reply_markup);
    if (!offered.includes(data)) {
      throw new RangeError(
        `Cannot press button "${data}" on message ${messageId}: it offers ${
          JSON.stringify(offered)
        }`,
      );
    }
    const id = String(this.#nextCallbackQueryId++);
    this.#openCallbackQueries.add(id);
    const callbackQuery: CallbackQuery = {
      id,
      from: user,
      message: this.#toTelegramMessage(stored),
      chat_instance: String(chat.id),
      data,
    };
    return this.pushUpdate({ callback_query: callbackQuery });
  }

  /** Queues any raw update (sticker, voice, edited_message, channel_post…) with the next update_id, which it returns. */
  pushUpdate(update: Record<string, unknown>): number {
    const queued = { ...update, update_id: this.#nextUpdateId++ };
    this.#rememberChats(queued);
    this.#pendingUpdates.push(queued);
    for (const release of [...this.#heldPolls]) release("update");
    this.#changed();
    return queued.update_id;
  }

  /** Bot messages in a chat (all chats when omitted), oldest first, as copies showing the current text after edits. */
  messages(chatId?: number): FakeMessage[] {
    return this.#botMessages
      .filter((message) =>
        chatId === undefined || message.view.chat_id === chatId
      )
      .map((message) => structuredClone(message.view));
  }

  /** Drafts streamed with sendMessageDraft to a chat (all chats when omitted), oldest first, as copies. */
  drafts(chatId?: number): FakeDraft[] {
    return this.#drafts
      .filter((draft) => chatId === undefined || draft.chat_id === chatId)
      .map((draft) => structuredClone(draft));
  }

  /**
   * Resolves with the first truthy value of `probe()`, re-checked on every
   * state change (call, update). Rejects after `timeoutMs` (default 5000)
   * with an error listing the last 20 calls, on close, or when `probe` throws.
   */
  waitFor<T>(
    probe: () => T | undefined | null | false,
    options: { timeoutMs?: number; description?: string } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    const what = options.description ?? String(probe);
    return new Promise<T>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        check: () => {
          let value: T | undefined | null | false;
          try {
            value = probe();
          } catch (error) {
            settle();
            reject(error);
            return;
          }
          if (value) {
            settle();
            resolve(value);
          }
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        waiter.fail(
          new Error(
            `Cannot wait for "${what}": timed out after ${timeoutMs} ms; ` +
              `last calls:\n${this.#describeRecentCalls()}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
      waiter.check();
    });
  }

  /**
   * Makes the next `times` (default 1) calls of `method` fail with this Bot
   * API error; with `chatId`, only the calls for that chat.
   */
  injectError(
    method: string,
    error: { error_code: number; description: string; retry_after?: number },
    times = 1,
    chatId?: number,
  ): void {
    const { retry_after, ...body } = error;
    const answer: ApiError = retry_after === undefined
      ? body
      : { ...body, parameters: { retry_after } };
    const key = chatId === undefined ? method : `${method}@${chatId}`;
    const queue = this.#injectedErrors.get(key) ?? [];
    queue.push(...Array.from({ length: times }, () => answer));
    this.#injectedErrors.set(key, queue);
  }

  /** Answers held long polls with what is queued, fails pending waits, and stops the server; safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutDown(): Promise<void> {
    for (const release of [...this.#heldPolls]) release("closed");
    for (const waiter of [...this.#waiters]) {
      waiter.fail(new Error("Cannot wait for the fake Bot API: it was closed"));
    }
    await this.#server.shutdown();
  }

  #methodTable(supportsDrafts: boolean): Map<string, MethodHandler> {
    const table: Record<string, MethodHandler> = {
      getMe: () => this.#getMe(),
      deleteWebhook: (params) => this.#deleteWebhook(params),
      getUpdates: (params) => this.#getUpdates(params),
      setMyCommands: (params) => setMyCommands(params),
      sendMessage: (params) => this.#sendMessage(params),
      editMessageText: (params) => this.#editMessageText(params),
      editMessageReplyMarkup: (params) => this.#editMessageReplyMarkup(params),
      deleteMessage: (params) => this.#deleteMessage(params),
      sendChatAction: (params) => sendChatAction(params),
      sendDocument: (params, uploads) => this.#sendDocument(params, uploads),
      answerCallbackQuery: (params) => this.#answerCallbackQuery(params),
      getFile: (params) => this.#getFile(params),
      setMessageReaction: (params) => setMessageReaction(params),
    };
    if (supportsDrafts) {
      table.sendMessageDraft = (params) => this.#sendMessageDraft(params);
    }
    return new Map(Object.entries(table));
  }

  async #handle(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    const download = pathname.match(/^\/file\/bot([^/]+)\/(.+)$/);
    if (download) return this.#download(download[1], download[2]);
    const call = pathname.match(/^\/bot([^/]+)\/([^/]+)$/);
    if (!call) return answer({ ok: false, ...notFound("Not Found") });
    const [, token, method] = call;
    if (token !== this.token) {
      return answer({
        ok: false,
        error_code: 401,
        description: "Unauthorized",
      });
    }
    let parsed: ParsedRequest;
    try {
      parsed = await readRequest(request);
    } catch (error) {
      // JSON.parse throws SyntaxError and formData() TypeError on a bad body;
      // Telegram answers both with 400.
      if (!(error instanceof SyntaxError || error instanceof TypeError)) {
        throw error;
      }
      return answer({ ok: false, ...badRequest("can't parse request").body });
    }
    return answer(await this.#call(method, parsed));
  }

  async #call(method: string, request: ParsedRequest): Promise<ApiResponse> {
    this.calls.push({ method, params: request.params, at: this.#now() });
    this.#changed();
    let response: ApiResponse;
    try {
      response = { ok: true, result: await this.#dispatch(method, request) };
    } catch (error) {
      if (!(error instanceof BotApiError)) throw error;
      response = { ok: false, ...error.body };
    }
    if (!response.ok && response.error_code === 429) this.#rateLimited++;
    this.#changed();
    return response;
  }

  async #dispatch(
    method: string,
    { params, uploads }: ParsedRequest,
  ): Promise<unknown> {
    const injected =
      this.#injectedErrors.get(`${method}@${params.chat_id}`)?.shift() ??
        this.#injectedErrors.get(method)?.shift();
    if (injected) throw new BotApiError(injected);
    const handler = this.#methods.get(method);
    if (!handler) {
      throw new BotApiError(notFound("Not Found: method not found"));
    }
    if (method === "sendMessageDraft" && this.#rateLimit?.draftIntervalMs) {
      return this.#draftWithinLimit(
        this.#rateLimit,
        String(params.chat_id),
        () => handler(params, uploads),
      );
    }
    if (!this.#rateLimit || !RATE_LIMITED_METHODS.has(method)) {
      return await handler(params, uploads);
    }
    const chatKey = String(params.chat_id);
    this.#enforceRateLimit(this.#rateLimit, chatKey);
    const result = await handler(params, uploads);
    this.#noteAppliedChange(chatKey);
    return result;
  }

  #enforceRateLimit(limit: RateLimit, chatKey: string): void {
    const now = this.#now();
    while (
      this.#recentChangesAt.length > 0 &&
      now - this.#recentChangesAt[0] >= RATE_WINDOW_MS
    ) {
      this.#recentChangesAt.shift();
    }
    const lastInChat = this.#lastChangeAtByChat.get(chatKey);
    const isTooSoonInChat = lastInChat !== undefined &&
      now - lastInChat < limit.perChatIntervalMs;
    const isTooManyGlobally =
      this.#recentChangesAt.length >= limit.globalPerSecond;
    let isTooManyInGroup = false;
    if (limit.groupPerMinute !== undefined && chatKey.startsWith("-")) {
      const minute = (this.#groupMinutes.get(chatKey) ?? [])
        .filter((at) => now - at < GROUP_WINDOW_MS);
      this.#groupMinutes.set(chatKey, minute);
      isTooManyInGroup = minute.length >= limit.groupPerMinute;
    }
    if (isTooSoonInChat || isTooManyGlobally || isTooManyInGroup) {
      throw tooManyRequests(limit);
    }
  }

  #noteAppliedChange(chatKey: string): void {
    const now = this.#now();
    this.#recentChangesAt.push(now);
    this.#lastChangeAtByChat.set(chatKey, now);
    this.#groupMinutes.get(chatKey)?.push(now);
  }

  async #draftWithinLimit(
    limit: RateLimit,
    chatKey: string,
    apply: () => unknown,
  ): Promise<unknown> {
    const last = this.#lastDraftAtByChat.get(chatKey);
    if (last !== undefined && this.#now() - last < limit.draftIntervalMs!) {
      throw tooManyRequests(limit);
    }
    const result = await apply();
    this.#lastDraftAtByChat.set(chatKey, this.#now());
    return result;
  }

  #getMe(): UserFromGetMe {
    return {
      ...this.#botUser,
      is_bot: true,
      username: BOT_USERNAME,
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
      has_topics_enabled: false,
      allows_users_to_create_topics: false,
      can_manage_bots: false,
      supports_join_request_queries: false,
    };
  }

  #deleteWebhook(params: Record<string, unknown>): true {
    const lastQueued = this.#pendingUpdates.at(-1);
    if (params.drop_pending_updates === true && lastQueued) {
      this.#confirmUpTo(lastQueued.update_id);
    }
    return true;
  }

  async #getUpdates(params: Record<string, unknown>): Promise<QueuedUpdate[]> {
    const offset = optionalInteger(params, "offset");
    const limit = Math.min(
      Math.max(optionalInteger(params, "limit") ?? MAX_UPDATES_PER_POLL, 1),
      MAX_UPDATES_PER_POLL,
    );
    const timeoutSeconds = optionalInteger(params, "timeout") ?? 0;
    if (offset !== undefined && offset > 0) this.#confirmUpTo(offset - 1);
    // Telegram serves one poll at a time; a newer one ends the older with 409.
    for (const release of [...this.#heldPolls]) release("superseded");
    const mayHold = this.#pendingUpdates.length === 0 && timeoutSeconds > 0 &&
      this.#closing === undefined;
    if (mayHold && await this.#holdPoll(timeoutSeconds) === "superseded") {
      throw new BotApiError({
        error_code: 409,
        description:
          "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
      });
    }
    return this.#pendingUpdates.slice(0, limit);
  }

  #holdPoll(timeoutSeconds: number): Promise<PollOutcome> {
    return new Promise((resolve) => {
      const release = (outcome: PollOutcome) => {
        clearTimeout(timer);
        this.#heldPolls.delete(release);
        resolve(outcome);
      };
      const timer = setTimeout(() => release("timeout"), timeoutSeconds * 1000);
      this.#heldPolls.add(release);
    });
  }

  #confirmUpTo(updateId: number): void {
    this.#confirmedUpdateId = Math.max(this.#confirmedUpdateId, updateId);
    this.#pendingUpdates = this.#pendingUpdates.filter((update) =>
      update.update_id > this.#confirmedUpdateId
    );
  }

  #sendMessage(params: Record<string, unknown>): Message {
    const chatId = requireInteger(params, "chat_id");
    const content = readFormattedText(params, MESSAGE_TEXT);
    const stored = this.#storeBotMessage(chatId, {
      message_thread_id: optionalInteger(params, "message_thread_id"),
      ...content,
      reply_markup: readReplyMarkup(params),
    });
    return this.#toTelegramMessage(stored);
  }

  #editMessageText(params: Record<string, unknown>): Message {
    const stored = this.#findBotMessage(params, "message to edit not found");
    if (stored.document) {
      throw badRequest("there is no text in the message to edit");
    }
    const content = readFormattedText(params, MESSAGE_TEXT);
    // Telegram drops the inline keyboard when an edit does not repeat it.
    this.#applyEdit(stored, {
      ...content,
      reply_markup: readReplyMarkup(params),
    });
    return this.#toTelegramMessage(stored);
  }

  #editMessageReplyMarkup(params: Record<string, unknown>): Message {
    const stored = this.#findBotMessage(params, "message to edit not found");
    const { text, html, parse_mode } = stored.view;
    this.#applyEdit(stored, {
      text,
      html,
      parse_mode,
      reply_markup: readReplyMarkup(params),
    });
    return this.#toTelegramMessage(stored);
  }

  #applyEdit(
    stored: BotMessage,
    next: FormattedText & { reply_markup: unknown },
  ): void {
    const { view } = stored;
    const isUnchanged = view.text === next.text &&
      (view.html ?? view.text) === (next.html ?? next.text) &&
      JSON.stringify(view.reply_markup) === JSON.stringify(next.reply_markup);
    if (isUnchanged) throw badRequest(NOT_MODIFIED);
    stored.view = withoutUndefined({
      ...view,
      text: next.text,
      html: next.html,
      parse_mode: next.parse_mode,
      reply_markup: next.reply_markup,
      edits: view.edits + 1,
    });
    stored.editDate = this.#unixNow();
  }

  #deleteMessage(params: Record<string, unknown>): true {
    this.#findBotMessage(params, "message to delete not found").view.deleted =
      true;
    return true;
  }

  #sendDocument(
    params: Record<string, unknown>,
    uploads: Map<string, Upload>,
  ): Message {
    const chatId = requireInteger(params, "chat_id");
    const caption = readFormattedText(params, CAPTION);
    const { file, fileName } = this.#outgoingFile(params.document, uploads);
    const document: Document = {
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      file_name: fileName,
      file_size: file.declaredSize,
    };
    const stored = this.#storeBotMessage(chatId, {
      message_thread_id: optionalInteger(params, "message_thread_id"),
      ...caption,
      reply_markup: readReplyMarkup(params),
      document: {
        file_name: fileName,
        content: new TextDecoder().decode(file.bytes),
        bytes: file.bytes.slice(),
      },
    }, document);
    return this.#toTelegramMessage(stored);
  }

  /** Resolves sendDocument's `document`: a fresh upload or a known file_id. */
  #outgoingFile(
    reference: unknown,
    uploads: Map<string, Upload>,
  ): { file: StoredFile; fileName: string } {
    if (typeof reference !== "string") {
      throw badRequest("there is no document in the request");
    }
    const upload = reference.startsWith("attach://")
      ? uploads.get(reference.slice("attach://".length))
      : undefined;
    if (upload) {
      if (upload.bytes.length === 0) throw badRequest("file must be non-empty");
      const file = this.#storeFile(upload.bytes, {
        folder: "documents",
        fileName: upload.fileName,
      });
      return { file, fileName: upload.fileName };
    }
    const known = this.#filesById.get(reference);
    if (!known) throw badRequest("wrong file identifier/HTTP URL specified");
    return {
      file: known,
      fileName: known.fileName ?? basename(known.file_path),
    };
  }

  #sendMessageDraft(params: Record<string, unknown>): true {
    const chatId = requireInteger(params, "chat_id");
    const draftId = requireInteger(params, "draft_id");
    if (draftId === 0) throw badRequest("draft_id must be non-zero");
    const content = readFormattedText(params, DRAFT_TEXT);
    this.#drafts.push(withoutUndefined({
      chat_id: chatId,
      draft_id: draftId,
      message_thread_id: optionalInteger(params, "message_thread_id"),
      ...content,
      at: this.#now(),
    }));
    return true;
  }

  #answerCallbackQuery(params: Record<string, unknown>): true {
    if (!this.#openCallbackQueries.delete(String(params.callback_query_id))) {
      throw badRequest(
        "query is too old and response timeout expired or query ID is invalid",
      );
    }
    return true;
  }

  #getFile(params: Record<string, unknown>): TelegramFile {
    const file = this.#filesById.get(String(params.file_id));
    if (!file) throw badRequest("invalid file_id");
    if (file.declaredSize > MAX_DOWNLOAD_BYTES) {
      throw badRequest("file is too big");
    }
    return {
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      file_size: file.declaredSize,
      file_path: file.file_path,
    };
  }

  #download(token: string, filePath: string): Response {
    if (token !== this.token) {
      return answer({
        ok: false,
        error_code: 401,
        description: "Unauthorized",
      });
    }
    const file = this.#filesByPath.get(filePath);
    if (!file) return answer({ ok: false, ...notFound("Not Found") });
    return new Response(file.bytes, {
      headers: { "content-type": "application/octet-stream" },
    });
  }

  #storeFile(
    bytes: Uint8Array,
    where: {
      folder: "photos" | "documents" | "voice" | "music";
      fileName?: string;
      /** The extension of a file without a name; default .jpg. */
      ext?: string;
      declaredSize?: number;
    },
  ): StoredFile {
    const number = this.#filesById.size + 1;
    // Telegram keeps the extension in file_path; photos are always JPEG.
    const ext = where.fileName === undefined
      ? where.ext ?? ".jpg"
      : extname(where.fileName);
    const file: StoredFile = {
      file_id: `fake-file-${number}`,
      file_unique_id: `fake-unique-${number}`,
      file_path: `${where.folder}/file_${number}${ext}`,
      fileName: where.fileName,
      // A copy, so a test reusing its buffer cannot change a stored file.
      bytes: bytes.slice(),
      declaredSize: where.declaredSize ?? bytes.length,
    };
    this.#filesById.set(file.file_id, file);
    this.#filesByPath.set(file.file_path, file);
    return file;
  }

  #pushMessage(from: UserRef, content: Partial<Message>): number {
    const { user, chat, threadId } = resolveSender(from);
    const message: Message = {
      message_id: this.#nextMessageId(chat.id),
      from: user,
      chat,
      date: this.#unixNow(),
      ...(threadId === undefined
        ? {}
        : { message_thread_id: threadId, is_topic_message: true }),
      ...(threadId !== undefined && from.topicName !== undefined
        ? {
          reply_to_message: {
            message_id: threadId,
            chat,
            date: this.#unixNow(),
            message_thread_id: threadId,
            forum_topic_created: { name: from.topicName, icon_color: 7322096 },
          } as unknown as Message["reply_to_message"],
        }
        : {}),
      ...content,
    };
    return this.pushUpdate({ message });
  }

  /** The reply_to_message and quote of a user's reply; none without `replyTo`. */
  #replyFields(from: UserRef & ReplyRef): Partial<Message> {
    if (from.replyTo === undefined) return {};
    const { user, chat } = resolveSender(from);
    let replied: NonNullable<Message["reply_to_message"]>;
    if (typeof from.replyTo === "number") {
      const stored = this.#liveBotMessage(chat.id, from.replyTo);
      if (!stored) {
        throw new RangeError(
          `Cannot reply to message ${from.replyTo}: chat ${chat.id} has no such bot message`,
        );
      }
      replied = this.#toTelegramMessage(stored) as typeof replied;
    } else {
      replied = {
        message_id: this.#nextMessageId(chat.id),
        from: user,
        chat,
        date: this.#unixNow(),
        ...from.replyTo,
      } as typeof replied;
    }
    if (from.quote === undefined) return { reply_to_message: replied };
    const position = (replied.text ?? replied.caption ?? "").indexOf(
      from.quote,
    );
    if (position < 0) {
      throw new RangeError(
        `Cannot quote "${from.quote}": the replied message does not contain it`,
      );
    }
    return {
      reply_to_message: replied,
      quote: { text: from.quote, position, is_manual: true },
    };
  }

  /** Remembers the chat objects users wrote from, so bot messages there carry the same chat. */
  #rememberChats(update: Record<string, unknown>): void {
    for (const value of Object.values(update)) {
      const chat = isRecord(value) ? value.chat : undefined;
      if (isRecord(chat) && typeof chat.id === "number") {
        this.#chats.set(chat.id, chat as unknown as Chat);
      }
    }
  }

  #chatFor(chatId: number): Chat {
    return this.#chats.get(chatId) ??
      (chatId > 0
        ? { id: chatId, type: "private", first_name: DEFAULT_FIRST_NAME }
        : { id: chatId, type: "supergroup", title: GROUP_TITLE });
  }

  /** Message ids count per chat, shared by users and the bot, as in Telegram. */
  #nextMessageId(chatId: number): number {
    const id = (this.#lastMessageIdByChat.get(chatId) ?? 0) + 1;
    this.#lastMessageIdByChat.set(chatId, id);
    return id;
  }

  #storeBotMessage(
    chatId: number,
    fields: Omit<FakeMessage, "message_id" | "chat_id" | "edits" | "deleted">,
    document?: Document,
  ): BotMessage {
    const view = withoutUndefined<FakeMessage>({
      message_id: this.#nextMessageId(chatId),
      chat_id: chatId,
      ...fields,
      edits: 0,
      deleted: false,
    });
    const stored: BotMessage = { view, date: this.#unixNow(), document };
    this.#botMessages.push(stored);
    return stored;
  }

  #liveBotMessage(chatId: number, messageId: number): BotMessage | undefined {
    return this.#botMessages.find(({ view }) =>
      view.chat_id === chatId && view.message_id === messageId && !view.deleted
    );
  }

  #findBotMessage(
    params: Record<string, unknown>,
    notFoundDetail: string,
  ): BotMessage {
    const stored = this.#liveBotMessage(
      requireInteger(params, "chat_id"),
      requireInteger(params, "message_id"),
    );
    if (!stored) throw badRequest(notFoundDetail);
    return stored;
  }

  #toTelegramMessage({ view, date, editDate, document }: BotMessage): Message {
    return {
      message_id: view.message_id,
      from: this.#botUser,
      chat: this.#chatFor(view.chat_id),
      date,
      edit_date: editDate,
      message_thread_id: view.message_thread_id,
      is_topic_message: view.message_thread_id === undefined ? undefined : true,
      ...(document
        ? { document, caption: view.text === "" ? undefined : view.text }
        : { text: view.text }),
      reply_markup: isInlineKeyboard(view.reply_markup)
        ? view.reply_markup
        : undefined,
    };
  }

  #unixNow(): number {
    return Math.floor(this.#now() / 1000);
  }

  #changed(): void {
    for (const waiter of [...this.#waiters]) waiter.check();
  }

  #describeRecentCalls(): string {
    const recent = this.calls.slice(-RECENT_CALLS_IN_ERRORS);
    if (recent.length === 0) return "  (none)";
    return recent
      .map((call) => `  ${call.method} ${JSON.stringify(call.params)}`)
      .join("\n");
  }
}

function setMyCommands(params: Record<string, unknown>): true {
  if (!Array.isArray(params.commands)) {
    throw badRequest("commands must be an array");
  }
  for (const entry of params.commands) {
    const command = isRecord(entry) ? entry.command : undefined;
    if (typeof command !== "string" || !/^[a-z0-9_]{1,32}$/.test(command)) {
      throw badRequest("BOT_COMMAND_INVALID");
    }
  }
  return true;
}

function sendChatAction(params: Record<string, unknown>): true {
  requireInteger(params, "chat_id");
  if (!CHAT_ACTIONS.has(String(params.action))) {
    throw badRequest("wrong parameter action in request");
  }
  return true;
}

function setMessageReaction(params: Record<string, unknown>): true {
  requireInteger(params, "chat_id");
  requireInteger(params, "message_id");
  return true;
}

async function readRequest(request: Request): Promise<ParsedRequest> {
  const contentType = request.headers.get("content-type") ?? "";
  const uploads = new Map<string, Upload>();
  if (
    contentType.startsWith("multipart/form-data") ||
    contentType.startsWith("application/x-www-form-urlencoded")
  ) {
    const params: Record<string, unknown> = {};
    for (const [key, value] of await request.formData()) {
      if (typeof value === "string") params[key] = decodeFormValue(value);
      else {
        const bytes = new Uint8Array(await value.arrayBuffer());
        uploads.set(key, { fileName: value.name, bytes });
      }
    }
    return { params, uploads };
  }
  const body = await request.text();
  const params: unknown = body === "" ? {} : JSON.parse(body);
  if (!isRecord(params)) {
    throw new SyntaxError("Cannot read Bot API call: body is not an object");
  }
  return { params, uploads };
}

/** grammY sends object fields of a multipart call as JSON text. */
function decodeFormValue(value: string): unknown {
  if (!value.startsWith("{") && !value.startsWith("[")) return value;
  try {
    return JSON.parse(value);
  } catch {
    // Safe: a caption that merely starts with a bracket stays plain text.
    return value;
  }
}

function readFormattedText(
  params: Record<string, unknown>,
  rule: TextRule,
): FormattedText {
  const raw = params[rule.field] === undefined
    ? ""
    : String(params[rule.field]);
  const parseMode = params.parse_mode === undefined
    ? undefined
    : String(params.parse_mode);
  if (parseMode !== undefined && !PARSE_MODES.has(parseMode)) {
    throw badRequest("unsupported parse_mode");
  }
  const text = parseMode === "HTML" ? visibleHtml(raw) : raw;
  if (rule.emptyError && text.trim() === "") throw badRequest(rule.emptyError);
  if (text.length > rule.maxLength) throw badRequest(rule.tooLongError);
  return withoutUndefined({
    text,
    html: parseMode === "HTML" ? raw : undefined,
    parse_mode: parseMode,
  });
}

function visibleHtml(html: string): string {
  try {
    return parseTelegramHtml(html);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // The parser may already phrase its message as Telegram's description;
    // strip that prefix so it is not repeated.
    const detail = error.message.replace(/^can't parse entities: /i, "");
    throw badRequest(`can't parse entities: ${detail}`);
  }
}

function readReplyMarkup(params: Record<string, unknown>): unknown {
  const markup = typeof params.reply_markup === "string"
    ? parseMarkupJson(params.reply_markup)
    : params.reply_markup;
  if (!isInlineKeyboard(markup)) return markup;
  const buttons = markup.inline_keyboard.flat();
  // An empty keyboard is how bots remove one; Telegram stores no markup.
  if (buttons.length === 0) return undefined;
  for (const button of buttons) {
    const data = isRecord(button) ? button.callback_data : undefined;
    if (data !== undefined && !isValidCallbackData(data)) {
      throw badRequest("BUTTON_DATA_INVALID");
    }
  }
  return markup;
}

function parseMarkupJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest("can't parse reply keyboard markup JSON object");
  }
}

function isValidCallbackData(data: unknown): boolean {
  if (typeof data !== "string") return false;
  const bytes = new TextEncoder().encode(data).length;
  return bytes >= 1 && bytes <= MAX_CALLBACK_DATA_BYTES;
}

function isInlineKeyboard(
  markup: unknown,
): markup is InlineKeyboardMarkup {
  return isRecord(markup) && Array.isArray(markup.inline_keyboard) &&
    markup.inline_keyboard.every(Array.isArray);
}

function callbackDataOf(markup: unknown): string[] {
  if (!isInlineKeyboard(markup)) return [];
  return markup.inline_keyboard.flat().flatMap((button) =>
    isRecord(button) && typeof button.callback_data === "string"
      ? [button.callback_data]
      : []
  );
}

function resolveSender(
  from: UserRef,
): { user: User; chat: Chat; threadId?: number } {
  const userId = from.userId ?? DEFAULT_USER_ID;
  const firstName = from.firstName ?? DEFAULT_FIRST_NAME;
  const chatType = from.chatType ?? "private";
  if (from.isForum && chatType !== "supergroup") {
    throw new TypeError(
      `Cannot make a "${chatType}" chat a forum: only supergroups can be`,
    );
  }
  const user: User = {
    id: userId,
    is_bot: false,
    first_name: firstName,
    language_code: "en",
  };
  const chatId = from.chatId ??
    (chatType === "private" ? userId : DEFAULT_GROUP_CHAT_ID);
  let chat: Chat;
  if (chatType === "private") {
    chat = { id: chatId, type: "private", first_name: firstName };
  } else if (chatType === "group") {
    chat = { id: chatId, type: "group", title: GROUP_TITLE };
  } else {
    chat = {
      id: chatId,
      type: "supergroup",
      title: GROUP_TITLE,
      ...(from.isForum ? { is_forum: true } : {}),
    };
  }
  return { user, chat, threadId: from.threadId };
}

function commandEntities(text: string): MessageEntity[] {
  return [...text.matchAll(COMMAND_PATTERN)].map((match) => ({
    type: "bot_command",
    offset: match.index,
    length: match[0].length,
  }));
}

function captionFields(caption: string | undefined): Partial<Message> {
  if (caption === undefined) return {};
  const entities = commandEntities(caption);
  return entities.length > 0
    ? { caption, caption_entities: entities }
    : { caption };
}

function optionalInteger(
  params: Record<string, unknown>,
  name: string,
): number | undefined {
  const raw = params[name];
  if (raw === undefined || raw === null) return undefined;
  // Multipart calls carry numbers as text, and Telegram accepts both.
  const value = typeof raw === "string" && raw.trim() !== ""
    ? Number(raw)
    : raw;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw badRequest(`invalid ${name} specified`);
  }
  return value;
}

function requireInteger(params: Record<string, unknown>, name: string): number {
  const value = optionalInteger(params, name);
  if (value === undefined) throw badRequest(`${name} is empty`);
  return value;
}

function badRequest(detail: string): BotApiError {
  return new BotApiError({
    error_code: 400,
    description: `Bad Request: ${detail}`,
  });
}

function tooManyRequests(limit: RateLimit): BotApiError {
  return new BotApiError({
    error_code: 429,
    description: `Too Many Requests: retry after ${limit.retryAfterSeconds}`,
    parameters: { retry_after: limit.retryAfterSeconds },
  });
}

function notFound(description: string): ApiError {
  return { error_code: 404, description };
}

function answer(response: ApiResponse): Response {
  return Response.json(response, {
    status: response.ok ? 200 : response.error_code,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Drops keys whose value is undefined, so views compare equal to literals without them. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as T;
}
