// Tests for setup_env_file.ts: .env edits keep every other line, the
// allow-list puts the paired user first, the token is shown masked, and the
// file is replaced with mode 0600.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  envFileValues,
  maskToken,
  pairedUserIds,
  updateEnvText,
  writeWizardEnv,
} from "../setup_env_file.ts";

const TOKEN = "123456789:AAFakeTokenForSetupTests_x";

Deno.test("updateEnvText() replaces the first assignment, drops later ones, keeps the rest", () => {
  const text = [
    "# bot settings",
    "export TELEGRAM_BOT_TOKEN=old",
    "DATA_DIR=./state",
    "",
    "  ALLOWED_USER_IDS = 5",
    "TELEGRAM_BOT_TOKEN=older",
    "# TELEGRAM_BOT_TOKEN=commented",
    "",
    "",
  ].join("\n");

  assert.equal(
    updateEnvText(text, { TELEGRAM_BOT_TOKEN: "new", ALLOWED_USER_IDS: "1,5" }),
    [
      "# bot settings",
      "TELEGRAM_BOT_TOKEN=new",
      "DATA_DIR=./state",
      "",
      "ALLOWED_USER_IDS=1,5",
      "# TELEGRAM_BOT_TOKEN=commented",
      "",
    ].join("\n"),
  );
});

Deno.test("updateEnvText() appends what is missing, to no file or one without a final newline", () => {
  assert.equal(
    updateEnvText(undefined, { A: "1", B: "2" }),
    "A=1\nB=2\n",
  );
  assert.equal(updateEnvText("X=1", { A: "2" }), "X=1\nA=2\n");
  assert.equal(updateEnvText("", { A: "2" }), "A=2\n");
});

Deno.test("envFileValues() reads .env as Deno's --env-file does", () => {
  assert.deepEqual(
    envFileValues('# c\nA=1\nexport B="two words"\n'),
    { A: "1", B: "two words" },
  );
  assert.deepEqual(envFileValues(undefined), {});
});

Deno.test("pairedUserIds() puts the paired user first and keeps the others once", () => {
  assert.equal(pairedUserIds(undefined, 1001), "1001");
  assert.equal(pairedUserIds("", 1001), "1001");
  assert.equal(pairedUserIds("2002, 1001,3003,2002", 1001), "1001,2002,3003");
  assert.equal(pairedUserIds("2002,abc,,-5", 1001), "1001,2002,-5");
});

Deno.test("maskToken() shows the bot id and two characters at each end of the secret", () => {
  assert.equal(maskToken(TOKEN), "123456789:AA…_x");
  assert.equal(maskToken("123:short"), "123:…");
  assert.ok(!maskToken(TOKEN).includes("FakeToken"));
});

Deno.test("writeWizardEnv() writes .env 0600, keeps other lines, and shows the token masked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ct-env-" });
  try {
    const path = join(dir, ".env");
    await Deno.writeTextFile(path, "DATA_DIR=./state\nALLOWED_USER_IDS=7\n");
    await Deno.chmod(path, 0o644);

    const written = await writeWizardEnv(dir, { token: TOKEN, userId: 1001 });

    assert.equal(written.path, path);
    assert.deepEqual(written.shown, [
      "TELEGRAM_BOT_TOKEN=123456789:AA…_x",
      "ALLOWED_USER_IDS=1001,7",
    ]);
    assert.equal(
      await Deno.readTextFile(path),
      `DATA_DIR=./state\nALLOWED_USER_IDS=1001,7\nTELEGRAM_BOT_TOKEN=${TOKEN}\n`,
    );
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [".env"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
