// The order of a session's turns: each message takes a ticket, tickets run
// one after another in arrival order, and /stop or a halt cancels the ones
// still waiting.

/** A message waiting for (or holding) its session's turn. */
export interface Ticket {
  /** Dropped by /stop or a halt before it started: it ends as cancelled. */
  readonly isCancelled: boolean;
  /** It reached Claude: it is the running turn, not a waiting one. */
  readonly isStarted: boolean;
  /** Settles when every earlier ticket has ended. */
  readonly turnComes: Promise<void>;
  /** Marks the ticket as the running turn. */
  start(): void;
  /** Ends the ticket's turn (or its wait): the next ticket's turn comes. */
  end(): void;
}

/** Tickets of one session, in arrival order. */
export class TurnQueue {
  #tickets: Ticket[] = [];
  #lastTurn: Promise<void> = Promise.resolve();

  /** Takes a ticket; its turn comes after every earlier ticket's end. */
  take(): Ticket {
    const ended = Promise.withResolvers<void>();
    const turnComes = this.#lastTurn;
    this.#lastTurn = ended.promise;
    const tickets = this.#tickets;
    const ticket = {
      isCancelled: false,
      isStarted: false,
      turnComes,
      start() {
        ticket.isStarted = true;
      },
      end() {
        const index = tickets.indexOf(ticket);
        if (index !== -1) tickets.splice(index, 1);
        ended.resolve();
      },
    };
    tickets.push(ticket);
    return ticket;
  }

  /** Tickets waiting behind the running turn. */
  get waiting(): number {
    return this.#waiting().length;
  }

  /** Cancels every waiting ticket; returns how many. */
  cancelWaiting(): number {
    const waiting = this.#waiting();
    for (const ticket of waiting) ticket.isCancelled = true;
    return waiting.length;
  }

  #waiting(): { isCancelled: boolean; isStarted: boolean }[] {
    return this.#tickets.filter((t) => !t.isStarted && !t.isCancelled);
  }
}
