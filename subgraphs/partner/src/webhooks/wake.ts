import { afterCommit } from "../../../../lib/db.ts";

/**
 * Wakes this process's webhook dispatchers: after the consumer's transaction commits new
 * deliveries (`wakeAfterCommit`), or at once (replay, resume). Delivery never depends on a wake:
 * the dispatcher also polls.
 */
const wakers = new Set<() => void>();

export function onWebhookWork(wake: () => void): () => void {
  wakers.add(wake);
  return () => wakers.delete(wake);
}

export function wakeDispatchers(): void {
  for (const w of wakers) w();
}

export function wakeDispatchersAfterCommit(): void {
  if (!wakers.size) return;
  if (!afterCommit(wakeDispatchers)) setTimeout(wakeDispatchers, 2);
}
