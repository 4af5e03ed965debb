// Tool approvals from the phone: each can_use_tool request becomes a message
// with Allow / Deny / Always allow buttons; the decision goes back to Claude.
// A request that cannot be shown is denied at once, never left to time out.
import { describeRequest, type RequestView } from "./approval_view.ts";
import type { Clock } from "./clock.ts";
import { humanDuration, truncate } from "./format.ts";
import { type ChatApi, FormattingRejectedError } from "./chat_port.ts";
import { escapeHtml } from "./render.ts";
import type { ClaudeEvent } from "./stream_json.ts";
import type { PermissionDecision } from "./subprocess.ts";

/** Callback data of approval buttons: prefix, request key, decision letter. */
export const APPROVAL_PREFIX = "perm:";

/** Where a request comes from: a running turn of one session. */
export interface ApprovalTarget {
  chatKey: string;
  chatId: number;
  threadId?: number;
  session: string;
}

/**
 * The Bot API calls approvals make in one chat. With `html`, sending or
 * editing throws FormattingRejectedError when Telegram refuses the markup;
 * the text then goes again as plain text. Editing a message's text also
 * removes its buttons.
 */
export type ApprovalChat = Pick<
  ChatApi,
  "sendText" | "editText" | "sendDocument"
>;

/** The session calls approvals make. */
export interface ApprovalSessions {
  list(
    chatKey: string,
  ): readonly { name: string; alwaysAllowedTools: readonly string[] }[];
  /** Passes the decision to the session's process; false when it is gone. */
  answerPermission(
    chatKey: string,
    session: string,
    requestId: string,
    decision: PermissionDecision,
  ): Promise<boolean>;
  alwaysAllow(chatKey: string, session: string, tool: string): Promise<unknown>;
}

/** Queues Bot API calls per chat (the Outbox). */
export interface ApprovalOutbox {
  enqueue<T>(chatKey: string, call: () => Promise<T>): Promise<T | undefined>;
}

type PermissionRequest = Extract<ClaudeEvent, { type: "permission_request" }>;

interface Pending {
  target: ApprovalTarget;
  request: PermissionRequest;
  view: RequestView;
  messageId: Promise<number | undefined>;
  cancelTimeout: () => void;
}

/** What Approvals needs. */
export interface ApprovalsOptions {
  /** The chat (and topic) of a request. */
  chatFor: (target: ApprovalTarget) => ApprovalChat;
  outbox: ApprovalOutbox;
  sessions: ApprovalSessions;
  clock: Clock;
  /** An unanswered request is denied after this long. */
  timeoutMs: number;
  log: (message: string) => void;
}

const DECISIONS = { a: "allow", d: "deny", A: "always" } as const;
const UNSHOWN_DENIAL =
  "The approval request could not be shown in Telegram, so this was denied.";

/** Pending approval requests, answered by button presses. */
export class Approvals {
  #options: ApprovalsOptions;
  #pending = new Map<string, Pending>();

  constructor(options: ApprovalsOptions) {
    this.#options = options;
  }

  /**
   * Asks the chat about one request, or allows it at once when the user chose
   * "Always allow" for this tool in this session. Resolves once the question
   * is posted (its full text attached when it had to be shortened), or denied
   * because it could not be posted.
   */
  async request(
    target: ApprovalTarget,
    request: PermissionRequest,
  ): Promise<void> {
    const { sessions, clock, timeoutMs, log } = this.#options;
    const view = sessions.list(target.chatKey).find((v) =>
      v.name === target.session
    );
    if (view?.alwaysAllowedTools.includes(request.toolName)) {
      await this.#answer(target, request, "allow");
      return;
    }
    const key = crypto.randomUUID().slice(0, 12);
    const posted = Promise.withResolvers<number | undefined>();
    const pending: Pending = {
      target,
      request,
      view: describeRequest(request),
      messageId: posted.promise,
      // Armed before posting: a stuck outbox still ends in a denial.
      cancelTimeout: clock.after(timeoutMs, () => this.#expire(key)),
    };
    this.#pending.set(key, pending);
    const messageId = await this.#post(pending, key);
    posted.resolve(messageId);
    if (messageId === undefined) {
      if (this.#pending.get(key) !== pending) return;
      this.#pending.delete(key);
      pending.cancelTimeout();
      log(
        `Denying ${request.toolName} request ${request.requestId} in chat ` +
          `${target.chatKey} at once: the approval message could not be posted`,
      );
      await this.#answer(target, request, "deny", UNSHOWN_DENIAL);
      return;
    }
    const { attachment } = pending.view;
    if (attachment === undefined) return;
    const { fileName, content, caption } = attachment;
    await this.#options.outbox.enqueue(
      target.chatKey,
      () =>
        this.#options.chatFor(target).sendDocument(fileName, content, caption),
    ).catch((error) =>
      log(`Cannot attach the full approval request: ${error}`)
    );
  }

  /**
   * A tap on an approval button by an allowed user; returns the toast text at
   * once. Buttons of requests that are no longer pending change nothing. The
   * message's update is queued, not awaited: a slow or rate-limited chat
   * must not hold the update handler.
   */
  async press(
    data: string,
    chatKey: string,
    user: { name: string },
  ): Promise<string> {
    const [key, letter] = data.slice(APPROVAL_PREFIX.length).split(":");
    const pending = this.#pending.get(key);
    const decision = DECISIONS[letter as keyof typeof DECISIONS];
    if (!pending || pending.target.chatKey !== chatKey || !decision) {
      return "This request is no longer pending.";
    }
    this.#pending.delete(key);
    pending.cancelTimeout();
    const { target, request } = pending;
    if (decision === "always") {
      await this.#options.sessions.alwaysAllow(
        target.chatKey,
        target.session,
        request.toolName,
      );
    }
    const isAnswered = await this.#answer(
      target,
      request,
      decision === "deny" ? "deny" : "allow",
    );
    if (!isAnswered) {
      void this.#close(pending, "⏹ No longer pending: the session stopped.");
      return "This request is no longer pending.";
    }
    const verdict = decision === "deny"
      ? `❌ Denied by ${user.name}`
      : decision === "always"
      ? `✅ Allowed by ${user.name}, and from now on in this session`
      : `✅ Allowed by ${user.name}`;
    void this.#close(pending, verdict);
    return decision === "deny" ? "Denied" : "Allowed";
  }

  /** Makes the buttons of a session's requests stale (its turn ended or the process stopped). */
  async endTurn(chatKey: string, session: string): Promise<void> {
    for (const [key, pending] of this.#pending) {
      const { target } = pending;
      if (target.chatKey !== chatKey || target.session !== session) continue;
      this.#pending.delete(key);
      pending.cancelTimeout();
      await this.#close(pending, "⏹ No longer pending: the turn ended.");
    }
  }

  async #expire(key: string): Promise<void> {
    const pending = this.#pending.get(key);
    if (!pending) return;
    this.#pending.delete(key);
    const waited = humanDuration(this.#options.timeoutMs);
    await this.#answer(
      pending.target,
      pending.request,
      "deny",
      `The user did not answer within ${waited}, so this was denied.`,
    );
    await this.#close(pending, `⌛ Not answered within ${waited}: denied.`);
  }

  /** Posts the question, in plain text if Telegram refuses its HTML; undefined when it cannot. */
  #post(pending: Pending, key: string): Promise<number | undefined> {
    const { outbox, log } = this.#options;
    const { target, request, view } = pending;
    const chat = this.#options.chatFor(target);
    const button = (text: string, letter: string) => ({
      text,
      data: `${APPROVAL_PREFIX}${key}:${letter}`,
    });
    const buttons = [
      [button("✅ Allow", "a"), button("❌ Deny", "d")],
      [button(`Always allow ${truncate(request.toolName, 30)} here`, "A")],
    ];
    return outbox.enqueue(target.chatKey, async () => {
      try {
        return await chat.sendText(view.html, { html: true, buttons });
      } catch (error) {
        if (!(error instanceof FormattingRejectedError)) throw error;
        return await chat.sendText(view.plain, { html: false, buttons });
      }
    }).catch((error) => {
      log(
        `Cannot post an approval request in chat ${target.chatKey}: ${error}`,
      );
      return undefined;
    });
  }

  /** Sends the decision to Claude; false when the session's process is gone. */
  async #answer(
    target: ApprovalTarget,
    request: PermissionRequest,
    behavior: "allow" | "deny",
    denyMessage = "The user denied this from Telegram.",
  ): Promise<boolean> {
    try {
      return await this.#options.sessions.answerPermission(
        target.chatKey,
        target.session,
        request.requestId,
        behavior === "allow"
          ? { behavior: "allow", updatedInput: request.input }
          : { behavior: "deny", message: denyMessage },
      );
    } catch (error) {
      this.#options.log(
        `Cannot answer approval ${request.requestId}: ${error}`,
      );
      return false;
    }
  }

  /** Replaces the buttons with the outcome (plain text when the HTML is refused). */
  async #close(pending: Pending, outcome: string): Promise<void> {
    const messageId = await pending.messageId;
    if (messageId === undefined) return;
    const { outbox, log } = this.#options;
    const { target, view } = pending;
    const chat = this.#options.chatFor(target);
    await outbox.enqueue(target.chatKey, async () => {
      try {
        await chat.editText(
          messageId,
          `${view.html}\n\n${escapeHtml(outcome)}`,
          { html: true },
        );
      } catch (error) {
        if (!(error instanceof FormattingRejectedError)) throw error;
        await chat.editText(messageId, `${view.plain}\n\n${outcome}`, {
          html: false,
        });
      }
    }).catch((error) => log(`Cannot update an approval message: ${error}`));
  }
}
