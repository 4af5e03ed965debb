// The module map's rules, checked on the real import graph of the top-level
// modules: grammY only at the Telegram edge, session, process and store code
// blind to Telegram, no cycles, imports pointing down the layers of
// ../shared/DESIGN.md, and time and processes reached only through clock.ts
// and spawner.ts. The checker is pure (graph → violations), so the tests show
// each rule failing on a small bad graph as well as passing on the tree.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** The layers from the top; a module imports its own layer or lower ones. */
const LAYER_ORDER = ["edge", "chat", "sessions", "process", "base"] as const;
type Layer = typeof LAYER_ORDER[number];

/**
 * Every top-level module and its layer. A new module fails the test until it
 * is added here, so none slips past the rules.
 */
const LAYERS: Readonly<Record<string, Layer>> = {
  // Telegram's edge: grammY, handlers, wiring, entry points.
  "main.ts": "edge",
  "app.ts": "edge",
  "commands.ts": "edge",
  "chat_api.ts": "edge",
  "launch.ts": "edge",
  // The set-up wizard: terminal, Bot API over fetch, .env.
  "setup.ts": "edge",
  "setup_claude.ts": "edge",
  "setup_env_file.ts": "edge",
  "setup_input.ts": "edge",
  "setup_telegram.ts": "edge",
  // The chat side: turning sessions' data into Telegram messages.
  "intake.ts": "chat",
  "reply.ts": "chat",
  "live_view.ts": "chat",
  "outbox.ts": "chat",
  "pacing.ts": "chat",
  "render.ts": "chat",
  "split.ts": "chat",
  "answer.ts": "chat",
  "approvals.ts": "chat",
  "approval_view.ts": "chat",
  "error_text.ts": "chat",
  "chat_commands.ts": "chat",
  "tool_lines.ts": "chat",
  "reports.ts": "chat",
  "access_control.ts": "chat",
  "chat_port.ts": "chat",
  "draft.ts": "chat",
  "project_commands.ts": "chat",
  "command_reply.ts": "chat",
  "project_diff.ts": "chat",
  "project_open.ts": "chat",
  "reply_context.ts": "chat",
  "voice.ts": "chat",
  "inbox.ts": "chat",
  // Sessions: registry, lifecycle, turns, settings, money.
  "sessions.ts": "sessions",
  "session.ts": "sessions",
  "session_process.ts": "sessions",
  "turn_queue.ts": "sessions",
  "turn_run.ts": "sessions",
  "spending.ts": "sessions",
  "session_view.ts": "sessions",
  "active_sessions.ts": "sessions",
  "session_errors.ts": "sessions",
  "session_settings.ts": "sessions",
  "turn.ts": "sessions",
  "idle_timer.ts": "sessions",
  "usage.ts": "sessions",
  "personas.ts": "sessions",
  // Workspaces: project repositories, branch worktrees, files sent out.
  "projects.ts": "sessions",
  "git_worktrees.ts": "sessions",
  "file_export.ts": "sessions",
  // One CLI process and the OS processes around it.
  "subprocess.ts": "process",
  "launcher.ts": "process",
  "stream_json.ts": "process",
  "process_tree.ts": "process",
  "reaper.ts": "process",
  "git.ts": "process",
  "git_diff.ts": "process",
  "claude_history.ts": "process",
  "sandbox.ts": "process",
  "sandbox_runtime.ts": "process",
  "sandbox_bwrap.ts": "process",
  "sandbox_spec.ts": "process",
  // Knows no one: time, spawning, locks, files, configuration, formatting.
  "clock.ts": "base",
  "spawner.ts": "base",
  "lock.ts": "base",
  "store.ts": "base",
  "atomic_file.ts": "base",
  "instance_lock.ts": "base",
  "preflight.ts": "base",
  "journal.ts": "base",
  "config.ts": "base",
  "format.ts": "base",
  "paths.ts": "base",
  "line_stream.ts": "base",
  "transcribe.ts": "base",
  "api_retry.ts": "base",
};

/** The Telegram edge: the only modules that may import grammY, and why. */
const GRAMMY_EDGE: ReadonlyMap<string, string> = new Map([
  ["main.ts", "entry point: tells a bad token (GrammyError 401) at start"],
  ["app.ts", "builds the grammY Bot and installs its API transformers"],
  ["commands.ts", "the update handlers: grammY Context in, replies out"],
  ["chat_api.ts", "binds grammY's Api to one chat as the ChatApi a reply uses"],
]);

/**
 * Modules outside the edge allowed to import grammY for a stated reason:
 * none. An entry must name its way out, and fails once it is unused.
 */
const TEMPORARY_GRAMMY: ReadonlyMap<string, string> = new Map([]);

/** Imports allowed to break the layer or Telegram rule, each with its way out: none. */
const TEMPORARY_IMPORTS: readonly Allowance[] = [];

/** Session, turn, process and store code by name, whatever its layer. */
const CORE_NAME = /^(sessions?|session_\w+|turn|subprocess|store)\.ts$/;

/** Calls that read time, set timers or spawn, and the one module that may make each. */
const RESTRICTED_CALLS: readonly RestrictedCall[] = [
  { call: "Date.now(", home: "clock.ts", pattern: /\bDate\.now\s*\(/g },
  { call: "new Date()", home: "clock.ts", pattern: /\bnew\s+Date\s*\(\s*\)/g },
  {
    call: "performance.now(",
    home: "clock.ts",
    pattern: /\bperformance\.now\s*\(/g,
  },
  { call: "setTimeout(", home: "clock.ts", pattern: /\bsetTimeout\s*\(/g },
  { call: "setInterval(", home: "clock.ts", pattern: /\bsetInterval\s*\(/g },
  {
    call: "new Deno.Command(",
    home: "spawner.ts",
    pattern: /\bnew\s+Deno\.Command\s*\(/g,
  },
];

/** Calls allowed outside clock.ts and spawner.ts, each with its reason: none. */
const TEMPORARY_CALLS: readonly CallExemption[] = [];

// ---------------------------------------------------------------------------
// The checker: pure functions from sources and graphs to violations.

/** An import the layer and Telegram rules let through for now. */
interface Allowance {
  from: string;
  to: string;
  reason: string;
}

/** A call only `home` may make. */
interface RestrictedCall {
  call: string;
  home: string;
  pattern: RegExp;
}

/** A module allowed to make a restricted call for now. */
interface CallExemption {
  file: string;
  call: string;
  reason: string;
}

/** Module file name → the specifiers it imports, as written. */
type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** What the graph is checked against. */
interface GraphRules {
  layers: Readonly<Record<string, Layer>>;
  grammyEdge: ReadonlyMap<string, string>;
  temporaryGrammy: ReadonlyMap<string, string>;
  temporaryImports: readonly Allowance[];
}

const KEYWORDS_BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "instanceof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
]);

/**
 * The source with its comments blanked out (newlines kept, so line numbers
 * stay true). Strings, template literals and regular expressions are kept,
 * so a `//` in a URL or a regex is not taken for a comment.
 */
function stripComments(source: string): string {
  const out = source.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  // Open `${` of template literals, each with the brace depth inside it.
  const templates: number[] = [];
  let i = 0;
  const scanTemplate = () => {
    // At the character after "`" or after the "}" closing a `${…}`.
    while (i < source.length) {
      const c = source[i];
      if (c === "\\") i += 2;
      else if (c === "`") {
        i++;
        return;
      } else if (c === "$" && source[i + 1] === "{") {
        i += 2;
        templates.push(0);
        return;
      } else i++;
    }
  };
  const regexMayStart = (at: number) => {
    let k = at - 1;
    while (k >= 0 && /\s/.test(source[k])) k--;
    if (k < 0) return true;
    if ("(,=:[!&|?{};+-*%<>~^".includes(source[k])) return true;
    const word = /[\w$]+$/.exec(source.slice(Math.max(0, k - 11), k + 1));
    return word !== null && KEYWORDS_BEFORE_REGEX.has(word[0]);
  };
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      const stop = end === -1 ? source.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      i++;
      while (i < source.length && source[i] !== c && source[i] !== "\n") {
        i += source[i] === "\\" ? 2 : 1;
      }
      i++;
    } else if (c === "`") {
      i++;
      scanTemplate();
    } else if (c === "{" && templates.length) {
      templates[templates.length - 1]++;
      i++;
    } else if (c === "}" && templates.length) {
      i++;
      if (templates[templates.length - 1]-- === 0) {
        templates.pop();
        scanTemplate();
      }
    } else if (c === "/" && regexMayStart(i)) {
      i++;
      let inClass = false;
      while (i < source.length && source[i] !== "\n") {
        const r = source[i];
        if (r === "\\") i++;
        else if (r === "[") inClass = true;
        else if (r === "]") inClass = false;
        else if (r === "/" && !inClass) break;
        i++;
      }
      i++;
    } else i++;
  }
  return out.join("");
}

/**
 * The specifiers a module imports: static imports (`import type` included),
 * re-exports, side-effect imports and dynamic imports of string literals.
 */
function parseImports(source: string): string[] {
  const code = stripComments(source);
  const specifiers: string[] = [];
  const patterns = [
    // import x from "…", import type { A } from "…", export * from "…":
    // the clause holds only names, braces, commas, `*` and whitespace.
    /(?:^|[;}\n])\s*(?:import|export)\s+[\w$\s{},*]*?\bfrom\s*["']([^"'\n]+)["']/g,
    /(?:^|[;}\n])\s*import\s*["']([^"'\n]+)["']/g,
    /\bimport\s*\(\s*["']([^"'\n]+)["']\s*[,)]/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) specifiers.push(match[1]);
  }
  return [...new Set(specifiers)].sort();
}

/** The top-level module a relative specifier names: "./x.ts" → "x.ts". */
function localTarget(specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  return specifier.replace(/^\.\//, "");
}

function isGrammy(specifier: string): boolean {
  return /^(npm:)?grammy(@[^/]*)?(\/|$)/.test(specifier);
}

/** Each module's imports of other top-level modules. */
function localEdges(graph: ImportGraph): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const [module, specifiers] of graph) {
    edges.set(
      module,
      specifiers.flatMap((s) => localTarget(s) ?? []),
    );
  }
  return edges;
}

/** Every cycle found by one depth-first walk, as "a.ts → b.ts → a.ts". */
function findCycles(graph: ImportGraph): string[] {
  const edges = localEdges(graph);
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (module: string) => {
    state.set(module, "open");
    path.push(module);
    for (const next of edges.get(module) ?? []) {
      if (state.get(next) === "open") {
        cycles.push([...path.slice(path.indexOf(next)), next].join(" → "));
      } else if (!state.has(next) && edges.has(next)) {
        visit(next);
      }
    }
    path.pop();
    state.set(module, "done");
  };
  for (const module of [...edges.keys()].sort()) {
    if (!state.has(module)) visit(module);
  }
  return cycles;
}

function isCore(module: string, layers: GraphRules["layers"]): boolean {
  const layer = layers[module];
  return CORE_NAME.test(module) ||
    layer === "sessions" || layer === "process" || layer === "base";
}

function isTelegramFacing(module: string, layers: GraphRules["layers"]) {
  return layers[module] === "edge" || layers[module] === "chat";
}

/** The graph's violations of the layer, Telegram, grammY and cycle rules. */
function checkGraph(graph: ImportGraph, rules: GraphRules): string[] {
  const { layers } = rules;
  const rank = (module: string) => LAYER_ORDER.indexOf(layers[module]);
  const violations: string[] = [];
  const usedAllowances = new Set<Allowance>();
  for (const module of [...graph.keys()].sort()) {
    if (!(module in layers)) {
      violations.push(
        `"${module}" has no layer: add it to LAYERS in tests/architecture_test.ts`,
      );
    }
  }
  for (const module of Object.keys(layers)) {
    if (!graph.has(module)) {
      violations.push(
        `LAYERS lists "${module}", which does not exist: remove it`,
      );
    }
  }
  for (const [module, specifiers] of graph) {
    for (const specifier of specifiers) {
      if (
        isGrammy(specifier) && !rules.grammyEdge.has(module) &&
        !rules.temporaryGrammy.has(module)
      ) {
        violations.push(
          `"${module}" imports "${specifier}": only the Telegram edge (${
            [...rules.grammyEdge.keys()].join(", ")
          }) may import grammY`,
        );
      }
      const target = localTarget(specifier);
      if (target === undefined) continue;
      if (!graph.has(target)) {
        violations.push(
          `"${module}" imports "${specifier}", which is not a top-level module`,
        );
        continue;
      }
      const allowance = rules.temporaryImports.find((a) =>
        a.from === module && a.to === target
      );
      if (allowance) {
        usedAllowances.add(allowance);
        continue;
      }
      if (!(module in layers) || !(target in layers)) continue;
      if (rank(target) < rank(module)) {
        violations.push(
          `"${module}" (${layers[module]}) imports "${target}" (${
            layers[target]
          }): imports must point down the layers ${LAYER_ORDER.join(" → ")}`,
        );
      }
      if (isCore(module, layers) && isTelegramFacing(target, layers)) {
        violations.push(
          `"${module}" imports the Telegram-facing "${target}": session, turn, process and store code must not know Telegram`,
        );
      }
    }
  }
  for (const [module] of rules.temporaryGrammy) {
    if (!graph.get(module)?.some(isGrammy)) {
      violations.push(
        `"${module}" no longer imports grammY: remove it from TEMPORARY_GRAMMY`,
      );
    }
  }
  for (const allowance of rules.temporaryImports) {
    if (!usedAllowances.has(allowance)) {
      violations.push(
        `"${allowance.from}" no longer imports "${allowance.to}": remove it from TEMPORARY_IMPORTS`,
      );
    }
  }
  for (const cycle of findCycles(graph)) {
    violations.push(`import cycle: ${cycle}`);
  }
  return violations;
}

/**
 * Calls outside their home module that no exemption covers, and exemptions
 * nothing uses any more. Comments do not count.
 */
function checkCalls(
  sources: ReadonlyMap<string, string>,
  rules: {
    calls: readonly RestrictedCall[];
    exemptions: readonly CallExemption[];
  },
): string[] {
  const violations: string[] = [];
  const used = new Set<CallExemption>();
  for (
    const [file, source] of [...sources].sort(([a], [b]) => a < b ? -1 : 1)
  ) {
    const code = stripComments(source);
    for (const { call, home, pattern } of rules.calls) {
      if (file === home) continue;
      for (const match of code.matchAll(pattern)) {
        const exemption = rules.exemptions.find((e) =>
          e.file === file && e.call === call
        );
        if (exemption) {
          used.add(exemption);
          continue;
        }
        const line = code.slice(0, match.index).split("\n").length;
        violations.push(
          `${file}:${line} calls ${call}: only ${home} may (take a ${
            home === "clock.ts" ? "Clock" : "SpawnFn"
          } instead)`,
        );
      }
    }
  }
  for (const exemption of rules.exemptions) {
    if (!used.has(exemption)) {
      violations.push(
        `${exemption.file} no longer calls ${exemption.call}: remove it from TEMPORARY_CALLS`,
      );
    }
  }
  return violations;
}

// ---------------------------------------------------------------------------
// The real tree.

const ROOT = fileURLToPath(new URL("../", import.meta.url));

const REAL_RULES: GraphRules = {
  layers: LAYERS,
  grammyEdge: GRAMMY_EDGE,
  temporaryGrammy: TEMPORARY_GRAMMY,
  temporaryImports: TEMPORARY_IMPORTS,
};

/** The top-level *.ts modules' sources, by file name. */
async function readTree(): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  for await (const entry of Deno.readDir(ROOT)) {
    if (entry.isFile && entry.name.endsWith(".ts")) {
      sources.set(entry.name, await Deno.readTextFile(ROOT + entry.name));
    }
  }
  return sources;
}

function graphOf(sources: ReadonlyMap<string, string>): ImportGraph {
  return new Map(
    [...sources].map(([name, source]) => [name, parseImports(source)]),
  );
}

Deno.test("architecture: the real tree breaks no import rule", async () => {
  const graph = graphOf(await readTree());
  assert.ok(graph.size >= 30, `only ${graph.size} modules found in ${ROOT}`);
  assert.deepEqual(checkGraph(graph, REAL_RULES), []);
});

Deno.test("architecture: the real tree reads time and spawns only through clock.ts and spawner.ts", async () => {
  const violations = checkCalls(await readTree(), {
    calls: RESTRICTED_CALLS,
    exemptions: TEMPORARY_CALLS,
  });
  assert.deepEqual(violations, []);
});

Deno.test("architecture: a bad import added to the real tree is caught", async () => {
  const graph = new Map(graphOf(await readTree()));
  graph.set("clock.ts", [...graph.get("clock.ts")!, "./main.ts", "grammy"]);
  const violations = checkGraph(graph, REAL_RULES);
  const expected = [
    '"clock.ts" imports "grammy": only the Telegram edge',
    '"clock.ts" (base) imports "main.ts" (edge): imports must point down',
    '"clock.ts" imports the Telegram-facing "main.ts"',
  ];
  for (const start of expected) {
    assert.ok(
      violations.some((v) => v.startsWith(start)),
      `${start}… missing from:\n${violations.join("\n")}`,
    );
  }
  assert.ok(
    violations.some((v) =>
      v.startsWith("import cycle: ") && v.includes("clock.ts → main.ts")
    ),
    violations.join("\n"),
  );
});

Deno.test("architecture: at most four modules form the grammY edge, each with a reason", () => {
  assert.ok(GRAMMY_EDGE.size <= 4, [...GRAMMY_EDGE.keys()].join(", "));
  for (const [module, reason] of GRAMMY_EDGE) {
    assert.equal(LAYERS[module], "edge", module);
    assert.ok(reason.length > 10, `${module} needs a reason`);
  }
  for (const [module, reason] of TEMPORARY_GRAMMY) {
    assert.match(reason, /^TODO\(#10\): /, module);
  }
  for (const { from, to, reason } of TEMPORARY_IMPORTS) {
    assert.match(reason, /^TODO\(#10\): /, `${from} → ${to}`);
  }
  for (const { file, call, reason } of TEMPORARY_CALLS) {
    assert.match(reason, /^TODO\(#10\): /, `${file} ${call}`);
  }
});

Deno.test("architecture: parseImports reads the same imports as deno info", async () => {
  const sources = await readTree();
  const fromDeno = new Map<string, string[]>();
  // One `deno info` per root still unseen; main.ts reaches most modules.
  const roots = ["main.ts", ...[...sources.keys()].sort()];
  for (const root of roots) {
    if (fromDeno.has(root)) continue;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: ROOT,
      stdin: "null",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const info = JSON.parse(text) as {
      modules: { specifier: string; dependencies?: { specifier: string }[] }[];
    };
    for (const module of info.modules) {
      const name = module.specifier.startsWith(`file://${ROOT}`)
        ? module.specifier.slice(`file://${ROOT}`.length)
        : undefined;
      if (name === undefined || !sources.has(name)) continue;
      fromDeno.set(
        name,
        [...new Set((module.dependencies ?? []).map((d) => d.specifier))]
          .sort(),
      );
    }
  }
  const graph = graphOf(sources);
  for (const name of sources.keys()) {
    assert.deepEqual(graph.get(name), fromDeno.get(name), name);
  }
});

// ---------------------------------------------------------------------------
// The rules failing on small bad graphs.

const SMALL_RULES: GraphRules = {
  layers: {
    "commands.ts": "edge",
    "reply.ts": "chat",
    "render.ts": "chat",
    "sessions.ts": "sessions",
    "turn.ts": "sessions",
    "subprocess.ts": "process",
    "clock.ts": "base",
  },
  grammyEdge: new Map([["commands.ts", "handlers"]]),
  temporaryGrammy: new Map(),
  temporaryImports: [],
};

/** A graph of SMALL_RULES' modules with the given imports; others import nothing. */
function smallGraph(imports: Record<string, string[]>): ImportGraph {
  return new Map(
    Object.keys(SMALL_RULES.layers).map((m) => [m, imports[m] ?? []]),
  );
}

Deno.test("checkGraph passes a graph whose imports all point down", () => {
  const graph = smallGraph({
    "commands.ts": ["grammy", "./reply.ts", "./sessions.ts"],
    "reply.ts": ["./render.ts", "./turn.ts"],
    "sessions.ts": ["./turn.ts", "./subprocess.ts", "node:path"],
    "subprocess.ts": ["./clock.ts"],
  });
  assert.deepEqual(checkGraph(graph, SMALL_RULES), []);
});

Deno.test("checkGraph reports a cycle", () => {
  const graph = smallGraph({
    "sessions.ts": ["./turn.ts"],
    "turn.ts": ["./sessions.ts"],
    "clock.ts": ["./clock.ts"],
  });
  assert.deepEqual(checkGraph(graph, SMALL_RULES), [
    "import cycle: clock.ts → clock.ts",
    "import cycle: sessions.ts → turn.ts → sessions.ts",
  ]);
});

Deno.test("checkGraph reports an import of a higher layer", () => {
  const graph = smallGraph({ "render.ts": ["./commands.ts"] });
  assert.deepEqual(checkGraph(graph, SMALL_RULES), [
    '"render.ts" (chat) imports "commands.ts" (edge): imports must point down the layers edge → chat → sessions → process → base',
  ]);
});

Deno.test("checkGraph reports session code that imports a Telegram-facing module", () => {
  const graph = smallGraph({ "turn.ts": ["./render.ts"] });
  const violations = checkGraph(graph, SMALL_RULES);
  assert.ok(
    violations.includes(
      '"turn.ts" imports the Telegram-facing "render.ts": session, turn, process and store code must not know Telegram',
    ),
    violations.join("\n"),
  );
});

Deno.test("checkGraph reports session code by name even in a chat layer", () => {
  const rules = {
    ...SMALL_RULES,
    layers: { ...SMALL_RULES.layers, "session_view.ts": "chat" as const },
  };
  const graph = new Map([
    ...smallGraph({}),
    ["session_view.ts", ["./reply.ts"]],
  ]);
  assert.deepEqual(checkGraph(graph, rules), [
    '"session_view.ts" imports the Telegram-facing "reply.ts": session, turn, process and store code must not know Telegram',
  ]);
});

Deno.test("checkGraph reports grammY imported outside the edge, subpaths and npm: specifiers too", () => {
  const graph = smallGraph({
    "reply.ts": ["grammy/types"],
    "subprocess.ts": ["npm:grammy@^1.46/web"],
    "commands.ts": ["grammy"],
  });
  assert.deepEqual(checkGraph(graph, SMALL_RULES), [
    '"reply.ts" imports "grammy/types": only the Telegram edge (commands.ts) may import grammY',
    '"subprocess.ts" imports "npm:grammy@^1.46/web": only the Telegram edge (commands.ts) may import grammY',
  ]);
});

Deno.test("checkGraph reports a module without a layer, a layer without a module and an unknown import", () => {
  const graph = new Map([...smallGraph({}), ["new_thing.ts", ["./gone.ts"]]]);
  graph.delete("clock.ts");
  assert.deepEqual(checkGraph(graph, SMALL_RULES), [
    '"new_thing.ts" has no layer: add it to LAYERS in tests/architecture_test.ts',
    'LAYERS lists "clock.ts", which does not exist: remove it',
    '"new_thing.ts" imports "./gone.ts", which is not a top-level module',
  ]);
});

Deno.test("checkGraph lets temporary allowances through and reports them once unused", () => {
  const rules: GraphRules = {
    ...SMALL_RULES,
    temporaryGrammy: new Map([["reply.ts", "TODO(#10)"], [
      "turn.ts",
      "TODO(#10)",
    ]]),
    temporaryImports: [
      { from: "render.ts", to: "commands.ts", reason: "TODO(#10)" },
      { from: "turn.ts", to: "reply.ts", reason: "TODO(#10)" },
    ],
  };
  const graph = smallGraph({
    "reply.ts": ["grammy"],
    "render.ts": ["./commands.ts"],
  });
  assert.deepEqual(checkGraph(graph, rules), [
    '"turn.ts" no longer imports grammY: remove it from TEMPORARY_GRAMMY',
    '"turn.ts" no longer imports "reply.ts": remove it from TEMPORARY_IMPORTS',
  ]);
});

Deno.test("checkCalls reports time and spawn calls outside their home module, not in comments", () => {
  const sources = new Map([
    ["clock.ts", "export const now = () => Date.now();\n"],
    ["spawner.ts", "new Deno.Command(bin, options).spawn();\n"],
    [
      "turn.ts",
      [
        "// Date.now() would be wrong here",
        "/** Like `new Deno.Command(bin)`; setTimeout( */",
        "const url = 'http://x'; const at = Date.now();",
        "const t = setTimeout(() => {}, 5);",
      ].join("\n"),
    ],
    ["subprocess.ts", "const child = new Deno.Command(bin, {}).spawn();\n"],
  ]);
  assert.deepEqual(
    checkCalls(sources, { calls: RESTRICTED_CALLS, exemptions: [] }),
    [
      "subprocess.ts:1 calls new Deno.Command(: only spawner.ts may (take a SpawnFn instead)",
      "turn.ts:3 calls Date.now(: only clock.ts may (take a Clock instead)",
      "turn.ts:4 calls setTimeout(: only clock.ts may (take a Clock instead)",
    ],
  );
});

Deno.test("checkCalls honours an exemption and reports it once unused", () => {
  const sources = new Map([["main.ts", "const t = performance.now();\n"]]);
  const exemptions = [
    { file: "main.ts", call: "performance.now(", reason: "TODO(#10)" },
    { file: "main.ts", call: "setTimeout(", reason: "TODO(#10)" },
  ];
  assert.deepEqual(
    checkCalls(sources, { calls: RESTRICTED_CALLS, exemptions }),
    ["main.ts no longer calls setTimeout(: remove it from TEMPORARY_CALLS"],
  );
});

Deno.test("parseImports reads every import form and skips comments", () => {
  const source = [
    "// import { gone } from './commented.ts';",
    "/* import x from './block.ts'; */",
    'import { Bot, type Context } from "grammy";',
    "import type { Clock } from './clock.ts';",
    "import {",
    "  a,",
    "  type B,",
    '} from "./multi.ts";',
    'import * as all from "./star.ts";',
    'import "./side_effect.ts";',
    'export { x } from "./reexport.ts";',
    'export * from "./star_export.ts";',
    'export type { T } from "./type_export.ts";',
    'const lazy = await import("./dynamic.ts");',
    'const text = "import nothing from \\"./in_string.ts\\"";',
    "export interface Options { from: string }",
    "const re = /\\/\\/ not a comment/; // import y from './trailing.ts'",
  ].join("\n");
  assert.deepEqual(parseImports(source), [
    "./clock.ts",
    "./dynamic.ts",
    "./multi.ts",
    "./reexport.ts",
    "./side_effect.ts",
    "./star.ts",
    "./star_export.ts",
    "./type_export.ts",
    "grammy",
  ]);
});

Deno.test("stripComments keeps strings, templates and regexes, and line numbers", () => {
  const source = [
    'const a = "http://x"; // gone',
    "const b = `${c /* gone */}//kept`; /* gone",
    "still gone */ const d = /[/]\\//g; const e = 1 / 2; // gone",
  ].join("\n");
  assert.equal(
    stripComments(source),
    [
      'const a = "http://x";        ',
      "const b = `${c           }//kept`;        ",
      "              const d = /[/]\\//g; const e = 1 / 2;        ",
    ].join("\n"),
  );
});
