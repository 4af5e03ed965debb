// Tool approvals from the phone: each can_use_tool request becomes a message
// with Allow / Deny / Always allow buttons; the decision goes back to Claude.
import type { Api } from "grammy";
import { humanDuration, truncate } from "./format.ts";
import type { Clock } from "./clock.ts";
import type { Outbox } from "./outbox.ts";
import { escapeHtml } from "./render.ts";
import type { SessionManager } from "./sessions.ts";
import type { ClaudeEvent } from "./stream_json.ts";

/** Callback data of approval buttons: prefix, request key, decision letter. */
export const APPROVAL_PREFIX = "perm:";

/** Where a request comes from: a running turn of one session. */
export interface ApprovalTarget {
  chatKey: string;
  chatId: number;
  threadId?: number;
  session: string;
}

type PermissionRequest = Extract<ClaudeEvent, { type: "permission_request" }>;

interface Pending {
  target: ApprovalTarget;
  request: PermissionRequest;
  messageId: Promise<number | undefined>;
  cancelTimeout: () => void;
}

/** What Approvals needs. */
export interface ApprovalsOptions {
  api: Api;
  outbox: Outbox;
  sessions: SessionManager;
  clock: Clock;
  /** An unanswered request is denied after this long. */
  timeoutMs: number;
  log: (message: string) => void;
}

const DECISIONS = { a: "allow", d: "deny", A: "always" } as const;

/** Pending approval requests, answered by button presses. */
export class Approvals {
  #options: ApprovalsOptions;
  #pending = new Map<string, Pending>();

  constructor(options: ApprovalsOptions) {
    this.#options = options;
  }

  /**
   * Asks the chat about one request, or allows it at once when the user chose
   * "Always allow" for this tool in this session.
   */
  async request(
    target: ApprovalTarget,
    request: PermissionRequest,
  ): Promise<void> {
    const { sessions } = this.#options;
    const view = sessions.list(target.chatKey).find((v) =>
      v.name === target.session
    );
    if (view?.alwaysAllowedTools.includes(request.toolName)) {
      await this.#answer(target, request, "allow");
      return;
    }
    const key = crypto.randomUUID().slice(0, 12);
    const button = (text: string, letter: string) => ({
      text,
      callback_data: `${APPROVAL_PREFIX}${key}:${letter}`,
    });
    const messageId = this.#options.outbox.enqueue(target.chatKey, async () => {
      const message = await this.#options.api.sendMessage(
        target.chatId,
        describeRequest(request),
        {
          parse_mode: "HTML",
          message_thread_id: target.threadId,
          reply_markup: {
            inline_keyboard: [
              [button("✅ Allow", "a"), button("❌ Deny", "d")],
              [button(
                `Always allow ${truncate(request.toolName, 30)} here`,
                "A",
              )],
            ],
          },
        },
      );
      return message.message_id;
    }).catch((error) => {
      this.#options.log(`Cannot post an approval request: ${error}`);
      return undefined;
    });
    const cancelTimeout = this.#options.clock.after(
      this.#options.timeoutMs,
      () => this.#expire(key),
    );
    this.#pending.set(key, { target, request, messageId, cancelTimeout });
  }

  /**
   * A tap on an approval button by an allowed user; returns the toast text.
   * Buttons of requests that are no longer pending change nothing.
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
      await this.#close(pending, "⏹ No longer pending: the session stopped.");
      return "This request is no longer pending.";
    }
    const verdict = decision === "deny"
      ? `❌ Denied by ${escapeHtml(user.name)}`
      : decision === "always"
      ? `✅ Allowed by ${
        escapeHtml(user.name)
      }, and from now on in this session`
      : `✅ Allowed by ${escapeHtml(user.name)}`;
    await this.#close(pending, verdict);
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

  /** Replaces the buttons with the outcome. */
  async #close(pending: Pending, outcome: string): Promise<void> {
    const messageId = await pending.messageId;
    if (messageId === undefined) return;
    const { target, request } = pending;
    await this.#options.outbox.enqueue(
      target.chatKey,
      () =>
        this.#options.api.editMessageText(
          target.chatId,
          messageId,
          `${describeRequest(request)}\n\n${outcome}`,
          { parse_mode: "HTML" },
        ),
    ).catch((error) =>
      this.#options.log(`Cannot update an approval message: ${error}`)
    );
  }
}

/** The request as the user sees it: tool, key input, Claude's description. */
export function describeRequest(request: PermissionRequest): string {
  const { toolName, input } = request;
  const lines = [`🔐 Claude wants to use <b>${escapeHtml(toolName)}</b>`];
  const text = (name: string) =>
    typeof input[name] === "string" ? input[name] as string : undefined;
  const command = text("command");
  const path = text("file_path") ?? text("notebook_path") ?? text("path");
  if (command) {
    lines.push(`<pre>${escapeHtml(truncate(command, 1500))}</pre>`);
  } else if (path) lines.push(`<code>${escapeHtml(path)}</code>`);
  const oldText = text("old_string");
  const newText = text("new_string") ?? text("content");
  if (newText !== undefined) {
    const count = (s?: string) => s === undefined ? 0 : s.split("\n").length;
    lines.push(`<i>−${count(oldText)} +${count(newText)} lines</i>`);
  }
  const url = text("url") ?? text("pattern") ?? text("query");
  if (url) lines.push(`<code>${escapeHtml(truncate(url, 300))}</code>`);
  if (!command && !path && !url && newText === undefined) {
    lines.push(
      `<pre>${escapeHtml(truncate(JSON.stringify(input, null, 1), 800))}</pre>`,
    );
  }
  if (request.description) {
    lines.push(`<i>${escapeHtml(truncate(request.description, 300))}</i>`);
  }
  return lines.join("\n");
}
