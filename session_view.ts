// The read-only snapshot of a session that commands and reports read: its
// record, its lifecycle state, and what is derived from the bot's defaults.
import type { Session, SessionState } from "./session.ts";
import type { SessionRecord } from "./store.ts";

/** Read-only snapshot of a session for commands. */
export interface SessionView
  extends Readonly<Omit<SessionRecord, "permissionMode" | "state">> {
  isActive: boolean;
  state: SessionState["kind"];
  /** The effective permission mode ("ask": approvals on the phone). */
  permissionMode: string;
  /** Messages waiting behind the running turn. */
  queued: number;
}

/**
 * A session as commands see it.
 * @param context.defaultPermissionMode CLAUDE_PERMISSION_MODE, for a session without its own
 */
export function sessionView(
  session: Session,
  context: { isActive: boolean; defaultPermissionMode: string },
): SessionView {
  const { record } = session;
  return {
    ...record,
    isActive: context.isActive,
    state: session.state,
    permissionMode: record.permissionMode ?? context.defaultPermissionMode,
    queued: session.queued,
  };
}
