/**
 * The twin's stand-in for API Gateway's WebSocket `@connections` management API, the stream consumer's
 * callback URL: `POST <url>/@connections/{id}` is accepted (200) and recorded, `DELETE` answers 204, and
 * `GET` 410 (GoneException: the twin has no live WebSocket connections, so a consumer that checks drops
 * the connection row as it would on AWS). Nothing is forwarded to a browser (the twin console does not
 * show these posts).
 */
import { EventEmitter } from "node:events";
import { LocalHttpServer } from "./local-http-server";

export interface ConnectionPost {
  readonly connectionId: string;
  readonly data: string;
}

export class ConnectionsSink extends EventEmitter<{ post: [post: ConnectionPost] }> {
  static async start(stage = "twin"): Promise<ConnectionsSink> {
    const sink = new ConnectionsSink(stage);
    await sink.server.listen();
    return sink;
  }

  readonly posts: ConnectionPost[] = [];
  private readonly server: LocalHttpServer;

  private constructor(private readonly stage: string) {
    super();
    this.server = new LocalHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const m = new RegExp(`^/${stage}/@connections/([^/?]+)`).exec(req.url ?? "");
        if (!m) return void res.writeHead(404).end();
        const connectionId = decodeURIComponent(m[1]!);
        if (req.method === "POST") {
          const post = { connectionId, data: Buffer.concat(chunks).toString("utf8") };
          this.posts.push(post);
          this.emit("post", post);
          res.writeHead(200).end();
        } else if (req.method === "DELETE") res.writeHead(204).end();
        else res.writeHead(410, { "content-type": "application/json", "x-amzn-errortype": "GoneException" }).end('{"message":null}');
      });
    });
  }

  /** The callback URL (`https://<api>.execute-api.<region>.amazonaws.com/<stage>` on AWS). */
  get url(): string {
    return `${this.server.url}/${this.stage}`;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
