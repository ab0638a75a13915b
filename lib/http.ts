import type { IncomingMessage, ServerResponse } from "node:http";

/** Raised by `readBody` when the body is longer than its limit (answer 413). */
export class BodyTooLargeError extends Error {
  readonly status = 413;
  readonly tooLarge = true;
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`body larger than ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

/**
 * The whole request body, at most `limitBytes`: past the limit it rejects with BodyTooLargeError
 * and drains the rest unbuffered, so the caller can still answer 413 on the same connection.
 * The gateway's and the subgraphs' node:http servers read every body through this.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limitBytes) {
        over = true;
        chunks.length = 0;
        reject(new BodyTooLargeError(limitBytes));
        req.resume();
      } else chunks.push(c);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

/** Answers `status` with `body` as JSON (UTF-8), with any extra headers. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
}
