import { expect, test } from "vitest";
import { hashAhead, hashPassword, passwordHashCount, verifyPassword } from "./password.ts";

test("a hash started ahead is taken once by hashPassword: a valid hash of that password, and the next call hashes anew", async () => {
  const before = passwordHashCount();
  hashAhead(["ahead-one-password", "ahead-two-password", "ahead-one-password"]);
  await new Promise((r) => setImmediate(r));
  expect(passwordHashCount() - before).toBe(1); // one after another (a hash takes ~100 ms), not all at once
  const one = await hashPassword("ahead-one-password");
  expect(passwordHashCount() - before).toBeGreaterThanOrEqual(1);
  expect(await verifyPassword("ahead-one-password", one)).toBe(true);
  expect(await verifyPassword("ahead-two-password", one)).toBe(false);
  const again = await hashPassword("ahead-one-password");
  expect(again).not.toBe(one); // its own salt: the ahead hash was forgotten once taken
  expect(await verifyPassword("ahead-one-password", again)).toBe(true);
  const two = await hashPassword("ahead-two-password");
  expect(await verifyPassword("ahead-two-password", two)).toBe(true);
  // scrypt ran 7 times: the two ahead (the duplicate once), one fresh hash, four verifications.
  expect(passwordHashCount() - before).toBe(7);
});
