// /open: a session that works in a project's repository, or in a git
// worktree of one of its branches; in a forum topic, the topic's own session
// moved onto the project. Answers in Telegram HTML.
import { truncate } from "./format.ts";
import {
  type Git,
  isSameDirectory,
  type RepositoryStatus,
  repositoryStatus,
} from "./git.ts";
import { ensureWorktree, managedWorktreePath } from "./git_worktrees.ts";
import { discoverProjects, findProject, type Project } from "./projects.ts";
import { escapeHtml } from "./render.ts";
import { projectLabel } from "./reports.ts";
import { SessionNameError } from "./session_errors.ts";
import {
  isSessionName,
  sessionNameFrom,
  workspace as workspaceChange,
} from "./session_settings.ts";
import type { SessionView } from "./session_view.ts";
import type { SessionRegistry } from "./sessions.ts";
import type { Workspace } from "./store.ts";

/** What /open acts on. */
export interface OpenDeps {
  sessions: SessionRegistry;
  git: Git;
  /** PROJECTS_DIRS. */
  projectsDirs: readonly string[];
  /** DATA_DIR/worktrees: where branch sessions get their worktrees. */
  worktreesDir: string;
  /** Where a session's uploads go when its folder is a repository (SessionStore.uploadDirFor). */
  uploadDirFor: (chatKey: string, name: string) => string;
}

/** The reply when PROJECTS_DIRS is not set. */
export const NO_PROJECTS_DIRS =
  "No projects: PROJECTS_DIRS is not set. Set it to folders holding your git repositories (or to repositories themselves) and restart the bot.";

const USAGE =
  "Usage: /open &lt;project&gt;[@&lt;branch&gt;] [session-name] — /projects lists the projects.";

/** Projects named in the reply to an unknown one; /projects lists them all. */
const MAX_NAMED_PROJECTS = 30;

/** States in which a session's Claude process runs. */
const RUNNING_STATES: ReadonlySet<SessionView["state"]> = new Set([
  "starting",
  "live",
  "busy",
]);

/** The project a session works on, as HTML ("its own folder" for a private one). */
export function workspaceLabel(
  view: Pick<SessionView, "project" | "branch">,
): string {
  return projectLabel(view) || "its own folder";
}

/**
 * /open &lt;project&gt;[@&lt;branch&gt;] [session-name]: creates the session
 * (or switches to an existing one of that name); in a forum topic, binds the
 * topic's session to the project. Nothing changes when the input is bad.
 * @throws {SessionNameError} {BadBranchNameError} {RepositoryBusyError}
 *   {WorktreePathTakenError} {NotAGitRepositoryError} {GitCommandError}
 */
export async function openProject(
  deps: OpenDeps,
  chatKey: string,
  args: string,
): Promise<string> {
  const { sessions } = deps;
  const parts = args.split(/\s+/).filter(Boolean);
  if (parts.length < 1 || parts.length > 2) return USAGE;
  const [spec, explicitName] = parts;
  const at = spec.indexOf("@");
  const projectName = at === -1 ? spec : spec.slice(0, at);
  const branch = at === -1 ? undefined : spec.slice(at + 1);
  if (projectName === "" || branch === "") return USAGE;
  if (deps.projectsDirs.length === 0) return NO_PROJECTS_DIRS;
  const { projects } = await discoverProjects(deps.projectsDirs);
  const project = findProject(projects, projectName);
  if (!project) return unknownProject(projectName, projects);
  const name = explicitName ??
    sessionNameFrom(branch ? `${project.name}-${branch}` : project.name) ??
    "project";
  // Before any git work: a bad name must leave no worktree behind.
  if (!isSessionName(name)) throw new SessionNameError(name);

  // A topic is one conversation space: its session moves onto the project.
  const isTopic = chatKey.includes(":");
  const topicSession = isTopic ? sessions.active(chatKey) : undefined;
  const target = topicSession ??
    sessions.list(chatKey).find((v) => v.name === name);
  if (target && !topicSession) {
    const view = await sessions.switch(chatKey, name);
    return switchedReply(view, project, branch);
  }
  if (
    topicSession && topicSession.project === project.name &&
    topicSession.branch === branch
  ) {
    return `This topic's session <b>${topicSession.name}</b> already works on ${
      workspaceLabel(topicSession)
    }; nothing changed.`;
  }

  const sessionName = topicSession?.name ?? name;
  const uploadDir = deps.uploadDirFor(chatKey, sessionName);
  const prepared = branch === undefined
    ? await repositoryWorkspace(deps, project, uploadDir)
    : await worktreeWorkspace(deps, project, branch, uploadDir);
  await Deno.mkdir(uploadDir, { recursive: true, mode: 0o700 });
  const others = await othersWorkingIn(
    sessions,
    prepared.workspace.workDir,
    { chatKey, name: sessionName },
  );
  const lines: string[] = [];
  if (topicSession) {
    const view = await sessions.configure(
      chatKey,
      workspaceChange(prepared.workspace),
      topicSession.name,
    );
    lines.push(
      `This topic's session <b>${view.name}</b> now works on ${
        workspaceLabel(view)
      }. Claude keeps its history per folder, so the conversation starts fresh there.`,
    );
  } else {
    const { view, isCreated } = await sessions.open(
      chatKey,
      name,
      prepared.workspace,
    );
    lines.push(
      `${isCreated ? "Opened" : "Switched to"} <b>${view.name}</b> on ${
        workspaceLabel(view)
      }; your messages go to it now.`,
    );
  }
  lines.push(...prepared.notes);
  lines.push(...othersWarning(others, chatKey, project, branch));
  return lines.join("\n");
}

/** The repository itself as the working dir. */
async function repositoryWorkspace(
  deps: OpenDeps,
  project: Project,
  uploadDir: string,
): Promise<{ workspace: Workspace; notes: string[] }> {
  const status = await repositoryStatus(deps.git, project.path);
  const notes = [
    `Folder: <code>${escapeHtml(project.path)}</code> (the repository, on ${
      branchLabel(status)
    }). Uploads are kept outside it.`,
  ];
  if (status.operation !== undefined) {
    notes.push(
      `⚠️ A ${status.operation} is in progress there: Claude sees the repository as it is, mid-${status.operation}.`,
    );
  }
  return {
    workspace: {
      workDir: project.path,
      project: project.name,
      repoPath: project.path,
      uploadDir,
    },
    notes,
  };
}

/** A worktree of `branch` (created from HEAD when new); the repository's checkout stays. */
async function worktreeWorkspace(
  deps: OpenDeps,
  project: Project,
  branch: string,
  uploadDir: string,
): Promise<{ workspace: Workspace; notes: string[] }> {
  const status = await repositoryStatus(deps.git, project.path);
  await Deno.mkdir(deps.worktreesDir, { recursive: true, mode: 0o700 });
  const worktree = await ensureWorktree(deps.git, {
    repo: project.path,
    branch,
    path: managedWorktreePath(deps.worktreesDir, {
      project: project.name,
      branch,
    }),
  });
  const path = `<code>${escapeHtml(worktree.path)}</code>`;
  const notes: string[] = [];
  if (worktree.isBranchCreated) {
    notes.push(
      `Branch <b>${escapeHtml(branch)}</b> is new, made from ${
        branchLabel(status)
      }.`,
    );
  }
  if (worktree.isManaged) {
    notes.push(
      `Folder: ${path}, a worktree of its own${
        worktree.isWorktreeCreated ? "" : " (reused)"
      }; the repository's own checkout stays on ${branchLabel(status)}.`,
    );
  } else if (await isSameDirectory(worktree.path, project.path)) {
    notes.push(
      `Branch <b>${
        escapeHtml(branch)
      }</b> is the repository's own checkout, so the session works in the repository itself: ${path}.`,
    );
  } else {
    notes.push(
      `Branch <b>${
        escapeHtml(branch)
      }</b> is already checked out at ${path}, so the session works there.`,
    );
  }
  return {
    workspace: {
      workDir: worktree.path,
      project: project.name,
      repoPath: project.path,
      branch,
      ...(worktree.isManaged ? { isManagedWorktree: true } : {}),
      uploadDir,
    },
    notes,
  };
}

/** Sessions other than `self`, of any chat, whose Claude runs in `dir` now. */
async function othersWorkingIn(
  sessions: SessionRegistry,
  dir: string,
  self: { chatKey: string; name: string },
): Promise<SessionView[]> {
  const others: SessionView[] = [];
  for (const view of sessions.all()) {
    if (view.chatKey === self.chatKey && view.name === self.name) continue;
    if (!RUNNING_STATES.has(view.state)) continue;
    if (await isSameDirectory(view.workDir, dir)) others.push(view);
  }
  return others;
}

function othersWarning(
  others: readonly SessionView[],
  chatKey: string,
  project: Project,
  branch: string | undefined,
): string[] {
  if (others.length === 0) return [];
  const names = others.map((v) =>
    v.chatKey === chatKey ? `<b>${v.name}</b>` : "a session of another chat"
  );
  const suggestion = branch === undefined
    ? `/open ${
      escapeHtml(project.name)
    }@&lt;branch&gt; gives a session a worktree of its own`
    : "another branch gives a session a worktree of its own";
  return [
    `⚠️ ${
      [...new Set(names)].join(", ")
    } already works in this folder right now: two Claudes editing one checkout can collide. ${suggestion}.`,
  ];
}

function switchedReply(
  view: SessionView,
  project: Project,
  branch: string | undefined,
): string {
  const isSame = view.project === project.name && view.branch === branch;
  return isSame
    ? `Switched to <b>${view.name}</b>, already open on ${
      workspaceLabel(view)
    }.`
    : `Switched to the existing session <b>${view.name}</b>, which works on ${
      workspaceLabel(view)
    }; its folder is unchanged. To open ${
      workspaceLabel({ project: project.name, branch })
    } give another name: /open ${escapeHtml(project.name)}${
      branch === undefined ? "" : `@${escapeHtml(branch)}`
    } &lt;name&gt;`;
}

function unknownProject(name: string, projects: readonly Project[]): string {
  const known = projects.slice(0, MAX_NAMED_PROJECTS).map((p) =>
    `<b>${escapeHtml(p.name)}</b>`
  );
  if (projects.length > MAX_NAMED_PROJECTS) known.push("…");
  return `There is no project named "${escapeHtml(truncate(name, 40))}". ${
    known.length === 0
      ? "PROJECTS_DIRS holds no git repositories."
      : `Projects: ${known.join(", ")}. /projects shows them.`
  }`;
}

function branchLabel(status: RepositoryStatus): string {
  return status.branch === undefined
    ? "a detached HEAD"
    : `<b>${escapeHtml(status.branch)}</b>`;
}
