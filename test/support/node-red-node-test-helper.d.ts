// The helper ships no types; this declares the part our tests use.
declare module 'node-red-node-test-helper' {
  import type { Node, NodeAPI } from 'node-red';
  type NodeModule = (RED: NodeAPI) => void | Promise<void>;
  interface LogSpy {
    args: unknown[][];
  }
  interface TestNode extends Node {
    receive(msg: Record<string, unknown>): void;
    on(event: 'input', listener: (msg: Record<string, unknown>) => void): this;
    on(event: string, listener: (...args: never[]) => void): this;
  }
  interface AdminResponse {
    status: number;
    body: unknown;
  }
  interface AdminRequest {
    get(url: string): PromiseLike<AdminResponse>;
    post(url: string): PromiseLike<AdminResponse>;
  }
  interface Helper {
    init(nodeRedPath: string, userSettings?: Record<string, unknown>): void;
    load(
      nodes: NodeModule | NodeModule[],
      flow: Array<Record<string, unknown>>,
      credentials?: Record<string, Record<string, string>>,
    ): Promise<void>;
    unload(): Promise<void>;
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
    getNode(id: string): TestNode;
    settings(userSettings: Record<string, unknown>): void;
    log(): LogSpy;
    url(): string;
    /** supertest against the admin API (httpAdmin). */
    request(): AdminRequest;
    _RED: NodeAPI;
  }
  const helper: Helper;
  export = helper;
}
