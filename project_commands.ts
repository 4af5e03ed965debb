// The project commands without grammY: /projects, /open, /diff, /get,
// /handoff, /resume, and the worktree side of /archive. Each answers in
// Telegram HTML, with a document or buttons where it has them; typed errors
// are left to the caller (error_text.ts).
import {
  hasClaudeSession,
  listClaudeSessions,
  resumeCommand,
} from "./claude_history.ts";
import type { Clock } from "./clock.ts";
import type { CommandReply } from "./command_reply.ts";
import { exportPath } from "./file_export.ts";
import { byteSize, timeAgo, truncate } from "./format.ts";
import { type Git, isSameDirectory, NotAGitRepositoryError } from "./git.ts";
import { diffSummary } from "./git_diff.ts";
import { removeWorktreeIfClean } from "./git_worktrees.ts";
import { diffReport } from "./project_diff.ts";
import {
  NO_PROJECTS_DIRS,
  type OpenDeps,
  openProject,
  workspaceLabel,
} from "./project_open.ts";
import { discoverProjects, readProjectStatuses } from "./projects.ts";
import { escapeHtml } from "./render.ts";
import { conversation } from "./session_settings.ts";
import type { SessionView } from "./session_view.ts";
import type { SessionRegistry } from "./sessions.ts";

/** What the project commands act on and need to know. */
export interface ProjectCommandsOptions {
  sessions: SessionRegistry;
  git: Git;
  /** PROJECTS_DIRS. */
  projectsDirs: readonly string[];
  /** DATA_DIR/worktrees. */
  worktreesDir: string;
  /** Where Claude records its conversations (for /resume); undefined: unknown. */
  claudeConfigDir?: string;
  /**
   * CLAUDE_CONFIG_DIR as Claude gets it, when set: /handoff's terminal
   * command must name it, or the terminal's claude looks in ~/.claude.
   */
  handoffConfigDir?: string;
  /** SessionStore.uploadDirFor: uploads of a project session stay out of its repository. */
  uploadDirFor: (chatKey: string, name: string) => string;
  clock: Clock;
  log: (message: string) => void;
}

/** The project commands, each by its ProjectCommands method of that name. */
export const PROJECT_COMMANDS = [
  "projects",
  "open",
  "diff",
  "get",
  "handoff",
  "resume",
] as const;

/** Callback data of a project's Open button: the prefix, then the project name. */
const OPEN_PREFIX = "open:";
/** Callback data of a /resume button: the prefix, then Claude's session id. */
const RESUME_PREFIX = "resume:";
/** The callback data of every button the project commands make. */
export const PROJECT_BUTTONS = new RegExp(`^(${OPEN_PREFIX}|${RESUME_PREFIX})`);

/** Telegram's limit on callback data, in bytes. */
const MAX_CALLBACK_BYTES = 64;
/** Projects shown by /projects; a message holds about this many. */
const MAX_LISTED_PROJECTS = 40;
/** Characters of a conversation's first prompt on its /resume button. */
const BUTTON_PROMPT_CHARS = 40;

const NO_SESSION =
  "No session is active in this chat: /open a project or send a message first.";

const HELP = [
  "",
  "<b>Projects</b> (PROJECTS_DIRS)",
  "/projects — your repositories: branch, clean or dirty, sessions",
  "/open &lt;project&gt;[@branch] [name] — work in a repository, or in a worktree of a branch",
  "/diff — what changed against HEAD",
  "/get &lt;path&gt; — a file (a folder comes zipped)",
  "/handoff — stop here and continue in a terminal",
  "/resume [id] — continue a Claude Code conversation of this folder",
].join("\n");

/**
 * The project commands: each method is the body of the command of its name;
 * it takes the chat key and the trimmed text after the command.
 */
export class ProjectCommands {
  #options: ProjectCommandsOptions;

  constructor(options: ProjectCommandsOptions) {
    this.#options = options;
  }

  /** The lines /help adds for the project commands. */
  help(): string {
    return HELP;
  }

  /** /projects: each project's branch, state and this chat's sessions on it, with Open buttons. */
  async projects(chatKey: string): Promise<CommandReply> {
    const { projectsDirs, git, sessions, log } = this.#options;
    if (projectsDirs.length === 0) return { html: NO_PROJECTS_DIRS };
    const { projects } = await discoverProjects(projectsDirs);
    if (projects.length === 0) {
      return { html: "No git repositories were found in PROJECTS_DIRS." };
    }
    const shown = projects.slice(0, MAX_LISTED_PROJECTS);
    const statuses = await readProjectStatuses(git, shown);
    const mine = sessions.list(chatKey);
    const elsewhere = sessions.all().filter((v) => v.chatKey !== chatKey);
    const lines = ["<b>Projects</b>"];
    for (const entry of statuses) {
      const name = entry.project.name;
      let state: string;
      if ("error" in entry) {
        log(`Cannot read project "${name}": ${entry.error.message}`);
        state = "⚠️ cannot read it (moved, or not a git repository)";
      } else {
        const { status } = entry;
        state = [
          status.branch === undefined
            ? "detached HEAD"
            : `<code>${escapeHtml(status.branch)}</code>`,
          status.isDirty
            ? `dirty (${status.changedFileCount} file(s))`
            : "clean",
          ...(status.operation ? [`⚠️ ${status.operation} in progress`] : []),
        ].join(" · ");
      }
      lines.push(`📁 <b>${escapeHtml(name)}</b> — ${state}`);
      const open = mine.filter((v) => v.project === name).map((v) =>
        `<b>${v.name}</b>${
          v.branch === undefined ? "" : ` @ ${escapeHtml(v.branch)}`
        }`
      );
      const others = elsewhere.filter((v) => v.project === name).length;
      if (others) open.push(`${others} in other chats`);
      if (open.length) lines.push(`    sessions: ${open.join(", ")}`);
    }
    if (projects.length > shown.length) {
      lines.push(`… and ${projects.length - shown.length} more.`);
    }
    lines.push(
      "",
      "Open works in the repository itself; /open &lt;project&gt;@&lt;branch&gt; gives a worktree of a branch.",
    );
    const buttons = shown
      .map((p) => ({ text: `Open ${p.name}`, data: `${OPEN_PREFIX}${p.name}` }))
      .filter((b) =>
        new TextEncoder().encode(b.data).length <= MAX_CALLBACK_BYTES
      );
    const rows = [];
    for (let i = 0; i < buttons.length; i += 2) {
      rows.push(buttons.slice(i, i + 2));
    }
    return { html: lines.join("\n"), buttons: rows };
  }

  /** /open &lt;project&gt;[@branch] [name]: see openProject. */
  async open(chatKey: string, args: string): Promise<CommandReply> {
    return { html: await openProject(this.#openDeps(), chatKey, args) };
  }

  /** A tap on an Open button (/open of the project) or a /resume button (/resume of the id). */
  press(chatKey: string, data: string): Promise<CommandReply> {
    if (data.startsWith(OPEN_PREFIX)) {
      return this.open(chatKey, data.slice(OPEN_PREFIX.length));
    }
    if (data.startsWith(RESUME_PREFIX)) {
      return this.resume(chatKey, data.slice(RESUME_PREFIX.length));
    }
    return Promise.resolve({ html: "That button is no longer valid." });
  }

  /** /diff: the active session's changes against HEAD; the patch as changes.diff when long. */
  async diff(chatKey: string): Promise<CommandReply> {
    const view = this.#options.sessions.active(chatKey);
    if (!view) return { html: NO_SESSION };
    try {
      const summary = await diffSummary(this.#options.git, view.workDir);
      const { html, patch } = diffReport(summary, {
        title: sessionTitle(view),
      });
      return patch === undefined ? { html } : {
        html,
        document: {
          fileName: "changes.diff",
          bytes: new TextEncoder().encode(patch),
        },
      };
    } catch (error) {
      if (!(error instanceof NotAGitRepositoryError)) throw error;
      return {
        html:
          `<b>${view.name}</b> works in a folder that is not a git repository, so there is no diff. /open a project to work in one.`,
      };
    }
  }

  /** /get &lt;path&gt;: a file of the active session's folder as a document, a folder as a zip. */
  async get(chatKey: string, args: string): Promise<CommandReply> {
    if (!args) {
      return {
        html:
          "Usage: /get &lt;path&gt; — a file or folder of the session's folder, e.g. /get src/main.ts",
      };
    }
    const view = this.#options.sessions.active(chatKey);
    if (!view) return { html: NO_SESSION };
    const file = await exportPath(view.workDir, args);
    const label = `<code>${escapeHtml(truncate(args, 200))}</code>`;
    if (file.bytes.length === 0) {
      return { html: `${label} is empty; Telegram does not send empty files.` };
    }
    const skipped = file.skipped.length === 0
      ? ""
      : `\nLeft out: ${
        escapeHtml(truncate(file.skipped.join(", "), 300))
      } (links leading out of the folder, linked folders or special files).`;
    return {
      html: `${label} from ${sessionTitle(view)}, ${
        byteSize(file.bytes.length)
      }.${skipped}`,
      document: { fileName: file.name, bytes: file.bytes },
    };
  }

  /** /handoff: stops the active session's Claude cleanly and gives the terminal command. */
  async handoff(chatKey: string): Promise<CommandReply> {
    const { sessions, handoffConfigDir } = this.#options;
    const view = sessions.active(chatKey);
    const session = sessions.find(chatKey);
    if (!view || !session) return { html: NO_SESSION };
    if (view.claudeSessionId === undefined) {
      return {
        html:
          `Nothing to hand over yet: <b>${view.name}</b> has no conversation. Send a message first.`,
      };
    }
    await session.suspend();
    const id = session.record.claudeSessionId ?? view.claudeSessionId;
    const command = resumeCommand(view.workDir, id, {
      configDir: handoffConfigDir,
    });
    return {
      html: [
        `<b>${view.name}</b> is handed over: its Claude process is stopped. Continue in a terminal with:`,
        `<pre>${escapeHtml(command)}</pre>`,
        "Quit Claude there before you write here again: your next message here resumes the same conversation, with what you did in the terminal.",
      ].join("\n"),
    };
  }

  /** /resume [id]: lists Claude's conversations of this folder as buttons, or continues one. */
  async resume(chatKey: string, args: string): Promise<CommandReply> {
    const { sessions, claudeConfigDir, clock } = this.#options;
    const view = sessions.active(chatKey);
    if (!view) return { html: NO_SESSION };
    if (claudeConfigDir === undefined) {
      return {
        html:
          "Claude's config dir is unknown (neither CLAUDE_CONFIG_DIR nor HOME is set for the bot), so its conversations cannot be listed.",
      };
    }
    if (args) return await this.#continue(view, args, claudeConfigDir);
    const found = await listClaudeSessions(claudeConfigDir, view.workDir, {
      limit: 10,
    });
    if (found.length === 0) {
      return {
        html:
          `No Claude Code conversations are recorded for the folder of <b>${view.name}</b> yet.`,
      };
    }
    const nowMs = clock.now();
    const lines = [
      `Claude Code conversations in the folder of ${
        sessionTitle(view)
      }, newest first. Pick one to continue it here:`,
    ];
    const buttons = found.map((info) => {
      const isCurrent = info.id === view.claudeSessionId;
      const when = timeAgo(info.modifiedAt, nowMs);
      const prompt = info.firstPrompt ?? "(no prompt)";
      lines.push(
        `• ${when}${isCurrent ? " (current)" : ""} — ${
          escapeHtml(truncate(prompt, 100))
        } <code>${info.id}</code>`,
      );
      return [{
        text: `${isCurrent ? "● " : ""}${when} · ${
          truncate(prompt, BUTTON_PROMPT_CHARS)
        }`,
        data: `${RESUME_PREFIX}${info.id}`,
      }];
    });
    return { html: lines.join("\n"), buttons };
  }

  /**
   * /archive [name]: `chat` (ChatCommands) archives the session; a
   * worktree the bot made for it then goes too, unless it holds uncommitted
   * work or another session still works there. Branches stay.
   */
  async archive(
    chatKey: string,
    args: string,
    chat: { archive(chatKey: string, args: string): Promise<string> },
  ): Promise<string> {
    const { sessions, git, log } = this.#options;
    const target = args
      ? sessions.list(chatKey).find((v) => v.name === args)
      : sessions.active(chatKey);
    const html = await chat.archive(chatKey, args);
    if (!target?.isManagedWorktree || target.repoPath === undefined) {
      return html;
    }
    const path = `<code>${escapeHtml(target.workDir)}</code>`;
    const branch = `<b>${escapeHtml(target.branch ?? "")}</b>`;
    for (const other of sessions.all()) {
      if (await isSameDirectory(other.workDir, target.workDir)) {
        return `${html}\nIts worktree stays: another session still works in it.`;
      }
    }
    try {
      const { removed } = await removeWorktreeIfClean(git, {
        repo: target.repoPath,
        path: target.workDir,
      });
      return removed
        ? `${html}\nIts worktree had no uncommitted changes and was removed; branch ${branch} is kept.`
        : `${html}\nIts worktree has uncommitted changes, so it stays at ${path} (branch ${branch}).`;
    } catch (error) {
      log(`Cannot remove worktree "${target.workDir}": ${error}`);
      return `${html}\n⚠️ Its worktree at ${path} could not be removed; see the bot's log. Branch ${branch} is kept.`;
    }
  }

  /** /resume &lt;id&gt;: the session's next message resumes that conversation. */
  async #continue(
    view: SessionView,
    id: string,
    configDir: string,
  ): Promise<CommandReply> {
    if (!(await hasClaudeSession(configDir, view.workDir, id))) {
      return {
        html: `No Claude Code conversation "${
          escapeHtml(truncate(id, 40))
        }" is recorded for the folder of <b>${view.name}</b>; nothing changed. /resume lists them.`,
      };
    }
    if (id === view.claudeSessionId) {
      return {
        html:
          `<b>${view.name}</b> already continues conversation <code>${id}</code>.`,
      };
    }
    const updated = await this.#options.sessions.configure(
      view.chatKey,
      conversation(id),
      view.name,
    );
    return {
      html:
        `<b>${updated.name}</b> continues conversation <code>${id}</code>: your next message runs <code>claude --resume ${id}</code> and sees everything said before. If it is still open in a terminal, quit it there first.`,
    };
  }

  #openDeps(): OpenDeps {
    return this.#options;
  }
}

/** "<b>api-feat</b> (<b>api</b> @ <b>feat</b>)"; just the name when it says it all. */
function sessionTitle(view: SessionView): string {
  const isPlain = view.project === undefined ||
    (view.project === view.name && view.branch === undefined);
  return isPlain
    ? `<b>${view.name}</b>`
    : `<b>${view.name}</b> (${workspaceLabel(view)})`;
}
