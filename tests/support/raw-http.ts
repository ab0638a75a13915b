import net from "node:net";

// HTTP/1.1 written by hand on a socket the test holds: which connection a request rides on (a
// kept-alive one, a new one) is the test's choice, and a reset or an early close is an error.

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP/1.1 request written by hand on `socket` (so the test decides which connection it rides on); resolves with the whole answer, rejects on a reset or an early close. */
export function request(socket: net.Socket, body: string, extra: Record<string, string> = {}, target = "POST /graphql"): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (e?: Error, answer?: RawAnswer) => {
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
      if (e) reject(e);
      else resolve(answer!);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      const length = Number(headers["content-length"]);
      if (buf.length < end + 4 + length) return;
      done(undefined, { status: Number(statusLine!.split(" ")[1]), headers, body: buf.subarray(end + 4, end + 4 + length).toString("utf8") });
    };
    const onError = (e: Error) => done(e);
    const onClose = () => done(new Error(`connection closed before the whole answer (${buf.length} bytes read)`));
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    const head = Object.entries({ host: "hub", "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...extra })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    socket.write(`${target} HTTP/1.1\r\n${head}\r\n${body}`);
  });
}

/** A TCP connection to 127.0.0.1:port, once connected. */
export const connect = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
