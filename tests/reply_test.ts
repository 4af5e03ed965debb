// TelegramReply against an in-memory chat and a manual clock: what the user
// sees in each output mode, step by step, and how often the chat is called.
import assert from "node:assert/strict";
import { Outbox } from "../outbox.ts";
import { DraftsUnsupportedError } from "../chat_port.ts";
import { TelegramReply } from "../reply.ts";
import type { ClaudeEvent } from "../stream_json.ts";
import type { OutputMode, TurnOutcome, TurnUpdate } from "../turn.ts";
import { ManualClock } from "./fakes/manual_clock.ts";
import { MemoryChat } from "./fakes/memory_chat.ts";
import { advanceUntil, pollUntil, withDeadline } from "./fakes/wait.ts";

function setup(
  mode: OutputMode,
  options: { canDraft?: boolean; chatKey?: string } = {},
) {
  const clock = new ManualClock();
  const outbox = new Outbox({ clock, perChatIntervalMs: 1000 });
  const chat = new MemoryChat(clock, options);
  const logs: string[] = [];
  const reply = new TelegramReply({
    api: chat,
    outbox,
    chatKey: options.chatKey ?? "42",
    clock,
    mode,
    log: (message) => logs.push(message),
  });
  /**
   * Waits until no call runs: the chat answers at once, so what remains
   * queued waits for its paced turn (the clock to move).
   */
  const settled = () =>
    pollUntil(() => outbox.running === 0, {
      description: "the outbox to have no running call",
      everyMs: 0,
    });
  const feed = async (...updates: TurnUpdate[]) => {
    for (const update of updates) reply.update(update);
    await settled();
  };
  /** Moves the clock, then lets the calls due by then run. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settled();
  };
  /** Lets time pass in `stepMs` steps until the reply is delivered. */
  const deliver = async (stepMs = 1000) => {
    let isDelivered = false;
    reply.delivered.then(() => isDelivered = true);
    await advanceUntil(clock, () => isDelivered, {
      description: "the reply to be delivered",
      stepMs,
    });
  };
  return { clock, outbox, chat, reply, logs, feed, advance, deliver };
}

function event(event: ClaudeEvent): TurnUpdate {
  return { type: "event", event };
}

function text(text: string): TurnUpdate[] {
  return [
    event({ type: "text_delta", text }),
    event({ type: "text", text }),
  ];
}

function tool(n: number, output = `line 1\nline 2\nline 3\nline 4`) {
  return [
    event({
      type: "tool_use",
      id: `t${n}`,
      name: "Bash",
      input: { command: `ls src/${n}` },
    }),
    event({
      type: "tool_result",
      toolUseId: `t${n}`,
      content: output,
      isError: false,
    }),
  ];
}

function done(outcome?: TurnOutcome): TurnUpdate {
  return {
    type: "done",
    outcome: outcome ?? {
      kind: "completed",
      costUsd: 0.0123,
      event: {
        type: "result",
        subtype: "success",
        isError: false,
        durationMs: 42_000,
        numTurns: 4,
        errors: [],
      },
    },
  };
}

/** Asserts the chat was called at most once a second, as the outbox paces it. */
function assertPaced(chat: MemoryChat): void {
  for (const [i, call] of chat.calls.entries()) {
    if (i === 0) continue;
    const gapMs = call.atMs - chat.calls[i - 1].atMs;
    assert.ok(gapMs >= 1000, `${call.kind} came ${gapMs} ms after the last`);
  }
}

Deno.test("TelegramReply in quiet mode sends only the final answer, typing meanwhile", async () => {
  const { chat, clock, feed, deliver } = setup("quiet");
  await feed(...text("Let me look."), ...tool(1));
  clock.advance(4_000);
  await feed(...tool(2));
  clock.advance(4_000);
  await feed(...text("All **done**."));
  assert.deepEqual(chat.calls, [], "no preview at all");
  assert.equal(chat.typingCount, 3, "typing at 0, 4 and 8 s");
  await feed(done());
  await deliver();
  assert.deepEqual(chat.transcript(), ["send #1: All done."]);
  clock.advance(20_000);
  assert.equal(chat.typingCount, 3, "typing stops with the turn");
});

Deno.test("TelegramReply skips the typing refresh while the preview visibly changes", async () => {
  const { chat, clock, feed } = setup("normal");
  await feed(...tool(1));
  assert.equal(chat.typingCount, 1, "typing at the start");
  for (let second = 1; second <= 8; second++) {
    await feed(...tool(second + 1));
    clock.advance(1000);
    await feed();
  }
  assert.equal(chat.typingCount, 1, "edits every second show progress");
  clock.advance(8_000);
  await feed();
  assert.ok(chat.typingCount >= 2, "typing again once the chat is still");
});

Deno.test("TelegramReply in normal mode updates one status line in place, then the answer replaces it", async () => {
  const { chat, feed, deliver, advance } = setup("normal");
  await feed(...tool(1));
  // Two more calls within the second coalesce into one edit.
  await feed(...tool(2), ...tool(3));
  await advance(1000);
  await feed({
    type: "event",
    event: {
      type: "tool_use",
      id: "t4",
      name: "Edit",
      input: { file_path: "/home/me/project/src/main.ts" },
    },
  });
  await advance(1000);
  await feed(...text("Fixed **main.ts**."), done());
  await deliver();
  assert.deepEqual(chat.transcript(), [
    "send #1: ⚙️ Running Bash: ls src/1…",
    "edit #1: ⚙️ Running Bash: ls src/3… (tool 3)",
    "edit #1: ⚙️ Editing main.ts… (tool 4)",
    "edit #1: Fixed main.ts.",
  ]);
  assert.deepEqual(chat.visible(), ["Fixed main.ts."]);
  assertPaced(chat);
});

Deno.test("TelegramReply in normal mode never floods: 30 tool calls in 3 s make a handful of edits", async () => {
  const { chat, clock, feed, deliver } = setup("normal");
  for (let n = 1; n <= 30; n++) {
    await feed(...tool(n));
    clock.advance(100);
  }
  await feed(...text("Looked at 30 directories."), done());
  await deliver();
  assert.ok(chat.calls.length <= 5, chat.transcript().join("\n"));
  assert.equal(chat.calls.filter((call) => call.kind === "send").length, 1);
  assert.deepEqual(chat.visible(), ["Looked at 30 directories."]);
  assertPaced(chat);
});

Deno.test("TelegramReply in normal mode keeps earlier text above the status and in the answer", async () => {
  const { chat, feed, deliver, advance } = setup("normal");
  await feed(...text("First I run the tests."), ...tool(1));
  assert.deepEqual(chat.visible(), ["First I run the tests."]);
  await advance(1000);
  assert.deepEqual(chat.visible(), [
    "First I run the tests.\n\n⚙️ Running Bash: ls src/1…",
  ]);
  await feed(...text("They pass."), done());
  await deliver();
  assert.deepEqual(chat.visible(), ["First I run the tests.\n\nThey pass."]);
});

/** The numbers of the paragraphs `longAnswer` wrote, in the order the chat shows them. */
function shownParagraphs(messages: string[]): number[] {
  return messages.flatMap((message) =>
    [...message.matchAll(/^(?:word ){199}word (\d+)$/gm)].map(([, n]) =>
      Number(n)
    )
  );
}

/** Streams 30 paragraphs of about 1,000 characters, one a second. */
async function longAnswer(
  { feed, advance }: Pick<ReturnType<typeof setup>, "feed" | "advance">,
  onEachSecond: (n: number) => void = () => {},
): Promise<string> {
  const paragraph = "word ".repeat(200).trim();
  let markdown = "";
  for (let n = 1; n <= 30; n++) {
    const delta = `${paragraph} ${n}\n\n`;
    markdown += delta;
    await feed(event({ type: "text_delta", text: delta }));
    await advance(1000);
    onEachSecond(n);
  }
  return markdown;
}

Deno.test("TelegramReply streams a long answer to its end: full parts become messages, the preview goes on with the rest", async (t) => {
  for (const canDraft of [false, true]) {
    await t.step(canDraft ? "drafts" : "one message edited", async () => {
      const { chat, feed, deliver, advance } = setup("normal", { canDraft });
      const lags: number[] = [];
      const markdown = await longAnswer({ feed, advance }, (n) => {
        const preview = chat.calls.findLast((call) =>
          call.kind === (canDraft ? "draft" : "edit")
        );
        const newest = Math.max(0, ...shownParagraphs([preview?.text ?? ""]));
        lags.push(n - newest);
      });
      // The preview kept up: it never fell more than 2 paragraphs (2 s) behind.
      assert.ok(Math.max(...lags) <= 2, `lags ${lags}`);
      const partsWhileStreaming = chat.calls.filter((call) =>
        call.kind === "send"
      ).length;
      assert.ok(partsWhileStreaming >= 5, chat.transcript().join("\n"));
      await feed(done());
      await deliver();
      const numbers = shownParagraphs(chat.visible());
      assert.deepEqual(
        numbers,
        Array.from({ length: 30 }, (_, i) => i + 1),
        "every paragraph once, in order",
      );
      assert.ok(chat.visible().every((text) => !text.startsWith("…")));
      assert.equal(
        chat.calls.at(-1)!.text,
        `answer.md: ${markdown.length} chars`,
        "an answer of more than 3 messages also comes as answer.md",
      );
    });
  }
});

Deno.test("TelegramReply sends the answer once it is complete, not after the draft's interval", async () => {
  const { chat, feed, advance, reply } = setup("normal", { canDraft: true });
  await feed(event({ type: "text_delta", text: "Here it" }));
  await advance(100);
  await feed(event({ type: "text_delta", text: " comes" }));
  await feed(event({ type: "text", text: "Here it comes" }), done());
  await withDeadline(reply.delivered, { what: "the reply", ms: 2_000 });
  assert.deepEqual(chat.transcript(), [
    "draft: Here it",
    "send #1: Here it comes",
  ], "the queued draft is dropped, not sent first");
  assert.equal(chat.calls[1].atMs, 100);
});

Deno.test("TelegramReply in a group drops a preview edit not sent yet when the answer is ready", async () => {
  const { chat, feed, advance, deliver } = setup("normal", {
    chatKey: "-100:7",
  });
  await feed(event({ type: "text_delta", text: "Half an" }));
  await advance(300);
  await feed(event({ type: "text_delta", text: " answer" }));
  await feed({ type: "done", outcome: { kind: "interrupted" } });
  await deliver(100);
  assert.deepEqual(chat.transcript(), [
    "send #1: Half an",
    "edit #1: Half an answer\n\n⏹ Stopped.",
  ]);
  assert.equal(chat.calls[1].atMs, 1000, "the chat's floor, not a preview's");
});

Deno.test("TelegramReply in verbose mode logs only the narration not sent already", async () => {
  const { chat, feed, advance, deliver } = setup("verbose", { canDraft: true });
  const paragraph = "word ".repeat(200).trim();
  for (let n = 1; n <= 6; n++) {
    await feed(event({ type: "text_delta", text: `${paragraph} ${n}\n\n` }));
    await advance(1000);
  }
  await feed(...tool(1, "ok"), ...text("Done."), done());
  await deliver();
  const visible = chat.visible();
  assert.deepEqual(shownParagraphs(visible), [1, 2, 3, 4, 5, 6]);
  const log = visible.findIndex((text) => text.includes("⚙️ Bash ls src/1"));
  assert.ok(log > 0, "a part went out before the tool call");
  assert.ok(visible[log].startsWith(`${paragraph} `), "the rest is logged");
  assert.equal(visible.at(-1), "Done.\n\n$0.0123 · 42 s · 4 turns");
});

Deno.test("TelegramReply in verbose mode logs each call with a result excerpt, then the answer and a footer", async () => {
  const { chat, feed, deliver } = setup("verbose");
  await feed(...text("Let me look."), ...tool(1));
  await feed(
    event({
      type: "tool_use",
      id: "t2",
      name: "Read",
      input: { file_path: "src/a.ts" },
    }),
    event({
      type: "tool_result",
      toolUseId: "t2",
      content: "No such file",
      isError: true,
    }),
  );
  await feed(...text("All **done**."), done());
  await deliver();
  assert.deepEqual(chat.visible(), [
    [
      "Let me look.",
      "⚙️ Bash ls src/1",
      "line 1\nline 2\nline 3\n… 1 more line",
      "⚙️ Read src/a.ts",
      "❌ No such file",
    ].join("\n"),
    "All done.\n\n$0.0123 · 42 s · 4 turns",
  ]);
  assertPaced(chat);
});

Deno.test("TelegramReply in verbose mode streams the answer below the log, then sends it as its own message", async () => {
  const { chat, clock, feed, deliver, advance } = setup("verbose");
  await feed(...tool(1, "ok"));
  clock.advance(1000);
  await feed(event({ type: "text_delta", text: "The answer so" }));
  await advance(1000);
  assert.deepEqual(chat.visible(), ["⚙️ Bash ls src/1\nok\n\nThe answer so"]);
  await feed(...text("The answer so far."), done());
  await deliver();
  assert.deepEqual(chat.visible(), [
    "⚙️ Bash ls src/1\nok",
    "The answer so far.\n\n$0.0123 · 42 s · 4 turns",
  ]);
});

Deno.test("TelegramReply in verbose mode continues a long log in new messages without losing a line", async () => {
  const { chat, clock, feed, deliver } = setup("verbose");
  for (let n = 1; n <= 80; n++) {
    await feed(...tool(n));
    if (n % 10 === 0) clock.advance(1000);
  }
  await feed(...text("Done."), done());
  await deliver();
  const log = chat.visible().slice(0, -1);
  assert.ok(log.length >= 3, `${log.length} log messages`);
  const lines = log.join("\n").split("\n");
  for (let n = 1; n <= 80; n++) {
    assert.equal(
      lines.filter((line) => line === `⚙️ Bash ls src/${n}`).length,
      1,
      `tool ${n} is logged once`,
    );
  }
  assert.equal(lines.filter((line) => line === "line 3").length, 80);
  assertPaced(chat);
});

Deno.test("TelegramReply with drafts streams the preview as drafts and sends the answer as a message", async () => {
  const { chat, clock, feed, deliver, advance } = setup("normal", {
    canDraft: true,
  });
  await feed(...tool(1));
  clock.advance(1000);
  await feed(event({ type: "text_delta", text: "Here it" }));
  clock.advance(1000);
  await feed(event({ type: "text_delta", text: " comes" }));
  await advance(1000);
  await feed(event({ type: "text", text: "Here it comes" }), done());
  await deliver();
  assert.deepEqual(chat.transcript(), [
    "draft: ⚙️ Running Bash: ls src/1…",
    "draft: Here it",
    "draft: Here it comes",
    "send #1: Here it comes",
  ]);
  assertPaced(chat);
});

Deno.test("TelegramReply refreshes a draft before Telegram lets it expire", async () => {
  const { chat, feed, deliver, advance } = setup("normal", {
    canDraft: true,
  });
  await feed(...tool(1));
  // Two steps, so the refresh at 20 s settles at 20 s: a call that seems to
  // outlast the interval would (rightly) push the next one back.
  await advance(20_000);
  await advance(4_000);
  await feed(event({ type: "text", text: "Done." }), done());
  await deliver();
  assert.deepEqual(chat.transcript(), [
    "draft: ⚙️ Running Bash: ls src/1…",
    "draft: ⚙️ Running Bash: ls src/1…",
    "draft: Done.",
    "send #1: Done.",
  ]);
  assert.equal(chat.calls[1].atMs, 20_000);
});

Deno.test("TelegramReply falls back to editing one message when drafts are unsupported", async () => {
  const { chat, feed, deliver, logs, advance } = setup("normal", {
    canDraft: true,
  });
  chat.draftError = new DraftsUnsupportedError("Not Found: method not found");
  await feed(...tool(1));
  await advance(1000);
  await feed(...tool(2));
  await advance(1000);
  await feed(...text("Done."), done());
  await deliver();
  assert.deepEqual(chat.transcript(), [
    "send #1: ⚙️ Running Bash: ls src/1…",
    "edit #1: ⚙️ Running Bash: ls src/2… (tool 2)",
    "edit #1: Done.",
  ]);
  assert.ok(logs.some((line) => line.includes("editing instead")));
});

Deno.test("TelegramReply sends an answer longer than three messages as its first part plus answer.md", async () => {
  const markdown = "A sentence that goes on. ".repeat(800);
  const { chat, feed, deliver } = setup("normal");
  await feed(...text(markdown), done());
  await deliver();
  const [preview, document] = chat.calls.slice(-2);
  assert.equal(preview.kind, "edit");
  assert.match(preview.text, /is attached as answer\.md\.$/);
  assert.equal(document.text, `answer.md: ${markdown.length} chars`);
  assert.equal(chat.visible().length, 1);
});

Deno.test("TelegramReply in verbose mode turns a preview without tool calls into the answer", async () => {
  const { chat, feed, deliver } = setup("verbose");
  await feed(event({ type: "text_delta", text: "Just an" }));
  await feed(...text("Just an answer."), done());
  await deliver();
  assert.deepEqual(chat.transcript(), [
    "send #1: Just an",
    "edit #1: Just an answer.\n\n$0.0123 · 42 s · 4 turns",
  ]);
});

Deno.test("TelegramReply reports a stalled turn in every mode", async (t) => {
  const stalled: TurnUpdate = { type: "stalled", silentMs: 10 * 60_000 };
  const notice =
    "⏳ No output from Claude for 10 min; it may still be working. /stop interrupts it.";
  await t.step("normal: as the status line", async () => {
    const { chat, clock, feed, advance } = setup("normal");
    await feed(...tool(1));
    clock.advance(1000);
    await feed(stalled);
    await advance(1000);
    assert.deepEqual(chat.visible(), [notice]);
  });
  await t.step("verbose: in the log", async () => {
    const { chat, clock, feed } = setup("verbose");
    await feed(...tool(1, "ok"));
    clock.advance(1000);
    await feed(stalled);
    assert.deepEqual(chat.visible(), [`⚙️ Bash ls src/1\nok\n${notice}`]);
  });
  await t.step("quiet: as a message", async () => {
    const { chat, feed } = setup("quiet");
    await feed(...tool(1), stalled);
    assert.deepEqual(chat.transcript(), ["send #1: " + notice]);
  });
});

Deno.test("TelegramReply ends an interrupted turn with the text so far and ⏹ Stopped.", async () => {
  const { chat, clock, feed, deliver } = setup("normal");
  await feed(event({ type: "text_delta", text: "Half an answ" }));
  clock.advance(1000);
  await feed({ type: "done", outcome: { kind: "interrupted" } });
  await deliver();
  assert.deepEqual(chat.transcript(), [
    "send #1: Half an answ",
    "edit #1: Half an answ\n\n⏹ Stopped.",
  ]);
});

Deno.test("TelegramReply says so when a completed turn has no text", async () => {
  const { chat, feed, deliver } = setup("quiet");
  await feed(...tool(1), done());
  await deliver();
  assert.deepEqual(chat.transcript(), [
    "send #1: Claude finished without a text answer.",
  ]);
});

Deno.test("TelegramReply shows resuming as a status in normal mode and nothing in quiet mode", async (t) => {
  await t.step("normal", async () => {
    const { chat, feed, deliver } = setup("normal");
    await feed({ type: "resuming", idleMs: 15 * 60_000 });
    assert.deepEqual(chat.transcript(), [
      "send #1: Resuming session (idle for 15 min)…",
    ]);
    await feed(...text("Hi."), done());
    await deliver();
    assert.deepEqual(chat.visible(), ["Hi."]);
  });
  await t.step("quiet", async () => {
    const { chat, feed, deliver } = setup("quiet");
    await feed({ type: "resuming", idleMs: 15 * 60_000 }, ...text("Hi."));
    await feed(done());
    await deliver();
    assert.deepEqual(chat.transcript(), ["send #1: Hi."]);
  });
});

Deno.test("TelegramReply resends refused HTML as plain text", async () => {
  const { chat, feed, deliver, logs } = setup("quiet");
  chat.rejectHtmlWith = "<b>";
  await feed(...text("**bold** & more"), done());
  await deliver();
  assert.deepEqual(chat.transcript(), ["send #1: bold & more"]);
  assert.ok(logs.some((line) => line.includes("sending plain text")));
});
